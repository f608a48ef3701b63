/* hl_sluice.c - the `sluice` module scripts use: log, now, counter, null, array, map, json. */
#include <string.h>
#include <time.h>

#include "handler_lua.h"

/* sluice.log(level, [msg,] ...): level is "debug", "info", "warn" or
 * "error". The line names a message's trace id: msg's when a message object
 * comes second (how process_batch says which one a line is about), else,
 * inside process(msg), that msg's. */
static int l_log(lua_State *L)
{
    static const char *const names[] = {"debug", "info", "warn", "error", NULL};
    int level = luaL_checkoption(L, 1, NULL, names);
    if (!sl_log_enabled(level))
        return 0;
    const struct hl_state *hs = hl_state_of(L);
    const struct sl_msg *about = hl_msg_at(L, 2);
    int first = about ? 3 : 2;
    if (!about)
        about = hs->current;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = first; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        if (i > first)
            luaL_addchar(&b, ' ');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    if (about)
        sl_log_msg(hs->conf->inst, level, about, "%s", lua_tostring(L, -1));
    else
        sl_log(hs->conf->inst, level, "%s", lua_tostring(L, -1));
    return 0;
}

/* sluice.now(): seconds since the epoch, with sub-second precision. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* sluice.counter(name [, n = 1]): adds n to a counter shown by --stats and
 * metrics. The counter is looked up once per name and state. */
static int l_counter(lua_State *L)
{
    struct hl_state *hs = hl_state_of(L);
    luaL_checkstring(L, 1);
    lua_Integer n = luaL_optinteger(L, 2, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_counters);
    lua_pushvalue(L, 1);
    struct sl_counter *c = NULL;
    if (lua_rawget(L, -2) == LUA_TLIGHTUSERDATA) {
        c = lua_touserdata(L, -1);
    } else if (hs->conf->inst) {
        c = sl_counter_get(hs->conf->inst, lua_tostring(L, 1));
        if (!c)
            return luaL_error(L, "sluice.counter: cannot create counter '%s'", lua_tostring(L, 1));
        lua_pushvalue(L, 1);
        lua_pushlightuserdata(L, c);
        lua_rawset(L, -4);
    }
    if (c)
        sl_counter_add(c, (int64_t)n);
    return 0;
}

static int mark(lua_State *L, int ref)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_setmetatable(L, 1);
    return 1;
}

/* sluice.array([t]) / sluice.map([t]): mark t (or a new table) so that it
 * converts to a JSON array / object even when empty. Returns t. */
static int l_array(lua_State *L)
{
    return mark(L, hl_state_of(L)->ref_array_mt);
}

static int l_map(lua_State *L)
{
    return mark(L, hl_state_of(L)->ref_map_mt);
}

/* sluice.is_array(t): true when t converts to an array. */
static int l_is_array(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n;
    lua_pushboolean(L, hl_table_is_array(L, 1, NULL, &n));
    return 1;
}

int hl_open_sluice(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"log", l_log}, {"now", l_now},           {"counter", l_counter}, {"array", l_array},
        {"map", l_map}, {"is_array", l_is_array}, {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_pushlightuserdata(L, HL_NULL);
    lua_setfield(L, -2, "null");
    hl_open_json(L);
    lua_setfield(L, -2, "json");
    hl_open_msgpack(L);
    lua_setfield(L, -2, "msgpack");
    lua_pushliteral(L, SLUICE_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
