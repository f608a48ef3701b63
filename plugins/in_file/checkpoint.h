/* checkpoint.h - the file input's state_file: where to resume each file.
 *
 * A store (the state file) holds one tracker per file the input reads: one
 * for a plain path (following its rotations), one per matched file for a
 * glob. Each line the input emits is pushed to its file's tracker with its
 * end (the byte after its newline) and line number; delivered() marks lines
 * done in any order. A tracker's position is its highest *contiguous* done
 * line: the file's device and inode, the byte offset to resume at and the
 * line number there. The store writes every tracker's position (to PATH.tmp,
 * fsync'd, renamed over PATH) at most once per interval from delivered(),
 * and on drain. A restart resumes each file found again (same device and
 * inode, at least as long); another file at a plain path, or a file now
 * shorter than its offset, starts over with a log line saying why; an entry
 * whose file is not read any more is dropped. A tracker whose file was
 * dropped (deleted while a glob was followed) leaves the state once its
 * lines are done. Thread-safe: the reader thread pushes while output
 * threads mark done. */
#ifndef SLUICE_IN_FILE_CHECKPOINT_H
#define SLUICE_IN_FILE_CHECKPOINT_H

#include <pthread.h>
#include <stdatomic.h>
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

/* A line emitted, not yet in the done prefix. Its seq (the tracker's line
 * number for it, from 0) is where it sits: ring[seq & (cap - 1)]. */
struct checkpoint_line {
    int64_t end; /* byte after the line */
    int64_t line_no;
    uint32_t file; /* index into files[] */
    bool done;
};

/* A message's cookie: the tracker's id above this bit, its seq below. */
enum { CHECKPOINT_FILES = 8, CHECKPOINT_LOCAL = 64, CHECKPOINT_SEQ_BITS = 40 };

/* One file's lines (and the files that replaced it at a plain path). */
struct checkpoint {
    struct checkpoint_store *store;
    uint32_t id;
    pthread_mutex_t mu;           /* guards what follows */
    struct checkpoint_line *ring; /* emitted, not yet in the done prefix */
    size_t cap, head, count;      /* cap: a power of two; line seq is at seq & (cap - 1) */
    uint64_t next_seq;            /* published: seqs below it are in the ring (or done) */
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
    bool dropped; /* the file is read no more: leave the state once all is done */
    /* The reader's lines not yet published to the ring: it takes the lock
     * once per CHECKPOINT_LOCAL lines (and before it blocks), not per line.
     * Its own cache lines (the struct is allocated aligned to them): the
     * reader writes here for every line, and the delivering threads write
     * the fields above; sharing a line would move it between the two cores
     * at every line. */
    _Alignas(64) struct checkpoint_line local[CHECKPOINT_LOCAL];
    size_t n_local;
    uint64_t local_seq; /* the reader's next seq */
};

struct checkpoint_store {
    const struct sl_instance *inst;
    char *path, *tmp_path;
    int interval_ms;
    bool plain;               /* one plain path: an entry for another file is worth a log line */
    pthread_mutex_t write_mu; /* one state-file write at a time (taken before mu) */
    pthread_mutex_t mu;       /* guards what follows (taken before a tracker's mu) */
    struct checkpoint **trackers;
    size_t n_trackers, cap_trackers;
    struct checkpoint_pos *saved; /* read from the state file at start */
    bool *claimed;                /* saved[i] was resumed by a tracker */
    size_t n_saved;
    atomic_bool changed; /* some position moved since the last write */
    int64_t last_write_ms;
    bool write_failing;
};

/* The store kept in path, its saved entries read (a damaged or foreign file
 * is logged and ignored). plain: the input reads one plain path. Returns
 * NULL (logged) when out of memory. */
struct checkpoint_store *checkpoint_store_new(const struct sl_instance *inst, const char *path,
                                              int interval_ms, bool plain);
/* Publishes every tracker's lines (the reader has stopped), writes what is
 * done (drain) and frees the store and its trackers. */
void checkpoint_store_free(struct checkpoint_store *s);
/* A tracker for the file (dev, ino, now size bytes long) at label, and in
 * *at where to start reading it: its saved position when the state file has
 * one for it and the file is at least that long, else 0 (logged when a
 * saved position is not used). Reader thread. NULL (logged) when out of
 * memory. */
struct checkpoint *checkpoint_add(struct checkpoint_store *s, const char *label, dev_t dev,
                                  ino_t ino, off_t size, struct checkpoint_pos *at);
/* Saved entries no tracker resumed (files no longer read): their count;
 * they are left out of the next write. */
size_t checkpoint_unclaimed(struct checkpoint_store *s);
/* The tracker's file is read no more (deleted): its entry goes once its
 * lines are done. Reader thread. */
void checkpoint_drop(struct checkpoint *c);
/* Lines now come from another file (rotation) or from the start again
 * (truncation): later pushes belong to it. Reader thread. */
void checkpoint_file(struct checkpoint *c, dev_t dev, ino_t ino);
/* The reader is about to wait for more input: publish its pending lines so
 * their deliveries can move the checkpoint. Reader thread. */
void checkpoint_idle(struct checkpoint *c);
/* Record an emitted line; returns the cookie its message must carry. Aborts
 * when out of memory (the reader cannot go on without tracking it). Inline:
 * it runs for every line read. */
static inline uint64_t checkpoint_push(struct checkpoint *c, int64_t end, int64_t line_no)
{
    struct checkpoint_line *l = &c->local[c->n_local++];
    l->end = end;
    l->line_no = line_no;
    l->file = c->cur_file;
    l->done = false;
    uint64_t seq = c->local_seq++;
    if (c->n_local == CHECKPOINT_LOCAL)
        checkpoint_idle(c); /* publishes the batch */
    return (uint64_t)c->id << CHECKPOINT_SEQ_BITS | seq;
}
/* Lines delivered (any status: a dead letter is final too), any tracker's.
 * Writes the state file when the interval has passed. */
void checkpoint_done(struct checkpoint_store *s, const struct sl_delivery *d, size_t n);
/* Write the state file if a position moved (or a dropped file's entry
 * went) and the interval has passed: the reader calls it while it waits. */
void checkpoint_tick(struct checkpoint_store *s);
/* Write the state file now if a position moved. Returns 0, or -1 (logged). */
int checkpoint_write(struct checkpoint_store *s);

#endif
