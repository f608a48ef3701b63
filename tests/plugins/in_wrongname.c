/* in_wrongname - loader test: descriptor name differs from the file name. */
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

static int write_msgs(void *wctx, struct sl_msg **msgs, size_t n)
{
    (void)wctx;
    for (size_t i = 0; i < n; i++)
        sl_out_done(msgs[i], SL_OK, NULL);
    return SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "othername",
    .version = "0.0.1",
    .doc = "descriptor name differs from the file name",
    .run = run,
    .stop = stop,
    .write = write_msgs,
};
