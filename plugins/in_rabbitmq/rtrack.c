/* rtrack.c - done flags in a growable ring indexed by delivery tag. */
#include "rtrack.h"

#include <stdlib.h>
#include <string.h>

void rtrack_init(struct rtrack *t)
{
    memset(t, 0, sizeof(*t));
    rtrack_reset(t, 0);
}

void rtrack_free(struct rtrack *t)
{
    free(t->done);
    rtrack_init(t);
}

void rtrack_reset(struct rtrack *t, uint64_t gen)
{
    t->gen = gen;
    if (t->done)
        memset(t->done, 0, t->cap);
    t->first = 1;
    t->next = 1;
    t->acked = 0;
}

/* Room for tags up to `need` (exclusive) from first, keeping each flag at
 * its tag's index in the larger ring. */
static int grow(struct rtrack *t, uint64_t need)
{
    size_t ncap = t->cap ? t->cap : 1024;
    while (need - t->first > ncap)
        ncap *= 2;
    if (ncap == t->cap)
        return 0;
    uint8_t *n = calloc(ncap, 1);
    if (!n)
        return -1;
    for (uint64_t tag = t->first; tag < t->next; tag++)
        n[tag & (ncap - 1)] = t->done[tag & (t->cap - 1)];
    free(t->done);
    t->done = n;
    t->cap = ncap;
    return 0;
}

static void advance(struct rtrack *t)
{
    size_t mask = t->cap - 1;
    while (t->first < t->next && t->done[t->first & mask]) {
        t->done[t->first & mask] = 0;
        t->first++;
    }
}

int rtrack_push(struct rtrack *t, uint64_t tag)
{
    if (tag < t->next || grow(t, tag + 1) != 0)
        return -1;
    size_t mask = t->cap - 1;
    for (; t->next < tag; t->next++)
        t->done[t->next & mask] = 1; /* never delivered: nothing to wait for */
    t->done[tag & mask] = 0;
    t->next = tag + 1;
    advance(t);
    return 0;
}

bool rtrack_done(struct rtrack *t, uint64_t tag)
{
    if (tag < t->first || tag >= t->next)
        return false;
    uint8_t *f = &t->done[tag & (t->cap - 1)];
    if (*f)
        return false;
    *f = 1;
    advance(t);
    return true;
}

bool rtrack_done_cookie(struct rtrack *t, uint64_t cookie, uint64_t tag)
{
    if (!t->gen || (cookie & RTRACK_GEN_MASK) != (t->gen & RTRACK_GEN_MASK))
        return false;
    return rtrack_done(t, tag);
}
