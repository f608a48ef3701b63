/* test_handler_lua_sandbox.c - the sandbox, the memory cap and the instruction budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "test_handler_lua.h"

static char dir[256], outside[200];

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/sluice_lua_sbXXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    snprintf(outside, sizeof outside, "%s", tmpl);
    snprintf(dir, sizeof dir, "%s/scripts", outside);
    mkdir(dir, 0700);
    char p[512];
    snprintf(p, sizeof p, "%s/helper.lua", dir);
    write_file(p, "return { twice = function(x) return 2 * x end }\n");
    snprintf(p, sizeof p, "%s/data.txt", dir);
    write_file(p, "line one\nline two\n");
    snprintf(p, sizeof p, "%s/secret.lua", outside);
    write_file(p, "return 'secret'\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outside);
    return system(cmd) == 0 ? 0 : -1;
}

static void *open_default(void)
{
    void *h = hl_api()->open(dir, 64, 100000000, 2000, true, false);
    assert_non_null(h);
    return h;
}

static void dangerous_functions_are_gone(void **state)
{
    (void)state;
    void *h = open_default();
    assert_string_equal(ev_in(h, "return type(os.execute) .. type(io.popen) .. type(os.exit) .. "
                                 "type(os.remove) .. type(os.rename) .. type(os.getenv) .. "
                                 "type(string.dump) .. type(debug) .. type(package)"),
                        "nilnilnilnilnilnilnilnilnil");
    assert_string_equal(ev_in(h, "return type(io.write) .. type(io.stdout) .. type(io.read)"),
                        "nilnilnil");
    /* what stays */
    assert_string_equal(ev_in(h, "return type(os.time) .. type(os.clock) .. type(string.format) "
                                 ".. type(table.concat) .. type(math.floor) .. type(utf8.char) "
                                 ".. type(coroutine.wrap) .. type(pcall)"),
                        "functionfunctionfunctionfunctionfunctionfunctionfunctionfunction");
    assert_non_null(strstr(ev_in(h, "collectgarbage('stop')"), "bad argument"));
    assert_string_equal(ev_in(h, "return math.type(collectgarbage('count'))"), "float");
    hl_api()->close(h);
}

static void no_binary_chunks(void **state)
{
    (void)state;
    void *h = open_default();
    assert_string_equal(ev_in(h, "return load('return 1 + 1')()"), "2");
    assert_non_null(strstr(ev_in(h, "return select(2, load('\\27Lua'))"), "binary chunk"));
    assert_non_null(strstr(ev_in(h, "return select(2, load('\\27Lua', 'x', 'b'))"), "binary"));
    /* load with an environment still works */
    assert_string_equal(ev_in(h, "return load('return x', 'c', 't', {x = 5})()"), "5");
    hl_api()->close(h);
}

static void files_only_inside_the_script_dir(void **state)
{
    (void)state;
    void *h = open_default();
    assert_string_equal(ev_in(h, "return require('helper').twice(21)"), "42");
    assert_string_equal(ev_in(h, "return dofile('helper.lua').twice(2)"), "4");
    assert_string_equal(ev_in(h, "return loadfile('helper.lua')().twice(3)"), "6");
    assert_string_equal(ev_in(h, "return require('sluice') == sluice"), "true");
    assert_non_null(strstr(ev_in(h, "return dofile('../secret.lua')"), "outside the script"));
    assert_non_null(strstr(ev_in(h, "return require('..secret')"), "not allowed"));
    assert_non_null(strstr(ev_in(h, "return dofile('/bin/sh')"), "outside the script"));
    assert_string_equal(ev_in(h, "return loadfile('../secret.lua')"),
                        "ERROR: test:1: ../secret.lua: outside the script's directory (sandbox) "
                        "[test:1: in main chunk]");
    /* reading inside is allowed, writing is not */
    assert_string_equal(ev_in(h, "local f = io.open('data.txt') local l = f:read('l') f:close() "
                                 "return l"),
                        "line one");
    assert_string_equal(ev_in(h, "local n = 0 for l in io.lines('data.txt') do n = n + 1 end "
                                 "return n"),
                        "2");
    assert_non_null(strstr(ev_in(h, "return io.open('new.txt', 'w')"), "write access is disabled"));
    assert_non_null(strstr(ev_in(h, "return io.open('/etc/passwd')"), "outside the script"));
    hl_api()->close(h);
}

static void allow_io_and_no_sandbox(void **state)
{
    (void)state;
    void *h = hl_api()->open(dir, 64, 100000000, 2000, true, true);
    char code[600];
    snprintf(code, sizeof code,
             "local f = assert(io.open('%s/out.txt', 'w')) f:write('hi') f:close() "
             "return type(io.popen)",
             dir);
    assert_string_equal(ev_in(h, code), "nil");
    hl_api()->close(h);
    h = hl_api()->open(dir, 64, 100000000, 2000, false, false);
    assert_string_equal(ev_in(h, "return type(os.execute) .. type(debug)"), "functiontable");
    hl_api()->close(h);
}

static void endless_loops_are_stopped(void **state)
{
    (void)state;
    void *h = hl_api()->open(dir, 64, 10000000, 0, true, false);
    assert_non_null(strstr(ev_in(h, "while true do end"), "instruction budget exceeded"));
    /* catching the error does not help */
    assert_non_null(strstr(ev_in(h, "while true do pcall(function() while true do end end) end"),
                           "instruction budget exceeded"));
    assert_string_equal(ev_in(h, "local s = 0 for i = 1, 1000 do s = s + i end return s"),
                        "500500");
    hl_api()->close(h);
    /* coroutines, each under the instruction budget: the CPU limit catches them */
    h = hl_api()->open(dir, 64, 100000000, 300, true, false);
    const char *r = ev_in(h, "while true do coroutine.wrap(function() for i = 1, 99000 do end "
                             "end)() end");
    assert_true(strstr(r, "CPU time limit exceeded") || strstr(r, "instruction budget"));
    assert_string_equal(ev_in(h, "return 'alive'"), "alive");
    hl_api()->close(h);
}

static void memory_bombs_fail_and_the_state_recovers(void **state)
{
    (void)state;
    void *h = hl_api()->open(dir, 8, 0, 5000, true, false);
    const char *r = ev_in(h, "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i "
                             "end");
    assert_non_null(strstr(r, "memory limit exceeded"));
    assert_true(hl_api()->mem_used(h) < (4u << 20));
    assert_string_equal(ev_in(h, "return #string.rep('y', 1000)"), "1000");
    r = ev_in(h, "return #string.rep('x', 1 << 30)");
    assert_non_null(strstr(r, "memory limit exceeded"));
    /* a bomb that keeps its garbage in a global: the state is replaced */
    r = ev_in(h, "hoard = {} for i = 1, 1e9 do hoard[i] = string.rep('z', 64) .. i end");
    assert_non_null(strstr(r, "memory limit exceeded"));
    assert_string_equal(ev_in(h, "return type(hoard)"), "nil");
    assert_true(hl_api()->mem_used(h) < (4u << 20));
    hl_api()->close(h);
}

static void errors_carry_location_and_traceback(void **state)
{
    (void)state;
    void *h = open_default();
    const char *r =
        ev_in(h, "local function inner() error('boom') end\nlocal function outer() inner() end\n"
                 "outer()");
    assert_string_equal(r, "ERROR: test:1: boom [test:1: in upvalue 'inner' < test:2: in "
                           "local 'outer' < test:3: in main chunk]");
    r = ev_in(h, "error({})");
    assert_non_null(strstr(r, "error object is a table value"));
    r = ev_in(h, "error(setmetatable({}, {__tostring = function() return 'custom' end}))");
    assert_non_null(strstr(r, "custom"));
    hl_api()->close(h);
}

/* Runs code in h and fails unless it ends within 30 s (not hours) with an error (or a
 * result) containing want. */
static void bounded(void *h, const char *code, const char *want)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *r = ev_in(h, code);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!strstr(r, want) || secs > 30)
        fail_msg("%s\n  -> %s (%.2f s; want '%s' within 30 s)", code, r, secs, want);
}

/* Code that would run outside the instruction hook or the CPU check: Lua
 * finalizers (hooks off), __close, error handlers, __tostring called from C,
 * coroutines made in an earlier call, and C library loops over a count the
 * script picks. Each ends within its budget with a clear error. */
static void code_outside_the_hooks_is_bounded(void **state)
{
    (void)state;
    void *h = hl_api()->open(dir, 64, 10000000, 300, true, false);
    const char *spin = "function() while true do end end";
    char code[600];
    /* finalizers: refused, whatever the script tries */
    snprintf(code, sizeof code, "setmetatable({}, {__gc = %s}) collectgarbage()", spin);
    bounded(h, code, "__gc finalizers are not available in the sandbox");
    snprintf(code, sizeof code,
             "local mt = {__gc = true} local t = setmetatable({}, mt) mt.__gc = %s", spin);
    bounded(h, code, "__gc finalizers are not available");
    snprintf(code, sizeof code, "getmetatable(sluice.array()).__gc = %s", spin);
    bounded(h, code, "attempt to index a string value");
    snprintf(code, sizeof code, "getmetatable(io.open('data.txt')).__gc = %s", spin);
    bounded(h, code, "attempt to index a string value");
    /* __close, error handlers and __tostring run under the hook */
    snprintf(code, sizeof code,
             "do local x <close> = setmetatable({}, {__close = %s}) end return 1", spin);
    bounded(h, code, "exceeded (max_");
    snprintf(code, sizeof code, "while true do xpcall(error, %s) end", spin);
    bounded(h, code, "ERROR:");
    snprintf(code, sizeof code, "print(setmetatable({}, {__tostring = %s}))", spin);
    bounded(h, code, "exceeded (max_");
    snprintf(code, sizeof code, "error(setmetatable({}, {__tostring = %s}))", spin);
    bounded(h, code, "ERROR:");
    /* a coroutine made in one call, resumed in the next */
    bounded(h, "co = coroutine.create(function() while true do end end) return 'made'", "made");
    bounded(h, "coroutine.resume(co) while true do end", "exceeded (max_");
    bounded(h, "return select(2, coroutine.resume(co))", "cannot resume dead coroutine");
    /* one that died holding a to-be-closed variable, closed in the next call */
    snprintf(code, sizeof code,
             "co = coroutine.create(function() local x <close> = setmetatable({}, "
             "{__close = %s}) while true do end end) return select(2, coroutine.resume(co))",
             spin);
    bounded(h, code, "exceeded (max_");
    bounded(h, "return select(2, coroutine.close(co))", "stopped by the instruction or CPU budget");
    snprintf(code, sizeof code,
             "coroutine.wrap(function() local x <close> = setmetatable({}, {__close = %s}) "
             "while true do end end)()",
             spin);
    bounded(h, code, "exceeded (max_");
    /* a coroutine that fails on its own still closes its variables */
    bounded(h,
            "local closed = false local ok = pcall(coroutine.wrap(function() local x <close> "
            "= setmetatable({}, {__close = function() closed = true end}) error('x') end)) "
            "return tostring(ok) .. tostring(closed)",
            "falsetrue");
    /* C loops on the script's count */
    bounded(h, "return #string.rep('', 1e15) + #string.rep('', 1e15, '')", "0");
    bounded(h, "return table.concat(setmetatable({}, {__index = table.concat}), '', 1, 1e15)",
            "table.concat: a range of 1000000000000000 elements");
    bounded(h, "table.move({}, 1, 1e15, 1) return 1", "table.move: a range");
    bounded(h, "table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 'x')",
            "table.insert: a range");
    bounded(h, "table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)",
            "table.remove: a range");
    bounded(h,
            "table.sort(setmetatable({}, {__len = function() return 2^31 - 2 end, "
            "__index = rawlen}))",
            "table.sort: a range");
    /* what these functions do for a real table is unchanged */
    bounded(h,
            "local t = {} for i = 1, 2e6 do t[i] = i end table.move(t, 1, #t, 2) "
            "table.insert(t, 1, 0) table.remove(t) return #t .. table.concat(t, ',', 1, 3)",
            "20000010,1,1");
    /* memory through C functions stays under the cap */
    bounded(h, "return #string.rep('x', 1 << 40)", "resulting string too large");
    bounded(h, "return #string.rep('x', 1 << 30)", "memory limit exceeded");
    bounded(h,
            "local t = {} for i = 1, 64 do t[i] = string.rep('x', 1 << 20) end "
            "return #table.concat(t)",
            "memory limit exceeded");
    assert_string_equal(ev_in(h, "return 'alive'"), "alive");
    hl_api()->close(h);
}

/* Lua's pattern functions, replaced by hl_pattern.c: every case gives what the
 * stock string library gives (run side by side in a plain lua_State), and
 * pathological patterns end within the budget. */
static const char *const pattern_cases[] = {
    "string.find('hello world', 'o w')",
    "string.find('hello world', 'o', 6)",
    "string.find('hello', 'l+')",
    "string.find('hello', '')",
    "string.find('hello', '', 10)",
    "string.find('hello', '', 6)",
    "string.find('a.b', '.', 1, true)",
    "string.find('abc', 'b', -1)",
    "string.find('abc', 'b', -10)",
    "string.find('key=val', '(%w+)=(%w+)')",
    "string.find('  x', '^%s*()')",
    "string.find('THE (quick) fox', '%((%a+)%)')",
    "string.find('f(a(b)c)d', '%b()')",
    "string.find('THE quick', '%f[%a]%a+', 4)",
    "string.find('hello', '[^%a]')",
    "string.find('a-b', '[a%-]+')",
    "string.find('x]y', '[]]')",
    "string.find('abc', '[a-c]+$')",
    "string.find('aaa', 'a-b')",
    "string.find('aaab', 'a-b')",
    "string.find('abab', '(ab)%1')",
    "string.find('abc', '%')",
    "string.find('abc', '[a')",
    "string.find('abc', '(()')",
    "string.find('abc', '%1')",
    "string.find('abc', ')')",
    "string.find('abc', '%f')",
    "string.find('abc', '%b')",
    "string.find('a\\0b', '\\0')",
    "string.find('a\\0b', '[\\0]')",
    "string.find('a\\0b', '%z')",
    "string.find('aXb', '%u')",
    "string.find('  ', '%S')",
    "string.find('a+b', 'a+b', 1, true)",
    "string.find('x^y', '^y')",
    "string.find('x$y', '$y')",
    "string.find('ab', 'b$')",
    "string.find('a.b', '%.')",
    "string.find('A1_', '[%w_]+')",
    "string.find('THE', '%f[%l]')",
    "string.find('hello', 'l', 0)",
    "('x'):find('x')",
    "string.match('2024-01-02', '(%d+)-(%d+)-(%d+)')",
    "string.match('hello', '()ll()')",
    "string.match('hello', '.-l')",
    "string.match('hello', '.*l')",
    "string.match('hello', '^(h?)(e?)x?')",
    "string.match('  trim  ', '^%s*(.-)%s*$')",
    "string.match('abc', '^b')",
    "string.match('[[x]]', '%[(%b[])%]')",
    "string.match('x = 1', '^(%w+)%s*=%s*(%d+)$')",
    "string.match('\\xc3\\xa9a', '%a+')",
    "string.match('abc', '((a)(b))')",
    "string.match('abc', 'a(b?)c')",
    "string.match('', '.*')",
    "string.match('abc', '[%a][%d]?')",
    "string.match('1e10', '^%d+[eE]%d+$')",
    "string.match(42, '%d')",
    "string.match('abc', 'b', 3)",
    "string.match('aaa', '(a)%1%1')",
    "gm('one two  three', '%a+')",
    "gm('k1=v1, k2=v2', '(%w+)=(%w+)')",
    "gm('abc', '')",
    "gm('aaa', 'a*')",
    "gm('hello world', '()o')",
    "gm('abcabc', 'b', 3)",
    "gm('abc', '^a')",
    "gm('abc', '.', 10)",
    "gm('a,b,,c', '([^,]*)')",
    "string.gsub('hello world', 'o', '0')",
    "string.gsub('hello world', '(o)', '[%1%1]')",
    "string.gsub('hello', '', '-')",
    "string.gsub('abc', '%w', '%0%0')",
    "string.gsub('abc', '%w', '%%')",
    "string.gsub('hello world', '%w+', '%2')",
    "string.gsub('abc', 'b', '%')",
    "string.gsub('abc', 'b', '%x')",
    "string.gsub('hello world', '%w+', {hello = 'HI', world = false})",
    "string.gsub('hello world', '%w+', function(w) return w:upper() end)",
    "string.gsub('hello world', '%w+', function(w) if w == 'world' then return nil end "
    "return 1 end)",
    "string.gsub('hello', 'l', {l = {}})",
    "string.gsub('hello world', 'o', '0', 1)",
    "string.gsub('abc', '^a', 'x')",
    "string.gsub('aaa', '^a', 'x')",
    "string.gsub('abc', 'x*', '-')",
    "string.gsub('hello', '.', {h = 1})",
    "string.gsub(123, '2', 'x')",
    "string.gsub('abc', 'b', 5)",
    "string.gsub('hello', '(l)(l)', '%2%1')",
    "string.gsub('abc', '()', '%1')",
    "string.gsub('abc', 'b', true)",
    "string.gsub('abc', '(b)', function(a, b) return "
    "tostring(b) end)",
    "string.gsub('a b c', '%s', '', 0)",
    "string.gsub('a b c', '%s', '', -1)",
    "string.gsub('abc', '', '', 2)",
    "('hello'):gsub('l', 'L')",
};

static const char pattern_prelude[] =
    "local function show(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) "
    "end return table.concat(t, '|', 1, t.n) end "
    "local function gm(s, p, i) local r = {} for a, b in string.gmatch(s, p, i) do "
    "r[#r + 1] = tostring(a) .. ',' .. tostring(b) end return table.concat(r, ';') end "
    "return show(pcall(function() return ";

static void patterns_match_the_stock_library(void **state)
{
    (void)state;
    void *h = open_default();
    lua_State *ref = luaL_newstate();
    luaL_openlibs(ref);
    for (size_t i = 0; i < sizeof pattern_cases / sizeof *pattern_cases; i++) {
        char code[1200];
        snprintf(code, sizeof code, "%s%s end))", pattern_prelude, pattern_cases[i]);
        if (luaL_loadbuffer(ref, code, strlen(code), "=test") != LUA_OK ||
            lua_pcall(ref, 0, 1, 0) != LUA_OK)
            fail_msg("reference: %s: %s", pattern_cases[i], lua_tostring(ref, -1));
        const char *want = lua_tostring(ref, -1);
        const char *got = ev_in(h, code);
        if (strcmp(want, got) != 0)
            fail_msg("%s\n  stock Lua: %s\n  sluice:    %s", pattern_cases[i], want, got);
        lua_pop(ref, 1);
    }
    lua_close(ref);
    hl_api()->close(h);
}

/* Backtracking that Lua's own matcher would run for hours (or ever). */
static void pathological_patterns_are_bounded(void **state)
{
    (void)state;
    void *h = hl_api()->open(dir, 64, 10000000, 300, true, false);
    bounded(h, "return string.find(string.rep('a', 30000), '.-.-.-.-x')", "exceeded (max_");
    bounded(h,
            "local s = string.rep('a', 40) "
            "return string.match(s, string.rep('a?', 40) .. s .. '$') ~= nil, "
            "string.match(s, string.rep('a?', 40) .. s .. 'b')",
            "exceeded (max_");
    bounded(h, "return string.gsub(string.rep('a', 20000), '.-.-.-b', '')", "exceeded (max_");
    bounded(h, "for x in string.gmatch(string.rep('a', 20000), '.-.-.-b') do end",
            "exceeded (max_");
    bounded(h, "return string.find(string.rep('(', 200000), '%b()')", "exceeded (max_");
    bounded(h, "return string.find(string.rep('a', 4e6), string.rep('a', 2e6) .. 'b', 1, true)",
            "nil");
    /* pcall cannot catch its way past the budget */
    bounded(h, "while true do pcall(string.find, string.rep('a', 3000), '.-.-.-x') end",
            "exceeded (max_");
    assert_string_equal(ev_in(h, "return ('alive'):match('%a+')"), "alive");
    hl_api()->close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dangerous_functions_are_gone),
        cmocka_unit_test(no_binary_chunks),
        cmocka_unit_test(files_only_inside_the_script_dir),
        cmocka_unit_test(allow_io_and_no_sandbox),
        cmocka_unit_test(endless_loops_are_stopped),
        cmocka_unit_test(memory_bombs_fail_and_the_state_recovers),
        cmocka_unit_test(errors_carry_location_and_traceback),
        cmocka_unit_test(code_outside_the_hooks_is_bounded),
        cmocka_unit_test(patterns_match_the_stock_library),
        cmocka_unit_test(pathological_patterns_are_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
