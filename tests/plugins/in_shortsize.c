/* in_shortsize - loader test: claims a descriptor shorter than the callbacks. */
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
    .abi_minor = SL_ABI_MINOR,
    .struct_size = 16,
    .signature = SL_ABI_SIGNATURE,
    .kind = SL_KIND_INPUT,
    .name = "shortsize",
    .version = "0.0.1",
    .doc = "claims a descriptor shorter than the callbacks",
    .run = run,
    .stop = stop,
    .write = write_msgs,
};
