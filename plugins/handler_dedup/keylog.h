/* keylog.h - the dedup state file: committed keys survive a restart.
 *
 * Two files: PATH holds a snapshot (every key held, oldest first) and is only
 * ever replaced whole (written to PATH.tmp, fsync'd, renamed); PATH.log gets
 * one 16-byte record per committed key. keylog_write appends a batch with
 * one write(2) under the handler's lock (in the kernel: it survives a kill
 * -9 at once); keylog_sync_to then fdatasyncs it outside that lock, one
 * fdatasync covering every batch written before it started (a machine crash).
 * Loading reads the snapshot, then replays the log; a torn or garbled tail
 * (a crash in the middle of an append) ends the replay and is cut off, with a
 * warning, never an error. When the log outgrows the table it is compacted:
 * a new snapshot, then an empty log. Everything but keylog_sync_to runs
 * under the handler's lock. */
#ifndef SLUICE_DEDUP_KEYLOG_H
#define SLUICE_DEDUP_KEYLOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keytable.h"

struct keylog {
    char *path;     /* snapshot */
    char *log_path; /* PATH.log */
    char *tmp_path; /* PATH.tmp */
    int log_fd;
    uint8_t *pend; /* records appended since the last sync */
    size_t pend_len, pend_cap;
    uint64_t log_records; /* records in PATH.log */
    bool must_compact;    /* a failed append left the log's length unknown */
    /* Durability, counted in records ever written (compaction does not reset
     * it): written is the handler lock's, synced sync_mu's. */
    uint64_t written;
    pthread_mutex_t sync_mu; /* held through an fdatasync; never taken under it */
    uint64_t synced;
    atomic_bool sync_failed; /* an fdatasync failed: the next write compacts */
    /* Keys in the table whose message is not delivered yet: a snapshot
     * leaves them out (they reach the log once committed). NULL: none. */
    bool (*in_flight)(const void *arg, uint64_t hash);
    const void *in_flight_arg;
};

/* Open (creating when absent) the state at path and load it into t, which
 * must be empty. A torn log tail is logged through warn (may be NULL) and
 * cut off. Returns 0, or -1 with a reason in err (unreadable file, wrong
 * magic, I/O error). */
int keylog_open(struct keylog *l, const char *path, struct keytable *t,
                void (*warn)(void *arg, const char *msg), void *warn_arg, char *err, size_t errlen);
/* Queue one committed key for the next sync. Returns 0, or -1 out of memory. */
int keylog_append(struct keylog *l, uint64_t hash, uint32_t time_s);
/* Write what was appended with one write(2); then compact when the log
 * holds more than twice the keys held (t is the table the log describes) or
 * an earlier fdatasync failed (after a failed write, whose log length is
 * unknown, compact instead of appending). Sets *upto to what keylog_sync_to
 * must make durable. Returns 0, or -1 with errno set on an I/O error (what
 * could not be appended stays queued; a failed compaction is tried again
 * by the next write). Handler lock held. */
int keylog_write(struct keylog *l, const struct keytable *t, uint64_t *upto);
/* fdatasync the log unless an fdatasync that started after upto was written
 * already did. Any thread, without the handler's lock. Returns 0, or -1
 * with errno set (the next keylog_write compacts). */
int keylog_sync_to(struct keylog *l, uint64_t upto);
/* keylog_write then keylog_sync_to. Returns 0 or -1. */
int keylog_sync(struct keylog *l, const struct keytable *t);
/* Replace the snapshot with t's keys (those in flight left out) and empty
 * the log. Returns 0 or -1. */
int keylog_compact(struct keylog *l, const struct keytable *t);
/* Sync what is queued and close. */
void keylog_close(struct keylog *l, const struct keytable *t);

#endif
