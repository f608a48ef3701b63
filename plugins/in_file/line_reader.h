/* line_reader.h - split a file descriptor into lines with large reads and
 * memchr; can wait on a FIFO or follow a growing file, and be interrupted. */
#ifndef SLUICE_LINE_READER_H
#define SLUICE_LINE_READER_H

#include <stdatomic.h>
#include <sluice/sluice.h>

struct line_reader {
    int fd;
    int wake_fd; /* eventfd: written by stop() to interrupt a wait */
    atomic_bool stop;
    bool follow;
    bool eof;
    size_t max_line;
    uint8_t *buf;
    size_t cap, start, end;
    int64_t line_no;
    const char *label;
    const struct sl_instance *inst;
};

int line_reader_init(struct line_reader *r, int fd, const char *label, size_t max_line, bool follow,
                     const struct sl_instance *inst);
void line_reader_fini(struct line_reader *r);
/* Any thread: make the reader return what it holds and then end. */
void line_reader_stop(struct line_reader *r);
/* Read every line and emit it through the sink. Lines longer than max_line
 * are dead-lettered (their first max_line bytes). Returns 0 at the end of
 * input or after stop, SL_ERROR on a read error. */
int line_reader_run(struct line_reader *r, struct sl_input_sink *sink);

#endif
