/* checkpoint.h - the file input's state_file: where to resume reading.
 *
 * Each line the input emits is pushed here with its end (the byte after its
 * newline) and line number; delivered() marks lines done in any order. The
 * checkpoint is the highest *contiguous* done line: the file's device and
 * inode, the byte offset to resume at and the line number there. It is
 * written (to PATH.tmp, fsync'd, renamed over PATH) at most once per
 * interval from delivered(), and on drain. A restart that finds the same
 * file resumes there; another file at the path (inode changed) or a file now
 * shorter than the offset starts over, with a log line saying why.
 * Thread-safe: the reader thread pushes while output threads mark done. */
#ifndef SLUICE_IN_FILE_CHECKPOINT_H
#define SLUICE_IN_FILE_CHECKPOINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <sluice/sluice.h>

/* Where a file was left: resume reading it at `offset` (line `line_no`
 * read so far). */
struct checkpoint_pos {
    dev_t dev;
    ino_t ino;
    int64_t offset;
    int64_t line_no;
};

struct checkpoint_line {
    uint64_t seq; /* the cookie the message carries */
    int64_t end;  /* byte after the line */
    int64_t line_no;
    uint32_t file; /* index into files[] */
    bool done;
};

enum { CHECKPOINT_FILES = 8, CHECKPOINT_LOCAL = 64 };

struct checkpoint {
    const struct sl_instance *inst;
    char *path, *tmp_path;
    int interval_ms;
    pthread_mutex_t mu;           /* guards what follows */
    pthread_mutex_t write_mu;     /* one state-file write at a time (taken before mu) */
    struct checkpoint_line *ring; /* emitted, not yet in the done prefix */
    size_t cap, head, count;      /* cap: a power of two; line seq is at seq & (cap - 1) */
    uint64_t next_seq;            /* published: seqs below it are in the ring (or done) */
    /* The reader's lines not yet published to the ring: it takes the lock
     * once per CHECKPOINT_LOCAL lines (and before it blocks), not per line. */
    struct checkpoint_line local[CHECKPOINT_LOCAL];
    size_t n_local;
    uint64_t local_seq; /* the reader's next seq */
    /* reported done before their line was published */
    uint64_t *early;
    size_t n_early, cap_early;
    /* the files lines came from (a rotation or truncation starts a new one) */
    struct {
        dev_t dev;
        ino_t ino;
    } files[CHECKPOINT_FILES];
    uint32_t cur_file;
    struct checkpoint_pos done; /* the done prefix's end */
    uint32_t done_file;         /* the file it is in */
    bool have_done;
    bool written_current; /* done has been written */
    int64_t last_write_ms;
    bool write_failing;
};

/* A checkpoint kept in path. Returns NULL (logged) when out of memory. */
struct checkpoint *checkpoint_new(const struct sl_instance *inst, const char *path,
                                  int interval_ms);
/* Writes what is done (drain) and frees. */
void checkpoint_free(struct checkpoint *c);
/* Where to start reading the file open at fd (its st from fstat): the saved
 * position when the state file names this file and the file is at least that
 * long, else 0 with a log line saying why. */
struct checkpoint_pos checkpoint_resume(struct checkpoint *c, dev_t dev, ino_t ino, off_t size);
/* Lines now come from another file (rotation) or from the start again
 * (truncation): later pushes belong to it. */
void checkpoint_file(struct checkpoint *c, dev_t dev, ino_t ino);
/* Record an emitted line; returns the cookie its message must carry. Aborts
 * when out of memory (the reader cannot go on without tracking it). */
uint64_t checkpoint_push(struct checkpoint *c, int64_t end, int64_t line_no);
/* The reader is about to wait for more input: publish its pending lines so
 * their deliveries can move the checkpoint. Reader thread. */
void checkpoint_idle(struct checkpoint *c);
/* Lines delivered (any status: a dead letter is final too). Writes the
 * checkpoint when the interval has passed. */
void checkpoint_done(struct checkpoint *c, const struct sl_delivery *d, size_t n);
/* Write the checkpoint now if it moved. Returns 0, or -1 (logged). */
int checkpoint_write(struct checkpoint *c);

#endif
