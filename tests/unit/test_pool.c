/* test_pool.c - core/pool.c and the arena in core/value.c: messages and batches are
 * reused (no growth after warm-up, also across threads), come back clean, big
 * buffers are trimmed; arena alignment, strndup, and reuse without malloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* ---- messages ---- */

/* 1M allocations in bursts of up to 300: after one burst of 300 the pool
 * never makes another message. */
static void test_alloc_recycle_reuses(void **state)
{
    (void)state;
    enum { MAXN = 300, TOTAL = 1000000 };
    static struct sl_msg *held[MAXN];
    for (int i = 0; i < MAXN; i++)
        held[i] = sl__msg_alloc();
    for (int i = 0; i < MAXN; i++)
        sl__msg_recycle(held[i]);
    uint64_t created = sl__pool_msgs_created();
    uint64_t seed = 1, done = 0;
    while (done < TOTAL) {
        unsigned n = 1 + (unsigned)(lcg(&seed) % MAXN);
        for (unsigned i = 0; i < n; i++) {
            held[i] = sl__msg_alloc();
            assert_int_equal(held[i]->payload.len, 0);
            sl_buf_set(&held[i]->payload, "x", 1);
        }
        for (unsigned i = 0; i < n; i++)
            sl__msg_recycle(held[i]);
        done += n;
    }
    assert_int_equal(sl__pool_msgs_created(), created);
}

/* Thread A allocates, thread B recycles, in lock step: the messages B frees
 * must find their way back to A through the shared list. */
struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sl_msg *msgs[64];
    unsigned n;
    bool full; /* A filled msgs; B empties it */
    bool quit;
    unsigned rounds;
    uint64_t created_after_warmup;
};

static void *lockstep_recycler(void *arg)
{
    struct handoff *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->full && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (!h->full && h->quit)
            break;
        for (unsigned i = 0; i < h->n; i++)
            sl__msg_recycle(h->msgs[i]);
        h->n = 0;
        h->full = false;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    sl__pool_thread_exit();
    return NULL;
}

static void test_cross_thread_lockstep(void **state)
{
    (void)state;
    struct handoff h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, lockstep_recycler, &h), 0);
    uint64_t before = sl__pool_msgs_created(), warm = 0;
    for (unsigned r = 0; r < 16000; r++) { /* 1M messages */
        pthread_mutex_lock(&h.mu);
        while (h.full)
            pthread_cond_wait(&h.cv, &h.mu);
        pthread_mutex_unlock(&h.mu);
        struct sl_msg *batch[64];
        for (unsigned i = 0; i < 64; i++)
            batch[i] = sl__msg_alloc();
        pthread_mutex_lock(&h.mu);
        memcpy(h.msgs, batch, sizeof(batch));
        h.n = 64;
        h.full = true;
        pthread_cond_broadcast(&h.cv);
        pthread_mutex_unlock(&h.mu);
        if (r == 10)
            warm = sl__pool_msgs_created();
    }
    pthread_mutex_lock(&h.mu);
    h.quit = true;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    uint64_t after = sl__pool_msgs_created();
    assert_int_equal(after, warm); /* flat after warm-up */
    /* in flight: one 64-message handoff; cached: two 256-message magazines per thread */
    assert_true(after - before <= 64 + 4 * 256);
}

/* Free running through a 2-slot queue: A and B race, yet what is in flight
 * is bounded (A's batch, 2 queued, B's batch, B's cache), so 1M messages
 * must cost only a few hundred creations. */
static void *queue_recycler(void *arg)
{
    struct sl__queue *q = arg;
    bool closed = false;
    struct sl_batch *b;
    while ((b = sl__queue_pop(q, -1, &closed))) {
        for (uint32_t i = 0; i < b->n; i++)
            sl__msg_recycle(b->msgs[i]);
        sl__batch_free(b);
    }
    sl__pool_thread_exit();
    return NULL;
}

static void test_cross_thread_free_running(void **state)
{
    (void)state;
    struct sl__queue *q = sl__queue_new("recycle", "", 2);
    sl__queue_add_producer(q);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, queue_recycler, q), 0);
    uint64_t before = sl__pool_msgs_created();
    for (unsigned r = 0; r < 16000; r++) {
        struct sl_batch *b = sl__batch_alloc();
        assert_true(b->cap >= 64);
        for (unsigned i = 0; i < 64; i++) {
            struct sl_msg *m = sl__msg_alloc();
            m->cookie = r;
            b->msgs[b->n++] = m;
        }
        sl__queue_push(q, b);
    }
    sl__queue_producer_done(q);
    pthread_join(th, NULL);
    sl__queue_free(q);
    uint64_t grown = sl__pool_msgs_created() - before;
    if (grown > 1024)
        fail_msg("1M messages through 2 threads created %llu messages", (unsigned long long)grown);
}

/* ---- a recycled message is clean ---- */

static void dirty(struct sl_msg *m)
{
    sl_buf_set(&m->payload, "payload", 7);
    sl_buf_set(&m->key, "key", 3);
    m->has_key = true;
    sl_msg_set_header(m, "h", "v", 1);
    m->record = sl_arena_alloc(&m->arena, sizeof(*m->record));
    m->record->type = SL_INT;
    sl_msg_set_route(m, "route");
    m->attempts = 3;
    m->source.name = "topic";
    m->source.partition = 4;
    m->source.offset = 99;
    m->source.timestamp_ms = 12345;
    m->cookie = 77;
    sl_buf_set(&m->out, "out", 3);
    m->out_raw = true;
    struct sl__msg *pm = sl__msg_private(m);
    pm->due_ns = 5;
    pm->batch_slot = 2;
    pm->lineage_slot = 3;
}

static void assert_clean(const struct sl_msg *m)
{
    assert_int_equal(m->payload.len, 0);
    assert_int_equal(m->key.len, 0);
    assert_false(m->has_key);
    assert_int_equal(m->n_headers, 0);
    assert_null(sl_msg_header(m, "h"));
    assert_null(m->record);
    assert_null(m->route);
    assert_int_equal(m->attempts, 0);
    assert_null(m->source.name);
    assert_int_equal(m->source.partition, -1);
    assert_int_equal(m->source.offset, -1);
    assert_int_equal(m->source.timestamp_ms, 0);
    assert_int_equal(m->cookie, 0);
    assert_int_equal(m->out.len, 0);
    assert_false(m->out_raw);
    const struct sl__msg *pm = sl__msg_private(m);
    assert_null(pm->ack);
    assert_int_equal(pm->due_ns, 0);
    assert_null(pm->next);
    assert_int_equal(pm->batch_slot, 0);
    assert_int_equal(pm->lineage_slot, 0);
}

static void test_recycled_message_is_clean(void **state)
{
    (void)state;
    struct sl_msg *m = sl__msg_alloc();
    assert_clean(m); /* fresh ones too */
    dirty(m);
    sl__msg_recycle(m);
    struct sl_msg *again = sl__msg_alloc();
    assert_ptr_equal(again, m); /* this thread's cache is LIFO: the same one */
    assert_clean(again);
    /* small buffers keep their memory: no malloc on the next use */
    assert_true(again->payload.cap >= 8);
    assert_non_null(again->payload.data);
    assert_non_null(again->arena.head);
    sl__msg_recycle(again);
}

static void test_big_buffers_trimmed(void **state)
{
    (void)state;
    static char big[100000];
    memset(big, 'b', sizeof(big));
    struct sl_msg *m = sl__msg_alloc();
    sl_buf_set(&m->payload, big, sizeof(big));
    sl_buf_set(&m->key, big, sizeof(big));
    sl_buf_set(&m->out, big, sizeof(big));
    assert_non_null(sl_arena_alloc(&m->arena, 60000));
    assert_non_null(sl_arena_alloc(&m->arena, 100));
    sl__msg_recycle(m);
    struct sl_msg *again = sl__msg_alloc();
    assert_ptr_equal(again, m);
    assert_null(again->payload.data);
    assert_int_equal(again->payload.cap, 0);
    assert_int_equal(again->key.cap, 0);
    assert_int_equal(again->out.cap, 0);
    assert_true(again->arena.total <= 16384);
    sl__msg_recycle(again);
}

/* ---- batches ---- */

static void test_batches(void **state)
{
    (void)state;
    struct sl_batch *b = sl__batch_alloc();
    assert_int_equal(b->n, 0);
    assert_null(b->next);
    assert_int_equal(b->cap, sl__pool_batch_cap());
    for (uint32_t i = 0; i < b->cap; i++)
        b->msgs[i] = NULL; /* the whole capacity is usable (ASan checks) */
    b->n = 5;
    b->next = b;
    sl__batch_free(b);
    struct sl_batch *again = sl__batch_alloc();
    assert_ptr_equal(again, b);
    assert_int_equal(again->n, 0);
    assert_null(again->next);

    /* beyond the per-thread cache, batches go to the shared list and come back */
    struct sl_batch *many[40];
    for (int i = 0; i < 40; i++)
        many[i] = sl__batch_alloc();
    for (int i = 0; i < 40; i++)
        sl__batch_free(many[i]);
    struct sl_batch *back[40];
    for (int i = 0; i < 40; i++) {
        back[i] = sl__batch_alloc();
        bool found = false;
        for (int j = 0; j < 40; j++)
            found |= back[i] == many[j];
        assert_true(found);
    }
    for (int i = 0; i < 40; i++)
        sl__batch_free(back[i]);
    sl__batch_free(again);
}

/* ---- arena ---- */

static void test_arena_alignment(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    char *prev = NULL;
    size_t prev_n = 0;
    for (size_t n = 1; n < 3000; n += 7) {
        char *p = sl_arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
        memset(p, (int)(n & 0xff), n); /* whole size writable (ASan) */
        if (prev && prev_n)
            assert_int_equal((unsigned char)prev[prev_n - 1], (unsigned char)(prev_n & 0xff));
        prev = p;
        prev_n = n;
    }
    /* a request larger than any chunk size gets its own big enough chunk */
    char *big = sl_arena_alloc(&a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    sl_arena_free(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
}

static void test_arena_strndup(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    char *s = sl_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *e = sl_arena_strndup(&a, "ignored", 0);
    assert_non_null(e);
    assert_string_equal(e, "");
    char *z = sl_arena_strndup(&a, "a\0b", 3); /* copies n bytes, NULs and all */
    assert_memory_equal(z, "a\0b\0", 4);
    assert_string_equal(s, "hello"); /* earlier pieces untouched */
    sl_arena_free(&a);
}

/* Sizes a decoder could compute from hostile input must fail, not wrap. */
static void test_arena_huge_request_fails(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    assert_non_null(sl_arena_alloc(&a, 16));
    assert_null(sl_arena_alloc(&a, SIZE_MAX));     /* rounding up wraps to 0 */
    assert_null(sl_arena_alloc(&a, SIZE_MAX - 6)); /* likewise */
    sl_arena_free(&a);
    /* Just past half the address space: chunk size doubling overflows to 0
     * and loops forever. Run it in a child so a hang fails instead of
     * stalling the suite. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        struct sl_arena c = {0};
        _exit(sl_arena_alloc(&c, SIZE_MAX / 2 + 9) == NULL ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("sl_arena_alloc(SIZE_MAX/2 + 9) did not return (signal %d)", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Zero bytes is a valid request (an empty array's items): it must not look
 * like out of memory, even on a fresh arena. */
static void test_arena_zero_size(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    assert_non_null(sl_arena_alloc(&a, 0));
    assert_non_null(sl_arena_alloc(&a, 0));
    sl_arena_free(&a);
}

/* Reset keeps one chunk; the same workload over and over then settles on one
 * chunk that is reused as is: a->total stays put and no chunk is replaced. */
static void test_arena_reset_reuse(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    sl_arena_reset(&a); /* empty arena: harmless */
    assert_null(a.head);
    for (int i = 0; i < 100; i++)
        assert_non_null(sl_arena_alloc(&a, 100)); /* 10 KB: several chunks */
    size_t peak = a.total;
    assert_true(peak >= 10000);
    sl_arena_reset(&a);
    assert_non_null(a.head);
    assert_true(a.total > 0 && a.total < peak);
    assert_ptr_equal(a.ptr, (char *)a.end - a.total); /* the kept chunk is empty */

    size_t steady_total = 0, steady_peak = 0;
    const void *steady_head = NULL;
    for (int cycle = 0; cycle < 10000; cycle++) {
        for (int i = 0; i < 100; i++)
            assert_non_null(sl_arena_alloc(&a, 100));
        size_t cycle_peak = a.total;
        sl_arena_reset(&a);
        if (cycle == 2) {
            steady_total = a.total;
            steady_peak = cycle_peak;
            steady_head = a.head;
        } else if (cycle > 2) {
            if (a.total != steady_total || cycle_peak != steady_peak || a.head != steady_head)
                fail_msg("cycle %d: total %zu peak %zu (steady %zu/%zu), chunk %s", cycle, a.total,
                         cycle_peak, steady_total, steady_peak,
                         a.head == steady_head ? "kept" : "replaced");
        }
    }
    assert_int_equal(steady_peak, steady_total); /* the workload fits the kept chunk */

    /* an oversized chunk is not kept */
    assert_non_null(sl_arena_alloc(&a, 1 << 20));
    sl_arena_reset(&a);
    assert_true(a.total <= 16384);
    sl_arena_free(&a);
}

/* A lost wakeup or a deadlock hangs rather than fails: turn that into a
 * failure in bounded time (generous: ASan on a busy 2-core box). */
static void on_hang(int sig)
{
    (void)sig;
    static const char msg[] = "test_pool: still running after 5 minutes: hang or deadlock\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_recycle_reuses),
        cmocka_unit_test(test_cross_thread_lockstep),
        cmocka_unit_test(test_cross_thread_free_running),
        cmocka_unit_test(test_recycled_message_is_clean),
        cmocka_unit_test(test_big_buffers_trimmed),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_arena_alignment),
        cmocka_unit_test(test_arena_strndup),
        cmocka_unit_test(test_arena_huge_request_fails),
        cmocka_unit_test(test_arena_zero_size),
        cmocka_unit_test(test_arena_reset_reuse),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    signal(SIGALRM, on_hang);
    alarm(300);
    sl__pool_init(64);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl__pool_destroy();
    return rc;
}
