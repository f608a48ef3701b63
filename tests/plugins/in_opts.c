/* in_opts - config test input: one option of every type, with defaults, so
 * test_config can check validation and the sl_opt_* readers. Emits nothing. */
#include <sluice/sluice.h>

static int opts_run(void *wctx, struct sl_input_sink *sink)
{
    (void)wctx;
    (void)sink;
    return SL_OK;
}

static void opts_stop(void *ctx)
{
    (void)ctx;
}

static const struct sl_option opts_options[] = {
    {"s", SL_OPT_STRING, "dflt", false, "a string"},
    {"i", SL_OPT_INT, "42", false, "an integer"},
    {"hex", SL_OPT_INT, "0x10", false, "an integer default in hex"},
    {"b", SL_OPT_BOOL, "true", false, "a boolean"},
    {"d", SL_OPT_DOUBLE, "2.5", false, "a number"},
    {"l", SL_OPT_LIST, NULL, false, "a list of strings"},
    {"g", SL_OPT_GROUP, NULL, false, "a group"},
    {"any", SL_OPT_ANY, NULL, false, "anything"},
    {"req", SL_OPT_STRING, NULL, true, "a required string"},
    {NULL, 0, NULL, false, NULL},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "opts",
    .version = "0.0.1",
    .doc = "one option of every type (config tests)",
    .options = opts_options,
    .run = opts_run,
    .stop = opts_stop,
};
