/* test_codec_msgpack.c - the msgpack codec plugin: type mapping, ext, Fluentd events,
 * errors, and no malloc per message. Inputs are written out byte by byte here; the
 * interop test checks against python3-msgpack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hex.h"

#include <malloc.h>

#include "codec_harness.h"

static const struct sl_plugin *P;

static const struct sl_value *dec_ok(struct codec *c, struct sl_msg *m, const char *h)
{
    uint8_t b[512];
    char err[256];
    size_t n = hex(h, b);
    if (codec_decode(c, m, b, n, err, sizeof(err)) != SL_OK)
        fail_msg("decode of %s failed: %s", h, err);
    assert_non_null(m->record);
    return m->record;
}

static void dec_fails(struct codec *c, const char *h, const char *want)
{
    struct sl_msg m = {0};
    uint8_t b[512];
    char err[256];
    size_t n = hex(h, b);
    if (codec_decode(c, &m, b, n, err, sizeof(err)) != SL_ERROR)
        fail_msg("decode of %s should fail with '%s'", h, want);
    if (!strstr(err, want) || strncmp(err, "msgpack: ", 9) != 0)
        fail_msg("decode of %s: error '%s' lacks '%s'", h, err, want);
    msg_clear(&m);
}

/* Encodes m's record and compares with the hex bytes. */
static void enc_is(struct codec *c, struct sl_msg *m, const char *h)
{
    uint8_t b[512];
    char err[256];
    size_t n = hex(h, b);
    if (codec_encode(c, m, err, sizeof(err)) != SL_OK)
        fail_msg("encode failed: %s", err);
    if (m->out.len != n || memcmp(m->out.data, b, n) != 0) {
        for (size_t i = 0; i < m->out.len; i++)
            fprintf(stderr, "%02x ", m->out.data[i]);
        fail_msg("encoded bytes differ from %s", h);
    }
}

static const struct sl_value *get(const struct sl_value *map, const char *key)
{
    const struct sl_value *v = sl_map_get(map, key);
    if (!v)
        fail_msg("no key %s", key);
    return v;
}

static void mapping(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open_opts(&c, P, NULL), SL_OK);
    const struct sl_value *r = dec_ok(&c, &m,
                                      "8e"                          /* map of 14 */
                                      "a16e c0"                     /* n: nil */
                                      "a174 c3 a166 c2"             /* t: true, f: false */
                                      "a169 05 a2696e ff"           /* i: 5, in: -1 */
                                      "a3693864 d09c"               /* i8d: -100 */
                                      "a3753136 cd1234"             /* u16: 0x1234 */
                                      "a2696d d38000000000000000"   /* im: INT64_MIN */
                                      "a2756d cfffffffffffffffff"   /* um: UINT64_MAX */
                                      "a3663332 ca3fc00000"         /* f32: 1.5 */
                                      "a3663634 cb400921fb54442d18" /* f64: pi */
                                      "a173 d90378797a"             /* s: "xyz" (str8) */
                                      "a162 c40200ff"               /* b: bin 00 ff */
                                      "a161 93 01 92 02 80 03");    /* a: [1, [2, {}], 3] */
    assert_int_equal(r->type, SL_MAP);
    assert_int_equal(r->len, 14);
    assert_int_equal(get(r, "n")->type, SL_NULL);
    assert_true(get(r, "t")->u.b);
    assert_int_equal(get(r, "f")->type, SL_BOOL);
    assert_false(get(r, "f")->u.b);
    assert_int_equal(get(r, "i")->u.i, 5);
    assert_int_equal(get(r, "in")->u.i, -1);
    assert_int_equal(get(r, "i8d")->u.i, -100);
    assert_int_equal(get(r, "u16")->u.i, 0x1234);
    assert_true(get(r, "im")->u.i == INT64_MIN);
    assert_int_equal(get(r, "um")->type, SL_STRING); /* above INT64_MAX: exact decimal text */
    assert_string_equal(get(r, "um")->u.str, "18446744073709551615");
    assert_int_equal(get(r, "f32")->type, SL_DOUBLE);
    assert_true(get(r, "f32")->u.d == 1.5);
    assert_true(get(r, "f64")->u.d == 3.141592653589793);
    assert_int_equal(get(r, "s")->type, SL_STRING);
    assert_string_equal(get(r, "s")->u.str, "xyz");
    assert_int_equal(get(r, "b")->type, SL_BYTES);
    assert_int_equal(get(r, "b")->len, 2);
    assert_memory_equal(get(r, "b")->u.str, "\x00\xff", 2);
    const struct sl_value *a = get(r, "a");
    assert_int_equal(a->type, SL_ARRAY);
    assert_int_equal(a->len, 3);
    assert_int_equal(a->u.items[1].u.items[1].type, SL_MAP);
    /* The record holds its own bytes: a handler may replace the payload (Lua's
     * msg.payload = ...) and keep the record. */
    memset(m.payload.data, 0xee, m.payload.len);
    assert_string_equal(get(r, "s")->u.str, "xyz");
    assert_memory_equal(get(r, "b")->u.str, "\x00\xff", 2);
    assert_string_equal(r->u.members[13].key, "a");
    /* Integer keys become their decimal text. */
    r = dec_ok(&c, &m, "82 01 a178 ff a179");
    assert_string_equal(r->u.members[0].key, "1");
    assert_string_equal(r->u.members[1].key, "-1");
    msg_clear(&m);
    codec_close(&c);
}

/* Input in msgpack's smallest forms comes back byte for byte. */
static void round_trip(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open_opts(&c, P, NULL), SL_OK);
    const char *canon[] = {
        "c0",
        "c3",
        "7f",
        "e0",
        "cc80",
        "cd0100",
        "ce00010000",
        "cf0000000100000000",
        "d0df",
        "d1ff7f",
        "d2ffff7fff",
        "d3ffffffff7fffffff",
        "cb3ff8000000000000",
        "a0",
        "a3616263",
        "d920"
        "6161616161616161616161616161616161616161616161616161616161616161",
        "c400",
        "c403010203",
        "90",
        "80",
        "93c0c2c3",
        "82a161 01 a162 92 a0 80",
        "d4 05 aa",
        "d5 7f 0102",
        "c7 03 01 616263",
        "d6 ff 00000001",
    };
    for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
        dec_ok(&c, &m, canon[i]);
        enc_is(&c, &m, canon[i]);
    }
    msg_clear(&m);
    codec_close(&c);
}

static void ext_modes(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open_opts(&c, P, NULL), SL_OK);
    const struct sl_value *r = dec_ok(&c, &m, "c7 03 fe 616263");
    assert_int_equal(r->type, SL_MAP);
    assert_int_equal(get(r, "$ext")->u.i, -2);
    assert_int_equal(get(r, "$data")->type, SL_BYTES);
    assert_string_equal(get(r, "$data")->u.str, "abc");
    codec_close(&c);
    const char *refuse[] = {"ext", "refuse", NULL};
    assert_int_equal(codec_open_opts(&c, P, refuse), SL_OK);
    dec_fails(&c, "d4 05 aa", "ext type 5 is not accepted");
    dec_ok(&c, &m, "82 a42465787405 a52464617461c401aa"); /* the wrapper is a plain map here */
    enc_is(&c, &m, "82 a42465787405 a52464617461c401aa");
    codec_close(&c);
    const char *bad[] = {"ext", "keep", NULL};
    assert_int_equal(codec_open_opts(&c, P, bad), SL_ERROR);
    const char *bad2[] = {"format", "fluentd", NULL};
    assert_int_equal(codec_open_opts(&c, P, bad2), SL_ERROR);
    msg_clear(&m);
}

static void errors(void **state)
{
    (void)state;
    struct codec c;
    assert_int_equal(codec_open_opts(&c, P, NULL), SL_OK);
    dec_fails(&c, "", "empty payload");
    dec_fails(&c, "c1", "reserved byte 0xc1 at byte 0");
    dec_fails(&c, "92 01 c1", "reserved byte 0xc1 at byte 2");
    dec_fails(&c, "a5 6162", "truncated at byte 0");
    dec_fails(&c, "93 01 02", "declares 3 objects, only 2 bytes follow");
    dec_fails(&c, "92 01 cd 01", "truncated at byte 2");
    dec_fails(&c, "cd 01", "truncated");
    dec_fails(&c, "c6 ffffffff 00", "truncated");
    dec_fails(&c, "dd ffffffff 00", "declares 4294967295 objects, only 1 bytes follow");
    dec_fails(&c, "df 00100000 00", "declares");
    /* every object still due needs a byte too */
    dec_fails(&c, "92 dc 0002 01 02",
              "declares 2 objects, only 2 bytes follow for them and 1 more");
    dec_fails(&c, "01 02", "1 bytes of trailing garbage after the object at byte 1");
    dec_fails(&c, "81 c0 01", "map key must be a string or an integer, not nil");
    dec_fails(&c, "81 cb3ff8000000000000 01", "not a float");
    dec_fails(&c, "81 90 01", "not an array");
    /* 32 nested arrays decode; 33 do not. */
    char deep[200] = "", deeper[200] = "";
    for (int i = 0; i < 32; i++)
        strcat(deep, "91");
    strcat(deep, "01");
    strcat(strcpy(deeper, "91"), deep);
    struct sl_msg m = {0};
    dec_ok(&c, &m, deep);
    char err[256];
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    dec_fails(&c, deeper, "nesting deeper than 32");
    /* an empty container is a level too, as msgpack-c counts it */
    deep[64] = 0;
    dec_fails(&c, strcat(deep, "90"), "nesting deeper than 32 at byte 32");
    /* An ext in the innermost of 32 arrays is a scalar on the wire: it encodes
     * (found by fuzz_msgpack: its wrapper map was counted as a 33rd level). */
    char deep_ext[200] = "";
    for (int i = 0; i < 32; i++)
        strcat(deep_ext, "91");
    strcat(deep_ext, "d40501");
    dec_ok(&c, &m, deep_ext);
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    /* A record nested deeper than a decoder reads is refused when encoding. */
    struct sl_value v[40];
    for (int i = 0; i < 39; i++)
        v[i] = (struct sl_value){.type = SL_ARRAY, .len = 1, .u.items = &v[i + 1]};
    v[39] = (struct sl_value){.type = SL_NULL};
    m.record = v;
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "nesting deeper than 32"));
    msg_clear(&m);
    codec_close(&c);
}

/* Arrays inside arrays, each declaring nearly as many elements as bytes are
 * left: the second is refused at its header (the first's elements need those
 * bytes too), before the arena holds more than ~32 bytes per input byte. */
static void hostile_counts(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    enum { LEN = 70000, LEVELS = 20 };
    static uint8_t b[LEN];
    char err[256];
    for (int i = 0; i < LEVELS; i++) {
        uint16_t n = (uint16_t)(65535 - 3 * i);
        b[3 * i] = 0xdc;
        b[3 * i + 1] = (uint8_t)(n >> 8);
        b[3 * i + 2] = (uint8_t)n;
    }
    assert_int_equal(codec_open_opts(&c, P, NULL), SL_OK);
    assert_int_equal(codec_decode(&c, &m, b, LEN, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "container at byte 3 declares 65532 objects"));
    assert_true(m.arena.total <= 32u * LEN);
    msg_clear(&m);
    codec_close(&c);
}

static void fluent(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    const char *opts[] = {"format", "fluent", NULL};
    assert_int_equal(codec_open_opts(&c, P, opts), SL_OK);
    /* [EventTime(1700000000, 123456789), {"log": "hi"}] */
    const char *ev = "92 d7 00 6553f100 075bcd15 81 a36c6f67 a26869";
    const struct sl_value *r = dec_ok(&c, &m, ev);
    assert_int_equal(r->type, SL_MAP);
    assert_string_equal(get(r, "log")->u.str, "hi");
    const struct sl_header *h = sl_msg_header(&m, "fluent_time");
    assert_non_null(h);
    assert_int_equal(h->value_len, strlen("1700000000.123456789"));
    assert_memory_equal(h->value, "1700000000.123456789", h->value_len);
    assert_int_equal(m.source.timestamp_ms, 1700000000123);
    enc_is(&c, &m, ev);
    /* Integer and float times, Fluent Bit 2's [[time, metadata], record]. */
    dec_ok(&c, &m, "92 ce6553f100 80");
    enc_is(&c, &m, "92 d7 00 6553f100 00000000 80");
    dec_ok(&c, &m, "92 92 d7006553f100075bcd15 80 81 a161 01");
    enc_is(&c, &m, "92 d7 00 6553f100 075bcd15 81 a161 01");
    dec_ok(&c, &m, "92 cb41d954fc4007e6b7 80"); /* 1700000000.123 */
    assert_int_equal(m.source.timestamp_ms, 1700000000123);
    dec_fails(&c, "81 a161 01", "array [time, record]");
    dec_fails(&c, "92 a178 80", "event time");
    dec_fails(&c, "92 01 90", "record must be a map");
    dec_fails(&c, "92 d6 00 00000001 80", "event time"); /* ext 0 of 4 bytes */
    /* a map time, empty or like the ext wrapper (found by fuzz_msgpack: UB on the empty one) */
    dec_fails(&c, "92 92 80 80 80", "event time");
    dec_fails(&c, "92 82 a424657874 00 a52464617461 c408 0000000100000002 80", "event time");
    /* No header: the source timestamp is used. */
    m.headers = NULL;
    m.n_headers = m.headers_cap = 0;
    m.source.timestamp_ms = 1500;
    enc_is(&c, &m, "92 d7 00 00000001 1dcd6500 80");
    msg_clear(&m);
    codec_close(&c);
}

/* 1 M decodes and encodes of one record: no malloc after warm-up, no growth. */
static void no_malloc_per_message(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    assert_int_equal(codec_open_opts(&c, P, NULL), SL_OK);
    const char *rec =
        "87a27473cf0000019365c48c00a36c766ca47761726ea4686f7374a67765622d3037a36d7367ad47"
        "4554202f6f72646572732f31a26d73cb4029800000000000a47461677392a161a162a4757365"
        "7282a26964cd1267a3766970c2";
    uint8_t b[512];
    size_t n = hex(rec, b);
    assert_int_equal(sl_buf_set(&m.payload, b, n), 0);
    unsigned long mallocs = codec_churn(&c, &m, 1000000);
    assert_int_equal(m.out.len, n);
    assert_memory_equal(m.out.data, b, n);
    if (HARNESS_COUNTS_MALLOC)
        assert_int_equal(mallocs, 0);
    msg_clear(&m);
    codec_close(&c);
}

static int setup(void **state)
{
    (void)state;
    P = harness_load("codec_msgpack.so", "msgpack");
    return P ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mapping),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(ext_modes),
        cmocka_unit_test(errors),
        cmocka_unit_test(fluent),
        cmocka_unit_test(hostile_counts),
        cmocka_unit_test(no_malloc_per_message),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
