/* ktrack.c - a growable ring of in-flight offsets per partition. */
#include "ktrack.h"

#include <stdlib.h>
#include <string.h>

#define DONE 1u

void ktrack_init(struct ktrack *t)
{
    memset(t, 0, sizeof(*t));
    t->commit = -1;
    t->committed = -1;
    t->last = -1;
}

void ktrack_free(struct ktrack *t)
{
    free(t->ring);
    ktrack_init(t);
}

void ktrack_reset(struct ktrack *t)
{
    t->head = 0;
    t->count = 0;
    t->commit = -1;
    t->committed = -1;
    t->last = -1;
}

static int grow(struct ktrack *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    uint64_t *n = malloc(ncap * sizeof(*n));
    if (!n)
        return -1;
    for (size_t i = 0; i < t->count; i++)
        n[i] = t->ring[(t->head + i) & (t->cap - 1)];
    free(t->ring);
    t->ring = n;
    t->cap = ncap;
    t->head = 0;
    return 0;
}

int ktrack_push(struct ktrack *t, int64_t offset)
{
    if (t->count == t->cap && grow(t) != 0)
        return -1;
    t->ring[(t->head + t->count) & (t->cap - 1)] = (uint64_t)offset << 1;
    t->last = offset;
    t->count++;
    return 0;
}

bool ktrack_done(struct ktrack *t, int64_t offset)
{
    size_t lo = 0, hi = t->count, mask = t->cap - 1;
    uint64_t want = (uint64_t)offset;
    /* Binary search: offsets in the ring are increasing. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = t->ring[(t->head + mid) & mask] >> 1;
        if (v < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->count)
        return false;
    uint64_t *e = &t->ring[(t->head + lo) & mask];
    if ((*e >> 1) != want)
        return false;
    *e |= DONE;
    while (t->count > 0 && (t->ring[t->head] & DONE)) {
        t->commit = (int64_t)(t->ring[t->head] >> 1) + 1;
        t->head = (t->head + 1) & mask;
        t->count--;
    }
    return true;
}
