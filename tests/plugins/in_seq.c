/* in_seq - engine test input: `count` messages with offsets and cookies
 * 0..count-1, payload "seq N"; its delivered callback checks that each one
 * is reported exactly once and records how (ok or dead-lettered). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sluice/sluice.h>

#include "check.h"

static int seq_init(struct sl_instance *inst, void **ctx)
{
    struct seq_in *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ERROR;
    s->count = (uint64_t)sl_opt_int(inst, "count");
    s->keys = (uint64_t)sl_opt_int(inst, "keys");
    s->fail_at = (uint64_t)sl_opt_int(inst, "fail_at");
    s->reject_every = (uint64_t)sl_opt_int(inst, "reject_every");
    s->lockstep = sl_opt_bool(inst, "lockstep");
    s->seen = calloc(s->count ? s->count : 1, 1);
    if (!s->seen) {
        free(s);
        return SL_ERROR;
    }
    *ctx = s;
    return SL_OK;
}

static void seq_destroy(void *ctx)
{
    struct seq_in *s = ctx;
    free((void *)s->seen);
    free(s);
}

static int seq_run(void *ctx, struct sl_input_sink *sink)
{
    struct seq_in *s = ctx;
    char text[32];
    for (uint64_t i = 0; i < s->count && !atomic_load(&s->stop); i++) {
        if (s->fail_at && i == s->fail_at)
            return SL_ERROR;
        struct sl_msg *m = sl_sink_msg(sink);
        int n = snprintf(text, sizeof(text), "seq %llu", (unsigned long long)i);
        sl_buf_set(&m->payload, text, (size_t)n);
        if (s->keys)
            n = snprintf(text, sizeof(text), "k%llu", (unsigned long long)(i % s->keys));
        else
            n = snprintf(text, sizeof(text), "%llu", (unsigned long long)i);
        sl_buf_set(&m->key, text, (size_t)n);
        m->has_key = true;
        m->source.offset = (int64_t)i;
        m->cookie = i;
        atomic_fetch_add(&s->emitted, 1);
        if (s->reject_every && i % s->reject_every == 5)
            sl_sink_reject(sink, m, "seq: rejected");
        else if (sl_sink_emit(sink, m) == SL_STOPPED)
            break;
        /* A trickle: nothing fills a batch, so only idle/linger flushes of
         * partial batches and of delivery reports can move it along. */
        if (s->lockstep) {
            sl_sink_flush(sink);
            while (atomic_load(&s->delivered_ok) + atomic_load(&s->delivered_err) <= i &&
                   !atomic_load(&s->stop))
                nanosleep(&(struct timespec){0, 100000}, NULL);
        }
    }
    return SL_OK;
}

static void seq_stop(void *ctx)
{
    struct seq_in *s = ctx;
    atomic_store(&s->stop, true);
}

static void seq_delivered(void *ctx, const struct sl_delivery *d, size_t n)
{
    struct seq_in *s = ctx;
    for (size_t i = 0; i < n; i++) {
        if (d[i].cookie >= s->count || d[i].offset != (int64_t)d[i].cookie) {
            atomic_fetch_add(&s->bad, 1);
            continue;
        }
        if (s->heard_first && !atomic_load(&s->heard_first[d[i].cookie]))
            atomic_fetch_add(&s->early, 1);
        uint8_t how = d[i].status == SL_OK ? 1 : 2, was = 0;
        if (!atomic_compare_exchange_strong(&s->seen[d[i].cookie], &was, how))
            atomic_fetch_add(&s->duplicates, 1);
        atomic_fetch_add(d[i].status == SL_OK ? &s->delivered_ok : &s->delivered_err, 1);
    }
}

static const struct sl_option seq_options[] = {
    {.name = "count", .type = SL_OPT_INT, .def = "1000", SL_AT_LEAST(0), .doc = "messages to emit"},
    {.name = "keys",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "key k<offset % keys>; 0: the offset"},
    {.name = "fail_at",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "run() fails before this offset (0: never)"},
    {.name = "reject_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "sl_sink_reject offsets % n == 5 (0: none)"},
    {.name = "lockstep",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "wait for each delivery before the next"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "seq",
    .version = "0.0.1",
    .doc = "numbered messages with delivery checks (engine tests)",
    .options = seq_options,
    .init = seq_init,
    .destroy = seq_destroy,
    .run = seq_run,
    .stop = seq_stop,
    .delivered = seq_delivered,
};
