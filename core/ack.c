/* ack.c - ack tokens: one per input message, shared by every copy and part
 * of it. The last share to finish tells the input, in per-thread batches.
 * A handler that passes a message with sl_emit_tracked() is told first, and
 * only then the input: when the message holds the only share of its input's
 * token, the handler's cookie rides on that token (no second token, the
 * usual case); otherwise the handler gets a token of its own in front. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* One cache line, aligned: the output thread that finishes a message touches
 * one, and the input thread filling the next token touches another. */
struct sl__ack {
    _Alignas(64) _Atomic uint32_t refs; /* shares, with the ACK_FLAGS */
    int32_t partition;
    struct sl_instance *input; /* who is told: an input, or a handler (its own token) */
    uint64_t cookie;
    int64_t offset;
    struct sl__ack *parent;      /* a handler's own token: the share of the input's it holds */
    int64_t read_ns;             /* when the input handed the message over */
    struct sl_instance *tracker; /* an input's token: a handler told first, with track_cookie */
    uint64_t track_cookie;
};

_Static_assert(sizeof(struct sl__ack) == 64, "an ack token is one cache line");

#define ACK_FAILED (UINT32_C(1) << 31) /* a share failed */
#define ACK_SPLIT  (UINT32_C(1) << 30) /* ever more than one share (recovery marks) */
#define ACK_FLAGS  (ACK_FAILED | ACK_SPLIT)

enum { ACK_CACHE = 256, DELIVERY_BATCH = 256, ACK_SLAB = 128, ACK_MAG = 128 };

/* Tokens are carved from slabs that sl__ack_destroy frees, so a token whose
 * message never finished (left with an output that failed fatally) is not
 * leaked at exit. */
struct ack_slab {
    struct ack_slab *next;
    struct sl__ack a[ACK_SLAB];
};

/* Free tokens move between threads ACK_MAG at a time, as arrays: the input's
 * thread takes them, the outputs' threads give them back, and neither walks
 * a list of tokens the other core last wrote (a cache miss per token). */
struct ack_mag {
    struct ack_mag *next;
    unsigned n;
    struct sl__ack *a[ACK_MAG];
};

static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ack_mag *full_mags, *empty_mags;
static struct ack_slab *slabs;

static _Thread_local struct {
    struct sl__ack *free[ACK_CACHE];
    unsigned nfree;
    struct sl_instance *input;
    struct sl_delivery d[DELIVERY_BATCH];
    /* What goes on once the batch's instance has heard (a handler, which
     * may have to make its state durable first): a handler token's share
     * of its parent is released, a token whose tracker heard goes on to
     * its input. */
    struct sl__ack *then[DELIVERY_BATCH];
    bool then_input[DELIVERY_BATCH]; /* then[i] is told to its input, not released */
    unsigned n;
} tls;

static void *alloc_or_die(size_t size)
{
    void *p = aligned_alloc(64, (size + 63) / 64 * 64); /* slabs: tokens on their own lines */
    if (!p) {
        fputs("sluice: out of memory allocating ack tokens\n", stderr);
        abort();
    }
    return p;
}

/* This thread's cache is empty: a magazine of freed tokens, or a new slab. */
static void refill(void)
{
    pthread_mutex_lock(&free_mu);
    struct ack_mag *g = full_mags;
    if (g) {
        full_mags = g->next;
        memcpy(tls.free, g->a, g->n * sizeof(g->a[0]));
        tls.nfree = g->n;
        g->next = empty_mags;
        empty_mags = g;
    } else {
        struct ack_slab *sl = alloc_or_die(sizeof(*sl));
        sl->next = slabs;
        slabs = sl;
        for (unsigned i = 0; i < ACK_SLAB; i++)
            tls.free[i] = &sl->a[i];
        tls.nfree = ACK_SLAB;
    }
    pthread_mutex_unlock(&free_mu);
}

/* Give the top n tokens of this thread's cache to the depot. */
static void spill(unsigned n)
{
    pthread_mutex_lock(&free_mu);
    struct ack_mag *g = empty_mags;
    if (g)
        empty_mags = g->next;
    else
        g = alloc_or_die(sizeof(*g));
    tls.nfree -= n;
    memcpy(g->a, tls.free + tls.nfree, n * sizeof(g->a[0]));
    g->n = n;
    g->next = full_mags;
    full_mags = g;
    pthread_mutex_unlock(&free_mu);
}

struct sl__ack *sl__ack_new(struct sl_instance *input, const struct sl_msg *m)
{
    if (!tls.nfree)
        refill();
    struct sl__ack *a = tls.free[--tls.nfree];
    atomic_init(&a->refs, 1);
    a->input = input;
    a->cookie = m->cookie;
    a->partition = m->source.partition;
    a->offset = m->source.offset;
    a->parent = NULL;
    a->tracker = NULL;
    a->read_ns = sl__msg_private(m)->read_ns;
    return a;
}

void sl__ack_ref(struct sl__ack *a)
{
    uint32_t was = atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
    if (!(was & ACK_SPLIT))
        atomic_fetch_or_explicit(&a->refs, ACK_SPLIT, memory_order_relaxed);
}

bool sl__ack_mark(const struct sl__ack *a, const struct sl_instance **by, uint64_t *cookie)
{
    /* One share, never split: the message at hand is all there is of it.
     * Only its holder (the output) could split it now, and outputs do not. */
    if (atomic_load_explicit(&a->refs, memory_order_relaxed) != 1)
        return false;
    if (a->tracker) {
        *by = a->tracker;
        *cookie = a->track_cookie;
    } else if (a->input->kind == SL_KIND_HANDLER) {
        *by = a->input;
        *cookie = a->cookie;
    } else {
        return false;
    }
    return true;
}

static void finished(struct sl__ack *a, bool failed);

void sl__ack_flush(void)
{
    /* The batch is copied out first: a handler's delivered() may release the
     * messages it held back, which finishes their acks on this thread and
     * so comes back here. */
    while (tls.n) {
        struct sl_delivery d[DELIVERY_BATCH];
        struct sl__ack *then[DELIVERY_BATCH];
        bool then_input[DELIVERY_BATCH];
        struct sl_instance *in = tls.input;
        size_t n = tls.n;
        memcpy(d, tls.d, n * sizeof(d[0]));
        memcpy(then, tls.then, n * sizeof(then[0]));
        memcpy(then_input, tls.then_input, n * sizeof(then_input[0]));
        tls.n = 0;
        if (in->plugin->delivered) /* NULL: a token only for the latency (metrics) */
            in->plugin->delivered(in->ctx, d, n);
        if (in->kind == SL_KIND_INPUT) /* a handler's is not counted: no one reads it */
            atomic_fetch_sub_explicit(&in->in_flight, n, memory_order_relaxed);
        /* A handler has heard (and, dedup, made its keys durable): only now
         * may the input hear. */
        for (size_t i = 0; i < n; i++) {
            if (!then[i])
                continue;
            if (then_input[i])
                finished(then[i], d[i].status != SL_OK);
            else
                sl__ack_unref(then[i], d[i].status != SL_OK);
        }
    }
}

static void ack_free(struct sl__ack *a)
{
    if (tls.nfree == ACK_CACHE)
        spill(ACK_MAG);
    tls.free[tls.nfree++] = a;
}

_Thread_local struct sl__histo *sl__input_latency;

/* An input's message is finished (every copy delivered, dead-lettered or
 * dropped): read-to-finished goes into this thread's histogram of that
 * input. */
static void observe_finished(const struct sl__ack *a)
{
    int64_t waited = sl__coarse_now_ns() - a->read_ns;
    uint64_t ns = waited > 0 ? (uint64_t)waited : 0;
    if (sl__input_latency)
        sl__histo_observe(&sl__input_latency[a->input->input_index], SL__HISTO_SECONDS, ns);
    else if (a->input->input_latency_shared) /* NULL: an instance outside a pipeline */
        sl__histo_observe_shared(a->input->input_latency_shared, SL__HISTO_SECONDS, ns);
}

/* Every share of a is done: queue the delivery for whoever hears first. */
static void finished(struct sl__ack *a, bool failed)
{
    struct sl_instance *to = a->tracker ? a->tracker : a->input;
    if (tls.n && (tls.input != to || tls.n == DELIVERY_BATCH))
        sl__ack_flush();
    tls.input = to;
    tls.d[tls.n] = (struct sl_delivery){
        .cookie = a->tracker ? a->track_cookie : a->cookie,
        .partition = a->partition,
        .offset = a->offset,
        .status = failed ? SL_ERROR : SL_OK,
    };
    if (a->tracker) { /* the input hears after the handler */
        a->tracker = NULL;
        tls.then[tls.n] = a;
        tls.then_input[tls.n] = true;
    } else {
        if (a->input->kind == SL_KIND_INPUT)
            observe_finished(a);
        tls.then[tls.n] = a->parent;
        tls.then_input[tls.n] = false;
        ack_free(a);
    }
    tls.n++;
}

void sl__ack_unref(struct sl__ack *a, bool failed)
{
    if (failed)
        atomic_fetch_or_explicit(&a->refs, ACK_FAILED, memory_order_relaxed);
    uint32_t was = atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel);
    if ((was & ~ACK_FLAGS) == 1)
        finished(a, was & ACK_FAILED);
}

void sl_emit_tracked(struct sl_emitter *e, struct sl_msg *m, uint64_t cookie)
{
    struct sl_instance *inst = e->w ? e->w->stage->inst : NULL;
    if (inst && inst->plugin->delivered) {
        struct sl__msg *pm = sl__msg_private(m);
        struct sl__ack *a = pm->ack;
        /* The only share (no copy, nothing failed) of an input's token:
         * nothing else can touch it now, so the cookie rides on it, and
         * what was split off earlier is gone: from here on it is whole. */
        if (a && a->input->kind == SL_KIND_INPUT && !a->tracker &&
            (atomic_load_explicit(&a->refs, memory_order_relaxed) & ~ACK_SPLIT) == 1) {
            atomic_store_explicit(&a->refs, 1, memory_order_relaxed);
            a->tracker = inst;
            a->track_cookie = cookie;
        } else {
            struct sl__ack *own = sl__ack_new(inst, m);
            own->cookie = cookie;
            own->parent = a; /* takes over the message's share */
            pm->ack = own;
        }
    }
    sl_emit(e, m);
}

void sl__ack_thread_exit(void)
{
    sl__ack_flush();
    while (tls.nfree)
        spill(tls.nfree < ACK_MAG ? tls.nfree : ACK_MAG);
}

void sl__ack_destroy(void)
{
    sl__ack_thread_exit();
    pthread_mutex_lock(&free_mu);
    while (slabs) {
        struct ack_slab *sl = slabs;
        slabs = sl->next;
        free(sl);
    }
    struct ack_mag *lists[2] = {full_mags, empty_mags};
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            struct ack_mag *g = lists[i];
            lists[i] = g->next;
            free(g);
        }
    full_mags = empty_mags = NULL;
    pthread_mutex_unlock(&free_mu);
}
