/* codec_oneway - config test codec that works one way only: built with
 * -DONLY_ENCODE it is "encodeonly" (no decode), else "decodeonly" (no
 * encode). The core must refuse the first on an input, the second on an output. */
#include <string.h>

#include <sluice/sluice.h>

#ifdef ONLY_ENCODE
static int oneway_encode(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err,
                         size_t errlen)
{
    (void)wctx;
    (void)err;
    (void)errlen;
    return sl_buf_append(out, m->payload.data, m->payload.len) < 0 ? SL_ERROR : SL_OK;
}
#else
static int oneway_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen)
{
    (void)wctx;
    (void)m;
    (void)err;
    (void)errlen;
    return SL_OK;
}
#endif

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,     .kind = SL_KIND_CODEC,
#ifdef ONLY_ENCODE
    .name = "encodeonly", .encode = oneway_encode,
#else
    .name = "decodeonly", .decode = oneway_decode,
#endif
    .version = "0.0.1",   .doc = "a codec that works one way only",
};
