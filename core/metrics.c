/* metrics.c - Prometheus text metrics on metrics.listen: /metrics and
 * /healthz, served by libmicrohttpd's own thread from the same atomic
 * counters the --stats line reads. */
#include <netdb.h>
#include <stddef.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine.h"

/* A label value as the exposition format wants it: backslash, double quote
 * and newline escaped (stage names and script counter names are free text). */
static void add_escaped(struct sl_buf *b, const char *v)
{
    for (; *v; v++) {
        const char *e = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        if (e)
            sl_buf_append(b, e, 2);
        else
            sl_buf_append(b, v, 1);
    }
}

/* `name{pipeline="..",k1="v1",...} ` with every value escaped; then the
 * caller adds the value. labels: key/value pairs, NULL-terminated. */
static void sample_start(struct sl_buf *b, struct sl__pipeline *pl, const char *name,
                         const char *const *labels)
{
    sl__buf_printf(b, "sluice_%s{pipeline=\"", name);
    add_escaped(b, pl->name);
    for (size_t i = 0; labels[i]; i += 2) {
        sl__buf_printf(b, "\",%s=\"", labels[i]);
        add_escaped(b, labels[i + 1]);
    }
    sl__buf_printf(b, "\"} ");
}

static void header(struct sl_buf *b, const char *name, const char *type, const char *help)
{
    sl__buf_printf(b, "# HELP sluice_%s %s\n# TYPE sluice_%s %s\n", name, help, name, type);
}

static const char *const stage_kinds[] = {"decode", "handler", "output", "dead_letter"};

/* One counter family over every stage (inputs first), as the exposition
 * format wants: all samples of a family together. */
static void family(struct sl_buf *b, struct sl__pipeline *pl, const char *name, const char *help,
                   size_t field)
{
    header(b, name, "counter", help);
    struct sl__counts c;
    size_t rows = pl->n_inputs + pl->n_stages;
    for (size_t r = 0; r < rows; r++) {
        struct sl__stage *s = r < pl->n_inputs ? NULL : pl->stages[r - pl->n_inputs];
        struct sl_instance *inst = s ? s->inst : pl->inputs[r];
        const char *labels[] = {
            "stage",  s ? s->label : inst->name, "kind", s ? stage_kinds[s->kind] : "input",
            "plugin", inst->plugin->name,        NULL};
        sl__stats_read(inst, &c);
        sample_start(b, pl, name, labels);
        sl__buf_printf(b, "%llu\n", (unsigned long long)*(uint64_t *)((char *)&c + field));
    }
}

/* One histogram's samples (cumulative buckets, le in seconds or
 * messages, _sum, _count) under the labels stage and kind. */
static void histogram_samples(struct sl_buf *b, struct sl__pipeline *pl, const char *name,
                              enum sl__histo_kind kind, const struct sl__histo_snapshot *snap,
                              const char *stage, const char *stage_kind)
{
    const uint64_t *bounds = sl__histo_bounds(kind);
    double scale = kind == SL__HISTO_SECONDS ? 1e-9 : 1;
    char bucket[96], sum[96], count[96];
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    snprintf(sum, sizeof(sum), "%s_sum", name);
    snprintf(count, sizeof(count), "%s_count", name);
    uint64_t cumulative = 0;
    for (unsigned i = 0; i < SL__HISTO_BUCKETS; i++) {
        char le[32];
        if (i + 1 < SL__HISTO_BUCKETS)
            snprintf(le, sizeof(le), "%g", (double)bounds[i] * scale);
        else
            snprintf(le, sizeof(le), "+Inf");
        cumulative += snap->buckets[i];
        sample_start(b, pl, bucket,
                     (const char *[]){"stage", stage, "kind", stage_kind, "le", le, NULL});
        sl__buf_printf(b, "%llu\n", (unsigned long long)cumulative);
    }
    sample_start(b, pl, sum, (const char *[]){"stage", stage, "kind", stage_kind, NULL});
    sl__buf_printf(b, "%.9g\n", (double)snap->sum * scale);
    sample_start(b, pl, count, (const char *[]){"stage", stage, "kind", stage_kind, NULL});
    sl__buf_printf(b, "%llu\n", (unsigned long long)snap->count);
}

/* One histogram family over the stages (outputs_only: outputs and
 * dead_letter), each stage's workers merged. */
static void histogram(struct sl_buf *b, struct sl__pipeline *pl, const char *name, const char *help,
                      enum sl__histo_kind kind, size_t field, bool outputs_only)
{
    header(b, name, "histogram", help);
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        if (outputs_only && s->kind != SL__STAGE_OUTPUT && s->kind != SL__STAGE_DLQ)
            continue;
        struct sl__histo_snapshot snap = {0};
        for (unsigned w = 0; w < s->nworkers; w++)
            sl__histo_merge(&snap, (const struct sl__histo *)((char *)&s->workers[w] + field));
        histogram_samples(b, pl, name, kind, &snap, s->label, stage_kinds[s->kind]);
    }
}

/* Read-to-finished per input: wherever its messages finished, every
 * worker's and input sink's histogram of that input, and the shared one. */
static void input_latency(struct sl_buf *b, struct sl__pipeline *pl, const char *name,
                          const char *help)
{
    header(b, name, "histogram", help);
    for (size_t i = 0; i < pl->n_inputs; i++) {
        struct sl_instance *in = pl->inputs[i];
        struct sl__histo_snapshot snap = {0};
        for (size_t j = 0; j < pl->n_stages; j++)
            for (unsigned w = 0; w < pl->stages[j]->nworkers; w++)
                sl__histo_merge(&snap, &pl->stages[j]->workers[w].input_latency[i]);
        for (size_t k = 0; k < pl->n_sinks; k++)
            sl__histo_merge(&snap, &pl->sinks[k]->input_latency[i]);
        sl__histo_merge(&snap, in->input_latency_shared);
        histogram_samples(b, pl, name, SL__HISTO_SECONDS, &snap, in->name, "input");
    }
}

static void render(struct sl__pipeline *pl, struct sl_buf *b)
{
    family(b, pl, "messages_in_total", "Messages that entered the stage (inputs: read).",
           offsetof(struct sl__counts, in));
    family(b, pl, "messages_out_total",
           "Messages the stage passed on (outputs: confirmed by the destination).",
           offsetof(struct sl__counts, out));
    family(b, pl, "dead_lettered_total", "Messages that failed at the stage, sent to dead_letter.",
           offsetof(struct sl__counts, dead));
    family(b, pl, "discarded_total",
           "Messages that failed at the stage with no dead_letter configured.",
           offsetof(struct sl__counts, discarded));
    family(b, pl, "dropped_total", "Messages a handler dropped on purpose.",
           offsetof(struct sl__counts, dropped));
    family(b, pl, "retried_total", "Retries scheduled by the stage.",
           offsetof(struct sl__counts, retried));
    histogram(b, pl, "batch_size", "Messages per batch a stage ran.", SL__HISTO_SIZE,
              offsetof(struct sl__worker, batch_sizes), false);
    histogram(b, pl, "stage_seconds", "Time a stage took per batch.", SL__HISTO_SECONDS,
              offsetof(struct sl__worker, batch_seconds), false);
    histogram(b, pl, "delivery_latency_seconds",
              "From an input handing a message over to this output confirming it.",
              SL__HISTO_SECONDS, offsetof(struct sl__worker, latency), true);
    input_latency(b, pl, "input_delivery_latency_seconds",
                  "From an input handing a message over to the message being finished: every "
                  "output it matched confirmed it, or it was dead-lettered, dropped or unrouted.");
    header(b, "queue_fill_ratio", "gauge", "Fill of the queue in front of the stage.");
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        for (unsigned q = 0; q < s->in.nq; q++) {
            sample_start(b, pl, "queue_fill_ratio",
                         (const char *[]){"queue", sl__queue_name(s->in.q[q]), NULL});
            sl__buf_printf(b, "%.2f\n", sl__queue_fill_pct(s->in.q[q]) / 100.0);
        }
    }
    header(b, "in_flight", "gauge", "Messages read by an input and not yet delivered.");
    for (size_t i = 0; i < pl->n_inputs; i++) {
        sample_start(b, pl, "in_flight", (const char *[]){"stage", pl->inputs[i]->name, NULL});
        sl__buf_printf(b, "%llu\n", (unsigned long long)atomic_load(&pl->inputs[i]->in_flight));
    }
    struct sl__counts t;
    sl__totals(pl, &t);
    header(b, "unrouted_total", "counter", "Messages no output's match selected (acknowledged).");
    sample_start(b, pl, "unrouted_total", (const char *[]){NULL});
    sl__buf_printf(b, "%llu\n", (unsigned long long)t.unrouted);
    header(b, "pooled_messages", "gauge", "Message structs the pools ever allocated.");
    sample_start(b, pl, "pooled_messages", (const char *[]){NULL});
    sl__buf_printf(b, "%llu\n", (unsigned long long)sl__pool_msgs_created());
    header(b, "script_counter_total", "counter", "Counters kept by handlers (sluice.counter).");
    for (size_t i = 0; i < pl->n_all; i++) {
        struct sl_instance *inst = pl->all[i];
        pthread_mutex_lock(&inst->counters_mu);
        for (struct sl_counter *c = inst->counters; c; c = sl__counter_next(c)) {
            sample_start(b, pl, "script_counter_total",
                         (const char *[]){"stage", inst->name, "name", sl__counter_name(c), NULL});
            sl__buf_printf(b, "%lld\n", (long long)sl__counter_value(c));
        }
        pthread_mutex_unlock(&inst->counters_mu);
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    struct sl__pipeline *pl = cls;
    struct sl_buf b = {0};
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4";
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        sl__buf_printf(&b, "GET only\n");
    } else if (strcmp(url, "/metrics") == 0) {
        render(pl, &b);
    } else if (strcmp(url, "/readyz") == 0) {
        struct sl_buf why = {0};
        bool running = atomic_load(&pl->ready) && !atomic_load(&pl->fatal);
        bool connected = sl__readiness(pl, &why);
        status = running && connected ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        sl__buf_printf(&b, "%s\n%s", running && connected ? "ready" : "not ready",
                       running ? "" : "pipeline not running (starting, stopping or failed)\n");
        if (why.len)
            sl_buf_append(&b, why.data, why.len);
        sl_buf_free(&why);
    } else if (strcmp(url, "/healthz") == 0) {
        bool ok = !atomic_load(&pl->fatal);
        status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        sl__buf_printf(&b, ok ? "ok\n" : "failed\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        sl__buf_printf(&b, "try /metrics, /healthz or /readyz\n");
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b.len, b.data ? b.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    sl_buf_free(&b);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* epoll (or poll): no FD_SETSIZE ceiling, so a crowd of clients cannot push
 * the server past select()'s 1024 descriptors. */
static unsigned server_mode(void)
{
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        return MHD_USE_EPOLL_INTERNAL_THREAD;
    return MHD_USE_POLL_INTERNAL_THREAD;
}

/* At most half the process's descriptors (and MAX_CONNECTIONS) go to
 * metrics clients, so idle ones cannot starve the inputs and outputs of
 * descriptors; an idle connection is closed after IDLE_TIMEOUT_S. */
enum { MAX_CONNECTIONS = 4096, MIN_CONNECTIONS = 8 };
static const unsigned IDLE_TIMEOUT_S = 10;

static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return MAX_CONNECTIONS;
    rlim_t half = rl.rlim_cur / 2;
    return half > MAX_CONNECTIONS   ? MAX_CONNECTIONS
           : half < MIN_CONNECTIONS ? MIN_CONNECTIONS
                                    : (unsigned)half;
}

int sl__metrics_start(struct sl__pipeline *pl)
{
    if (!pl->metrics_listen)
        return 0;
    /* config.c checked the form; this resolves "localhost" and picks the family */
    struct sl__address a;
    char why[300], port[8];
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (sl__address_parse(pl->metrics_listen, &a, why, sizeof(why)) < 0) {
        sl_log(NULL, SL_LOG_ERROR, "metrics.listen: %s", why);
        return -1;
    }
    snprintf(port, sizeof(port), "%u", a.port);
    hints.ai_family = a.ipv6 ? AF_INET6 : a.host[0] ? AF_UNSPEC : AF_INET;
    int gai = getaddrinfo(a.host[0] ? a.host : NULL, port, &hints, &ai);
    if (gai != 0) {
        sl_log(NULL, SL_LOG_ERROR, "metrics.listen '%s': %s", pl->metrics_listen,
               gai_strerror(gai));
        return -1;
    }
    unsigned flags =
        server_mode() | MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    pl->metrics = MHD_start_daemon(flags, 0, NULL, NULL, answer, pl, MHD_OPTION_SOCK_ADDR,
                                   ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
                                   MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!pl->metrics) {
        sl_log(NULL, SL_LOG_ERROR, "metrics: cannot listen on %s", pl->metrics_listen);
        return -1;
    }
    sl_log(NULL, SL_LOG_INFO, "metrics on http://%s/metrics", pl->metrics_listen);
    return 0;
}

void sl__metrics_stop(struct sl__pipeline *pl)
{
    if (pl->metrics)
        MHD_stop_daemon(pl->metrics);
    pl->metrics = NULL;
}
