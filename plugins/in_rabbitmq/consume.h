/* consume.h - a consumer on channel 1, and deliveries turned into messages. */
#ifndef SLUICE_CONSUME_H
#define SLUICE_CONSUME_H

#include <amqp.h>
#include <sluice/sluice.h>

#include "rmq_conn.h"

/* basic.qos with prefetch, then basic.consume with manual acks on queue.
 * tag may be empty (the broker names the consumer); the tag in use is copied
 * to got_tag. Returns RMQ_OK or a status with err set (a missing queue is
 * RMQ_FATAL). */
int consume_start(amqp_connection_state_t st, const char *queue, int prefetch, const char *tag,
                  char *got_tag, size_t got_len, char *err, size_t errlen);

/* Reads the content frames that follow basic.deliver d and fills m: payload,
 * headers (see rmq_props.h, plus amqp_exchange, amqp_routing_key and
 * amqp_redelivered), source (queue, delivery tag, timestamp). Returns RMQ_OK,
 * or RMQ_TRANSIENT with err set (connection lost mid-message, out of memory). */
int consume_read(amqp_connection_state_t st, const amqp_basic_deliver_t *d, const char *queue,
                 struct sl_msg *m, struct sl_buf *scratch, char *err, size_t errlen);

/* Reads and forgets the content of a delivery we will not emit (after the
 * consumer was cancelled): the broker requeues it when the channel closes. */
int consume_skip(amqp_connection_state_t st, char *err, size_t errlen);

#endif
