/* hl_msgpack.c - sluice.msgpack.encode/decode. A Lua value goes through the conversion
 * msg.record uses (hl_conv.c) and the msgpack codec's mapping (plugins/common/msgpack_*),
 * so the value rules are those of records: strings that are not UTF-8 are bin, maps are
 * marked maps, nil in a table is sluice.null, ext values are {"$ext" = type, "$data" = bytes}. */
#include <string.h>

#include "msgpack_value.h"

#include "handler_lua.h"

/* What one call holds outside Lua's heap, freed by __gc if a Lua error
 * unwinds through the call, else at its end. */
struct mp_box {
    struct sl_arena arena;
    struct sl_buf out;
};

static void box_release(struct mp_box *b)
{
    sl_arena_free(&b->arena);
    sl_buf_free(&b->out);
}

static int box_gc(lua_State *L)
{
    box_release(lua_touserdata(L, 1));
    return 0;
}

static struct mp_box *new_box(lua_State *L)
{
    struct mp_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
    memset(b, 0, sizeof(*b));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, -2);
    return b;
}

/* sluice.msgpack.encode(value) -> string. Errors on what a record cannot hold
 * (functions, cycles, nesting deeper than 32 levels). */
static int l_encode(lua_State *L)
{
    char err[256];
    struct sl_value v;
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    struct mp_box *b = new_box(L);
    hl_to_value(L, 1, &b->arena, &v, NULL, false);
    if (mp_encode(MP_EXT_WRAP, &v, &b->out, err, sizeof(err)) < 0) {
        box_release(b);
        return luaL_error(L, "sluice.msgpack.encode: %s", err);
    }
    lua_pushlstring(L, (const char *)b->out.data, b->out.len);
    box_release(b);
    return 1;
}

/* sluice.msgpack.decode(bytes) -> value, or nil and the reason ("msgpack: ..."). */
static int l_decode(lua_State *L)
{
    char err[256];
    struct sl_value v;
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    struct mp_box *b = new_box(L);
    if (mp_decode_value(MP_EXT_WRAP, &b->arena, (const uint8_t *)s, len, &v, err, sizeof(err)) <
        0) {
        box_release(b);
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    hl_push_value(L, &v);
    box_release(b);
    return 1;
}

int hl_open_msgpack(lua_State *L)
{
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, 1); /* metatable of the per-call box */
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_encode, 1);
    lua_setfield(L, -3, "encode");
    lua_pushcclosure(L, l_decode, 1);
    lua_setfield(L, -2, "decode");
    return 1;
}
