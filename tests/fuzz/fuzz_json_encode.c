/* fuzz_json_encode.c - libFuzzer target for the json encoder on arbitrary records (what a
 * handler or another codec may produce: invalid UTF-8, bytes, NaN, odd doubles). The input
 * is read as a recipe for a record; every encoding must decode, and to the record expected.
 * Build and run: tests/fuzz/run.sh json_encode [seconds]
 * fuzz-sources: plugins/codec_json/decode.c plugins/codec_json/encode.c
 * fuzz-sources: plugins/codec_json/scratch.c plugins/common/utf8.c plugins/common/base64.c
 * fuzz-sources: plugins/codec_json/simd.cpp plugins/common/json_space.c
 * fuzz-cflags: -Iplugins/codec_json -Iplugins/common -DJSON_HAVE_SIMDJSON
 * fuzz-pkgs: yajl simdjson */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct rd {
    const uint8_t *p, *end;
    int nodes;
};

static uint8_t byte(struct rd *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static uint64_t u64(struct rd *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(r);
    return v;
}

struct arena_ctx {
    struct sl_arena *a;
};

static const char *raw(struct arena_ctx *a, struct rd *r, uint32_t *len)
{
    uint32_t n = byte(r) % 24;
    if ((size_t)(r->end - r->p) < n)
        n = (uint32_t)(r->end - r->p);
    *len = n;
    const char *s = sl_arena_strndup(a->a, (const char *)r->p, n);
    r->p += n;
    return s;
}

static bool has_nonfinite;

static void build(struct arena_ctx *a, struct rd *r, struct sl_value *v, int depth)
{
    memset(v, 0, sizeof(*v));
    uint8_t op = r->nodes++ > 200 || depth > 12 ? byte(r) % 6 : byte(r) % 9;
    switch (op) {
    case 0:
        v->type = SL_NULL;
        break;
    case 1:
        v->type = SL_BOOL;
        v->u.b = byte(r) & 1;
        break;
    case 2:
        v->type = SL_INT;
        v->u.i = (int64_t)u64(r);
        break;
    case 3: {
        uint64_t bits = u64(r);
        v->type = SL_DOUBLE;
        memcpy(&v->u.d, &bits, 8);
        if (!isfinite(v->u.d))
            has_nonfinite = true;
        break;
    }
    case 4:
    case 5:
        v->type = op == 4 ? SL_STRING : SL_BYTES;
        v->u.str = raw(a, r, &v->len);
        break;
    case 6:
    case 7: {
        uint32_t n = byte(r) % 5;
        v->type = op == 6 ? SL_ARRAY : SL_MAP;
        v->len = n;
        if (op == 6) {
            v->u.items = sl_arena_alloc(a->a, (n + 1) * sizeof(*v->u.items));
            for (uint32_t i = 0; i < n; i++)
                build(a, r, &v->u.items[i], depth + 1);
        } else {
            v->u.members = sl_arena_alloc(a->a, (n + 1) * sizeof(*v->u.members));
            for (uint32_t i = 0; i < n; i++) {
                v->u.members[i].key = raw(a, r, &v->u.members[i].key_len);
                build(a, r, &v->u.members[i].value, depth + 1);
            }
        }
        break;
    }
    default: /* a "human" double: an integer over a power of ten */
        v->type = SL_DOUBLE;
        v->u.d = (double)(int32_t)u64(r) / pow(10, byte(r) % 12);
        break;
    }
}

/* What a string reads as after encoding: well-formed UTF-8 kept, other bytes as U+00XX. */
static bool text_equal(const char *orig, uint32_t n, const struct sl_value *got)
{
    uint8_t *exp = malloc(2 * (size_t)n + 1), *o = exp;
    const uint8_t *p = (const uint8_t *)orig, *end = p + n;
    while (p < end) {
        size_t k = utf8_seq(p, (size_t)(end - p));
        if (k) {
            memcpy(o, p, k);
            o += k;
            p += k;
        } else if (*p < 0x80) {
            *o++ = *p++;
        } else {
            *o++ = (uint8_t)(0xC0 | *p >> 6);
            *o++ = (uint8_t)(0x80 | (*p++ & 0x3F));
        }
    }
    bool eq = got->type == SL_STRING && got->len == (size_t)(o - exp) &&
              memcmp(got->u.str, exp, got->len) == 0;
    free(exp);
    return eq;
}

static bool base64_equal(const char *orig, uint32_t n, const struct sl_value *got)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (got->type != SL_STRING || got->len != (n + 2) / 3 * 4)
        return false;
    uint8_t *dec = malloc(got->len + 1);
    size_t o = 0;
    for (uint32_t i = 0; i < got->len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = got->u.str[i + j];
            const char *at = c == '=' ? NULL : strchr(tbl, c);
            if (c == '=')
                pad++;
            else if (!at || !c)
                return free(dec), false;
            v = v << 6 | (at ? (uint32_t)(at - tbl) : 0);
        }
        dec[o++] = (uint8_t)(v >> 16);
        if (pad < 2)
            dec[o++] = (uint8_t)(v >> 8);
        if (pad < 1)
            dec[o++] = (uint8_t)v;
    }
    bool eq = o == n && memcmp(dec, orig, n) == 0;
    free(dec);
    return eq;
}

static bool same(const struct json_opts *o, const struct sl_value *v, const struct sl_value *w)
{
    switch (v->type) {
    case SL_STRING:
        return text_equal(v->u.str, v->len, w);
    case SL_BYTES:
        return o->bytes == JSON_BYTES_TEXT ? text_equal(v->u.str, v->len, w)
                                           : base64_equal(v->u.str, v->len, w);
    case SL_DOUBLE: /* bit-exact, -0.0 included */
        return w->type == SL_DOUBLE && memcmp(&v->u.d, &w->u.d, 8) == 0;
    case SL_ARRAY:
        if (w->type != SL_ARRAY || w->len != v->len)
            return false;
        for (uint32_t i = 0; i < v->len; i++)
            if (!same(o, &v->u.items[i], &w->u.items[i]))
                return false;
        return true;
    case SL_MAP:
        if (w->type != SL_MAP || w->len != v->len)
            return false;
        for (uint32_t i = 0; i < v->len; i++) {
            struct sl_value k = {
                .type = SL_STRING, .len = w->u.members[i].key_len, .u.str = w->u.members[i].key};
            if (!text_equal(v->u.members[i].key, v->u.members[i].key_len, &k) ||
                !same(o, &v->u.members[i].value, &w->u.members[i].value))
                return false;
        }
        return true;
    default:
        return sl_value_equal(v, w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct json_opts opts[3];
    static struct json_dec *dec;
    static struct sl_arena a1, a2;
    static struct sl_buf out;
    char err[256];

    if (!dec) {
        for (int i = 0; i < 3; i++)
            if (json_opts_init(&opts[i]) < 0)
                abort();
        opts[1].bytes = JSON_BYTES_TEXT;
        opts[2].pretty = true;
        dec = json_dec_new(&opts[0]);
    }
    sl_arena_reset(&a1);
    struct arena_ctx a = {&a1};
    struct rd r = {data, data + size, 0};
    struct sl_value v;
    has_nonfinite = false;
    build(&a, &r, &v, 0);
    for (int i = 0; i < 3; i++) {
        out.len = 0;
        int rc = json_encode(&opts[i], &v, &out, err, sizeof(err));
        if (has_nonfinite) {
            if (rc == 0 || !strstr(err, "cannot encode") || out.len)
                abort();
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "encode failed: %s\n", err);
            abort();
        }
        sl_arena_reset(&a2);
        struct sl_value w;
        if (json_decode(dec, &a2, out.data, out.len, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "output does not decode: %s: %.*s\n", err, (int)out.len, out.data);
            abort();
        }
        if (!same(&opts[i], &v, &w)) {
            fprintf(stderr, "decoded differs: %.*s\n", (int)out.len, out.data);
            abort();
        }
    }
    return 0;
}
