/* out_rabbitmq.c - RabbitMQ publisher output with publisher confirms.
 *
 * One connection + channel per output worker, kept open and reused (the
 * library's connection state is not thread-safe; this is the pool). The
 * channel is in confirm mode. write() publishes its batch and takes the
 * broker's answers that have come; it waits only while more than
 * max_unconfirmed publishes are unanswered, so confirms of one batch overlap
 * the next (poll() and flush() take the rest). Answers: ack -> confirmed;
 * nack or basic.return (mandatory, unroutable) -> the engine's retry with
 * backoff, then dead_letter with the reason in x-sluice-error. A lost
 * connection says nothing about the messages: write() reconnects with
 * backoff and publishes the unanswered ones again without spending a retry
 * attempt (duplicates are possible, loss is not), so a broker outage backs
 * the pipeline up instead of dead-lettering.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "rmq_conn.h"
#include "rmq_props.h"

enum key_src { KEY_STATIC, KEY_RECORD, KEY_HEADER };

struct octx {
    const struct sl_instance *inst;
    struct rmq_conf conf;
    struct rmq_out_props props;
    amqp_bytes_t exchange;
    int key_src;
    const char *key; /* static key, record path or header name */
    const char *default_key;
    bool mandatory;
    int confirm_timeout_ms;
    size_t max_unconfirmed;
};

struct oworker {
    struct octx *ctx;
    unsigned index;
    struct rmq_conn conn;
    struct outbox box;
    bool ever_connected;
    int64_t idle_connect_at_ms; /* idle and disconnected: when poll() tries again */
    struct sl_counter *c_ok, *c_retry, *c_error, *c_reconnects;
};

static const struct sl_option options[] = {
    RMQ_CONN_OPTIONS,
    {.name = "exchange",
     .type = SL_OPT_STRING,
     .def = "",
     .doc = "exchange to publish to (\"\": the default exchange, where the routing key is a "
            "queue name)"},
    {.name = "routing_key",
     .type = SL_OPT_STRING,
     .def = "",
     .doc = "static key, \"record.PATH\" from a record field or \"header:NAME\" from a header"},
    {.name = "default_routing_key",
     .type = SL_OPT_STRING,
     .doc = "key when the record field or header is missing (else the message is dead-lettered)"},
    {.name = "mandatory",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "an unroutable message is returned and fails (retry, then dead_letter) instead of "
            "being confirmed and dropped by the broker"},
    {.name = "persistent",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "delivery_mode 2 for every message; false keeps the message's amqp_delivery_mode"},
    {.name = "keep_headers",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "carry the message headers over as AMQP headers"},
    {.name = "trace_header",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "write the W3C traceparent header (the message's trace id, a new span)"},
    {.name = "properties",
     .type = SL_OPT_GROUP,
     .doc = "default properties: { content_type = \"application/json\"; app_id = \"x\"; ... }"},
    {.name = "max_unconfirmed",
     .type = SL_OPT_INT,
     .def = "1000",
     SL_RANGE(1, 1000000),
     .doc = "published messages awaiting the broker's confirm before a worker waits for them"},
    {.name = "confirm_timeout_ms",
     .type = SL_OPT_INT,
     .def = "30000",
     .check = SL_CHECK_DURATION_MS,
     SL_RANGE(100, 3600000),
     .doc = "a publish unanswered this long means the connection is broken: reconnect and "
            "publish again"},
    {0},
};

static int out_init(struct sl_instance *inst, void **out)
{
    struct octx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return SL_ERROR;
    ctx->inst = inst;
    if (rmq_conf_init(&ctx->conf, inst, NULL) < 0)
        goto out_free;
    if (rmq_out_props_init(&ctx->props, inst) < 0)
        goto out_conf;
    ctx->exchange = amqp_cstring_bytes(sl_opt_str(inst, "exchange"));
    const char *key = sl_opt_str(inst, "routing_key");
    if (strncmp(key, "record.", 7) == 0 && key[7]) {
        ctx->key_src = KEY_RECORD;
        ctx->key = key + 7;
    } else if (strncmp(key, "header:", 7) == 0 && key[7]) {
        ctx->key_src = KEY_HEADER;
        ctx->key = key + 7;
    } else {
        ctx->key_src = KEY_STATIC;
        ctx->key = key;
    }
    if (ctx->exchange.len == 0 && ctx->key_src == KEY_STATIC && !key[0]) {
        sl_instance_error(
            inst, "with the default exchange (exchange = \"\") routing_key must name a queue");
        goto out_conf;
    }
    ctx->default_key = sl_opt_str(inst, "default_routing_key");
    ctx->mandatory = sl_opt_bool(inst, "mandatory");
    ctx->confirm_timeout_ms = (int)sl_opt_int(inst, "confirm_timeout_ms");
    ctx->max_unconfirmed = (size_t)sl_opt_int(inst, "max_unconfirmed");
    *out = ctx;
    return SL_OK;

out_conf:
    rmq_conf_free(&ctx->conf);
out_free:
    free(ctx);
    return SL_ERROR;
}

static void out_destroy(void *p)
{
    struct octx *ctx = p;
    if (!ctx)
        return;
    rmq_conf_free(&ctx->conf);
    free(ctx);
}

/* Connect and put the channel in confirm mode. */
static int open_channel(struct oworker *w, char *err, size_t errlen)
{
    int rc = rmq_open(&w->conn, &w->ctx->conf, err, errlen);
    if (rc != RMQ_OK) {
        rmq_report(&w->ctx->conf, w->index, false, err);
        return rc;
    }
    amqp_confirm_select(w->conn.st, 1);
    rc = rmq_reply_check(w->conn.st, amqp_get_rpc_reply(w->conn.st), "confirm.select", err, errlen);
    if (rc != RMQ_OK) {
        rmq_report(&w->ctx->conf, w->index, false, err);
        rmq_close(&w->conn, false);
        return rc;
    }
    rmq_report(&w->ctx->conf, w->index, true, NULL);
    outbox_restart(&w->box);
    sl_log(w->ctx->inst, w->ever_connected ? SL_LOG_WARN : SL_LOG_INFO,
           "rabbitmq: output worker %u %s to %s", w->index,
           w->ever_connected ? "reconnected" : "connected", w->ctx->conf.url.shown);
    if (w->ever_connected)
        sl_counter_add(w->c_reconnects, 1);
    w->ever_connected = true;
    return RMQ_OK;
}

static int out_worker_init(void *p, unsigned index, void **out)
{
    struct octx *ctx = p;
    struct oworker *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->ctx = ctx;
    w->index = index;
    w->c_ok = sl_counter_get(ctx->inst, "rabbitmq_confirmed");
    w->c_retry = sl_counter_get(ctx->inst, "rabbitmq_refused");
    w->c_error = sl_counter_get(ctx->inst, "rabbitmq_failed");
    w->c_reconnects = sl_counter_get(ctx->inst, "rabbitmq_reconnects");
    *out = w;
    if (sl_instance_checking(ctx->inst))
        return SL_OK;
    /* Connect now so bad credentials stop the start with a clear error; a
     * broker that is down is tried again at the first write. */
    char err[1024];
    int rc = open_channel(w, err, sizeof(err));
    if (rc == RMQ_FATAL) {
        sl_log(ctx->inst, SL_LOG_ERROR, "rabbitmq: %s: %s", ctx->conf.url.shown, err);
        free(w);
        *out = NULL;
        return SL_ERROR;
    }
    if (rc != RMQ_OK)
        sl_log(ctx->inst, SL_LOG_WARN, "rabbitmq: %s: %s; will retry", ctx->conf.url.shown, err);
    return SL_OK;
}

static void out_worker_destroy(void *p)
{
    struct oworker *w = p;
    if (!w)
        return;
    if (outbox_open(&w->box))
        sl_log(w->ctx->inst, SL_LOG_ERROR, "rabbitmq: %zu messages unconfirmed at exit",
               outbox_open(&w->box));
    rmq_close(&w->conn, true);
    outbox_free(&w->box);
    free(w);
}

/* ---- routing keys ---- */

/* The routing key for m, or a NULL-bytes key when it cannot be had. */
static amqp_bytes_t key_of(const struct octx *c, struct sl_msg *m)
{
    amqp_bytes_t none = {0, NULL};
    if (c->key_src == KEY_STATIC)
        return amqp_cstring_bytes(c->key);
    if (c->key_src == KEY_RECORD) {
        const struct sl_value *v = m->record ? sl_value_path(m->record, c->key) : NULL;
        if (v && (v->type == SL_STRING || v->type == SL_BYTES))
            return (amqp_bytes_t){v->len, (void *)v->u.str};
        if (v && v->type == SL_INT) {
            char tmp[32];
            int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
            char *s = sl_arena_strndup(&m->arena, tmp, (size_t)n);
            if (s)
                return (amqp_bytes_t){(size_t)n, s};
        }
    } else {
        const struct sl_header *h = sl_msg_header(m, c->key);
        if (h)
            return (amqp_bytes_t){h->value_len, (void *)h->value};
    }
    return c->default_key ? amqp_cstring_bytes(c->default_key) : none;
}

/* ---- publishing ---- */

/* Publishes every entry not yet published on this channel. */
static int publish_open(struct oworker *w, char *err, size_t errlen)
{
    struct outbox *b = &w->box;
    for (size_t i = b->first_open; i < b->n; i++) {
        struct outbox_entry *e = &b->e[i];
        if (e->answered || e->tag)
            continue;
        amqp_basic_properties_t props;
        if (rmq_props_from_msg(e->m, &w->ctx->props, &props) < 0) {
            e->answered = true;
            e->status = SL_RETRY;
            e->error = "rabbitmq: out of memory building properties";
            continue;
        }
        amqp_bytes_t body = {sl_msg_out_len(e->m), (void *)sl_msg_out_data(e->m)};
        int st = amqp_basic_publish(w->conn.st, 1, w->ctx->exchange, e->routing_key,
                                    w->ctx->mandatory, 0, &props, body);
        if (st != AMQP_STATUS_OK) {
            snprintf(err, errlen, "publish: %s", amqp_error_string2(st));
            return RMQ_TRANSIENT;
        }
        e->tag = b->next_tag++;
    }
    return RMQ_OK;
}

/* Reads the broker's answers: waits while more than `limit` publishes are
 * unanswered (or the broker holds publishes with connection.blocked), then
 * takes what has already come. A channel closed by the broker fails the open
 * entries (the error names the reason); a lost connection, or no answer for
 * confirm_timeout_ms, returns RMQ_TRANSIENT. */
static int read_answers(struct oworker *w, size_t limit, char *err, size_t errlen)
{
    int64_t deadline = monotime_ms() + w->ctx->confirm_timeout_ms;
    while (w->conn.st) {
        bool block = outbox_open(&w->box) > limit || (w->conn.blocked && outbox_open(&w->box));
        if (w->conn.blocked) /* a broker alarm holds publishes: not a dead link */
            deadline = monotime_ms() + w->ctx->confirm_timeout_ms;
        int64_t left = deadline - monotime_ms();
        if (block && left <= 0) {
            snprintf(err, errlen, "no confirm within %d ms", w->ctx->confirm_timeout_ms);
            return RMQ_TRANSIENT;
        }
        amqp_frame_t f;
        int rc = rmq_wait_frame(&w->conn, -1, block ? (int)(left < 200 ? left : 200) : 0, &f, err,
                                errlen);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (!block)
                return RMQ_OK;
            continue;
        }
        size_t open_before = outbox_open(&w->box);
        bool other, handled;
        rc = outbox_frame(&w->box, w->conn.st, &f, &other, err, errlen);
        if (rc == RMQ_OK && other)
            rc = rmq_common_frame(&w->conn, &f, &handled, err, errlen);
        if (outbox_open(&w->box) < open_before) /* progress */
            deadline = monotime_ms() + w->ctx->confirm_timeout_ms;
        if (rc == RMQ_OK)
            continue;
        if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
            /* e.g. 404 no exchange: the messages are at fault, not the link */
            outbox_fail_open(&w->box, SL_RETRY, err);
            rmq_close(&w->conn, false);
            return RMQ_OK;
        }
        return rc;
    }
    return RMQ_OK;
}

/* Publishes what is not published and reads answers until at most `limit`
 * are unanswered, reconnecting (and publishing the unanswered again) as
 * needed. Returns SL_OK, or SL_ERROR when the broker refuses us for good. */
static int pump(struct oworker *w, size_t limit)
{
    static atomic_bool never; /* an output keeps trying until the broker is back */
    char err[1024];
    for (;;) {
        int rc = RMQ_OK;
        if (!w->conn.st) {
            if (outbox_open(&w->box) == 0)
                return SL_OK; /* connect when there is something to publish */
            rc = open_channel(w, err, sizeof(err));
            if (rc == RMQ_FATAL) {
                sl_log(w->ctx->inst, SL_LOG_ERROR, "rabbitmq: %s: %s", w->ctx->conf.url.shown, err);
                return SL_ERROR;
            }
        }
        if (rc == RMQ_OK && !w->conn.blocked)
            rc = publish_open(w, err, sizeof(err));
        if (rc == RMQ_OK)
            rc = read_answers(w, limit, err, sizeof(err));
        if (rc == RMQ_OK && (w->conn.st || outbox_open(&w->box) == 0))
            return SL_OK;
        if (rc == RMQ_OK)
            continue; /* the channel closed under failed messages: new connection */
        /* A broken open connection is tried again; connecting tells whether
         * the refusal is for good. */
        sl_log(w->ctx->inst, SL_LOG_WARN,
               "rabbitmq: output worker %u: %s: %s; reconnecting and publishing %zu messages "
               "again",
               w->index, w->ctx->conf.url.shown, err, outbox_open(&w->box));
        rmq_report(&w->ctx->conf, w->index, false, err);
        rmq_close(&w->conn, false);
        rmq_backoff(&w->conn, &w->ctx->conf, &never);
    }
}

/* Hands the answered messages to the engine. */
static void finish(struct oworker *w)
{
    size_t failed = 0;
    size_t ok = outbox_finish(&w->box, &failed);
    sl_counter_add(w->c_ok, (int64_t)ok);
    sl_counter_add(w->c_retry, (int64_t)failed);
}

static int out_write(void *p, struct sl_msg **msgs, size_t n)
{
    struct oworker *w = p;
    for (size_t i = 0; i < n; i++) {
        amqp_bytes_t key = key_of(w->ctx, msgs[i]);
        if (!key.bytes) {
            sl_counter_add(w->c_error, 1);
            sl_out_done(msgs[i], SL_ERROR,
                        "rabbitmq: no routing key for the message (field or header missing)");
            continue;
        }
        if (outbox_add(&w->box, msgs[i], key) < 0) {
            sl_out_done(msgs[i], SL_RETRY, "rabbitmq: out of memory");
            continue;
        }
    }
    int rc = pump(w, w->ctx->max_unconfirmed);
    finish(w);
    return rc;
}

/* Idle and disconnected: connect again when the backoff allows, without
 * waiting for it, so the connection (and /readyz) is back before the next
 * message is. A refusal for good is left to the next write to report. */
static void reconnect_idle(struct oworker *w)
{
    if (w->conn.st || outbox_open(&w->box) || monotime_ms() < w->idle_connect_at_ms)
        return;
    char err[1024];
    if (open_channel(w, err, sizeof(err)) == RMQ_OK)
        return;
    sl_log(w->ctx->inst, SL_LOG_WARN, "rabbitmq: output worker %u: %s: %s; will retry", w->index,
           w->ctx->conf.url.shown, err);
    w->idle_connect_at_ms = monotime_ms() + rmq_backoff_ms(&w->conn, &w->ctx->conf);
}

/* Idle: take answers, serve heartbeats and blocked notices; reconnect. */
static int out_poll(void *p)
{
    struct oworker *w = p;
    reconnect_idle(w);
    int rc = pump(w, SIZE_MAX);
    finish(w);
    return rc;
}

/* Everything published is answered before this returns. */
static int out_flush(void *p)
{
    struct oworker *w = p;
    int rc = pump(w, 0);
    finish(w);
    return rc;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "rabbitmq",
    .version = "0.1.0",
    .doc = "RabbitMQ publisher (librabbitmq): publisher confirms, mandatory, reconnects",
    .options = options,
    .init = out_init,
    .destroy = out_destroy,
    .worker_init = out_worker_init,
    .worker_destroy = out_worker_destroy,
    .write = out_write,
    .flush = out_flush,
    .poll = out_poll,
};
