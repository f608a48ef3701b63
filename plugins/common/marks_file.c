/* marks_file.c - see marks_file.h. The layout, native byte order:
 *
 *   struct head     magic "SLMARKS2", device, inode, batch number,
 *                   the names' length, the number of entries
 *   names           each handler's name (after SL_MARK_PREFIX), NUL-ended,
 *                   padded to 8 bytes
 *   struct entry[]  where the line ends | name index << 56, the cookie
 *   uint64_t        the batch number again: a torn pwrite leaves it wrong
 */
#include "marks_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framing.h"

#define MAGIC      "SLMARKS2"
#define MAX_WORKER 256
#define MAX_NAMES  8 /* handlers marking one batch: more are left unmarked */
#define END_BITS   56

struct head {
    char magic[8];
    uint64_t dev, ino, seq;
    uint32_t names_len, n_entries;
};

struct entry {
    uint64_t end_name; /* where the line ends, name index in the top 8 bits */
    uint64_t cookie;
};

static void worker_path(char *out, size_t cap, const char *path, unsigned worker)
{
    if (worker == 0)
        snprintf(out, cap, "%s", path);
    else
        snprintf(out, cap, "%s.%u", path, worker);
}

int marks_file_open(struct marks_file *mf, const char *path, unsigned worker, int out_fd, char *err,
                    size_t errlen)
{
    memset(mf, 0, sizeof(*mf));
    mf->fd = -1;
    char p[4200];
    struct stat st;
    worker_path(p, sizeof(p), path, worker);
    if (fstat(out_fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat the output file: %s", strerror(errno));
        return -1;
    }
    mf->dev = st.st_dev;
    mf->ino = st.st_ino;
    mf->fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (mf->fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

void marks_file_close(struct marks_file *mf)
{
    if (mf->fd >= 0)
        close(mf->fd);
    mf->fd = -1;
    sl_buf_free(&mf->buf);
    sl_buf_free(&mf->names);
}

/* The index of a mark's name in this batch, added when new; -1 when the
 * batch has too many names already. Names are compared by pointer: each
 * handler's lives as long as the pipeline. */
static int name_index(struct marks_file *mf, const char *name)
{
    for (unsigned i = 0; i < mf->n_names; i++)
        if (mf->name_ptr[i] == name)
            return (int)i;
    if (mf->n_names == MAX_NAMES)
        return -1;
    const char *suffix = name + strlen(SL_MARK_PREFIX);
    if (sl_buf_append(&mf->names, suffix, strlen(suffix) + 1) < 0)
        return -1;
    mf->name_ptr[mf->n_names] = name;
    return (int)mf->n_names++;
}

static int pwrite_all(int fd, const void *p, size_t n, off_t at)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = pwrite(fd, (const char *)p + off, n - off, at + (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int marks_file_record(struct marks_file *mf, int out_fd, int framing, struct sl_msg **msgs,
                      size_t n)
{
    if (mf->fd < 0)
        return 0;
    struct stat st;
    if (fstat(out_fd, &st) < 0)
        return -1;
    uint64_t end = (uint64_t)st.st_size;
    mf->buf.len = mf->names.len = 0;
    mf->n_names = 0;
    if (sl_buf_reserve(&mf->buf, n * sizeof(struct entry)) < 0)
        return -1;
    struct entry *e = (struct entry *)mf->buf.data;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = sl_msg_out_len(msgs[i]);
        end += framing_overhead(framing, len) + len;
        struct sl_mark mk;
        int idx;
        if (!sl_msg_mark(msgs[i], &mk) || (idx = name_index(mf, mk.name)) < 0)
            continue;
        e[k++] = (struct entry){end | (uint64_t)idx << END_BITS, mk.cookie};
    }
    if (!k)
        return 0; /* the file keeps a batch heard of already: harmless */
    mf->buf.len = k * sizeof(struct entry);
    static const char pad[8];
    size_t names_len = (mf->names.len + 7) / 8 * 8;
    if (sl_buf_append(&mf->names, pad, names_len - mf->names.len) < 0)
        return -1;
    uint64_t seq = mf->seq + 1;
    struct head h = {.magic = MAGIC,
                     .dev = (uint64_t)mf->dev,
                     .ino = (uint64_t)mf->ino,
                     .seq = seq,
                     .names_len = (uint32_t)names_len,
                     .n_entries = (uint32_t)k};
    /* One pwrite, in order: the number at the end comes last. */
    size_t total = sizeof(h) + names_len + mf->buf.len + sizeof(seq);
    if (sl_buf_reserve(&mf->names, total) < 0)
        return -1;
    uint8_t *out = mf->names.data + names_len; /* room after the names */
    memmove(out + sizeof(h), mf->names.data, names_len);
    memcpy(out, &h, sizeof(h));
    memcpy(out + sizeof(h) + names_len, mf->buf.data, mf->buf.len);
    memcpy(out + sizeof(h) + names_len + mf->buf.len, &seq, sizeof(seq));
    if (pwrite_all(mf->fd, out, total, 0) < 0)
        return -1;
    mf->seq = seq;
    return 0;
}

/* One marks file: the marks of its batch whose lines end within the output
 * file's size (dev, ino). Returns how many, or -1 if unreadable. */
static int recover_one(const struct sl_instance *inst, const char *path, const struct stat *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    struct head h;
    size_t got = fread(&h, 1, sizeof(h), f);
    if (got == 0) { /* created, never written */
        fclose(f);
        return 0;
    }
    char *names = NULL;
    struct entry *e = NULL;
    uint64_t tail = 0;
    int found = 0;
    const char *why = NULL;
    if (got != sizeof(h) || memcmp(h.magic, MAGIC, 8) != 0 || h.names_len > 65536 ||
        h.names_len % 8 || h.n_entries > (1u << 24))
        why = "not a marks file";
    else if (h.dev != (uint64_t)out->st_dev || h.ino != (uint64_t)out->st_ino)
        why = "marks of another output file (replaced since)";
    else if (!(names = calloc(1, h.names_len + 1)) ||
             !(e = calloc(h.n_entries ? h.n_entries : 1, sizeof(*e))))
        why = "out of memory";
    else if (fread(names, 1, h.names_len, f) != h.names_len ||
             fread(e, sizeof(*e), h.n_entries, f) != h.n_entries ||
             fread(&tail, sizeof(tail), 1, f) != 1 || tail != h.seq)
        why = "cut short (a kill while it was written, before its batch was)";
    if (why) {
        sl_log(inst, SL_LOG_INFO, "%s: %s; nothing read from it", path, why);
        goto out;
    }
    const char *name_at[MAX_NAMES];
    unsigned n_names = 0;
    for (size_t off = 0; off < h.names_len && n_names < MAX_NAMES && names[off];) {
        name_at[n_names++] = names + off;
        off += strlen(names + off) + 1;
    }
    size_t plen = strlen(SL_MARK_PREFIX);
    for (uint32_t i = 0; i < h.n_entries; i++) {
        uint64_t end = e[i].end_name & ((UINT64_C(1) << END_BITS) - 1);
        unsigned idx = (unsigned)(e[i].end_name >> END_BITS);
        if (idx >= n_names || end > (uint64_t)out->st_size)
            continue; /* a line the output file does not hold whole */
        char name[300], value[17];
        snprintf(name, sizeof(name), "%.*s%s", (int)plen, SL_MARK_PREFIX, name_at[idx]);
        sl_mark_value(e[i].cookie, value);
        sl_recovered(inst, name, value, 16);
        found++;
    }
out:
    free(names);
    free(e);
    fclose(f);
    return found;
}

int marks_file_recover(const struct sl_instance *inst, const char *path, int out_fd)
{
    struct stat out;
    if (fstat(out_fd, &out) < 0) {
        sl_log(inst, SL_LOG_ERROR, "cannot stat the output file: %s", strerror(errno));
        return -1;
    }
    int total = 0;
    for (unsigned w = 0; w < MAX_WORKER; w++) {
        char p[4200];
        worker_path(p, sizeof(p), path, w);
        int got = recover_one(inst, p, &out);
        if (got < 0) {
            sl_log(inst, SL_LOG_ERROR, "%s: cannot read: %s", p, strerror(errno));
            return -1;
        }
        total += got;
    }
    if (total)
        sl_log(inst, SL_LOG_INFO,
               "%s: %d lines written before the restart whose keys were not yet recorded: "
               "handed back by their marks",
               path, total);
    return total;
}
