/* codec_envelope - encodes the whole message, not just its payload, as one
 * JSON object: payload, key, headers (the x-sluice-* error headers of a dead
 * letter among them), route, source and trace id. Made for dead-letter
 * files, where the reason a message failed must travel with its bytes; it
 * decodes them back too (unwrap.c), so dead letters can be replayed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "envelope.h"
#include "utf8.h"

static const char *const payload_forms[] = {"raw", "json", NULL};

static const struct sl_option envelope_options[] = {
    {.name = "payload",
     .type = SL_OPT_STRING,
     .def = "raw",
     .allowed = payload_forms,
     .doc = "decode: json parses the restored payload into the record; raw leaves it bytes"},
    {0},
};

static int envelope_init(struct sl_instance *inst, void **ctx)
{
    struct envelope_conf *c = calloc(1, sizeof(*c));
    if (!c || json_opts_init(&c->json) < 0) {
        sl_instance_error(inst, "out of memory");
        free(c);
        return SL_ERROR;
    }
    c->json.yajl_only = true; /* replays are rare: no simdjson in this plugin */
    /* the options table allows "raw" and "json" only */
    c->payload_json = strcmp(sl_opt_str(inst, "payload"), "json") == 0;
    *ctx = c;
    return SL_OK;
}

static void envelope_destroy(void *ctx)
{
    struct envelope_conf *c = ctx;
    if (c)
        json_opts_fini(&c->json);
    free(c);
}

static int envelope_worker_init(void *ctx, unsigned idx, void **wctx)
{
    (void)idx;
    struct envelope_worker *w = calloc(1, sizeof(*w));
    if (!w || !(w->gen = yajl_gen_alloc(NULL))) {
        free(w);
        return SL_ERROR;
    }
    w->conf = ctx;
    *wctx = w;
    return SL_OK;
}

static void envelope_worker_destroy(void *wctx)
{
    struct envelope_worker *w = wctx;
    yajl_gen_free(w->gen);
    if (w->dec)
        json_dec_free(w->dec);
    sl_buf_free(&w->text);
    free(w);
}

static void put_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* Bytes as a JSON string when they are valid UTF-8, else base64 under
 * "<name>_base64", so any payload survives the round trip. */
static void put_bytes(yajl_gen g, const char *name, const uint8_t *p, size_t n)
{
    if (utf8_valid(p, n)) {
        put_str(g, name);
        yajl_gen_string(g, p, n);
        return;
    }
    char key[300];
    snprintf(key, sizeof(key), "%s_base64", name);
    put_str(g, key);
    size_t out_len = base64_encoded_len(n);
    char *out = malloc(out_len + 1);
    if (!out) {
        yajl_gen_null(g);
        return;
    }
    base64_encode(out, p, n);
    yajl_gen_string(g, (const unsigned char *)out, out_len);
    free(out);
}

static int envelope_encode(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err,
                           size_t errlen)
{
    yajl_gen g = ((struct envelope_worker *)wctx)->gen;
    char trace[64];
    yajl_gen_reset(g, NULL);
    yajl_gen_clear(g);
    yajl_gen_map_open(g);
    put_bytes(g, "payload", m->payload.data ? m->payload.data : (const uint8_t *)"",
              m->payload.len);
    if (m->has_key)
        put_bytes(g, "key", m->key.data, m->key.len);
    put_str(g, "headers");
    yajl_gen_map_open(g);
    for (uint32_t i = 0; i < m->n_headers; i++)
        put_bytes(g, m->headers[i].name, m->headers[i].value, m->headers[i].value_len);
    yajl_gen_map_close(g);
    if (m->route) {
        put_str(g, "route");
        put_str(g, m->route);
    }
    put_str(g, "source");
    yajl_gen_map_open(g);
    if (m->source.name) {
        put_str(g, "name");
        put_str(g, m->source.name);
    }
    if (m->source.partition >= 0) {
        put_str(g, "partition");
        yajl_gen_integer(g, m->source.partition);
    }
    if (m->source.offset >= 0) {
        put_str(g, "offset");
        yajl_gen_integer(g, m->source.offset);
    }
    /* The input's own facts (an AMQP exchange, a file's path...), beside
     * the fields struct sl_source has, which hide attributes of their names. */
    for (uint32_t i = 0; i < m->n_source_attrs; i++)
        if (!envelope_source_field(m->source_attrs[i].name))
            put_bytes(g, m->source_attrs[i].name, m->source_attrs[i].value,
                      m->source_attrs[i].value_len);
    yajl_gen_map_close(g);
    sl_msg_traceparent(m, trace);
    put_str(g, "traceparent");
    put_str(g, trace);
    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        snprintf(err, errlen, "envelope: cannot encode message");
        return SL_ERROR;
    }
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    return sl_buf_append(out, buf, len) < 0 ? SL_ERROR : SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_CODEC,
    .name = "envelope",
    .version = SLUICE_VERSION,
    .doc = "the whole message as JSON: payload, key, headers, route, source (dead letters, replay)",
    .options = envelope_options,
    .init = envelope_init,
    .destroy = envelope_destroy,
    .worker_init = envelope_worker_init,
    .worker_destroy = envelope_worker_destroy,
    .decode = envelope_decode,
    .encode = envelope_encode,
};
