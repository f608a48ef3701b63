/* metrics.c - Prometheus text metrics on metrics.listen: /metrics and
 * /healthz, served by libmicrohttpd's own thread from the same atomic
 * counters the --stats line reads. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static void add(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        sl_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static const char *const stage_kinds[] = {"decode", "handler", "output", "dead_letter"};

/* One family at a time, as the exposition format wants. */
static void family(struct sl_buf *b, struct sl__pipeline *pl, const char *name, const char *help,
                   size_t field)
{
    add(b, "# HELP sluice_%s %s\n# TYPE sluice_%s counter\n", name, help, name);
    for (size_t i = 0; i < pl->n_inputs; i++) {
        struct sl_instance *in = pl->inputs[i];
        add(b, "sluice_%s{pipeline=\"%s\",stage=\"%s\",kind=\"input\",plugin=\"%s\"} %llu\n", name,
            pl->name, in->name, in->plugin->name,
            (unsigned long long)atomic_load((_Atomic uint64_t *)((char *)&in->stats + field)));
    }
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        add(b, "sluice_%s{pipeline=\"%s\",stage=\"%s\",kind=\"%s\",plugin=\"%s\"} %llu\n", name,
            pl->name, s->label, stage_kinds[s->kind], s->inst->plugin->name,
            (unsigned long long)atomic_load((_Atomic uint64_t *)((char *)&s->inst->stats + field)));
    }
}

static void render(struct sl__pipeline *pl, struct sl_buf *b)
{
    family(b, pl, "messages_in_total", "Messages that entered the stage.",
           offsetof(struct sl__stats, in));
    family(b, pl, "messages_out_total", "Messages the stage passed on or confirmed.",
           offsetof(struct sl__stats, out));
    family(b, pl, "dead_lettered_total", "Messages the stage sent to dead_letter.",
           offsetof(struct sl__stats, dead));
    family(b, pl, "dropped_total", "Messages a handler dropped on purpose.",
           offsetof(struct sl__stats, dropped));
    family(b, pl, "retried_total", "Retries scheduled by the stage.",
           offsetof(struct sl__stats, retried));
    add(b, "# HELP sluice_queue_fill_ratio Fill of the queue in front of the stage.\n"
           "# TYPE sluice_queue_fill_ratio gauge\n");
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        for (unsigned q = 0; q < s->in.nq; q++)
            add(b, "sluice_queue_fill_ratio{pipeline=\"%s\",queue=\"%s\"} %.2f\n", pl->name,
                sl__queue_name(s->in.q[q]), sl__queue_fill_pct(s->in.q[q]) / 100.0);
    }
    add(b, "# HELP sluice_in_flight Messages read by an input and not yet delivered.\n"
           "# TYPE sluice_in_flight gauge\n");
    for (size_t i = 0; i < pl->n_inputs; i++)
        add(b, "sluice_in_flight{pipeline=\"%s\",stage=\"%s\"} %llu\n", pl->name,
            pl->inputs[i]->name, (unsigned long long)atomic_load(&pl->inputs[i]->in_flight));
    add(b, "# TYPE sluice_unrouted_total counter\nsluice_unrouted_total{pipeline=\"%s\"} %llu\n",
        pl->name, (unsigned long long)atomic_load(&pl->unrouted));
    add(b, "# TYPE sluice_discarded_total counter\nsluice_discarded_total{pipeline=\"%s\"} %llu\n",
        pl->name, (unsigned long long)atomic_load(&pl->discarded));
    add(b, "# TYPE sluice_pooled_messages gauge\nsluice_pooled_messages{pipeline=\"%s\"} %llu\n",
        pl->name, (unsigned long long)sl__pool_msgs_created());
    add(b, "# HELP sluice_script_counter_total Counters kept by handlers (sluice.counter).\n"
           "# TYPE sluice_script_counter_total counter\n");
    for (size_t i = 0; i < pl->n_all; i++) {
        struct sl_instance *inst = pl->all[i];
        pthread_mutex_lock(&inst->counters_mu);
        for (struct sl_counter *c = inst->counters; c; c = sl__counter_next(c))
            add(b, "sluice_script_counter_total{pipeline=\"%s\",stage=\"%s\",name=\"%s\"} %lld\n",
                pl->name, inst->name, sl__counter_name(c), (long long)sl__counter_value(c));
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
        add(&b, "GET only\n");
    } else if (strcmp(url, "/metrics") == 0) {
        render(pl, &b);
    } else if (strcmp(url, "/healthz") == 0) {
        bool ok = !atomic_load(&pl->fatal);
        status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        add(&b, ok ? "ok\n" : "failed\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        add(&b, "try /metrics or /healthz\n");
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

int sl__metrics_start(struct sl__pipeline *pl)
{
    if (!pl->metrics_listen)
        return 0;
    char host[256];
    const char *colon = strrchr(pl->metrics_listen, ':');
    struct sockaddr_in addr = {.sin_family = AF_INET};
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    size_t hl = colon ? (size_t)(colon - pl->metrics_listen) : 0;
    if (!colon || hl >= sizeof(host) || port <= 0 || port > 65535) {
        sl_log(NULL, SL_LOG_ERROR, "metrics.listen '%s': want HOST:PORT", pl->metrics_listen);
        return -1;
    }
    memcpy(host, pl->metrics_listen, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, hl ? host : "0.0.0.0", &addr.sin_addr) != 1) {
        sl_log(NULL, SL_LOG_ERROR, "metrics.listen '%s': not an IPv4 address", pl->metrics_listen);
        return -1;
    }
    addr.sin_port = htons((uint16_t)port);
    pl->metrics = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                   NULL, answer, pl, MHD_OPTION_SOCK_ADDR, &addr,
                                   MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
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
