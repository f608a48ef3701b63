/* emitter.c - how a worker hands messages on: into per-queue batches that are
 * pushed when full, when past their linger, or when the worker goes idle;
 * routing to outputs by `match`; and the dead-letter path. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

int sl__emitter_init(struct sl_emitter *e, struct sl__pipeline *pl, struct sl__link *next,
                     bool route)
{
    memset(e, 0, sizeof(*e));
    e->pl = pl;
    e->link = next;
    unsigned n = 0;
    if (next) {
        n = next->nq;
    } else if (route) {
        /* routing scratch, sized once: no limit on outputs, no malloc per message */
        size_t no = pl->n_outputs ? pl->n_outputs : 1;
        e->out_base = calloc(no, sizeof(*e->out_base));
        e->matched = calloc(no, sizeof(*e->matched));
        e->copies = calloc(no, sizeof(*e->copies));
        if (!e->out_base || !e->matched || !e->copies)
            return -1;
        for (size_t j = 0; j < pl->n_outputs; j++) {
            e->out_base[j] = n;
            n += pl->out_links[j]->nq;
        }
    }
    e->nslots = n;
    e->slot_q = calloc(n ? n : 1, sizeof(*e->slot_q));
    e->slot_link = calloc(n ? n : 1, sizeof(*e->slot_link));
    e->pend = calloc(n ? n : 1, sizeof(*e->pend));
    e->pend_since = calloc(n ? n : 1, sizeof(*e->pend_since));
    if (!e->slot_q || !e->slot_link || !e->pend || !e->pend_since)
        return -1;
    if (next) {
        for (unsigned i = 0; i < n; i++) {
            e->slot_q[i] = next->q[i];
            e->slot_link[i] = next;
        }
    } else if (route) {
        for (size_t j = 0; j < pl->n_outputs; j++)
            for (unsigned i = 0; i < pl->out_links[j]->nq; i++) {
                e->slot_q[e->out_base[j] + i] = pl->out_links[j]->q[i];
                e->slot_link[e->out_base[j] + i] = pl->out_links[j];
            }
    }
    return 0;
}

void sl__emitter_fini(struct sl_emitter *e)
{
    free(e->out_base);
    free(e->matched);
    free(e->copies);
    e->matched = NULL;
    e->copies = NULL;
    free(e->slot_q);
    free(e->slot_link);
    free(e->pend);
    free(e->pend_since);
    e->out_base = NULL;
    e->slot_q = NULL;
    e->slot_link = NULL;
    e->pend = NULL;
    e->pend_since = NULL;
}

static void each_queue(struct sl_emitter *e, void (*fn)(struct sl__queue *))
{
    for (unsigned i = 0; i < e->nslots; i++)
        fn(e->slot_q[i]);
    if (e->pl->dlq_link && !e->no_dlq)
        fn(e->pl->dlq_link->q[0]);
}

void sl__emitter_add_producer(struct sl_emitter *e)
{
    each_queue(e, sl__queue_add_producer);
}

void sl__emitter_producer_done(struct sl_emitter *e)
{
    each_queue(e, sl__queue_producer_done);
}

static int64_t coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void append(struct sl_emitter *e, unsigned slot, struct sl_msg *m)
{
    struct sl_batch *b = e->pend[slot];
    if (!b) {
        b = e->pend[slot] = sl__batch_alloc();
        if (e->slot_link[slot]->linger_ms)
            e->pend_since[slot] = coarse_now();
    }
    b->msgs[b->n++] = m;
    if (b->n >= e->slot_link[slot]->batch_size || b->n == b->cap) {
        e->pend[slot] = NULL;
        sl__queue_push(e->slot_q[slot], b);
    }
}

static unsigned pick(struct sl_emitter *e, const struct sl__link *l, const struct sl_msg *m)
{
    if (l->nq == 1)
        return 0;
    if (m->has_key)
        return (unsigned)(sl__hash(m->key.data, m->key.len) % l->nq);
    return e->rr++ % l->nq; /* unkeyed messages have no order to keep */
}

void sl__emitter_put(struct sl_emitter *e, struct sl_msg *m)
{
    e->emitted++;
    m->attempts = 0; /* counted per stage: the next one starts afresh */
    if (e->link) {
        append(e, pick(e, e->link, m), m);
        return;
    }
    struct sl__pipeline *pl = e->pl;
    const char *route = m->route ? m->route : "";
    size_t *matched = e->matched, n = 0;
    for (size_t j = 0; j < pl->n_outputs; j++) {
        const struct sl_instance *o = pl->out_links[j]->inst;
        if (o->match_all || fnmatch(o->match, route, 0) == 0)
            matched[n++] = j;
    }
    if (n == 0) {
        atomic_fetch_add_explicit(&pl->unrouted, 1, memory_order_relaxed);
        sl__msg_finish(m, false);
        return;
    }
    /* Copies first: once m sits in a pushed batch another thread owns it. */
    struct sl_msg **copies = e->copies;
    copies[0] = m;
    for (size_t k = 1; k < n; k++) {
        copies[k] = sl__msg_clone(m);
        if (!copies[k]) {
            fputs("sluice: out of memory copying a message for fan-out\n", stderr);
            abort();
        }
    }
    for (size_t k = 0; k < n; k++) {
        struct sl__link *l = pl->out_links[matched[k]];
        append(e, e->out_base[matched[k]] + pick(e, l, copies[k]), copies[k]);
    }
}

int64_t sl__emitter_flush(struct sl_emitter *e, bool force)
{
    int64_t next = INT64_MAX, now = 0;
    for (unsigned i = 0; i < e->nslots; i++) {
        if (!e->pend[i])
            continue;
        uint32_t linger = e->slot_link[i]->linger_ms;
        if (!force && linger) {
            if (!now)
                now = coarse_now();
            int64_t due = e->pend_since[i] + (int64_t)linger * 1000000;
            if (due > now) {
                next = due < next ? due : next;
                continue;
            }
        }
        struct sl_batch *b = e->pend[i];
        e->pend[i] = NULL;
        sl__queue_push(e->slot_q[i], b);
    }
    if (e->dlq_pend) {
        struct sl_batch *b = e->dlq_pend;
        e->dlq_pend = NULL;
        sl__queue_push(e->pl->dlq_link->q[0], b);
    }
    return next;
}

void sl__emitter_put_dead(struct sl_emitter *e, struct sl_msg *m)
{
    if (!e->dlq_pend)
        e->dlq_pend = sl__batch_alloc();
    e->dlq_pend->msgs[e->dlq_pend->n++] = m;
    if (e->dlq_pend->n == e->dlq_pend->cap) {
        struct sl_batch *b = e->dlq_pend;
        e->dlq_pend = NULL;
        sl__queue_push(e->pl->dlq_link->q[0], b);
    }
}
