/* rmq_conn.c - connect, classify failures, back off, keep the connection alive. */
#include "rmq_conn.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_MAX 131072

int64_t rmq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int conf_fail(const struct sl_instance *inst, const char *what)
{
    sl_instance_error(inst, "%s", what);
    return -1;
}

static int read_tls(struct rmq_conf *c, const struct sl_instance *inst)
{
    const struct sl_value *tls = sl_opt_value(inst, "tls");
    c->verify = true;
    if (!tls)
        return 0;
    for (uint32_t i = 0; i < tls->len; i++) {
        const struct sl_member *m = &tls->u.members[i];
        char msg[256];
        if (strcmp(m->key, "verify") == 0) {
            if (m->value.type != SL_BOOL)
                return conf_fail(inst, "tls.verify must be true or false");
            c->verify = m->value.u.b;
            continue;
        }
        const char **slot = strcmp(m->key, "ca") == 0     ? &c->ca
                            : strcmp(m->key, "cert") == 0 ? &c->cert
                            : strcmp(m->key, "key") == 0  ? &c->key
                                                          : NULL;
        if (!slot) {
            snprintf(msg, sizeof(msg), "tls: unknown key \"%s\" (ca, cert, key, verify)", m->key);
            return conf_fail(inst, msg);
        }
        if (m->value.type != SL_STRING) {
            snprintf(msg, sizeof(msg), "tls.%s must be a file name", m->key);
            return conf_fail(inst, msg);
        }
        *slot = m->value.u.str;
    }
    if (!c->cert != !c->key)
        return conf_fail(inst, "tls: cert and key go together");
    if (!c->url.tls)
        return conf_fail(inst, "tls is set but the url is not amqps://");
    return 0;
}

int rmq_conf_init(struct rmq_conf *c, const struct sl_instance *inst, const char *default_queue)
{
    char err[512];
    memset(c, 0, sizeof(*c));
    c->inst = inst;
    if (rmq_url_parse(sl_opt_str(inst, "url"), &c->url, err, sizeof(err)) < 0) {
        conf_fail(inst, err);
        goto out_free;
    }
    c->heartbeat_s = (int)sl_opt_int(inst, "heartbeat_s");
    c->timeout_ms = (int)sl_opt_int(inst, "connect_timeout_ms");
    c->backoff_ms = sl_opt_int(inst, "reconnect_backoff_ms");
    c->max_backoff_ms = sl_opt_int(inst, "reconnect_max_backoff_ms");
    if (c->max_backoff_ms < c->backoff_ms) {
        conf_fail(inst, "reconnect_max_backoff_ms must not be below reconnect_backoff_ms");
        goto out_free;
    }
    if (read_tls(c, inst) < 0 || rmq_declare_parse(inst, default_queue, &c->declare) < 0)
        goto out_free;
    return 0;

out_free:
    rmq_conf_free(c);
    return -1;
}

void rmq_conf_free(struct rmq_conf *c)
{
    rmq_url_free(&c->url);
    rmq_declare_free(&c->declare);
}

/* Broker refusals that another attempt cannot fix. */
static bool fatal_code(uint16_t code)
{
    switch (code) {
    case 402: /* INVALID_PATH */
    case 403: /* ACCESS_REFUSED: credentials or permissions */
    case 404: /* NOT_FOUND: queue or exchange */
    case 406: /* PRECONDITION_FAILED: inequivalent declare */
    case 530: /* NOT_ALLOWED: vhost */
        return true;
    default:
        return false;
    }
}

static void text_of(amqp_bytes_t b, char *out, size_t n)
{
    snprintf(out, n, "%.*s", (int)b.len, (const char *)b.bytes);
}

/* The broker closed the channel or the connection: answer, classify. */
static int broker_closed(amqp_connection_state_t st, const amqp_method_t *m, const char *what,
                         char *err, size_t errlen)
{
    char text[300];
    uint16_t code;
    if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *c = m->decoded;
        code = c->reply_code;
        text_of(c->reply_text, text, sizeof(text));
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(st, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        snprintf(err, errlen, "%s%sbroker closed the channel: %u %s", what ? what : "",
                 what ? ": " : "", code, text);
    } else {
        const amqp_connection_close_t *c = m->decoded;
        code = c->reply_code;
        text_of(c->reply_text, text, sizeof(text));
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(st, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        snprintf(err, errlen, "%s%sbroker closed the connection: %u %s", what ? what : "",
                 what ? ": " : "", code, text);
    }
    return fatal_code(code) ? RMQ_FATAL : RMQ_TRANSIENT;
}

int rmq_reply_check(amqp_connection_state_t st, amqp_rpc_reply_t r, const char *what, char *err,
                    size_t errlen)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return RMQ_OK;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD || r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
            return broker_closed(st, &r.reply, what, err, errlen);
        snprintf(err, errlen, "%s: unexpected broker method 0x%08x", what, r.reply.id);
        return RMQ_TRANSIENT;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(err, errlen, "%s: %s", what, amqp_error_string2(r.library_error));
        return RMQ_TRANSIENT;
    default:
        snprintf(err, errlen, "%s: no reply from the broker", what);
        return RMQ_TRANSIENT;
    }
}

static amqp_socket_t *make_socket(amqp_connection_state_t st, const struct rmq_conf *conf,
                                  char *err, size_t errlen)
{
    if (!conf->url.tls) {
        amqp_socket_t *s = amqp_tcp_socket_new(st);
        if (!s)
            snprintf(err, errlen, "cannot create a socket");
        return s;
    }
    amqp_socket_t *s = amqp_ssl_socket_new(st);
    if (!s) {
        snprintf(err, errlen, "cannot create a TLS socket");
        return NULL;
    }
    amqp_ssl_socket_set_verify_peer(s, conf->verify);
    amqp_ssl_socket_set_verify_hostname(s, conf->verify);
    if (conf->ca && amqp_ssl_socket_set_cacert(s, conf->ca) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "cannot read tls.ca \"%s\"", conf->ca);
        return NULL;
    }
    if (conf->cert && amqp_ssl_socket_set_key(s, conf->cert, conf->key) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "cannot read tls.cert \"%s\" / tls.key \"%s\"", conf->cert,
                 conf->key);
        return NULL;
    }
    return s;
}

/* Client properties: a connection name for the management UI, and the
 * capabilities we handle (blocked notifications, consumer cancel). */
static amqp_rpc_reply_t login(amqp_connection_state_t st, const struct rmq_conf *conf)
{
    char name[256];
    snprintf(name, sizeof(name), "sluice %s", sl_instance_name(conf->inst));
    amqp_table_entry_t caps[] = {
        {amqp_cstring_bytes("connection.blocked"), {AMQP_FIELD_KIND_BOOLEAN, {.boolean = 1}}},
        {amqp_cstring_bytes("consumer_cancel_notify"), {AMQP_FIELD_KIND_BOOLEAN, {.boolean = 1}}},
    };
    amqp_table_entry_t props[] = {
        {amqp_cstring_bytes("connection_name"),
         {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes(name)}}},
        {amqp_cstring_bytes("capabilities"), {AMQP_FIELD_KIND_TABLE, {.table = {2, caps}}}},
    };
    amqp_table_t table = {2, props};
    return amqp_login_with_properties(st, conf->url.vhost, 0, FRAME_MAX, conf->heartbeat_s, &table,
                                      AMQP_SASL_METHOD_PLAIN, conf->url.user, conf->url.password);
}

int rmq_open(struct rmq_conn *c, const struct rmq_conf *conf, char *err, size_t errlen)
{
    char what[512];
    struct timeval tv = {conf->timeout_ms / 1000, (conf->timeout_ms % 1000) * 1000};
    int rc = RMQ_TRANSIENT;
    c->blocked = false;
    c->st = amqp_new_connection();
    if (!c->st) {
        snprintf(err, errlen, "out of memory");
        return RMQ_TRANSIENT;
    }
    amqp_socket_t *s = make_socket(c->st, conf, err, errlen);
    if (!s) {
        rc = RMQ_FATAL; /* bad TLS files */
        goto out_destroy;
    }
    int st = amqp_socket_open_noblock(s, conf->url.host, conf->url.port, &tv);
    if (st != AMQP_STATUS_OK) {
        snprintf(err, errlen, "cannot connect: %s", amqp_error_string2(st));
        /* a certificate that does not verify will not verify next time either */
        if (st == AMQP_STATUS_SSL_PEER_VERIFY_FAILED ||
            st == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED)
            rc = RMQ_FATAL;
        goto out_destroy;
    }
    amqp_set_handshake_timeout(c->st, &tv);
    amqp_set_rpc_timeout(c->st, &tv);
    snprintf(what, sizeof(what), "login as \"%s\" to vhost \"%s\"", conf->url.user,
             conf->url.vhost);
    if ((rc = rmq_reply_check(c->st, login(c->st, conf), what, err, errlen)) != RMQ_OK)
        goto out_destroy;
    amqp_channel_open(c->st, 1);
    if ((rc = rmq_reply_check(c->st, amqp_get_rpc_reply(c->st), "open channel", err, errlen)) !=
        RMQ_OK)
        goto out_destroy;
    if ((rc = rmq_declare_apply(c->st, &conf->declare, err, errlen)) != RMQ_OK)
        goto out_destroy;
    c->failures = 0;
    c->generation++;
    c->last_beat_ms = monotime_ms();
    return RMQ_OK;

out_destroy:
    amqp_destroy_connection(c->st);
    c->st = NULL;
    c->failures++;
    return rc;
}

void rmq_close(struct rmq_conn *c, bool graceful)
{
    if (!c->st)
        return;
    if (graceful) {
        amqp_channel_close(c->st, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(c->st, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(c->st);
    c->st = NULL;
}

int rmq_common_frame(struct rmq_conn *c, const amqp_frame_t *f, bool *handled, char *err,
                     size_t errlen)
{
    *handled = false;
    if (f->frame_type != AMQP_FRAME_METHOD)
        return RMQ_OK;
    switch (f->payload.method.id) {
    case AMQP_CONNECTION_BLOCKED_METHOD:
        c->blocked = true;
        *handled = true;
        return RMQ_OK;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        c->blocked = false;
        *handled = true;
        return RMQ_OK;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        *handled = true;
        return broker_closed(c->st, &f->payload.method, NULL, err, errlen);
    default:
        return RMQ_OK;
    }
}

int rmq_wait_frame(struct rmq_conn *c, int wake_fd, int timeout_ms, amqp_frame_t *f, char *err,
                   size_t errlen)
{
    if (!amqp_frames_enqueued(c->st) && !amqp_data_in_buffer(c->st) && timeout_ms > 0) {
        struct pollfd p[2] = {{amqp_get_sockfd(c->st), POLLIN, 0}, {wake_fd, POLLIN, 0}};
        int r = poll(p, wake_fd >= 0 ? 2 : 1, timeout_ms);
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return RMQ_TRANSIENT;
        }
    }
    /* A zero wait also sends our heartbeat when due and notices a broker
     * that went silent for two intervals. */
    struct timeval zero = {0, 0};
    int st = amqp_simple_wait_frame_noblock(c->st, f, &zero);
    if (st == AMQP_STATUS_OK)
        return 1;
    if (st == AMQP_STATUS_TIMEOUT)
        return 0;
    snprintf(err, errlen, "connection lost: %s", amqp_error_string2(st));
    return RMQ_TRANSIENT;
}

int rmq_keepalive(struct rmq_conn *c, const struct rmq_conf *conf)
{
    int64_t now = monotime_ms();
    if (!c->st || conf->heartbeat_s <= 0 || now - c->last_beat_ms < conf->heartbeat_s * 500)
        return RMQ_OK;
    c->last_beat_ms = now;
    amqp_frame_t hb = {.frame_type = AMQP_FRAME_HEARTBEAT, .channel = 0};
    return amqp_send_frame(c->st, &hb) == AMQP_STATUS_OK ? RMQ_OK : RMQ_TRANSIENT;
}

/* xorshift, seeded per thread from the clock and the stack address */
static uint64_t jitter_rand(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)ts.tv_sec;
        s |= 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

int64_t rmq_backoff_ms(const struct rmq_conn *c, const struct rmq_conf *conf)
{
    int64_t d = conf->backoff_ms;
    for (unsigned i = 1; i < c->failures && d < conf->max_backoff_ms; i++)
        d *= 2;
    if (d > conf->max_backoff_ms)
        d = conf->max_backoff_ms;
    return d / 2 + (int64_t)(jitter_rand() % (uint64_t)(d / 2 + 1));
}

void rmq_report(const struct rmq_conf *conf, unsigned worker, bool up, const char *err)
{
    char why[300];
    snprintf(why, sizeof(why), "rabbitmq: %s: %s", conf->url.shown, err ? err : "not connected");
    sl_instance_set_ready(conf->inst, worker, up, up ? NULL : why);
}

bool rmq_backoff(struct rmq_conn *c, const struct rmq_conf *conf, const atomic_bool *stop)
{
    int64_t end = monotime_ms() + rmq_backoff_ms(c, conf);
    while (!atomic_load(stop)) {
        int64_t left = end - monotime_ms();
        if (left <= 0)
            return true;
        if (left > 50)
            left = 50;
        nanosleep(&(struct timespec){0, left * 1000000}, NULL);
    }
    return false;
}
