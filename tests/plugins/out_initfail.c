/* out_initfail - loader test: init always fails; it says why with
 * sl_instance_error, or with silent = true gives no reason at all. */
#include <sluice/sluice.h>

static int initfail_init(struct sl_instance *inst, void **ctx)
{
    (void)ctx;
    if (!sl_opt_bool(inst, "silent"))
        sl_instance_error(inst, "refusing to start");
    return SL_ERROR;
}

static int initfail_write(void *wctx, struct sl_msg **msgs, size_t n)
{
    (void)wctx;
    (void)msgs;
    (void)n;
    return SL_ERROR;
}

static const struct sl_option initfail_options[] = {
    {.name = "silent", .type = SL_OPT_BOOL, .def = "false", .doc = "fail without a word"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,      .kind = SL_KIND_OUTPUT,     .name = "initfail",
    .version = "0.0.1",    .doc = "init always fails", .options = initfail_options,
    .init = initfail_init, .write = initfail_write,
};
