/* line_reader.h - split a file descriptor into lines with large reads and
 * memchr; can wait on a FIFO or follow a growing file (noticing truncation and
 * replacement), and be interrupted. */
#ifndef SLUICE_LINE_READER_H
#define SLUICE_LINE_READER_H

#include <stdatomic.h>
#include <sys/types.h>
#include <sluice/sluice.h>

struct line_reader {
    int fd;
    bool owns_fd;
    int wake_fd; /* eventfd: written by stop() to interrupt a wait */
    atomic_bool stop;
    bool follow;
    bool regular;     /* fd is a regular file: when following, its size and identity are watched */
    int next_fd;      /* following: the file that replaced ours at the path, read once ours ends */
    bool gone_logged; /* following: the path's disappearance was logged */
    size_t max_line;
    uint8_t *buf;
    size_t cap, start, end;
    off_t offset; /* bytes read from fd */
    int64_t line_no;
    bool skipping;      /* inside a line longer than max_line */
    size_t skipped;     /* its length so far */
    struct sl_buf head; /* its first max_line bytes, for dead_letter */
    const char *label;  /* the path (reopened when following), or "stdin" */
    const struct sl_instance *inst;
    /* Optional (the file input's checkpoint): told of every line with the
     * byte after it (end) and its number; returns the message's cookie.
     * new_file: reading moved to another file (fd) or back to the start.
     * track_idle: the reader is about to wait (it flushed its batch). */
    uint64_t (*track_line)(void *arg, int64_t end, int64_t line_no);
    void (*new_file)(void *arg, int fd);
    void (*track_idle)(void *arg); /* about to wait for more input */
    void *track_arg;
    int framing;       /* enum framing (framing.h); not lines: frame_reader.c reads */
    size_t frame_skip; /* framed: bytes of an oversize frame still to drop */
};

/* A reader of fd (closed on destroy when owns_fd). With follow, label is the
 * path, watched for truncation and replacement. NULL, logged, on error. */
struct line_reader *line_reader_new(const struct sl_instance *inst, int fd, bool owns_fd,
                                    const char *label, bool follow);
/* Plugin callbacks, ctx being the reader. run reads every line and emits it
 * through the sink; a line longer than max_line is dead-lettered (its first
 * max_line bytes) with an error giving its length. A last line without a
 * newline is emitted as it is. It returns 0 at the end of input or after stop
 * (which any thread may call), SL_ERROR on a read error. */
void line_reader_destroy(void *ctx);
int line_reader_run(void *ctx, struct sl_input_sink *sink);
void line_reader_stop(void *ctx);

/* ---- for a driver of several readers (the file input's globs) ---- */
enum { LINE_READER_EOF = 0, LINE_READER_STOP = 1, LINE_READER_ERROR = -1 };
/* Reads and emits every complete line the file has now (lines framing
 * only); a last line without its newline stays buffered. Returns
 * LINE_READER_EOF at the end of what there is, LINE_READER_STOP after stop,
 * LINE_READER_ERROR on a read error (logged; what was read is emitted). */
int line_reader_pass(struct line_reader *r, struct sl_input_sink *sink);
/* Stopped: read the line being read to its end and emit what is left. */
void line_reader_stopped(struct line_reader *r, struct sl_input_sink *sink);
/* At the end of a regular file: when it is now shorter than what was read
 * (copytruncate), emit what is buffered, start again at offset 0 (logged,
 * new_file told) and return true. */
bool line_reader_truncated(struct line_reader *r, struct sl_input_sink *sink);
/* The file is done: emit what is buffered, a last line without newline too. */
void line_reader_finish(struct line_reader *r, struct sl_input_sink *sink);

/* ---- shared with frame_reader.c ---- */
/* Reads more bytes after r->end (compacting or growing the buffer first).
 * Returns bytes read, 0 at EOF, -1 on error, -2 when stopping. */
ssize_t line_reader_fill(struct line_reader *r, struct sl_input_sink *sink);
/* The next message, its source set; end is the offset of the byte after it
 * (with its newline), which a checkpoint resumes from. */
struct sl_msg *line_reader_next_msg(struct line_reader *r, struct sl_input_sink *sink, int64_t end);
void line_reader_set_payload(struct line_reader *r, struct sl_msg *m, const uint8_t *p, size_t n);
/* frame_reader.c: run for the length-prefixed framings. */
int frame_reader_run(struct line_reader *r, struct sl_input_sink *sink);

#endif
