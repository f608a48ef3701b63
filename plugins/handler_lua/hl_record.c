/* hl_record.c - msg.record as a lazy table (lazy_record = true, the default).
 *
 * The record map stays where the codec decoded it. Scripts get an empty table
 * whose metatable reads fields from the original on demand and keeps writes in
 * an overlay table, so adding a field to a record costs one table write, and
 * converting back copies the original's members and applies the overlay.
 * Nested maps and arrays become plain tables when first read (kept in the
 * overlay, so changes to them are seen). pairs, ipairs, # and the table
 * library work; next() and rawget() see an empty table. The lazy table is
 * valid only during the call that made it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler_lua.h"

static const char state_key = 0; /* P[&state_key] = the state userdata */
static const char tombstone = 0; /* overlay value of a deleted field */
#define TOMBSTONE ((void *)&tombstone)

struct rec_state {
    const struct sl_value *orig; /* an SL_MAP */
    uint64_t call;
};

/* The state of the lazy table at idx; pushes its overlay (or nil). */
static struct rec_state *state(lua_State *L, int idx)
{
    lua_rawgetp(L, idx, &state_key);
    struct rec_state *s = lua_touserdata(L, -1);
    if (!s || s->call != hl_state_of(L)->call_id)
        luaL_error(L, "msg.record used after its process() call returned (keep copies of "
                      "fields, or set lazy_record = false)");
    lua_getiuservalue(L, -1, 1);
    lua_remove(L, -2);
    return s;
}

/* The overlay of the lazy table at idx (state userdata at sidx), created on demand. */
static void push_overlay(lua_State *L, int idx)
{
    lua_rawgetp(L, idx, &state_key);
    if (lua_getiuservalue(L, -1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, -3, 1);
    }
    lua_remove(L, -2);
}

static long find(const struct sl_value *map, const char *k, size_t n)
{
    for (uint32_t j = 0; j < map->len; j++)
        if (map->u.members[j].key_len == n && memcmp(map->u.members[j].key, k, n) == 0)
            return j;
    return -1;
}

/* Pushes the current value of original member j of the lazy table at idx:
 * the overlay's if set, else the original (containers become tables kept in
 * the overlay). Returns false (nothing pushed) for a deleted field. */
static bool push_member(lua_State *L, int idx, const struct rec_state *s, long j, int ov)
{
    const struct sl_member *mb = &s->orig->u.members[j];
    if (ov) {
        lua_pushlstring(L, mb->key, mb->key_len);
        if (lua_rawget(L, ov) != LUA_TNIL) {
            if (lua_touserdata(L, -1) == TOMBSTONE) {
                lua_pop(L, 1);
                return false;
            }
            return true;
        }
        lua_pop(L, 1);
    }
    hl_push_value(L, &mb->value);
    if (mb->value.type == SL_MAP || mb->value.type == SL_ARRAY) {
        push_overlay(L, idx);
        lua_pushlstring(L, mb->key, mb->key_len);
        lua_pushvalue(L, -3);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    return true;
}

static int rec_index(lua_State *L)
{
    struct rec_state *s = state(L, 1); /* 3: overlay */
    int ov = lua_istable(L, 3) ? 3 : 0;
    if (ov) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, ov) != LUA_TNIL)
            return lua_touserdata(L, -1) == TOMBSTONE ? 0 : 1;
        lua_pop(L, 1);
    }
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    size_t n;
    const char *k = lua_tolstring(L, 2, &n);
    long j = find(s->orig, k, n);
    if (j < 0)
        return 0;
    return push_member(L, 1, s, j, 0) ? 1 : 0;
}

static int rec_newindex(lua_State *L)
{
    struct rec_state *s = state(L, 1);
    lua_pop(L, 1);
    luaL_checkany(L, 2);
    if (lua_isnil(L, 2))
        return luaL_error(L, "index is nil");
    push_overlay(L, 1); /* 4 */
    lua_pushvalue(L, 2);
    if (lua_isnil(L, 3)) {
        size_t n;
        const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : NULL;
        if (k && find(s->orig, k, n) >= 0)
            lua_pushlightuserdata(L, TOMBSTONE);
        else
            lua_pushnil(L);
    } else {
        lua_pushvalue(L, 3);
    }
    lua_rawset(L, 4);
    return 0;
}

/* next() over the lazy table: the original's keys in order, then new keys. */
static int rec_next(lua_State *L)
{
    lua_settop(L, 2);
    struct rec_state *s = state(L, 1); /* 3: overlay */
    int ov = lua_istable(L, 3) ? 3 : 0;
    const struct sl_value *o = s->orig;
    long j = 0;
    bool in_overlay = false;
    if (!lua_isnil(L, 2)) {
        size_t n;
        const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : NULL;
        long f = k ? find(o, k, n) : -1;
        if (f >= 0)
            j = f + 1;
        else
            in_overlay = true;
    }
    if (!in_overlay) {
        for (; j < (long)o->len; j++) {
            const struct sl_member *mb = &o->u.members[j];
            if (find(o, mb->key, mb->key_len) != j) /* repeated key */
                continue;
            if (push_member(L, 1, s, j, ov)) {
                lua_pushlstring(L, mb->key, mb->key_len);
                lua_insert(L, -2);
                return 2;
            }
        }
        lua_pushnil(L);
        lua_replace(L, 2);
    }
    if (!ov)
        return 0;
    /* new keys: overlay entries that are not original fields */
    lua_pushvalue(L, 2);
    while (lua_next(L, ov)) {
        size_t n;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
        if ((k && find(o, k, n) >= 0) || lua_touserdata(L, -1) == TOMBSTONE) {
            lua_pop(L, 1);
            continue;
        }
        return 2;
    }
    return 0;
}

static int rec_pairs(lua_State *L)
{
    lua_pushcfunction(L, rec_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int rec_len(lua_State *L)
{
    state(L, 1);
    lua_pushinteger(L, lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0);
    return 1;
}

void hl_record_register(lua_State *L, struct hl_state *hs)
{
    lua_createtable(L, 0, 6);
    lua_pushcfunction(L, rec_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, rec_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, rec_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushcfunction(L, rec_len);
    lua_setfield(L, -2, "__len");
    lua_pushliteral(L, "sluice.record");
    lua_setfield(L, -2, "__name");
    hs->record_mt = lua_topointer(L, -1);
    hs->ref_record_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

void hl_record_push(lua_State *L, const struct sl_value *map)
{
    struct hl_state *hs = hl_state_of(L);
    lua_createtable(L, 0, 1);
    struct rec_state *s = lua_newuserdatauv(L, sizeof *s, 1);
    s->orig = map;
    s->call = hs->call_id;
    lua_rawsetp(L, -2, &state_key);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_record_mt);
    lua_setmetatable(L, -2);
}

bool hl_is_record(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    bool r = lua_topointer(L, -1) == hl_state_of(L)->record_mt;
    lua_pop(L, 1);
    return r;
}

void hl_record_materialize(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    int t = lua_gettop(L);
    lua_pushnil(L);
    for (;;) {
        lua_pushcfunction(L, rec_next);
        lua_pushvalue(L, idx);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 2);
        if (lua_isnil(L, -2)) {
            lua_pop(L, 3);
            break;
        }
        lua_pushvalue(L, -2); /* t key value key */
        lua_insert(L, -2);
        lua_rawset(L, t);
        lua_remove(L, -2); /* the previous key */
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, hl_state_of(L)->ref_map_mt);
    lua_setmetatable(L, t);
}

/* ---- back to a record ---- */

static int member_cmp(const void *a, const void *b)
{
    const struct sl_member *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* A key the script added, as text (numbers and booleans spelled out). */
static const char *new_key(lua_State *L, int kidx, struct sl_arena *a, size_t *len)
{
    char buf[64];
    const char *k = buf;
    switch (lua_type(L, kidx)) {
    case LUA_TSTRING:
        k = lua_tolstring(L, kidx, len);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, kidx))
            *len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, kidx));
        else
            *len = (size_t)snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, kidx));
        break;
    case LUA_TBOOLEAN:
        k = lua_toboolean(L, kidx) ? "true" : "false";
        *len = strlen(k);
        break;
    default:
        luaL_error(L, "cannot use a %s as a map key at record", luaL_typename(L, kidx));
    }
    char *p = sl_arena_strndup(a, k, *len);
    if (!p)
        luaL_error(L, "out of memory");
    return p;
}

void hl_record_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                        const struct sl_value *hint, bool share, hl_convert_fn convert, void *cctx)
{
    idx = lua_absindex(L, idx);
    struct rec_state *s = state(L, idx);
    int ov = lua_gettop(L);
    const struct sl_value *o = s->orig;
    share = share && hint == o; /* pointing into o is safe only for o's own message */
    if (!lua_istable(L, ov)) {  /* untouched: the original as it is */
        lua_pop(L, 1);
        if (share)
            *dst = *o;
        else if (sl_value_copy(a, dst, o) != 0)
            luaL_error(L, "out of memory");
        return;
    }
    size_t extra = 0;
    lua_pushnil(L);
    while (lua_next(L, ov)) {
        lua_pop(L, 1);
        extra++;
    }
    size_t cap = o->len + extra;
    struct sl_member *mb = sl_arena_alloc(a, (cap ? cap : 1) * sizeof *mb);
    if (!mb)
        luaL_error(L, "out of memory");
    if (share) {
        memcpy(mb, o->u.members, o->len * sizeof *mb);
    } else {
        for (uint32_t j = 0; j < o->len; j++) {
            mb[j].key = sl_arena_strndup(a, o->u.members[j].key, o->u.members[j].key_len);
            mb[j].key_len = o->u.members[j].key_len;
            if (!mb[j].key || sl_value_copy(a, &mb[j].value, &o->u.members[j].value) != 0)
                luaL_error(L, "out of memory");
        }
    }
    size_t n = o->len;
    lua_pushnil(L);
    while (lua_next(L, ov)) {
        size_t kl = 0;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
        long j = k ? find(o, k, kl) : -1;
        bool del = lua_touserdata(L, -1) == TOMBSTONE;
        if (j >= 0) {
            if (del)
                mb[j].key = NULL;
            else
                convert(cctx, lua_gettop(L), &mb[j].value, &o->u.members[j].value, share, mb[j].key,
                        mb[j].key_len);
        } else if (!del) {
            if (n >= cap)
                luaL_error(L, "record changed during conversion");
            mb[n].key = new_key(L, lua_gettop(L) - 1, a, &kl);
            if (kl > UINT32_MAX)
                luaL_error(L, "key too long");
            mb[n].key_len = (uint32_t)kl;
            convert(cctx, lua_gettop(L), &mb[n].value, NULL, false, mb[n].key, kl);
            n++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* overlay */
    size_t k = 0;
    for (size_t j = 0; j < o->len; j++)
        if (mb[j].key)
            mb[k++] = mb[j];
    size_t added = n - o->len;
    if (k != o->len)
        memmove(mb + k, mb + o->len, added * sizeof *mb);
    if (added > 1)
        qsort(mb + k, added, sizeof *mb, member_cmp);
    dst->type = SL_MAP;
    dst->len = (uint32_t)(k + added);
    dst->u.members = mb;
}
