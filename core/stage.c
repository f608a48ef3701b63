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

/* Exponential backoff with jitter: a random point in [d/2, d], where d
 * doubles per attempt up to max_backoff_ms. */
static int64_t backoff_ns(const struct sl_instance *inst, unsigned attempts)
{
    int64_t d = (int64_t)inst->backoff_ms * 1000000;
    for (unsigned i = 1; i < attempts && d < (int64_t)inst->max_backoff_ms * 1000000; i++)
        d *= 2;
    if (d > (int64_t)inst->max_backoff_ms * 1000000)
        d = (int64_t)inst->max_backoff_ms * 1000000;
    if (d <= 0)
        return 0;
    return d / 2 + (int64_t)(sl__rand64() % (uint64_t)(d / 2 + 1));
}

static void retry_later(struct sl__worker *w, struct sl_msg *m)
{
    m->_due_ns = sl__now_ns() + backoff_ns(w->stage->inst, m->attempts);
    struct sl_msg **p = &w->retry;
    while (*p && (*p)->_due_ns <= m->_due_ns)
        p = &(*p)->_next;
    m->_next = *p;
    *p = m;
    w->n_retry++;
}

void sl_emit(struct sl_emitter *e, struct sl_msg *m)
{
    sl__emitter_put(e, m);
}

void sl_fail(struct sl_emitter *e, struct sl_msg *m, const char *error)
{
    struct sl__worker *w = e->w;
    struct sl_instance *inst = w->stage->inst;
    m->attempts++;
    if (w->stage->kind == SL__STAGE_DLQ) {
        /* The dead-letter output never drops: retry forever, stop acking. */
        sl_log(inst, SL_LOG_ERROR, "dead-letter write failed (attempt %u), retrying: %s",
               m->attempts, error ? error : "error");
        count(&inst->stats.retried, 1);
        retry_later(w, m);
    } else if (m->attempts < inst->max_attempts) {
        count(&inst->stats.retried, 1);
        retry_later(w, m);
    } else {
        count(&inst->stats.dead, 1);
        sl__dead_letter(e, m, w->stage->label, error);
    }
}

void sl_out_done(struct sl_msg *m, int status, const char *error)
{
    struct sl__worker *w = sl__current_worker;
    w->outstanding--;
    if (status == SL_OK) {
        w->confirmed++; /* added to the shared stats once per batch */
        sl__msg_finish(m, w->stage->kind == SL__STAGE_DLQ);
    } else if (status == SL_RETRY || w->stage->kind == SL__STAGE_DLQ) {
        sl_fail(&w->em, m, error);
    } else {
        m->attempts++; /* this write was a failed attempt, as in sl_fail */
        count(&w->stage->inst->stats.dead, 1);
        sl__dead_letter(&w->em, m, w->stage->label, error ? error : "output refused the message");
    }
}

static void run_decode(struct sl__worker *w, struct sl_msg **msgs, size_t n)
{
    const struct sl_plugin *codec = w->stage->inst->plugin;
    char err[512];
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        err[0] = '\0';
        if (codec->decode(w->wctx, m, err, sizeof(err)) != SL_OK) {
            m->record = NULL;
            m->attempts++;
            count(&w->stage->inst->stats.dead, 1);
            sl__dead_letter(&w->em, m, w->stage->label, err[0] ? err : "cannot decode");
            continue;
        }
        sl__emitter_put(&w->em, m);
    }
    count(&w->stage->inst->stats.out, n);
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
                    m->attempts++;
                    count(&inst->stats.dead, 1);
                    sl__dead_letter(&w->em, m, w->stage->label, err[0] ? err : "cannot encode");
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

static void run_batch(struct sl__worker *w, struct sl_msg **msgs, size_t n)
{
    struct sl__stage *s = w->stage;
    count(&s->inst->stats.in, n);
    switch (s->kind) {
    case SL__STAGE_DECODE:
        run_decode(w, msgs, n);
        break;
    case SL__STAGE_HANDLER: {
        uint64_t before = w->em.emitted;
        if (s->inst->plugin->process(w->wctx, msgs, n, &w->em) < 0) {
            sl_log(s->inst, SL_LOG_ERROR, "handler failed fatally; stopping the pipeline");
            atomic_store(&s->inst->pl->fatal, 1);
            sl__pipeline_stop(s->inst->pl);
        }
        count(&s->inst->stats.out, w->em.emitted - before);
        break;
    }
    default:
        run_output(w, msgs, n);
        publish_confirmed(w);
        break;
    }
}

/* Run the retries whose time has come. Returns true if it ran any. */
static bool run_due_retries(struct sl__worker *w)
{
    int64_t now = sl__now_ns();
    if (!w->retry || w->retry->_due_ns > now)
        return false;
    struct sl_batch *b = sl__batch_alloc();
    while (w->retry && w->retry->_due_ns <= now && b->n < b->cap) {
        struct sl_msg *m = w->retry;
        w->retry = m->_next;
        m->_next = NULL;
        w->n_retry--;
        b->msgs[b->n++] = m;
    }
    run_batch(w, b->msgs, b->n);
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
                deadline = min64(deadline, w->retry->_due_ns);
            if (is_output && (p->poll || w->outstanding))
                deadline = min64(deadline, now + IDLE_POLL_NS);
            b = sl__queue_pop(q, deadline == INT64_MAX ? -1 : (deadline > now ? deadline - now : 1),
                              &closed);
            if (!b && !closed && is_output && p->poll) {
                p->poll(w->wctx);
                publish_confirmed(w);
            }
        }
        if (b) {
            run_batch(w, b->msgs, b->n);
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
            flushed = true;
            continue;
        }
        if (w->write_failed || (!w->retry && !w->outstanding))
            break;
        int64_t wait = w->retry ? w->retry->_due_ns - sl__now_ns() : IDLE_POLL_NS;
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
