/* pool.c - message and batch pools: per-thread caches over one shared free
 * list, so a message costs no malloc once the pipeline has warmed up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum {
    MAGAZINE = 256,       /* messages per magazine: moved between threads whole */
    BUF_KEEP_MAX = 16384, /* larger buffers are freed on recycle */
    BATCH_CACHE = 8,
};

/* A magazine is an array of free messages. Threads swap whole magazines with
 * a shared depot, so a lock is taken once per MAGAZINE messages and the
 * critical section is a pointer swap: no walking of cold message lists. */
struct magazine {
    struct magazine *next;
    unsigned n;
    struct sl_msg *m[MAGAZINE];
};

static struct {
    pthread_mutex_t mu;
    struct magazine *full;  /* depot: magazines of free messages */
    struct magazine *empty; /* depot: spare magazine structs */
    struct sl_batch *free_batches;
    uint32_t batch_cap;
    _Atomic uint64_t created;
    /* every message ever made, for sl__pool_destroy */
    struct sl_msg **all;
    size_t n_all, cap_all;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .batch_cap = 256};

static _Thread_local struct {
    struct magazine *loaded; /* allocate from / free into this one */
    struct magazine *spare;  /* the previous one, full or empty */
    struct sl_batch *b[BATCH_CACHE];
    unsigned nb;
} cache;

void sl__pool_init(uint32_t batch_cap)
{
    pool.batch_cap = batch_cap ? batch_cap : 1;
}

uint32_t sl__pool_batch_cap(void)
{
    return pool.batch_cap;
}

uint64_t sl__pool_msgs_created(void)
{
    return atomic_load_explicit(&pool.created, memory_order_relaxed);
}

static struct sl_msg *msg_create(void)
{
    struct sl__msg *pm = calloc(1, sizeof(*pm));
    if (!pm) {
        fputs("sluice: out of memory allocating a message\n", stderr);
        abort();
    }
    struct sl_msg *m = &pm->pub;
    m->source.partition = -1;
    m->source.offset = -1;
    pthread_mutex_lock(&pool.mu);
    if (pool.n_all == pool.cap_all) {
        size_t cap = pool.cap_all ? pool.cap_all * 2 : 1024;
        struct sl_msg **all = realloc(pool.all, cap * sizeof(*all));
        if (!all) {
            fputs("sluice: out of memory growing the message pool\n", stderr);
            abort();
        }
        pool.all = all;
        pool.cap_all = cap;
    }
    pool.all[pool.n_all++] = m;
    pthread_mutex_unlock(&pool.mu);
    atomic_fetch_add_explicit(&pool.created, 1, memory_order_relaxed);
    return m;
}

static struct magazine *magazine_new(void)
{
    struct magazine *g = calloc(1, sizeof(*g));
    if (!g) {
        fputs("sluice: out of memory allocating a pool magazine\n", stderr);
        abort();
    }
    return g;
}

/* Trade `give` (may be NULL) for a magazine from the depot list `want`. */
static struct magazine *depot_swap(struct magazine *give, struct magazine **give_to,
                                   struct magazine **want)
{
    pthread_mutex_lock(&pool.mu);
    if (give) {
        give->next = *give_to;
        *give_to = give;
    }
    struct magazine *g = *want;
    if (g)
        *want = g->next;
    pthread_mutex_unlock(&pool.mu);
    return g;
}

struct sl_msg *sl__msg_alloc(void)
{
    struct magazine *g = cache.loaded;
    if (!g || g->n == 0) {
        if (cache.spare && cache.spare->n) {
            cache.loaded = cache.spare;
            cache.spare = g;
        } else {
            /* both empty: the spare goes to the depot, a full one comes back */
            struct magazine *give = cache.spare;
            cache.spare = g;
            cache.loaded = depot_swap(give, &pool.empty, &pool.full);
            if (!cache.loaded)
                return msg_create();
        }
        g = cache.loaded;
    }
    return g->m[--g->n];
}

static void buf_trim(struct sl_buf *b)
{
    b->len = 0;
    if (b->cap > BUF_KEEP_MAX)
        sl_buf_free(b);
}

void sl__msg_recycle(struct sl_msg *m)
{
    buf_trim(&m->payload);
    buf_trim(&m->key);
    buf_trim(&m->out);
    sl_arena_reset(&m->arena);
    m->has_key = false;
    m->headers = NULL;
    m->n_headers = m->headers_cap = 0;
    m->record = NULL;
    m->route = NULL;
    m->attempts = 0;
    m->source.name = NULL;
    m->source.partition = -1;
    m->source.offset = -1;
    m->source.timestamp_ms = 0;
    m->source.failure = NULL;
    m->source.n_failure = 0;
    m->source_attrs = NULL;
    m->n_source_attrs = m->source_attrs_cap = 0;
    m->cookie = 0;
    m->out_raw = false;
    struct sl__msg *pm = sl__msg_private(m);
    pm->ack = NULL;
    pm->due_ns = 0;
    pm->batch_slot = pm->lineage_slot = 0;
    pm->dead_from = NULL;
    struct magazine *g = cache.loaded;
    if (!g || g->n == MAGAZINE) {
        if (cache.spare && cache.spare->n < MAGAZINE) {
            cache.loaded = cache.spare;
            cache.spare = g;
        } else {
            /* both full: the spare goes to the depot, an empty one comes back */
            struct magazine *give = cache.spare;
            cache.spare = g;
            cache.loaded = depot_swap(give, &pool.full, &pool.empty);
            if (!cache.loaded)
                cache.loaded = magazine_new();
        }
        g = cache.loaded;
    }
    g->m[g->n++] = m;
}

void sl__pool_thread_exit(void)
{
    pthread_mutex_lock(&pool.mu);
    struct magazine *mags[2] = {cache.loaded, cache.spare};
    for (int i = 0; i < 2; i++) {
        if (!mags[i])
            continue;
        struct magazine **list = mags[i]->n ? &pool.full : &pool.empty;
        mags[i]->next = *list;
        *list = mags[i];
    }
    cache.loaded = cache.spare = NULL;
    while (cache.nb) {
        struct sl_batch *b = cache.b[--cache.nb];
        b->next = pool.free_batches;
        pool.free_batches = b;
    }
    pthread_mutex_unlock(&pool.mu);
}

struct sl_batch *sl__batch_alloc(void)
{
    struct sl_batch *b = NULL;
    if (cache.nb) {
        b = cache.b[--cache.nb];
    } else {
        pthread_mutex_lock(&pool.mu);
        b = pool.free_batches;
        if (b)
            pool.free_batches = b->next;
        pthread_mutex_unlock(&pool.mu);
    }
    if (!b) {
        b = malloc(sizeof(*b) + pool.batch_cap * sizeof(struct sl_msg *));
        if (!b) {
            fputs("sluice: out of memory allocating a batch\n", stderr);
            abort();
        }
        b->cap = pool.batch_cap;
    }
    b->next = NULL;
    b->n = 0;
    return b;
}

void sl__batch_free(struct sl_batch *b)
{
    if (cache.nb < BATCH_CACHE) {
        cache.b[cache.nb++] = b;
        return;
    }
    pthread_mutex_lock(&pool.mu);
    b->next = pool.free_batches;
    pool.free_batches = b;
    pthread_mutex_unlock(&pool.mu);
}

/* Frees every message ever created; only once no thread uses the pool. */
void sl__pool_destroy(void)
{
    sl__pool_thread_exit();
    pthread_mutex_lock(&pool.mu);
    for (size_t i = 0; i < pool.n_all; i++) {
        struct sl_msg *m = pool.all[i];
        sl_buf_free(&m->payload);
        sl_buf_free(&m->key);
        sl_buf_free(&m->out);
        sl_arena_free(&m->arena);
        free(sl__msg_private(m));
    }
    free(pool.all);
    pool.all = NULL;
    pool.n_all = pool.cap_all = 0;
    struct magazine *lists[2] = {pool.full, pool.empty};
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            struct magazine *g = lists[i];
            lists[i] = g->next;
            free(g);
        }
    pool.full = pool.empty = NULL;
    while (pool.free_batches) {
        struct sl_batch *b = pool.free_batches;
        pool.free_batches = b->next;
        free(b);
    }
    pthread_mutex_unlock(&pool.mu);
}
