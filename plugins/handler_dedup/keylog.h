/* keylog.h - the dedup state file: committed keys survive a restart.
 *
 * Two files: PATH holds a snapshot (every key held, oldest first) and is only
 * ever replaced whole (written to PATH.tmp, fsync'd, renamed); PATH.log gets
 * one 16-byte record per committed key, appended and fsync'd once per batch.
 * Loading reads the snapshot, then replays the log; a torn or garbled tail
 * (a crash in the middle of an append) ends the replay and is cut off, with a
 * warning, never an error. When the log outgrows the table it is compacted:
 * a new snapshot, then an empty log. Not thread-safe (the handler's lock). */
#ifndef SLUICE_DEDUP_KEYLOG_H
#define SLUICE_DEDUP_KEYLOG_H

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
};

/* Open (creating when absent) the state at path and load it into t, which
 * must be empty. A torn log tail is logged through warn (may be NULL) and
 * cut off. Returns 0, or -1 with a reason in err (unreadable file, wrong
 * magic, I/O error). */
int keylog_open(struct keylog *l, const char *path, struct keytable *t,
                void (*warn)(void *arg, const char *msg), void *warn_arg, char *err, size_t errlen);
/* Queue one committed key for the next sync. Returns 0, or -1 out of memory. */
int keylog_append(struct keylog *l, uint64_t hash, uint32_t time_s);
/* Write and fsync what was appended; compact first when the log holds more
 * than twice the keys held (t is the table the log describes). Returns 0,
 * or -1 with errno set on an I/O error (the records stay queued). */
int keylog_sync(struct keylog *l, const struct keytable *t);
/* Replace the snapshot with t's keys and empty the log. Returns 0 or -1. */
int keylog_compact(struct keylog *l, const struct keytable *t);
/* Sync what is queued and close. */
void keylog_close(struct keylog *l, const struct keytable *t);

#endif
