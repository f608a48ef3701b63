/* in_norun - loader test: an input without run and stop. */
#include <sluice/sluice.h>

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
    .name = "norun",
    .version = "0.0.1",
    .doc = "an input without run and stop",
    .write = write_msgs, /* an output callback, but no run/stop */
};
