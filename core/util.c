/* util.c - clocks, per-thread random numbers, hashing, cache-line-owned
 * allocations. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

int64_t sl__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: trace ids need to be unique, not secret. Seeded per thread
 * from the clock and the thread's own address. */
uint64_t sl__rand64(void)
{
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

/* FNV-1a: stable across runs, so a key always lands on the same worker. */
uint64_t sl__hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void *sl__calloc_own_lines(size_t n, size_t size)
{
    enum { LINE = 64 };
    if (size && n > (SIZE_MAX - LINE) / size)
        return NULL;
    size_t bytes = (n * size + LINE - 1) / LINE * LINE;
    void *p = aligned_alloc(LINE, bytes ? bytes : LINE);
    if (p)
        memset(p, 0, bytes ? bytes : LINE);
    return p;
}
