/* file_writer.c - see file_writer.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_writer.h"

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

struct file_writer *file_writer_new(const struct sl_instance *inst, int fd, bool owns_fd,
                                    const char *label, bool fsync_on_flush)
{
    struct file_writer *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return NULL;
    fw->inst = inst;
    fw->fd = fd;
    fw->owns_fd = owns_fd;
    fw->label = label;
    fw->fsync_on_flush = fsync_on_flush;
    pthread_mutex_init(&fw->mu, NULL);
    return fw;
}

void file_writer_destroy(void *ctx)
{
    struct file_writer *fw = ctx;
    if (fw->owns_fd)
        close(fw->fd);
    sl_buf_free(&fw->buf);
    pthread_mutex_destroy(&fw->mu);
    free(fw);
}

int file_writer_write(void *ctx, struct sl_msg **msgs, size_t n)
{
    struct file_writer *fw = ctx;
    pthread_mutex_lock(&fw->mu);
    fw->buf.len = 0;
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        size_t len = sl_msg_out_len(msgs[i]);
        if (sl_buf_reserve(&fw->buf, len + 1) < 0) {
            err = ENOMEM;
            break;
        }
        memcpy(fw->buf.data + fw->buf.len, sl_msg_out_data(msgs[i]), len);
        fw->buf.len += len;
        fw->buf.data[fw->buf.len++] = '\n';
    }
    if (!err && write_all(fw->fd, fw->buf.data, fw->buf.len) < 0)
        err = errno;
    /* A failed write may have written part of the batch: retrying repeats
     * those lines, which at-least-once allows; losing them it does not. */
    if (err)
        sl_log(fw->inst, SL_LOG_ERROR, "%s: write failed: %s; will retry", fw->label,
               strerror(err));
    for (size_t i = 0; i < n; i++)
        sl_out_done(msgs[i], err ? SL_RETRY : SL_OK, err ? strerror(err) : NULL);
    if (fw->buf.cap > (1u << 22))
        sl_buf_free(&fw->buf); /* one huge batch should not pin memory */
    pthread_mutex_unlock(&fw->mu);
    return SL_OK;
}

int file_writer_flush(void *ctx)
{
    struct file_writer *fw = ctx;
    int rc = SL_OK;
    pthread_mutex_lock(&fw->mu);
    if (fw->fsync_on_flush && fsync(fw->fd) < 0 && errno != EINVAL && errno != EROFS) {
        sl_log(fw->inst, SL_LOG_ERROR, "%s: fsync failed: %s", fw->label, strerror(errno));
        rc = SL_ERROR;
    }
    pthread_mutex_unlock(&fw->mu);
    return rc;
}
