/* test_codec_json.c - the json codec plugin, loaded from the build like the engine does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

static const struct sl_plugin *P;
/* Options that force the yajl-only decoder (tests run with both). */
#define YAJL "{\"parser\": \"yajl\"}"

/* One configured codec with one worker. */
struct codec {
    struct sl_instance inst;
    struct sl_msg cfg; /* holds the decoded options map */
    void *ctx;
    void *wctx;
};

static void msg_free(struct sl_msg *m)
{
    sl_buf_free(&m->payload);
    sl_buf_free(&m->out);
    sl_arena_free(&m->arena);
    memset(m, 0, sizeof(*m));
}

static int decode_text(struct codec *c, struct sl_msg *m, const char *text, size_t len, char *err,
                       size_t errlen)
{
    sl_arena_reset(&m->arena);
    m->record = NULL;
    assert_int_equal(sl_buf_set(&m->payload, text, len), 0);
    return P->decode(c->wctx, m, err, errlen);
}

static struct sl_value empty_map = {.type = SL_MAP};

static void free_counters(struct codec *c)
{
    for (struct sl_counter *k = c->inst.counters, *next; k; k = next) {
        next = sl__counter_next(k);
        free(k);
    }
}

/* Builds the instance's option map by decoding opts (JSON) with a default codec. */
static int codec_open(struct codec *c, const char *opts)
{
    memset(c, 0, sizeof(*c));
    c->inst.plugin = P;
    c->inst.kind = SL_KIND_CODEC;
    c->inst.name = "json-test";
    snprintf(c->inst.where, sizeof(c->inst.where), "test.conf:1");
    c->inst.config = &empty_map;
    if (opts) {
        struct codec boot;
        char err[256];
        assert_int_equal(codec_open(&boot, NULL), SL_OK);
        int rc = decode_text(&boot, &c->cfg, opts, strlen(opts), err, sizeof(err));
        assert_int_equal(rc, SL_OK);
        c->inst.config = c->cfg.record;
        P->worker_destroy(boot.wctx);
        P->destroy(boot.ctx);
        free_counters(&boot);
    }
    int rc = P->init(&c->inst, &c->ctx);
    if (rc != SL_OK) {
        free_counters(c);
        msg_free(&c->cfg);
        return rc;
    }
    assert_int_equal(P->worker_init(c->ctx, 0, &c->wctx), SL_OK);
    return SL_OK;
}

/* Ends the codec and frees the counters it made (the engine frees them with the instance). */
static void codec_close(struct codec *c)
{
    P->worker_destroy(c->wctx);
    P->destroy(c->ctx);
    msg_free(&c->cfg);
    free_counters(c);
}

/* Decodes text, which must succeed. */
static const struct sl_value *dec(struct codec *c, struct sl_msg *m, const char *text)
{
    char err[256] = "";
    int rc = decode_text(c, m, text, strlen(text), err, sizeof(err));
    if (rc != SL_OK)
        fail_msg("decode of %s failed: %s", text, err);
    assert_non_null(m->record);
    return m->record;
}

/* Decodes text, which must fail with a one-line message containing want. */
static void dec_fails(struct codec *c, const char *text, size_t len, const char *want)
{
    struct sl_msg m = {0};
    char err[256] = "";
    int rc = decode_text(c, &m, text, len, err, sizeof(err));
    if (rc != SL_ERROR)
        fail_msg("decode of '%.60s' should fail with '%s'", text, want);
    if (!strstr(err, want))
        fail_msg("decode of '%.60s': error '%s' lacks '%s'", text, err, want);
    assert_true(strncmp(err, "json: ", 6) == 0);
    assert_null(strchr(err, '\n'));
    msg_free(&m);
}

/* Encodes m's record into m->out, which must succeed; returns it as a C string. */
static const char *enc(struct codec *c, struct sl_msg *m)
{
    char err[256] = "";
    m->out.len = 0;
    if (P->encode(c->wctx, m, &m->out, err, sizeof(err)) != SL_OK)
        fail_msg("encode failed: %s", err);
    assert_null(memchr(m->out.data, '\0', m->out.len)); /* JSON text has no raw NUL */
    assert_int_equal(sl_buf_append(&m->out, "", 0), 0); /* NUL-terminates, len unchanged */
    return (const char *)m->out.data;
}

static int setup(void **state)
{
    (void)state;
    void *h = dlopen(SLUICE_TEST_PLUGIN_DIR "/codec_json.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return -1;
    }
    P = dlsym(h, SL_PLUGIN_SYMBOL);
    if (!P)
        return -1;
    char err[256];
    if (sl__plugin_check(P, "codec_json.so", SL_KIND_CODEC, "json", err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* ---- decode: type mapping ---- */

static void numbers(void **state)
{
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    const struct sl_value *v =
        dec(&c, &m,
            "[0,-0,1,-1,9223372036854775807,-9223372036854775808,9223372036854775808,"
            "-9223372036854775809,1.0,1e3,1E3,-0.0,0.5,1.5e-7,123456789012345678901234,2.5E+2,"
            "0.1,1e-400]");
    assert_int_equal(v->type, SL_ARRAY);
    assert_int_equal(v->len, 18);
    const struct sl_value *a = v->u.items;
    int64_t ints[] = {0, 0, 1, -1, INT64_MAX, INT64_MIN};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(a[i].type, SL_INT);
        assert_true(a[i].u.i == ints[i]);
    }
    double dbls[] = {9223372036854775808.0,
                     -9223372036854775809.0,
                     1.0,
                     1000.0,
                     1000.0,
                     -0.0,
                     0.5,
                     1.5e-7,
                     123456789012345678901234.0,
                     250.0,
                     0.1,
                     0.0};
    for (int i = 0; i < 12; i++) {
        assert_int_equal(a[6 + i].type, SL_DOUBLE);
        assert_true(a[6 + i].u.d == dbls[i]);
    }
    assert_true(signbit(a[11].u.d));     /* -0.0 keeps its sign */
    assert_int_equal(a[1].type, SL_INT); /* -0 is the integer 0 */
    /* Encoded: ints stay ints, doubles keep a '.' or exponent. */
    assert_string_equal(enc(&c, &m),
                        "[0,0,1,-1,9223372036854775807,-9223372036854775808,9.223372036854776e+18,"
                        "-9.223372036854776e+18,1.0,1000.0,1000.0,-0.0,0.5,1.5e-07,"
                        "1.2345678901234569e+23,250.0,0.1,0.0]");
    msg_free(&m);
    codec_close(&c);
}

static void doubles_round_trip(void **state)
{
    struct codec c;
    struct sl_msg m = {0}, m2 = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    /* Awkward doubles: each must come back bit-identical. */
    uint64_t seed = 42;
    for (int i = 0; i < 20000; i++) {
        double d;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        if (i % 3 == 0) {
            uint64_t bits = seed;
            memcpy(&d, &bits, 8);
            if (!isfinite(d))
                continue;
        } else if (i % 3 == 1) {
            d = (double)(seed >> 20) / 1000.0;
        } else {
            d = (double)(int64_t)(seed >> 11) * 1e-9;
        }
        struct sl_value v = {.type = SL_DOUBLE, .u.d = d};
        m.record = &v;
        const char *t = enc(&c, &m);
        const struct sl_value *r = dec(&c, &m2, t);
        if (r->type != SL_DOUBLE || memcmp(&r->u.d, &d, 8) != 0)
            fail_msg("%.17g encoded as %s came back as %.17g", d, t, r->u.d);
    }
    m.record = NULL;
    msg_free(&m);
    msg_free(&m2);
    codec_close(&c);
}

static void containers(void **state)
{
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    const struct sl_value *v = dec(
        &c, &m,
        " { \"z\" : 1, \"a\": {\"b\": [true, false, null, [], {}]}, \"z\": \"dup\", \"e\": {} } ");
    assert_int_equal(v->type, SL_MAP);
    assert_int_equal(v->len, 4);
    /* Order and duplicates kept as they came. */
    assert_string_equal(v->u.members[0].key, "z");
    assert_string_equal(v->u.members[1].key, "a");
    assert_string_equal(v->u.members[2].key, "z");
    assert_string_equal(v->u.members[3].key, "e");
    assert_int_equal(v->u.members[2].value.type, SL_STRING);
    const struct sl_value *b = sl_value_path(v, "a.b");
    assert_non_null(b);
    assert_int_equal(b->type, SL_ARRAY);
    assert_int_equal(b->len, 5);
    assert_int_equal(b->u.items[0].type, SL_BOOL);
    assert_true(b->u.items[0].u.b);
    assert_false(b->u.items[1].u.b);
    assert_int_equal(b->u.items[2].type, SL_NULL);
    assert_int_equal(b->u.items[3].type, SL_ARRAY);
    assert_int_equal(b->u.items[3].len, 0);
    assert_int_equal(b->u.items[4].type, SL_MAP);
    assert_int_equal(b->u.items[4].len, 0);
    assert_string_equal(enc(&c, &m),
                        "{\"z\":1,\"a\":{\"b\":[true,false,null,[],{}]},\"z\":\"dup\",\"e\":{}}");
    /* Scalars and empty containers at the top. */
    const char *tops[] = {"[]", "{}", "null", "true", "false", "7", "-7.5", "\"\"", "\"x\""};
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        dec(&c, &m, tops[i]);
        assert_string_equal(enc(&c, &m), tops[i]);
    }
    msg_free(&m);
    codec_close(&c);
}

static void strings(void **state)
{
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    const struct sl_value *v = dec(&c, &m,
                                   "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"x\\u0000y\", "
                                   "\"\\ud83d\\ude00\", \"\\u00e9\\u20AC\", \"h\xc3\xa9\xe2\x82\xac"
                                   "\xf0\x9f\x98\x80\", \"\\u001f\\u007f\"]");
    const struct sl_value *a = v->u.items;
    assert_int_equal(a[0].type, SL_STRING);
    assert_int_equal(a[0].len, 12);
    assert_memory_equal(a[0].u.str, "a\"b\\c/d\b\f\n\r\t", 13);
    assert_int_equal(a[1].len, 3);
    assert_memory_equal(a[1].u.str, "x\0y", 4); /* exact bytes, NUL included */
    assert_int_equal(a[2].len, 4);
    assert_memory_equal(a[2].u.str, "\xf0\x9f\x98\x80", 5); /* surrogate pair -> U+1F600 */
    assert_memory_equal(a[3].u.str, "\xc3\xa9\xe2\x82\xac", 6);
    assert_memory_equal(a[4].u.str, "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 11);
    assert_memory_equal(a[5].u.str, "\x1f\x7f", 3);
    /* Control characters, quote and backslash escaped; UTF-8 written as is. */
    const char *t = enc(&c, &m);
    assert_string_equal(t, "[\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\",\"x\\u0000y\",\"\xf0\x9f\x98\x80\","
                           "\"\xc3\xa9\xe2\x82\xac\",\"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                           "\"\\u001f\x7f\"]");
    /* Keys are unescaped too. */
    v = dec(&c, &m, "{\"k\\u00e9\\n\":1}");
    assert_int_equal(v->u.members[0].key_len, 4);
    assert_string_equal(v->u.members[0].key, "k\xc3\xa9\n");
    msg_free(&m);
    codec_close(&c);
}

/* Every special character at every position of strings around the encoder's 8-byte steps. */
static void string_boundaries(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0}, m2 = {0};
    assert_int_equal(codec_open(&c, NULL), SL_OK);
    const char *specials[] = {
        "\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "/"};
    char buf[64];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
            for (size_t at = 0; at <= len; at++) {
                size_t sl = strlen(specials[k]);
                memset(buf, 'a', len);
                memcpy(buf + at, specials[k], sl);
                size_t n = len > at + sl ? len : at + sl;
                struct sl_value v = {.type = SL_STRING, .len = (uint32_t)n, .u.str = buf};
                m.record = &v;
                const struct sl_value *r = dec(&c, &m2, enc(&c, &m));
                if (!sl_value_equal(&v, r))
                    fail_msg("string of %zu with special %zu at %zu changed", n, k, at);
            }
        }
    }
    m.record = NULL;
    msg_free(&m);
    msg_free(&m2);
    codec_close(&c);
}

/* ---- decode: what is refused ---- */

static void malformed(void **state)
{
    struct codec c;
    assert_int_equal(codec_open(&c, *state), SL_OK);
    struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"{\"a\":1", "premature EOF"},
        {"[1,2", "premature EOF"},
        {"\"abc", "premature EOF"},
        {"{\"a\":1}x", "trailing garbage"},
        {"{} {}", "trailing garbage"},
        {"1 2", "trailing garbage"},
        {"[1,]", "parse error at byte"},
        {"{\"a\" 1}", "parse error at byte"},
        {"{a:1}", "parse error at byte"},
        {"nul", "parse error"},
        {"01", "parse error"},
        {"[1] // c", "parse error"},
        {"'x'", "parse error"},
        {"\"a\tb\"", "parse error"},
        {" ", "premature EOF"},
        {"\"\\ud800\"", "surrogate"},
        {"\"\\ud800abc\"", "surrogate"},
        {"\"\\udc00\"", "surrogate"},
        {"\"\\ud800\\u0041\"", "surrogate"},
        {"{\"\\ud800\":1}", "surrogate"},
        {"1e999", "out of range"},
        {"[-1e400]", "out of range"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        dec_fails(&c, bad[i].text, strlen(bad[i].text), bad[i].want);
    dec_fails(&c, "", 0, "empty payload");
    dec_fails(&c, "[1]\0", 4, "trailing garbage");
    /* Invalid UTF-8: bad bytes, truncated, overlong, surrogate, above U+10FFFF. */
    const char *utf8[] = {
        "\"\xff\"",         "\"\xc3\"",         "\"\xe2\x82\"",         "\"\xc0\x80\"",
        "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf8\x88\x80\x80\x80\"",
        "{\"\xff\":1}"};
    for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
        dec_fails(&c, utf8[i], strlen(utf8[i]), "UTF");
    codec_close(&c);
}

static void deep_nesting(void **state)
{
    struct codec c;
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;

    assert_int_equal(codec_open(&c, *state), SL_OK);
    clock_t t0 = clock();
    dec_fails(&c, deep, n, "max_depth (512)");     /* 100,000 unclosed */
    dec_fails(&c, deep, 2 * n, "max_depth (512)"); /* 100,000 closed */
    memset(deep, '{', n);
    dec_fails(&c, deep, n, "parse error"); /* '{' needs a key first */
    for (size_t i = 0; i < n; i += 6)
        memcpy(deep + i, "{\"a\":[", 6);
    dec_fails(&c, deep, n - n % 6, "max_depth (512)");
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);

    /* Exactly max_depth levels pass; one more fails. */
    struct sl_msg m = {0};
    memset(deep, '[', 512);
    memset(deep + 512, ']', 512);
    deep[1024] = 0;
    dec(&c, &m, deep);
    assert_string_equal(enc(&c, &m), deep);
    memset(deep, '[', 513);
    memset(deep + 513, ']', 513);
    deep[1026] = 0;
    dec_fails(&c, deep, 1026, "max_depth");
    codec_close(&c);

    /* The option lowers the limit, for decode and for encode. */
    assert_int_equal(codec_open(&c, "{\"max_depth\": 2}"), SL_OK);
    dec(&c, &m, "[[1],{\"a\":1},{}]");
    dec_fails(&c, "[[[1]]]", 7, "max_depth (2)");
    struct codec big;
    assert_int_equal(codec_open(&big, NULL), SL_OK);
    dec(&big, &m, "[[[1]]]");
    char err[256];
    m.out.len = 0;
    assert_int_equal(P->encode(c.wctx, &m, &m.out, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "max_depth"));
    assert_int_equal(m.out.len, 0);
    codec_close(&big);
    codec_close(&c);
    msg_free(&m);
    free(deep);
}

/* ---- encode ---- */

static void encode_special(void **state)
{
    (void)state;
    struct codec c, text, pretty;
    struct sl_msg m = {0};
    char err[256];
    assert_int_equal(codec_open(&c, NULL), SL_OK);
    assert_int_equal(codec_open(&text, "{\"bytes\": \"text\"}"), SL_OK);
    assert_int_equal(codec_open(&pretty, "{\"pretty\": true}"), SL_OK);

    /* NaN and infinity are not JSON: an encode error, output untouched. */
    double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        struct sl_value items[2] = {{.type = SL_INT, .u.i = 1}, {.type = SL_DOUBLE, .u.d = bad[i]}};
        struct sl_value v = {.type = SL_ARRAY, .len = 2, .u.items = items};
        m.record = &v;
        m.out.len = 0;
        assert_int_equal(sl_buf_append(&m.out, "keep", 4), 0);
        assert_int_equal(P->encode(c.wctx, &m, &m.out, err, sizeof(err)), SL_ERROR);
        assert_non_null(strstr(err, "json: cannot encode"));
        assert_int_equal(m.out.len, 4);
    }

    /* Bytes: base64 by default; "text" writes UTF-8 and \u00XX for other bytes. */
    struct sl_value b[4] = {
        {.type = SL_BYTES, .len = 0, .u.str = ""},
        {.type = SL_BYTES, .len = 1, .u.str = "\xff"},
        {.type = SL_BYTES, .len = 2, .u.str = "\x00\x01"},
        {.type = SL_BYTES, .len = 9, .u.str = "h\xc3\xa9\xff\"\n\xe2\x82\x00"},
    };
    struct sl_value arr = {.type = SL_ARRAY, .len = 4, .u.items = b};
    m.record = &arr;
    assert_string_equal(enc(&c, &m), "[\"\",\"/w==\",\"AAE=\",\"aMOp/yIK4oIA\"]");
    assert_string_equal(enc(&text, &m),
                        "[\"\",\"\\u00ff\",\"\\u0000\\u0001\",\"h\xc3\xa9\\u00ff\\\"\\n"
                        "\\u00e2\\u0082\\u0000\"]");
    /* A string that is not valid UTF-8 still gives valid JSON. */
    struct sl_value s = {.type = SL_STRING, .len = 5, .u.str = "a\xc0\x80\xed\xa0"};
    m.record = &s;
    assert_string_equal(enc(&c, &m), "\"a\\u00c0\\u0080\\u00ed\\u00a0\"");

    /* Pretty. */
    struct sl_msg p = {0};
    dec(&pretty, &p, "{\"a\":[1,{\"b\":null}],\"c\":{},\"d\":[]}");
    assert_string_equal(enc(&pretty, &p), "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n"
                                          "  ],\n  \"c\": {},\n  \"d\": []\n}");
    msg_free(&p);

    /* Passthrough: no record, the payload as is (whatever it is). */
    m.record = NULL;
    assert_int_equal(sl_buf_set(&m.payload, "not json\x01", 9), 0);
    m.out.len = 0;
    assert_int_equal(P->encode(c.wctx, &m, &m.out, err, sizeof(err)), SL_OK);
    assert_int_equal(m.out.len, 9);
    assert_memory_equal(m.out.data, "not json\x01", 9);

    msg_free(&m);
    codec_close(&pretty);
    codec_close(&text);
    codec_close(&c);
}

/* Whether the core's check of the options table accepts `key = value;`. */
static bool table_accepts(const char *setting)
{
    config_t cfg;
    config_init(&cfg);
    assert_int_equal(config_read_string(&cfg, setting), CONFIG_TRUE);
    const config_setting_t *s = config_setting_get_elem(config_root_setting(&cfg), 0);
    const struct sl_option *o = P->options;
    while (o->name && strcmp(o->name, config_setting_name(s)) != 0)
        o++;
    assert_non_null(o->name);
    char why[512];
    bool ok = sl__option_check_value(o, s, why, sizeof(why)) == 0;
    config_destroy(&cfg);
    return ok;
}

static void bad_options(void **state)
{
    (void)state;
    struct codec c;
    /* the table bounds what init would otherwise have to check */
    assert_false(table_accepts("max_depth = 0;"));
    assert_false(table_accepts("max_depth = 10001;"));
    assert_false(table_accepts("bytes = \"hex\";"));
    assert_false(table_accepts("parser = \"simd\";"));
    assert_true(table_accepts("max_depth = 10000;"));
    assert_true(table_accepts("parser = \"yajl\";"));
    assert_int_equal(codec_open(&c, "{\"max_depth\": 10000, \"bytes\": \"base64\"}"), SL_OK);
    codec_close(&c);
    assert_int_equal(codec_open(&c, "{\"parser\": \"yajl\", \"pretty\": false}"), SL_OK);
    codec_close(&c);
    /* The options table documents every key. */
    int n = 0;
    for (const struct sl_option *o = P->options; o->name; o++, n++)
        assert_non_null(o->doc);
    assert_int_equal(n, 4);
}

/* ---- round trip: decode -> encode -> decode gives an equal tree ---- */

static const char *corpus[] = {
    "{\"ts\":1732579200000,\"lvl\":\"info\",\"msg\":\"GET /orders/1\",\"ms\":12.75,\"ok\":true}",
    "[1,-1,0,1.5,-2.25e-10,3e+300,4.9e-324,1.7976931348623157e308,-0.0,0.1,0.2,0."
    "30000000000000004]",
    "{\"a\":{\"b\":{\"c\":{\"d\":[[[[[]]]]]}}},\"e\":[{},{\"f\":null}]}",
    "[\"\\u0000\\u0001\\u001f\",\"\\ud834\\udd1e\",\"tab\\there\",\"\\\\\\\"\",\"\xe6\x97\xa5\"]",
    "{\"\":\"\",\" \":\" \",\"\\u0000\":0}",
    "[9223372036854775807,-9223372036854775808,9223372036854775808,18446744073709551616]",
    "[true,false,null,[true],[false],[null]]",
    "\"just a string\"",
    "-12345678901234567890123456789e-20",
    "{\"k\":\"v\",\"k\":\"w\"}",
    "[1e22,1e23,123456789012345.6,0.000001,1e-7,100000000000000000000.0]",
};

static void round_trip(void **state)
{
    struct codec c;
    struct sl_msg m = {0}, m2 = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        const struct sl_value *a = dec(&c, &m, corpus[i]);
        const char *t = enc(&c, &m);
        const struct sl_value *b = dec(&c, &m2, t);
        if (!sl_value_equal(a, b))
            fail_msg("round trip of %s changed it (encoded %s)", corpus[i], t);
        /* The encoding is stable: encoding again gives the same text. */
        char *t1 = strdup(t);
        assert_string_equal(enc(&c, &m2), t1);
        free(t1);
    }
    msg_free(&m);
    msg_free(&m2);
    codec_close(&c);
}

/* A big escaped string once, then small ones: the scratch shrinks back. */
static void big_then_small(void **state)
{
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    size_t n = 3 * 1000 * 1000;
    char *big = malloc(n + 3);
    big[0] = '"';
    for (size_t i = 1; i <= n; i += 6)
        memcpy(big + i, "\\u00e9", 6);
    big[n + 1] = '"';
    big[n + 2] = 0;
    const struct sl_value *v = dec(&c, &m, big);
    assert_int_equal(v->type, SL_STRING);
    assert_int_equal(v->len, n / 6 * 2);
    free(big);
    for (int i = 0; i < 100; i++)
        dec(&c, &m, "{\"a\":\"\\n\"}");
    msg_free(&m);
    codec_close(&c);
}

/* 1 M decodes (and encodes) of one message with a reused arena: no growth. */
static void no_growth(void **state)
{
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open(&c, *state), SL_OK);
    const char *text = "{\"ts\":1732579200000,\"lvl\":\"warn\",\"host\":\"web-07\",\"msg\":"
                       "\"GET /orders/1 \\\"q\\\"\",\"ms\":12.75,\"tags\":[\"a\",\"b\"],"
                       "\"user\":{\"id\":4711,\"vip\":false}}";
    size_t len = strlen(text);
    assert_int_equal(sl_buf_set(&m.payload, text, len), 0);
    char err[256];
    size_t before = 0, total = 0;
    for (int i = 0; i < 1000000; i++) {
        if (i == 1000) {
            before = mallinfo2().uordblks;
            total = m.arena.total;
        }
        sl_arena_reset(&m.arena);
        if (P->decode(c.wctx, &m, err, sizeof(err)) != SL_OK)
            fail_msg("%s", err);
        m.out.len = 0;
        if (P->encode(c.wctx, &m, &m.out, err, sizeof(err)) != SL_OK)
            fail_msg("%s", err);
    }
    assert_int_equal(m.out.len, len);
    assert_memory_equal(m.out.data, text, len);
    assert_int_equal(m.arena.total, total);
    assert_int_equal(mallinfo2().uordblks, before);
    msg_free(&m);
    codec_close(&c);
}

/* Both decoders give the same tree for everything the fast one takes. */
static void parsers_agree(void **state)
{
    (void)state;
    struct codec fast, yajl;
    struct sl_msg m = {0}, m2 = {0};
    assert_int_equal(codec_open(&fast, NULL), SL_OK);
    assert_int_equal(codec_open(&yajl, YAJL), SL_OK);
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        const struct sl_value *a = dec(&fast, &m, corpus[i]);
        const struct sl_value *b = dec(&yajl, &m2, corpus[i]);
        if (!sl_value_equal(a, b))
            fail_msg("the decoders disagree on %s", corpus[i]);
    }
    msg_free(&m);
    msg_free(&m2);
    codec_close(&yajl);
    codec_close(&fast);
}

/* Every file of the conformance corpus (RFC 8259; JSONTestSuite's naming):
 * y_*.json must decode, n_*.json must be refused, by both parsers. */
static void conformance(void **state)
{
    struct codec c;
    struct sl_msg m = {0};
    char path[512], err[256];
    assert_int_equal(codec_open(&c, *state), SL_OK);
    const char *dir = SLUICE_SOURCE_DIR "/tests/data/json_conformance";
    DIR *d = opendir(dir);
    assert_non_null(d);
    int seen_y = 0, seen_n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] != 'y' && e->d_name[0] != 'n')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char text[4096];
        size_t len = fread(text, 1, sizeof(text), f);
        fclose(f);
        err[0] = 0;
        int rc = decode_text(&c, &m, text, len, err, sizeof(err));
        if (e->d_name[0] == 'y' && rc != SL_OK)
            fail_msg("%s must be accepted: %s", e->d_name, err);
        if (e->d_name[0] == 'n' && rc != SL_ERROR)
            fail_msg("%s must be refused", e->d_name);
        *(e->d_name[0] == 'y' ? &seen_y : &seen_n) += 1;
    }
    closedir(d);
    assert_true(seen_y >= 20 && seen_n >= 40);
    msg_free(&m);
    codec_close(&c);
}

static int64_t counter(struct codec *c, const char *name)
{
    for (struct sl_counter *k = c->inst.counters; k; k = sl__counter_next(k))
        if (!strcmp(sl__counter_name(k), name))
            return sl__counter_value(k);
    return -1;
}

/* Ordinary records are decoded by simdjson, not yajl: the counters (also in
 * the metrics) say which parser took each message. With parser = "yajl" none is. */
static void fast_path_taken(void **state)
{
    (void)state;
    const char *text = "{\"ts\":1732579200000,\"lvl\":\"warn\",\"msg\":\"GET /\",\"ms\":12.75}";
    for (int yajl_only = 0; yajl_only < 2; yajl_only++) {
        struct codec c;
        struct sl_msg m = {0};
        assert_int_equal(codec_open(&c, yajl_only ? YAJL : NULL), SL_OK);
        for (int i = 0; i < 3000; i++)
            dec(&c, &m, text);
        dec_fails(&c, "[1,", 3, "premature EOF");
        P->worker_destroy(c.wctx); /* adds the worker's last counts */
        c.wctx = NULL;
        /* libsimdjson-dev is a dependency (scripts/install-deps.sh): no fast path is a bug. */
        assert_int_equal(counter(&c, "json_fast_path"), yajl_only ? 0 : 3000);
        assert_int_equal(counter(&c, "json_yajl_path"), yajl_only ? 3001 : 1);
        msg_free(&m);
        codec_close(&c);
    }
}

#define BOTH(f) cmocka_unit_test_prestate(f, NULL), cmocka_unit_test_prestate(f, (void *)YAJL)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(numbers),
        BOTH(doubles_round_trip),
        BOTH(containers),
        BOTH(strings),
        cmocka_unit_test(string_boundaries),
        BOTH(malformed),
        BOTH(deep_nesting),
        cmocka_unit_test(encode_special),
        cmocka_unit_test(bad_options),
        BOTH(round_trip),
        cmocka_unit_test(parsers_agree),
        BOTH(big_then_small),
        BOTH(no_growth),
        BOTH(conformance),
        cmocka_unit_test(fast_path_taken),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
