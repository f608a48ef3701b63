/* out_kafka.c - Kafka producer output: idempotent, batched, acked by delivery reports.
 *
 * One producer per worker. write() hands each message to librdkafka without a
 * copy (the message lives until sl_out_done) with the sl_msg as opaque; the
 * delivery report callback, run inside rd_kafka_poll on the worker thread,
 * confirms, retries or dead-letters it. Messages that failed because the
 * producer's session broke (idempotence fatal error, epoch or sequence errors,
 * purges) say nothing about the message: they are produced again on a sound
 * producer without spending one of the engine's retry attempts.
 *
 * With state_file, each whole message a tracking handler (dedup) passed
 * carries its recovery mark as a header, and recover() reads back what the
 * handlers may not have heard of before a crash (readback.c, positions.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kconf.h"
#include "monotime.h"
#include "readback.h"

enum src { SRC_STATIC, SRC_RECORD, SRC_HEADER, SRC_NONE, SRC_KEEP };

struct octx {
    const struct sl_instance *inst;
    rd_kafka_conf_t *conf;
    int topic_src;
    const char *topic;         /* static name, record path or header name */
    const char *default_topic; /* when the field or header is missing; may be NULL */
    int key_src;
    const char *key_path;
    bool keep_headers;
    bool trace_header;
    struct positions *positions; /* NULL: no state_file */
};

struct oworker {
    struct kbase base; /* first: librdkafka opaque */
    struct octx *ctx;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt; /* the static topic */
    int64_t outstanding;   /* produced, no delivery report yet */
    struct sl_msg **redo;  /* to produce again (producer session failures) */
    size_t n_redo, cap_redo;
    unsigned redo_rounds; /* rounds since the last success */
    int64_t redo_at_ms;   /* next round not before */
    struct sl_counter *c_ok, *c_retry, *c_error;
};

static const char *const compressions[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};

static const struct sl_option options[] = {
    {.name = "brokers",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "bootstrap servers, \"host:port,host:port\""},
    {.name = "topic",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "topic name; \"record.PATH\" takes it from a record field, \"header:NAME\" from a "
            "header"},
    {.name = "default_topic",
     .type = SL_OPT_STRING,
     .check = SL_CHECK_NONEMPTY,
     .doc = "topic when the record field or header is missing (else the message is "
            "dead-lettered)"},
    {.name = "key",
     .type = SL_OPT_STRING,
     .def = "",
     .doc = "message key: empty keeps the input's key, \"record.PATH\" takes a field, \"none\" "
            "sends none"},
    {.name = "keep_headers",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "carry the message headers over"},
    {.name = "trace_header",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "write the W3C traceparent header (the message's trace id, a new span)"},
    {.name = "compression",
     .type = SL_OPT_STRING,
     .def = "none",
     .allowed = compressions,
     .doc = "compression of produced batches"},
    {.name = "properties", .type = SL_OPT_LIST, .doc = "librdkafka settings, \"key=value\" each"},
    {.name = "state_file",
     .type = SL_OPT_STRING,
     .def = "",
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "where the read-back after a crash starts (static topic only): messages written "
            "then but unheard of are found by their recovery marks and handed to dedup; empty: "
            "no marks, no read-back"},
    {.name = "readback_timeout_s",
     .type = SL_OPT_INT,
     .def = "30",
     SL_RANGE(1, 3600),
     .doc = "with state_file: the start fails when the broker sends nothing for this long "
            "during the read-back"},
    {0},
};

static int parse_src(const char *v, const char **rest)
{
    if (strncmp(v, "record.", 7) == 0 && v[7]) {
        *rest = v + 7;
        return SRC_RECORD;
    }
    if (strncmp(v, "header:", 7) == 0 && v[7]) {
        *rest = v + 7;
        return SRC_HEADER;
    }
    *rest = v;
    return SRC_STATIC;
}

static int out_init(struct sl_instance *inst, void **out)
{
    struct octx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return SL_ERROR;
    ctx->inst = inst;
    ctx->topic_src = parse_src(sl_opt_str(inst, "topic"), &ctx->topic);
    ctx->default_topic = sl_opt_str(inst, "default_topic");
    const char *key = sl_opt_str(inst, "key");
    if (!key || !key[0])
        ctx->key_src = SRC_KEEP;
    else if (strcmp(key, "none") == 0)
        ctx->key_src = SRC_NONE;
    else if (parse_src(key, &ctx->key_path) != SRC_RECORD) {
        sl_instance_error(inst, "key must be empty, \"none\" or \"record.PATH\", not \"%s\"", key);
        goto out_free;
    } else
        ctx->key_src = SRC_RECORD;
    ctx->keep_headers = sl_opt_bool(inst, "keep_headers");
    ctx->trace_header = sl_opt_bool(inst, "trace_header");
    const char *state = sl_opt_str(inst, "state_file");
    if (state && state[0]) {
        if (ctx->topic_src != SRC_STATIC) {
            sl_instance_error(inst, "state_file needs a static topic (the read-back reads it)");
            goto out_free;
        }
        if (!(ctx->positions = calloc(1, sizeof(*ctx->positions))) ||
            positions_init(ctx->positions, inst, state, ctx->topic, sl_instance_workers(inst)) <
                0) {
            sl_instance_error(inst, "out of memory");
            goto out_free;
        }
    }

    const char *defaults[] = {"enable.idempotence",
                              "true",
                              "linger.ms",
                              "5",
                              "batch.num.messages",
                              "10000",
                              "compression.type",
                              sl_opt_str(inst, "compression"),
                              "log.connection.close",
                              "false",
                              NULL};
    ctx->conf = kconf_new(inst, defaults);
    if (!ctx->conf)
        goto out_free;
    if (kconf_check(inst, ctx->conf, RD_KAFKA_PRODUCER) < 0) {
        rd_kafka_conf_destroy(ctx->conf);
        goto out_free;
    }
    *out = ctx;
    return 0;

out_free:
    if (ctx->positions)
        positions_free(ctx->positions);
    free(ctx->positions);
    free(ctx);
    return SL_ERROR;
}

static void out_destroy(void *p)
{
    struct octx *ctx = p;
    if (!ctx)
        return;
    struct positions *ps = ctx->positions;
    /* Every worker is gone and what it confirmed was heard: the last word. */
    if (ps && ps->heard && positions_write(ps, true) < 0)
        sl_log(ctx->inst, SL_LOG_ERROR, "kafka: state_file %s: cannot write: %s", ps->path,
               strerror(errno));
    if (ps)
        positions_free(ps);
    free(ps);
    rd_kafka_conf_destroy(ctx->conf);
    free(ctx);
}

static int out_recover(void *p)
{
    struct octx *ctx = p;
    return ctx->positions ? readback_recover(ctx->inst, ctx->positions,
                                             (int)sl_opt_int(ctx->inst, "readback_timeout_s"))
                          : 0;
}

/* Errors that retrying cannot fix: the message goes to dead_letter. */
static bool permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return true;
    default:
        return false;
    }
}

#define MAX_REDO_ROUNDS 20
#define REDO_DELAY_MS   100

/* Failures of the producer's session rather than of the message. */
static bool session_error(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING:
        return true;
    default:
        return false;
    }
}

/* Keep m to produce again; false when it cannot be kept (then retry it). */
static bool redo_push(struct oworker *w, struct sl_msg *m)
{
    if (w->redo_rounds >= MAX_REDO_ROUNDS)
        return false;
    if (w->n_redo == w->cap_redo) {
        size_t ncap = w->cap_redo ? w->cap_redo * 2 : 256;
        struct sl_msg **n = realloc(w->redo, ncap * sizeof(*n));
        if (!n)
            return false;
        w->redo = n;
        w->cap_redo = ncap;
    }
    if (w->n_redo == 0)
        w->redo_at_ms = monotime_ms() + REDO_DELAY_MS;
    w->redo[w->n_redo++] = m;
    return true;
}

static void finish(struct oworker *w, struct sl_msg *m, rd_kafka_resp_err_t err)
{
    if (err && session_error(err) && redo_push(w, m))
        return;
    if (!err)
        w->redo_rounds = 0;
    if (!err) {
        sl_counter_add(w->c_ok, 1);
        sl_out_done(m, SL_OK, NULL);
    } else if (permanent(err)) {
        sl_counter_add(w->c_error, 1);
        sl_out_done(m, SL_ERROR, rd_kafka_err2str(err));
    } else {
        sl_counter_add(w->c_retry, 1);
        sl_out_done(m, SL_RETRY, rd_kafka_err2str(err));
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct oworker *w = opaque;
    w->outstanding--;
    if (!rkm->err && w->ctx->positions)
        positions_reported(w->ctx->positions, w->base.worker, rkm->partition, rkm->offset);
    if (rkm->err && sl_log_enabled(SL_LOG_DEBUG))
        sl_log(w->base.inst, SL_LOG_DEBUG, "kafka: delivery to %s failed: %s",
               rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
    finish(w, rkm->_private, rkm->err);
}

static void produce(struct oworker *w, struct sl_msg *m);

static int make_producer(struct oworker *w)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(w->ctx->conf);
    rd_kafka_conf_set_opaque(conf, w);
    kconf_set_logging(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    w->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!w->rk) {
        sl_log(w->base.inst, SL_LOG_ERROR, "kafka: cannot create producer: %s", errstr);
        return SL_ERROR;
    }
    if (w->ctx->topic_src == SRC_STATIC)
        w->rkt = rd_kafka_topic_new(w->rk, w->ctx->topic, NULL);
    return 0;
}

static void drop_producer(struct oworker *w)
{
    if (w->rkt)
        rd_kafka_topic_destroy(w->rkt);
    w->rkt = NULL;
    if (w->rk)
        rd_kafka_destroy(w->rk);
    w->rk = NULL;
}

static int out_worker_init(void *p, unsigned index, void **out)
{
    struct octx *ctx = p;
    struct oworker *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->base.inst = ctx->inst;
    w->base.worker = index;
    w->ctx = ctx;
    w->c_ok = sl_counter_get(ctx->inst, "kafka_delivered");
    w->c_retry = sl_counter_get(ctx->inst, "kafka_retries");
    w->c_error = sl_counter_get(ctx->inst, "kafka_failed");
    if (!sl_instance_checking(ctx->inst))
        sl_instance_set_ready(ctx->inst, index, false, "kafka: connecting");
    if (!sl_instance_checking(ctx->inst) && make_producer(w) != 0) {
        free(w);
        return SL_ERROR;
    }
    *out = w;
    return 0;
}

/* Called first in every call from the engine: the reports of earlier calls
 * have been heard by then (the engine flushes acks after each call). */
static void positions_update(struct oworker *w, bool producing)
{
    if (w->ctx->positions)
        positions_heard(w->ctx->positions, w->base.worker,
                        producing || w->outstanding > 0 || w->n_redo > 0);
}

/* An idempotent producer that hit a fatal error cannot produce again: take back
 * what it holds and start a new one. */
static void recover_fatal(struct oworker *w)
{
    char reason[512];
    if (!w->rk || !rd_kafka_fatal_error(w->rk, reason, sizeof(reason)))
        return;
    sl_log(w->base.inst, SL_LOG_ERROR, "kafka: producer fatal error: %s; restarting it", reason);
    rd_kafka_purge(w->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (w->outstanding > 0)
        rd_kafka_poll(w->rk, 100); /* purged messages come back for redo */
    drop_producer(w);
    make_producer(w);
}

static void out_worker_destroy(void *p)
{
    struct oworker *w = p;
    if (!w)
        return;
    positions_update(w, false); /* its thread ended with an ack flush */
    if (w->rk && w->outstanding > 0) {
        /* flush() was not called: hand everything back rather than lose track. */
        rd_kafka_purge(w->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(w->rk, 0);
    }
    if (w->n_redo > 0)
        sl_log(w->base.inst, SL_LOG_ERROR, "kafka: %zu messages unconfirmed at exit", w->n_redo);
    free(w->redo);
    drop_producer(w);
    free(w);
}

/* The topic for m, or NULL when it cannot be had (error set). */
static const char *topic_of(struct oworker *w, struct sl_msg *m)
{
    const struct octx *c = w->ctx;
    if (c->topic_src == SRC_RECORD) {
        const struct sl_value *v = m->record ? sl_value_path(m->record, c->topic) : NULL;
        if (v && (v->type == SL_STRING || v->type == SL_BYTES) && v->len > 0)
            return v->u.str;
    } else if (c->topic_src == SRC_HEADER) {
        const struct sl_header *h = sl_msg_header(m, c->topic);
        if (h && h->value_len > 0)
            return sl_arena_strndup(&m->arena, (const char *)h->value, h->value_len);
    }
    return c->default_topic;
}

/* Key bytes for m (len -1: none). Field values that are not text are formatted. */
static const void *key_of(struct oworker *w, struct sl_msg *m, size_t *len)
{
    const struct octx *c = w->ctx;
    if (c->key_src == SRC_KEEP) {
        *len = m->key.len;
        return m->has_key ? m->key.data : NULL;
    }
    if (c->key_src == SRC_NONE || !m->record)
        return NULL;
    const struct sl_value *v = sl_value_path(m->record, c->key_path);
    char tmp[64];
    int n = -1;
    if (!v)
        return NULL;
    switch (v->type) {
    case SL_STRING:
    case SL_BYTES:
        *len = v->len;
        return v->u.str;
    case SL_INT:
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
        break;
    case SL_DOUBLE:
        n = snprintf(tmp, sizeof(tmp), "%.17g", v->u.d);
        break;
    case SL_BOOL:
        n = snprintf(tmp, sizeof(tmp), "%s", v->u.b ? "true" : "false");
        break;
    default:
        return NULL;
    }
    *len = (size_t)n;
    return sl_arena_strndup(&m->arena, tmp, (size_t)n);
}

/* The headers to send, or NULL for none. */
static rd_kafka_headers_t *headers_of(struct oworker *w, const struct sl_msg *m)
{
    const struct octx *c = w->ctx;
    uint32_t n = c->keep_headers ? m->n_headers : 0;
    struct sl_mark mark;
    bool marked = c->positions && sl_msg_mark(m, &mark);
    if (n == 0 && !c->trace_header && !marked)
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(n + 2);
    for (uint32_t i = 0; i < n; i++) {
        if (c->trace_header && strcmp(m->headers[i].name, "traceparent") == 0)
            continue;
        /* A mark that came in with the message is another pipeline's: read
         * back here it could pass for this one's. */
        if (strncmp(m->headers[i].name, SL_MARK_PREFIX, sizeof(SL_MARK_PREFIX) - 1) == 0)
            continue;
        rd_kafka_header_add(h, m->headers[i].name, -1, m->headers[i].value,
                            m->headers[i].value_len);
    }
    if (c->trace_header) {
        char tp[64];
        sl_msg_traceparent(m, tp);
        rd_kafka_header_add(h, "traceparent", 11, tp, -1);
    }
    if (marked) {
        char value[17];
        sl_mark_value(mark.cookie, value);
        rd_kafka_header_add(h, mark.name, -1, value, 16);
    }
    return h;
}

static void produce(struct oworker *w, struct sl_msg *m)
{
    const char *topic = NULL;
    if (w->ctx->topic_src != SRC_STATIC && !(topic = topic_of(w, m))) {
        sl_counter_add(w->c_error, 1);
        sl_out_done(m, SL_ERROR, "kafka: no topic for the message (field or header missing)");
        return;
    }
    size_t klen = 0;
    const void *key = key_of(w, m, &klen);
    rd_kafka_headers_t *hdrs = headers_of(w, m);
    for (;;) {
        rd_kafka_resp_err_t err;
        if (topic)
            err = rd_kafka_producev(w->rk, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_VALUE((void *)sl_msg_out_data(m), sl_msg_out_len(m)),
                                    RD_KAFKA_V_KEY(key, key ? klen : 0), RD_KAFKA_V_HEADERS(hdrs),
                                    RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(w->rk, RD_KAFKA_V_RKT(w->rkt),
                                    RD_KAFKA_V_VALUE((void *)sl_msg_out_data(m), sl_msg_out_len(m)),
                                    RD_KAFKA_V_KEY(key, key ? klen : 0), RD_KAFKA_V_HEADERS(hdrs),
                                    RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
        if (!err) {
            w->outstanding++; /* librdkafka owns hdrs now */
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(w->rk, 100); /* delivery reports make room */
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (err == RD_KAFKA_RESP_ERR__FATAL)
            recover_fatal(w);
        finish(w, m, err);
        return;
    }
}

/* Serve delivery reports; replace a failed producer; produce the redo list
 * again once its delay has passed. */
static void serve(struct oworker *w, int timeout_ms)
{
    rd_kafka_poll(w->rk, timeout_ms);
    recover_fatal(w);
    if (w->n_redo == 0 || monotime_ms() < w->redo_at_ms)
        return;
    struct sl_msg **list = w->redo;
    size_t n = w->n_redo;
    w->redo = NULL;
    w->n_redo = w->cap_redo = 0;
    w->redo_rounds++;
    sl_log(w->base.inst, SL_LOG_WARN,
           "kafka: producing %zu messages again after a producer failure (round %u of %d)", n,
           w->redo_rounds, MAX_REDO_ROUNDS);
    for (size_t i = 0; i < n; i++)
        produce(w, list[i]);
    free(list);
    rd_kafka_poll(w->rk, 0);
}

static int out_write(void *p, struct sl_msg **msgs, size_t n)
{
    struct oworker *w = p;
    positions_update(w, true);
    for (size_t i = 0; i < n; i++)
        produce(w, msgs[i]);
    serve(w, 0);
    return 0;
}

static int out_poll(void *p)
{
    positions_update(p, false);
    serve(p, 0);
    return 0;
}

static int out_flush(void *p)
{
    struct oworker *w = p;
    positions_update(w, false);
    int64_t start = monotime_ms(), next_log = start + 10000;
    while (w->outstanding > 0 || w->n_redo > 0) {
        if (w->outstanding > 0)
            rd_kafka_flush(w->rk, 500);
        serve(w, w->outstanding > 0 ? 0 : REDO_DELAY_MS);
        if (monotime_ms() >= next_log && (w->outstanding > 0 || w->n_redo > 0)) {
            next_log += 10000;
            sl_log(w->base.inst, SL_LOG_WARN,
                   "kafka: flush: still waiting for %" PRId64 " delivery reports (%zu to redo)",
                   w->outstanding, w->n_redo);
        }
    }
    return 0;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "kafka",
    .version = "0.1.0",
    .doc = "Kafka producer (librdkafka): idempotent, batched, acked by delivery reports",
    .options = options,
    .init = out_init,
    .destroy = out_destroy,
    .worker_init = out_worker_init,
    .worker_destroy = out_worker_destroy,
    .write = out_write,
    .flush = out_flush,
    .poll = out_poll,
    .recover = out_recover,
};
