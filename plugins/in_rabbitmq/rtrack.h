/* rtrack.h - one channel's unacked delivery tags and the contiguous ack point. */
#ifndef SLUICE_RTRACK_H
#define SLUICE_RTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A channel numbers its deliveries 1, 2, 3, ... so the tracker is a ring of
 * done flags indexed by tag, with O(1) marking. Tags below `first` are done;
 * basic.ack with multiple = true up to first - 1 acknowledges all of them at
 * once. Not thread-safe; the caller locks. */
struct rtrack {
    uint8_t *done;  /* done flag per tag, at tag & (cap - 1) */
    size_t cap;     /* power of two */
    uint64_t first; /* oldest tag not done */
    uint64_t next;  /* the tag the next delivery should carry */
    uint64_t acked; /* highest tag acknowledged to the broker */
};

void rtrack_init(struct rtrack *t);
void rtrack_free(struct rtrack *t);
/* A new channel: its tags start again at 1. */
void rtrack_reset(struct rtrack *t);
/* Record a delivery. Tags skipped by the broker count as done. Returns 0, or
 * -1 when out of memory or the tag is not new. */
int rtrack_push(struct rtrack *t, uint64_t tag);
/* The delivery is finished. False if tag is not in flight. */
bool rtrack_done(struct rtrack *t, uint64_t tag);

/* Highest tag whose every predecessor is done too; 0: none. */
static inline uint64_t rtrack_ack_point(const struct rtrack *t)
{
    return t->first - 1;
}
/* True when there is something to ack. */
static inline bool rtrack_dirty(const struct rtrack *t)
{
    return t->first - 1 > t->acked;
}
/* Deliveries pushed and not done. */
static inline uint64_t rtrack_in_flight(const struct rtrack *t)
{
    return t->next - t->first;
}

#endif
