/* in_generator - synthetic messages for load tests and demos: `count`
 * messages (0: until stopped) at `rate` per second (0: as fast as the
 * pipeline takes them), from a payload template. Workers share the count. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monotime.h"
#include "template.h"

struct generator {
    struct tpl payload;
    struct tpl key;
    bool has_key;
    uint64_t key_modulo; /* 0: the key sees the plain sequence number */
    uint64_t count;      /* 0: unlimited */
    uint64_t start;
    double rate; /* per worker, msgs/s; 0: unlimited */
    _Atomic uint64_t next_seq;
    atomic_bool stop;
    unsigned workers;
    _Atomic unsigned next_worker;
};

struct gen_worker {
    struct generator *g;
    unsigned idx;
};

static int gen_init(struct sl_instance *inst, void **ctx)
{
    int64_t count = sl_opt_int(inst, "count");
    double rate = sl_opt_double(inst, "rate");
    struct generator *g = calloc(1, sizeof(*g));
    if (!g || tpl_parse(&g->payload, sl_opt_str(inst, "payload")) < 0)
        goto out_fail;
    const char *key = sl_opt_str(inst, "key");
    if (key) {
        if (tpl_parse(&g->key, key) < 0)
            goto out_fail;
        g->has_key = true;
    }
    g->count = (uint64_t)count;
    g->key_modulo = (uint64_t)sl_opt_int(inst, "key_modulo");
    g->workers = sl_instance_workers(inst);
    g->rate = rate / g->workers;
    g->start = (uint64_t)sl_opt_int(inst, "start");
    atomic_init(&g->next_seq, g->start);
    *ctx = g;
    return SL_OK;
out_fail:
    sl_instance_error(inst, "out of memory");
    if (g) {
        tpl_free(&g->payload);
        tpl_free(&g->key);
        free(g);
    }
    return SL_ERROR;
}

static void gen_destroy(void *ctx)
{
    struct generator *g = ctx;
    tpl_free(&g->payload);
    tpl_free(&g->key);
    free(g);
}

static int gen_worker_init(void *ctx, unsigned idx, void **wctx)
{
    struct gen_worker *w = malloc(sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->g = ctx;
    w->idx = idx;
    *wctx = w;
    return SL_OK;
}

static void gen_worker_destroy(void *wctx)
{
    free(wctx);
}

enum { CLAIM = 256, NAP_NS = 100 * 1000 * 1000 };

/* Wait until due (monotonic ns, a double: a tiny rate puts it past int64) in
 * naps of at most 100 ms, so stop() ends the wait soon whatever the rate.
 * False when stopping. */
static bool wait_until(struct generator *g, double due)
{
    for (;;) {
        if (atomic_load_explicit(&g->stop, memory_order_relaxed))
            return false;
        double left = due - (double)monotime_ns();
        if (left <= 0)
            return true;
        long nap = left < NAP_NS ? (long)left : NAP_NS;
        nanosleep(&(struct timespec){0, nap}, NULL);
    }
}

static int gen_run(void *wctx, struct sl_input_sink *sink)
{
    struct gen_worker *w = wctx;
    struct generator *g = w->g;
    uint64_t start = g->start, made = 0;
    int64_t t0 = monotime_ns();
    struct timespec wall;
    while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
        /* claim a block of sequence numbers; ends when count is reached */
        uint64_t seq = atomic_fetch_add(&g->next_seq, CLAIM), last = seq + CLAIM;
        if (g->count && seq >= start + g->count)
            break;
        if (g->count && last > start + g->count)
            last = start + g->count;
        clock_gettime(CLOCK_REALTIME, &wall);
        int64_t ts_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        for (; seq < last; seq++) {
            /* paced: each message waits for its time, so a low rate is smooth
             * (not bursts of CLAIM) and {ts} is the time it was made */
            if (g->rate > 0) {
                double due = (double)t0 + (double)made++ / g->rate * 1e9;
                if ((double)monotime_ns() < due) {
                    sl_sink_flush(sink);
                    if (!wait_until(g, due))
                        return SL_OK;
                    clock_gettime(CLOCK_REALTIME, &wall);
                    ts_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
                }
            }
            struct sl_msg *m = sl_sink_msg(sink);
            if (tpl_render(&g->payload, &m->payload, seq, ts_ms, w->idx) < 0 ||
                (g->has_key &&
                 tpl_render(&g->key, &m->key, g->key_modulo ? seq % g->key_modulo : seq, ts_ms,
                            w->idx) < 0)) {
                sl_log(NULL, SL_LOG_ERROR, "generator: out of memory");
                sl_msg_release(m);
                return SL_ERROR;
            }
            m->has_key = g->has_key;
            m->source.offset = (int64_t)seq;
            m->cookie = seq;
            sl_sink_emit(sink, m);
        }
    }
    return SL_OK;
}

static void gen_stop(void *ctx)
{
    struct generator *g = ctx;
    atomic_store(&g->stop, true);
}

static const struct sl_option gen_options[] = {
    {.name = "count",
     .type = SL_OPT_INT,
     .def = "1000",
     SL_AT_LEAST(0),
     .doc = "messages to make in all; 0 = until stopped"},
    {.name = "rate",
     .type = SL_OPT_DOUBLE,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "messages per second; 0 = as fast as possible"},
    {.name = "payload",
     .type = SL_OPT_STRING,
     .def = "{\"seq\":{seq},\"ts\":{ts},\"msg\":\"hello from sluice\"}",
     .doc = "template; {seq}, {ts} (epoch ms) and {worker} are replaced"},
    {.name = "key", .type = SL_OPT_STRING, .doc = "key template (same fields); no key when unset"},
    {.name = "start",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "first sequence number"},
    {.name = "key_modulo",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "render the key from seq % key_modulo (N distinct keys)"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "generator",
    .version = SLUICE_VERSION,
    .doc = "synthetic messages from a template: count, rate, {seq}",
    .options = gen_options,
    .init = gen_init,
    .destroy = gen_destroy,
    .worker_init = gen_worker_init,
    .worker_destroy = gen_worker_destroy,
    .run = gen_run,
    .stop = gen_stop,
};
