/* rmq_declare.h - the `declare` option: a queue, an exchange and bindings made
 * after every connect, so a fresh broker (or a restarted one that lost
 * non-durable things) gets what the pipeline needs. */
#ifndef SLUICE_RMQ_DECLARE_H
#define SLUICE_RMQ_DECLARE_H

#include <amqp.h>
#include <stdbool.h>
#include <sluice/sluice.h>

struct rmq_binding {
    const char *exchange;
    const char *routing_key;
    const char *queue;
};

struct rmq_declare {
    bool queue; /* declare a queue */
    const char *queue_name;
    bool durable, exclusive, auto_delete;
    amqp_table_t arguments; /* x-queue-type, x-max-length, ... */
    bool exchange;          /* declare an exchange */
    const char *exchange_name;
    const char *exchange_type;
    bool exchange_durable, exchange_auto_delete;
    struct rmq_binding *bindings;
    size_t n_bindings;
};

/* Reads the instance's `declare` group (absent: nothing to declare). The
 * queue is named default_queue unless the group names one. Strings point into
 * the instance's config. Logs FILE:LINE problems and returns -1. */
int rmq_declare_parse(const struct sl_instance *inst, const char *default_queue,
                      struct rmq_declare *d);
void rmq_declare_free(struct rmq_declare *d);

/* Declares on channel 1 of an open connection. Returns 0, or an rmq status
 * (RMQ_FATAL for refusals such as inequivalent arguments) with err set. */
int rmq_declare_apply(amqp_connection_state_t st, const struct rmq_declare *d, char *err,
                      size_t errlen);

#endif
