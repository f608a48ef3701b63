/* in_badopt - loader test: an options table entry with an unknown type. */
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
    {.name = "fine", .type = SL_OPT_INT, .def = "1", .doc = "a good option"},
    {.name = "weird", .type = 99, .doc = "an option of no known type"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "badopt",
    .version = "0.0.1",
    .doc = "an option of unknown type",
    .options = options,
    .run = run,
    .stop = stop,
};
