/* pipeline.c - assemble the stages and their queues, start and stop the
 * threads, and the input sink calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

static int link_init(struct sl__link *l, const char *label, struct sl_instance *inst, unsigned nq,
                     uint32_t capacity, uint32_t batch, uint32_t linger)
{
    l->nq = nq;
    l->by_key = nq > 1;
    l->batch_size = batch;
    l->linger_ms = linger;
    l->inst = inst;
    l->q = calloc(nq, sizeof(*l->q));
    if (!l->q)
        return -1;
    /* capacity counts messages; the ring holds whole batches */
    uint32_t slots = (capacity + batch - 1) / batch;
    for (unsigned i = 0; i < nq; i++) {
        char suffix[16] = "";
        if (nq > 1)
            snprintf(suffix, sizeof(suffix), "#%u", i);
        if (!(l->q[i] = sl__queue_new(label, suffix, slots)))
            return -1;
    }
    return 0;
}

static void link_fini(struct sl__link *l)
{
    for (unsigned i = 0; l->q && i < l->nq; i++)
        sl__queue_free(l->q[i]);
    free(l->q);
    l->q = NULL;
}

static struct sl__stage *stage_new(struct sl__pipeline *pl, int kind, struct sl_instance *inst,
                                   struct sl_instance *owner, unsigned workers, bool ordered,
                                   uint32_t batch, uint32_t linger)
{
    struct sl__stage *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->kind = kind;
    s->inst = inst;
    s->owner = owner;
    s->nworkers = workers;
    const char *suffix = kind == SL__STAGE_DECODE ? ".decode" : "";
    size_t len = strlen(owner->name) + strlen(suffix) + 1;
    if ((s->label = malloc(len)))
        snprintf(s->label, len, "%s%s", owner->name, suffix);
    unsigned nq = ordered && workers > 1 ? workers : 1;
    s->workers = sl__calloc_own_lines(workers, sizeof(*s->workers)); /* one thread's each */
    struct sl__stage **stages = realloc(pl->stages, (pl->n_stages + 1) * sizeof(*stages));
    if (stages)
        pl->stages = stages;
    if (!s->label || !s->workers || !stages ||
        link_init(&s->in, s->label, owner, nq, pl->queue_capacity, batch, linger) < 0) {
        link_fini(&s->in);
        free(s->workers);
        free(s->label);
        free(s);
        return NULL;
    }
    pl->stages[pl->n_stages++] = s;
    return s;
}

/* A worker_init that failed: the plugin normally said why with
 * sl_instance_error (one line naming the config place); only when it did not
 * does the core add a line of its own. */
static void start_failed(const struct sl_instance *inst, const struct sl_instance *failed,
                         const char *what, unsigned worker)
{
    if (!failed->error_reported)
        sl_log(inst, SL_LOG_ERROR, "%s %u failed to start and gave no reason", what, worker);
}

static int workers_init(struct sl__pipeline *pl, struct sl__stage *s, struct sl__link *next,
                        bool route)
{
    const struct sl_plugin *p = s->inst->plugin;
    const struct sl_plugin *codec = s->inst->codec ? s->inst->codec->plugin : NULL;
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct sl__worker *w = &s->workers[i];
        w->stage = s;
        w->idx = i;
        w->wctx = s->inst->ctx;
        if (p->worker_init && p->worker_init(s->inst->ctx, i, &w->wctx) != SL_OK) {
            start_failed(s->inst, s->inst, "worker", i);
            return -1;
        }
        w->codec_wctx = s->inst->codec ? s->inst->codec->ctx : NULL;
        if (codec && codec->worker_init &&
            codec->worker_init(s->inst->codec->ctx, i, &w->codec_wctx) != SL_OK) {
            start_failed(s->inst, s->inst->codec, "codec worker", i);
            return -1;
        }
        if (sl__emitter_init(&w->em, pl, next, route) < 0)
            return -1;
        if (s->kind == SL__STAGE_HANDLER &&
            !(w->slot_state = calloc(sl__pool_batch_cap(), sizeof(*w->slot_state))))
            return -1;
        if (s->inst->ordered && (s->kind == SL__STAGE_HANDLER || s->kind == SL__STAGE_OUTPUT) &&
            !(w->ordered = sl__ordered_new()))
            return -1;
        w->em.w = w;
        w->em.no_dlq = s->kind == SL__STAGE_DLQ;
        /* written for every message finished: on lines of its own */
        if (!(w->input_latency = sl__calloc_own_lines(pl->n_inputs, sizeof(*w->input_latency))))
            return -1;
    }
    return 0;
}

static uint32_t max_batch(struct sl__pipeline *pl)
{
    uint32_t m = pl->batch_size;
    for (size_t i = 0; i < pl->n_all; i++)
        if (pl->all[i]->batch_size > m)
            m = pl->all[i]->batch_size;
    return m;
}

/* inputs -> [decode] -> handler 1 .. n -> route -> outputs; dead_letter */
static int build(struct sl__pipeline *pl)
{
    sl__pool_init(max_batch(pl));
    pl->out_links = calloc(pl->n_outputs, sizeof(*pl->out_links));
    pl->input_links = calloc(pl->n_inputs, sizeof(*pl->input_links));
    struct sl__stage **hstages = calloc(pl->n_handlers ? pl->n_handlers : 1, sizeof(*hstages));
    if (!pl->out_links || !pl->input_links || !hstages)
        goto out_fail;
    for (size_t j = 0; j < pl->n_outputs; j++) {
        struct sl_instance *o = pl->outputs[j];
        struct sl__stage *s = stage_new(pl, SL__STAGE_OUTPUT, o, o, o->workers, o->ordered,
                                        o->batch_size, o->linger_ms);
        if (!s)
            goto out_fail;
        pl->out_links[j] = &s->in;
    }
    if (pl->dlq) {
        struct sl_instance *d = pl->dlq;
        pl->dlq_stage =
            stage_new(pl, SL__STAGE_DLQ, d, d, d->workers, false, d->batch_size, d->linger_ms);
        if (!pl->dlq_stage)
            goto out_fail;
        pl->dlq_link = &pl->dlq_stage->in;
    }
    for (size_t k = 0; k < pl->n_handlers; k++) {
        struct sl_instance *h = pl->handlers[k];
        if (!(hstages[k] = stage_new(pl, SL__STAGE_HANDLER, h, h, h->workers, h->ordered,
                                     pl->batch_size, pl->linger_ms)))
            goto out_fail;
    }
    pl->first = pl->n_handlers ? &hstages[0]->in : NULL;
    for (size_t i = 0; i < pl->n_inputs; i++) {
        struct sl_instance *in = pl->inputs[i];
        in->input_index = (unsigned)i;
        if (!(in->input_latency_shared = calloc(1, sizeof(*in->input_latency_shared))))
            goto out_fail;
        pl->input_links[i] = pl->first;
        if (in->codec && in->codec->plugin->decode) {
            struct sl__stage *d = stage_new(pl, SL__STAGE_DECODE, in->codec, in, in->decode_workers,
                                            in->ordered, pl->batch_size, pl->linger_ms);
            if (!d || workers_init(pl, d, pl->first, true) < 0)
                goto out_fail;
            pl->input_links[i] = &d->in;
        }
    }
    for (size_t k = 0; k < pl->n_handlers; k++)
        if (workers_init(pl, hstages[k], k + 1 < pl->n_handlers ? &hstages[k + 1]->in : NULL,
                         true) < 0)
            goto out_fail;
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        if ((s->kind == SL__STAGE_OUTPUT || s->kind == SL__STAGE_DLQ) &&
            workers_init(pl, s, NULL, false) < 0)
            goto out_fail;
    }
    free(hstages);
    return 0;
out_fail:
    free(hstages);
    return -1;
}

static int sinks_init(struct sl__pipeline *pl)
{
    size_t n = 0;
    for (size_t i = 0; i < pl->n_inputs; i++)
        n += pl->inputs[i]->workers;
    pl->sinks = calloc(n, sizeof(*pl->sinks));
    if (!pl->sinks)
        return -1;
    for (size_t i = 0; i < pl->n_inputs; i++) {
        struct sl_instance *in = pl->inputs[i];
        for (unsigned k = 0; k < in->workers; k++) {
            /* its input thread writes it for every message: lines of its own */
            struct sl_input_sink *s = sl__calloc_own_lines(1, sizeof(*s));
            if (!s)
                return -1;
            pl->sinks[pl->n_sinks++] = s;
            s->inst = in;
            s->pl = pl;
            s->wctx = in->ctx;
            if (!(s->input_latency = sl__calloc_own_lines(pl->n_inputs, sizeof(*s->input_latency))))
                return -1;
            if (sl__emitter_init(&s->em, pl, pl->input_links[i], true) < 0)
                return -1;
            if (in->plugin->worker_init && in->plugin->worker_init(in->ctx, k, &s->wctx) != SL_OK) {
                start_failed(in, in, "input worker", k);
                return -1;
            }
        }
    }
    return 0;
}

void sl__pipeline_thread_done(struct sl__pipeline *pl)
{
    pthread_mutex_lock(&pl->done_mu);
    pl->running_threads--;
    pthread_cond_broadcast(&pl->done_cv);
    pthread_mutex_unlock(&pl->done_mu);
}

static void *sink_main(void *arg)
{
    struct sl_input_sink *s = arg;
    sl__input_latency = s->input_latency;
    s->rc = s->inst->plugin->run(s->wctx, s);
    if (s->rc < 0) {
        sl_log(s->inst, SL_LOG_ERROR, "input failed; stopping the pipeline");
        atomic_store(&s->pl->fatal, 1);
        sl__pipeline_stop(s->pl);
    }
    sl_sink_flush(s);
    sl__emitter_producer_done(&s->em);
    sl__ack_thread_exit();
    sl__pool_thread_exit();
    sl__pipeline_thread_done(s->pl);
    return NULL;
}

int sl__pipeline_start(struct sl__pipeline *pl)
{
    /* Outputs read back what a crash left unheard before any input reads
     * (and before input workers connect: nothing is consumed meanwhile). */
    if (build(pl) < 0 || sl__recovery_run(pl) < 0 || sinks_init(pl) < 0 ||
        sl__metrics_start(pl) < 0)
        return -1;
    /* Every producer registers before any thread runs, or a queue could
     * close while an upstream stage has not started yet. */
    int threads = 0;
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        for (unsigned i = 0; i < s->nworkers; i++)
            sl__emitter_add_producer(&s->workers[i].em);
        threads += (int)s->nworkers;
    }
    for (size_t i = 0; i < pl->n_sinks; i++)
        sl__emitter_add_producer(&pl->sinks[i]->em);
    pl->running_threads = threads + (int)pl->n_sinks;
    pl->started_ns = sl__now_ns();
    pl->stats_mark = (struct sl__stats_mark){.ns = pl->started_ns};
    for (size_t j = 0; j < pl->n_stages; j++)
        if (sl__stage_start(pl->stages[j]) < 0)
            abort(); /* half-started pipelines cannot be unwound safely */
    for (size_t i = 0; i < pl->n_sinks; i++)
        if (pthread_create(&pl->sinks[i]->thread, NULL, sink_main, pl->sinks[i]) != 0)
            abort();
        else
            pl->sinks[i]->started = true;
    atomic_store(&pl->ready, true);
    return 0;
}

void sl__pipeline_stop(struct sl__pipeline *pl)
{
    atomic_store(&pl->ready, false);
    if (atomic_exchange(&pl->stopping, true))
        return;
    for (size_t i = 0; i < pl->n_inputs; i++)
        pl->inputs[i]->plugin->stop(pl->inputs[i]->ctx);
}

bool sl__pipeline_wait(struct sl__pipeline *pl, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)timeout_ms * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&pl->done_mu);
    while (pl->running_threads > 0)
        if (pthread_cond_timedwait(&pl->done_cv, &pl->done_mu, &ts) != 0)
            break;
    bool done = pl->running_threads <= 0;
    pthread_mutex_unlock(&pl->done_mu);
    return done;
}

void sl__pipeline_reload(struct sl__pipeline *pl)
{
    for (size_t i = 0; i < pl->n_all; i++)
        if (pl->all[i]->plugin->reload)
            pl->all[i]->plugin->reload(pl->all[i]->ctx);
}

void sl__pipeline_free(struct sl__pipeline *pl)
{
    if (!pl)
        return;
    sl__metrics_stop(pl);
    for (size_t i = 0; i < pl->n_sinks; i++) {
        struct sl_input_sink *s = pl->sinks[i];
        if (s->started)
            pthread_join(s->thread, NULL);
        if (s->inst->plugin->worker_destroy && s->wctx != s->inst->ctx)
            s->inst->plugin->worker_destroy(s->wctx);
        sl__emitter_fini(&s->em);
        free(s->input_latency);
        free(s);
    }
    free(pl->sinks);
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        sl__stage_join(s);
        const struct sl_plugin *p = s->inst->plugin;
        const struct sl_plugin *codec = s->inst->codec ? s->inst->codec->plugin : NULL;
        for (unsigned i = 0; i < s->nworkers; i++) {
            struct sl__worker *w = &s->workers[i];
            if (p->worker_destroy && w->wctx && w->wctx != s->inst->ctx)
                p->worker_destroy(w->wctx);
            if (codec && codec->worker_destroy && w->codec_wctx &&
                w->codec_wctx != s->inst->codec->ctx)
                codec->worker_destroy(w->codec_wctx);
            sl__emitter_fini(&w->em);
            free(w->slot_state);
            free(w->input_latency);
            sl__ordered_free(w->ordered);
        }
        link_fini(&s->in);
        free(s->workers);
        free(s->label);
        free(s);
    }
    free(pl->stages);
    free(pl->out_links);
    free(pl->input_links);
    /* instances in reverse: codecs after the stages that use them */
    for (size_t i = 0; i < pl->n_inputs; i++)
        free(pl->inputs[i]->input_latency_shared);
    for (size_t i = pl->n_all; i-- > 0;)
        sl__instance_free(pl->all[i]);
    free(pl->all);
    free(pl->inputs);
    free(pl->handlers);
    free(pl->outputs);
    sl__loader_free(pl->loader);
    if (pl->cfg_loaded)
        config_destroy(&pl->cfg);
    free(pl->name);
    free(pl->path);
    free(pl->metrics_listen);
    free(pl);
}

/* ---- the input sink ---- */

struct sl_msg *sl_sink_msg(struct sl_input_sink *s)
{
    (void)s;
    return sl__msg_alloc();
}

static void start_trace(struct sl_msg *m)
{
    if (m->n_headers) {
        const struct sl_header *h = sl_msg_header(m, "traceparent");
        if (h && sl_msg_parse_traceparent(m, (const char *)h->value, h->value_len) == 0) {
            /* we are a new span within the caller's trace; theirs is the
             * parent of the spans tracing exports */
            struct sl__msg *pm = sl__msg_private(m);
            memcpy(pm->trace.parent_span_id, m->span_id, 8);
            pm->trace.has_parent = true;
            pm->trace.flags = (uint8_t)strtoul(
                (const char[3]){(char)h->value[53], (char)h->value[54], 0}, NULL, 16);
            uint64_t span = sl__rand64() | 1;
            memcpy(m->span_id, &span, 8);
            return;
        }
    }
    sl__msg_private(m)->trace.has_parent = false;
    /* ids only need to be unique: two draws, the span mixed from both */
    uint64_t r[2] = {sl__rand64(), sl__rand64() | 1};
    uint64_t span = (r[0] * 0x9E3779B97F4A7C15ULL) ^ r[1];
    memcpy(m->trace_id, r, 16);
    memcpy(m->span_id, &span, 8);
}

/* Add what this sink read and passed on to the input's shared counters
 * (once per 64 messages, not per message). */
static void publish_counts(struct sl_input_sink *s)
{
    atomic_fetch_add_explicit(&s->inst->stats.in, s->uncounted, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->inst->stats.out, s->unpublished_out, memory_order_relaxed);
    s->uncounted = s->unpublished_out = 0;
}

enum { IN_FLIGHT_STEP = 64 };

/* What every message an input hands over gets: its ack token, its default
 * route, its trace context, and a place in the input's count. */
static void admit(struct sl_input_sink *s, struct sl_msg *m)
{
    struct sl_instance *in = s->inst;
    sl__msg_private(m)->read_ns = sl__coarse_now_ns();
    /* Without acks (generator, stdin) a token is kept only when /metrics
     * shows the read-to-finished latency it measures. */
    if (in->plugin->delivered || s->pl->metrics_listen) {
        sl__msg_private(m)->ack = sl__ack_new(in, m);
        /* One shared atomic per 64 messages, not per message (the ack
         * side subtracts per delivery batch); added before the message can
         * finish, so the gauge never dips below the truth. */
        if (!s->in_flight_credit) {
            atomic_fetch_add_explicit(&in->in_flight, IN_FLIGHT_STEP, memory_order_relaxed);
            s->in_flight_credit = IN_FLIGHT_STEP;
        }
        s->in_flight_credit--;
    }
    if (!m->route)
        m->route = in->name;
    start_trace(m);
    s->uncounted++;
}

int sl_sink_emit(struct sl_input_sink *s, struct sl_msg *m)
{
    admit(s, m);
    sl__emitter_put(&s->em, m);
    s->unpublished_out++;
    if ((s->em.emitted & 63) == 0) {
        publish_counts(s);
        sl__emitter_flush(&s->em, false);
    }
    return atomic_load_explicit(&s->pl->stopping, memory_order_relaxed) ? SL_STOPPED : SL_OK;
}

void sl_sink_reject(struct sl_input_sink *s, struct sl_msg *m, const char *error)
{
    admit(s, m);
    sl__failure(&s->em, s->inst, s->inst->name, m, error ? error : "rejected by the input", false);
}

void sl_sink_flush(struct sl_input_sink *s)
{
    publish_counts(s);
    /* an idle input's in_flight is exact */
    atomic_fetch_sub_explicit(&s->inst->in_flight, s->in_flight_credit, memory_order_relaxed);
    s->in_flight_credit = 0;
    sl__emitter_flush(&s->em, true);
    sl__ack_flush();
}

bool sl_sink_writable(struct sl_input_sink *s)
{
    for (unsigned i = 0; i < s->em.nslots; i++)
        if (!sl__queue_writable(s->em.slot_q[i]))
            return false;
    return true;
}

bool sl_sink_wait(struct sl_input_sink *s, int timeout_ms)
{
    for (unsigned i = 0; i < s->em.nslots; i++)
        if (!sl__queue_wait_writable(s->em.slot_q[i], timeout_ms))
            return false;
    return true;
}

bool sl_sink_stopping(const struct sl_input_sink *s)
{
    return atomic_load_explicit(&s->pl->stopping, memory_order_relaxed);
}
