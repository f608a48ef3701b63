/* out_null - confirms and discards every message; for benchmarks and tests. */
#include <sluice/sluice.h>

static int null_write(void *wctx, struct sl_msg **msgs, size_t n)
{
    (void)wctx;
    for (size_t i = 0; i < n; i++)
        sl_out_done(msgs[i], SL_OK, NULL);
    return SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "null",
    .version = SLUICE_VERSION,
    .doc = "discard every message (confirmed at once)",
    .write = null_write,
};
