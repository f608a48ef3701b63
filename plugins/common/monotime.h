/* monotime.h - the monotonic clock in the units plugins count deadlines in. */
#ifndef SLUICE_COMMON_MONOTIME_H
#define SLUICE_COMMON_MONOTIME_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. Cannot fail. */
static inline int64_t monotime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds. Cannot fail. */
static inline int64_t monotime_ms(void)
{
    return monotime_ns() / 1000000;
}

#endif
