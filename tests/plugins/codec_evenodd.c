/* codec_evenodd - engine test codec: decode builds {"seq": offset} for even
 * source offsets and fails odd ones; encode writes "seq=N" from the record. */
#include <stdio.h>
#include <string.h>

#include <sluice/sluice.h>

static int eo_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen)
{
    (void)wctx;
    if (m->source.offset % 2) {
        snprintf(err, errlen, "evenodd: odd offset %lld", (long long)m->source.offset);
        return SL_ERROR;
    }
    struct sl_value *root = sl_arena_alloc(&m->arena, sizeof(*root));
    struct sl_member *mb = sl_arena_alloc(&m->arena, sizeof(*mb));
    if (!root || !mb)
        return SL_ERROR;
    mb->key = "seq";
    mb->key_len = 3;
    mb->value = (struct sl_value){.type = SL_INT, .u.i = m->source.offset};
    *root = (struct sl_value){.type = SL_MAP, .len = 1, .u.members = mb};
    m->record = root;
    return SL_OK;
}

static int eo_encode(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err,
                     size_t errlen)
{
    (void)wctx;
    const struct sl_value *seq = sl_map_get(m->record, "seq");
    if (!seq || seq->type != SL_INT) {
        snprintf(err, errlen, "evenodd: no seq in the record");
        return SL_ERROR;
    }
    char text[32];
    int n = snprintf(text, sizeof(text), "seq=%lld", (long long)seq->u.i);
    return sl_buf_append(out, text, (size_t)n);
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_CODEC,
    .name = "evenodd",
    .version = "0.0.1",
    .doc = "decodes even offsets, fails odd ones (engine tests)",
    .decode = eo_decode,
    .encode = eo_encode,
};
