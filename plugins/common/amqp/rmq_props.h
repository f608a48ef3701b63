/* rmq_props.h - AMQP message properties and headers <-> sluice headers.
 *
 * Inbound, the AMQP headers table becomes message headers (values that are
 * not strings as text: numbers in decimal, booleans as true/false, arrays and
 * tables as JSON), and each property set on the message becomes a header
 * named amqp_<property> (amqp_content_type, amqp_message_id, amqp_timestamp
 * in seconds, ...). Outbound, amqp_<property> headers become properties again
 * and every other header goes into the headers table as a string. */
#ifndef SLUICE_RMQ_PROPS_H
#define SLUICE_RMQ_PROPS_H

#include <amqp.h>
#include <stdbool.h>
#include <sluice/sluice.h>

/* Header names with this prefix are sluice's view of AMQP properties and of
 * delivery facts; they never travel as AMQP headers. */
#define RMQ_HEADER_PREFIX "amqp_"

/* Adds the delivery's headers table and properties to m. scratch is a
 * caller-owned buffer reused for text conversions. Returns 0, -1 out of memory. */
int rmq_props_to_msg(struct sl_msg *m, const amqp_basic_properties_t *p, struct sl_buf *scratch);

/* Publishing defaults from the output's `properties` group. */
struct rmq_out_props {
    amqp_basic_properties_t defaults;
    bool force_persistent; /* `persistent = true`: delivery_mode 2 always */
    bool keep_headers;     /* carry the message's headers over */
    bool trace_header;     /* write traceparent */
};

/* Reads the `properties` group (property name = value) into defaults. Logs
 * FILE:LINE problems and returns -1. Strings point into the config. */
int rmq_out_props_init(struct rmq_out_props *o, const struct sl_instance *inst);

/* The properties to publish m with: defaults, overridden by m's amqp_*
 * headers, and a headers table from the rest (allocated in m's arena).
 * Returns 0, or -1 out of memory. */
int rmq_props_from_msg(struct sl_msg *m, const struct rmq_out_props *o, amqp_basic_properties_t *p);

#endif
