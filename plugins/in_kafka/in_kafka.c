/* in_kafka.c - Kafka consumer input: consumer groups, at-least-once commits, backpressure.
 *
 * Each worker is one group member (its own rd_kafka_t). Offsets are committed
 * per partition up to the highest contiguous delivered offset (ktrack), on an
 * interval, on revoke and at shutdown; auto commit is off. When the pipeline is
 * full for a while the worker pauses its partitions and keeps polling.
 *
 * Lock order: w->lock is a leaf; never call librdkafka while holding it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kconf.h"
#include "monotime.h"
#include "ktrack.h"

#define MAX_WORKERS     256
#define PAUSE_AFTER_MS  200   /* a stall this long pauses the partitions */
#define BATCH           256   /* messages taken from the consumer queue at once */
#define COMMIT_WAIT_MS  5000  /* a synchronous commit gives up after this */
#define FINAL_COMMIT_MS 10000 /* the last commit is retried this long */
#define CLOSE_WAIT_MS   10000 /* leaving the group gives up after this */
/* Once the final drain is over, committing and leaving the group share this
 * much time in all, so that a stop (drain_timeout_ms + this) fits a 30 s grace
 * period even when the brokers cannot be reached. */
#define STOP_BUDGET_MS 5000

/* cookie = worker (8 bits) | slot (24 bits) | slot generation (32 bits) */
#define COOKIE(w, s, g) ((uint64_t)(w) << 56 | (uint64_t)((s)&0xffffff) << 32 | (uint32_t)(g))

struct kpart {
    char *topic;
    int32_t partition;
    uint32_t gen; /* bumped whenever the slot's tracking restarts */
    bool assigned;
    bool eof;
    struct ktrack t;
};

struct kctx;

struct kworker {
    struct kbase base; /* first: librdkafka opaque */
    struct kctx *ctx;
    unsigned index;
    rd_kafka_t *rk;
    struct sl_input_sink *sink; /* while run() runs */
    pthread_mutex_t lock;       /* guards parts[].t, gen, assigned; n_parts and parts */
    pthread_cond_t progress;    /* a tracker moved */
    struct kpart *parts;
    size_t n_parts, cap_parts;
    size_t last; /* slot of the previous message */
    size_t n_assigned;
    bool paused;
    bool closing;          /* consumer_close: nothing more will be delivered */
    bool eof_seen;         /* a partition reached its end since the last check */
    bool empty_assignment; /* the last assignment left this worker nothing */
    bool left;             /* left the group (end of run) */
    bool left_cleanly;
    bool drained;          /* the final drain is over: a revoke commits at once */
    int64_t stop_deadline; /* monotime_ms by which committing and leaving end; 0: none */
    atomic_bool commit_failed;
    int64_t next_commit_ms;
    struct sl_counter *c_msgs, *c_commits, *c_pauses;
};

struct kctx {
    const struct sl_instance *inst;
    rd_kafka_conf_t *conf; /* template; each worker dups it */
    bool exit_on_eof;
    int64_t commit_interval_ms;
    int64_t drain_timeout_ms;
    atomic_bool stopping;
    struct kworker *workers[MAX_WORKERS];
};

static const char *const offset_resets[] = {"earliest", "latest", NULL};

static const struct sl_option options[] = {
    {.name = "brokers",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "bootstrap servers, \"host:port,host:port\""},
    {.name = "topics",
     .type = SL_OPT_LIST,
     .required = true,
     .check = SL_CHECK_NAME_OR_REGEX,
     .doc = "topic names; a name starting with ^ is a regex"},
    {.name = "group",
     .type = SL_OPT_STRING,
     .def = "sluice",
     .check = SL_CHECK_NONEMPTY,
     .doc = "consumer group id"},
    {.name = "auto_offset_reset",
     .type = SL_OPT_STRING,
     .def = "earliest",
     .allowed = offset_resets,
     .doc = "where to start without a committed offset"},
    {.name = "exit_on_eof",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "stop once every assigned partition is at its end"},
    {.name = "properties", .type = SL_OPT_LIST, .doc = "librdkafka settings, \"key=value\" each"},
    {.name = "commit_interval_ms",
     .type = SL_OPT_INT,
     .def = "1000",
     .check = SL_CHECK_DURATION_MS,
     SL_RANGE(0, 3600000),
     .doc = "how often delivered offsets are committed"},
    {.name = "drain_timeout_ms",
     .type = SL_OPT_INT,
     .def = "20000",
     .check = SL_CHECK_DURATION_MS,
     SL_RANGE(0, 3600000),
     .doc = "on revoke and at stop, how long to wait for in-flight messages before committing "
            "(a stop takes about this + 5 s at most)"},
    {0},
};

static int kafka_init(struct sl_instance *inst, void **out)
{
    const char *reset = sl_opt_str(inst, "auto_offset_reset");
    bool eof = sl_opt_bool(inst, "exit_on_eof");
    /* Our defaults first; properties may override them, except the commit mode
     * that at-least-once depends on, which is set again below. */
    const char *defaults[] = {
        "group.id", sl_opt_str(inst, "group"), "auto.offset.reset", reset, "enable.partition.eof",
        eof ? "true" : "false", "log.connection.close", "false",
        /* librdkafka 2.0 stops fetching for a fixed 1 s once
         * the consumer queue passes either limit: keep the
         * count limit out of the way, bound the bytes. */
        "queued.min.messages", "1000000", "queued.max.messages.kbytes", "32768", NULL};
    rd_kafka_conf_t *conf = kconf_new(inst, defaults);
    if (!conf)
        return SL_ERROR;
    char errstr[256];
    if (rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, sizeof(errstr))) {
        sl_instance_error(inst, "kafka: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return SL_ERROR;
    }
    if (kconf_check(inst, conf, RD_KAFKA_CONSUMER) < 0) {
        rd_kafka_conf_destroy(conf);
        return SL_ERROR;
    }
    struct kctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        rd_kafka_conf_destroy(conf);
        return SL_ERROR;
    }
    ctx->inst = inst;
    ctx->conf = conf;
    ctx->exit_on_eof = eof;
    ctx->commit_interval_ms = sl_opt_int(inst, "commit_interval_ms");
    ctx->drain_timeout_ms = sl_opt_int(inst, "drain_timeout_ms");
    *out = ctx;
    return 0;
}

static void kafka_destroy(void *p)
{
    struct kctx *ctx = p;
    if (!ctx)
        return;
    rd_kafka_conf_destroy(ctx->conf);
    free(ctx);
}

/* ---- partition slots ---- */

/* Slot for topic/partition, created if new. Run thread; takes the lock to grow. */
static struct kpart *slot_get(struct kworker *w, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < w->n_parts; i++)
        if (w->parts[i].partition == partition && strcmp(w->parts[i].topic, topic) == 0)
            return &w->parts[i];
    if (w->n_parts >= 0xffffff)
        return NULL;
    char *name = strdup(topic);
    if (!name)
        return NULL;
    pthread_mutex_lock(&w->lock);
    if (w->n_parts == w->cap_parts) {
        size_t ncap = w->cap_parts ? w->cap_parts * 2 : 16;
        struct kpart *n = realloc(w->parts, ncap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&w->lock);
            free(name);
            return NULL;
        }
        w->parts = n;
        w->cap_parts = ncap;
    }
    struct kpart *p = &w->parts[w->n_parts++];
    memset(p, 0, sizeof(*p));
    p->topic = name;
    p->partition = partition;
    ktrack_init(&p->t);
    pthread_mutex_unlock(&w->lock);
    return p;
}

/* ---- commits ---- */

/* want_ms, or less when the stop deadline is nearer (never below 0). */
static int bounded_ms(const struct kworker *w, int want_ms)
{
    if (!w->stop_deadline)
        return want_ms;
    int64_t left = w->stop_deadline - monotime_ms();
    return left <= 0 ? 0 : left < want_ms ? (int)left : want_ms;
}

/* Commit list and wait up to timeout_ms for the answer (rd_kafka_commit's
 * synchronous mode waits as long as the coordinator is unreachable). */
static rd_kafka_resp_err_t commit_wait(struct kworker *w, rd_kafka_topic_partition_list_t *list,
                                       int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(w->rk, list, q, NULL, NULL);
    if (!err) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
        if (!ev) {
            err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        } else {
            err = rd_kafka_event_error(ev);
            const rd_kafka_topic_partition_list_t *res = rd_kafka_event_topic_partition_list(ev);
            for (int i = 0; !err && res && i < res->cnt; i++)
                err = res->elems[i].err;
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    return err;
}

/* Commit every partition whose commit point moved (or all `only` lists). */
static int commit_now(struct kworker *w, const rd_kafka_topic_partition_list_t *only, bool sync)
{
    int rc = 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    /* An async commit may still fail (its callback comes later): synchronous
     * commits (revoke, exit) send every commit point again. */
    bool resend = atomic_exchange(&w->commit_failed, false) || sync;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_parts; i++) {
        struct kpart *p = &w->parts[i];
        if (!p->assigned || p->t.commit < 0 || (!resend && !ktrack_dirty(&p->t)))
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = p->t.commit;
        p->t.committed = p->t.commit;
    }
    pthread_mutex_unlock(&w->lock);
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = sync ? commit_wait(w, list, bounded_ms(w, COMMIT_WAIT_MS))
                                       : rd_kafka_commit(w->rk, list, 1);
        if (err && sync) {
            sl_log(w->base.inst, SL_LOG_WARN, "kafka: commit of %d partitions failed: %s",
                   list->cnt, rd_kafka_err2str(err));
            atomic_store(&w->commit_failed, true);
            rc = -1;
        } else if (!err) {
            sl_counter_add(w->c_commits, 1);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* The last commit before leaving: worth a few tries on transient errors. */
static void commit_final(struct kworker *w)
{
    int64_t end = monotime_ms() + bounded_ms(w, FINAL_COMMIT_MS);
    while (commit_now(w, NULL, true) != 0 && monotime_ms() < end) {
        struct timespec ts = {0, 300 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void maybe_commit(struct kworker *w)
{
    int64_t now = monotime_ms();
    if (now < w->next_commit_ms)
        return;
    w->next_commit_ms = now + w->ctx->commit_interval_ms;
    commit_now(w, NULL, false);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    struct kworker *w = opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        sl_log(w->base.inst, SL_LOG_WARN, "kafka: offset commit failed: %s (will resend)",
               rd_kafka_err2str(err));
        atomic_store(&w->commit_failed, true);
    }
}

/* ---- delivery ---- */

static void kafka_delivered(void *p, const struct sl_delivery *d, size_t n)
{
    struct kctx *ctx = p;
    struct kworker *w = NULL;
    for (size_t i = 0; i < n; i++) {
        struct kworker *dw = ctx->workers[d[i].cookie >> 56];
        if (!dw)
            continue;
        if (dw != w) {
            if (w) {
                pthread_cond_broadcast(&w->progress);
                pthread_mutex_unlock(&w->lock);
            }
            w = dw;
            pthread_mutex_lock(&w->lock);
        }
        size_t s = (size_t)(d[i].cookie >> 32) & 0xffffff;
        if (s >= w->n_parts)
            continue;
        struct kpart *kp = &w->parts[s];
        if (kp->gen != (uint32_t)d[i].cookie || !kp->assigned)
            continue; /* revoked since: its new owner reads it again */
        ktrack_done(&kp->t, d[i].offset);
    }
    if (w) {
        pthread_cond_broadcast(&w->progress);
        pthread_mutex_unlock(&w->lock);
    }
}

/* Wait until the listed partitions (all when NULL) have nothing in flight, or
 * the drain timeout passes. The messages must reach the pipeline first. */
static void drain_wait(struct kworker *w, const rd_kafka_topic_partition_list_t *only)
{
    if (w->sink)
        sl_sink_flush(w->sink);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (w->ctx->drain_timeout_ms % 1000) * 1000000;
    until.tv_sec += w->ctx->drain_timeout_ms / 1000 + ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        size_t busy = 0;
        for (size_t i = 0; i < w->n_parts; i++) {
            struct kpart *p = &w->parts[i];
            if (p->assigned && p->t.count > 0 &&
                (!only || rd_kafka_topic_partition_list_find(only, p->topic, p->partition)))
                busy += p->t.count;
        }
        if (busy == 0)
            break;
        if (pthread_cond_timedwait(&w->progress, &w->lock, &until) != 0) {
            sl_log(w->base.inst, SL_LOG_WARN,
                   "kafka: %zu messages still in flight after %" PRId64
                   " ms; committing what is delivered",
                   busy, w->ctx->drain_timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
}

/* ---- rebalance ---- */

static void log_parts(struct kworker *w, const char *what,
                      const rd_kafka_topic_partition_list_t *parts)
{
    char buf[1024];
    size_t len = 0;
    if (parts->cnt == 0)
        return; /* cooperative rebalances that leave this member alone */
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && len < sizeof(buf) - 64; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s[%" PRId32 "]", i ? " " : "",
                                parts->elems[i].topic, parts->elems[i].partition);
    sl_log(w->base.inst, SL_LOG_INFO, "kafka: worker %u %s %d partitions: %s", w->index, what,
           parts->cnt, buf);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kworker *w = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            struct kpart *p = slot_get(w, parts->elems[i].topic, parts->elems[i].partition);
            if (!p)
                continue;
            pthread_mutex_lock(&w->lock);
            if (!p->assigned)
                w->n_assigned++;
            p->gen++;
            p->assigned = true;
            p->eof = false;
            ktrack_reset(&p->t);
            pthread_mutex_unlock(&w->lock);
        }
        log_parts(w, "assigned", parts);
        w->empty_assignment = w->n_assigned == 0;
        rd_kafka_error_t *e = NULL;
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e) {
            sl_log(w->base.inst, SL_LOG_ERROR, "kafka: assign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        return;
    }

    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        bool lost = rd_kafka_assignment_lost(rk);
        log_parts(w, lost ? "lost" : "revoked", parts);
        if (!lost) {
            /* Let what is in flight finish, so the next owner does not redo it
             * (at stop, run() has drained already). */
            if (!w->closing && !w->drained)
                drain_wait(w, parts);
            commit_now(w, parts, true);
        }
    } else {
        sl_log(w->base.inst, SL_LOG_ERROR, "kafka: rebalance error: %s", rd_kafka_err2str(err));
    }
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_parts; i++) {
        struct kpart *p = &w->parts[i];
        if (!p->assigned ||
            (parts && !rd_kafka_topic_partition_list_find(parts, p->topic, p->partition)))
            continue;
        p->assigned = false;
        p->gen++;
        ktrack_reset(&p->t);
        w->n_assigned--;
    }
    pthread_mutex_unlock(&w->lock);
    if (coop && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- worker ---- */

static int kafka_worker_init(void *p, unsigned index, void **out)
{
    struct kctx *ctx = p;
    struct kworker *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->base.inst = ctx->inst;
    w->base.worker = index;
    w->ctx = ctx;
    w->index = index;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->progress, NULL);
    w->c_msgs = sl_counter_get(ctx->inst, "kafka_messages");
    w->c_commits = sl_counter_get(ctx->inst, "kafka_commits");
    w->c_pauses = sl_counter_get(ctx->inst, "kafka_pauses");
    *out = w;
    if (sl_instance_checking(ctx->inst))
        return 0;

    char errstr[512];
    sl_instance_set_ready(ctx->inst, index, false, "kafka: connecting");
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(ctx->conf);
    rd_kafka_conf_set_opaque(conf, w);
    kconf_set_logging(conf);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!w->rk) {
        sl_log(ctx->inst, SL_LOG_ERROR, "kafka: cannot create consumer: %s", errstr);
        goto out_free;
    }
    rd_kafka_poll_set_consumer(w->rk);
    size_t n = sl_opt_list_len(ctx->inst, "topics");
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, sl_opt_list_item(ctx->inst, "topics", i),
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        sl_log(ctx->inst, SL_LOG_ERROR, "kafka: subscribe: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(w->rk);
        goto out_free;
    }
    ctx->workers[index] = w;
    return 0;

out_free:
    pthread_cond_destroy(&w->progress);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *out = NULL;
    return SL_ERROR;
}

static bool any_dirty(struct kworker *w)
{
    bool dirty = false;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_parts && !dirty; i++)
        dirty = w->parts[i].assigned && ktrack_dirty(&w->parts[i].t);
    pthread_mutex_unlock(&w->lock);
    return dirty;
}

/* Leave the group (revoke: commit; then leave), giving up after CLOSE_WAIT_MS
 * when the coordinator cannot be reached. True when closed. */
static bool close_consumer(struct kworker *w)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(w->rk, q);
    bool closed = false;
    if (e) {
        sl_log(w->base.inst, SL_LOG_WARN, "kafka: close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else {
        int64_t end = monotime_ms() + bounded_ms(w, CLOSE_WAIT_MS);
        while (!(closed = rd_kafka_consumer_closed(w->rk)) && monotime_ms() < end) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (!ev)
                continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(
                    w->rk, rd_kafka_event_error(ev),
                    (rd_kafka_topic_partition_list_t *)rd_kafka_event_topic_partition_list(ev), w);
            rd_kafka_event_destroy(ev);
        }
        if (!closed)
            sl_log(w->base.inst, SL_LOG_WARN,
                   "kafka: worker %u could not leave the group in time (brokers unreachable?)",
                   w->index);
    }
    rd_kafka_queue_destroy(q);
    return closed;
}

/* Commit what moved since run() ended, and leave the group. */
static void leave(struct kworker *w)
{
    if (w->left)
        return;
    if (any_dirty(w) && bounded_ms(w, COMMIT_WAIT_MS) > 0)
        commit_now(w, NULL, true);
    w->closing = true;
    w->left = true;
    w->left_cleanly = close_consumer(w);
}

static void kafka_worker_destroy(void *p)
{
    struct kworker *w = p;
    if (!w)
        return;
    if (w->rk) {
        leave(w);
        w->ctx->workers[w->index] = NULL;
        if (!w->left_cleanly && w->stop_deadline) {
            /* The brokers cannot be reached: librdkafka 2.0's destroy would
             * wait out the group session (45 s by default) whatever the
             * flags. The process is stopping; leave the client to its exit,
             * with its opaque kept and no instance to log for. */
            sl_log(w->base.inst, SL_LOG_DEBUG,
                   "kafka: worker %u: client left to the process exit (brokers unreachable)",
                   w->index);
            w->base.inst = NULL;
            return;
        }
        if (w->left_cleanly)
            rd_kafka_destroy(w->rk);
        else
            rd_kafka_destroy_flags(w->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    for (size_t i = 0; i < w->n_parts; i++) {
        free(w->parts[i].topic);
        ktrack_free(&w->parts[i].t);
    }
    free(w->parts);
    pthread_cond_destroy(&w->progress);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void set_paused(struct kworker *w, bool pause)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    if (rd_kafka_assignment(w->rk, &list) == 0 && list) {
        if (list->cnt > 0) {
            if (pause)
                rd_kafka_pause_partitions(w->rk, list);
            else
                rd_kafka_resume_partitions(w->rk, list);
        }
        rd_kafka_topic_partition_list_destroy(list);
    }
    w->paused = pause;
}

/* With exit_on_eof: every assigned partition is at its end, or the group gave
 * this worker nothing (more workers or members than partitions). */
static bool all_eof(struct kworker *w)
{
    if (w->n_assigned == 0)
        return w->empty_assignment;
    for (size_t i = 0; i < w->n_parts; i++)
        if (w->parts[i].assigned && !w->parts[i].eof)
            return false;
    return true;
}

/* Slot index for a consumed message (the previous one's, usually). SIZE_MAX
 * when out of memory. */
static size_t slot_of(struct kworker *w, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    struct kpart *p = w->last < w->n_parts ? &w->parts[w->last] : NULL;
    if (!p || p->partition != rkm->partition || strcmp(p->topic, topic) != 0) {
        p = slot_get(w, topic, rkm->partition);
        if (!p)
            return SIZE_MAX;
        w->last = (size_t)(p - w->parts);
    }
    return w->last;
}

/* Turn one consumed message of slot s into a pipeline message. Returns the emit
 * status. Its offset is tracked already. */
static int emit(struct kworker *w, struct sl_input_sink *sink, rd_kafka_message_t *rkm, size_t s)
{
    struct kpart *p = &w->parts[s];
    struct sl_msg *m = sl_sink_msg(sink);
    if (sl_buf_set(&m->payload, rkm->payload, rkm->len) != 0)
        goto out_oom;
    if (rkm->key) {
        if (sl_buf_set(&m->key, rkm->key, rkm->key_len) != 0)
            goto out_oom;
        m->has_key = true;
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t len;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &len) == 0; i++)
            if (sl_msg_set_header(m, name, val ? val : "", val ? len : 0) != 0)
                goto out_oom;
    }
    m->source.name = p->topic; /* lives until the worker is destroyed */
    m->source.partition = rkm->partition;
    m->source.offset = rkm->offset;
    m->source.timestamp_ms = rd_kafka_message_timestamp(rkm, NULL);
    m->cookie = COOKIE(w->index, s, p->gen);
    return sl_sink_emit(sink, m);

out_oom:
    sl_msg_release(m);
    sl_log(w->base.inst, SL_LOG_ERROR, "kafka: out of memory");
    return SL_ERROR;
}

#define NO_SLOT SIZE_MAX

static int handle_event(struct kworker *w, rd_kafka_message_t *rkm);

/* Emit a batch of consumed messages: track their offsets under one lock, then
 * hand them on. Destroys every message. Returns 0, SL_STOPPED or SL_ERROR. */
static int emit_batch(struct kworker *w, struct sl_input_sink *sink, rd_kafka_message_t **rkms,
                      size_t n)
{
    size_t slots[BATCH];
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        slots[i] = NO_SLOT;
        if (!rkms[i]->err && (slots[i] = slot_of(w, rkms[i])) == NO_SLOT)
            rc = SL_ERROR;
    }
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (slots[i] == NO_SLOT)
            continue;
        struct kpart *p = &w->parts[slots[i]];
        int64_t off = rkms[i]->offset;
        /* Stragglers of a revoked partition are its new owner's; offsets
         * already emitted in this assignment are tracked already. */
        if (!p->assigned || (p->t.count > 0 && off <= p->t.last) || off < p->t.commit)
            slots[i] = NO_SLOT;
        else if (ktrack_push(&p->t, off) != 0)
            rc = SL_ERROR;
        else
            p->eof = false;
    }
    pthread_mutex_unlock(&w->lock);
    if (rc != 0)
        sl_log(w->base.inst, SL_LOG_ERROR, "kafka: out of memory");
    size_t emitted = 0;
    /* Every tracked offset is emitted, also after SL_STOPPED (the pipeline
     * takes them all): one tracked but never emitted would hold the final
     * drain for its whole timeout. */
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && rkms[i]->err) {
            rc = handle_event(w, rkms[i]);
        } else if ((rc == 0 || rc == SL_STOPPED) && slots[i] != NO_SLOT) {
            int st = emit(w, sink, rkms[i], slots[i]);
            if (st != 0 && rc == 0)
                rc = st;
            emitted++;
        }
        rd_kafka_message_destroy(rkms[i]);
    }
    sl_counter_add(w->c_msgs, (int64_t)emitted);
    return rc;
}

/* A consumer event that is not a message (end of partition, error). Returns 0,
 * or SL_ERROR when fatal. */
static int handle_event(struct kworker *w, rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (rkm->rkt) {
            struct kpart *p = slot_get(w, rd_kafka_topic_name(rkm->rkt), rkm->partition);
            if (p)
                p->eof = true;
            w->eof_seen = true;
        }
        return 0;
    }
    sl_log(w->base.inst, SL_LOG_WARN, "kafka: consume %s[%" PRId32 "]: %s",
           rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "-", rkm->partition,
           rd_kafka_message_errstr(rkm));
    return rkm->err == RD_KAFKA_RESP_ERR__FATAL ? SL_ERROR : 0;
}

/* The pipeline is full: wait for room, pausing the partitions if it lasts, and
 * keep serving the consumer (rebalances, commits). Returns false to stop. */
static bool wait_room(struct kworker *w, struct sl_input_sink *sink)
{
    int64_t since = monotime_ms();
    rd_kafka_message_t *held = NULL;
    while (!atomic_load(&w->ctx->stopping) && !sl_sink_stopping(sink)) {
        if (sl_sink_wait(sink, 50))
            break;
        if (!w->paused && monotime_ms() - since >= PAUSE_AFTER_MS) {
            set_paused(w, true);
            sl_counter_add(w->c_pauses, 1);
            sl_log(w->base.inst, SL_LOG_DEBUG, "kafka: pipeline full, partitions paused");
        }
        if (w->paused && !held)
            held = rd_kafka_consumer_poll(w->rk, 0); /* serves callbacks */
        maybe_commit(w);
    }
    if (w->paused)
        set_paused(w, false);
    if (held && emit_batch(w, sink, &held, 1) != 0)
        return false;
    return true;
}

static int kafka_run(void *p, struct sl_input_sink *sink)
{
    struct kworker *w = p;
    struct kctx *ctx = w->ctx;
    int rc = 0;
    bool pending = false; /* emitted since the last flush */
    unsigned polls = 0;

    w->sink = sink;
    w->next_commit_ms = monotime_ms() + ctx->commit_interval_ms;
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(w->rk);
    rd_kafka_message_t *batch[BATCH];
    while (!atomic_load(&ctx->stopping) && !sl_sink_stopping(sink)) {
        if (!sl_sink_writable(sink) && !wait_room(w, sink))
            break;
        /* Take what is there; when nothing is, push the partial batch on
         * and block for the next message. */
        ssize_t n = rd_kafka_consume_batch_queue(q, 0, batch, BATCH);
        if (n <= 0) {
            if (pending) {
                sl_sink_flush(sink);
                pending = false;
            }
            maybe_commit(w);
            if (ctx->exit_on_eof && all_eof(w))
                break;
            batch[0] = rd_kafka_consumer_poll(w->rk, 100);
            n = batch[0] ? 1 : 0;
            if (n == 0)
                continue;
        }
        rc = emit_batch(w, sink, batch, (size_t)n);
        if (rc == SL_STOPPED) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        pending = true;
        if ((polls += (unsigned)n) >= 4096) {
            polls = 0;
            maybe_commit(w);
        }
        if (ctx->exit_on_eof && w->eof_seen) {
            w->eof_seen = false;
            if (all_eof(w))
                break;
        }
    }
    rd_kafka_queue_destroy(q);
    /* Stop fetching, let the pipeline deliver what we emitted, commit it. */
    set_paused(w, true);
    int64_t drain_start = monotime_ms();
    drain_wait(w, NULL);
    w->drained = true;
    w->stop_deadline = monotime_ms() + STOP_BUDGET_MS;
    sl_log(w->base.inst, SL_LOG_DEBUG, "kafka: worker %u drained in %" PRId64 " ms", w->index,
           monotime_ms() - drain_start);
    commit_final(w);
    w->sink = NULL;
    /* Leave the group now: a member that no longer polls must not be handed
     * partitions by a later rebalance. The revoke is served here, on the
     * normal callback path; what is polled meanwhile is not emitted. */
    rd_kafka_unsubscribe(w->rk);
    int64_t end = monotime_ms() + bounded_ms(w, CLOSE_WAIT_MS);
    while (w->n_assigned > 0 && monotime_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    sl_log(w->base.inst, SL_LOG_DEBUG,
           "kafka: worker %u committed and unsubscribed in %" PRId64 " ms", w->index,
           monotime_ms() - (w->stop_deadline - STOP_BUDGET_MS));
    if (rc == 0 && ctx->exit_on_eof)
        sl_log(w->base.inst, SL_LOG_INFO, "kafka: worker %u reached the end of its partitions",
               w->index);
    return rc;
}

static void kafka_stop(void *p)
{
    struct kctx *ctx = p;
    atomic_store(&ctx->stopping, true);
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "kafka",
    .version = "0.1.0",
    .doc = "Kafka consumer (librdkafka): consumer groups, at-least-once offset commits",
    .options = options,
    .max_workers = MAX_WORKERS, /* one consumer handle per worker, kept in ctx->workers */
    .init = kafka_init,
    .destroy = kafka_destroy,
    .worker_init = kafka_worker_init,
    .worker_destroy = kafka_worker_destroy,
    .run = kafka_run,
    .stop = kafka_stop,
    .delivered = kafka_delivered,
};
