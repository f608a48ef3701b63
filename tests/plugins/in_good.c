/* in_good - a well-formed input for the loader tests; emits nothing. */
#include <sluice/sluice.h>

static int good_run(void *wctx, struct sl_input_sink *sink)
{
    (void)wctx;
    (void)sink;
    return SL_OK;
}

static void good_stop(void *ctx)
{
    (void)ctx;
}

static const struct sl_option good_options[] = {
    {"greeting", SL_OPT_STRING, "hello", false, "what to say"},
    {NULL, 0, NULL, false, NULL},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "good",
    .version = "1.2.3",
    .doc = "a well-formed test input",
    .options = good_options,
    .run = good_run,
    .stop = good_stop,
};
