/* test_handler_lua_conv.c - records <-> Lua values and sluice.json, in the built plugin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define TEST_HANDLER_LUA_ONE_STATE
#include "test_handler_lua.h"

/* Runs code with v = in and returns the dump of what it returned. */
static const char *rt(const char *code, const struct sl_value *in)
{
    static struct sl_arena a;
    struct sl_value out;
    sl_arena_reset(&a);
    if (hl_api()->eval(L_, code, in, &a, &out, text, sizeof text) != 0) {
        static char err[2100];
        snprintf(err, sizeof err, "ERROR: %s", text);
        return err;
    }
    return dump(&out);
}

/* Runs code and returns its result as text (or "ERROR: ..."). */

static struct sl_value sample(void)
{
    return V_map(8, "id", V_int(42), "price", V_dbl(9.5), "whole", V_dbl(3.0), "name",
                 V_str("gr\xc3\xbc\xc3\x9f"
                       "e \xe2\x82\xac"),
                 "bin", V_strn("\xff\x00\x01", 3, SL_BYTES), "none", V_null(), "tags",
                 V_arr(3, V_str("a"), V_null(), V_bool(true)), "nested",
                 V_map(2, "deep", V_map(1, "x", V_int(-1)), "empty_a", V_arr(0)));
}

static void identity_round_trip(void **state)
{
    (void)state;
    struct sl_value in = sample();
    char want[4096];
    snprintf(want, sizeof want, "%s", dump(&in));
    assert_string_equal(rt("return v", &in), want);
    /* the Lua types behind it */
    assert_string_equal(ev("return math.type(v.id) .. ' ' .. math.type(v.price) .. ' ' .. "
                           "math.type(v.whole)"),
                        "integer float float");
    assert_string_equal(ev("return tostring(v.none == sluice.null) .. #v.bin .. #v.tags"),
                        "true33");
    assert_string_equal(ev("return utf8.len(v.name)"), "7");
}

static void edits_keep_order_and_types(void **state)
{
    (void)state;
    struct sl_value in = sample();
    assert_string_equal(rt("v.added = 7; v.id = v.id + 1; v.price = nil; v.tags[2] = 'b'; "
                           "v.nested.deep.y = 2.0; return v",
                           &in),
                        "{\"id\":43,\"whole\":3.0,\"name\":\"gr\\xc3\\xbc\\xc3\\x9fe "
                        "\\xe2\\x82\\xac\",\"bin\":b\"\\xff\\x00\\x01\",\"none\":null,"
                        "\"tags\":[\"a\",\"b\",true],\"nested\":{\"deep\":{\"x\":-1,\"y\":2.0},"
                        "\"empty_a\":[]},\"added\":7}");
    /* integer arithmetic stays integer, float division gives a float */
    struct sl_value n = V_map(2, "a", V_int(7), "b", V_int(2));
    assert_string_equal(rt("return {v.a // v.b, v.a / v.b, math.maxinteger, v.a * 1.0}", &n),
                        "[3,3.5,9223372036854775807,7.0]");
}

static void tables_from_lua(void **state)
{
    (void)state;
    assert_string_equal(rt("return {1, 2.5, 'x'}", NULL), "[1,2.5,\"x\"]");
    assert_string_equal(rt("return {}", NULL), "[]");
    assert_string_equal(rt("return sluice.map()", NULL), "{}");
    assert_string_equal(rt("return sluice.array({})", NULL), "[]");
    assert_string_equal(rt("return {[1] = 'a', [3] = 'c'}", NULL), "{\"1\":\"a\",\"3\":\"c\"}");
    assert_string_equal(rt("return {[true] = 1}", NULL), "{\"true\":1}");
    assert_string_equal(rt("return {n = sluice.null}", NULL), "{\"n\":null}");
    assert_string_equal(rt("return '\\xff\\xfe'", NULL), "b\"\\xff\\xfe\"");
    assert_string_equal(rt("return 'caf\\u{e9}'", NULL), "\"caf\\xc3\\xa9\"");
    assert_string_equal(rt("return 2^53", NULL), "9.00719925474099e+15");
    assert_string_equal(rt("return 1e300 * 10 > 0", NULL), "true");
    /* an array-marked table with a hole: the hole becomes null */
    assert_string_equal(rt("local t = sluice.array({1, 2, 3}); t[2] = nil; return t", NULL),
                        "[1,null,3]");
}

static void empty_tables_follow_what_they_replace(void **state)
{
    (void)state;
    struct sl_value in = V_map(2, "m", V_map(1, "k", V_int(1)), "a", V_arr(1, V_int(1)));
    assert_string_equal(rt("v.m = {}; v.a = {}; return v", &in), "{\"m\":{},\"a\":[]}");
    assert_string_equal(rt("v.m.k = nil; table.remove(v.a); return v", &in), "{\"m\":{},\"a\":[]}");
    /* a record that came in as an empty map stays a map */
    struct sl_value e = V_map(0);
    assert_string_equal(rt("return v", &e), "{}");
    assert_string_equal(rt("return {}", &e), "{}");
}

static void bad_values_fail_with_a_path(void **state)
{
    (void)state;
    const char *r = rt("return {a = {b = {print}}}", NULL);
    assert_non_null(strstr(r, "cannot convert a function at record.a.b[1]"));
    r = rt("local t = {}; t.self = t; return t", NULL);
    assert_non_null(strstr(r, "nested too deep"));
    r = rt("return {[{}] = 1}", NULL);
    assert_non_null(strstr(r, "cannot use a table as a map key"));
    /* the state is still fine */
    assert_string_equal(rt("return 1", NULL), "1");
}

static void big_record(void **state)
{
    (void)state;
    /* 300 members: the order is kept beyond any small-map shortcut */
    struct sl_value m = {.type = SL_MAP, .len = 300};
    m.u.members = sl_arena_alloc(&test_arena, 300 * sizeof(struct sl_member));
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", 299 - i);
        m.u.members[i].key = sl_arena_strndup(&test_arena, k, strlen(k));
        m.u.members[i].key_len = (uint32_t)strlen(k);
        m.u.members[i].value = V_int(i);
    }
    static struct sl_arena a;
    struct sl_value out;
    assert_int_equal(
        hl_api()->eval(L_, "v.k150 = nil; v.z = true; return v", &m, &a, &out, text, sizeof text),
        0);
    assert_int_equal(out.type, SL_MAP);
    assert_int_equal(out.len, 300);
    assert_string_equal(out.u.members[0].key, "k299");
    assert_string_equal(out.u.members[298].key, "k000");
    assert_string_equal(out.u.members[299].key, "z");
    sl_arena_free(&a);
}

static void json_encode(void **state)
{
    (void)state;
    assert_string_equal(ev("return sluice.json.encode({1, 2.5, 'x', true, sluice.null})"),
                        "[1,2.5,\"x\",true,null]");
    assert_string_equal(ev("return sluice.json.encode({a = {b = 1.0}})"), "{\"a\":{\"b\":1.0}}");
    assert_string_equal(ev("return sluice.json.encode({})"), "[]");
    assert_string_equal(ev("return sluice.json.encode(sluice.map())"), "{}");
    assert_string_equal(ev("return sluice.json.encode('q\"\\n')"), "\"q\\\"\\n\"");
    assert_string_equal(ev("return sluice.json.encode(0.1)"), "0.1");
    assert_string_equal(ev("return sluice.json.encode(math.mininteger)"), "-9223372036854775808");
    assert_string_equal(ev("return sluice.json.encode(1/0)"), "null");
    assert_non_null(
        strstr(ev("return sluice.json.encode({f = print})"), "cannot encode a function"));
    assert_non_null(strstr(ev("return sluice.json.encode('\\xff')"), "not valid UTF-8"));
    assert_non_null(
        strstr(ev("local t = {} t[1] = t return sluice.json.encode(t)"), "nested deeper"));
}

static void json_decode(void **state)
{
    (void)state;
    assert_string_equal(ev("local t = sluice.json.decode('{\"a\":[1,2.0,null,\"\\\\u00e9\"],"
                           "\"b\":{}}') "
                           "return math.type(t.a[1]) .. math.type(t.a[2]) .. "
                           "tostring(t.a[3] == sluice.null) .. t.a[4] .. #t.a"),
                        "integerfloattrue\xc3\xa9"
                        "4");
    /* objects and arrays keep their kind, even empty */
    assert_string_equal(
        ev("return sluice.json.encode(sluice.json.decode('{\"e\":{},\"l\":[],\"n\":null}').e)"),
        "{}");
    assert_string_equal(ev("local t = sluice.json.decode('{\"a\":1}') t.b = 2 "
                           "local s = sluice.json.encode(t) "
                           "return s == '{\"a\":1,\"b\":2}' or s == '{\"b\":2,\"a\":1}'"),
                        "true");
    assert_string_equal(ev("return math.type(sluice.json.decode('12345678901234567890'))"),
                        "float");
    assert_string_equal(ev("return sluice.json.decode('-7')"), "-7");
    assert_string_equal(ev("local v, e = sluice.json.decode('{\"a\":') return tostring(v) .. "
                           "' ' .. tostring(e ~= nil)"),
                        "nil true");
    assert_string_equal(ev("return select(2, sluice.json.decode(''))"),
                        "invalid JSON: parse error: premature EOF");
    assert_string_equal(ev("return sluice.json.decode('[1] x')"), "nil");
    assert_string_equal(ev("return sluice.json.decode(string.rep('[', 500))"), "nil");
    assert_non_null(
        strstr(ev("return select(2, sluice.json.decode(string.rep('[', 500)))"), "too deep"));
}

static void lazy_records(void **state)
{
    (void)state;
    hl_api()->set_lazy(L_, true);
    struct sl_value in = sample();
    char want[4096];
    snprintf(want, sizeof want, "%s", dump(&in));
    assert_string_equal(rt("return v", &in), want);
    /* the record of a finished call cannot be read any more */
    assert_non_null(strstr(ev("return v.id"), "used after its process() call returned"));
    /* the same edits as with plain tables give the same record */
    assert_string_equal(rt("v.added = 7; v.id = v.id + 1; v.price = nil; v.tags[2] = 'b'; "
                           "v.nested.deep.y = 2.0; return v",
                           &in),
                        "{\"id\":43,\"whole\":3.0,\"name\":\"gr\\xc3\\xbc\\xc3\\x9fe "
                        "\\xe2\\x82\\xac\",\"bin\":b\"\\xff\\x00\\x01\",\"none\":null,"
                        "\"tags\":[\"a\",\"b\",true],\"nested\":{\"deep\":{\"x\":-1,\"y\":2.0},"
                        "\"empty_a\":[]},\"added\":7}");
    assert_string_equal(rt("return {getmetatable(v), type(v), v.none == sluice.null, #v.tags, "
                           "v.nope == nil, select(2, pcall(setmetatable, v, {}))}",
                           &in),
                        "[\"sluice.record\",\"table\",true,3,true,\"cannot change a protected "
                        "metatable\"]");
    /* pairs: original order, deleted keys skipped, then new keys */
    assert_string_equal(rt("v.z = 1; v.id = nil; v.name = 'n'; local t = {} "
                           "for k in pairs(v) do t[#t + 1] = k end return table.concat(t, ',')",
                           &in),
                        "\"price,whole,name,bin,none,tags,nested,z\"");
    /* set then delete, delete then set */
    assert_string_equal(rt("v.q = 1; v.q = nil; v.id = nil; v.id = 5; v.whole = nil; "
                           "return {v.q == nil, v.id, v.whole == nil}",
                           &in),
                        "[true,5,true]");
    /* encoded as JSON with its current fields */
    assert_string_equal(rt("v.id = nil; v.bin = nil; v.k = 'x'; local d = sluice.json.decode("
                           "sluice.json.encode(v)) return {d.id == nil, d.k, d.price}",
                           &in),
                        "[true,\"x\",9.5]");
    /* repeated keys: as they came when untouched, one value (the last) once edited */
    struct sl_value dup = V_map(3, "a", V_int(1), "b", V_int(2), "a", V_int(3));
    assert_string_equal(rt("return v", &dup), "{\"a\":1,\"b\":2,\"a\":3}");
    assert_string_equal(rt("v.b = 5; return v", &dup), "{\"b\":5,\"a\":3}");
    assert_string_equal(rt("return v.a", &dup), "3");
    /* kept past its call: a clear error */
    assert_string_equal(rt("kept = v; return 1", &in), "1");
    assert_non_null(strstr(ev("return kept.id"), "used after its process() call returned"));
    assert_non_null(strstr(ev("kept.id = 1"), "used after its process() call returned"));
    hl_api()->set_lazy(L_, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_round_trip),
        cmocka_unit_test(edits_keep_order_and_types),
        cmocka_unit_test(tables_from_lua),
        cmocka_unit_test(empty_tables_follow_what_they_replace),
        cmocka_unit_test(bad_values_fail_with_a_path),
        cmocka_unit_test(big_record),
        cmocka_unit_test(json_encode),
        cmocka_unit_test(json_decode),
        cmocka_unit_test(lazy_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
