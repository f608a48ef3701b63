/* in_baddefault - loader test: an option whose default breaks its own range. */
#include <sluice/sluice.h>

static int run(void *wctx, struct sl_input_sink *sink)
{
    (void)wctx;
    (void)sink;
    return SL_OK;
}

static void stop(void *ctx)
{
    (void)ctx;
}

static const struct sl_option options[] = {
    {.name = "size", .type = SL_OPT_INT, .def = "0", SL_RANGE(1, 100), .doc = "1..100"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "baddefault",
    .version = "0.0.1",
    .doc = "a default outside its range",
    .options = options,
    .run = run,
    .stop = stop,
};
