/* file_writer.h - batched, delimited writes to a file descriptor: the whole
 * of the file and stdout outputs but for how they get their descriptor. */
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
};

/* NULL when out of memory. The writer closes fd on destroy when owns_fd. */
struct file_writer *file_writer_new(const struct sl_instance *inst, int fd, bool owns_fd,
                                    const char *label, bool fsync_on_flush);
/* Plugin callbacks, ctx being the writer. write appends every message's
 * encoded bytes plus '\n', writes them with one write(2) per batch, then
 * confirms each (or retries them all when the write failed); flush fsyncs
 * when asked to (drain). */
void file_writer_destroy(void *ctx);
int file_writer_write(void *ctx, struct sl_msg **msgs, size_t n);
int file_writer_flush(void *ctx);

#endif
