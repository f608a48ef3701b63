/* in_undef - loader test: calls a function that exists nowhere, so
 * dlopen(RTLD_NOW) fails and the loader must say why. */
#include <sluice/sluice.h>

void sl_test_no_such_function(void);

static int run(void *wctx, struct sl_input_sink *sink)
{
    (void)wctx;
    (void)sink;
    sl_test_no_such_function();
    return SL_OK;
}

static void stop(void *ctx)
{
    (void)ctx;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "undef",
    .version = "0.0.1",
    .doc = "references an undefined symbol",
    .run = run,
    .stop = stop,
};
