/* handler_track - engine test handler for the delivered hook: passes every
 * message with sl_emit_tracked(cookie = its offset) and records, per offset,
 * how delivered() reported it (1 ok, 2 dead-lettered) and any second report.
 * Context layout in check.h (struct track_handler). */
#include <stdlib.h>

#include <sluice/sluice.h>

#include "check.h"

static int track_init(struct sl_instance *inst, void **ctx)
{
    struct track_handler *t = calloc(1, sizeof(*t));
    if (!t)
        return SL_ERROR;
    t->count = (uint64_t)sl_opt_int(inst, "count");
    t->seen = calloc(t->count ? t->count : 1, 1);
    if (!t->seen) {
        free(t);
        return SL_ERROR;
    }
    *ctx = t;
    return SL_OK;
}

static void track_destroy(void *ctx)
{
    struct track_handler *t = ctx;
    free((void *)t->seen);
    free(t);
}

static int track_process(void *ctx, struct sl_msg **msgs, size_t n, struct sl_emitter *out)
{
    struct track_handler *t = ctx;
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&t->passed, 1);
        sl_emit_tracked(out, msgs[i], (uint64_t)msgs[i]->source.offset);
    }
    return SL_OK;
}

static void track_delivered(void *ctx, const struct sl_delivery *d, size_t n)
{
    struct track_handler *t = ctx;
    for (size_t i = 0; i < n; i++) {
        if (d[i].cookie >= t->count) {
            atomic_fetch_add(&t->bad, 1);
            continue;
        }
        uint8_t how = d[i].status == SL_OK ? 1 : 2, was = 0;
        if (!atomic_compare_exchange_strong(&t->seen[d[i].cookie], &was, how))
            atomic_fetch_add(&t->duplicates, 1);
        atomic_fetch_add(d[i].status == SL_OK ? &t->ok : &t->err, 1);
    }
}

static void track_recovered(void *ctx, const uint64_t *cookies, size_t n)
{
    struct track_handler *t = ctx;
    for (size_t i = 0; i < n; i++)
        t->recovered_sum += cookies[i];
    atomic_fetch_add(&t->recovered, n);
}

static const struct sl_option track_options[] = {
    {.name = "count",
     .type = SL_OPT_INT,
     .def = "1000",
     SL_RANGE(1, 100000000),
     .doc = "offsets 0..count-1 are expected"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_HANDLER,
    .name = "track",
    .version = "0.0.1",
    .doc = "passes every message tracked and records its delivery (engine tests)",
    .options = track_options,
    .init = track_init,
    .destroy = track_destroy,
    .process = track_process,
    .delivered = track_delivered,
    .recovered = track_recovered,
};
