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

static const char *const moods[] = {"calm", "loud", NULL};

static const struct sl_option good_options[] = {
    {.name = "greeting", .type = SL_OPT_STRING, .def = "hello", .doc = "what to say"},
    {.name = "times", .type = SL_OPT_INT, .def = "1", SL_RANGE(1, 9), .doc = "how often"},
    {.name = "mood", .type = SL_OPT_STRING, .def = "calm", .allowed = moods, .doc = "how"},
    {.name = "pause_ms",
     .type = SL_OPT_INT,
     .def = "0",
     .check = SL_CHECK_DURATION_MS,
     .doc = "between greetings"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "good",
    .version = "1.2.3",
    .doc = "a well-formed test input",
    .options = good_options,
    .max_workers = 1,
    .run = good_run,
    .stop = good_stop,
};
