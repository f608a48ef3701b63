/* out_initfail - loader test: a valid output whose init refuses to start. */
#include <sluice/sluice.h>

static int init(struct sl_instance *inst, void **ctx)
{
    (void)ctx;
    sl_log(inst, SL_LOG_ERROR, "initfail: refusing to start");
    return SL_ERROR;
}

static int write_msgs(void *wctx, struct sl_msg **msgs, size_t n)
{
    (void)wctx;
    for (size_t i = 0; i < n; i++)
        sl_out_done(msgs[i], SL_OK, NULL);
    return SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,           .kind = SL_KIND_OUTPUT, .name = "initfail",  .version = "0.0.1",
    .doc = "init always fails", .init = init,           .write = write_msgs,
};
