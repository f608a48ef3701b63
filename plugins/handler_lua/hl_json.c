/* hl_json.c - sluice.json.encode/decode on libyajl (callback parser, yajl_gen). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl_gen.h>
#include <yajl_parse.h>

#include "handler_lua.h"
#include "json_space.h"

/* ---- encode ---- */

static void enc_fail(lua_State *L, yajl_gen_status st)
{
    if (st == yajl_gen_invalid_string)
        luaL_error(L, "sluice.json.encode: string is not valid UTF-8");
    luaL_error(L, "sluice.json.encode: generator error %d", (int)st);
}

#define ENC(L, call)                                                                               \
    do {                                                                                           \
        yajl_gen_status st_ = (call);                                                              \
        if (st_ != yajl_gen_status_ok)                                                             \
            enc_fail(L, st_);                                                                      \
    } while (0)

/* Shortest text that reads back as the same double; always looks like a float. */
static size_t fmt_double(char *buf, size_t len, double d)
{
    int n = snprintf(buf, len, "%.15g", d);
    if (strtod(buf, NULL) != d)
        n = snprintf(buf, len, "%.17g", d);
    if (!strpbrk(buf, ".eE"))
        n += snprintf(buf + n, len - (size_t)n, ".0");
    return (size_t)n;
}

static void enc_key(lua_State *L, yajl_gen g, int kidx)
{
    char buf[64];
    size_t n;
    switch (lua_type(L, kidx)) {
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, kidx, &n);
        ENC(L, yajl_gen_string(g, (const unsigned char *)s, n));
        return;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, kidx))
            n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, kidx));
        else
            n = (size_t)snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, kidx));
        ENC(L, yajl_gen_string(g, (const unsigned char *)buf, n));
        return;
    case LUA_TBOOLEAN:
        n = lua_toboolean(L, kidx) ? 4 : 5;
        ENC(L, yajl_gen_string(g, (const unsigned char *)(n == 4 ? "true" : "false"), n));
        return;
    default:
        luaL_error(L, "sluice.json.encode: cannot use a %s as an object key",
                   luaL_typename(L, kidx));
    }
}

static void enc_value(lua_State *L, yajl_gen g, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        ENC(L, yajl_gen_null(g));
        return;
    case LUA_TBOOLEAN:
        ENC(L, yajl_gen_bool(g, lua_toboolean(L, idx)));
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            ENC(L, yajl_gen_integer(g, (long long)lua_tointeger(L, idx)));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                ENC(L, yajl_gen_null(g)); /* JSON has no inf or nan */
            } else {
                char buf[48];
                size_t n = fmt_double(buf, sizeof buf, d);
                ENC(L, yajl_gen_number(g, buf, n));
            }
        }
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        ENC(L, yajl_gen_string(g, (const unsigned char *)s, n));
        return;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == HL_NULL) {
            ENC(L, yajl_gen_null(g));
            return;
        }
        break;
    case LUA_TTABLE: {
        if (depth >= HL_MAX_DEPTH)
            luaL_error(L, "sluice.json.encode: nested deeper than %d levels (a cycle?)",
                       HL_MAX_DEPTH);
        luaL_checkstack(L, 4, "sluice.json.encode: nested too deep");
        if (hl_is_record(L, idx)) { /* a lazy msg.record: encode its fields */
            hl_record_materialize(L, idx);
            enc_value(L, g, lua_gettop(L), depth);
            lua_pop(L, 1);
            return;
        }
        size_t n;
        if (hl_table_is_array(L, idx, NULL, &n)) {
            ENC(L, yajl_gen_array_open(g));
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                enc_value(L, g, lua_gettop(L), depth + 1);
                lua_pop(L, 1);
            }
            ENC(L, yajl_gen_array_close(g));
        } else {
            ENC(L, yajl_gen_map_open(g));
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                int top = lua_gettop(L);
                enc_key(L, g, top - 1);
                enc_value(L, g, top, depth + 1);
                lua_pop(L, 1);
            }
            ENC(L, yajl_gen_map_close(g));
        }
        return;
    }
    default:
        break;
    }
    luaL_error(L, "sluice.json.encode: cannot encode a %s", luaL_typename(L, idx));
}

/* sluice.json.encode(value) -> string. Errors on functions, cycles, bad UTF-8. */
static int l_encode(lua_State *L)
{
    struct hl_state *hs = hl_state_of(L);
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    if (!hs->gen) {
        hs->gen = yajl_gen_alloc(NULL);
        if (!hs->gen)
            return luaL_error(L, "sluice.json.encode: out of memory");
        yajl_gen_config(hs->gen, yajl_gen_validate_utf8, 1);
    }
    yajl_gen g = hs->gen;
    yajl_gen_reset(g, NULL);
    yajl_gen_clear(g);
    enc_value(L, g, 1, 0);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    lua_pushlstring(L, (const char *)buf, len);
    yajl_gen_clear(g);
    return 1;
}

/* ---- decode ---- */

struct jdec {
    lua_State *L;
    int depth;
    const char *err;
    int ref_array_mt, ref_map_mt;
    bool is_map[HL_MAX_DEPTH + 1];
    lua_Integer count[HL_MAX_DEPTH + 1];
};

/* The value on top joins the container below it. */
static int jd_add(struct jdec *d)
{
    lua_State *L = d->L;
    if (d->depth == 0)
        return 1;
    if (d->is_map[d->depth])
        lua_rawset(L, -3); /* container key value */
    else
        lua_rawseti(L, -2, ++d->count[d->depth]);
    return 1;
}

static int jd_null(void *ctx)
{
    struct jdec *d = ctx;
    lua_pushlightuserdata(d->L, HL_NULL);
    return jd_add(d);
}

static int jd_bool(void *ctx, int b)
{
    struct jdec *d = ctx;
    lua_pushboolean(d->L, b);
    return jd_add(d);
}

/* Integers stay integers; too large ones and fractions become floats. */
static int jd_number(void *ctx, const char *s, size_t n)
{
    struct jdec *d = ctx;
    char buf[64];
    if (n < sizeof buf) {
        memcpy(buf, s, n);
        buf[n] = 0;
        if (lua_stringtonumber(d->L, buf))
            return jd_add(d);
    } else {
        lua_pushlstring(d->L, s, n);
        double v = strtod(lua_tostring(d->L, -1), NULL);
        lua_pop(d->L, 1);
        lua_pushnumber(d->L, v);
        return jd_add(d);
    }
    d->err = "bad number";
    return 0;
}

static int jd_string(void *ctx, const unsigned char *s, size_t n)
{
    struct jdec *d = ctx;
    lua_pushlstring(d->L, (const char *)s, n);
    return jd_add(d);
}

static int jd_open(struct jdec *d, bool map)
{
    lua_State *L = d->L;
    if (d->depth >= HL_MAX_DEPTH || !lua_checkstack(L, 4)) {
        d->err = "nested too deep";
        return 0;
    }
    d->depth++;
    d->is_map[d->depth] = map;
    d->count[d->depth] = 0;
    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, map ? d->ref_map_mt : d->ref_array_mt);
    lua_setmetatable(L, -2);
    return 1;
}

static int jd_close(struct jdec *d)
{
    d->depth--;
    return jd_add(d);
}

static int jd_start_map(void *ctx)
{
    return jd_open(ctx, true);
}

static int jd_end_map(void *ctx)
{
    return jd_close(ctx);
}

static int jd_start_array(void *ctx)
{
    return jd_open(ctx, false);
}

static int jd_end_array(void *ctx)
{
    return jd_close(ctx);
}

static int jd_key(void *ctx, const unsigned char *s, size_t n)
{
    struct jdec *d = ctx;
    lua_pushlstring(d->L, (const char *)s, n);
    return 1;
}

static const yajl_callbacks jd_callbacks = {
    jd_null,      jd_bool, NULL,       NULL,           jd_number,    jd_string,
    jd_start_map, jd_key,  jd_end_map, jd_start_array, jd_end_array,
};

/* Frees the parser if a Lua error unwinds through decode. */
static int parser_gc(lua_State *L)
{
    yajl_handle *box = lua_touserdata(L, 1);
    if (*box) {
        yajl_free(*box);
        *box = NULL;
    }
    return 0;
}

/* sluice.json.decode(text) -> value, or nil and an error message. Objects and
 * arrays come back marked (sluice.map/sluice.array); null is sluice.null. */
static int l_decode(lua_State *L)
{
    struct hl_state *hs = hl_state_of(L);
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    yajl_handle *box = lua_newuserdatauv(L, sizeof *box, 0); /* 2 */
    *box = NULL;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, 2);
    struct jdec *d = lua_newuserdatauv(L, sizeof *d, 0); /* 3 */
    d->L = L;
    d->depth = 0;
    d->err = NULL;
    d->ref_array_mt = hs->ref_array_mt;
    d->ref_map_mt = hs->ref_map_mt;
    const uint8_t *bad = json_bad_space((const uint8_t *)text, len);
    if (bad) { /* yajl would take it for whitespace */
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid JSON: byte %d at %d is not JSON whitespace", (int)*bad,
                        (int)((const char *)bad - text));
        return 2;
    }
    *box = yajl_alloc(&jd_callbacks, NULL, d);
    if (!*box)
        return luaL_error(L, "sluice.json.decode: out of memory");
    yajl_status st = yajl_parse(*box, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(*box);
    bool ok = st == yajl_status_ok && lua_gettop(L) == 4;
    if (!ok) {
        unsigned char *msg = NULL;
        if (st != yajl_status_ok && !d->err)
            msg = yajl_get_error(*box, 0, (const unsigned char *)text, len);
        lua_settop(L, 3);
        luaL_pushfail(L);
        if (msg) { /* yajl ends its messages with a newline */
            size_t n = strlen((char *)msg);
            while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = 0;
        }
        lua_pushfstring(L, "invalid JSON: %s",
                        d->err ? d->err
                        : msg  ? (const char *)msg
                               : "no value");
        if (msg)
            yajl_free_error(*box, msg);
    }
    yajl_free(*box);
    *box = NULL;
    return ok ? 1 : 2;
}

void hl_json_free(struct hl_state *hs)
{
    if (hs->gen)
        yajl_gen_free(hs->gen);
    hs->gen = NULL;
}

int hl_open_json(lua_State *L)
{
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_createtable(L, 0, 1); /* metatable of the parser box */
    lua_pushcfunction(L, parser_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcclosure(L, l_decode, 1);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, HL_NULL);
    lua_setfield(L, -2, "null");
    return 1;
}
