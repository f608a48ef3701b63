/* histogram.c - fixed-bucket histograms for /metrics: each worker owns its
 * own (one writer, relaxed loads and stores: no locked instruction on the
 * hot path); a scrape sums the workers of a stage. */
#include <time.h>

#include "engine.h"

/* Seconds, as nanoseconds: 100 us .. 10 s. */
static const uint64_t time_bounds[SL__HISTO_BUCKETS - 1] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
/* Messages per batch. */
static const uint64_t size_bounds[SL__HISTO_BUCKETS - 1] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536};

const uint64_t *sl__histo_bounds(enum sl__histo_kind kind)
{
    return kind == SL__HISTO_SECONDS ? time_bounds : size_bounds;
}

static void bump(_Atomic uint64_t *v, uint64_t n)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static unsigned bucket_of(enum sl__histo_kind kind, uint64_t value)
{
    const uint64_t *bounds = sl__histo_bounds(kind);
    unsigned i = 0;
    while (i < SL__HISTO_BUCKETS - 1 && value > bounds[i])
        i++;
    return i;
}

void sl__histo_observe(struct sl__histo *h, enum sl__histo_kind kind, uint64_t value)
{
    bump(&h->buckets[bucket_of(kind, value)], 1);
    bump(&h->sum, value);
}

void sl__histo_observe_shared(struct sl__histo *h, enum sl__histo_kind kind, uint64_t value)
{
    atomic_fetch_add_explicit(&h->buckets[bucket_of(kind, value)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
}

void sl__histo_merge(struct sl__histo_snapshot *into, const struct sl__histo *h)
{
    for (unsigned i = 0; i < SL__HISTO_BUCKETS; i++) {
        uint64_t n = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        into->buckets[i] += n;
        into->count += n;
    }
    into->sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
}

int64_t sl__coarse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
