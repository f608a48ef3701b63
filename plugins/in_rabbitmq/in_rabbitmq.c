/* in_rabbitmq.c - RabbitMQ consumer input: manual, batched acks after
 * delivery; reconnect with backoff; backpressure through prefetch.
 *
 * Each worker owns one connection with one channel and one consumer
 * (competing consumers inside one process). A delivery is acked only once
 * the pipeline finished it (outputs confirmed or dead_letter took it), with
 * basic.ack multiple = true up to the highest contiguous finished tag
 * (rtrack). delivered() runs on other threads: it marks tags under the
 * worker's lock and wakes the worker through an eventfd; only the worker
 * thread touches the connection. Cookies carry the connection generation:
 * a tag from a connection that is gone is never acked on its successor (the
 * broker redelivers those messages instead).
 *
 * Lock order: w->lock is a leaf; never call librabbitmq while holding it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "consume.h"
#include "rmq_conn.h"
#include "rtrack.h"

#define MAX_WORKERS 256
/* cookie: rtrack_cookie (worker and connection generation); the delivery
 * tag travels as the message's source offset */
#define WAIT_MAX_MS 1000 /* longest sleep between checks when idle */

struct rctx;

struct rworker {
    struct rctx *ctx;
    unsigned index;
    struct rmq_conn conn;
    int wake_fd;           /* eventfd: acks to send, or stop */
    atomic_bool wake_sent; /* a wake is pending in wake_fd */
    pthread_mutex_t lock;  /* guards track (the worker thread alone writes its gen) */
    struct rtrack track;
    char consumer_tag[256]; /* as the broker confirmed it */
    bool flush_pending;     /* emitted since the last sl_sink_flush */
    int64_t last_delivery_ms;
    struct sl_buf scratch;
    struct sl_counter *c_msgs, *c_acks, *c_reconnects;
};

struct rctx {
    const struct sl_instance *inst;
    struct rmq_conf conf;
    const char *queue;
    int prefetch;
    const char *consumer_tag;
    int64_t exit_when_idle_ms;
    int64_t drain_timeout_ms;
    atomic_bool stopping;
    struct rworker *workers[MAX_WORKERS];
};

static const struct sl_option options[] = {
    RMQ_CONN_OPTIONS,
    {.name = "queue",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "queue to consume from"},
    {.name = "prefetch",
     .type = SL_OPT_INT,
     .def = "1000",
     SL_RANGE(1, 65535),
     .doc = "basic.qos: deliveries the broker sends ahead of acks, per worker; bounds memory"},
    {.name = "consumer_tag",
     .type = SL_OPT_STRING,
     .def = "",
     .doc = "consumer tag (empty: the broker names it)"},
    {.name = "exit_when_idle_ms",
     .type = SL_OPT_INT,
     .def = "0",
     .check = SL_CHECK_DURATION_MS,
     SL_RANGE(0, 86400000),
     .doc = "stop once no message arrived for this long, then deliver and ack what is in flight "
            "(0: never)"},
    {.name = "drain_timeout_ms",
     .type = SL_OPT_INT,
     .def = "30000",
     .check = SL_CHECK_DURATION_MS,
     SL_RANGE(0, 3600000),
     .doc = "at stop, how long to wait for in-flight messages before closing (the broker "
            "redelivers what is unacked)"},
    {0},
};

static int rabbit_init(struct sl_instance *inst, void **out)
{
    const char *queue = sl_opt_str(inst, "queue");
    struct rctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return SL_ERROR;
    if (rmq_conf_init(&ctx->conf, inst, queue) < 0) {
        free(ctx);
        return SL_ERROR;
    }
    ctx->inst = inst;
    ctx->queue = queue;
    ctx->prefetch = (int)sl_opt_int(inst, "prefetch");
    ctx->consumer_tag = sl_opt_str(inst, "consumer_tag");
    ctx->exit_when_idle_ms = sl_opt_int(inst, "exit_when_idle_ms");
    ctx->drain_timeout_ms = sl_opt_int(inst, "drain_timeout_ms");
    *out = ctx;
    return SL_OK;
}

static void rabbit_destroy(void *p)
{
    struct rctx *ctx = p;
    if (!ctx)
        return;
    rmq_conf_free(&ctx->conf);
    free(ctx);
}

static int rabbit_worker_init(void *p, unsigned index, void **out)
{
    struct rctx *ctx = p;
    struct rworker *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->ctx = ctx;
    w->index = index;
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        free(w);
        return SL_ERROR;
    }
    pthread_mutex_init(&w->lock, NULL);
    rtrack_init(&w->track);
    w->c_msgs = sl_counter_get(ctx->inst, "rabbitmq_messages");
    w->c_acks = sl_counter_get(ctx->inst, "rabbitmq_acks");
    w->c_reconnects = sl_counter_get(ctx->inst, "rabbitmq_reconnects");
    ctx->workers[index] = w;
    *out = w;
    if (!sl_instance_checking(ctx->inst))
        rmq_report(&ctx->conf, index, false, "connecting"); /* run() connects */
    return SL_OK;
}

static void rabbit_worker_destroy(void *p)
{
    struct rworker *w = p;
    if (!w)
        return;
    rmq_close(&w->conn, false);
    w->ctx->workers[w->index] = NULL;
    rtrack_free(&w->track);
    pthread_mutex_destroy(&w->lock);
    close(w->wake_fd);
    sl_buf_free(&w->scratch);
    free(w);
}

static void wake(struct rworker *w)
{
    if (!atomic_exchange(&w->wake_sent, true)) {
        uint64_t one = 1;
        if (write(w->wake_fd, &one, sizeof(one)) < 0) {
            /* the counter cannot overflow with one pending wake */
        }
    }
}

/* Unlocks w, waking its thread when there is something to ack. */
static void release(struct rworker *w)
{
    bool dirty = rtrack_dirty(&w->track);
    pthread_mutex_unlock(&w->lock);
    if (dirty)
        wake(w);
}

static void rabbit_delivered(void *p, const struct sl_delivery *d, size_t n)
{
    struct rctx *ctx = p;
    struct rworker *w = NULL;
    for (size_t i = 0; i < n; i++) {
        struct rworker *dw = ctx->workers[rtrack_cookie_worker(d[i].cookie)];
        if (dw != w) {
            if (w)
                release(w);
            w = dw;
            if (w)
                pthread_mutex_lock(&w->lock);
        }
        if (w) /* a tag of a connection that is gone means nothing on this one */
            rtrack_done_cookie(&w->track, d[i].cookie, (uint64_t)d[i].offset);
    }
    if (w)
        release(w);
}

static void rabbit_stop(void *p)
{
    struct rctx *ctx = p;
    atomic_store(&ctx->stopping, true);
    for (unsigned i = 0; i < MAX_WORKERS; i++)
        if (ctx->workers[i])
            wake(ctx->workers[i]);
}

static bool stopping(struct rworker *w, struct sl_input_sink *sink)
{
    return atomic_load(&w->ctx->stopping) || sl_sink_stopping(sink);
}

/* ---- acks ---- */

/* Sends basic.ack (multiple) up to the contiguous finished tag. */
static int send_acks(struct rworker *w, char *err, size_t errlen)
{
    uint64_t x;
    if (atomic_load(&w->wake_sent)) {
        /* drain the eventfd before clearing, so a wake after this is kept */
        if (read(w->wake_fd, &x, sizeof(x)) < 0) {
            /* nothing pending: fine */
        }
        atomic_store(&w->wake_sent, false);
    }
    pthread_mutex_lock(&w->lock);
    uint64_t upto = rtrack_dirty(&w->track) ? rtrack_ack_point(&w->track) : 0;
    pthread_mutex_unlock(&w->lock);
    if (!upto)
        return RMQ_OK;
    if (amqp_basic_ack(w->conn.st, 1, upto, 1) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "sending ack: connection lost");
        return RMQ_TRANSIENT;
    }
    pthread_mutex_lock(&w->lock);
    w->track.acked = upto;
    pthread_mutex_unlock(&w->lock);
    sl_counter_add(w->c_acks, 1);
    return RMQ_OK;
}

/* ---- connection ---- */

static int connect_consume(struct rworker *w, char *err, size_t errlen)
{
    struct rctx *ctx = w->ctx;
    int rc = rmq_open(&w->conn, &ctx->conf, err, errlen);
    if (rc != RMQ_OK)
        return rc;
    rc = consume_start(w->conn.st, ctx->queue, ctx->prefetch, ctx->consumer_tag, w->consumer_tag,
                       sizeof(w->consumer_tag), err, errlen);
    if (rc != RMQ_OK) {
        rmq_close(&w->conn, false);
        w->conn.failures++;
        return rc;
    }
    pthread_mutex_lock(&w->lock);
    rtrack_reset(&w->track, w->conn.generation);
    pthread_mutex_unlock(&w->lock);
    return RMQ_OK;
}

/* The connection is gone: what was in flight on it is the broker's to
 * redeliver, and its tags must never be acked on the next one. */
static void drop(struct rworker *w)
{
    rmq_close(&w->conn, false);
    pthread_mutex_lock(&w->lock);
    rtrack_reset(&w->track, 0); /* generations start at 1: nothing matches */
    pthread_mutex_unlock(&w->lock);
}

/* ---- reading ---- */

/* One delivery into the pipeline. */
static int deliver(struct rworker *w, struct sl_input_sink *sink, const amqp_frame_t *f, char *err,
                   size_t errlen)
{
    const amqp_basic_deliver_t *d = f->payload.method.decoded;
    struct sl_msg *m = sl_sink_msg(sink);
    int rc = consume_read(w->conn.st, d, w->ctx->queue, m, &w->scratch, err, errlen);
    if (rc != RMQ_OK) {
        sl_msg_release(m);
        return rc;
    }
    m->cookie = rtrack_cookie(&w->track, w->index);
    pthread_mutex_lock(&w->lock);
    int pushed = rtrack_push(&w->track, (uint64_t)m->source.offset);
    pthread_mutex_unlock(&w->lock);
    if (pushed != 0) {
        sl_msg_release(m);
        snprintf(err, errlen, "delivery tag %" PRId64 " out of order", m->source.offset);
        return RMQ_TRANSIENT;
    }
    amqp_maybe_release_buffers(w->conn.st);
    sl_sink_emit(sink, m);
    sl_counter_add(w->c_msgs, 1);
    w->flush_pending = true;
    w->last_delivery_ms = monotime_ms();
    return RMQ_OK;
}

/* A frame that is not a delivery. */
static int other_frame(struct rworker *w, const amqp_frame_t *f, char *err, size_t errlen)
{
    bool handled;
    int rc = rmq_common_frame(&w->conn, f, &handled, err, errlen);
    if (handled || f->frame_type != AMQP_FRAME_METHOD)
        return rc;
    if (f->payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
        snprintf(err, errlen, "the broker cancelled the consumer on queue \"%s\" (queue deleted?)",
                 w->ctx->queue);
        return RMQ_TRANSIENT; /* consuming again tells whether the queue is gone */
    }
    return RMQ_OK;
}

/* The pipeline is full: stop reading (prefetch bounds what the broker sends
 * meanwhile) but keep acking what finishes and keep the connection alive. */
static int wait_room(struct rworker *w, struct sl_input_sink *sink, char *err, size_t errlen)
{
    if (w->flush_pending) {
        sl_sink_flush(sink);
        w->flush_pending = false;
    }
    while (!sl_sink_writable(sink) && !stopping(w, sink)) {
        sl_sink_wait(sink, 100);
        int rc = send_acks(w, err, errlen);
        if (rc == RMQ_OK && rmq_keepalive(&w->conn, &w->ctx->conf) != RMQ_OK) {
            snprintf(err, errlen, "sending heartbeat: connection lost");
            rc = RMQ_TRANSIENT;
        }
        if (rc != RMQ_OK)
            return rc;
    }
    w->last_delivery_ms = monotime_ms(); /* a full pipeline is not an idle queue */
    return RMQ_OK;
}

static int wait_ms(struct rworker *w)
{
    int ms = WAIT_MAX_MS;
    if (w->ctx->conf.heartbeat_s > 0 && w->ctx->conf.heartbeat_s * 500 < ms)
        ms = w->ctx->conf.heartbeat_s * 500;
    if (w->ctx->exit_when_idle_ms > 0) {
        int64_t left = w->last_delivery_ms + w->ctx->exit_when_idle_ms - monotime_ms();
        if (left < ms)
            ms = left > 0 ? (int)left : 0;
    }
    return ms;
}

#define IDLE_DONE 1

/* One step: acks, then backpressure or one frame. Returns RMQ_OK, IDLE_DONE
 * or a failure status. */
static int step(struct rworker *w, struct sl_input_sink *sink, char *err, size_t errlen)
{
    int rc = send_acks(w, err, errlen);
    if (rc != RMQ_OK)
        return rc;
    if (!sl_sink_writable(sink))
        return wait_room(w, sink, err, errlen);
    amqp_frame_t f;
    rc = rmq_wait_frame(&w->conn, w->wake_fd, w->flush_pending ? 0 : wait_ms(w), &f, err, errlen);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (w->flush_pending) {
            sl_sink_flush(sink);
            w->flush_pending = false;
        }
        if (w->ctx->exit_when_idle_ms > 0) {
            /* With deliveries unacked the broker may be holding back
             * (prefetch): the queue is idle only once nothing is in flight. */
            pthread_mutex_lock(&w->lock);
            bool busy = rtrack_in_flight(&w->track) > 0;
            pthread_mutex_unlock(&w->lock);
            if (busy)
                w->last_delivery_ms = monotime_ms();
            else if (monotime_ms() - w->last_delivery_ms >= w->ctx->exit_when_idle_ms)
                return IDLE_DONE;
        }
        return RMQ_OK;
    }
    if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_DELIVER_METHOD)
        return deliver(w, sink, &f, err, errlen);
    return other_frame(w, &f, err, errlen);
}

/* ---- stop ---- */

/* Cancel the consumer, wait for what is in flight (bounded), ack it, close.
 * Deliveries that arrive after the cancel are not emitted: unacked, the
 * broker requeues them when the channel closes. */
static void finish(struct rworker *w, struct sl_input_sink *sink)
{
    char err[1024];
    sl_sink_flush(sink);
    w->flush_pending = false;
    if (!w->conn.st)
        return;
    amqp_basic_cancel_t cancel = {.consumer_tag = amqp_cstring_bytes(w->consumer_tag)};
    int rc = amqp_send_method(w->conn.st, 1, AMQP_BASIC_CANCEL_METHOD, &cancel) == AMQP_STATUS_OK
                 ? RMQ_OK
                 : RMQ_TRANSIENT;
    int64_t end = monotime_ms() + w->ctx->drain_timeout_ms;
    for (;;) {
        if (rc == RMQ_OK)
            rc = send_acks(w, err, sizeof(err));
        pthread_mutex_lock(&w->lock);
        uint64_t busy = rtrack_in_flight(&w->track);
        pthread_mutex_unlock(&w->lock);
        if (rc != RMQ_OK || busy == 0)
            break;
        if (monotime_ms() >= end) {
            sl_log(w->ctx->inst, SL_LOG_WARN,
                   "rabbitmq: worker %u: %" PRIu64 " messages still in flight after %" PRId64
                   " ms; the broker will redeliver them",
                   w->index, busy, w->ctx->drain_timeout_ms);
            break;
        }
        amqp_frame_t f;
        rc = rmq_wait_frame(&w->conn, w->wake_fd, 100, &f, err, sizeof(err));
        if (rc == 1 && f.frame_type == AMQP_FRAME_METHOD &&
            f.payload.method.id == AMQP_BASIC_DELIVER_METHOD)
            rc = consume_skip(w->conn.st, err, sizeof(err));
        else if (rc == 1)
            rc = other_frame(w, &f, err, sizeof(err));
        else if (rc == 0)
            rc = RMQ_OK;
    }
    rmq_close(&w->conn, rc == RMQ_OK);
}

static int rabbit_run(void *p, struct sl_input_sink *sink)
{
    struct rworker *w = p;
    struct rctx *ctx = w->ctx;
    char err[1024];
    int rc = SL_OK;
    bool ever = false;
    while (!stopping(w, sink)) {
        if (!w->conn.st) {
            int c = connect_consume(w, err, sizeof(err));
            if (c == RMQ_FATAL) {
                sl_log(ctx->inst, SL_LOG_ERROR, "rabbitmq: %s: %s (queue \"%s\")",
                       ctx->conf.url.shown, err, ctx->queue);
                rc = SL_ERROR;
                break;
            }
            if (c != RMQ_OK) {
                rmq_report(&ctx->conf, w->index, false, err);
                sl_log(ctx->inst, SL_LOG_WARN, "rabbitmq: worker %u: %s: %s; retrying", w->index,
                       ctx->conf.url.shown, err);
                rmq_backoff(&w->conn, &ctx->conf, &ctx->stopping);
                continue;
            }
            rmq_report(&ctx->conf, w->index, true, NULL);
            sl_log(ctx->inst, ever ? SL_LOG_WARN : SL_LOG_INFO,
                   "rabbitmq: worker %u %s to %s, consuming \"%s\"", w->index,
                   ever ? "reconnected" : "connected", ctx->conf.url.shown, ctx->queue);
            if (ever)
                sl_counter_add(w->c_reconnects, 1);
            ever = true;
            w->last_delivery_ms = monotime_ms();
        }
        int c = step(w, sink, err, sizeof(err));
        if (c == IDLE_DONE) {
            sl_log(ctx->inst, SL_LOG_INFO,
                   "rabbitmq: worker %u: queue \"%s\" idle for %" PRId64 " ms; stopping", w->index,
                   ctx->queue, ctx->exit_when_idle_ms);
            break;
        }
        /* Whatever broke an open connection, connecting again tells whether
         * it is for good (credentials revoked, queue deleted: fatal there). */
        if (c != RMQ_OK) {
            rmq_report(&ctx->conf, w->index, false, err);
            sl_log(ctx->inst, SL_LOG_WARN, "rabbitmq: worker %u: %s: %s; reconnecting", w->index,
                   ctx->conf.url.shown, err);
            drop(w);
            rmq_backoff(&w->conn, &ctx->conf, &ctx->stopping);
        }
    }
    finish(w, sink);
    return rc;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "rabbitmq",
    .version = "0.1.0",
    .doc = "RabbitMQ consumer (librabbitmq): manual batched acks after delivery, reconnects",
    .options = options,
    .max_workers = MAX_WORKERS, /* the cookie has 8 bits for the worker */
    .init = rabbit_init,
    .destroy = rabbit_destroy,
    .worker_init = rabbit_worker_init,
    .worker_destroy = rabbit_worker_destroy,
    .run = rabbit_run,
    .stop = rabbit_stop,
    .delivered = rabbit_delivered,
};
