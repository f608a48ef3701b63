/* marks_file.c - see marks_file.h. */
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

#define MAGIC      "sluice file marks 1"
#define MAX_WORKER 256

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
}

/* Decimal digits of v at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static bool plain_name(const char *s)
{
    for (; *s; s++)
        if (*s <= ' ')
            return false;
    return true;
}

int marks_file_record(struct marks_file *mf, int out_fd, int framing, struct sl_msg **msgs,
                      size_t n)
{
    if (mf->fd < 0)
        return 0;
    struct stat st;
    if (fstat(out_fd, &st) < 0)
        return -1;
    uint64_t seq = mf->seq + 1, end = (uint64_t)st.st_size;
    size_t plen = strlen(SL_MARK_PREFIX);
    char head[128];
    int hl = snprintf(head, sizeof(head), MAGIC " %ju %ju %" PRIu64 "\n", (uintmax_t)mf->dev,
                      (uintmax_t)mf->ino, seq);
    mf->buf.len = 0;
    if (sl_buf_append(&mf->buf, head, (size_t)hl) < 0)
        return -1;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        size_t len = sl_msg_out_len(msgs[i]);
        end += framing_overhead(framing, len) + len;
        struct sl_mark mk;
        if (!sl_msg_mark(msgs[i], &mk) || !plain_name(mk.name))
            continue; /* a name with a space could not be read back: no mark */
        const char *name = mk.name + plen;
        size_t nl = strlen(name);
        if (sl_buf_reserve(&mf->buf, 2 * 20 + nl + 16 + 4) < 0)
            return -1;
        char *p = (char *)mf->buf.data + mf->buf.len;
        p = put_u64(p, seq);
        *p++ = ' ';
        p = put_u64(p, end);
        *p++ = ' ';
        memcpy(p, name, nl);
        p += nl;
        *p++ = ' ';
        memcpy(p, mk.value, 16);
        p += 16;
        *p++ = '\n';
        mf->buf.len = (size_t)(p - (char *)mf->buf.data);
        any = true;
    }
    if (!any)
        return 0;
    for (size_t off = 0; off < mf->buf.len;) {
        ssize_t w = pwrite(mf->fd, mf->buf.data + off, mf->buf.len - off, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    mf->seq = seq;
    return 0;
}

/* One marks file: the marks of its current batch whose lines end within
 * size bytes of the file (dev, ino). Returns how many, or -1 if unreadable. */
static int recover_one(const struct sl_instance *inst, const char *path, const struct stat *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char line[512] = "", name[300], value[32];
    uintmax_t dev, ino;
    uint64_t seq, s, end;
    int found = 0;
    if (!fgets(line, sizeof(line), f) ||
        sscanf(line, MAGIC " %ju %ju %" SCNu64, &dev, &ino, &seq) != 3) {
        if (line[0]) /* an empty file: created, never written */
            sl_log(inst, SL_LOG_WARN, "%s: not a marks file; nothing read from it", path);
        fclose(f);
        return 0;
    }
    if (dev != (uintmax_t)out->st_dev || ino != (uintmax_t)out->st_ino) {
        sl_log(inst, SL_LOG_INFO, "%s: marks of another output file (replaced since); not used",
               path);
        fclose(f);
        return 0;
    }
    size_t plen = strlen(SL_MARK_PREFIX);
    memcpy(name, SL_MARK_PREFIX, plen);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%" SCNu64 " %" SCNu64 " %255s %16s", &s, &end, name + plen, value) != 4 ||
            s != seq || end > (uint64_t)out->st_size)
            continue; /* an older batch's, or a line the file does not hold whole */
        sl_recovered(inst, name, value, strlen(value));
        found++;
    }
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
