/* test_handler_lua_msgpack.c - sluice.msgpack in Lua (the msgpack codec's mapping on Lua
 * values), and sluice.json's RFC 8259 whitespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define TEST_HANDLER_LUA_ONE_STATE
#include "test_handler_lua.h"

/* Bytes as the codec writes them: a record {a = 1, b = {true, nil-marker, 2.5}}. */
static void encode_bytes(void **state)
{
    (void)state;
    assert_string_equal(ev("return sluice.msgpack.encode(sluice.array{1, 2, 300}) == "
                           "'\\x93\\x01\\x02\\xcd\\x01\\x2c'"),
                        "true");
    assert_string_equal(ev("return sluice.msgpack.encode({a = sluice.null}) == '\\x81\\xa1a\\xc0'"),
                        "true");
    /* a string that is not UTF-8 is bin, as in records; valid UTF-8 is str */
    assert_string_equal(ev("return sluice.msgpack.encode('\\xff') == '\\xc4\\x01\\xff'"), "true");
    assert_string_equal(ev("return sluice.msgpack.encode('\\xc3\\xa9') == '\\xa2\\xc3\\xa9'"),
                        "true");
    assert_string_equal(ev("return sluice.msgpack.encode(1.5) == '\\xcb\\x3f\\xf8' .. "
                           "string.rep('\\0', 6)"),
                        "true");
}

static void round_trip(void **state)
{
    (void)state;
    assert_string_equal(
        ev("local t = {id = 42, price = 9.5, name = 'gr\\xc3\\xbc\\xc3\\x9fe', bin = '\\xff\\x00', "
           "tags = sluice.array{'a', sluice.null, true}, nested = {deep = {x = -1}}, "
           "empty = sluice.map{}, none = sluice.array{}} "
           "local r = sluice.msgpack.decode(sluice.msgpack.encode(t)) "
           "return math.type(r.id) .. r.id .. math.type(r.price) .. r.price .. "
           "tostring(r.name == t.name) .. #r.bin .. r.bin:byte(1) .. r.tags[1] .. "
           "tostring(r.tags[2] == sluice.null) .. tostring(r.tags[3]) .. r.nested.deep.x .. "
           "tostring(sluice.is_array(r.none)) .. tostring(sluice.is_array(r.empty))"),
        "integer42float9.5true2255atruetrue-1truefalse");
    /* ext values keep their type; a uint64 above INT64_MAX is its decimal text */
    assert_string_equal(ev("local e = sluice.msgpack.decode('\\xd4\\x05\\xaa') "
                           "return e['$ext'] .. ' ' .. #e['$data'] .. ' ' .. "
                           "tostring(sluice.msgpack.encode(e) == '\\xd4\\x05\\xaa')"),
                        "5 1 true");
    assert_string_equal(ev("return sluice.msgpack.decode('\\xcf' .. string.rep('\\xff', 8))"),
                        "18446744073709551615");
}

static void errors(void **state)
{
    (void)state;
    assert_string_equal(ev("local v, e = sluice.msgpack.decode('\\x93\\x01') "
                           "return tostring(v) .. ' ' .. e"),
                        "nil msgpack: container at byte 0 declares 3 objects, only 1 bytes follow");
    assert_string_equal(ev("return select(2, sluice.msgpack.decode(''))"),
                        "msgpack: empty payload");
    assert_string_equal(ev("return select(2, sluice.msgpack.decode('\\xc1'))"),
                        "msgpack: reserved byte 0xc1 at byte 0");
    assert_non_null(strstr(ev("local t = {} local c = t for i = 1, 40 do c[1] = {} c = c[1] end "
                              "return sluice.msgpack.encode(t)"),
                           "nesting deeper than 32"));
    assert_non_null(strstr(ev("return sluice.msgpack.encode(print)"), "ERROR"));
    assert_non_null(strstr(ev("local t = {} t[1] = t return sluice.msgpack.encode(t)"), "ERROR"));
}

/* sluice.json.decode refuses a form feed or vertical tab between tokens, as the json
 * codec does (yajl alone takes them for whitespace). */
static void json_whitespace(void **state)
{
    (void)state;
    assert_string_equal(ev("return select(2, sluice.json.decode('[1,\\f2]'))"),
                        "invalid JSON: byte 12 at 3 is not JSON whitespace");
    assert_string_equal(ev("return tostring(sluice.json.decode('\\v[]'))"), "nil");
    assert_string_equal(ev("return #sluice.json.decode(' \\t\\r\\n[1, 2]\\n')"), "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_bytes),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(errors),
        cmocka_unit_test(json_whitespace),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
