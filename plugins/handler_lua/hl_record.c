/* hl_record.c - msg.record as a lazy table (lazy_record = true, the default).
 *
 * The record map stays where the codec decoded it. Scripts get a table (P)
 * whose metatable reads absent fields from the original on demand; what the
 * script writes lands in P itself, so adding a field costs one table write,
 * and converting back copies the original's members (by pointer) and applies
 * what P holds. Nested maps and arrays become plain tables when first read
 * (kept in P, so changes to them are seen). pairs, ipairs and the table
 * library work; next() and rawget() see only what was written. P is valid
 * only during the call that made it. Maps with 63 members or more (the
 * width of the touched-bits word) become plain tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler_lua.h"

/* P's state lives in hs->recs, an open-addressing hash keyed by P's address
 * (a live table's address is unique, and P is alive while a script holds
 * it). Only slots made during the current call count (call == call_id), so
 * the table empties itself at each call and a P kept from an earlier call
 * is not found: no key in P, nothing a script could forge or see. */
#define MAX_LAZY 63 /* larger maps become plain tables */
#define NEW_KEYS 63 /* bit: P got keys the original does not have */

static bool live(const struct hl_state *hs, const struct hl_rec_slot *st)
{
    return st->call == hs->call_id && st->table;
}

static size_t slot_hash(const void *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

/* Current values live in P itself: once a key is in P, reads and writes of it
 * are plain table accesses. The bits tell an original field that was deleted
 * (bit set, key absent from P) from one never touched (bit clear). */
static struct hl_rec_slot *state(lua_State *L, int idx)
{
    struct hl_state *hs = hl_state_of(L);
    const void *t = lua_topointer(L, idx);
    struct hl_rec_slot *last = hs->recs_last; /* the same record, again, mostly */
    if (last && last->table == t && live(hs, last))
        return last;
    if (hs->recs_cap) {
        for (size_t i = slot_hash(t, hs->recs_cap);; i = (i + 1) & (hs->recs_cap - 1)) {
            struct hl_rec_slot *st = &hs->recs[i];
            if (!live(hs, st))
                break;
            if (st->table == t)
                return hs->recs_last = st;
        }
    }
    luaL_error(L, "msg.record used after its process() call returned (keep copies of "
                  "fields, or set lazy_record = false)");
    return NULL;
}

/* Index of key k in map; of a repeated key, the last (as in a plain table). */
static bool same_key(const struct sl_member *m, const char *k, size_t n)
{
    return m->key_len == n && (n == 0 || (m->key[0] == k[0] && memcmp(m->key, k, n) == 0));
}

static long find(const struct sl_value *map, const char *k, size_t n)
{
    for (uint32_t j = map->len; j-- > 0;)
        if (same_key(&map->u.members[j], k, n))
            return j;
    return -1;
}

/* True when some key of map appears twice. A 64-bit signature of length,
 * first and last byte sends only keys that may repeat to the full check. */
static bool has_repeats(const struct sl_value *map)
{
    const struct sl_member *mb = map->u.members;
    uint64_t seen = 0;
    for (uint32_t j = 0; j < map->len; j++) {
        uint32_t n = mb[j].key_len;
        unsigned h = n ? n * 31u + (uint8_t)mb[j].key[0] * 7u + (uint8_t)mb[j].key[n - 1] : 0;
        uint64_t bit = (uint64_t)1 << (h & 63);
        if (seen & bit)
            for (uint32_t i = 0; i < j; i++)
                if (same_key(&mb[i], mb[j].key, n))
                    return true;
        seen |= bit;
    }
    return false;
}

/* Pushes the current value of original member j of P (at idx). Returns false
 * (nothing pushed) for a deleted field. Containers are copied into P. */
static bool push_member(lua_State *L, int idx, struct hl_rec_slot *st, long j)
{
    const struct sl_member *mb = &st->orig->u.members[j];
    if (st->bits >> j & 1) {
        lua_pushlstring(L, mb->key, mb->key_len);
        if (lua_rawget(L, idx) == LUA_TNIL) {
            lua_pop(L, 1);
            return false;
        }
        return true;
    }
    hl_push_value(L, &mb->value);
    if (mb->value.type == SL_MAP || mb->value.type == SL_ARRAY) {
        lua_pushlstring(L, mb->key, mb->key_len);
        lua_pushvalue(L, -2);
        lua_rawset(L, idx);
        st->bits |= (uint64_t)1 << j;
    }
    return true;
}

/* Only called for keys absent from P. */
static int rec_index(lua_State *L)
{
    struct hl_rec_slot *st = state(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    size_t n;
    const char *k = lua_tolstring(L, 2, &n);
    long j = find(st->orig, k, n);
    if (j < 0 || (st->bits >> j & 1)) /* not there, or deleted */
        return 0;
    return push_member(L, 1, st, j) ? 1 : 0;
}

/* Only called for keys absent from P. */
static int rec_newindex(lua_State *L)
{
    struct hl_rec_slot *st = state(L, 1);
    const struct sl_value *o = st->orig;
    int kt = lua_type(L, 2);
    if (kt == LUA_TNIL)
        return luaL_error(L, "index is nil");
    long j = -1;
    if (kt == LUA_TSTRING) {
        size_t n;
        const char *k = lua_tolstring(L, 2, &n);
        j = find(o, k, n);
    }
    bool set = !lua_isnil(L, 3);
    if (set)
        lua_rawset(L, 1);
    if (j >= 0) {
        st->bits |= (uint64_t)1 << j;
    } else if (set) {
        st->bits |= (uint64_t)1 << NEW_KEYS;
        st->new_sets++;
    }
    return 0;
}

/* next() over P: the original's keys in order, then new keys. */
static int rec_next(lua_State *L)
{
    lua_settop(L, 2);
    struct hl_rec_slot *st = state(L, 1);
    const struct sl_value *o = st->orig;
    long j = 0;
    bool raw = false;
    if (!lua_isnil(L, 2)) {
        size_t n;
        const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : NULL;
        long f = k ? find(o, k, n) : -1;
        if (f >= 0)
            j = f + 1;
        else
            raw = true;
    }
    if (!raw) {
        for (; j < (long)o->len; j++) {
            const struct sl_member *mb = &o->u.members[j];
            if (find(o, mb->key, mb->key_len) != j) /* repeated key */
                continue;
            if (push_member(L, 1, st, j)) {
                lua_pushlstring(L, mb->key, mb->key_len);
                lua_insert(L, -2);
                return 2;
            }
        }
        lua_pushnil(L);
        lua_replace(L, 2);
    }
    lua_pushvalue(L, 2);
    while (lua_next(L, 1)) {
        size_t n;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
        if (k && find(o, k, n) >= 0) {
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

void hl_record_register(lua_State *L, struct hl_state *hs)
{
    lua_createtable(L, 0, 6);
    lua_pushcfunction(L, rec_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, rec_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, rec_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "sluice.record");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "sluice.record"); /* setmetatable() on it would lose the record */
    lua_setfield(L, -2, "__metatable");
    hs->record_mt = lua_topointer(L, -1);
    hs->ref_record_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* A free slot for table t in the current call, or NULL (out of memory). */
static struct hl_rec_slot *slot_new(struct hl_state *hs, const void *t)
{
    if (hs->recs_call != hs->call_id) {
        hs->recs_call = hs->call_id;
        hs->recs_live = 0;
    }
    if ((hs->recs_live + 1) * 2 > hs->recs_cap) { /* keep the load at 1/2 */
        size_t cap = hs->recs_cap ? hs->recs_cap * 2 : 64;
        struct hl_rec_slot *r = calloc(cap, sizeof *r);
        if (!r)
            return NULL;
        for (size_t j = 0; j < hs->recs_cap; j++) {
            const struct hl_rec_slot *o = &hs->recs[j];
            if (!live(hs, o))
                continue;
            size_t i = slot_hash(o->table, cap);
            while (r[i].table)
                i = (i + 1) & (cap - 1);
            r[i] = *o;
        }
        free(hs->recs);
        hs->recs_last = NULL;
        hs->recs = r;
        hs->recs_cap = cap;
    }
    size_t i = slot_hash(t, hs->recs_cap);
    /* a slot of this call with t's address belongs to a P collected since */
    while (live(hs, &hs->recs[i]) && hs->recs[i].table != t)
        i = (i + 1) & (hs->recs_cap - 1);
    if (!live(hs, &hs->recs[i]))
        hs->recs_live++;
    return &hs->recs[i];
}

bool hl_record_push(lua_State *L, const struct sl_value *map)
{
    struct hl_state *hs = hl_state_of(L);
    if (map->len >= MAX_LAZY) {
        hl_push_value(L, map);
        return false;
    }
    lua_createtable(L, 0, 1); /* room for a field */
    const void *t = lua_topointer(L, -1);
    struct hl_rec_slot *st = slot_new(hs, t);
    if (!st) {
        lua_pop(L, 1);
        hl_push_value(L, map);
        return false;
    }
    st->table = t;
    st->orig = map;
    st->call = hs->call_id;
    st->bits = 0;
    st->new_sets = 0;
    hs->recs_last = st;
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_record_mt);
    lua_setmetatable(L, -2);
    return true;
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

/* Sets *dst to what P holds for original member om (bit set: written or
 * deleted); a deleted member gets key NULL. */
static void edited_member(lua_State *L, int idx, struct sl_arena *a, struct sl_member *dst,
                          const struct sl_member *om, bool share, hl_convert_fn convert, void *cctx)
{
    lua_pushlstring(L, om->key, om->key_len);
    if (lua_rawget(L, idx) == LUA_TNIL) {
        dst->key = NULL;
    } else {
        dst->key = share ? om->key : sl_arena_strndup(a, om->key, om->key_len);
        dst->key_len = om->key_len;
        if (!dst->key)
            luaL_error(L, "out of memory");
        convert(cctx, lua_gettop(L), &dst->value, &om->value, share, dst->key, dst->key_len);
    }
    lua_pop(L, 1);
}

void hl_record_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                        const struct sl_value *hint, bool share, hl_convert_fn convert, void *cctx)
{
    idx = lua_absindex(L, idx);
    struct hl_rec_slot *st = state(L, idx);
    const struct sl_value *o = st->orig;
    uint64_t bits = st->bits;
    share = share && hint == o; /* pointing into o is safe only for o's own message */
    if (!bits) {                /* untouched: the original as it is */
        if (share)
            *dst = *o;
        else if (sl_value_copy(a, dst, o) != 0)
            luaL_error(L, "out of memory");
        return;
    }
    bool new_keys = bits >> NEW_KEYS & 1;
    uint64_t edited = bits & ~((uint64_t)1 << NEW_KEYS);
    size_t cap = o->len + (new_keys ? 4 : 0);
    struct sl_member *mb = sl_arena_alloc(a, (cap ? cap : 1) * sizeof *mb);
    if (!mb)
        luaL_error(L, "out of memory");
    bool removed = false; /* some mb[j].key is NULL */
    if (share && !has_repeats(o)) {
        /* the common case: the original's members by pointer, edits patched in */
        memcpy(mb, o->u.members, o->len * sizeof *mb);
        for (uint64_t e = edited; e; e &= e - 1) {
            int j = __builtin_ctzll(e);
            edited_member(L, idx, a, &mb[j], &o->u.members[j], share, convert, cctx);
            removed |= !mb[j].key;
        }
    } else {
        for (uint32_t j = 0; j < o->len; j++) {
            const struct sl_member *om = &o->u.members[j];
            if (edited >> j & 1) { /* written or deleted: whatever P holds now */
                edited_member(L, idx, a, &mb[j], om, share, convert, cctx);
            } else if (find(o, om->key, om->key_len) != j) {
                mb[j].key = NULL; /* a repeated key: one value per key once edited */
            } else if (share) {
                mb[j] = *om;
            } else {
                mb[j].key = sl_arena_strndup(a, om->key, om->key_len);
                mb[j].key_len = om->key_len;
                if (!mb[j].key || sl_value_copy(a, &mb[j].value, &om->value) != 0)
                    luaL_error(L, "out of memory");
            }
            removed |= !mb[j].key;
        }
    }
    size_t n = o->len;
    if (new_keys) {
        /* Without edited originals, P holds only keys that came through
         * rec_newindex as new: the walk can stop once new_sets were seen. */
        size_t left = edited ? SIZE_MAX : st->new_sets;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            size_t kl = 0;
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
            if (edited && k && find(o, k, kl) >= 0) {
                lua_pop(L, 1);
                continue;
            }
            if (n == cap) {
                struct sl_member *nb = sl_arena_alloc(a, cap * 2 * sizeof *mb);
                if (!nb)
                    luaL_error(L, "out of memory");
                memcpy(nb, mb, n * sizeof *mb);
                mb = nb;
                cap *= 2;
            }
            mb[n].key = new_key(L, lua_gettop(L) - 1, a, &kl);
            if (kl > UINT32_MAX)
                luaL_error(L, "key too long");
            mb[n].key_len = (uint32_t)kl;
            convert(cctx, lua_gettop(L), &mb[n].value, NULL, false, mb[n].key, kl);
            n++;
            lua_pop(L, 1);
            if (--left == 0) {
                lua_pop(L, 1); /* the key: the walk ends early */
                break;
            }
        }
    }
    size_t k = o->len;
    if (removed) {
        k = 0;
        for (size_t j = 0; j < o->len; j++)
            if (mb[j].key)
                mb[k++] = mb[j];
    }
    size_t added = n - o->len;
    if (k != o->len)
        memmove(mb + k, mb + o->len, added * sizeof *mb);
    if (added > 1)
        qsort(mb + k, added, sizeof *mb, member_cmp);
    dst->type = SL_MAP;
    dst->len = (uint32_t)(k + added);
    dst->u.members = mb;
}
