/* line_reader.c - see line_reader.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "line_reader.h"

enum { READ_CHUNK = 1 << 20, FOLLOW_POLL_MS = 200, FINISH_LINE_MS = 1000 };

int line_reader_check(const struct sl_instance *inst)
{
    if (sl_opt_int(inst, "max_line") < 1) {
        sl_log(inst, SL_LOG_ERROR, "%s: max_line must be at least 1", sl_instance_where(inst));
        return SL_ERROR;
    }
    return SL_OK;
}

struct line_reader *line_reader_new(const struct sl_instance *inst, int fd, bool owns_fd,
                                    const char *label, bool follow)
{
    struct line_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->fd = fd;
    r->owns_fd = owns_fd;
    r->label = label;
    r->max_line = (size_t)sl_opt_int(inst, "max_line");
    r->follow = follow;
    r->inst = inst;
    r->cap = READ_CHUNK;
    r->buf = malloc(r->cap);
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    atomic_init(&r->stop, false);
    if (!r->buf || r->wake_fd < 0) {
        sl_log(inst, SL_LOG_ERROR, "%s: cannot set up the reader: %s", label, strerror(errno));
        r->owns_fd = false; /* the caller still owns fd on failure */
        line_reader_destroy(r);
        return NULL;
    }
    return r;
}

void line_reader_destroy(void *ctx)
{
    struct line_reader *r = ctx;
    if (r->owns_fd)
        close(r->fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    free(r->buf);
    free(r);
}

void line_reader_stop(void *ctx)
{
    struct line_reader *r = ctx;
    atomic_store(&r->stop, true);
    uint64_t one = 1;
    ssize_t w = write(r->wake_fd, &one, sizeof(one));
    (void)w;
}

static void emit(struct line_reader *r, struct sl_input_sink *sink, const uint8_t *p, size_t n)
{
    struct sl_msg *m = sl_sink_msg(sink);
    r->line_no++;
    m->source.name = r->label;
    m->source.offset = r->line_no;
    m->cookie = (uint64_t)r->line_no;
    if (n > r->max_line) {
        char err[160];
        snprintf(err, sizeof(err), "%s:%lld: line of %zu bytes is over max_line (%zu)", r->label,
                 (long long)r->line_no, n, r->max_line);
        sl_buf_set(&m->payload, p, r->max_line);
        sl_log(r->inst, SL_LOG_WARN, "%s", err);
        sl_sink_reject(sink, m, err);
        return;
    }
    if (sl_buf_set(&m->payload, p, n) < 0) {
        sl_log(r->inst, SL_LOG_ERROR, "%s:%lld: out of memory", r->label, (long long)r->line_no);
        abort();
    }
    sl_sink_emit(sink, m);
}

/* Wait until the fd has data (or the stop eventfd fires). Returns false when
 * stopping. Flushes the partial batch first: we are about to block. */
static bool wait_readable(struct line_reader *r, struct sl_input_sink *sink, int timeout_ms)
{
    struct pollfd fds[2] = {{r->fd, POLLIN, 0}, {r->wake_fd, POLLIN, 0}};
    if (poll(fds, 2, 0) > 0 && (fds[0].revents || fds[1].revents))
        return !atomic_load(&r->stop);
    sl_sink_flush(sink);
    while (poll(fds, 2, timeout_ms) < 0 && errno == EINTR)
        ;
    return !atomic_load(&r->stop);
}

/* Read more bytes after r->end. Returns bytes read, 0 at EOF, -1 on error,
 * -2 when stopping. Makes room by compacting, then by growing the buffer. */
static ssize_t fill(struct line_reader *r, struct sl_input_sink *sink)
{
    if (r->start > 0 && (r->end == r->cap || r->start > r->cap / 2)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        uint8_t *b = realloc(r->buf, r->cap * 2);
        if (!b)
            return -1;
        r->buf = b;
        r->cap *= 2;
    }
    for (;;) {
        if (!wait_readable(r, sink, -1))
            return -2;
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n > 0)
            r->end += (size_t)n;
        return n;
    }
}

/* Hand on every complete line in the buffer. */
static void emit_lines(struct line_reader *r, struct sl_input_sink *sink)
{
    uint8_t *nl;
    while (r->start < r->end && (nl = memchr(r->buf + r->start, '\n', r->end - r->start))) {
        size_t len = (size_t)(nl - (r->buf + r->start));
        emit(r, sink, r->buf + r->start, len);
        r->start += len + 1;
    }
}

/* The end: everything read is handed on, a last line without its newline
 * included. */
static void emit_rest(struct line_reader *r, struct sl_input_sink *sink)
{
    emit_lines(r, sink);
    if (r->start < r->end) {
        emit(r, sink, r->buf + r->start, r->end - r->start);
        r->start = r->end;
    }
}

/* Stopped in the middle of a line: read on to its end one byte at a time,
 * so the last message is whole and nothing past it leaves the source. */
static void finish_line(struct line_reader *r)
{
    int waited_ms = 0;
    while (r->start < r->end && waited_ms < FINISH_LINE_MS) {
        if (r->end == r->cap) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
            if (r->end == r->cap)
                break;
        }
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) {
            waited_ms += 10;
            continue;
        }
        ssize_t n = read(r->fd, r->buf + r->end, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return; /* EOF: the line ends here */
        if (r->buf[r->end++] == '\n')
            return;
    }
    if (r->start < r->end)
        sl_log(r->inst, SL_LOG_WARN,
               "%s: stopped inside a line; its %zu bytes are delivered as read", r->label,
               r->end - r->start);
}

int line_reader_run(void *ctx, struct sl_input_sink *sink)
{
    struct line_reader *r = ctx;
    for (;;) {
        uint8_t *p = r->buf + r->start, *end = r->buf + r->end;
        uint8_t *nl;
        while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
            emit(r, sink, p, (size_t)(nl - p));
            p = nl + 1;
        }
        r->start = (size_t)(p - r->buf);
        if (atomic_load_explicit(&r->stop, memory_order_relaxed))
            break;
        /* A line longer than max_line with no newline in sight yet: hand
         * on its head now instead of growing the buffer without bound. */
        if (r->end - r->start > r->max_line) {
            size_t len = r->end - r->start;
            uint8_t *more;
            emit(r, sink, r->buf + r->start, len);
            r->start = r->end;
            /* skip the rest of that line */
            for (;;) {
                ssize_t n = fill(r, sink);
                if (n <= 0)
                    return n == -1 ? SL_ERROR : SL_OK;
                more = memchr(r->buf + r->start, '\n', r->end - r->start);
                if (more) {
                    r->start = (size_t)(more - r->buf) + 1;
                    break;
                }
                r->start = r->end;
            }
            continue;
        }
        ssize_t n = fill(r, sink);
        if (n == -2)
            break;
        if (n < 0) {
            sl_log(r->inst, SL_LOG_ERROR, "%s: read failed: %s", r->label, strerror(errno));
            emit_rest(r, sink);
            return SL_ERROR;
        }
        if (n == 0) {
            if (!r->follow)
                break;
            sl_sink_flush(sink);
            struct pollfd w = {r->wake_fd, POLLIN, 0};
            poll(&w, 1, FOLLOW_POLL_MS);
            if (atomic_load(&r->stop))
                break;
        }
    }
    if (atomic_load(&r->stop)) {
        emit_lines(r, sink);
        finish_line(r);
    }
    emit_rest(r, sink);
    return SL_OK;
}
