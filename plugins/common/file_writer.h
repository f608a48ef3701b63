/* file_writer.h - batched, delimited writes to a file descriptor: the whole
 * of the file and stdout outputs but for how they get their descriptor. A
 * failed write never leaves a torn line for the next one to be glued onto. */
#ifndef SLUICE_FILE_WRITER_H
#define SLUICE_FILE_WRITER_H

#include <pthread.h>
#include <sluice/sluice.h>

struct file_writer {
    const struct sl_instance *inst;
    int fd;
    bool owns_fd;
    bool fsync_on_flush;
    const char *label;  /* path, for errors */
    pthread_mutex_t mu; /* several workers share one descriptor */
    struct sl_buf buf;
    struct sl_buf rest;        /* unwritten end of a torn line, written before anything else */
    int64_t failure_logged_ms; /* failed writes are logged at most once a second */
    unsigned failures_unlogged;
    int framing; /* enum framing (framing.h), from the instance's framing option */
};

/* NULL when out of memory. owns_fd means the writer alone writes through fd:
 * it closes fd on destroy, and after a failed write it may cut a torn line
 * off the end of a regular file (ftruncate). Without it (stdout, whose file
 * description others may share) a torn line is finished instead: its rest is
 * written before the next batch. */
struct file_writer *file_writer_new(const struct sl_instance *inst, int fd, bool owns_fd,
                                    const char *label, bool fsync_on_flush);
/* For a file opened to append: when its last byte is not a newline (a torn
 * write from a crash), ends that line with one, logged, so the first new line
 * stays whole. Returns 0, or -1 (logged) when the file cannot be read or
 * written. */
int file_writer_end_torn_tail(struct file_writer *fw);
/* Plugin callbacks, ctx being the writer. write appends every message's
 * encoded bytes, framed (plus '\n', or after their length) and writes them with one write(2) per
 * batch. Lines written whole are confirmed; when the write fails the rest are retried and a line it
 * cut short is removed or finished (see file_writer_new). flush finishes a torn line and fsyncs
 * when asked to (drain). */
void file_writer_destroy(void *ctx);
int file_writer_write(void *ctx, struct sl_msg **msgs, size_t n);
/* file_writer_write that first records the batch's recovery marks in
 * `marks` (marks_file.h; NULL: none). */
struct marks_file;
int file_writer_write_marked(struct file_writer *fw, struct sl_msg **msgs, size_t n,
                             struct marks_file *marks);
int file_writer_flush(void *ctx);

#endif
