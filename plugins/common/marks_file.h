/* marks_file.h - the recovery marks (sl_msg_mark) of the batch a file output
 * is writing, kept beside the file, so that after a kill -9 the lines it had
 * written whose keys dedup had not logged yet are found and handed back
 * (sl_recovered) instead of being written again.
 *
 * One marks file per output worker ("FILE" for worker 0, "FILE.1" ...),
 * overwritten in place (one pwrite) before each batch is written: by then
 * the worker's batch before has been heard of (the engine tells the handlers
 * after every call), so only this batch's marks matter. Binary, native byte
 * order (read back on the same machine), marks_file.c has the layout: a
 * header naming the output file (device, inode) and the batch's number, the
 * handlers' names, then per marked message where its line ends in the output
 * file and the handler's cookie, and the batch's number again at the end. A
 * kill inside the pwrite comes before the batch was written: the number at
 * the end then does not match, and nothing of it is used. */
#ifndef SLUICE_COMMON_MARKS_FILE_H
#define SLUICE_COMMON_MARKS_FILE_H

#include <sys/types.h>

#include <sluice/sluice.h>

struct marks_file {
    int fd; /* -1: no marks kept */
    dev_t dev;
    ino_t ino;
    uint64_t seq;
    struct sl_buf buf;   /* the batch's entries */
    struct sl_buf names; /* the batch's names, NUL-terminated */
    const char *name_ptr[8];
    unsigned n_names;
};

/* Worker `worker`'s marks file for state_file `path`, for the output file
 * open on out_fd. Returns 0, or -1 with why in err. */
int marks_file_open(struct marks_file *mf, const char *path, unsigned worker, int out_fd, char *err,
                    size_t errlen);
void marks_file_close(struct marks_file *mf);

/* Before msgs[0..n) are written to out_fd, framed (framing.h) and in this
 * order, at its end: records their marks. Writes nothing when none is
 * marked. Returns 0, or -1 with errno set. */
int marks_file_record(struct marks_file *mf, int out_fd, int framing, struct sl_msg **msgs,
                      size_t n);

/* recover(): hands to sl_recovered() the marks of the lines the output file
 * open on out_fd holds whole, from every marks file of `path` (worker 0 to
 * 255, those that exist). Returns how many, or -1 (logged). */
int marks_file_recover(const struct sl_instance *inst, const char *path, int out_fd);

#endif
