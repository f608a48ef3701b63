/* in_newminor - loader test: needs a newer ABI minor version than the host has. */
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
    .abi_major = SL_ABI_MAJOR,
    .abi_minor = SL_ABI_MINOR + 1,
    .struct_size = sizeof(struct sl_plugin),
    .signature = SL_ABI_SIGNATURE,
    .kind = SL_KIND_INPUT,
    .name = "newminor",
    .version = "0.0.1",
    .doc = "needs a newer ABI minor version than the host has",
    .run = run,
    .stop = stop,
    .write = write_msgs,
};
