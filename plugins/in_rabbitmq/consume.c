/* consume.c - consumer setup and delivery -> message. */
#include "consume.h"

#include <stdio.h>
#include <string.h>

#include "rmq_props.h"

int consume_start(amqp_connection_state_t st, const char *queue, int prefetch, const char *tag,
                  char *got_tag, size_t got_len, char *err, size_t errlen)
{
    char what[512];
    amqp_basic_qos(st, 1, 0, (uint16_t)prefetch, 0);
    snprintf(what, sizeof(what), "prefetch %d", prefetch);
    int rc = rmq_reply_check(st, amqp_get_rpc_reply(st), what, err, errlen);
    if (rc != RMQ_OK)
        return rc;
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(
        st, 1, amqp_cstring_bytes(queue), tag[0] ? amqp_cstring_bytes(tag) : amqp_empty_bytes, 0, 0,
        0, amqp_empty_table);
    snprintf(what, sizeof(what), "consume from queue \"%s\"", queue);
    rc = rmq_reply_check(st, amqp_get_rpc_reply(st), what, err, errlen);
    if (rc != RMQ_OK)
        return rc;
    snprintf(got_tag, got_len, "%.*s", (int)ok->consumer_tag.len,
             (const char *)ok->consumer_tag.bytes);
    return RMQ_OK;
}

static int set_text_header(struct sl_msg *m, const char *name, amqp_bytes_t b)
{
    return sl_msg_set_header(m, name, b.bytes ? b.bytes : "", b.len);
}

static int set_text_attr(struct sl_msg *m, const char *name, amqp_bytes_t b)
{
    return sl_msg_set_source_attr(m, name, b.bytes ? b.bytes : "", b.len);
}

/* The delivery's facts as source attributes (msg.source.* in Lua). */
static int set_source_attrs(struct sl_msg *m, const amqp_basic_deliver_t *d, const char *queue)
{
    const char *redelivered = d->redelivered ? "true" : "false";
    if (sl_msg_set_source_attr(m, "queue", queue, strlen(queue)) < 0 ||
        set_text_attr(m, "exchange", d->exchange) < 0 ||
        set_text_attr(m, "routing_key", d->routing_key) < 0 ||
        set_text_attr(m, "consumer_tag", d->consumer_tag) < 0 ||
        sl_msg_set_source_attr(m, "redelivered", redelivered, strlen(redelivered)) < 0)
        return -1;
    return 0;
}

int consume_read(amqp_connection_state_t st, const amqp_basic_deliver_t *d, const char *queue,
                 struct sl_msg *m, struct sl_buf *scratch, char *err, size_t errlen)
{
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(st, 1, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return rmq_reply_check(st, r, "read delivery", err, errlen) == RMQ_FATAL ? RMQ_FATAL
                                                                                 : RMQ_TRANSIENT;
    int rc = RMQ_OK;
    if (sl_buf_set(&m->payload, msg.body.bytes, msg.body.len) < 0 ||
        rmq_props_to_msg(m, &msg.properties, scratch) < 0 ||
        set_text_header(m, RMQ_HEADER_PREFIX "exchange", d->exchange) < 0 ||
        set_text_header(m, RMQ_HEADER_PREFIX "routing_key", d->routing_key) < 0 ||
        sl_msg_set_header(m, RMQ_HEADER_PREFIX "redelivered", d->redelivered ? "true" : "false",
                          d->redelivered ? 4 : 5) < 0 ||
        set_source_attrs(m, d, queue) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = RMQ_TRANSIENT;
    }
    m->source.name = queue;
    m->source.offset = (int64_t)d->delivery_tag;
    if (msg.properties._flags & AMQP_BASIC_TIMESTAMP_FLAG)
        m->source.timestamp_ms = (int64_t)msg.properties.timestamp * 1000;
    amqp_destroy_message(&msg);
    return rc;
}

int consume_skip(amqp_connection_state_t st, char *err, size_t errlen)
{
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(st, 1, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return rmq_reply_check(st, r, "read delivery", err, errlen);
    amqp_destroy_message(&msg);
    return RMQ_OK;
}
