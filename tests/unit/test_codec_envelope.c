/* test_codec_envelope.c - the envelope codec gives back the message it wrapped:
 * payload, key, headers, route, trace id, source fields and the input's source
 * attributes (text and binary), the x-sluice-* headers moved to the failure
 * list; and a malformed member is refused naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_harness.h"

static const struct sl_plugin *P;

static void open_envelope(struct codec *c)
{
    if (!P)
        P = harness_load("codec_envelope.so", "envelope");
    assert_non_null(P);
    assert_int_equal(codec_open_opts(c, P, NULL), SL_OK);
}

static void assert_attr(const struct sl_msg *m, const char *name, const void *value, size_t len)
{
    const struct sl_header *a = sl_msg_source_attr(m, name);
    if (!a)
        fail_msg("source attribute %s lost", name);
    assert_int_equal(a->value_len, len);
    assert_memory_equal(a->value, value, len);
}

static void round_trip(void **state)
{
    (void)state;
    struct codec c;
    open_envelope(&c);
    struct sl_msg in = {0}, back = {0};
    char err[256];
    static const uint8_t binary[] = {0xff, 0x00, 0x80};
    assert_int_equal(sl_buf_set(&in.payload, "{\"id\":7}", 8), 0);
    assert_int_equal(sl_buf_set(&in.key, "k7", 2), 0);
    in.has_key = true;
    assert_int_equal(sl_msg_set_header(&in, "tenant", "t1", 2), 0);
    assert_int_equal(sl_msg_set_header(&in, "x-sluice-error", "boom", 4), 0);
    assert_int_equal(sl_msg_set_route(&in, "orders"), 0);
    in.source.name = "orders-queue";
    in.source.partition = -1;
    in.source.offset = 42;
    assert_int_equal(sl_msg_set_source_attr(&in, "exchange", "shop", 4), 0);
    assert_int_equal(sl_msg_set_source_attr(&in, "routing_key", "order.created", 13), 0);
    assert_int_equal(sl_msg_set_source_attr(&in, "tag", binary, sizeof(binary)), 0);
    /* hidden by struct sl_source's own field: never written twice */
    assert_int_equal(sl_msg_set_source_attr(&in, "name", "shadowed", 8), 0);
    memset(in.trace_id, 0xab, sizeof(in.trace_id));
    memset(in.span_id, 0xcd, sizeof(in.span_id));

    assert_int_equal(codec_encode(&c, &in, err, sizeof(err)), SL_OK);
    assert_null(memmem(in.out.data, in.out.len, "shadowed", 8));
    back.source.partition = -1;
    back.source.offset = -1;
    if (codec_decode(&c, &back, in.out.data, in.out.len, err, sizeof(err)) != SL_OK)
        fail_msg("decode: %s", err);

    assert_int_equal(back.payload.len, 8);
    assert_memory_equal(back.payload.data, "{\"id\":7}", 8);
    assert_true(back.has_key);
    assert_memory_equal(back.key.data, "k7", 2);
    assert_non_null(sl_msg_header(&back, "tenant"));
    assert_null(sl_msg_header(&back, "x-sluice-error"));
    assert_int_equal(back.source.n_failure, 1);
    assert_string_equal(back.source.failure[0].name, "x-sluice-error");
    assert_string_equal(back.route, "orders");
    assert_string_equal(back.source.name, "orders-queue");
    assert_int_equal(back.source.offset, 42);
    assert_memory_equal(back.trace_id, in.trace_id, sizeof(in.trace_id));
    assert_attr(&back, "exchange", "shop", 4);
    assert_attr(&back, "routing_key", "order.created", 13);
    assert_attr(&back, "tag", binary, sizeof(binary));
    assert_int_equal(back.n_source_attrs, 3);

    msg_clear(&in);
    msg_clear(&back);
    codec_close(&c);
}

static void bad_attribute_is_refused(void **state)
{
    (void)state;
    struct codec c;
    open_envelope(&c);
    struct sl_msg m = {0};
    char err[256];
    static const char bad[] = "{\"payload\":\"x\",\"source\":{\"tag_base64\":\"@@@\"}}";
    assert_int_equal(codec_decode(&c, &m, bad, sizeof(bad) - 1, err, sizeof(err)), SL_ERROR);
    if (!strstr(err, "tag_base64"))
        fail_msg("error '%s' does not name the member", err);
    msg_clear(&m);
    codec_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(bad_attribute_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
