/* rmq_conn.h - one AMQP connection with one channel (channel 1), as both
 * RabbitMQ plugins use it: connect settings read from the options both share,
 * login, failure classification, reconnect backoff with jitter, heartbeats.
 * librabbitmq has no background thread and its connection state is not
 * thread-safe: each connection belongs to one worker thread. */
#ifndef SLUICE_RMQ_CONN_H
#define SLUICE_RMQ_CONN_H

#include <amqp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sluice/sluice.h>

#include "monotime.h"
#include "rmq_declare.h"
#include "rmq_url.h"

/* Outcomes of connection work. */
enum rmq_status {
    RMQ_OK = 0,
    RMQ_TRANSIENT = -1, /* network, broker restart, timeout: connect again */
    RMQ_FATAL = -2,     /* credentials, vhost, permissions, missing queue: retrying cannot help */
};

/* The options every RabbitMQ plugin takes, for its options table. The core
 * checks types and ranges at --check; rmq_conf_init checks the rest. */
#define RMQ_CONN_OPTIONS                                                                           \
    {.name = "url",                                                                                \
     .type = SL_OPT_STRING,                                                                        \
     .required = true,                                                                             \
     .check = SL_CHECK_NONEMPTY,                                                                   \
     .doc = "amqp://user:password@host:port/vhost, or amqps:// for TLS (see tls)"},                \
        {.name = "tls",                                                                            \
         .type = SL_OPT_GROUP,                                                                     \
         .doc = "amqps:// settings: { ca = FILE; cert = FILE; key = FILE; verify = true; }"},      \
        {.name = "heartbeat_s",                                                                    \
         .type = SL_OPT_INT,                                                                       \
         .def = "30",                                                                              \
         SL_RANGE(0, 3600),                                                                        \
         .doc = "AMQP heartbeat interval asked of the broker, seconds (0: none)"},                 \
        {.name = "connect_timeout_ms",                                                             \
         .type = SL_OPT_INT,                                                                       \
         .def = "10000",                                                                           \
         .check = SL_CHECK_DURATION_MS,                                                            \
         SL_RANGE(100, 600000),                                                                    \
         .doc = "TCP connect, login and each broker call (declare, consume) give up after this"},  \
        {.name = "reconnect_backoff_ms",                                                           \
         .type = SL_OPT_INT,                                                                       \
         .def = "200",                                                                             \
         .check = SL_CHECK_DURATION_MS,                                                            \
         SL_RANGE(1, 600000),                                                                      \
         .doc = "first wait before reconnecting; doubles per failure, with jitter"},               \
        {.name = "reconnect_max_backoff_ms",                                                       \
         .type = SL_OPT_INT,                                                                       \
         .def = "15000",                                                                           \
         .check = SL_CHECK_DURATION_MS,                                                            \
         SL_RANGE(1, 3600000),                                                                     \
         .doc = "longest wait between reconnect attempts (>= reconnect_backoff_ms)"},              \
    {                                                                                              \
        .name = "declare", .type = SL_OPT_GROUP,                                                   \
        .doc =                                                                                     \
            "declared after each connect: { queue = {...}; exchange = {...}; bindings = (...); }"  \
    }

/* Connection settings, read once at init. */
struct rmq_conf {
    const struct sl_instance *inst;
    struct rmq_url url;
    const char *ca, *cert, *key; /* TLS files, NULL when unset */
    bool verify;                 /* check the broker's certificate and name */
    int heartbeat_s;
    int timeout_ms;
    int64_t backoff_ms, max_backoff_ms;
    struct rmq_declare declare;
};

/* Reads the shared options (default_queue: see rmq_declare_parse). Logs
 * FILE:LINE errors and returns -1; the conf is freed then. */
int rmq_conf_init(struct rmq_conf *c, const struct sl_instance *inst, const char *default_queue);
void rmq_conf_free(struct rmq_conf *c);

struct rmq_conn {
    amqp_connection_state_t st; /* NULL while disconnected */
    bool blocked;               /* connection.blocked: the broker refuses publishes for now */
    unsigned failures;          /* failed connects in a row, for the backoff */
    uint64_t generation;        /* bumped per successful connect */
    int64_t last_beat_ms;       /* our last heartbeat sent while not reading */
};

/* Connects, logs in, opens channel 1 and applies the declare group. Returns
 * RMQ_OK, or RMQ_TRANSIENT / RMQ_FATAL with err saying what failed (callers
 * log it after the URL's shown form, never the password). */
int rmq_open(struct rmq_conn *c, const struct rmq_conf *conf, char *err, size_t errlen);
/* Closes politely when graceful (bounded by the timeout), else drops the socket. */
void rmq_close(struct rmq_conn *c, bool graceful);

/* Classifies a broker call's reply: RMQ_OK, or a status with "what: reason"
 * in err. A channel or connection close from the broker is answered. */
int rmq_reply_check(amqp_connection_state_t st, amqp_rpc_reply_t r, const char *what, char *err,
                    size_t errlen);

/* Frames every consumer of a connection must handle the same way: blocked,
 * unblocked, channel.close and connection.close (answered, then reported as
 * a status with the broker's reason in err). Returns RMQ_OK for anything else
 * (the caller's frame) and sets *handled when the frame was one of these. */
int rmq_common_frame(struct rmq_conn *c, const amqp_frame_t *f, bool *handled, char *err,
                     size_t errlen);

/* Waits up to timeout_ms for a frame, also waking when wake_fd (-1: none)
 * becomes readable. Serves heartbeats both ways. Returns 1 with *f set, 0 when
 * nothing came, or RMQ_TRANSIENT with err set when the connection is gone. */
int rmq_wait_frame(struct rmq_conn *c, int wake_fd, int timeout_ms, amqp_frame_t *f, char *err,
                   size_t errlen);

/* Sends a heartbeat when half an interval passed since the last one: for
 * times the owner cannot read the socket (backpressure). */
int rmq_keepalive(struct rmq_conn *c, const struct rmq_conf *conf);

/* Sleeps before the next connect: exponential from backoff_ms to
 * max_backoff_ms per failure, a random point in [d/2, d]. Returns early
 * (false) once *stop is set. */
bool rmq_backoff(struct rmq_conn *c, const struct rmq_conf *conf, const atomic_bool *stop);

int64_t rmq_now_ms(void);

/* Reports worker's connection to /readyz: up, or down with err (shown after
 * the URL's shown form, never the password). Any thread. */
void rmq_report(const struct rmq_conf *conf, unsigned worker, bool up, const char *err);

/* The wait before the next connect, as rmq_backoff computes it, for a caller
 * that must not sleep (an idle output reconnecting between polls). */
int64_t rmq_backoff_ms(const struct rmq_conn *c, const struct rmq_conf *conf);

#endif
