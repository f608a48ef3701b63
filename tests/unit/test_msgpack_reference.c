/* test_msgpack_reference.c - the codec's own msgpack reader and writer against msgpack-c
 * (tests/unit/mp_reference.c): hand-picked inputs, then random objects in every wire form
 * (smallest or not), each also truncated at every length and with bytes changed; the
 * reader must accept exactly what msgpack-c accepts (under the codec's rules), make the
 * same record of it, and msgpack-c must read the writer's bytes back to that record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hex.h"

#include "msgpack_value.h"
#include "mp_reference.h"

static unsigned accepted, refused;

static void dump_fail(const char *why, int ext, const uint8_t *p, size_t n)
{
    fprintf(stderr, "ext=%s, %zu bytes:", ext == MP_EXT_WRAP ? "wrap" : "refuse", n);
    for (size_t i = 0; i < n && i < 200; i++)
        fprintf(stderr, " %02x", p[i]);
    fail_msg("%s", why);
}

/* Both ext modes; counts what the reference accepted. */
static void agree(const uint8_t *p, size_t n)
{
    for (int ext = MP_EXT_WRAP; ext <= MP_EXT_REFUSE; ext++) {
        const char *why = mp_ref_check(ext, p, n);
        if (why)
            dump_fail(why, ext, p, n);
    }
    struct sl_arena a = {0};
    struct sl_value v;
    char err[256];
    if (mp_decode_value(MP_EXT_WRAP, &a, p, n, &v, err, sizeof(err)) == 0)
        accepted++;
    else
        refused++;
    sl_arena_free(&a);
}

static void hand_picked(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "c0",
        "c2",
        "c3",
        "00",
        "7f",
        "e0",
        "ff",
        "cc ff",
        "cd ffff",
        "ce ffffffff",
        "cf ffffffffffffffff",
        "cf 7fffffffffffffff",
        "cc 00",
        "d0 80",
        "d0 7f",
        "d1 8000",
        "d2 80000000",
        "d3 8000000000000000",
        "d3 7fffffffffffffff",
        "ca 3fc00000",
        "ca 7fc00000",
        "cb 7ff8000000000001",
        "cb 8000000000000000",
        "a0",
        "a3 616263",
        "d9 00",
        "d9 03 616263",
        "da 0003 616263",
        "db 00000003 616263",
        "c4 00",
        "c4 02 00ff",
        "c5 0001 00",
        "c6 00000001 00",
        "d4 05 aa",
        "d5 7f 0102",
        "d6 ff 00000001",
        "d7 00 0000000100000002",
        "d8 01 00112233445566778899aabbccddeeff",
        "c7 00 05",
        "c7 03 01 616263",
        "c8 0001 02 00",
        "c9 00000001 80 00",
        "90",
        "80",
        "91 90",
        "dc 0000",
        "dd 00000000",
        "de 0000",
        "df 00000000",
        "dc 0002 01 02",
        "dd 00000002 01 02",
        "de 0001 a161 01",
        "df 00000001 a161 01",
        "82 a161 01 a162 92 a0 80",
        "81 01 02",
        "81 ff 02",
        "81 d3 8000000000000000 00",
        "81 cf ffffffffffffffff 00",
        "81 c4 02 6162 00",
        "81 d9 01 61 00",
        "81 a0 c0",
        "82 a161 01 a161 02",
        /* refused */
        "",
        "c1",
        "91 c1",
        "a1",
        "a5 6162",
        "d9",
        "d9 05 61",
        "c4 05 00",
        "cd 01",
        "cf 00",
        "ca 00",
        "d4 05",
        "d8 01 00",
        "c7 05 01 00",
        "c9 00",
        "92 01",
        "93 01 02",
        "dc 0003 01",
        "dc",
        "dd 0000",
        "de 0001 a161",
        "81 a161",
        "01 02",
        "c0 c0",
        "81 c0 01",
        "81 c2 01",
        "81 cb 3ff8000000000000 01",
        "81 ca 3fc00000 01",
        "81 90 01",
        "81 80 01",
        "81 d4 05 aa 01",
        "dd ffffffff 00",
        "df 00100000 00",
        "c6 ffffffff 00",
        "db ffffffff 00",
        "c9 ffffffff 00 00",
    };
    uint8_t b[256];
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
        agree(b, hex(inputs[i], b));
    /* nesting: 32 containers open is the limit, empty ones counted (as msgpack-c does) */
    uint8_t deep[40];
    for (int levels = 30; levels <= 34; levels++)
        for (int last = 0; last < 3; last++) {
            memset(deep, 0x91, (size_t)levels);
            static const uint8_t tail[][2] = {{0x01}, {0x90}, {0x80}};
            deep[levels - 1] = last ? tail[last][0] : 0x91;
            size_t n = (size_t)levels + (last ? 0 : 1);
            if (!last)
                deep[levels] = 0x01;
            agree(deep, n);
        }
}

/* ---- random objects, in every form ---- */
static uint64_t seed = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (uint32_t)(seed % n);
}

static void put(struct sl_buf *b, const void *p, size_t n)
{
    assert_int_equal(sl_buf_append(b, p, n), 0);
}

static void put1(struct sl_buf *b, uint8_t v)
{
    put(b, &v, 1);
}

/* v big-endian in k bytes */
static void put_be(struct sl_buf *b, uint64_t v, int k)
{
    for (int i = k - 1; i >= 0; i--)
        put1(b, (uint8_t)(v >> (8 * i)));
}

static uint64_t rnd64(void)
{
    uint64_t v = (uint64_t)rnd(1u << 31) << 33 ^ (uint64_t)rnd(1u << 31) << 2 ^ rnd(4);
    return v >> rnd(64); /* small values as often as large ones */
}

/* A length header: fixed form when fix and n fits, else a random wider form. */
static void put_len(struct sl_buf *b, uint8_t fix, uint32_t fix_max, uint8_t t8, uint8_t t16,
                    uint32_t n)
{
    int form = rnd(4);
    if (fix && n <= fix_max && form == 0)
        put1(b, (uint8_t)(fix | n));
    else if (t8 && n <= 0xff && form <= 1)
        put1(b, t8), put_be(b, n, 1);
    else if (n <= 0xffff && form <= 2)
        put1(b, t16), put_be(b, n, 2);
    else
        put1(b, (uint8_t)(t16 + 1)), put_be(b, n, 4);
}

static void gen(struct sl_buf *b, int depth);

static void gen_key(struct sl_buf *b)
{
    uint32_t n = rnd(6);
    switch (rnd(12)) {
    case 0:
        put1(b, 0xc4), put_be(b, n, 1); /* bin */
        break;
    case 1: { /* int 8..64 */
        int k = (int)rnd(4);
        put1(b, 0xd0 + (uint8_t)k), put_be(b, rnd64(), 1 << k);
        return;
    }
    case 2:
        put1(b, (uint8_t)rnd(256)); /* anything: a fixint, or a header of some kind */
        return;
    case 3:
        gen(b, 30); /* a scalar, or (refused) a container */
        return;
    default:
        put_len(b, 0xa0, 31, 0xd9, 0xda, n);
        break;
    }
    for (uint32_t i = 0; i < n; i++)
        put1(b, (uint8_t)('a' + rnd(26)));
}

static void gen(struct sl_buf *b, int depth)
{
    uint32_t kinds = depth >= 4 ? 12 : 15, n;
    switch (rnd(kinds)) {
    case 0:
        put1(b, rnd(2) ? 0xc0 : 0xc2 + (uint8_t)rnd(2));
        return;
    case 1:
        put1(b, rnd(2) ? (uint8_t)rnd(128) : 0xe0 + (uint8_t)rnd(32));
        return;
    case 2: {
        int k = (int)rnd(4);
        put1(b, 0xcc + (uint8_t)k), put_be(b, rnd64(), 1 << k);
        return;
    }
    case 3: {
        int k = (int)rnd(4);
        put1(b, 0xd0 + (uint8_t)k), put_be(b, rnd64() | (rnd(2) ? ~0ull << 6 : 0), 1 << k);
        return;
    }
    case 4:
        put1(b, 0xca), put_be(b, rnd64() ^ (uint64_t)rnd(4) << 30, 4);
        return;
    case 5:
        put1(b, 0xcb), put_be(b, rnd64() ^ (uint64_t)rnd(8) << 60, 8);
        return;
    case 6:
    case 7: /* str, sometimes long */
        n = rnd(8) ? rnd(40) : rnd(70000);
        put_len(b, 0xa0, 31, 0xd9, 0xda, n);
        for (uint32_t i = 0; i < n; i++)
            put1(b, (uint8_t)rnd(256));
        return;
    case 8:
        n = rnd(8) ? rnd(20) : rnd(300);
        put_len(b, 0, 0, 0xc4, 0xc5, n);
        for (uint32_t i = 0; i < n; i++)
            put1(b, (uint8_t)rnd(256));
        return;
    case 9:
        n = 1u << rnd(5);
        put1(b, 0xd4 + (uint8_t)__builtin_ctz(n)), put1(b, (uint8_t)rnd(256));
        for (uint32_t i = 0; i < n; i++)
            put1(b, (uint8_t)rnd(256));
        return;
    case 10:
    case 11:
        n = rnd(20);
        put_len(b, 0, 0, 0xc7, 0xc8, n);
        put1(b, (uint8_t)rnd(256));
        for (uint32_t i = 0; i < n; i++)
            put1(b, (uint8_t)rnd(256));
        return;
    case 12:
    case 13:
        n = rnd(6) ? rnd(5) : rnd(40);
        put_len(b, 0x90, 15, 0, 0xdc, n);
        for (uint32_t i = 0; i < n; i++)
            gen(b, depth + 1);
        return;
    default:
        n = rnd(6) ? rnd(5) : rnd(40);
        put_len(b, 0x80, 15, 0, 0xde, n);
        for (uint32_t i = 0; i < n; i++) {
            gen_key(b);
            gen(b, depth + 1);
        }
        return;
    }
}

static void random_objects(void **state)
{
    (void)state;
    struct sl_buf b = {0}, m = {0};
    for (int round = 0; round < 3000; round++) {
        b.len = 0;
        gen(&b, rnd(3) ? 0 : 3);
        agree(b.data, b.len);
        /* every truncation of the small ones, a few of the rest */
        size_t step = b.len < 64 ? 1 : b.len / 16;
        for (size_t k = 0; k < b.len; k += step)
            agree(b.data, k);
        for (int j = 0; j < 8; j++) {
            sl_buf_set(&m, b.data, b.len);
            m.data[rnd((uint32_t)m.len)] = (uint8_t)rnd(256);
            agree(m.data, m.len);
        }
        put1(&b, (uint8_t)rnd(256)); /* trailing byte */
        agree(b.data, b.len);
    }
    sl_buf_free(&b);
    sl_buf_free(&m);
    fprintf(stderr, "msgpack reference: %u inputs accepted, %u refused, each as msgpack-c says\n",
            accepted, refused);
    /* the test means something only if both sides were exercised well */
    assert_true(accepted > 5000);
    assert_true(refused > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_picked),
        cmocka_unit_test(random_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
