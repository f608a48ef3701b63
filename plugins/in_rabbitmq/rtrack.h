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
    uint64_t gen;   /* connection generation the tags belong to; 0: none */
};

/* A delivery's cookie: worker index (8 bits) | connection generation (56). */
#define RTRACK_GEN_MASK ((UINT64_C(1) << 56) - 1)

void rtrack_init(struct rtrack *t);
void rtrack_free(struct rtrack *t);
/* A new channel, of connection generation `gen` (0 while disconnected):
 * its tags start again at 1, and cookies of any other generation are
 * ignored from now on. */
void rtrack_reset(struct rtrack *t, uint64_t gen);
/* Record a delivery. Tags skipped by the broker count as done. Returns 0, or
 * -1 when out of memory or the tag is not new. */
int rtrack_push(struct rtrack *t, uint64_t tag);
/* The delivery is finished. False if tag is not in flight. */
bool rtrack_done(struct rtrack *t, uint64_t tag);
/* The delivery with this cookie is finished. False, and nothing marked,
 * when the cookie's connection is not the current one: the same tag names
 * another message on the new channel, and the broker redelivers the old
 * one anyway. */
bool rtrack_done_cookie(struct rtrack *t, uint64_t cookie, uint64_t tag);

/* The cookie for a delivery that worker reads on the current connection. */
static inline uint64_t rtrack_cookie(const struct rtrack *t, unsigned worker)
{
    return (uint64_t)worker << 56 | (t->gen & RTRACK_GEN_MASK);
}
static inline unsigned rtrack_cookie_worker(uint64_t cookie)
{
    return (unsigned)(cookie >> 56);
}

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
