/* fuzz_json.c - libFuzzer target for the json codec: the simdjson fast path and yajl alone
 * must agree (accept the same inputs, give equal trees); for every input that decodes,
 * encode -> decode must give an equal tree and encoding must be stable.
 * Build and run: tests/fuzz/run.sh json [seconds]   (needs libyajl-dev, libsimdjson-dev)
 * fuzz-sources: plugins/codec_json/decode.c plugins/codec_json/encode.c
 * fuzz-sources: plugins/codec_json/scratch.c plugins/common/utf8.c plugins/common/base64.c
 * fuzz-sources: plugins/codec_json/simd.cpp plugins/common/json_space.c
 * fuzz-cflags: -Iplugins/codec_json -Iplugins/common -DJSON_HAVE_SIMDJSON
 * fuzz-pkgs: yajl simdjson */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static struct json_opts opts, pretty, yajl_opts;
static struct json_dec *dec, *ydec;

static void die(const char *what, const uint8_t *data, size_t size, const char *err)
{
    fprintf(stderr, "fuzz_json: %s (%s) on %zu bytes: %.*s\n", what, err ? err : "", size,
            (int)(size > 200 ? 200 : size), (const char *)data);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_arena a1, a2;
    static struct sl_buf out1, out2;
    char err[256];

    if (!dec) {
        if (json_opts_init(&opts) < 0 || json_opts_init(&pretty) < 0 ||
            json_opts_init(&yajl_opts) < 0)
            abort();
        pretty.pretty = true;
        yajl_opts.yajl_only = true;
        dec = json_dec_new(&opts);
        ydec = json_dec_new(&yajl_opts);
        if (!dec || !ydec)
            abort();
    }
    sl_arena_reset(&a1);
    sl_arena_reset(&a2);
    out1.len = out2.len = 0;

    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct sl_value v1, v2;
    int rc = json_decode(dec, &a1, copy, size, &v1, err, sizeof(err));
    char yerr[256];
    int yrc = json_decode(ydec, &a2, copy, size, &v2, yerr, sizeof(yerr));
    if (rc != yrc)
        die(rc ? "only yajl accepts" : "only simdjson accepts", data, size, rc ? err : yerr);
    if (rc == 0 && !sl_value_equal(&v1, &v2))
        die("simdjson and yajl disagree", data, size, NULL);
    sl_arena_reset(&a2);
    if (rc < 0) {
        if (strncmp(err, "json: ", 6) != 0 || strchr(err, '\n'))
            die("bad error text", data, size, err);
        free(copy);
        return 0;
    }
    if (json_encode(&opts, &v1, &out1, err, sizeof(err)) < 0)
        die("decoded value does not encode", data, size, err);
    if (json_decode(dec, &a2, out1.data, out1.len, &v2, err, sizeof(err)) < 0)
        die("encoded text does not decode", out1.data, out1.len, err);
    if (!sl_value_equal(&v1, &v2))
        die("round trip changed the value", data, size, NULL);
    if (json_encode(&opts, &v2, &out2, err, sizeof(err)) < 0 || out1.len != out2.len ||
        memcmp(out1.data, out2.data, out1.len) != 0)
        die("encoding is not stable", data, size, NULL);
    /* Pretty output decodes to the same value too. */
    out2.len = 0;
    sl_arena_reset(&a2);
    if (json_encode(&pretty, &v1, &out2, err, sizeof(err)) < 0 ||
        json_decode(dec, &a2, out2.data, out2.len, &v2, err, sizeof(err)) < 0 ||
        !sl_value_equal(&v1, &v2))
        die("pretty round trip failed", data, size, err);
    free(copy);
    return 0;
}
