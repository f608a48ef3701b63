/* hl_conv.c - record trees (struct sl_value) to Lua values and back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler_lua.h"
#include "utf8.h"

const char hl_null_sentinel = 0;

/* Pushes a map key through the key cache (the table at index ktab). */
static void push_key(lua_State *L, struct hl_state *hs, int ktab, const char *k, uint32_t n)
{
    if (n > 40) { /* long strings are not interned anyway */
        lua_pushlstring(L, k, n);
        return;
    }
    uint32_t h = 2166136261u ^ n;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    uint32_t slot = h & (HL_KEY_CACHE - 1);
    struct hl_key_slot *s = &hs->keys[slot];
    if (s->hash == h && s->len == n && s->bytes && memcmp(s->bytes, k, n) == 0) {
        lua_rawgeti(L, ktab, slot + 1);
        return;
    }
    s->bytes = lua_pushlstring(L, k, n);
    s->len = n;
    s->hash = h;
    lua_pushvalue(L, -1);
    lua_rawseti(L, ktab, slot + 1);
}

static void push_value(lua_State *L, struct hl_state *hs, int ktab, const struct sl_value *v,
                       int depth)
{
    if (depth > HL_MAX_DEPTH)
        luaL_error(L, "record nested deeper than %d levels", HL_MAX_DEPTH);
    switch (v->type) {
    case SL_BOOL:
        lua_pushboolean(L, v->u.b);
        return;
    case SL_INT:
        lua_pushinteger(L, (lua_Integer)v->u.i);
        return;
    case SL_DOUBLE:
        lua_pushnumber(L, v->u.d);
        return;
    case SL_STRING:
    case SL_BYTES:
        lua_pushlstring(L, v->u.str ? v->u.str : "", v->len);
        return;
    case SL_ARRAY:
        luaL_checkstack(L, 4, "record nested too deep");
        lua_createtable(L, (int)v->len, 0);
        for (uint32_t i = 0; i < v->len; i++) {
            push_value(L, hs, ktab, &v->u.items[i], depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_array_mt);
        lua_setmetatable(L, -2);
        return;
    case SL_MAP:
        luaL_checkstack(L, 4, "record nested too deep");
        lua_createtable(L, 0, (int)v->len + 1); /* room for a field the script adds */
        for (uint32_t i = 0; i < v->len; i++) {
            const struct sl_member *mb = &v->u.members[i];
            push_key(L, hs, ktab, mb->key, mb->key_len);
            push_value(L, hs, ktab, &mb->value, depth + 1);
            lua_rawset(L, -3); /* duplicate keys: the last one wins */
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_map_mt);
        lua_setmetatable(L, -2);
        return;
    default:
        lua_pushlightuserdata(L, HL_NULL);
        return;
    }
}

void hl_push_value(lua_State *L, const struct sl_value *v)
{
    if (!v) {
        lua_pushnil(L);
        return;
    }
    struct hl_state *hs = hl_state_of(L);
    if (v->type != SL_MAP && v->type != SL_ARRAY) {
        push_value(L, hs, 0, v, 0);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_keys);
    push_value(L, hs, lua_gettop(L), v, 0);
    lua_remove(L, -2);
}

bool hl_table_is_array(lua_State *L, int idx, const struct sl_value *hint, size_t *n)
{
    const struct hl_state *hs = hl_state_of(L);
    *n = lua_rawlen(L, idx);
    if (lua_getmetatable(L, idx)) {
        const void *mt = lua_topointer(L, -1);
        lua_pop(L, 1);
        if (mt == hs->array_mt)
            return true;
        if (mt == hs->map_mt || mt == hs->record_mt)
            return false;
    }
    /* A plain table: a sequence 1..n with nothing else is an array. */
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (++count > *n) {
            lua_pop(L, 1);
            return false;
        }
    }
    if (count == 0) /* empty: an array, unless it replaces a map */
        return !(hint && hint->type == SL_MAP);
    return count == *n;
}

/* Where the conversion is, for error messages ("record.items[2].x"). */
struct conv {
    lua_State *L;
    struct sl_arena *a;
    bool share; /* dst may point into the hint's memory */
    int depth;
    struct {
        const char *key; /* NULL: array index */
        size_t len;
        size_t index;
    } path[HL_MAX_DEPTH + 1];
};

static void conv_error(struct conv *c, const char *what)
{
    luaL_Buffer b;
    lua_State *L = c->L;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, what);
    luaL_addstring(&b, " at record");
    for (int i = 1; i <= c->depth && i <= HL_MAX_DEPTH; i++) {
        char num[32];
        if (c->path[i].key) {
            luaL_addchar(&b, '.');
            luaL_addlstring(&b, c->path[i].key, c->path[i].len);
        } else {
            snprintf(num, sizeof num, "[%zu]", c->path[i].index);
            luaL_addstring(&b, num);
        }
    }
    luaL_pushresult(&b);
    lua_error(L);
}

static void *conv_alloc(struct conv *c, size_t n)
{
    hl_output_charge(c->L, n);
    void *p = sl_arena_alloc(c->a, n ? n : 1);
    if (!p)
        luaL_error(c->L, "out of memory converting a record");
    return p;
}

static const char *conv_strdup(struct conv *c, const char *s, size_t n)
{
    hl_output_charge(c->L, n + 1);
    char *p = sl_arena_strndup(c->a, s, n);
    if (!p)
        luaL_error(c->L, "out of memory converting a record");
    return p;
}

static void to_value(struct conv *c, int idx, struct sl_value *dst, const struct sl_value *hint);
static void convert_member(void *cctx, int idx, struct sl_value *dst, const struct sl_value *hint,
                           bool share, const char *key, size_t keylen);

static void array_to_value(struct conv *c, int idx, size_t n, struct sl_value *dst,
                           const struct sl_value *hint)
{
    lua_State *L = c->L;
    if (n > UINT32_MAX)
        conv_error(c, "array too long");
    const struct sl_value *hitems = hint && hint->type == SL_ARRAY ? hint->u.items : NULL;
    size_t hlen = hitems ? hint->len : 0;
    struct sl_value *items = conv_alloc(c, n * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        c->path[c->depth].key = NULL;
        c->path[c->depth].index = i + 1;
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        to_value(c, lua_gettop(L), &items[i], i < hlen ? &hitems[i] : NULL);
        lua_pop(L, 1);
    }
    dst->type = SL_ARRAY;
    dst->len = (uint32_t)n;
    dst->u.items = items;
}

/* A map key as text: strings as they are, numbers and booleans spelled out. */
static const char *key_text(struct conv *c, int kidx, size_t *len)
{
    lua_State *L = c->L;
    char buf[64];
    switch (lua_type(L, kidx)) {
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, kidx, len);
        return conv_strdup(c, s, *len);
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, kidx))
            *len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, kidx));
        else
            *len = (size_t)snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, kidx));
        return conv_strdup(c, buf, *len);
    case LUA_TBOOLEAN:
        *len = lua_toboolean(L, kidx) ? 4 : 5;
        return lua_toboolean(L, kidx) ? "true" : "false";
    default:
        c->depth--; /* the error is about this map, not one of its members */
        conv_error(c, lua_pushfstring(L, "cannot use a %s as a map key", luaL_typename(L, kidx)));
        return NULL;
    }
}

static int member_cmp(const void *a, const void *b)
{
    const struct sl_member *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Index of key in the hint map, or -1. Records are small: a linear scan. */
static long hint_find(const struct sl_value *hint, const char *k, size_t n)
{
    const struct sl_member *mb = hint->u.members;
    for (uint32_t j = 0; j < hint->len; j++)
        if (mb[j].key_len == n && memcmp(mb[j].key, k, n) == 0)
            return j;
    return -1;
}

/* Maps keep the order of the map they replace (hint); new keys follow,
 * sorted (Lua tables have no order; sorting keeps output stable). One
 * traversal: members found in the hint go to the hint's slot, others are
 * appended after the slots; empty slots are squeezed out at the end. */
static void map_to_value(struct conv *c, int idx, struct sl_value *dst, const struct sl_value *hint)
{
    lua_State *L = c->L;
    size_t slots = hint && hint->type == SL_MAP ? hint->len : 0;
    size_t cap = slots + 8, extra = 0;
    struct sl_member *mb = conv_alloc(c, cap * sizeof *mb);
    for (size_t j = 0; j < slots; j++)
        mb[j].key = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        long j = -1;
        size_t len = 0;
        const char *ks = NULL;
        if (lua_type(L, -2) == LUA_TSTRING) {
            ks = lua_tolstring(L, -2, &len);
            if (slots)
                j = hint_find(hint, ks, len);
        }
        struct sl_member *dm;
        const struct sl_value *hv = NULL;
        if (j >= 0) {
            dm = &mb[j];
            dm->key_len = hint->u.members[j].key_len;
            dm->key = c->share ? hint->u.members[j].key /* the original's bytes */
                               : conv_strdup(c, ks, len);
            hv = &hint->u.members[j].value;
        } else {
            if (slots + extra == cap) {
                struct sl_member *nb = conv_alloc(c, cap * 2 * sizeof *mb);
                memcpy(nb, mb, cap * sizeof *mb);
                mb = nb;
                cap *= 2;
            }
            dm = &mb[slots + extra++];
            dm->key = ks ? conv_strdup(c, ks, len) : key_text(c, lua_gettop(L) - 1, &len);
            if (len > UINT32_MAX)
                conv_error(c, "key too long");
            dm->key_len = (uint32_t)len;
        }
        c->path[c->depth].key = dm->key;
        c->path[c->depth].len = dm->key_len;
        to_value(c, lua_gettop(L), &dm->value, hv);
        lua_pop(L, 1);
    }
    size_t k = 0;
    for (size_t j = 0; j < slots; j++)
        if (mb[j].key)
            mb[k++] = mb[j];
    if (k != slots)
        memmove(mb + k, mb + slots, extra * sizeof *mb);
    if (extra > 1)
        qsort(mb + k, extra, sizeof *mb, member_cmp);
    k += extra;
    if (k > UINT32_MAX)
        conv_error(c, "map too large");
    dst->type = SL_MAP;
    dst->len = (uint32_t)k;
    dst->u.members = mb;
}

static void to_value(struct conv *c, int idx, struct sl_value *dst, const struct sl_value *hint)
{
    lua_State *L = c->L;
    memset(dst, 0, sizeof *dst);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        dst->type = SL_NULL;
        return;
    case LUA_TBOOLEAN:
        dst->type = SL_BOOL;
        dst->u.b = lua_toboolean(L, idx);
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            dst->type = SL_INT;
            dst->u.i = (int64_t)lua_tointeger(L, idx);
        } else {
            dst->type = SL_DOUBLE;
            dst->u.d = lua_tonumber(L, idx);
        }
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (n > UINT32_MAX)
            conv_error(c, "string too long");
        dst->len = (uint32_t)n;
        /* unchanged strings keep the original's bytes and type */
        if (c->share && hint && (hint->type == SL_STRING || hint->type == SL_BYTES) &&
            hint->len == n && memcmp(hint->u.str, s, n) == 0) {
            dst->type = hint->type;
            dst->u.str = hint->u.str;
            return;
        }
        dst->type = utf8_valid((const uint8_t *)s, n) ? SL_STRING : SL_BYTES;
        dst->u.str = conv_strdup(c, s, n);
        return;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == HL_NULL) {
            dst->type = SL_NULL;
            return;
        }
        break;
    case LUA_TTABLE: {
        if (c->depth >= HL_MAX_DEPTH)
            conv_error(c, "record nested too deep (a cycle?)");
        luaL_checkstack(L, 6, "record nested too deep");
        size_t n;
        c->depth++;
        if (hl_is_record(L, idx))
            hl_record_to_value(L, idx, c->a, dst, hint, c->share, convert_member, c);
        else if (hl_table_is_array(L, idx, hint, &n))
            array_to_value(c, idx, n, dst, hint);
        else
            map_to_value(c, idx, dst, hint);
        c->depth--;
        return;
    }
    default:
        break;
    }
    conv_error(c, lua_pushfstring(L, "cannot convert a %s", luaL_typename(L, idx)));
}

/* hl_record_to_value's callback: one member value, with its path. */
static void convert_member(void *cctx, int idx, struct sl_value *dst, const struct sl_value *hint,
                           bool share, const char *key, size_t keylen)
{
    struct conv *c = cctx;
    bool saved = c->share;
    c->share = share;
    c->path[c->depth].key = key;
    c->path[c->depth].len = keylen;
    to_value(c, idx, dst, hint);
    c->share = saved;
}

void hl_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                 const struct sl_value *hint, bool share)
{
    struct conv c;
    c.L = L;
    c.a = a;
    c.share = share;
    c.depth = 0;
    to_value(&c, lua_absindex(L, idx), dst, hint);
}

void hl_lazy_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                      const struct sl_value *hint, bool share)
{
    struct conv c;
    c.L = L;
    c.a = a;
    c.share = share;
    c.depth = 1;
    hl_record_to_value(L, idx, a, dst, hint, share, convert_member, &c);
}
