/* test_codec_protobuf.c - the protobuf codec plugin on tests/data/proto/shop.proto: the
 * record mapping, round trips, unknown fields, errors with reasons, Confluent framing,
 * JSON names, no malloc per message. The vectors were written by python3-protobuf; the
 * interop test (tests/integration/test_codecs_interop.sh) checks both directions live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hex.h"

#include "codec_harness.h"

static const struct sl_plugin *P;
static char desc_path[512];

/* Order with every field set but card, gift, maybe_text and parent. */
static const char *ORDER =
    "08fbffffffffffffffff011080ccbbbcdeffffffff011880d0acf30e20ffffffffffffffffff01280d30ffbfb2"
    "cd3b3d070000004108000000000000004df7ffffff51f6ffffffffffffff5d0000c03f61000000000000024068"
    "01720668c3a96c6c6f7a0200ff8001028a010f0a02413110021a070a0345555210039201050a014210019a0104"
    "0102ac02a00104a00105aa010178aa010179b201050a01611001ba0108080712040a025337c201070801120379"
    "6573d0012ae00100f201020109fa0108000000000000e03f";
/* LogLine, ~70 bytes. */
static const char *LOGLINE = "08809892aeb63212047761726e1a067765622d30372211474554202f6f72646572"
                             "732f31202271222900000000008029403201613201623a0a0a06752d34373131"
                             "1003";

static int open_codec(struct codec *c, const char *message, const char *k2, const char *v2)
{
    const char *opts[] = {"descriptor_set", desc_path, "message", message, k2, v2, NULL};
    return codec_open_opts(c, P, opts);
}

static const struct sl_value *dec_ok(struct codec *c, struct sl_msg *m, const uint8_t *b, size_t n)
{
    char err[256];
    if (codec_decode(c, m, b, n, err, sizeof(err)) != SL_OK)
        fail_msg("decode failed: %s", err);
    assert_non_null(m->record);
    return m->record;
}

static void dec_fails(struct codec *c, const char *h, const char *want)
{
    struct sl_msg m = {0};
    uint8_t b[4096];
    char err[256];
    size_t n = hex(h, b);
    if (codec_decode(c, &m, b, n, err, sizeof(err)) != SL_ERROR)
        fail_msg("decode of %s should fail with '%s'", h, want);
    if (!strstr(err, want) || strncmp(err, "protobuf: ", 10) != 0)
        fail_msg("decode of %s: error '%s' lacks '%s'", h, err, want);
    msg_clear(&m);
}

static const struct sl_value *get(const struct sl_value *v, const char *path)
{
    const struct sl_value *r = sl_value_path(v, path);
    if (!r)
        fail_msg("no %s in the record", path);
    return r;
}

static void expect_int(const struct sl_value *r, const char *path, int64_t want)
{
    const struct sl_value *v = get(r, path);
    if (v->type != SL_INT || v->u.i != want)
        fail_msg("%s: want int %lld, have %s %lld", path, (long long)want, sl_type_name(v->type),
                 (long long)v->u.i);
}

static void expect_str(const struct sl_value *r, const char *path, const char *want)
{
    const struct sl_value *v = get(r, path);
    if (v->type != SL_STRING || strcmp(v->u.str, want) != 0)
        fail_msg("%s: want \"%s\", have %s", path, want, sl_type_name(v->type));
}

static void mapping(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[1024];
    size_t n = hex(ORDER, b);
    assert_int_equal(open_codec(&c, "shop.v1.Order", NULL, NULL), SL_OK);
    const struct sl_value *r = dec_ok(&c, &m, b, n);
    expect_int(r, "i32", -5);
    expect_int(r, "i64", -9000000000);
    expect_int(r, "u32", 4000000000);
    expect_str(r, "u64", "18446744073709551615"); /* above INT64_MAX: exact decimal text */
    expect_int(r, "s32", -7);
    expect_int(r, "s64", -8000000000);
    expect_int(r, "f32", 7);
    expect_int(r, "f64", 8);
    expect_int(r, "sf32", -9);
    expect_int(r, "sf64", -10);
    assert_true(get(r, "fl")->type == SL_DOUBLE && get(r, "fl")->u.d == 1.5);
    assert_true(get(r, "db")->type == SL_DOUBLE && get(r, "db")->u.d == 2.25);
    assert_true(get(r, "flag")->type == SL_BOOL && get(r, "flag")->u.b);
    expect_str(r, "name", "h\xc3\xa9llo");
    assert_int_equal(get(r, "blob")->type, SL_BYTES);
    assert_memory_equal(get(r, "blob")->u.str, "\x00\xff", 2);
    expect_str(r, "status", "STATUS_SHIPPED");
    expect_str(r, "first_item.sku", "A1");
    expect_int(r, "first_item.qty", 2);
    expect_str(r, "first_item.price.currency", "EUR");
    expect_int(r, "first_item.price.units", 3);
    assert_null(sl_value_path(r, "first_item.price.nanos")); /* proto2: absent is not zero */
    assert_int_equal(get(r, "first_item.price.history")->type, SL_ARRAY);
    expect_str(r, "items.0.sku", "B");
    assert_null(sl_value_path(r, "items.0.price")); /* unset message */
    expect_int(r, "packed_ints.2", 300);
    expect_int(r, "unpacked_ints.1", 5);
    expect_str(r, "tags.1", "y");
    expect_int(r, "counts.a", 1);
    expect_str(r, "by_id.7.sku", "S7");
    expect_int(r, "by_id.7.qty", 0); /* proto3 without presence: its zero */
    expect_str(r, "flags.true", "yes");
    expect_int(r, "voucher", 42); /* the oneof: only the member set */
    assert_null(sl_value_path(r, "card"));
    assert_null(sl_value_path(r, "gift"));
    expect_int(r, "maybe", 0); /* proto3 optional, set to zero: present */
    assert_null(sl_value_path(r, "maybe_text"));
    expect_str(r, "statuses.0", "STATUS_OPEN");
    expect_int(r, "statuses.1", 9); /* a number the enum does not name */
    assert_true(get(r, "ratios.0")->u.d == 0.5);
    assert_null(sl_value_path(r, "parent"));
    /* Encoding gives python's bytes back. */
    char err[256];
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    assert_int_equal(m.out.len, n);
    assert_memory_equal(m.out.data, b, n);
    msg_clear(&m);
    codec_close(&c);
}

/* Unknown fields (a varint and a length-delimited one, at the top and in a nested
 * message) come back in place when the record is not changed. */
static void unknown_fields(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[1024];
    char err[256];
    assert_int_equal(open_codec(&c, "shop.v1.Order", NULL, NULL), SL_OK);
    /* first_item {sku "S", unknown 100 = 1}, then unknown 101 = "hi" at the top */
    size_t n = hex("8a0106 0a0153 a00601 aa06026869", b);
    const struct sl_value *r = dec_ok(&c, &m, b, n);
    assert_int_equal(get(r, "first_item.$unknown")->type, SL_BYTES);
    assert_int_equal(get(r, "$unknown")->len, 5);
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    assert_int_equal(m.out.len, n);
    assert_memory_equal(m.out.data, b, n);
    msg_clear(&m);
    codec_close(&c);
}

static void errors(void **state)
{
    (void)state;
    struct codec c;
    char h[8192];
    assert_int_equal(open_codec(&c, "shop.v1.Order", NULL, NULL), SL_OK);
    snprintf(h, sizeof(h), "%.*s", (int)strlen(ORDER) - 6, ORDER);
    dec_fails(&c, h, "truncated");
    dec_fails(&c, "0a0100", "field i32 (1) of shop.v1.Order has wire type 2, not 0, at byte 0");
    dec_fails(&c, "7201ff", "invalid UTF-8 in string field name at byte 2");
    dec_fails(&c, "8a0104 1a021001", "missing required field currency of common.v1.Money");
    dec_fails(&c, "0b", "wire type 3");
    dec_fails(&c, "08ffffffffffffffffffff01", "bad varint");
    /* Order.parent nested 101 deep: refused before protobuf-c recurses. */
    uint8_t deep[1024];
    size_t n = 0;
    for (int i = 0; i < 101; i++) {
        memmove(deep + 3, deep, n);
        deep[0] = 0x82;
        deep[1] = 0x02;
        deep[2] = (uint8_t)n; /* < 128 up to 42 levels; make longer lengths two bytes */
        if (n >= 128) {
            memmove(deep + 4, deep + 3, n);
            deep[2] = (uint8_t)(n | 0x80);
            deep[3] = (uint8_t)(n >> 7);
            n++;
        }
        n += 3;
    }
    struct sl_msg m = {0};
    char err[256];
    assert_int_equal(codec_decode(&c, &m, deep, n, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "nested deeper than 100"));
    /* Encoding: fields the schema lacks, wrong types, missing required. */
    struct sl_member mem[2] = {{.key = "nope", .key_len = 4, .value = {.type = SL_INT}}};
    struct sl_value rec = {.type = SL_MAP, .len = 1, .u.members = mem};
    m.record = &rec;
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "shop.v1.Order has no field \"nope\""));
    mem[0] =
        (struct sl_member){.key = "i32", .key_len = 3, .value = {.type = SL_INT, .u.i = 1LL << 40}};
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "field i32: value out of range"));
    mem[0] = (struct sl_member){
        .key = "status", .key_len = 6, .value = {.type = SL_STRING, .len = 4, .u.str = "LOST"}};
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "has no value LOST"));
    struct sl_value empty = {.type = SL_MAP};
    struct sl_member price = {.key = "price", .key_len = 5, .value = empty};
    struct sl_value item = {.type = SL_MAP, .len = 1, .u.members = &price};
    mem[0] = (struct sl_member){.key = "first_item", .key_len = 10, .value = item};
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "missing required field currency of common.v1.Money"));
    m.record = NULL;
    msg_clear(&m);
    codec_close(&c);
}

/* Found by fuzz_protobuf: protobuf-c reads tags up to 2^32-1 and keeps them as unknown
 * fields; numbers above 2^29-1 are refused. A map entry without its message value reads
 * as an empty message, which encodes and decodes to the same record. */
static void fuzz_findings(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[64];
    char err[256];
    assert_int_equal(open_codec(&c, "shop.v1.LogLine", NULL, NULL), SL_OK);
    dec_fails(&c, "f8ffffff1f 01", "bad field number 1073741823");
    codec_close(&c);
    assert_int_equal(open_codec(&c, "shop.v1.Order", NULL, NULL), SL_OK);
    const struct sl_value *r = dec_ok(&c, &m, b, hex("ba0102 0803", b));
    expect_str(r, "by_id.3.sku", "");
    expect_int(r, "by_id.3.qty", 0);
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    struct sl_msg m2 = {0};
    const struct sl_value *r2 = dec_ok(&c, &m2, m.out.data, m.out.len);
    assert_true(sl_value_equal(r, r2));
    msg_clear(&m);
    msg_clear(&m2);
    codec_close(&c);
}

/* proto2 map entries have fields with presence: a value, zero or not, is written. */
static void proto2_map(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[64];
    char err[256];
    size_t n = hex("0a03455552 32050a017a1000 32050a01611001", b);
    assert_int_equal(open_codec(&c, "common.v1.Money", NULL, NULL), SL_OK);
    const struct sl_value *r = dec_ok(&c, &m, b, n);
    expect_int(r, "rates.z", 0);
    expect_int(r, "rates.a", 1);
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    assert_int_equal(m.out.len, n);
    assert_memory_equal(m.out.data, b, n);
    msg_clear(&m);
    codec_close(&c);
}

static void options(void **state)
{
    (void)state;
    struct codec c;
    assert_int_equal(open_codec(&c, "shop.v1.Nope", NULL, NULL), SL_ERROR);
    const char *missing[] = {"descriptor_set", "/nonexistent.desc", "message", "a.B", NULL};
    assert_int_equal(codec_open_opts(&c, P, missing), SL_ERROR);
    const char *neither[] = {"message", "a.B", NULL};
    assert_int_equal(codec_open_opts(&c, P, neither), SL_ERROR);
    /* A file that is not a descriptor set. */
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/tests/data/proto/shop.proto", SLUICE_SOURCE_DIR);
    const char *notset[] = {"descriptor_set", bad, "message", "shop.v1.Order", NULL};
    assert_int_equal(codec_open_opts(&c, P, notset), SL_ERROR);
    assert_int_equal(open_codec(&c, "shop.v1.Order", "field_names", "camel"), SL_ERROR);
}

static void json_names(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[1024];
    char err[256];
    size_t n = hex(ORDER, b);
    assert_int_equal(open_codec(&c, "shop.v1.Order", "field_names", "json"), SL_OK);
    const struct sl_value *r = dec_ok(&c, &m, b, n);
    expect_str(r, "firstItem.sku", "A1");
    expect_int(r, "packedInts.0", 1);
    expect_str(r, "byId.7.sku", "S7");
    assert_null(sl_value_path(r, "first_item"));
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
    assert_int_equal(m.out.len, n);
    msg_clear(&m);
    codec_close(&c);
}

static void confluent(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[1024];
    char h[1024], err[256];
    assert_int_equal(open_codec(&c, "shop.v1.LogLine", "confluent", "true"), SL_OK);
    const char *frames[] = {"00 00000007 00", "00 0000012c 04 02 00"};
    const char *index[] = {"0", "1.0"};
    for (int i = 0; i < 2; i++) {
        snprintf(h, sizeof(h), "%s %s", frames[i], LOGLINE);
        size_t n = hex(h, b);
        const struct sl_value *r = dec_ok(&c, &m, b, n);
        expect_str(r, "host", "web-07");
        const struct sl_header *id = sl_msg_header(&m, "confluent_schema_id");
        const struct sl_header *ix = sl_msg_header(&m, "confluent_message_index");
        assert_non_null(id);
        assert_memory_equal(id->value, i ? "300" : "7", id->value_len);
        assert_memory_equal(ix->value, index[i], ix->value_len);
        assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_OK);
        assert_int_equal(m.out.len, n);
        assert_memory_equal(m.out.data, b, n);
    }
    dec_fails(&c, "01 00000007 00 08 01", "no Confluent framing");
    codec_close(&c);
    assert_int_equal(open_codec(&c, "shop.v1.LogLine", "confluent", "true"), SL_OK);
    /* A record with no header and no schema_id cannot be framed. */
    struct sl_value rec = {.type = SL_MAP};
    msg_clear(&m);
    m.record = &rec;
    assert_int_equal(codec_encode(&c, &m, err, sizeof(err)), SL_ERROR);
    assert_non_null(strstr(err, "no schema id"));
    m.record = NULL;
    msg_clear(&m);
    codec_close(&c);
}

static void no_malloc_per_message(void **state)
{
    (void)state;
    struct codec c;
    struct sl_msg m = {0};
    uint8_t b[256];
    size_t n = hex(LOGLINE, b);
    assert_int_equal(open_codec(&c, "shop.v1.LogLine", NULL, NULL), SL_OK);
    assert_int_equal(sl_buf_set(&m.payload, b, n), 0);
    unsigned long mallocs = codec_churn(&c, &m, 300000);
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
    P = harness_load("codec_protobuf.so", "protobuf");
    snprintf(desc_path, sizeof(desc_path), "%s/shop.desc", SLUICE_TEST_BUILD_DIR);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "protoc --include_imports --descriptor_set_out=%s -I%s/tests/data/proto shop.proto",
             desc_path, SLUICE_SOURCE_DIR);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        return -1;
    }
    return P ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mapping),
        cmocka_unit_test(unknown_fields),
        cmocka_unit_test(errors),
        cmocka_unit_test(options),
        cmocka_unit_test(json_names),
        cmocka_unit_test(confluent),
        cmocka_unit_test(no_malloc_per_message),
        cmocka_unit_test(fuzz_findings),
        cmocka_unit_test(proto2_map),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
