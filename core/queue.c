/* queue.c - bounded MPMC queue of batches: one mutex, two condition
 * variables. A full queue blocks its producers; nothing is ever dropped.
 * Lock order: a thread holds at most one queue lock and never calls out of
 * this file while holding it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "engine.h"

enum { SPIN_PAUSES = 200 };

struct sl__queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct sl_batch **ring;
    uint32_t cap;
    uint32_t head;
    _Atomic uint32_t count; /* written under mu; read without it to spin */
    int producers;
    bool closed;
    unsigned waiting_consumers;
    unsigned waiting_producers;
    char name[]; /* whole, however long the stage's name */
};

struct sl__queue *sl__queue_new(const char *name, const char *suffix, uint32_t slots)
{
    size_t len = strlen(name) + strlen(suffix) + 1;
    struct sl__queue *q = calloc(1, sizeof(*q) + len);
    if (!q)
        return NULL;
    if (slots < 2)
        slots = 2;
    q->ring = calloc(slots, sizeof(*q->ring));
    if (!q->ring) {
        free(q);
        return NULL;
    }
    q->cap = slots;
    snprintf(q->name, len, "%s%s", name, suffix);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void sl__queue_free(struct sl__queue *q)
{
    if (!q)
        return;
    for (uint32_t i = 0; i < q->count; i++)
        sl__batch_free(q->ring[(q->head + i) % q->cap]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    free(q);
}

const char *sl__queue_name(const struct sl__queue *q)
{
    return q->name;
}

void sl__queue_add_producer(struct sl__queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->producers++;
    pthread_mutex_unlock(&q->mu);
}

void sl__queue_producer_done(struct sl__queue *q)
{
    pthread_mutex_lock(&q->mu);
    if (--q->producers <= 0) {
        q->closed = true;
        pthread_cond_broadcast(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
}

static void deadline_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ns += ts->tv_nsec;
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

void sl__queue_push(struct sl__queue *q, struct sl_batch *b)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == q->cap) {
        q->waiting_producers++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->waiting_producers--;
    }
    q->ring[(q->head + q->count) % q->cap] = b;
    q->count++;
    if (q->waiting_consumers)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* Before sleeping, a consumer briefly spins (with the CPU's pause hint, no
 * syscall) watching for a batch: a producer usually fills the next one within
 * microseconds, and a futex sleep + wake per batch costs more than the batch.
 * Bounded, so idle stages still go to sleep within ~10 us. */
static void spin_for_work(struct sl__queue *q)
{
    for (int i = 0; i < SPIN_PAUSES; i++) {
        if (atomic_load_explicit(&q->count, memory_order_relaxed) != 0)
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        sched_yield();
#endif
    }
}

struct sl_batch *sl__queue_pop(struct sl__queue *q, int64_t timeout_ns, bool *closed)
{
    struct timespec deadline;
    if (timeout_ns != 0 && atomic_load_explicit(&q->count, memory_order_relaxed) == 0)
        spin_for_work(q);
    if (timeout_ns > 0)
        deadline_after(&deadline, timeout_ns);
    struct sl_batch *b = NULL;
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed && timeout_ns != 0) {
        q->waiting_consumers++;
        int rc = timeout_ns < 0 ? pthread_cond_wait(&q->not_empty, &q->mu)
                                : pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline);
        q->waiting_consumers--;
        if (rc != 0)
            break;
    }
    if (q->count) {
        b = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        if (q->waiting_producers)
            pthread_cond_broadcast(&q->not_full);
    }
    *closed = q->closed && q->count == 0 && !b;
    pthread_mutex_unlock(&q->mu);
    return b;
}

bool sl__queue_writable(struct sl__queue *q)
{
    pthread_mutex_lock(&q->mu);
    bool ok = q->count < q->cap;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

bool sl__queue_wait_writable(struct sl__queue *q, int timeout_ms)
{
    struct timespec deadline;
    deadline_after(&deadline, (int64_t)timeout_ms * 1000000);
    pthread_mutex_lock(&q->mu);
    while (q->count == q->cap) {
        q->waiting_producers++;
        int rc = pthread_cond_timedwait(&q->not_full, &q->mu, &deadline);
        q->waiting_producers--;
        if (rc != 0)
            break;
    }
    bool ok = q->count < q->cap;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

bool sl__queue_empty(struct sl__queue *q)
{
    pthread_mutex_lock(&q->mu);
    bool e = q->count == 0;
    pthread_mutex_unlock(&q->mu);
    return e;
}

uint32_t sl__queue_fill_pct(struct sl__queue *q)
{
    pthread_mutex_lock(&q->mu);
    uint32_t pct = q->count * 100 / q->cap;
    pthread_mutex_unlock(&q->mu);
    return pct;
}
