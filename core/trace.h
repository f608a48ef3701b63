/* trace.h - what trace.c (spans from the stages) and trace_export.c (the
 * OTLP/HTTP exporter thread) share; never installed. */
#ifndef SLUICE_TRACE_H
#define SLUICE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* One finished span, copied out of the message it describes: nothing in it
 * points into a message, which may be recycled by the time it is sent. */
struct sl__span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent;
    bool producer; /* an output's encode + publish; else internal */
    bool failed;
    uint32_t attempts;
    int32_t partition; /* -1: none */
    int64_t offset;    /* -1: none */
    uint64_t start_unix_ns, end_unix_ns;
    char name[80];
    char stage[64];
    char plugin[32];
    char route[64];
    char source[96];
    char error[160];
};

struct sl__exporter_conf {
    const char *url; /* endpoint + /v1/traces */
    const char *const *headers;
    size_t n_headers;
    const char *service_name;
    const char *pipeline;
    uint32_t queue_spans;
    uint32_t timeout_ms;
};

/* Start the exporter thread. Returns 0 or -1 (logged). */
int sl__exporter_start(const struct sl__exporter_conf *conf);
/* Queue a span; never blocks: when the queue is full it is dropped and
 * counted. */
void sl__exporter_push(const struct sl__span *s);
/* Send what is queued (for at most about a second per batch and three in
 * all), then stop the thread. The counters stay readable. */
void sl__exporter_stop(void);
struct sl__exporter_stats {
    uint64_t exported; /* accepted by the collector */
    uint64_t dropped;  /* queue full, or left at stop */
    uint64_t failed;   /* sent, and the collector failed or could not be reached */
};
void sl__exporter_stats(struct sl__exporter_stats *out);

#endif
