/* frame_reader.c - the length-prefixed framings (varint, u32be) of the file and stdin
 * inputs, on the line reader's buffer and reads. A frame over max_line is dead-lettered
 * (its first bytes) and skipped exactly: the next header is where its length says, so
 * reading goes on in step. A frame the input ends inside is dead-lettered with its offset.
 * A header that cannot be one (a varint over 10 bytes) leaves no way to find the next
 * frame: the rest is dead-lettered and the input fails, which stops the pipeline. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "line_reader.h"

enum { FINISH_FRAME_MS = 1000, BAD_HEAD_KEEP = 64 };

/* Offset in the input of the byte at buffer position pos. */
static int64_t offset_of(const struct line_reader *r, size_t pos)
{
    return (int64_t)r->offset - (int64_t)(r->end - pos);
}

/* Dead-letters n bytes at p; end: the offset reading goes on from. */
static void reject(struct line_reader *r, struct sl_input_sink *sink, const uint8_t *p, size_t n,
                   int64_t end, const char *err)
{
    struct sl_msg *m = line_reader_next_msg(r, sink, end);
    line_reader_set_payload(r, m, p, n);
    sl_sink_reject(sink, m, err); /* the core logs it, throttled, with the trace id */
}

/* Hands on every whole frame in the buffer, and drops the bytes of a frame
 * being skipped. Returns -1 at a header that is not one. */
static int emit_frames(struct line_reader *r, struct sl_input_sink *sink)
{
    for (;;) {
        if (r->frame_skip) { /* the rest of an oversize frame */
            size_t n = r->end - r->start < r->frame_skip ? r->end - r->start : r->frame_skip;
            r->start += n;
            r->frame_skip -= n;
            if (r->frame_skip)
                return 0;
        }
        uint64_t len;
        const uint8_t *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        int h = avail ? framing_get_head(r->framing, p, avail, &len) : 0;
        if (h == 0)
            return 0;
        if (h < 0) {
            char err[200];
            snprintf(err, sizeof(err), "%s: bad frame header at offset %" PRId64 "; input stopped",
                     r->label, offset_of(r, r->start));
            size_t n = avail < BAD_HEAD_KEEP ? avail : BAD_HEAD_KEEP;
            reject(r, sink, p, n, offset_of(r, r->start + n), err);
            return -1;
        }
        if (len > r->max_line) {
            char err[200];
            size_t have = avail - (size_t)h < r->max_line ? avail - (size_t)h : r->max_line;
            snprintf(err, sizeof(err),
                     "%s: frame of %" PRIu64 " bytes at offset %" PRId64
                     " is over max_line (%zu); skipped",
                     r->label, len, offset_of(r, r->start), r->max_line);
            reject(r, sink, p + h, have, offset_of(r, r->start) + h + (int64_t)len, err);
            r->start += (size_t)h;
            r->frame_skip = (size_t)len; /* <= SIZE_MAX: the length fits what is dropped */
            continue;
        }
        if (avail - (size_t)h < len)
            return 0;
        struct sl_msg *m =
            line_reader_next_msg(r, sink, offset_of(r, r->start + (size_t)h + (size_t)len));
        line_reader_set_payload(r, m, p + h, (size_t)len);
        sl_sink_emit(sink, m);
        r->start += (size_t)h + (size_t)len;
    }
}

/* The input ended (or stopped) inside a frame: what there is goes to dead_letter. */
static void reject_partial(struct line_reader *r, struct sl_input_sink *sink, const char *why)
{
    if (r->start == r->end || r->frame_skip)
        return;
    char err[200];
    snprintf(err, sizeof(err), "%s: truncated frame at offset %" PRId64 " (%zu bytes %s)", r->label,
             offset_of(r, r->start), r->end - r->start, why);
    size_t n = r->end - r->start < r->max_line ? r->end - r->start : r->max_line;
    reject(r, sink, r->buf + r->start, n, offset_of(r, r->end), err);
    r->start = r->end;
}

/* Stopped inside a frame: read on until it is whole (a writer may be in the
 * middle of it), for a second at most. */
static void finish_frame(struct line_reader *r, struct sl_input_sink *sink)
{
    for (int waited = 0; waited < FINISH_FRAME_MS && r->start < r->end && !r->frame_skip;) {
        uint64_t len;
        int h = framing_get_head(r->framing, r->buf + r->start, r->end - r->start, &len);
        if (h > 0 && len <= r->end - r->start - (size_t)h)
            break;
        if (r->end == r->cap)
            break;
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) {
            waited += 10;
            continue;
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n <= 0)
            break;
        r->end += (size_t)n;
        r->offset += n;
    }
    if (emit_frames(r, sink) == 0)
        reject_partial(r, sink, "read when stopped");
}

int frame_reader_run(struct line_reader *r, struct sl_input_sink *sink)
{
    for (;;) {
        if (emit_frames(r, sink) < 0)
            return SL_ERROR;
        if (atomic_load(&r->stop))
            break;
        ssize_t n = line_reader_fill(r, sink);
        if (n == -2)
            break;
        if (n < 0) {
            sl_log(r->inst, SL_LOG_ERROR, "%s: read failed: %s", r->label, strerror(errno));
            reject_partial(r, sink, "read before the failure");
            return SL_ERROR;
        }
        if (n == 0) {
            reject_partial(r, sink, "before the end of the input");
            return SL_OK;
        }
    }
    finish_frame(r, sink);
    return SL_OK;
}
