/* stage.c - a stage's worker pool: each worker pops batches from the stage's
 * queue, runs the plugin on them, and hands results on through its emitter.
 * Failed messages wait in the worker's own retry list (sorted by due time),
 * so retries need no extra thread and no lock.
 * Lock order: a worker holds no lock while it calls a plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

_Thread_local struct sl__worker *sl__current_worker;

enum { IDLE_POLL_NS = 10 * 1000000 };

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* What happened to each input of the handler batch being processed: a
 * message is dropped only when the handler released it and nothing derived
 * from it went on (a replaced or split message is not dropped). */
enum { SLOT_RELEASED = 1, SLOT_EMITTED = 2 };

void sl_emit(struct sl_emitter *e, struct sl_msg *m)
{
    struct sl__msg *pm = sl__msg_private(m);
    struct sl__worker *w = e->w;
    if (pm->lineage_slot && w && w->slot_state && pm->batch_gen == w->batch_gen)
        w->slot_state[pm->lineage_slot - 1] |= SLOT_EMITTED;
    pm->batch_slot = pm->lineage_slot = 0;
    sl__emitter_put(e, m);
}

/* A handler released m (sl_msg_release): note it when it is one of the
 * batch's inputs. */
void sl__worker_released(struct sl__worker *w, struct sl_msg *m)
{
    struct sl__msg *pm = sl__msg_private(m);
    if (pm->batch_slot && w->slot_state && pm->batch_gen == w->batch_gen)
        w->slot_state[pm->batch_slot - 1] |= SLOT_RELEASED;
}

void sl_fail(struct sl_emitter *e, struct sl_msg *m, const char *error)
{
    struct sl__stage *s = e->w->stage;
    sl__failure(e, s->inst, s->label, m, error, true);
}

void sl_out_done(struct sl_msg *m, int status, const char *error)
{
    struct sl__worker *w = sl__current_worker;
    w->outstanding--;
    if (status == SL_OK) {
        struct sl__msg *pm = sl__msg_private(m);
        w->confirmed++; /* added to the shared stats once per batch */
        int64_t waited = sl__coarse_now_ns() - pm->read_ns;
        sl__histo_observe(&w->latency, SL__HISTO_SECONDS, waited > 0 ? (uint64_t)waited : 0);
        if (pm->dead_from) /* a dead letter, now written: count it where it failed */
            atomic_fetch_add_explicit(&pm->dead_from->stats.dead, 1, memory_order_relaxed);
        sl__msg_finish(m, w->stage->kind == SL__STAGE_DLQ);
        return;
    }
    if (!error)
        error = status == SL_RETRY ? "output failed" : "output refused the message";
    sl__failure(&w->em, w->stage->inst, w->stage->label, m, error, status == SL_RETRY);
}

static void run_decode(struct sl__worker *w, struct sl_msg **msgs, size_t n)
{
    const struct sl_plugin *codec = w->stage->inst->plugin;
    char err[512];
    uint64_t decoded = 0;
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        err[0] = '\0';
        if (codec->decode(w->wctx, m, err, sizeof(err)) != SL_OK) {
            m->record = NULL;
            sl__failure(&w->em, w->stage->inst, w->stage->label, m, err[0] ? err : "cannot decode",
                        false);
            continue;
        }
        sl__emitter_put(&w->em, m);
        decoded++;
    }
    count(&w->stage->inst->stats.out, decoded);
}

static void run_output(struct sl__worker *w, struct sl_msg **msgs, size_t n)
{
    struct sl_instance *inst = w->stage->inst;
    const struct sl_plugin *codec = inst->codec ? inst->codec->plugin : NULL;
    char err[512];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        m->out_raw = true;
        if (codec && codec->encode) {
            m->out.len = 0;
            m->out_raw = false;
            err[0] = '\0';
            if (codec->encode(w->codec_wctx, m, &m->out, err, sizeof(err)) != SL_OK) {
                if (w->stage->kind == SL__STAGE_DLQ) {
                    m->out_raw = true; /* a dead letter keeps its original bytes */
                } else {
                    sl__failure(&w->em, inst, w->stage->label, m, err[0] ? err : "cannot encode",
                                false);
                    continue;
                }
            }
        }
        msgs[k++] = m;
    }
    if (!k)
        return;
    w->outstanding += k;
    if (inst->plugin->write(w->wctx, msgs, k) < 0) {
        /* What it took may never be confirmed: the drain must not wait for it
         * (left unacked, the source redelivers it after a restart). */
        w->write_failed = true;
        sl_log(inst, SL_LOG_ERROR, "output failed fatally; stopping the pipeline");
        atomic_store(&inst->pl->fatal, 1);
        sl__pipeline_stop(inst->pl);
    }
}

static void publish_confirmed(struct sl__worker *w)
{
    if (w->confirmed) {
        count(&w->stage->inst->stats.out, w->confirmed);
        w->confirmed = 0;
    }
}

/* retry: the messages come from the retry list; they entered the stage
 * once already and count as retried, not again as in. */
static void run_batch(struct sl__worker *w, struct sl_msg **msgs, size_t n, bool retry)
{
    struct sl__stage *s = w->stage;
    if (!retry)
        count(&s->inst->stats.in, n);
    uint64_t traced = sl__tracing ? sl__trace_hop_begin(w, msgs, n) : 0;
    int64_t began = sl__now_ns();
    switch (s->kind) {
    case SL__STAGE_DECODE:
        run_decode(w, msgs, n);
        break;
    case SL__STAGE_HANDLER: {
        uint64_t before = w->em.emitted, dropped = 0;
        w->batch_gen++;
        for (size_t i = 0; i < n; i++) {
            struct sl__msg *pm = sl__msg_private(msgs[i]);
            pm->batch_slot = pm->lineage_slot = (uint32_t)i + 1;
            pm->batch_gen = w->batch_gen;
            w->slot_state[i] = 0;
        }
        if (s->inst->plugin->process(w->wctx, msgs, n, &w->em) < 0) {
            sl_log(s->inst, SL_LOG_ERROR, "handler failed fatally; stopping the pipeline");
            atomic_store(&s->inst->pl->fatal, 1);
            sl__pipeline_stop(s->inst->pl);
        }
        for (size_t i = 0; i < n; i++)
            dropped += w->slot_state[i] == SLOT_RELEASED;
        count(&s->inst->stats.out, w->em.emitted - before);
        if (dropped)
            count(&s->inst->stats.dropped, dropped);
        break;
    }
    default:
        run_output(w, msgs, n);
        publish_confirmed(w);
        /* Tell the inputs (and tracking handlers: dedup makes its keys
         * durable then) at once: the less confirmed-but-unacknowledged work
         * a crash leaves, the less is delivered twice after it. */
        sl__ack_flush();
        break;
    }
    if (traced)
        sl__trace_hop_end(w, traced);
    sl__histo_observe(&w->batch_sizes, SL__HISTO_SIZE, n);
    sl__histo_observe(&w->batch_seconds, SL__HISTO_SECONDS, (uint64_t)(sl__now_ns() - began));
}

/* ordered = true: run what arrived, parking the messages of keys held back
 * by a retry and cutting the batch where a key repeats (see ordered.c).
 * Retries are not parked: each is the oldest message of its key. */
static void run_ordered(struct sl__worker *w, struct sl_msg **msgs, size_t n, bool retry)
{
    while (n) {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (retry || !sl__ordered_park(w->ordered, msgs[i]))
                msgs[kept++] = msgs[i];
        size_t run = sl__ordered_distinct_prefix((const struct sl_msg *const *)msgs, kept);
        if (run)
            run_batch(w, msgs, run, retry);
        msgs += run;
        n = kept - run;
    }
}

/* Parked messages whose key is free again go on, oldest first; each may
 * hold its key back again. */
static void run_released(struct sl__worker *w)
{
    struct sl_msg *msgs[64];
    size_t n;
    while ((n = sl__ordered_release(w->ordered, msgs, 64)))
        run_batch(w, msgs, n, false); /* one per key: nothing to cut */
}

/* Run the retries whose time has come. Returns true if it ran any. */
static bool run_due_retries(struct sl__worker *w)
{
    int64_t now = sl__now_ns();
    if (!w->retry || w->retry->due_ns > now)
        return false;
    struct sl_batch *b = sl__batch_alloc();
    while (w->retry && w->retry->due_ns <= now && b->n < b->cap) {
        struct sl__msg *pm = w->retry;
        w->retry = pm->next;
        pm->next = NULL;
        w->n_retry--;
        b->msgs[b->n++] = &pm->pub;
        if (w->ordered)
            sl__ordered_retry_due(w->ordered, &pm->pub);
    }
    if (w->ordered) {
        run_ordered(w, b->msgs, b->n, true);
        run_released(w);
    } else {
        run_batch(w, b->msgs, b->n, true);
    }
    sl__batch_free(b);
    return true;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void *worker_main(void *arg)
{
    struct sl__worker *w = arg;
    struct sl__stage *s = w->stage;
    const struct sl_plugin *p = s->inst->plugin;
    bool is_output = s->kind == SL__STAGE_OUTPUT || s->kind == SL__STAGE_DLQ;
    bool flushed = false;
    struct sl__queue *q = s->in.q[s->in.nq > 1 ? w->idx : 0];
    sl__current_worker = w;
    sl__input_latency = w->input_latency;
    for (;;) {
        if (run_due_retries(w)) {
            flushed = false; /* what the retries wrote needs a flush too */
            continue;
        }
        bool closed = false;
        struct sl_batch *b = sl__queue_pop(q, 0, &closed);
        if (!b && !closed) {
            /* Idle: push partial batches on, tell inputs what is done. */
            int64_t now = sl__now_ns();
            int64_t deadline = sl__emitter_flush(&w->em, false);
            sl__ack_flush();
            if (w->retry)
                deadline = min64(deadline, w->retry->due_ns);
            if (is_output && (p->poll || w->outstanding))
                deadline = min64(deadline, now + IDLE_POLL_NS);
            b = sl__queue_pop(q, deadline == INT64_MAX ? -1 : (deadline > now ? deadline - now : 1),
                              &closed);
            if (!b && !closed && is_output && p->poll) {
                p->poll(w->wctx);
                publish_confirmed(w);
                sl__ack_flush(); /* what poll() confirmed, as after a batch */
            }
        }
        if (b) {
            if (w->ordered)
                run_ordered(w, b->msgs, b->n, false);
            else
                run_batch(w, b->msgs, b->n, false);
            sl__batch_free(b);
            flushed = false;
            continue;
        }
        if (!closed)
            continue;
        /* Drain: nothing more will arrive. Confirm what is outstanding. */
        if (is_output && (!flushed || (w->outstanding && !w->write_failed))) {
            if (flushed)
                nanosleep(&(struct timespec){0, IDLE_POLL_NS}, NULL);
            if (p->flush)
                p->flush(w->wctx);
            publish_confirmed(w);
            sl__ack_flush(); /* as after every call: an output may count on it */
            flushed = true;
            continue;
        }
        if (w->write_failed || (!w->retry && !w->outstanding))
            break;
        int64_t wait = w->retry ? w->retry->due_ns - sl__now_ns() : IDLE_POLL_NS;
        if (wait > 0)
            nanosleep(&(struct timespec){wait / 1000000000, wait % 1000000000}, NULL);
    }
    sl__emitter_flush(&w->em, true);
    sl__ack_flush();
    sl__emitter_producer_done(&w->em);
    sl__ack_thread_exit();
    sl__pool_thread_exit();
    sl__pipeline_thread_done(s->inst->pl);
    return NULL;
}

int sl__stage_start(struct sl__stage *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct sl__worker *w = &s->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            sl_log(s->inst, SL_LOG_ERROR, "cannot start worker thread %u", i);
            return -1;
        }
        w->started = true;
    }
    return 0;
}

void sl__stage_join(struct sl__stage *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].started) {
            pthread_join(s->workers[i].thread, NULL);
            s->workers[i].started = false;
        }
}
