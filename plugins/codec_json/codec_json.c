/* codec_json.c - the "json" codec: one JSON value per message <-> the record tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/sluice.h"

#include "json.h"

static const char *const bytes_forms[] = {"base64", "text", NULL};
static const char *const parsers[] = {"auto", "yajl", NULL};

static const struct sl_option options[] = {
    {.name = "max_depth",
     .type = SL_OPT_INT,
     .def = "512",
     SL_RANGE(1, JSON_LIMIT_MAX_DEPTH),
     .doc = "deepest nesting of arrays/maps accepted when decoding and encoding"},
    {.name = "pretty",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "encode with newlines and two-space indents"},
    {.name = "bytes",
     .type = SL_OPT_STRING,
     .def = "base64",
     .allowed = bytes_forms,
     .doc = "how binary (bytes) values are written: base64, or text (UTF-8, other bytes as "
            "\\u00XX)"},
    {.name = "parser",
     .type = SL_OPT_STRING,
     .def = "auto",
     .allowed = parsers,
     .doc = "auto: simdjson when built in, yajl for what it refuses; yajl: yajl only"},
    {0},
};

/* The instance: options, and counters of which parser decoded each message
 * (json_fast_path: simdjson; json_yajl_path: yajl, errors included), so a
 * test and the metrics can show the fast path is taken. */
struct json_codec {
    struct json_opts o;
    struct sl_counter *fast, *yajl;
};

static int json_init(struct sl_instance *inst, void **ctx)
{
    struct json_codec *jc = malloc(sizeof(*jc));
    struct json_opts *o = jc ? &jc->o : NULL;
    if (!jc || json_opts_init(o) < 0) {
        sl_instance_error(inst, "out of memory");
        free(jc);
        return SL_ERROR;
    }
    jc->fast = sl_counter_get(inst, "json_fast_path");
    jc->yajl = sl_counter_get(inst, "json_yajl_path");
    /* the options table bounds max_depth and lists the bytes and parser values */
    o->max_depth = (int)sl_opt_int(inst, "max_depth");
    o->pretty = sl_opt_bool(inst, "pretty");
    o->bytes = strcmp(sl_opt_str(inst, "bytes"), "text") == 0 ? JSON_BYTES_TEXT : JSON_BYTES_BASE64;
    o->yajl_only = strcmp(sl_opt_str(inst, "parser"), "yajl") == 0;
    *ctx = jc;
    return SL_OK;
}

static void json_destroy(void *ctx)
{
    struct json_codec *jc = ctx;
    if (jc)
        json_opts_fini(&jc->o);
    free(jc);
}

/* Per worker: the decoder (parser buffers, scratch memory, the element stack), made
 * on first use: output workers only encode. */
struct worker {
    const struct json_opts *o;
    struct json_dec *dec;
    struct json_codec *jc;
    uint32_t n_fast, n_yajl; /* not yet added to the shared counters */
};

/* Counted locally and added in batches: no shared cache line per message. */
#define COUNT_BATCH 1024

static void add_counts(struct worker *w)
{
    sl_counter_add(w->jc->fast, w->n_fast);
    sl_counter_add(w->jc->yajl, w->n_yajl);
    w->n_fast = w->n_yajl = 0;
}

static int json_worker_init(void *ctx, unsigned n, void **wctx)
{
    (void)n;
    struct worker *w = malloc(sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->jc = ctx;
    w->o = &w->jc->o;
    w->dec = NULL;
    w->n_fast = w->n_yajl = 0;
    *wctx = w;
    return SL_OK;
}

static void json_worker_destroy(void *wctx)
{
    struct worker *w = wctx;
    if (!w)
        return;
    add_counts(w);
    json_dec_free(w->dec);
    free(w);
}

static int json_codec_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen)
{
    struct worker *w = wctx;
    struct sl_value *root = sl_arena_alloc(&m->arena, sizeof(*root));

    if (!w->dec)
        w->dec = json_dec_new(w->o);
    if (!root || !w->dec) {
        snprintf(err, errlen, "json: out of memory");
        return SL_ERROR;
    }
    int rc = json_decode(w->dec, &m->arena, m->payload.data, m->payload.len, root, err, errlen);
    if (json_dec_used_fast_path(w->dec))
        w->n_fast++;
    else
        w->n_yajl++;
    if (w->n_fast + w->n_yajl >= COUNT_BATCH)
        add_counts(w);
    if (rc < 0)
        return SL_ERROR;
    m->record = root;
    return SL_OK;
}

/* With no record (nothing decoded it), the payload is passed through as is. */
static int json_codec_encode(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err,
                             size_t errlen)
{
    struct worker *w = wctx;

    if (!m->record) {
        if (sl_buf_append(out, m->payload.data, m->payload.len) < 0) {
            snprintf(err, errlen, "json: out of memory");
            return SL_ERROR;
        }
        return SL_OK;
    }
    return json_encode(w->o, m->record, out, err, errlen) < 0 ? SL_ERROR : SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_CODEC,
    .name = "json",
    .version = "0.1.0",
    .doc = "one JSON value per message <-> record (simdjson + yajl; ints stay ints, order kept)",
    .options = options,
    .init = json_init,
    .destroy = json_destroy,
    .worker_init = json_worker_init,
    .worker_destroy = json_worker_destroy,
    .decode = json_codec_decode,
    .encode = json_codec_encode,
};
