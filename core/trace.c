/* trace.c - OpenTelemetry spans for messages: one per message per stage hop
 * (decode, each handler, encode + publish, dead letter), children of the
 * message's incoming traceparent. Head sampling by trace id; a trace sampled
 * upstream (flag in its traceparent), a failed hop and a dead letter are
 * always kept. The stages call in only when tracing is on (one branch on
 * sl__tracing); finished spans go to the exporter (trace_export.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "trace.h"

bool sl__tracing;

static struct {
    bool configured;
    char *url;
    char **headers;
    size_t n_headers;
    char *service_name;
    double sample;
    uint64_t threshold; /* keep when the trace id's low 8 bytes are below */
    uint32_t queue_spans;
    uint32_t timeout_ms;
} conf;

/* ---- configuration ---- */

static void conf_err(const config_setting_t *s, const char *path, const char *fmt, const char *a)
{
    const char *file = s ? config_setting_source_file(s) : NULL;
    fprintf(stderr, "%s:%d: tracing: ", file ? file : path, s ? config_setting_source_line(s) : 0);
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
}

static void conf_reset(void)
{
    free(conf.url);
    for (size_t i = 0; i < conf.n_headers; i++)
        free(conf.headers[i]);
    free(conf.headers);
    free(conf.service_name);
    memset(&conf, 0, sizeof(conf));
}

static bool is_header_token(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    s[i]))
            return false;
    return true;
}

int sl__trace_configure(const config_setting_t *root, const char *path)
{
    static const char *const keys[] = {"endpoint",    "sample",     "headers", "service_name",
                                       "queue_spans", "timeout_ms", NULL};
    conf_reset();
    const config_setting_t *g = config_setting_get_member(root, "tracing");
    if (!g)
        return 0;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        conf_err(g, path, "%s", "must be a group { endpoint = \"http://host:4318\"; ... }");
        return -1;
    }
    int errors = 0;
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, i);
        bool known = false;
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, config_setting_name(s)) == 0;
        if (!known) {
            conf_err(s, path,
                     "unknown key '%s' (it takes endpoint, sample, headers, "
                     "service_name, queue_spans, timeout_ms)",
                     config_setting_name(s));
            errors++;
        }
    }
    const config_setting_t *s = config_setting_get_member(g, "endpoint");
    const char *endpoint = s ? config_setting_get_string(s) : NULL;
    if (!endpoint) {
        conf_err(s ? s : g, path, "%s",
                 "'endpoint' is required: a string such as "
                 "\"http://127.0.0.1:4318\"");
        errors++;
    } else if ((strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) ||
               !endpoint[strncmp(endpoint, "http://", 7) == 0 ? 7 : 8] ||
               strpbrk(endpoint, " \t\r\n")) {
        conf_err(s, path, "endpoint '%s' is not an http:// or https:// URL", endpoint);
        errors++;
    } else {
        /* OTLP/HTTP: the signal path goes after the base endpoint */
        size_t len = strlen(endpoint);
        while (len && endpoint[len - 1] == '/')
            len--;
        bool has_path = len >= 10 && memcmp(endpoint + len - 10, "/v1/traces", 10) == 0;
        if ((conf.url = malloc(len + 11)))
            snprintf(conf.url, len + 11, "%.*s%s", (int)len, endpoint,
                     has_path ? "" : "/v1/traces");
    }
    conf.sample = 1.0;
    if ((s = config_setting_get_member(g, "sample"))) {
        int t = config_setting_type(s);
        double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                   : t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64
                       ? (double)config_setting_get_int64(s)
                       : -1;
        if (v < 0 || v > 1) {
            conf_err(s, path, "%s",
                     "'sample' must be a number from 0 to 1 (the share of traces kept)");
            errors++;
        } else {
            conf.sample = v;
        }
    }
    conf.threshold =
        conf.sample >= 1.0 ? UINT64_MAX : (uint64_t)(conf.sample * 18446744073709551616.0);
    conf.service_name = strdup("sluice");
    if ((s = config_setting_get_member(g, "service_name"))) {
        const char *v = config_setting_get_string(s);
        if (!v || !*v) {
            conf_err(s, path, "%s", "'service_name' must be a non-empty string");
            errors++;
        } else {
            free(conf.service_name);
            conf.service_name = strdup(v);
        }
    }
    struct {
        const char *key;
        uint32_t *out, dflt;
        long long lo, hi;
    } ints[] = {{"queue_spans", &conf.queue_spans, 8192, 64, 1 << 20},
                {"timeout_ms", &conf.timeout_ms, 5000, 10, 60000}};
    for (size_t i = 0; i < 2; i++) {
        *ints[i].out = ints[i].dflt;
        if (!(s = config_setting_get_member(g, ints[i].key)))
            continue;
        int t = config_setting_type(s);
        long long v =
            t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 ? config_setting_get_int64(s) : -1;
        if (v < ints[i].lo || v > ints[i].hi) {
            char what[120];
            snprintf(what, sizeof(what), "'%s' must be an integer from %lld to %lld", ints[i].key,
                     ints[i].lo, ints[i].hi);
            conf_err(s, path, "%s", what);
            errors++;
        } else {
            *ints[i].out = (uint32_t)v;
        }
    }
    if ((s = config_setting_get_member(g, "headers"))) {
        int n = config_setting_length(s);
        if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
            config_setting_type(s) != CONFIG_TYPE_LIST) {
            conf_err(s, path, "%s", "'headers' must be a list of \"name=value\" strings");
            errors++;
            n = 0;
        }
        conf.headers = calloc((size_t)n + 1, sizeof(*conf.headers));
        for (int i = 0; i < n && conf.headers; i++) {
            const config_setting_t *h = config_setting_get_elem(s, i);
            const char *v = config_setting_get_string(h);
            const char *eq = v ? strchr(v, '=') : NULL;
            if (!eq || !is_header_token(v, (size_t)(eq - v)) || strpbrk(eq, "\r\n")) {
                conf_err(h, path, "header '%s' is not \"name=value\" with an HTTP header name",
                         v ? v : "(not a string)");
                errors++;
                continue;
            }
            conf.headers[conf.n_headers++] = strdup(v);
        }
    }
    if (errors) {
        conf_reset();
        return -1;
    }
    conf.configured = true;
    return 0;
}

int sl__trace_start(const struct sl__pipeline *pl)
{
    if (!conf.configured)
        return 0;
    struct sl__exporter_conf ec = {conf.url,       (const char *const *)conf.headers,
                                   conf.n_headers, conf.service_name,
                                   pl->name,       conf.queue_spans,
                                   conf.timeout_ms};
    if (sl__exporter_start(&ec) < 0)
        return -1;
    sl__tracing = true;
    sl_log(NULL, SL_LOG_INFO, "tracing: exporting spans to %s (sample %g)", conf.url, conf.sample);
    return 0;
}

void sl__trace_finish(void)
{
    if (!sl__tracing) {
        conf_reset();
        return;
    }
    sl__tracing = false;
    sl__exporter_stop();
    struct sl__exporter_stats st;
    sl__exporter_stats(&st);
    sl_log(NULL, SL_LOG_INFO,
           "tracing: %llu spans exported, %llu dropped (queue full or left "
           "at exit), %llu failed to send",
           (unsigned long long)st.exported, (unsigned long long)st.dropped,
           (unsigned long long)st.failed);
    conf_reset();
}

/* ---- per message ---- */

bool sl__trace_sampled(const struct sl_msg *m)
{
    const struct sl__msg *pm = sl__msg_private(m);
    if (pm->trace.has_parent && (pm->trace.flags & 1))
        return true; /* sampled upstream */
    uint64_t low;
    memcpy(&low, m->trace_id + 8, 8);
    low = __builtin_bswap64(low); /* the id's last 8 bytes as a big-endian number */
    return conf.threshold == UINT64_MAX || low < conf.threshold;
}

static uint64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The hop of each message of the batch this thread is running. */
struct hop {
    const struct sl_msg *m;
    bool keep;
    struct sl__span span;
};
static _Thread_local struct hop *hops;
static _Thread_local size_t n_hops, hops_cap;

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* name: "<what> <instance>", e.g. "decode orders", "publish archive". */
static void span_init(struct sl__span *s, const struct sl_msg *m, const struct sl_instance *inst,
                      const char *stage, const char *what, const char *instance, bool producer)
{
    const struct sl__msg *pm = sl__msg_private(m);
    memcpy(s->trace_id, m->trace_id, 16);
    uint64_t id = sl__rand64() | 1;
    memcpy(s->span_id, &id, 8);
    s->has_parent = pm->trace.has_parent;
    memcpy(s->parent_span_id, pm->trace.parent_span_id, 8);
    s->producer = producer;
    s->failed = false;
    s->attempts = m->attempts;
    s->partition = m->source.partition;
    s->offset = m->source.offset;
    snprintf(s->name, sizeof(s->name), "%s %s", what, instance);
    copy_str(s->stage, sizeof(s->stage), stage);
    copy_str(s->plugin, sizeof(s->plugin), inst && inst->plugin ? inst->plugin->name : NULL);
    copy_str(s->route, sizeof(s->route), m->route);
    copy_str(s->source, sizeof(s->source), m->source.name);
    s->error[0] = '\0';
}

uint64_t sl__trace_hop_begin(struct sl__worker *w, struct sl_msg **msgs, size_t n)
{
    if (n > hops_cap) {
        struct hop *h = realloc(hops, n * sizeof(*h));
        if (!h)
            return 0;
        hops = h;
        hops_cap = n;
    }
    const struct sl__stage *st = w->stage;
    static const char *const what[] = {"decode", "handle", "publish", "dead-letter"};
    bool producer = st->kind == SL__STAGE_OUTPUT || st->kind == SL__STAGE_DLQ;
    uint64_t start = unix_ns();
    for (size_t i = 0; i < n; i++) {
        struct hop *h = &hops[i];
        h->m = msgs[i];
        h->keep = st->kind == SL__STAGE_DLQ || sl__trace_sampled(msgs[i]);
        span_init(&h->span, msgs[i], st->inst, st->label, what[st->kind], st->owner->name,
                  producer);
        h->span.start_unix_ns = start;
        /* What an output writes downstream (traceparent) names this span. */
        if (producer)
            memcpy(msgs[i]->span_id, h->span.span_id, 8);
    }
    n_hops = n;
    return start;
}

void sl__trace_hop_end(struct sl__worker *w, uint64_t start)
{
    (void)w;
    (void)start;
    uint64_t end = unix_ns();
    for (size_t i = 0; i < n_hops; i++) {
        if (!hops[i].keep)
            continue;
        hops[i].span.end_unix_ns = end;
        sl__exporter_push(&hops[i].span);
    }
    n_hops = 0;
}

void sl__trace_failed(struct sl__worker *w, const struct sl_instance *inst, const char *stage,
                      const struct sl_msg *m, const char *error)
{
    for (size_t i = n_hops; w && i-- > 0;)
        if (hops[i].m == m) {
            hops[i].keep = true;
            hops[i].span.failed = true;
            copy_str(hops[i].span.error, sizeof(hops[i].span.error), error);
            return;
        }
    /* Outside a hop (an input's reject, a late output confirmation): a
     * span of its own, at this moment. */
    struct sl__span s;
    span_init(&s, m, inst, stage, "fail", stage, false);
    s.failed = true;
    copy_str(s.error, sizeof(s.error), error);
    s.start_unix_ns = s.end_unix_ns = unix_ns();
    sl__exporter_push(&s);
}

void sl__trace_id_hex(const struct sl_msg *m, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[m->trace_id[i] >> 4];
        out[2 * i + 1] = digits[m->trace_id[i] & 15];
    }
    out[32] = '\0';
}
