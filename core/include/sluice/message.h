/* sluice/message.h - the message every stage passes on, and the buffers it owns. */
#ifndef SLUICE_MESSAGE_H
#define SLUICE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growable byte buffer. Its memory is kept when the message is reused.
 * The sl_buf_* calls touch only the buffer: any thread, one at a time per
 * buffer. A message's buffers belong to the message (the pool frees them);
 * sl_buf_free is for buffers a plugin made itself. */
struct sl_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* Make room for `extra` more bytes. Returns 0, or -1 when out of memory. */
int sl_buf_reserve(struct sl_buf *b, size_t extra);
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
int sl_buf_set(struct sl_buf *b, const void *p, size_t n);
void sl_buf_free(struct sl_buf *b);

struct sl_header {
    const char *name; /* NUL-terminated, in the message arena */
    const uint8_t *value;
    uint32_t value_len;
};

/* Where a message came from; filled by the input. */
struct sl_source {
    const char *name;  /* topic, queue or file path; NULL if none */
    int32_t partition; /* -1 when not partitioned */
    int64_t offset;    /* offset, delivery tag or line number; -1 if none */
    int64_t timestamp_ms;
    /* A replayed dead letter (envelope codec): the x-sluice-* headers of
     * its failure, in the message arena; NULL and 0 otherwise. */
    const struct sl_header *failure;
    uint32_t n_failure;
};

/* Only the engine makes messages (sl_sink_msg, sl_msg_derive): it keeps
 * its own state beside each one, so a plugin never declares, copies or
 * frees a struct sl_msg itself.
 *
 * Threads and ownership: a message has one owner at a time, the stage whose
 * callback holds it (input worker until sl_sink_emit, handler until
 * sl_emit/sl_fail/sl_msg_release, output from write() to sl_out_done). Only
 * the owner's thread reads or changes it, so the sl_msg_* calls below need
 * no lock; pointers into a message (headers, record, route) die with it. */
struct sl_msg {
    struct sl_buf payload; /* original bytes as the input read them */
    struct sl_buf key;
    bool has_key;
    struct sl_header *headers; /* in arena */
    uint32_t n_headers;
    uint32_t headers_cap;
    struct sl_value *record; /* decoded record, NULL until a codec decoded it */
    const char *route;       /* routing label; defaults to the input's name */
    uint8_t trace_id[16];    /* W3C trace context, always set once emitted */
    uint8_t span_id[8];
    uint32_t attempts; /* failed attempts so far at the current stage */
    struct sl_source source;
    uint64_t cookie;   /* input-defined; handed back in sl_delivery */
    struct sl_buf out; /* encoded bytes an output writes (see sl_msg_out) */
    bool out_raw;      /* out not used: the payload is written as is */
    struct sl_arena arena;
    /* Input-specific facts about where the message came from, beyond
     * struct sl_source (e.g. an AMQP exchange and routing key), set with
     * sl_msg_set_source_attr; in the arena. They belong to the source but
     * sit here, after every field of ABI 2.0, so that plugins built
     * against 2.0 keep their field offsets. */
    struct sl_header *source_attrs;
    uint32_t n_source_attrs;
    uint32_t source_attrs_cap;
};

/* Set (replace) a header; name and value are copied into the message arena.
 * Returns 0, or -1 out of memory. */
int sl_msg_set_header(struct sl_msg *m, const char *name, const void *value, size_t len);
/* First header with this name, or NULL; valid while the message is owned. */
const struct sl_header *sl_msg_header(const struct sl_msg *m, const char *name);
/* Remove every header with this name. */
void sl_msg_del_header(struct sl_msg *m, const char *name);
/* Set (replace) an input-specific source attribute: a fact about where the
 * message came from that struct sl_source has no field for. name and value
 * are copied into the message arena; derived and cloned messages inherit
 * them like the source. Handlers see each as a field of the source (Lua:
 * msg.source.NAME): a value that is exactly "true" or "false" as a
 * boolean, any other as a string. The names name, partition, offset,
 * timestamp and failure are taken by struct sl_source and hidden by it.
 * The message's owner thread (normally the input, before sl_sink_emit).
 * Returns 0, or -1 out of memory. */
int sl_msg_set_source_attr(struct sl_msg *m, const char *name, const void *value, size_t len);
/* First source attribute with this name, or NULL; valid while the message
 * is owned. */
const struct sl_header *sl_msg_source_attr(const struct sl_msg *m, const char *name);
/* Copy a string into the message arena and use it as the route. */
int sl_msg_set_route(struct sl_msg *m, const char *route);
/* Bytes an output should write: the encoded form, or the payload when raw. */
static inline const uint8_t *sl_msg_out_data(const struct sl_msg *m)
{
    return m->out_raw ? m->payload.data : m->out.data;
}
static inline size_t sl_msg_out_len(const struct sl_msg *m)
{
    return m->out_raw ? m->payload.len : m->out.len;
}
/* W3C traceparent of the message: "00-<32 hex>-<16 hex>-01", buf >= 56 bytes
 * (flags "00" when tracing is on and did not sample the trace). */
void sl_msg_traceparent(const struct sl_msg *m, char *buf);
/* Parse a traceparent value into trace_id/span_id. Returns 0, or -1 if invalid. */
int sl_msg_parse_traceparent(struct sl_msg *m, const char *v, size_t len);

/* A new message that inherits the parent's key, headers, route, trace id and
 * source, and holds a share of the parent's ack: the parent's input learns of
 * delivery only when every derived message is delivered too. NULL when out of
 * memory. Record and payload start empty. The caller (a handler, in process)
 * owns the new message and hands it on like any other. */
struct sl_msg *sl_msg_derive(const struct sl_msg *parent);
/* Give the message back. If it was not handed on, this counts as "dropped on
 * purpose": its share of the ack completes. The owner's thread; the message
 * must not be touched afterwards. */
void sl_msg_release(struct sl_msg *m);

#ifdef __cplusplus
}
#endif
#endif
