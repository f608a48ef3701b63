/* test_plugin_common.c - the helpers in plugins/common shared by several plugins:
 * base64 against RFC 4648's vectors, the strict UTF-8 check against its edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/common/base64.c"
#include "../../plugins/common/utf8.c"

static void base64_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char buf[16] = {0};
        size_t n = strlen(in[i]);
        char *end = base64_encode(buf, (const uint8_t *)in[i], n);
        assert_int_equal(end - buf, base64_encoded_len(n));
        assert_string_equal(buf, out[i]);
    }
    const uint8_t high[] = {0xff, 0xfe, 0x00};
    char buf[8] = {0};
    base64_encode(buf, high, 3);
    assert_string_equal(buf, "//4A");
}

/* Decoding undoes encoding, and refuses what is not padded base64. */
static void base64_decode_round_trip_and_errors(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char enc[16] = {0};
        uint8_t dec[16] = {0};
        size_t n = strlen(in[i]);
        char *end = base64_encode(enc, (const uint8_t *)in[i], n);
        assert_int_equal(base64_decode(dec, enc, (size_t)(end - enc)), n);
        assert_memory_equal(dec, in[i], n);
    }
    uint8_t dec[8];
    assert_int_equal(base64_decode(dec, "//4A", 4), 3);
    assert_int_equal(dec[0], 0xff);
    assert_int_equal(dec[2], 0x00);
    assert_int_equal(base64_decode(dec, "Zm9", 3), -1);      /* not a multiple of 4 */
    assert_int_equal(base64_decode(dec, "Zm9*", 4), -1);     /* not the alphabet */
    assert_int_equal(base64_decode(dec, "Z===", 4), -1);     /* too much padding */
    assert_int_equal(base64_decode(dec, "Zg==Zg==", 8), -1); /* padding mid-way */
}

static bool valid(const char *s)
{
    return utf8_valid((const uint8_t *)s, strlen(s));
}

static void utf8_accepts_and_rejects(void **state)
{
    (void)state;
    assert_true(valid("plain ascii, long enough for the 8-byte path"));
    assert_true(valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")); /* é € 😀 */
    assert_true(valid("\xf4\x8f\xbf\xbf"));                     /* U+10FFFF */
    assert_false(valid("\xc0\xaf"));                            /* overlong '/' */
    assert_false(valid("\xe0\x80\xaf"));                        /* overlong, 3 bytes */
    assert_false(valid("\xed\xa0\x80"));                        /* surrogate U+D800 */
    assert_false(valid("\xf4\x90\x80\x80"));                    /* above U+10FFFF */
    assert_false(valid("\x80"));                                /* lone continuation */
    assert_false(valid("abcdefgh\xe2\x82"));                    /* cut short at the end */
    assert_true(utf8_valid((const uint8_t *)"a\0b", 3));        /* NUL is a character */
    assert_int_equal(utf8_seq((const uint8_t *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(utf8_seq((const uint8_t *)"\xe2\x82\xac", 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64_rfc4648_vectors),
        cmocka_unit_test(base64_decode_round_trip_and_errors),
        cmocka_unit_test(utf8_accepts_and_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
