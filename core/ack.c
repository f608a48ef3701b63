/* ack.c - ack tokens: one per input message, shared by every copy and part
 * of it. The last share to finish tells the input, in per-thread batches.
 * A handler that passes a message with sl_emit_tracked() puts a token of its
 * own in front: it hears first, then the input's share is released. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct sl__ack {
    _Atomic uint32_t refs;
    _Atomic bool failed;
    struct sl_instance *input; /* who is told: an input, or a handler (sl_emit_tracked) */
    struct sl_delivery d;
    struct sl__ack *parent; /* a handler's token: the share of the input's it holds */
    struct sl__ack *next;
    int64_t read_ns; /* when the input handed the message over */
};

enum { ACK_CACHE = 256, DELIVERY_BATCH = 256, ACK_SLAB = 128 };

/* Tokens are carved from slabs that sl__ack_destroy frees, so a token whose
 * message never finished (left with an output that failed fatally) is not
 * leaked at exit. */
struct ack_slab {
    struct ack_slab *next;
    struct sl__ack a[ACK_SLAB];
};

static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sl__ack *free_list;
static struct ack_slab *slabs;

static _Thread_local struct {
    struct sl__ack *free[ACK_CACHE];
    unsigned nfree;
    struct sl_instance *input;
    struct sl_delivery d[DELIVERY_BATCH];
    struct sl__ack *parent[DELIVERY_BATCH]; /* a handler's token: released after it heard */
    unsigned n;
} tls;

struct sl__ack *sl__ack_new(struct sl_instance *input, const struct sl_msg *m)
{
    struct sl__ack *a = NULL;
    if (tls.nfree) {
        a = tls.free[--tls.nfree];
    } else {
        pthread_mutex_lock(&free_mu);
        if (!free_list) {
            struct ack_slab *sl = malloc(sizeof(*sl));
            if (!sl) {
                fputs("sluice: out of memory allocating ack tokens\n", stderr);
                abort();
            }
            sl->next = slabs;
            slabs = sl;
            for (unsigned i = 0; i < ACK_SLAB; i++) {
                sl->a[i].next = free_list;
                free_list = &sl->a[i];
            }
        }
        while (free_list && tls.nfree < ACK_CACHE / 2) {
            struct sl__ack *x = free_list;
            free_list = x->next;
            tls.free[tls.nfree++] = x;
        }
        pthread_mutex_unlock(&free_mu);
        a = tls.free[--tls.nfree];
    }
    atomic_init(&a->refs, 1);
    atomic_init(&a->failed, false);
    a->input = input;
    a->d.cookie = m->cookie;
    a->d.partition = m->source.partition;
    a->d.offset = m->source.offset;
    a->d.status = SL_OK;
    a->parent = NULL;
    a->read_ns = sl__msg_private(m)->read_ns;
    atomic_fetch_add_explicit(&input->in_flight, 1, memory_order_relaxed);
    return a;
}

void sl__ack_ref(struct sl__ack *a)
{
    atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void sl__ack_flush(void)
{
    /* The batch is copied out first: a handler's delivered() may release the
     * messages it held back, which finishes their acks on this thread and
     * so comes back here. */
    while (tls.n) {
        struct sl_delivery d[DELIVERY_BATCH];
        struct sl__ack *parent[DELIVERY_BATCH];
        struct sl_instance *in = tls.input;
        size_t n = tls.n;
        memcpy(d, tls.d, n * sizeof(d[0]));
        memcpy(parent, tls.parent, n * sizeof(parent[0]));
        tls.n = 0;
        if (in->plugin->delivered) /* NULL: a token only for the latency (metrics) */
            in->plugin->delivered(in->ctx, d, n);
        atomic_fetch_sub_explicit(&in->in_flight, n, memory_order_relaxed);
        /* A handler has heard (and, dedup, made its keys durable): only now
         * may the shares it held of the inputs' tokens go. */
        for (size_t i = 0; i < n; i++)
            if (parent[i])
                sl__ack_unref(parent[i], d[i].status != SL_OK);
    }
}

static void ack_free(struct sl__ack *a)
{
    if (tls.nfree < ACK_CACHE) {
        tls.free[tls.nfree++] = a;
        return;
    }
    pthread_mutex_lock(&free_mu);
    a->next = free_list;
    free_list = a;
    pthread_mutex_unlock(&free_mu);
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

void sl__ack_unref(struct sl__ack *a, bool failed)
{
    if (failed)
        atomic_store_explicit(&a->failed, true, memory_order_relaxed);
    if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (a->input->kind == SL_KIND_INPUT)
        observe_finished(a);
    if (tls.n && (tls.input != a->input || tls.n == DELIVERY_BATCH))
        sl__ack_flush();
    tls.input = a->input;
    tls.d[tls.n] = a->d;
    tls.d[tls.n].status = atomic_load(&a->failed) ? SL_ERROR : SL_OK;
    tls.parent[tls.n] = a->parent;
    tls.n++;
    ack_free(a);
}

void sl_emit_tracked(struct sl_emitter *e, struct sl_msg *m, uint64_t cookie)
{
    struct sl_instance *inst = e->w ? e->w->stage->inst : NULL;
    if (inst && inst->plugin->delivered) {
        struct sl__msg *pm = sl__msg_private(m);
        struct sl__ack *a = sl__ack_new(inst, m);
        a->d.cookie = cookie;
        a->parent = pm->ack; /* takes over the message's share */
        pm->ack = a;
    }
    sl_emit(e, m);
}

void sl__ack_thread_exit(void)
{
    sl__ack_flush();
    pthread_mutex_lock(&free_mu);
    while (tls.nfree) {
        struct sl__ack *a = tls.free[--tls.nfree];
        a->next = free_list;
        free_list = a;
    }
    pthread_mutex_unlock(&free_mu);
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
    free_list = NULL;
    pthread_mutex_unlock(&free_mu);
}
