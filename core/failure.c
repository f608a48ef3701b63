/* failure.c - the one failure path. Whoever reports a failed message (an
 * input's sl_sink_reject, a codec's decode or encode, a handler's sl_fail,
 * an output's sl_out_done with SL_RETRY or SL_ERROR), it comes here, and
 * here alone are its attempts counted, its retry or dead letter decided,
 * its counters moved, its x-sluice-* headers written and the failure
 * logged (throttled).
 *
 * The rule: `attempts` is the number of failed tries at the failing stage.
 * Every failure is one more. A transient failure (handler, output SL_RETRY)
 * is retried with backoff while attempts < max_attempts; a final one (the
 * input cannot hand the message on, a codec cannot decode or encode it, an
 * output refuses it with SL_ERROR) would fail the same way again, so it is
 * dead-lettered at once with x-sluice-attempts: 1. The dead-letter output
 * itself never gives up: it retries forever and stops acking. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine.h"

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

/* Into the worker's own retry list, sorted by due time. */
static void retry_later(struct sl__worker *w, struct sl_msg *m)
{
    struct sl__msg *pm = sl__msg_private(m);
    pm->due_ns = sl__now_ns() + backoff_ns(w->stage->inst, m->attempts);
    struct sl__msg **p = &w->retry;
    while (*p && (*p)->due_ns <= pm->due_ns)
        p = &(*p)->next;
    pm->next = *p;
    *p = pm;
    w->n_retry++;
    if (w->ordered)
        sl__ordered_retrying(w->ordered, m); /* its key's later messages wait */
    atomic_fetch_add_explicit(&w->stage->inst->stats.retried, 1, memory_order_relaxed);
}

/* Log one failure line (with m's trace id) unless the flood of them is
 * being thinned out. */
static void log_throttled(struct sl__throttle *t, int level, const struct sl_instance *inst,
                          const char *stage, const struct sl_msg *m, const char *what,
                          const char *error)
{
    uint64_t suppressed;
    if (!sl__throttle_pass(t, &suppressed))
        return;
    char more[96] = "";
    if (suppressed)
        snprintf(more, sizeof(more), " (%llu similar lines suppressed)",
                 (unsigned long long)suppressed);
    /* the stage only when the instance's name does not say it (a decode stage) */
    bool same = strcmp(stage, inst->name) == 0;
    sl__log_msg_unlimited(inst, level, m, "%s%smessage %s:%lld %s: %s%s", same ? "" : stage,
                          same ? "" : ": ", m->source.name ? m->source.name : "-",
                          (long long)m->source.offset, what, error, more);
}

/* Headers, count, log, and into the dead-letter stage's queue; or, with no
 * dead_letter configured, counted as discarded and finished as failed. */
static void dead_letter(struct sl_emitter *e, struct sl_instance *inst, const char *stage,
                        struct sl_msg *m, const char *error)
{
    struct sl__pipeline *pl = e->pl;
    if (!pl->dlq_link && pl->failure_mode == SL__FAILURE_STOP) {
        /* Not acknowledged: the source keeps it (a Kafka commit stays below
         * it) and sends it again once the cause is fixed. */
        sl_log_msg(inst, SL_LOG_ERROR, m,
                   "%s: message %s:%lld failed: %s; failure = \"stop\": stopping the pipeline "
                   "without acknowledging it",
                   stage, m->source.name ? m->source.name : "-", (long long)m->source.offset,
                   error);
        atomic_store(&pl->fatal, 1);
        sl__pipeline_stop(pl);
        sl__msg_recycle(m); /* its share of the ack is never given back */
        return;
    }
    if (!pl->dlq_link) {
        atomic_fetch_add_explicit(&inst->stats.discarded, 1, memory_order_relaxed);
        log_throttled(&pl->log_discarded, SL_LOG_ERROR, inst, stage, m,
                      "discarded (no dead_letter configured)", error);
        sl__msg_finish(m, true);
        return;
    }
    char attempts[16], when[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(attempts, sizeof(attempts), "%u", m->attempts);
    char trace[33];
    sl__trace_id_hex(m, trace);
    if (sl_msg_set_header(m, "x-sluice-error", error, strlen(error)) < 0 ||
        sl_msg_set_header(m, "x-sluice-trace-id", trace, 32) < 0 ||
        sl_msg_set_header(m, "x-sluice-stage", stage, strlen(stage)) < 0 ||
        sl_msg_set_header(m, "x-sluice-attempts", attempts, strlen(attempts)) < 0 ||
        sl_msg_set_header(m, "x-sluice-failed-at", when, strlen(when)) < 0)
        sl_log_msg(inst, SL_LOG_WARN, m, "%s: out of memory adding dead-letter headers", stage);
    sl__msg_private(m)->dead_from = inst; /* counted once the dead-letter output confirms */
    log_throttled(&pl->log_dead, SL_LOG_WARN, inst, stage, m, "dead-lettered", error);
    m->attempts = 0; /* the dead-letter output counts its own attempts */
    sl__emitter_put_dead(e, m);
}

void sl__failure(struct sl_emitter *e, struct sl_instance *inst, const char *stage,
                 struct sl_msg *m, const char *error, bool transient)
{
    struct sl__worker *w = e->w;
    if (!error || !*error)
        error = "failed";
    if (sl__tracing)
        sl__trace_failed(w, inst, stage, m, error);
    m->attempts++;
    if (w && w->stage->kind == SL__STAGE_DLQ) {
        /* The dead-letter output never drops: retry forever, stop acking. */
        log_throttled(&e->pl->log_dlq_retry, SL_LOG_ERROR, inst, stage, m,
                      "dead-letter write failed, retrying", error);
        retry_later(w, m);
    } else if (transient && w && m->attempts < inst->max_attempts) {
        char what[80];
        snprintf(what, sizeof(what), "failed (attempt %u of %u), retrying", m->attempts,
                 (unsigned)inst->max_attempts);
        log_throttled(&e->pl->log_retry, SL_LOG_INFO, inst, stage, m, what, error);
        retry_later(w, m);
    } else {
        dead_letter(e, inst, stage, m, error);
    }
}
