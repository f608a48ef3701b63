/* file_writer.h - batched, delimited writes to a file descriptor; shared by
 * the file and stdout outputs. */
#ifndef SLUICE_FILE_WRITER_H
#define SLUICE_FILE_WRITER_H

#include <sluice/sluice.h>

struct file_writer {
    int fd;
    bool fsync_on_flush;
    struct sl_buf buf;
    const char *label; /* path, for errors */
};

/* Append every message's encoded bytes plus '\n', write them with as few
 * syscalls as the buffer allows, then confirm each (or retry them all when
 * the write failed). */
int file_writer_write(struct file_writer *fw, const struct sl_instance *inst, struct sl_msg **msgs,
                      size_t n);
/* fsync when asked to (drain). */
int file_writer_flush(struct file_writer *fw, const struct sl_instance *inst);

#endif
