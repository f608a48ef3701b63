/* trace_export.c - the OTLP/HTTP exporter: a bounded queue of finished spans
 * and one background thread that sends them in batches as a gzip'd protobuf
 * ExportTraceServiceRequest (POST /v1/traces) with libcurl. Workers only ever
 * copy a span in under a short lock; a slow or dead collector fills the
 * queue, and then spans are dropped and counted, never waited for. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "engine.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "trace.h"

enum { BATCH_SPANS = 512, FLUSH_EVERY_MS = 1000, STOP_BUDGET_MS = 3000 };

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sl__span *ring;
    uint32_t cap, head, count;
    bool stopping, running;
    _Atomic int64_t abort_at; /* at stop: give up a request in flight then */
    pthread_t thread;
    struct sl__exporter_conf conf;
    CURL *curl;
    struct curl_slist *headers;
    _Atomic uint64_t exported, dropped, failed;
} ex = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void sl__exporter_push(const struct sl__span *s)
{
    pthread_mutex_lock(&ex.mu);
    if (!ex.running || ex.count == ex.cap) {
        pthread_mutex_unlock(&ex.mu);
        atomic_fetch_add_explicit(&ex.dropped, 1, memory_order_relaxed);
        return;
    }
    ex.ring[(ex.head + ex.count) % ex.cap] = *s;
    ex.count++;
    bool wake = ex.count == BATCH_SPANS;
    pthread_mutex_unlock(&ex.mu);
    if (wake)
        pthread_cond_signal(&ex.cv);
}

/* ---- one request: spans -> protobuf -> gzip ---- */

struct attrs {
    KeyValue kv[8];
    AnyValue v[8];
    KeyValue *p[8];
    size_t n;
};

static void attr_str(struct attrs *a, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    size_t i = a->n++;
    opentelemetry__proto__common__v1__key_value__init(&a->kv[i]);
    opentelemetry__proto__common__v1__any_value__init(&a->v[i]);
    a->kv[i].key = (char *)key;
    a->v[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    a->v[i].string_value = (char *)value;
    a->kv[i].value = &a->v[i];
    a->p[i] = &a->kv[i];
}

static void attr_int(struct attrs *a, const char *key, int64_t value)
{
    size_t i = a->n++;
    opentelemetry__proto__common__v1__key_value__init(&a->kv[i]);
    opentelemetry__proto__common__v1__any_value__init(&a->v[i]);
    a->kv[i].key = (char *)key;
    a->v[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    a->v[i].int_value = value;
    a->kv[i].value = &a->v[i];
    a->p[i] = &a->kv[i];
}

/* Pack spans[0..n) into an ExportTraceServiceRequest. malloc'd; NULL on
 * out of memory. */
static uint8_t *pack_request(struct sl__span *spans, size_t n, size_t *len)
{
    Span *sp = calloc(n, sizeof(*sp));
    Span **spp = calloc(n, sizeof(*spp));
    struct attrs *at = calloc(n, sizeof(*at));
    Opentelemetry__Proto__Trace__V1__Status *st = calloc(n, sizeof(*st));
    uint8_t *buf = NULL;
    if (!sp || !spp || !at || !st)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct sl__span *s = &spans[i];
        Span *p = &sp[i];
        opentelemetry__proto__trace__v1__span__init(p);
        p->trace_id = (ProtobufCBinaryData){16, s->trace_id};
        p->span_id = (ProtobufCBinaryData){8, s->span_id};
        if (s->has_parent)
            p->parent_span_id = (ProtobufCBinaryData){8, s->parent_span_id};
        p->name = s->name;
        p->kind = s->producer
                      ? OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_PRODUCER
                      : OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
        p->start_time_unix_nano = s->start_unix_ns;
        p->end_time_unix_nano = s->end_unix_ns;
        struct attrs *a = &at[i];
        attr_str(a, "sluice.stage", s->stage);
        attr_str(a, "sluice.plugin", s->plugin);
        attr_str(a, "sluice.route", s->route);
        attr_int(a, "sluice.attempts", s->attempts);
        attr_str(a, "sluice.source", s->source);
        if (s->partition >= 0)
            attr_int(a, "messaging.kafka.destination.partition", s->partition);
        if (s->offset >= 0)
            attr_int(a, s->partition >= 0 ? "messaging.kafka.message.offset" : "sluice.offset",
                     s->offset);
        attr_str(a, "error.message", s->failed ? s->error : NULL);
        p->n_attributes = a->n;
        p->attributes = a->p;
        opentelemetry__proto__trace__v1__status__init(&st[i]);
        if (s->failed) {
            st[i].code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
            st[i].message = s->error;
        }
        p->status = &st[i];
        spp[i] = p;
    }
    struct attrs res = {0};
    attr_str(&res, "service.name", ex.conf.service_name);
    attr_str(&res, "sluice.pipeline", ex.conf.pipeline);
    Opentelemetry__Proto__Resource__V1__Resource resource;
    opentelemetry__proto__resource__v1__resource__init(&resource);
    resource.n_attributes = res.n;
    resource.attributes = res.p;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
    scope.name = "sluice";
    scope.version = SLUICE_VERSION;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss;
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.scope = &scope;
    ss.n_spans = n;
    ss.spans = spp;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.resource = &resource;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;
    *len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    if ((buf = malloc(*len ? *len : 1)))
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
out:
    free(sp);
    free(spp);
    free(at);
    free(st);
    return buf;
}

/* gzip (RFC 1952) of in[0..len). malloc'd; NULL on failure. */
static uint8_t *gzip(const uint8_t *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)len);
    uint8_t *out = malloc(cap);
    if (out) {
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
            free(out);
            out = NULL;
        } else {
            *out_len = z.total_out;
        }
    }
    deflateEnd(&z);
    return out;
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int stop_check(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    int64_t at = atomic_load_explicit(&ex.abort_at, memory_order_relaxed);
    return at && sl__now_ns() >= at;
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* POST one batch. Counts it as exported or failed. */
static void send_batch(struct sl__span *spans, size_t n, uint32_t timeout_ms)
{
    size_t raw_len = 0, gz_len = 0;
    uint8_t *raw = pack_request(spans, n, &raw_len);
    uint8_t *gz = raw ? gzip(raw, raw_len, &gz_len) : NULL;
    free(raw);
    if (!gz) {
        atomic_fetch_add_explicit(&ex.failed, n, memory_order_relaxed);
        return;
    }
    curl_easy_setopt(ex.curl, CURLOPT_POSTFIELDS, gz);
    curl_easy_setopt(ex.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)gz_len);
    curl_easy_setopt(ex.curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    CURLcode rc = curl_easy_perform(ex.curl);
    long status = 0;
    curl_easy_getinfo(ex.curl, CURLINFO_RESPONSE_CODE, &status);
    free(gz);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        atomic_fetch_add_explicit(&ex.exported, n, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&ex.failed, n, memory_order_relaxed);
    static struct sl__throttle throttle;
    uint64_t suppressed;
    if (!sl__throttle_pass(&throttle, &suppressed))
        return;
    char more[64] = "";
    if (suppressed)
        snprintf(more, sizeof(more), " (%llu similar lines suppressed)",
                 (unsigned long long)suppressed);
    char why[64];
    snprintf(why, sizeof(why), "HTTP status %ld", status);
    sl__log_unlimited(NULL, SL_LOG_WARN, "tracing: %zu spans not exported to %s: %s%s", n,
                      ex.conf.url, rc != CURLE_OK ? curl_easy_strerror(rc) : why, more);
}

/* Take up to BATCH_SPANS from the queue into out; the caller holds ex.mu. */
static size_t take(struct sl__span *out)
{
    size_t n = ex.count < BATCH_SPANS ? ex.count : BATCH_SPANS;
    for (size_t i = 0; i < n; i++)
        out[i] = ex.ring[(ex.head + i) % ex.cap];
    ex.head = (ex.head + (uint32_t)n) % ex.cap;
    ex.count -= (uint32_t)n;
    return n;
}

static void *exporter_main(void *arg)
{
    (void)arg;
    struct sl__span *batch = malloc(BATCH_SPANS * sizeof(*batch));
    if (!batch)
        return NULL;
    pthread_mutex_lock(&ex.mu);
    int64_t stop_deadline = 0;
    for (;;) {
        while (!ex.stopping && ex.count < BATCH_SPANS) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += FLUSH_EVERY_MS / 1000;
            if (pthread_cond_timedwait(&ex.cv, &ex.mu, &ts) != 0)
                break; /* a second went by: send what there is */
        }
        if (ex.stopping && !stop_deadline)
            stop_deadline = atomic_load(&ex.abort_at);
        if (ex.stopping && (!ex.count || sl__now_ns() >= stop_deadline)) {
            atomic_fetch_add_explicit(&ex.dropped, ex.count, memory_order_relaxed);
            ex.count = 0;
            ex.running = false;
            break;
        }
        size_t n = take(batch);
        pthread_mutex_unlock(&ex.mu);
        if (n) {
            uint32_t timeout = ex.conf.timeout_ms;
            if (stop_deadline) {
                int64_t left = (stop_deadline - sl__now_ns()) / 1000000;
                timeout = left < 1 ? 1 : left < timeout ? (uint32_t)left : timeout;
            }
            send_batch(batch, n, timeout);
        }
        pthread_mutex_lock(&ex.mu);
    }
    pthread_mutex_unlock(&ex.mu);
    free(batch);
    return NULL;
}

int sl__exporter_start(const struct sl__exporter_conf *conf)
{
    ex.conf = *conf;
    ex.cap = conf->queue_spans;
    ex.head = ex.count = 0;
    ex.stopping = false;
    if (!(ex.ring = malloc((size_t)ex.cap * sizeof(*ex.ring))))
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(ex.curl = curl_easy_init()))
        goto out_free;
    ex.headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    ex.headers = curl_slist_append(ex.headers, "Content-Encoding: gzip");
    for (size_t i = 0; i < conf->n_headers; i++) {
        /* "name=value" (as OTEL_EXPORTER_OTLP_HEADERS) -> "name: value" */
        const char *h = conf->headers[i], *eq = strchr(h, '=');
        char line[1024];
        snprintf(line, sizeof(line), "%.*s: %s", (int)(eq - h), h, eq + 1);
        ex.headers = curl_slist_append(ex.headers, line);
    }
    curl_easy_setopt(ex.curl, CURLOPT_URL, conf->url);
    curl_easy_setopt(ex.curl, CURLOPT_HTTPHEADER, ex.headers);
    curl_easy_setopt(ex.curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(ex.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ex.curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(ex.curl, CURLOPT_XFERINFOFUNCTION, stop_check);
    curl_easy_setopt(ex.curl, CURLOPT_NOPROGRESS, 0L);
    ex.abort_at = 0;
    ex.running = true;
    if (pthread_create(&ex.thread, NULL, exporter_main, NULL) != 0) {
        ex.running = false;
        goto out_curl;
    }
    return 0;
out_curl:
    curl_slist_free_all(ex.headers);
    curl_easy_cleanup(ex.curl);
out_free:
    free(ex.ring);
    ex.ring = NULL;
    sl_log(NULL, SL_LOG_ERROR, "tracing: cannot start the exporter");
    return -1;
}

void sl__exporter_stop(void)
{
    if (!ex.ring)
        return;
    pthread_mutex_lock(&ex.mu);
    ex.stopping = true;
    atomic_store(&ex.abort_at, sl__now_ns() + (int64_t)STOP_BUDGET_MS * 1000000);
    pthread_mutex_unlock(&ex.mu);
    pthread_cond_signal(&ex.cv);
    pthread_join(ex.thread, NULL);
    curl_slist_free_all(ex.headers);
    curl_easy_cleanup(ex.curl);
    curl_global_cleanup();
    free(ex.ring);
    ex.ring = NULL;
}

void sl__exporter_stats(struct sl__exporter_stats *out)
{
    out->exported = atomic_load(&ex.exported);
    out->dropped = atomic_load(&ex.dropped);
    out->failed = atomic_load(&ex.failed);
}
