/* file_writer.c - see file_writer.h. */
#include <errno.h>
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

int file_writer_write(struct file_writer *fw, const struct sl_instance *inst, struct sl_msg **msgs,
                      size_t n)
{
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
        sl_log(inst, SL_LOG_ERROR, "%s: write failed: %s; will retry", fw->label, strerror(err));
    for (size_t i = 0; i < n; i++)
        sl_out_done(msgs[i], err ? SL_RETRY : SL_OK, err ? strerror(err) : NULL);
    if (fw->buf.cap > (1u << 22))
        sl_buf_free(&fw->buf); /* one huge batch should not pin memory */
    return SL_OK;
}

int file_writer_flush(struct file_writer *fw, const struct sl_instance *inst)
{
    if (fw->fsync_on_flush && fsync(fw->fd) < 0 && errno != EINVAL && errno != EROFS) {
        sl_log(inst, SL_LOG_ERROR, "%s: fsync failed: %s", fw->label, strerror(errno));
        return SL_ERROR;
    }
    return SL_OK;
}
