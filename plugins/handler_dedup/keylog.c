/* keylog.c - snapshot + append-only log of committed dedup keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dedup_key.h"
#include "keylog.h"
#include "fsync_dir.h"

static const char SNAPSHOT_MAGIC[8] = {'S', 'L', 'D', 'E', 'D', 'U', 'P', '1'};
enum { RECORD = 16, READ_CHUNK = RECORD * 4096, COMPACT_SLACK = 4096 };

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A record checks itself, so a half-written or zero-filled tail is seen. */
static uint32_t record_check(uint64_t hash, uint32_t time_s)
{
    uint8_t b[12];
    put_le(b, hash, 8);
    put_le(b + 8, time_s, 4);
    return (uint32_t)dedup_hash_bytes(b, sizeof(b), 0x5eed) | 1;
}

static void encode(uint8_t *p, uint64_t hash, uint32_t time_s)
{
    put_le(p, hash, 8);
    put_le(p + 8, time_s, 4);
    put_le(p + 12, record_check(hash, time_s), 4);
}

static bool decode(const uint8_t *p, uint64_t *hash, uint32_t *time_s)
{
    *hash = get_le(p, 8);
    *time_s = (uint32_t)get_le(p + 8, 4);
    return (uint32_t)get_le(p + 12, 4) == record_check(*hash, *time_s);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static char *concat(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    char *s = malloc(n + m + 1);
    if (s) {
        memcpy(s, a, n);
        memcpy(s + n, b, m + 1);
    }
    return s;
}

/* Read records from fd into t until the end or the first bad one. Returns
 * the bytes of good records read, or -1 on a read error. */
static int64_t load_records(int fd, struct keytable *t, bool *torn)
{
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        return -1;
    int64_t good = 0;
    size_t have = 0;
    *torn = false;
    for (;;) {
        ssize_t r = read(fd, buf + have, READ_CHUNK - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return -1;
        }
        have += (size_t)r;
        size_t off = 0;
        for (; off + RECORD <= have; off += RECORD) {
            uint64_t hash;
            uint32_t time_s;
            if (!decode(buf + off, &hash, &time_s)) {
                *torn = true;
                free(buf);
                return good;
            }
            keytable_insert(t, hash, time_s, NULL);
            good += RECORD;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        if (r == 0) {
            *torn = have != 0;
            free(buf);
            return good;
        }
    }
}

static int load_snapshot(struct keylog *l, struct keytable *t, char *err, size_t errlen)
{
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot open: %s", l->path, strerror(errno));
        return -1;
    }
    uint8_t head[16];
    ssize_t r = read(fd, head, sizeof(head));
    bool torn = false;
    int64_t got = -1;
    if (r == (ssize_t)sizeof(head) && memcmp(head, SNAPSHOT_MAGIC, 8) == 0)
        got = load_records(fd, t, &torn);
    int saved = errno;
    close(fd);
    if (r != (ssize_t)sizeof(head) || memcmp(head, SNAPSHOT_MAGIC, 8) != 0) {
        /* Refuse rather than overwrite a file that is not ours. */
        snprintf(err, errlen, "%s: not a dedup state file (bad header)", l->path);
        return -1;
    }
    if (got < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", l->path, strerror(saved));
        return -1;
    }
    /* Snapshots are renamed into place whole: a bad one was damaged later. */
    if (torn || (uint64_t)got / RECORD != get_le(head + 8, 8)) {
        snprintf(err, errlen, "%s: damaged snapshot (%llu of %llu keys readable)", l->path,
                 (unsigned long long)got / RECORD, (unsigned long long)get_le(head + 8, 8));
        return -1;
    }
    return 0;
}

int keylog_open(struct keylog *l, const char *path, struct keytable *t,
                void (*warn)(void *arg, const char *msg), void *warn_arg, char *err, size_t errlen)
{
    *l = (struct keylog){.log_fd = -1};
    pthread_mutex_init(&l->sync_mu, NULL);
    atomic_init(&l->sync_failed, false);
    l->path = strdup(path);
    l->log_path = concat(path, ".log");
    l->tmp_path = concat(path, ".tmp");
    if (!l->path || !l->log_path || !l->tmp_path) {
        snprintf(err, errlen, "out of memory");
        goto out_free;
    }
    if (load_snapshot(l, t, err, errlen) < 0)
        goto out_free;
    l->log_fd = open(l->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->log_fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", l->log_path, strerror(errno));
        goto out_free;
    }
    bool torn;
    int64_t good = load_records(l->log_fd, t, &torn);
    if (good < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", l->log_path, strerror(errno));
        goto out_free;
    }
    if (torn) {
        char msg[600];
        struct stat st;
        long long size = fstat(l->log_fd, &st) == 0 ? (long long)st.st_size : -1;
        snprintf(msg, sizeof(msg),
                 "%s: ignoring a torn tail of %lld bytes after %lld good records (a crash "
                 "during a write)",
                 l->log_path, size - good, (long long)(good / RECORD));
        if (warn)
            warn(warn_arg, msg);
        /* Cut it off so the next appends follow the good records. */
        if (ftruncate(l->log_fd, good) < 0 || fsync(l->log_fd) < 0) {
            snprintf(err, errlen, "%s: cannot cut the torn tail: %s", l->log_path, strerror(errno));
            goto out_free;
        }
    }
    l->log_records = (uint64_t)good / RECORD;
    if (fsync_dir_of(l->log_path) < 0) {
        snprintf(err, errlen, "%s: cannot sync its directory: %s", l->log_path, strerror(errno));
        goto out_free;
    }
    return 0;
out_free:
    if (l->log_fd >= 0)
        close(l->log_fd);
    free(l->path);
    free(l->log_path);
    free(l->tmp_path);
    pthread_mutex_destroy(&l->sync_mu);
    *l = (struct keylog){.log_fd = -1};
    return -1;
}

int keylog_append(struct keylog *l, uint64_t hash, uint32_t time_s)
{
    if (l->pend_cap - l->pend_len < RECORD) {
        size_t cap = l->pend_cap ? l->pend_cap * 2 : 64 * RECORD;
        uint8_t *p = realloc(l->pend, cap);
        if (!p)
            return -1;
        l->pend = p;
        l->pend_cap = cap;
    }
    encode(l->pend + l->pend_len, hash, time_s);
    l->pend_len += RECORD;
    return 0;
}

int keylog_compact(struct keylog *l, const struct keytable *t)
{
    int fd = open(l->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        goto out_close;
    memcpy(buf, SNAPSHOT_MAGIC, 8);
    size_t len = 16;
    uint64_t keys = 0;
    for (size_t i = 0; i < t->count; i++) {
        uint64_t hash = keytable_nth_hash(t, i);
        if (!hash || (l->in_flight && l->in_flight(l->in_flight_arg, hash)))
            continue;
        if (len + RECORD > READ_CHUNK) {
            if (write_all(fd, buf, len) < 0)
                goto out_free;
            len = 0;
        }
        encode(buf + len, hash, keytable_nth_time(t, i));
        len += RECORD;
        keys++;
    }
    uint8_t count[8];
    put_le(count, keys, 8);
    if (write_all(fd, buf, len) < 0 || pwrite(fd, count, 8, 8) != 8 || fsync(fd) < 0)
        goto out_free;
    free(buf);
    close(fd);
    /* The snapshot holds every key now; only then may the log go. A crash
     * between the two replays the old log over it, which changes nothing. */
    if (rename(l->tmp_path, l->path) < 0 || fsync_dir_of(l->path) < 0)
        return -1;
    if (ftruncate(l->log_fd, 0) < 0 || fsync(l->log_fd) < 0)
        return -1;
    l->log_records = 0;
    l->must_compact = false;
    return 0;
out_free:
    free(buf);
out_close:
    close(fd);
    unlink(l->tmp_path);
    return -1;
}

int keylog_write(struct keylog *l, const struct keytable *t, uint64_t *upto)
{
    *upto = l->written;
    if (!l->pend_len)
        return 0;
    bool compact = atomic_load(&l->sync_failed) || l->must_compact ||
                   l->log_records > 2 * (uint64_t)t->count + COMPACT_SLACK;
    if (!l->must_compact) {
        /* Appended first even when a compaction follows: a kill while the
         * snapshot is being written then still finds these keys. */
        if (write_all(l->log_fd, l->pend, l->pend_len) < 0) {
            /* A partial append would hide every later record behind a torn one. */
            int saved = errno;
            if (ftruncate(l->log_fd, (off_t)(l->log_records * RECORD)) < 0)
                l->must_compact = true; /* its length is unknown: replace it */
            errno = saved;
            return -1;
        }
        l->log_records += l->pend_len / RECORD;
        l->written += l->pend_len / RECORD;
        l->pend_len = 0;
        *upto = l->written;
    }
    if (compact) {
        /* The table holds every key: the snapshot covers them, fsync'd.
         * (The caller's fdatasync then finds an empty log: cheap, and not
         * worth a lock here that an fdatasync elsewhere may be holding.) */
        atomic_store(&l->sync_failed, false);
        if (keylog_compact(l, t) < 0) {
            atomic_store(&l->sync_failed, true); /* try again next time */
            return -1;
        }
        l->written += l->pend_len / RECORD; /* queued while the log was unusable */
        l->pend_len = 0;
        *upto = l->written;
    }
    return 0;
}

int keylog_sync_to(struct keylog *l, uint64_t upto)
{
    pthread_mutex_lock(&l->sync_mu);
    int rc = 0;
    /* Group commit: whoever waited here while another thread's fdatasync
     * ran may find its records covered already. */
    if (l->synced < upto) {
        /* Everything written by now is covered by this fdatasync, and upto
         * was written before it starts (the caller wrote it). */
        if (fdatasync(l->log_fd) == 0) {
            l->synced = upto;
        } else {
            rc = -1;
            atomic_store(&l->sync_failed, true); /* the dirty pages may be gone: rewrite */
        }
    }
    pthread_mutex_unlock(&l->sync_mu);
    return rc;
}

int keylog_sync(struct keylog *l, const struct keytable *t)
{
    uint64_t upto;
    return keylog_write(l, t, &upto) < 0 ? -1 : keylog_sync_to(l, upto);
}

void keylog_close(struct keylog *l, const struct keytable *t)
{
    if (l->log_fd >= 0) {
        keylog_sync(l, t);
        close(l->log_fd);
    }
    free(l->path);
    free(l->log_path);
    free(l->tmp_path);
    free(l->pend);
    pthread_mutex_destroy(&l->sync_mu);
    *l = (struct keylog){.log_fd = -1};
}
