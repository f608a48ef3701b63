/* test_queue.c - core/queue.c: exactly-once delivery and per-producer order under
 * concurrency with a 2-slot queue, blocking when full, close, timeouts, wait_writable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

/* Items are ids, not messages: producer in the high bits, sequence below.
 * The queue never looks inside a batch, so a tagged pointer is enough. */
#define ID(p, seq)    ((struct sl_msg *)(uintptr_t)(((uint64_t)(p) << 32) | ((uint64_t)(seq) + 1)))
#define ID_PROD(m)    ((unsigned)((uint64_t)(uintptr_t)(m) >> 32))
#define ID_SEQ(m)     ((uint32_t)((uint64_t)(uintptr_t)(m)&0xffffffffu) - 1)
#define MAX_PRODUCERS 8

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

/* Liveness only: true once *flag is set; gives up after 20 s (a lost wakeup). */
static bool wait_flag(_Atomic int *flag)
{
    for (int i = 0; i < 20000 && !atomic_load(flag); i++)
        sleep_ms(1);
    return atomic_load(flag) != 0;
}

static struct sl_batch *batch_of(unsigned producer, uint32_t first, uint32_t n)
{
    struct sl_batch *b = sl__batch_alloc();
    assert_true(n <= b->cap);
    for (uint32_t i = 0; i < n; i++)
        b->msgs[b->n++] = ID(producer, first + i);
    return b;
}

/* ---- many producers, many consumers ---- */

struct mpmc {
    struct sl__queue *q;
    unsigned producers;
    uint32_t batches; /* per producer */
    uint32_t items;   /* per producer (filled by the producers) */
    _Atomic uint8_t *seen[MAX_PRODUCERS];
    _Atomic uint64_t popped;
    _Atomic unsigned order_errors;
    _Atomic unsigned bad_ids;
    _Atomic unsigned next_producer;
};

/* Batch k of a producer holds 1 + k % 4 ids, so sizes vary. */
static uint32_t items_for(uint32_t batches)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < batches; k++)
        n += 1 + k % 4;
    return n;
}

static void *mpmc_producer(void *arg)
{
    struct mpmc *t = arg;
    unsigned p = atomic_fetch_add(&t->next_producer, 1);
    uint32_t seq = 0;
    for (uint32_t k = 0; k < t->batches; k++) {
        uint32_t n = 1 + k % 4;
        sl__queue_push(t->q, batch_of(p, seq, n));
        seq += n;
    }
    sl__queue_producer_done(t->q);
    sl__pool_thread_exit();
    return NULL;
}

static void *mpmc_consumer(void *arg)
{
    struct mpmc *t = arg;
    int64_t last[MAX_PRODUCERS];
    for (unsigned p = 0; p < MAX_PRODUCERS; p++)
        last[p] = -1;
    for (;;) {
        bool closed = false;
        struct sl_batch *b = sl__queue_pop(t->q, -1, &closed);
        if (!b) {
            if (!closed)
                atomic_fetch_add(&t->bad_ids, 1); /* an endless wait must not time out */
            break;
        }
        for (uint32_t i = 0; i < b->n; i++) {
            unsigned p = ID_PROD(b->msgs[i]);
            uint32_t seq = ID_SEQ(b->msgs[i]);
            if (p >= t->producers || seq >= t->items) {
                atomic_fetch_add(&t->bad_ids, 1);
                continue;
            }
            atomic_fetch_add(&t->seen[p][seq], 1);
            /* FIFO: whatever one consumer takes from one producer comes in order */
            if ((int64_t)seq <= last[p])
                atomic_fetch_add(&t->order_errors, 1);
            last[p] = seq;
        }
        atomic_fetch_add(&t->popped, b->n);
        sl__batch_free(b);
    }
    sl__pool_thread_exit();
    return NULL;
}

static void run_mpmc(unsigned producers, unsigned consumers, uint32_t batches, uint32_t slots)
{
    struct mpmc t = {.producers = producers, .batches = batches, .items = items_for(batches)};
    t.q = sl__queue_new("mpmc", "", slots);
    assert_non_null(t.q);
    for (unsigned p = 0; p < producers; p++) {
        t.seen[p] = calloc(t.items, 1);
        assert_non_null(t.seen[p]);
    }
    /* every producer registers before any starts, as the engine does */
    for (unsigned p = 0; p < producers; p++)
        sl__queue_add_producer(t.q);
    pthread_t pt[MAX_PRODUCERS], ct[MAX_PRODUCERS];
    for (unsigned c = 0; c < consumers; c++)
        assert_int_equal(pthread_create(&ct[c], NULL, mpmc_consumer, &t), 0);
    for (unsigned p = 0; p < producers; p++)
        assert_int_equal(pthread_create(&pt[p], NULL, mpmc_producer, &t), 0);
    for (unsigned p = 0; p < producers; p++)
        pthread_join(pt[p], NULL);
    for (unsigned c = 0; c < consumers; c++)
        pthread_join(ct[c], NULL);

    assert_int_equal(atomic_load(&t.bad_ids), 0);
    assert_int_equal(atomic_load(&t.order_errors), 0);
    assert_int_equal(atomic_load(&t.popped), (uint64_t)producers * t.items);
    for (unsigned p = 0; p < producers; p++) {
        for (uint32_t i = 0; i < t.items; i++)
            if (t.seen[p][i] != 1)
                fail_msg("producer %u item %u arrived %u times", p, i, (unsigned)t.seen[p][i]);
        free(t.seen[p]);
    }
    assert_true(sl__queue_empty(t.q));
    sl__queue_free(t.q);
}

/* 4 producers x 60k batches (150k ids each), 3 consumers, 2 slots: each id exactly
 * once. (200k batches each take ~15 s of futex traffic on a busy 2-core box.) */
static void test_mpmc_exactly_once(void **state)
{
    (void)state;
    run_mpmc(4, 3, 60000, 2);
}

/* One consumer sees each producer's ids in exactly the order pushed. */
static void test_single_consumer_fifo(void **state)
{
    (void)state;
    run_mpmc(4, 1, 20000, 2);
}

/* ---- blocking when full ---- */

struct blocked {
    struct sl__queue *q;
    struct sl_batch *b;
    _Atomic int started;
    _Atomic int pushed;
};

static void *push_one(void *arg)
{
    struct blocked *t = arg;
    atomic_store(&t->started, 1);
    sl__queue_push(t->q, t->b);
    atomic_store(&t->pushed, 1);
    return NULL;
}

static void test_full_queue_blocks_producer(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("full", "", 2);
    sl__queue_push(q, batch_of(0, 0, 1));
    sl__queue_push(q, batch_of(0, 1, 1));
    assert_false(sl__queue_writable(q));
    assert_int_equal(sl__queue_fill_pct(q), 100);

    struct blocked t = {.q = q, .b = batch_of(0, 2, 1)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, push_one, &t), 0);
    assert_true(wait_flag(&t.started));
    /* Give a broken push every chance to return; a correct one stays put. */
    for (int i = 0; i < 20; i++) {
        sleep_ms(5);
        assert_int_equal(atomic_load(&t.pushed), 0);
    }
    bool closed = true;
    struct sl_batch *b = sl__queue_pop(q, 0, &closed);
    assert_non_null(b);
    assert_false(closed);
    assert_ptr_equal(b->msgs[0], ID(0, 0));
    sl__batch_free(b);
    assert_true(wait_flag(&t.pushed)); /* the pop let it through */
    pthread_join(th, NULL);
    for (uint32_t seq = 1; seq <= 2; seq++) {
        b = sl__queue_pop(q, 0, &closed);
        assert_non_null(b);
        assert_ptr_equal(b->msgs[0], ID(0, seq));
        sl__batch_free(b);
    }
    assert_true(sl__queue_empty(q));
    sl__queue_free(q);
}

/* A queue asked for fewer than 2 slots still holds 2. */
static void test_min_two_slots(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("tiny", "", 0);
    assert_true(sl__queue_writable(q));
    sl__queue_push(q, batch_of(0, 0, 1));
    assert_true(sl__queue_writable(q));
    assert_int_equal(sl__queue_fill_pct(q), 50);
    sl__queue_push(q, batch_of(0, 1, 1));
    assert_false(sl__queue_writable(q));
    assert_string_equal(sl__queue_name(q), "tiny");
    sl__queue_free(q); /* frees the batches still queued (ASan checks) */
}

/* ---- close ---- */

static void test_close_after_last_producer(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("close", "", 4);
    sl__queue_add_producer(q);
    sl__queue_add_producer(q);
    sl__queue_push(q, batch_of(0, 0, 1));
    sl__queue_push(q, batch_of(1, 0, 1));
    sl__queue_producer_done(q);

    bool closed = true;
    struct sl_batch *b = sl__queue_pop(q, 0, &closed);
    assert_non_null(b);
    assert_false(closed);
    sl__batch_free(b);
    b = sl__queue_pop(q, 0, &closed);
    assert_non_null(b);
    sl__batch_free(b);
    /* one producer left: empty means "nothing yet", not closed */
    closed = true;
    assert_null(sl__queue_pop(q, 0, &closed));
    assert_false(closed);
    closed = true;
    assert_null(sl__queue_pop(q, 2 * 1000000, &closed));
    assert_false(closed);

    sl__queue_push(q, batch_of(1, 1, 1));
    sl__queue_push(q, batch_of(1, 2, 1));
    sl__queue_producer_done(q);
    /* closed, but what was pushed before is drained first */
    for (uint32_t seq = 1; seq <= 2; seq++) {
        closed = true;
        b = sl__queue_pop(q, -1, &closed);
        assert_non_null(b);
        assert_false(closed);
        assert_ptr_equal(b->msgs[0], ID(1, seq));
        sl__batch_free(b);
    }
    closed = false;
    assert_null(sl__queue_pop(q, -1, &closed));
    assert_true(closed);
    closed = false;
    assert_null(sl__queue_pop(q, 0, &closed));
    assert_true(closed);
    sl__queue_free(q);
}

struct waiter {
    struct sl__queue *q;
    _Atomic int entered;
    _Atomic int returned;
    bool closed;
    struct sl_batch *got;
};

static void *pop_forever(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->entered, 1);
    w->got = sl__queue_pop(w->q, -1, &w->closed);
    atomic_store(&w->returned, 1);
    return NULL;
}

/* Consumers blocked in an endless pop all wake when the last producer is done. */
static void test_close_wakes_blocked_consumers(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("wake", "", 2);
    sl__queue_add_producer(q);
    sl__queue_add_producer(q);
    struct waiter w[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){.q = q};
        assert_int_equal(pthread_create(&th[i], NULL, pop_forever, &w[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        assert_true(wait_flag(&w[i].entered));
    sl__queue_producer_done(q);
    sleep_ms(20);
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&w[i].returned), 0); /* one producer is left */
    sl__queue_producer_done(q);
    for (int i = 0; i < 3; i++) {
        assert_true(wait_flag(&w[i].returned));
        pthread_join(th[i], NULL);
        assert_null(w[i].got);
        assert_true(w[i].closed);
    }
    sl__queue_free(q);
}

/* ---- timeouts and wait_writable ---- */

static void test_pop_timeout(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("timeout", "", 2);
    sl__queue_add_producer(q);
    bool closed = true;
    assert_null(sl__queue_pop(q, 0, &closed));
    assert_false(closed);
    closed = true;
    assert_null(sl__queue_pop(q, 5 * 1000000, &closed));
    assert_false(closed);
    /* a timed pop still returns what is there */
    sl__queue_push(q, batch_of(0, 7, 3));
    struct sl_batch *b = sl__queue_pop(q, 5 * 1000000, &closed);
    assert_non_null(b);
    assert_int_equal(b->n, 3);
    assert_ptr_equal(b->msgs[2], ID(0, 9));
    sl__batch_free(b);
    sl__queue_producer_done(q);
    sl__queue_free(q);
}

struct ww {
    struct sl__queue *q;
    _Atomic int entered;
    _Atomic int returned;
    bool result;
};

static void *wait_writable_long(void *arg)
{
    struct ww *t = arg;
    atomic_store(&t->entered, 1);
    t->result = sl__queue_wait_writable(t->q, 600000);
    atomic_store(&t->returned, 1);
    return NULL;
}

static void test_wait_writable(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("ww", "", 2);
    assert_true(sl__queue_wait_writable(q, 0));
    assert_true(sl__queue_wait_writable(q, 10));
    sl__queue_push(q, batch_of(0, 0, 1));
    sl__queue_push(q, batch_of(0, 1, 1));
    assert_false(sl__queue_wait_writable(q, 0));
    assert_false(sl__queue_wait_writable(q, 10)); /* full: times out */

    struct ww t = {.q = q};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_writable_long, &t), 0);
    assert_true(wait_flag(&t.entered));
    sleep_ms(20);
    assert_int_equal(atomic_load(&t.returned), 0);
    bool closed;
    struct sl_batch *b = sl__queue_pop(q, 0, &closed);
    assert_non_null(b);
    sl__batch_free(b);
    assert_true(wait_flag(&t.returned)); /* woken by the pop, not by its 10 min timeout */
    pthread_join(th, NULL);
    assert_true(t.result);
    assert_true(sl__queue_writable(q));
    sl__queue_free(q);
}

/* A lost wakeup or a deadlock hangs rather than fails: turn that into a
 * failure in bounded time (generous: ASan on a busy 2-core box). */
static void on_hang(int sig)
{
    (void)sig;
    static const char msg[] = "test_queue: still running after 5 minutes: hang or deadlock\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpmc_exactly_once),
        cmocka_unit_test(test_single_consumer_fifo),
        cmocka_unit_test(test_full_queue_blocks_producer),
        cmocka_unit_test(test_min_two_slots),
        cmocka_unit_test(test_close_after_last_producer),
        cmocka_unit_test(test_close_wakes_blocked_consumers),
        cmocka_unit_test(test_pop_timeout),
        cmocka_unit_test(test_wait_writable),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    signal(SIGALRM, on_hang);
    alarm(300); /* run one test: test_queue test_pop_timeout */
    sl__pool_init(8);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl__pool_destroy();
    return rc;
}
