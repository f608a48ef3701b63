/* line_reader.c - see line_reader.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framing.h"
#include "line_reader.h"

enum { READ_CHUNK = 1 << 20, FOLLOW_POLL_MS = 200, FINISH_LINE_MS = 1000 };

struct line_reader *line_reader_new(const struct sl_instance *inst, int fd, bool owns_fd,
                                    const char *label, bool follow)
{
    struct line_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    struct stat st;
    r->fd = fd;
    r->owns_fd = owns_fd;
    r->label = label;
    r->max_line = (size_t)sl_opt_int(inst, "max_line");
    r->framing = framing_of(inst);
    r->follow = follow;
    r->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    r->next_fd = -1;
    r->inst = inst;
    r->cap = READ_CHUNK;
    r->buf = malloc(r->cap);
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    atomic_init(&r->stop, false);
    if (!r->buf || r->wake_fd < 0) {
        sl_instance_error(inst, "%s: cannot set up the reader: %s", label, strerror(errno));
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
    if (r->next_fd >= 0)
        close(r->next_fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    sl_buf_free(&r->head);
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

static bool stopping(const struct line_reader *r)
{
    return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

/* The byte offset in the file of the buffered byte at q. */
static int64_t pos_of(const struct line_reader *r, const uint8_t *q)
{
    return (int64_t)r->offset - (int64_t)(r->buf + r->end - q);
}

struct sl_msg *line_reader_next_msg(struct line_reader *r, struct sl_input_sink *sink, int64_t end)
{
    struct sl_msg *m = sl_sink_msg(sink);
    r->line_no++;
    m->source.name = r->label;
    m->source.offset = r->line_no;
    m->cookie = r->track_line ? r->track_line(r->track_arg, end, r->line_no) : (uint64_t)r->line_no;
    return m;
}

void line_reader_set_payload(struct line_reader *r, struct sl_msg *m, const uint8_t *p, size_t n)
{
    if (sl_buf_set(&m->payload, p, n) < 0) {
        sl_log(r->inst, SL_LOG_ERROR, "%s:%" PRId64 ": out of memory", r->label, r->line_no);
        abort();
    }
}

/* A line of len bytes (at least len when !exact: its end was never read) is
 * over max_line: its head goes to dead_letter with an error saying so. */
static void reject_long(struct line_reader *r, struct sl_input_sink *sink, const uint8_t *head,
                        size_t len, bool exact, int64_t end)
{
    struct sl_msg *m = line_reader_next_msg(r, sink, end);
    char err[200];
    snprintf(err, sizeof(err), "%s:%" PRId64 ": line of %s%zu bytes is over max_line (%zu)%s",
             r->label, r->line_no, exact ? "" : "at least ", len, r->max_line,
             exact ? "" : "; its end was not read");
    line_reader_set_payload(r, m, head, r->max_line);
    sl_sink_reject(sink, m, err); /* the core logs it, throttled, with the message */
}

static void emit(struct line_reader *r, struct sl_input_sink *sink, const uint8_t *p, size_t n)
{
    /* the line and its newline, when there is one */
    int64_t end = pos_of(r, p + n) + (p + n < r->buf + r->end && p[n] == '\n');
    if (n > r->max_line) {
        reject_long(r, sink, p, n, true, end);
        return;
    }
    struct sl_msg *m = line_reader_next_msg(r, sink, end);
    line_reader_set_payload(r, m, p, n);
    sl_sink_emit(sink, m);
}

/* Hand on every complete line in the buffer. */
static void emit_lines(struct line_reader *r, struct sl_input_sink *sink)
{
    uint8_t *p = r->buf + r->start, *end = r->buf + r->end, *nl;
    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
        emit(r, sink, p, (size_t)(nl - p));
        p = nl + 1;
    }
    r->start = (size_t)(p - r->buf);
}

/* A line over max_line with no newline in sight yet: keep its head for
 * dead_letter and drop the rest as it is read, counting it, instead of growing
 * the buffer without bound. */
static void start_skip(struct line_reader *r)
{
    if (sl_buf_set(&r->head, r->buf + r->start, r->max_line) < 0) {
        sl_log(r->inst, SL_LOG_ERROR, "%s: out of memory", r->label);
        abort();
    }
    r->skipping = true;
    r->skipped = r->end - r->start;
    r->start = r->end;
}

/* Reject the skipped line; len is the part of it read so far, end the byte
 * after it. */
static void end_skip(struct line_reader *r, struct sl_input_sink *sink, size_t len, bool exact,
                     int64_t end)
{
    reject_long(r, sink, r->head.data, len, exact, end);
    r->skipping = false;
    if (r->head.cap > READ_CHUNK)
        sl_buf_free(&r->head); /* do not pin up to max_line bytes */
}

/* Newly read bytes while skipping: drop them, up to the line's end if here. */
static void skip_more(struct line_reader *r, struct sl_input_sink *sink)
{
    uint8_t *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
    if (!nl) {
        r->skipped += r->end - r->start;
        r->start = r->end;
        return;
    }
    size_t rest = (size_t)(nl - (r->buf + r->start));
    end_skip(r, sink, r->skipped + rest, true, pos_of(r, nl + 1));
    r->start += rest + 1;
}

/* The end of what fd gives: everything read is handed on, a last line without
 * its newline included. exact: the input really ended there (not a stop or a
 * read error), so a line being skipped has its full length. */
static void emit_rest(struct line_reader *r, struct sl_input_sink *sink, bool exact)
{
    if (r->skipping) {
        end_skip(r, sink, r->skipped + (r->end - r->start), exact, (int64_t)r->offset);
        r->start = r->end;
        return;
    }
    emit_lines(r, sink);
    if (r->start < r->end) {
        emit(r, sink, r->buf + r->start, r->end - r->start);
        r->start = r->end;
    }
}

/* Wait until the fd has data (or the stop eventfd fires). Returns false when
 * stopping. Flushes the partial batch first: we are about to block. */
static bool wait_readable(struct line_reader *r, struct sl_input_sink *sink, int timeout_ms)
{
    struct pollfd fds[2] = {{r->fd, POLLIN, 0}, {r->wake_fd, POLLIN, 0}};
    if (poll(fds, 2, 0) > 0 && (fds[0].revents || fds[1].revents))
        return !atomic_load(&r->stop);
    sl_sink_flush(sink);
    if (r->track_idle)
        r->track_idle(r->track_arg);
    while (poll(fds, 2, timeout_ms) < 0 && errno == EINTR)
        ;
    return !atomic_load(&r->stop);
}

ssize_t line_reader_fill(struct line_reader *r, struct sl_input_sink *sink)
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
        if (n > 0) {
            r->end += (size_t)n;
            r->offset += n;
        }
        return n;
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
        r->offset++;
        if (r->buf[r->end++] == '\n')
            return;
    }
    if (r->start < r->end)
        sl_log(r->inst, SL_LOG_WARN,
               "%s: stopped inside a line; its %zu bytes are delivered as read", r->label,
               r->end - r->start);
}

/* ---- following a file that may be truncated or replaced ---- */

/* The old file is read to its end: its unfinished last line is handed on as
 * it is, then the reader moves to the file that replaced it. */
static void switch_to_next(struct line_reader *r, struct sl_input_sink *sink)
{
    if (r->start < r->end && !r->skipping)
        sl_log(r->inst, SL_LOG_WARN,
               "%s: the replaced file ended inside a line; its %zu bytes are delivered as read",
               r->label, r->end - r->start);
    emit_rest(r, sink, true);
    sl_log(r->inst, SL_LOG_INFO,
           "%s: replaced (rotated): finished the old file after line %" PRId64
           "; reading the new one from its start",
           r->label, r->line_no);
    if (r->owns_fd)
        close(r->fd);
    r->fd = r->next_fd;
    r->owns_fd = true;
    r->next_fd = -1;
    r->offset = 0;
    r->line_no = 0;
    r->gone_logged = false;
    if (r->new_file)
        r->new_file(r->track_arg, r->fd);
}

bool line_reader_truncated(struct line_reader *r, struct sl_input_sink *sink)
{
    struct stat cur;
    if (fstat(r->fd, &cur) < 0 || cur.st_size >= r->offset)
        return false;
    sl_log(r->inst, SL_LOG_WARN,
           "%s: truncated (now %lld bytes, %lld were read); reading it again from the start",
           r->label, (long long)cur.st_size, (long long)r->offset);
    emit_rest(r, sink, true); /* a line the truncation cut short, as read */
    if (lseek(r->fd, 0, SEEK_SET) == 0) {
        r->offset = 0;
        r->line_no = 0;
        if (r->new_file)
            r->new_file(r->track_arg, r->fd);
    }
    return true;
}

void line_reader_finish(struct line_reader *r, struct sl_input_sink *sink)
{
    emit_rest(r, sink, true);
}

/* Looks at the followed file once it has no more to give: shorter than what
 * was read means truncated (copytruncate), read it again from the start;
 * another file at the path means replaced (rename and create), finish ours
 * and then switch. */
static void check_rotation(struct line_reader *r, struct sl_input_sink *sink)
{
    struct stat cur, at_path;
    if (line_reader_truncated(r, sink) || fstat(r->fd, &cur) < 0)
        return;
    bool found = stat(r->label, &at_path) == 0;
    if (!found || !S_ISREG(at_path.st_mode)) {
        if (!r->gone_logged)
            sl_log(r->inst, SL_LOG_WARN,
                   "%s: %s; still reading the file that was there, waiting for a new one", r->label,
                   found ? "no longer a regular file" : strerror(errno));
        r->gone_logged = true;
        return;
    }
    if (at_path.st_dev == cur.st_dev && at_path.st_ino == cur.st_ino)
        return;
    r->next_fd = open(r->label, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (r->next_fd < 0 && !r->gone_logged) {
        sl_log(r->inst, SL_LOG_WARN, "%s: replaced, but the new file cannot be opened: %s",
               r->label, strerror(errno));
        r->gone_logged = true;
    }
}

/* Following, at the end of the file: switch to its replacement if one is
 * waiting, else wait a little and look at the file. False when stopping. */
static bool follow_idle(struct line_reader *r, struct sl_input_sink *sink)
{
    if (r->next_fd >= 0) {
        switch_to_next(r, sink);
        return true;
    }
    sl_sink_flush(sink);
    if (r->track_idle)
        r->track_idle(r->track_arg);
    struct pollfd w = {r->wake_fd, POLLIN, 0};
    poll(&w, 1, FOLLOW_POLL_MS);
    if (stopping(r))
        return false;
    if (r->regular)
        check_rotation(r, sink);
    return true;
}

int line_reader_pass(struct line_reader *r, struct sl_input_sink *sink)
{
    for (;;) {
        if (r->skipping)
            skip_more(r, sink);
        if (!r->skipping) {
            emit_lines(r, sink);
            if (r->end - r->start > r->max_line)
                start_skip(r);
        }
        if (stopping(r))
            return LINE_READER_STOP;
        ssize_t n = line_reader_fill(r, sink);
        if (n == -2)
            return LINE_READER_STOP;
        if (n < 0) {
            sl_log(r->inst, SL_LOG_ERROR, "%s: read failed: %s", r->label, strerror(errno));
            emit_rest(r, sink, false);
            return LINE_READER_ERROR;
        }
        if (n == 0)
            return LINE_READER_EOF;
    }
}

void line_reader_stopped(struct line_reader *r, struct sl_input_sink *sink)
{
    if (!r->skipping) {
        emit_lines(r, sink);
        finish_line(r);
    }
    emit_rest(r, sink, false);
}

int line_reader_run(void *ctx, struct sl_input_sink *sink)
{
    struct line_reader *r = ctx;
    if (r->framing != FRAMING_LINES)
        return frame_reader_run(r, sink);
    int rc;
    while ((rc = line_reader_pass(r, sink)) == LINE_READER_EOF && r->follow && follow_idle(r, sink))
        ;
    if (rc == LINE_READER_ERROR)
        return SL_ERROR;
    if (stopping(r)) {
        line_reader_stopped(r, sink);
        return SL_OK;
    }
    emit_rest(r, sink, true);
    return SL_OK;
}
