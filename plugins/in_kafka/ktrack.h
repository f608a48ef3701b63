/* ktrack.h - one partition's in-flight offsets, and the contiguous commit point. */
#ifndef SLUICE_KTRACK_H
#define SLUICE_KTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Offsets are pushed in increasing order as messages are emitted (gaps allowed:
 * compaction, transaction markers) and marked done in any order. `commit` is
 * the offset after the last one of the done prefix: the next offset to read,
 * what Kafka wants committed. Not thread-safe; the caller locks. */
struct ktrack {
    uint64_t *ring; /* offset << 1 | done */
    size_t cap;     /* power of two */
    size_t head;
    size_t count;
    int64_t commit;    /* -1 until something is done */
    int64_t committed; /* last commit sent, -1 none */
    int64_t last;      /* last offset pushed */
};

void ktrack_init(struct ktrack *t);
void ktrack_free(struct ktrack *t);
/* Forget everything (partition revoked or re-assigned). */
void ktrack_reset(struct ktrack *t);
/* Record an emitted offset. Returns 0, or -1 when out of memory. */
int ktrack_push(struct ktrack *t, int64_t offset);
/* Mark offset done and advance the commit point. False if not in flight. */
bool ktrack_done(struct ktrack *t, int64_t offset);
/* True when the commit point moved past the last commit sent. */
static inline bool ktrack_dirty(const struct ktrack *t)
{
    return t->commit > t->committed;
}

#endif
