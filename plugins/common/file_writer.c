/* file_writer.c - see file_writer.h. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_writer.h"
#include "framing.h"
#include "marks_file.h"
#include "monotime.h"

enum { FAILURE_LOG_INTERVAL_MS = 1000 };

/* Writes p[0..n) and returns how many bytes went out; *err is 0 when all did,
 * else the errno that stopped it. A descriptor inherited non-blocking (a pipe
 * or tty as stdout) is waited on, as a blocking one would be, not failed. */
static size_t write_some(int fd, const uint8_t *p, size_t n, int *err)
{
    size_t done = 0;
    *err = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd out = {fd, POLLOUT, 0};
            poll(&out, 1, -1);
        } else {
            *err = w < 0 ? errno : EIO;
            break;
        }
    }
    return done;
}

/* Logs a failed write. A failing disk is retried after every backoff, so after
 * the first failure one line a second at most, saying how many it stands for. */
static void log_failure(struct file_writer *fw, const char *fmt, ...)
{
    int64_t now = monotime_ms();
    fw->failures_unlogged++;
    if (fw->failure_logged_ms && now - fw->failure_logged_ms < FAILURE_LOG_INTERVAL_MS)
        return;
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (fw->failures_unlogged > 1)
        sl_log(fw->inst, SL_LOG_ERROR, "%s: %s (%u failed writes since the last report)", fw->label,
               text, fw->failures_unlogged);
    else
        sl_log(fw->inst, SL_LOG_ERROR, "%s: %s", fw->label, text);
    fw->failures_unlogged = 0;
    fw->failure_logged_ms = now;
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
    fw->framing = framing_of(inst);
    pthread_mutex_init(&fw->mu, NULL);
    return fw;
}

/* Writes what is left of a line a failed write cut short. Returns 0 when the
 * line is whole again, else the errno (the unwritten part is kept). */
static int finish_torn_line(struct file_writer *fw)
{
    int err;
    size_t done = write_some(fw->fd, fw->rest.data, fw->rest.len, &err);
    memmove(fw->rest.data, fw->rest.data + done, fw->rest.len - done);
    fw->rest.len -= done;
    return err;
}

void file_writer_destroy(void *ctx)
{
    struct file_writer *fw = ctx;
    if (fw->rest.len && finish_torn_line(fw) != 0)
        sl_log(fw->inst, SL_LOG_ERROR,
               "%s: a line cut short by a failed write stays torn (%zu bytes missing)", fw->label,
               fw->rest.len);
    if (fw->owns_fd)
        close(fw->fd);
    sl_buf_free(&fw->buf);
    sl_buf_free(&fw->rest);
    pthread_mutex_destroy(&fw->mu);
    free(fw);
}

/* Errors that retrying cannot mend: the reader of the pipe is gone, the file
 * cannot grow (EFBIG), the descriptor is not writable or not a file. Their
 * messages go to dead_letter at once instead of after every retry. */
static bool permanent_error(int err)
{
    switch (err) {
    case EPIPE:
    case EFBIG:
    case EBADF:
    case EINVAL:
    case EISDIR:
    case ENXIO:
    case ENODEV:
        return true;
    default:
        return false;
    }
}

/* Cuts the last frag bytes (the head of a torn line) off the end of a regular
 * file we alone write to, leaving the descriptor's offset there. */
static bool cut_torn_line(struct file_writer *fw, size_t frag)
{
    struct stat st;
    if (!fw->owns_fd || fstat(fw->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    off_t end = lseek(fw->fd, 0, SEEK_CUR);
    if (end < (off_t)frag)
        return false;
    return ftruncate(fw->fd, end - (off_t)frag) == 0 &&
           lseek(fw->fd, end - (off_t)frag, SEEK_SET) >= 0;
}

/* A write of the batch in fw->buf stopped after `written` bytes with err.
 * Returns how many of its messages went out whole; the line it cut short is
 * cut off the file, or else its rest is kept to finish before the next write. */
static size_t settle_failed_write(struct file_writer *fw, struct sl_msg **msgs, size_t n,
                                  size_t written, int err)
{
    size_t whole = 0, line_start = 0;
    while (whole < n) {
        size_t len = sl_msg_out_len(msgs[whole]);
        size_t line_end = line_start + framing_overhead(fw->framing, len) + len;
        if (line_end > written)
            break;
        line_start = line_end;
        whole++;
    }
    size_t frag = written - line_start;
    const char *torn = "";
    if (frag > 0 && cut_torn_line(fw, frag)) {
        torn = "; the line it cut short is removed";
    } else if (frag > 0) {
        size_t len = sl_msg_out_len(msgs[whole]);
        size_t line_len = framing_overhead(fw->framing, len) + len;
        if (sl_buf_set(&fw->rest, fw->buf.data + written, line_start + line_len - written) < 0) {
            sl_log(fw->inst, SL_LOG_ERROR, "%s: out of memory", fw->label);
            abort(); /* a torn line would be glued onto the next one */
        }
        torn = "; the line it cut short will be finished first";
    }
    log_failure(fw, "write failed: %s; %zu of %zu messages written%s, the rest %s", strerror(err),
                whole, n, torn, permanent_error(err) ? "dead-lettered" : "retried");
    return whole;
}

int file_writer_write(void *ctx, struct sl_msg **msgs, size_t n)
{
    return file_writer_write_marked(ctx, msgs, n, NULL);
}

int file_writer_write_marked(struct file_writer *fw, struct sl_msg **msgs, size_t n,
                             struct marks_file *marks)
{
    pthread_mutex_lock(&fw->mu);
    size_t whole = 0;
    int err = fw->rest.len ? finish_torn_line(fw) : 0;
    if (err) {
        log_failure(fw, "write failed: %s; %zu messages %s", strerror(err), n,
                    permanent_error(err) ? "dead-lettered" : "retried");
        goto done;
    }
    fw->buf.len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = sl_msg_out_len(msgs[i]);
        if (framing_put_head(fw->framing, len, &fw->buf) < 0 ||
            sl_buf_append(&fw->buf, sl_msg_out_data(msgs[i]), len) < 0 ||
            framing_put_tail(fw->framing, &fw->buf) < 0) {
            err = ENOMEM;
            sl_log(fw->inst, SL_LOG_ERROR, "%s: out of memory; %zu messages retried", fw->label, n);
            goto done;
        }
    }
    /* The marks first: a kill after the lines are in keeps them findable. */
    if (marks && marks_file_record(marks, fw->fd, fw->framing, msgs, n) < 0)
        log_failure(fw,
                    "state_file: cannot record the batch's marks: %s (a crash now could "
                    "write it twice)",
                    strerror(errno));
    size_t written = write_some(fw->fd, fw->buf.data, fw->buf.len, &err);
    whole = err ? settle_failed_write(fw, msgs, n, written, err) : n;
done:
    for (size_t i = 0; i < n; i++) {
        if (i < whole)
            sl_out_done(msgs[i], SL_OK, NULL);
        else
            sl_out_done(msgs[i], permanent_error(err) ? SL_ERROR : SL_RETRY, strerror(err));
    }
    if (fw->buf.cap > (1u << 22))
        sl_buf_free(&fw->buf); /* one huge batch should not pin memory */
    pthread_mutex_unlock(&fw->mu);
    return SL_OK;
}

int file_writer_flush(void *ctx)
{
    struct file_writer *fw = ctx;
    int rc = SL_OK, err;
    pthread_mutex_lock(&fw->mu);
    if (fw->rest.len && (err = finish_torn_line(fw)) != 0) {
        sl_log(fw->inst, SL_LOG_ERROR, "%s: cannot finish a line cut short: %s", fw->label,
               strerror(err));
        rc = SL_ERROR;
    }
    if (fw->fsync_on_flush && fsync(fw->fd) < 0 && errno != EINVAL && errno != EROFS) {
        sl_log(fw->inst, SL_LOG_ERROR, "%s: fsync failed: %s", fw->label, strerror(errno));
        rc = SL_ERROR;
    }
    pthread_mutex_unlock(&fw->mu);
    return rc;
}
