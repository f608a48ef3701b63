/* hl_guard.c - keep a script's work inside the instruction and CPU hooks.
 *
 * The count hook only fires between Lua instructions. Lua runs some code with
 * hooks off (finalizers, __gc), and some C library functions loop on a count
 * the script chooses without executing a Lua instruction or allocating (so
 * neither the hook nor the memory cap would ever stop them). Those doors are
 * closed here: no Lua finalizers in the sandbox, metatables the C side hands
 * out cannot be changed, the looping library functions check their count
 * first, and pattern matching (hl_pattern.c) counts its steps. */
#include <string.h>

#include "handler_lua.h"

/* Up to this many elements, a table function may loop through metamethods or
 * past a table's end (that much work stays well inside a call's budget). */
#define SPAN_FREE (1 << 20)

/* Calls upvalue 1 (the original function) with every argument. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable(t, mt): a metatable with a __gc field would make its table
 * finalizable, and Lua runs finalizers with every hook off. */
static int safe_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc finalizers are not available in the "
                                 "sandbox (they would run outside max_instructions and "
                                 "max_cpu_ms)");
        lua_pop(L, 1);
    }
    return call_original(L);
}

/* string.rep(s, n [, sep]) with s and sep empty loops n times copying
 * nothing: 1e15 iterations for an empty result. */
static int safe_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    return call_original(L);
}

/* True when t reads and writes its elements without metamethods. */
static bool is_plain(lua_State *L, int t)
{
    if (lua_type(L, t) != LUA_TTABLE)
        return false;
    if (!lua_getmetatable(L, t))
        return true;
    bool plain = true;
    static const char *const events[] = {"__index", "__newindex", "__len"};
    for (size_t i = 0; i < sizeof events / sizeof *events && plain; i++) {
        lua_pushstring(L, events[i]);
        plain = lua_rawget(L, -2) == LUA_TNIL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return plain;
}

/* Raises an error unless a loop over span elements of the table at t is
 * bounded by what the table holds: span is small, or t is a plain table and
 * the span does not reach past its length. */
static void check_span(lua_State *L, int t, lua_Integer span, const char *fname)
{
    if (span <= SPAN_FREE)
        return;
    if (is_plain(L, t) && span <= (lua_Integer)lua_rawlen(L, t) + 1)
        return;
    luaL_error(L,
               "%s: a range of %I elements reaches past the table's end or through "
               "metamethods (at most %d may)",
               fname, span, SPAN_FREE);
}

/* Elements from i to j (0 when j < i), saturated at LUA_MAXINTEGER. */
static lua_Integer count(lua_Integer i, lua_Integer j)
{
    if (j < i)
        return 0;
    lua_Unsigned n = (lua_Unsigned)j - (lua_Unsigned)i;
    return n >= (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)n + 1;
}

enum table_fn { T_CONCAT, T_INSERT, T_REMOVE, T_MOVE, T_SORT };

/* A table function (upvalues: the original, its enum table_fn, its name)
 * whose loop count, taken from its arguments, passes check_span. */
static int safe_table_fn(lua_State *L)
{
    int which = (int)lua_tointeger(L, lua_upvalueindex(2));
    lua_Integer span = 0;
    switch (which) {
    case T_CONCAT: {
        lua_Integer i = luaL_optinteger(L, 3, 1);
        lua_Integer j = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
        span = count(i, j);
        break;
    }
    case T_INSERT:
    case T_REMOVE:
    case T_SORT:
        span = luaL_len(L, 1);
        break;
    case T_MOVE: {
        lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
        /* the source bounds it: writes into a plain table allocate */
        span = count(f, e);
        break;
    }
    }
    check_span(L, 1, span, lua_tostring(L, lua_upvalueindex(3)));
    return call_original(L);
}

static void wrap_table_fn(lua_State *L, int t, const char *name, enum table_fn which)
{
    lua_getfield(L, t, name);
    lua_pushinteger(L, which);
    lua_pushfstring(L, "table.%s", name);
    lua_pushcclosure(L, safe_table_fn, 3);
    lua_setfield(L, t, name);
}

/* xpcall(f, h, ...): a message handler runs where the error was raised; for
 * the budget error, that is inside the count hook, where Lua turns hooks off,
 * so a looping handler would never be stopped. Here the handler runs after
 * the unwinding, under the hook, with the error object; its result (or its
 * own error) is xpcall's second value, as before. Scripts have no debug
 * library, so nothing they could see at the error point is lost. */
static const char xpcall_lua[] =
    "local pcall, type, error = pcall, type, error\n"
    "local function finish(h, ok, ...)\n"
    "  if ok then return true, ... end\n"
    "  local _, r = pcall(h, (...))\n"
    "  return false, r\n"
    "end\n"
    "return function(f, h, ...)\n"
    "  if type(h) ~= 'function' then\n"
    "    error(\"bad argument #2 to 'xpcall' (function expected)\", 2)\n"
    "  end\n"
    "  return finish(h, pcall(f, ...))\n"
    "end\n";

/* ---- coroutines ----
 * Each coroutine counts its own instructions, so many short ones could run
 * under the hook's radar: resuming one checks the CPU time. A coroutine that
 * the budget error ended died inside the hook, and Lua leaves such a thread
 * with its hooks off: its pending __close handlers must never run (closing
 * it would run them unhooked), so it is remembered in a weak set. */
static const char spent_key = 0;

static void mark_spent(lua_State *L, int co)
{
    co = lua_absindex(L, co);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &spent_key);
    lua_pushvalue(L, co);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static bool is_spent(lua_State *L, int co)
{
    co = lua_absindex(L, co);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &spent_key);
    lua_pushvalue(L, co);
    bool spent = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return spent;
}

/* coroutine.resume(co, ...) */
static int co_resume(lua_State *L)
{
    hl_budget_check(L);
    luaL_checktype(L, 1, LUA_TTHREAD);
    lua_pushvalue(L, 1);
    lua_insert(L, 1); /* 1: co again, kept */
    int n = lua_gettop(L) - 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 2);
    lua_call(L, n, LUA_MULTRET);
    if (!lua_toboolean(L, 2) && hl_state_of(L)->exhausted)
        mark_spent(L, 1);
    return lua_gettop(L) - 1;
}

/* The function coroutine.wrap returns (upvalue 1: its coroutine). Like
 * Lua's own, except that a coroutine the budget ended is not closed. */
static int co_wrapped(lua_State *L)
{
    hl_budget_check(L);
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int narg = lua_gettop(L);
    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0)
        return luaL_error(L, "cannot resume dead coroutine");
    if (!lua_checkstack(co, narg))
        return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, narg);
    int nres;
    int st = lua_resume(co, L, narg, &nres);
    if (st == LUA_OK || st == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            return luaL_error(L, "too many results to resume");
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    if (hl_state_of(L)->exhausted) {
        lua_xmove(co, L, 1);
        mark_spent(L, lua_upvalueindex(1));
        return lua_error(L);
    }
#if LUA_VERSION_RELEASE_NUM >= 50406
    lua_closethread(co, L); /* close its to-be-closed variables */
#else
    lua_resetthread(co);
#endif
    lua_xmove(co, L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) { /* add where the error happened */
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* coroutine.wrap(f) */
static int co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, co_wrapped, 1);
    return 1;
}

/* coroutine.close(co) */
static int co_close(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTHREAD);
    if (is_spent(L, 1)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "coroutine was stopped by the instruction or CPU budget; its "
                           "__close handlers do not run");
        return 2;
    }
    return call_original(L);
}

static void guard_coroutines(lua_State *L, int g)
{
    lua_newtable(L); /* weak keys */
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &spent_key);
    if (lua_getfield(L, g, "coroutine") == LUA_TTABLE) {
        static const struct {
            const char *name;
            lua_CFunction f;
        } fns[] = {{"resume", co_resume}, {"close", co_close}};
        for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
            lua_getfield(L, -1, fns[i].name);
            lua_pushcclosure(L, fns[i].f, 1);
            lua_setfield(L, -2, fns[i].name);
        }
        lua_pushcfunction(L, co_wrap);
        lua_setfield(L, -2, "wrap");
    }
    lua_pop(L, 1);
}

/* Sets __metatable on the metatable at the top of the stack (popped). */
static void protect(lua_State *L, const char *name)
{
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

void hl_guard_library(lua_State *L, bool sandbox)
{
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    if (lua_getfield(L, g, "string") == LUA_TTABLE) {
        lua_getfield(L, -1, "rep");
        lua_pushcclosure(L, safe_rep, 1);
        lua_setfield(L, -2, "rep");
        hl_open_patterns(L, lua_gettop(L));
    }
    lua_pop(L, 1);
    if (lua_getfield(L, g, "table") == LUA_TTABLE) {
        int t = lua_gettop(L);
        wrap_table_fn(L, t, "concat", T_CONCAT);
        wrap_table_fn(L, t, "insert", T_INSERT);
        wrap_table_fn(L, t, "remove", T_REMOVE);
        wrap_table_fn(L, t, "move", T_MOVE);
        wrap_table_fn(L, t, "sort", T_SORT);
    }
    lua_pop(L, 1);
    guard_coroutines(L, g);
    if (luaL_loadbufferx(L, xpcall_lua, sizeof xpcall_lua - 1, "=xpcall", "t") == LUA_OK) {
        lua_call(L, 0, 1);
        lua_setfield(L, g, "xpcall");
    } else {
        lua_error(L); /* setup runs protected: the state is then not created */
    }
    if (sandbox) {
        lua_getfield(L, g, "setmetatable");
        lua_pushcclosure(L, safe_setmetatable, 1);
        lua_setfield(L, g, "setmetatable");
        /* open files carry a C __gc: a script must not swap in its own */
        if (luaL_getmetatable(L, LUA_FILEHANDLE) == LUA_TTABLE)
            protect(L, "FILE*");
        else
            lua_pop(L, 1);
    }
    lua_pop(L, 1);
}
