/* test_codec_protobuf_ref.c - the protobuf codec's own decoder and encoder against
 * protobuf-c 1.4.1, the reference (tests/fuzz/pb_reference.h says what is compared):
 * python3-protobuf's messages of tests/data/proto/shop.proto (the fuzz seeds), hand-made
 * vectors for each wire feature, every prefix of each, and each with every byte changed
 * in a few ways, as every message type of the schema. Then the documented departures
 * from protobuf-c, one by one. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hex.h"

#include "pb_reference.h"

static const char *const NAMES[] = {"shop.v1.Order", "shop.v1.LogLine", "shop.v1.Item",
                                    "common.v1.Money"};
#define N_NAMES (sizeof(NAMES) / sizeof(NAMES[0]))
static struct pb_schema schemas[N_NAMES];

/* Wire features one by one (hex; spaces between fields). */
static const char *const VECTORS[] = {
    "08 01 10 02 18 03 20 04 28 05 30 06 3d07000000 410800000000000000",
    "68 01 68 00 6802 7201 41 7a00 8001 02 9201 04 0a024142", /* bools, text, enum */
    "9a01 03 010203 a001 04 a001 05 a2010201 07",             /* packed read unpacked and back */
    "b201 05 0a0161 1001 b201 05 0a0161 1002 b201 00",        /* map: equal keys, empty entry */
    "ba01 02 0803 ba01 06 0803 1202 0a00 c201 02 0801",       /* map values: absent, message */
    "ca01 02 6869 d001 07 ca01 01 78",                        /* oneof: last member wins */
    "e001 00 ea01 00 f201 00 fa01 00",                        /* presence and empty packed runs */
    "8a01 02 1005 8a01 02 0a00",                              /* a message twice: merged */
    "a80601 b2060100 b9060000000000000000 c50600000000",      /* unknown fields, all types */
    "72 03 610062",                                           /* a NUL in a string */
    "7a 00 10 ffffffffffffffffff01",                          /* ten-byte varint */
    "08 ffffffffffffffffff8101",                              /* eleven bytes: refused */
    "0a 8080808000 0a 8080808080 00",                         /* five- and six-byte lengths */
    "0801 0802 1880 80 80 80 10",                  /* a 32-bit field from a long varint */
    "0a03 455552 1001 1801 2202 0102 2a03 010203", /* Money: required, packed */
    "6d 00000000",                                 /* bool, 32-bit wire type */
};

static int accepted, refused;

/* b, then every prefix of it, then b with each byte changed in a few ways. */
static void check_around(const uint8_t *b, size_t n)
{
    static uint8_t m[4096];
    for (size_t k = 0; k < N_NAMES; k++) {
        const struct pb_schema *s = &schemas[k];
        int ok = pb_ref_check(s, b, n);
        accepted += ok;
        refused += !ok;
        for (size_t len = 0; len < n; len++)
            refused += !pb_ref_check(s, b, len);
        memcpy(m, b, n);
        for (size_t i = 0; i < n; i++) {
            const uint8_t was = b[i];
            const uint8_t to[] = {0x00, 0x01,       0x02,       0x07,    0x7f,    0x80,
                                  0xff, was ^ 0x80, was ^ 0x01, was + 8, was - 8, was ^ 0x02};
            for (size_t j = 0; j < sizeof(to); j++) {
                m[i] = to[j];
                ok = pb_ref_check(s, m, n);
                accepted += ok;
                refused += !ok;
            }
            m[i] = was;
        }
    }
}

static void seeds(void **state)
{
    (void)state;
    char dir[600], path[900];
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/seeds_protobuf", SLUICE_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        static uint8_t buf[4096];
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        check_around(buf, n);
        files++;
    }
    closedir(d);
    assert_true(files >= 5);
}

static void vectors(void **state)
{
    (void)state;
    uint8_t b[512];
    for (size_t i = 0; i < sizeof(VECTORS) / sizeof(VECTORS[0]); i++)
        check_around(b, hex(VECTORS[i], b));
    printf("protobuf-c and pb_decode agree: %d accepted, %d refused\n", accepted, refused);
    /* the corpus reaches both sides of the comparison, many times */
    assert_true(accepted > 5000);
    assert_true(refused > 10000);
}

static const struct sl_value *decoded(const struct pb_schema *s, const char *h, struct sl_arena *a)
{
    static struct sl_value v;
    uint8_t b[256];
    char err[256];
    if (pb_decode(s, a, b, hex(h, b), &v, err, sizeof(err)) < 0)
        fail_msg("decode %s: %s", h, err);
    return &v;
}

/* Where the codec and protobuf-c differ on purpose (docs/departures.md). */
static void departures(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    char err[256];
    uint8_t b[64];
    const struct pb_schema *order = &schemas[0];
    /* a NUL in a string is kept (protobuf-c's C string ends there) */
    const struct sl_value *v = sl_value_path(decoded(order, "72 03 610062", &a), "name");
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->u.str, "a\0b", 3);
    /* a bool with another wire type is refused (protobuf-c reads any) */
    assert_int_equal(
        pb_decode(order, &a, b, hex("6d 00000000", b), &(struct sl_value){0}, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "field flag (13) of shop.v1.Order has wire type 5, not 0"));
    /* a message twice merges as protobuf says: the first's qty stays (protobuf-c 1.4.1
     * takes the later message's zero for fields without presence) */
    const char *twice = "8a01 05 0a0141 1005 8a01 03 0a0142";
    v = decoded(order, twice, &a);
    assert_string_equal(sl_value_path(v, "first_item.sku")->u.str, "B");
    assert_int_equal(sl_value_path(v, "first_item.qty")->u.i, 5);
    ProtobufCAllocator al;
    pb_allocator_init(&al, &a);
    ProtobufCMessage *m = protobuf_c_message_unpack(order->root->d, &al, hex(twice, b), b);
    assert_non_null(m);
    uint8_t packed[64];
    char packed_hex[130] = "";
    size_t n = protobuf_c_message_pack(m, packed);
    for (size_t i = 0; i < n; i++)
        sprintf(packed_hex + 2 * i, "%02x", packed[i]);
    assert_int_equal(sl_value_path(decoded(order, packed_hex, &a), "first_item.qty")->u.i, 0);
    /* and a message with a oneof, twice, decodes (protobuf-c 1.4.1 fails to merge it) */
    const char *parent_twice = "8202 02 0801 8202 02 1002";
    v = decoded(order, parent_twice, &a);
    assert_int_equal(sl_value_path(v, "parent.i32")->u.i, 1);
    assert_int_equal(sl_value_path(v, "parent.i64")->u.i, 2);
    assert_null(protobuf_c_message_unpack(order->root->d, &al, hex(parent_twice, b), b));
    sl_arena_free(&a);
}

/* A record whose members are not in field order (reversed, a key twice, two members of
 * the oneof) takes the general walk and encodes to the bytes the field order gives: the
 * last of equal keys and of the oneof's members winning. */
static void any_order(void **state)
{
    (void)state;
    struct sl_arena a = {0}, scratch = {0};
    struct sl_buf in_order = {0}, reversed = {0};
    char err[256];
    const struct pb_schema *order = &schemas[0];
    const struct sl_value *v =
        decoded(order, "08 01 7201 41 9201 04 0a024142 ca01 02 6869 e001 05 a80601", &a);
    assert_int_equal(pb_encode(order, &scratch, v, &in_order, err, sizeof(err)), 0);
    /* reversed, with voucher (the oneof) first and i32 twice, the first one wrong */
    struct sl_member m[64];
    uint32_t n = 0;
    m[n++] =
        (struct sl_member){.key = "voucher", .key_len = 7, .value = {.type = SL_INT, .u.i = 9}};
    m[n++] = (struct sl_member){.key = "i32", .key_len = 3, .value = {.type = SL_INT, .u.i = 5}};
    assert_true(v->len + 2 <= 64);
    for (uint32_t i = v->len; i-- > 0;)
        m[n++] = v->u.members[i];
    struct sl_value r = {.type = SL_MAP, .len = n, .u.members = m};
    assert_int_equal(pb_encode(order, &scratch, &r, &reversed, err, sizeof(err)), 0);
    assert_int_equal(reversed.len, in_order.len);
    assert_memory_equal(reversed.data, in_order.data, in_order.len);
    sl_buf_free(&in_order);
    sl_buf_free(&reversed);
    sl_arena_free(&a);
    sl_arena_free(&scratch);
}

/* A protoc-c library's required fields with defaults: missing on the wire, they read as
 * their defaults, as protobuf-c's unpack gives them (a descriptor set has no defaults for
 * the codec; a hand-made descriptor stands in for the generated code here). */
static void library_defaults(void **state)
{
    (void)state;
    static const int32_t seven = 7;
    static const ProtobufCFieldDescriptor fields[] = {
        {.name = "n",
         .id = 1,
         .label = PROTOBUF_C_LABEL_REQUIRED,
         .type = PROTOBUF_C_TYPE_INT32,
         .offset = sizeof(ProtobufCMessage),
         .default_value = &seven},
        {.name = "s",
         .id = 2,
         .label = PROTOBUF_C_LABEL_REQUIRED,
         .type = PROTOBUF_C_TYPE_STRING,
         .offset = sizeof(ProtobufCMessage) + 8,
         .default_value = "dflt"},
    };
    static const unsigned by_name[] = {0, 1};
    static const ProtobufCIntRange ranges[] = {{1, 0}, {0, 2}};
    static const ProtobufCMessageDescriptor d = {.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
                                                 .name = "t.Req",
                                                 .short_name = "Req",
                                                 .c_name = "t__Req",
                                                 .package_name = "t",
                                                 .sizeof_message = sizeof(ProtobufCMessage) + 16,
                                                 .n_fields = 2,
                                                 .fields = fields,
                                                 .fields_sorted_by_name = by_name,
                                                 .n_field_ranges = 1,
                                                 .field_ranges = ranges};
    struct pb_schema s = {0};
    struct sl_arena a = {0};
    struct sl_value v;
    char err[256];
    assert_int_equal(pb_schema_build(&s, &d, PB_NAMES_PROTO, err, sizeof(err)), 0);
    assert_int_equal(pb_decode(&s, &a, NULL, 0, &v, err, sizeof(err)), 0);
    assert_int_equal(sl_value_path(&v, "n")->u.i, 7);
    assert_string_equal(sl_value_path(&v, "s")->u.str, "dflt");
    assert_int_equal(pb_ref_check(&s, NULL, 0), 1); /* and protobuf-c agrees */
    const uint8_t set[] = {0x08, 0x03};
    assert_int_equal(pb_ref_check(&s, set, sizeof(set)), 1);
    sl_arena_free(&a);
    pb_schema_free(&s);
}

static int setup(void **state)
{
    (void)state;
    char desc[512], cmd[2048], err[256];
    snprintf(desc, sizeof(desc), "%s/shop_ref.desc", SLUICE_TEST_BUILD_DIR);
    snprintf(cmd, sizeof(cmd),
             "protoc --include_imports --descriptor_set_out=%s -I%s/tests/data/proto shop.proto",
             desc, SLUICE_SOURCE_DIR);
    if (system(cmd) != 0)
        return -1;
    static uint8_t set[1 << 16];
    FILE *f = fopen(desc, "rb");
    if (!f)
        return -1;
    size_t n = fread(set, 1, sizeof(set), f);
    fclose(f);
    for (size_t i = 0; i < N_NAMES; i++) {
        const ProtobufCMessageDescriptor *d =
            pb_load_descriptor_set(&schemas[i].mem, set, n, NAMES[i], err, sizeof(err));
        if (!d || pb_schema_build(&schemas[i], d, PB_NAMES_PROTO, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", NAMES[i], err);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_NAMES; i++)
        pb_schema_free(&schemas[i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seeds),
        cmocka_unit_test(vectors),
        cmocka_unit_test(departures),
        cmocka_unit_test(any_order),
        cmocka_unit_test(library_defaults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
