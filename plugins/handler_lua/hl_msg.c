/* hl_msg.c - the message object scripts see, and turning return values into outputs.
 *
 * A message object is a small userdata over the struct sl_msg. Fields are
 * converted only when the script touches them (msg.record builds its table on
 * first use); changes are kept in the userdata's user values and applied to
 * the message only after the whole call succeeded, so a failed call leaves
 * the message as it came for the retry and the dead-letter output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler_lua.h"

enum { UV_RECORD = 1, UV_HEADERS, UV_PAYLOAD, UV_KEY, UV_ROUTE, UV_COUNT = UV_ROUTE };

struct hl_lmsg {
    struct sl_msg *m;
    uint64_t call;  /* valid while equal to hl_state.call_id */
    uint32_t index; /* in the plan's origs */
    bool rec_lua;   /* UV_RECORD holds the record (table, value or nil) */
    bool payload_cached, payload_set;
    bool key_cached, key_set; /* UV_KEY: string, or false for none */
    bool route_set;
    bool headers_lua; /* UV_HEADERS holds the headers table */
    bool out;         /* already among the outputs */
    bool rec_lazy;    /* UV_RECORD holds the lazy record hl_record_push made */
};

/* An original's changes, staged by hl_plan_outputs and applied when all
 * converted (kept in the plan: the userdata stays small). */
struct hl_staged {
    struct sl_value *record;
    struct sl_header *headers;
    uint32_t n_headers;
    const char *route;
    const char *payload;
    size_t payload_len;
    const char *key;
    size_t key_len;
};

/* The metamethods get their own userdata first: its metatable is protected
 * (__metatable) and the sandbox has no debug library to pry it loose. */
static struct hl_lmsg *self_msg(lua_State *L)
{
    struct hl_state *hs = hl_state_of(L);
    if (!hs->conf->sandbox)
        return NULL;
    struct hl_lmsg *u = lua_touserdata(L, 1);
    if (u->call != hs->call_id || !u->m)
        luaL_error(L, "message used after its process() call returned");
    return u;
}

static struct hl_lmsg *check_msg(lua_State *L, int idx)
{
    struct hl_state *hs = hl_state_of(L);
    struct hl_lmsg *u = lua_touserdata(L, idx);
    if (!u || lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        luaL_typeerror(L, idx, "sluice.message");
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_msg_mt);
    if (!lua_rawequal(L, -1, -2))
        luaL_typeerror(L, idx, "sluice.message");
    lua_pop(L, 2);
    if (u->call != hs->call_id || !u->m)
        luaL_error(L, "message used after its process() call returned");
    return u;
}

static bool is_msg(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return false;
    lua_rawgeti(L, LUA_REGISTRYINDEX, hl_state_of(L)->ref_msg_mt);
    bool r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return r;
}

struct sl_msg *hl_msg_at(lua_State *L, int idx)
{
    if (!is_msg(L, idx))
        return NULL;
    struct hl_lmsg *u = lua_touserdata(L, idx);
    return u->call == hl_state_of(L)->call_id ? u->m : NULL;
}

static void push_hex(lua_State *L, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hex[b[i] >> 4];
        buf[2 * i + 1] = hex[b[i] & 15];
    }
    lua_pushlstring(L, buf, 2 * n);
}

/* msg.headers as a table name -> value; the first of repeated names wins. */
static void push_headers(lua_State *L, const struct sl_msg *m)
{
    lua_createtable(L, 0, (int)m->n_headers);
    for (uint32_t i = m->n_headers; i-- > 0;) {
        lua_pushstring(L, m->headers[i].name);
        lua_pushlstring(L, (const char *)m->headers[i].value, m->headers[i].value_len);
        lua_rawset(L, -3);
    }
}

/* An input's source attribute: "true"/"false" as a boolean, else a string. */
static void push_source_attr(lua_State *L, const struct sl_header *a)
{
    if (a->value_len == 4 && memcmp(a->value, "true", 4) == 0)
        lua_pushboolean(L, 1);
    else if (a->value_len == 5 && memcmp(a->value, "false", 5) == 0)
        lua_pushboolean(L, 0);
    else
        lua_pushlstring(L, (const char *)a->value, a->value_len);
}

static void push_source(lua_State *L, const struct sl_msg *m)
{
    lua_createtable(L, 0, 4 + (int)m->n_source_attrs);
    /* attributes first: the fixed fields below hide one of the same name */
    for (uint32_t i = 0; i < m->n_source_attrs; i++) {
        push_source_attr(L, &m->source_attrs[i]);
        lua_setfield(L, -2, m->source_attrs[i].name);
    }
    if (m->source.name) {
        lua_pushstring(L, m->source.name);
        lua_setfield(L, -2, "name");
    }
    lua_pushinteger(L, m->source.partition);
    lua_setfield(L, -2, "partition");
    lua_pushinteger(L, m->source.offset);
    lua_setfield(L, -2, "offset");
    lua_pushinteger(L, m->source.timestamp_ms);
    lua_setfield(L, -2, "timestamp");
    if (m->source.n_failure) { /* a replayed dead letter: why it failed */
        lua_createtable(L, 0, (int)m->source.n_failure);
        for (uint32_t i = 0; i < m->source.n_failure; i++) {
            const struct sl_header *h = &m->source.failure[i];
            lua_pushlstring(L, (const char *)h->value, h->value_len);
            lua_setfield(L, -2, h->name);
        }
        lua_setfield(L, -2, "failure");
    }
}

/* Pushes the field's current value from the object's view (changes included). */
static void push_record(lua_State *L, struct hl_lmsg *u, int ud)
{
    if (!u->rec_lua) {
        const struct sl_value *r = u->m->record;
        if (r && r->type == SL_MAP && hl_state_of(L)->conf->lazy_record) {
            u->rec_lazy = hl_record_push(L, r);
        } else {
            hl_push_value(L, r);
        }
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, ud, UV_RECORD);
        u->rec_lua = true;
        return;
    }
    lua_getiuservalue(L, ud, UV_RECORD);
}

static void push_payload(lua_State *L, struct hl_lmsg *u, int ud)
{
    if (u->payload_set || u->payload_cached) {
        lua_getiuservalue(L, ud, UV_PAYLOAD);
        return;
    }
    lua_pushlstring(L, (const char *)u->m->payload.data, u->m->payload.len);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, ud, UV_PAYLOAD);
    u->payload_cached = true;
}

static void push_key(lua_State *L, struct hl_lmsg *u, int ud)
{
    if (u->key_set || u->key_cached) {
        lua_getiuservalue(L, ud, UV_KEY);
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        return;
    }
    if (u->m->has_key)
        lua_pushlstring(L, (const char *)u->m->key.data, u->m->key.len);
    else
        lua_pushboolean(L, 0);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, ud, UV_KEY);
    u->key_cached = true;
    if (!u->m->has_key) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

static int msg_index(lua_State *L)
{
    struct hl_lmsg *u = self_msg(L);
    if (!u)
        u = check_msg(L, 1);
    size_t len;
    const char *k = lua_tolstring(L, 2, &len);
    if (!k || lua_type(L, 2) != LUA_TSTRING)
        return 0;
    switch (len) {
    case 3:
        if (memcmp(k, "key", 3) == 0) {
            push_key(L, u, 1);
            return 1;
        }
        break;
    case 5:
        if (memcmp(k, "route", 5) == 0) {
            if (u->route_set)
                lua_getiuservalue(L, 1, UV_ROUTE);
            else if (u->m->route)
                lua_pushstring(L, u->m->route);
            else
                lua_pushnil(L);
            return 1;
        }
        break;
    case 6:
        if (memcmp(k, "record", 6) == 0) {
            push_record(L, u, 1);
            return 1;
        }
        if (memcmp(k, "source", 6) == 0) {
            push_source(L, u->m);
            return 1;
        }
        break;
    case 7:
        if (memcmp(k, "payload", 7) == 0) {
            push_payload(L, u, 1);
            return 1;
        }
        if (memcmp(k, "headers", 7) == 0) {
            if (!u->headers_lua) {
                push_headers(L, u->m);
                lua_setiuservalue(L, 1, UV_HEADERS);
                u->headers_lua = true;
            }
            lua_getiuservalue(L, 1, UV_HEADERS);
            return 1;
        }
        if (memcmp(k, "span_id", 7) == 0) {
            push_hex(L, u->m->span_id, sizeof u->m->span_id);
            return 1;
        }
        break;
    case 8:
        if (memcmp(k, "trace_id", 8) == 0) {
            push_hex(L, u->m->trace_id, sizeof u->m->trace_id);
            return 1;
        }
        if (memcmp(k, "attempts", 8) == 0) {
            lua_pushinteger(L, u->m->attempts);
            return 1;
        }
        break;
    }
    return 0;
}

static int msg_newindex(lua_State *L)
{
    struct hl_lmsg *u = self_msg(L);
    if (!u)
        u = check_msg(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    if (strcmp(k, "record") == 0) {
        lua_setiuservalue(L, 1, UV_RECORD);
        u->rec_lua = true;
        u->rec_lazy = false;
    } else if (strcmp(k, "payload") == 0) {
        luaL_checktype(L, 3, LUA_TSTRING);
        lua_setiuservalue(L, 1, UV_PAYLOAD);
        u->payload_set = true;
    } else if (strcmp(k, "key") == 0) {
        if (lua_isnil(L, 3) || (lua_type(L, 3) == LUA_TBOOLEAN && !lua_toboolean(L, 3))) {
            lua_pushboolean(L, 0);
        } else {
            luaL_checktype(L, 3, LUA_TSTRING);
            lua_pushvalue(L, 3);
        }
        lua_setiuservalue(L, 1, UV_KEY);
        u->key_set = true;
    } else if (strcmp(k, "route") == 0) {
        luaL_checktype(L, 3, LUA_TSTRING);
        lua_setiuservalue(L, 1, UV_ROUTE);
        u->route_set = true;
    } else if (strcmp(k, "headers") == 0) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_setiuservalue(L, 1, UV_HEADERS);
        u->headers_lua = true;
    } else if (strcmp(k, "trace_id") == 0 || strcmp(k, "span_id") == 0 ||
               strcmp(k, "attempts") == 0 || strcmp(k, "source") == 0) {
        return luaL_error(L, "msg.%s is read-only", k);
    } else {
        return luaL_error(L,
                          "msg has no field '%s' (fields: payload, record, key, headers, "
                          "route)",
                          k);
    }
    return 0;
}

static int msg_tostring(lua_State *L)
{
    struct hl_lmsg *u = lua_touserdata(L, 1);
    if (u->call != hl_state_of(L)->call_id || !u->m)
        lua_pushliteral(L, "sluice.message (expired)");
    else
        lua_pushfstring(L, "sluice.message (route %s, %d payload bytes)",
                        u->m->route ? u->m->route : "-", (int)u->m->payload.len);
    return 1;
}

void hl_msg_register(lua_State *L, struct hl_state *hs)
{
    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, msg_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, msg_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, msg_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "sluice.message");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "sluice.message");
    lua_setfield(L, -2, "__metatable");
    hs->ref_msg_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

void hl_msg_push(lua_State *L, struct hl_plan *p, size_t i)
{
    struct hl_state *hs = hl_state_of(L);
    struct hl_lmsg *u = lua_newuserdatauv(L, sizeof *u, UV_COUNT);
    memset(u, 0, sizeof *u);
    u->m = p->origs[i];
    u->call = hs->call_id;
    u->index = (uint32_t)i;
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_msg_mt);
    lua_setmetatable(L, -2);
    p->lm[i] = u;
}

/* ---- outputs ---- */

static void *grow(lua_State *L, void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(arr, ncap * elem);
    if (!p)
        luaL_error(L, "out of memory");
    *cap = ncap;
    return p;
}

/* Raises unless the call may return n messages (max_outputs per message given). */
static void check_count(lua_State *L, const struct hl_plan *p, size_t n)
{
    int64_t max = hl_state_of(L)->conf->max_outputs;
    if (max && n > (size_t)max * (p->n_origs ? p->n_origs : 1))
        luaL_error(L, "returned %I messages, more than max_outputs = %I per message handled",
                   (lua_Integer)n, (lua_Integer)max);
}

static void add_out(lua_State *L, struct hl_plan *p, struct sl_msg *m)
{
    check_count(L, p, p->n_out + 1);
    p->out = grow(L, p->out, &p->cap_out, p->n_out + 1, sizeof *p->out);
    p->out[p->n_out++] = m;
}

/* Converts the headers table at idx into an array in m's arena. */
static void stage_headers(lua_State *L, int idx, struct sl_msg *m, struct sl_header **hdrs,
                          uint32_t *n)
{
    idx = lua_absindex(L, idx);
    uint32_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    struct sl_header *h = sl_arena_alloc(&m->arena, (count ? count : 1) * sizeof *h);
    if (!h)
        luaL_error(L, "out of memory");
    uint32_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) && k < count) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "header names must be strings (got a %s)", luaL_typename(L, -2));
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
            luaL_error(L, "header '%s' must be a string (got a %s)", lua_tostring(L, -2),
                       luaL_typename(L, -1));
        size_t nl, vl;
        const char *name = lua_tolstring(L, -2, &nl);
        lua_pushvalue(L, -1); /* tolstring on a copy: numbers would confuse lua_next */
        const char *val = lua_tolstring(L, -1, &vl);
        hl_output_charge(L, nl + vl + 2 + sizeof *h);
        h[k].name = sl_arena_strndup(&m->arena, name, nl);
        h[k].value = (const uint8_t *)sl_arena_strndup(&m->arena, val, vl);
        if (!h[k].name || !h[k].value || vl > UINT32_MAX)
            luaL_error(L, "out of memory");
        h[k].value_len = (uint32_t)vl;
        k++;
        lua_pop(L, 2);
    }
    *hdrs = h;
    *n = k;
}

/* hint is dst's own record (shared memory) or another message's (copied). */
static struct sl_value *convert_record(lua_State *L, int idx, struct sl_msg *dst,
                                       const struct sl_value *hint)
{
    struct sl_value *v = sl_arena_alloc(&dst->arena, sizeof *v);
    if (!v)
        luaL_error(L, "out of memory");
    hl_to_value(L, idx, &dst->arena, v, hint, hint == dst->record);
    return v;
}

/* Pushes the object of original u (the userdata), from the anchor. */
static void push_obj(lua_State *L, int anchor, struct hl_lmsg *u)
{
    lua_rawgeti(L, anchor, (lua_Integer)u->index + 1);
}

/* t[name], or nil when there is no table (t == 0). */
static int get_field(lua_State *L, int t, const char *name)
{
    if (!t) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, t, name);
}

/* A new message from parent's current view, with the fields of table t
 * (t == 0: none) replacing what it inherits. */
static struct sl_msg *derive(lua_State *L, struct hl_plan *p, int anchor, struct hl_lmsg *pu, int t)
{
    struct sl_msg *parent = pu->m;
    struct sl_msg *c = sl_msg_derive(parent);
    if (!c)
        luaL_error(L, "out of memory");
    p->derived = grow(L, p->derived, &p->cap_derived, p->n_derived + 1, sizeof *p->derived);
    p->derived[p->n_derived++] = c;
    push_obj(L, anchor, pu);
    int obj = lua_gettop(L);
    int have;

    /* payload */
    have = get_field(L, t, "payload");
    if (have != LUA_TNIL && have != LUA_TSTRING)
        luaL_error(L, "field 'payload' must be a string");
    if (have == LUA_TNIL) {
        lua_pop(L, 1);
        if (pu->payload_set)
            lua_getiuservalue(L, obj, UV_PAYLOAD);
        else
            lua_pushlstring(L, (const char *)parent->payload.data, parent->payload.len);
    }
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    hl_output_charge(L, len);
    if (sl_buf_set(&c->payload, s, len) != 0)
        luaL_error(L, "out of memory");
    lua_pop(L, 1);

    /* record: false means none */
    have = get_field(L, t, "record");
    if (have == LUA_TNIL) {
        lua_pop(L, 1);
        if (pu->rec_lua) {
            lua_getiuservalue(L, obj, UV_RECORD);
            c->record = lua_isnil(L, -1) ? NULL : convert_record(L, -1, c, parent->record);
            lua_pop(L, 1);
        } else if (parent->record) {
            size_t before = c->arena.total;
            c->record = sl_arena_alloc(&c->arena, sizeof *c->record);
            if (!c->record || sl_value_copy(&c->arena, c->record, parent->record) != 0)
                luaL_error(L, "out of memory");
            hl_output_charge(L, c->arena.total - before);
        }
    } else {
        if (have == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            c->record = NULL;
        else
            c->record = convert_record(L, -1, c, parent->record);
        lua_pop(L, 1);
    }

    /* key: false means none */
    have = get_field(L, t, "key");
    if (have == LUA_TNIL && pu->key_set) {
        lua_pop(L, 1);
        lua_getiuservalue(L, obj, UV_KEY);
        have = lua_type(L, -1);
    }
    if (have == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &len);
        hl_output_charge(L, len);
        if (sl_buf_set(&c->key, s, len) != 0)
            luaL_error(L, "out of memory");
        c->has_key = true;
    } else if (have == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        c->has_key = false;
    } else if (have != LUA_TNIL) {
        luaL_error(L, "field 'key' must be a string or false");
    }
    lua_pop(L, 1);

    /* headers replace all inherited ones */
    have = get_field(L, t, "headers");
    if (have == LUA_TNIL && pu->headers_lua) {
        lua_pop(L, 1);
        lua_getiuservalue(L, obj, UV_HEADERS);
        have = lua_type(L, -1);
    }
    if (have == LUA_TTABLE) {
        struct sl_header *h;
        uint32_t n;
        stage_headers(L, -1, c, &h, &n);
        c->headers = h;
        c->n_headers = c->headers_cap = n;
    } else if (have != LUA_TNIL) {
        luaL_error(L, "field 'headers' must be a table");
    }
    lua_pop(L, 1);

    /* route */
    have = get_field(L, t, "route");
    if (have == LUA_TNIL && pu->route_set) {
        lua_pop(L, 1);
        lua_getiuservalue(L, obj, UV_ROUTE);
        have = lua_type(L, -1);
    }
    if (have == LUA_TSTRING) {
        if (sl_msg_set_route(c, lua_tostring(L, -1)) != 0)
            luaL_error(L, "out of memory");
    } else if (have != LUA_TNIL) {
        luaL_error(L, "field 'route' must be a string");
    }
    lua_pop(L, 2); /* route, obj */
    return c;
}

static const char *const table_fields[] = {"payload", "record", "key",
                                           "headers", "route",  "parent"};

/* Raises unless every key of the table is a message field. */
static void check_message_table(lua_State *L, int t, size_t pos)
{
    if (lua_rawlen(L, t) != 0)
        luaL_error(L,
                   "element %d of the returned list is a list (want a message or a table "
                   "of message fields)",
                   (int)pos);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (size_t i = 0; i < sizeof table_fields / sizeof *table_fields && !known; i++)
                known = strcmp(k, table_fields[i]) == 0;
        }
        if (!known) {
            luaL_error(L,
                       "returned table has field '%s' which is not a message field "
                       "(payload, record, key, headers, route, parent)",
                       luaL_tolstring(L, -1, NULL));
        }
    }
}

static void add_item(lua_State *L, struct hl_plan *p, int anchor, int item, size_t pos)
{
    item = lua_absindex(L, item);
    void *ud = lua_touserdata(L, item);
    /* the original at the same place in the list is the usual case; an
     * object of this call (anchored) cannot share its address */
    bool same = pos <= p->n_origs && ud && ud == p->lm[pos - 1];
    if (same || is_msg(L, item)) {
        struct hl_lmsg *u = ud;
        if (!same &&
            (u->call != hl_state_of(L)->call_id || u->index >= p->n_origs || p->lm[u->index] != u))
            luaL_error(L, "returned message %d does not belong to this call", (int)pos);
        if (!u->out) { /* the original itself passes on */
            u->out = true;
            add_out(L, p, u->m);
        } else { /* returned twice: a copy */
            add_out(L, p, derive(L, p, anchor, u, 0));
        }
        return;
    }
    if (lua_type(L, item) == LUA_TTABLE) {
        check_message_table(L, item, pos);
        struct hl_lmsg *pu = p->lm[0];
        if (lua_getfield(L, item, "parent") != LUA_TNIL) {
            pu = check_msg(L, -1);
            if (pu->index >= p->n_origs || p->lm[pu->index] != pu)
                luaL_error(L,
                           "field 'parent' of returned table %d is not a message of this "
                           "call",
                           (int)pos);
        }
        lua_pop(L, 1);
        add_out(L, p, derive(L, p, anchor, pu, item));
        return;
    }
    luaL_error(L, "element %d of the returned list is a %s (want a message or a table)", (int)pos,
               luaL_typename(L, item));
}

/* Converts the changes of an original that passes on (may raise). */
static void stage(lua_State *L, struct hl_lmsg *u, struct hl_staged *st, int obj)
{
    struct sl_msg *m = u->m;
    if (u->rec_lazy) { /* the usual case, without the type checks */
        lua_getiuservalue(L, obj, UV_RECORD);
        st->record = sl_arena_alloc(&m->arena, sizeof *st->record);
        if (!st->record)
            luaL_error(L, "out of memory");
        hl_lazy_to_value(L, -1, &m->arena, st->record, m->record, true);
        lua_pop(L, 1);
    } else if (u->rec_lua) {
        lua_getiuservalue(L, obj, UV_RECORD);
        st->record = lua_isnil(L, -1) ? NULL : convert_record(L, -1, m, m->record);
        lua_pop(L, 1);
    }
    if (u->headers_lua) {
        lua_getiuservalue(L, obj, UV_HEADERS);
        stage_headers(L, -1, m, &st->headers, &st->n_headers);
        lua_pop(L, 1);
    }
    if (u->route_set) {
        lua_getiuservalue(L, obj, UV_ROUTE);
        size_t n;
        const char *r = lua_tolstring(L, -1, &n);
        st->route = sl_arena_strndup(&m->arena, r, n);
        if (!st->route)
            luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    /* strings stay alive in the user values until the call ends */
    if (u->payload_set) {
        lua_getiuservalue(L, obj, UV_PAYLOAD);
        st->payload = lua_tolstring(L, -1, &st->payload_len);
        hl_output_charge(L, st->payload_len);
        lua_pop(L, 1);
    }
    if (u->key_set) {
        lua_getiuservalue(L, obj, UV_KEY);
        st->key = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &st->key_len) : NULL;
        lua_pop(L, 1);
    }
}

/* Applies staged changes; cannot raise. */
static void apply(const struct hl_lmsg *u, const struct hl_staged *st)
{
    struct sl_msg *m = u->m;
    if (u->rec_lua)
        m->record = st->record;
    if (u->headers_lua) {
        m->headers = st->headers;
        m->n_headers = m->headers_cap = st->n_headers;
    }
    if (u->route_set)
        m->route = st->route;
    if (u->payload_set && sl_buf_set(&m->payload, st->payload, st->payload_len) != 0)
        fprintf(stderr, "sluice: handler_lua: out of memory setting a payload\n");
    if (u->key_set) {
        m->has_key = st->key != NULL;
        if (st->key && sl_buf_set(&m->key, st->key, st->key_len) != 0)
            m->has_key = false;
    }
}

void hl_plan_outputs(lua_State *L, int idx, struct hl_plan *p)
{
    idx = lua_absindex(L, idx);
    int anchor = idx - 1; /* the caller keeps the objects there, as a list */
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, idx))) {
        /* drop */
    } else if (t == LUA_TUSERDATA) {
        add_item(L, p, anchor, idx, 1);
    } else if (t == LUA_TTABLE) {
        size_t n = lua_rawlen(L, idx);
        check_count(L, p, n); /* before making any of them */
        if (n == 0) {         /* {} drops everything; a table with message fields is one message */
            lua_pushnil(L);
            if (lua_next(L, idx)) {
                lua_pop(L, 2);
                add_item(L, p, anchor, idx, 1);
            }
        }
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            add_item(L, p, anchor, -1, i);
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "process must return a message, a list of messages or nil (got a %s)",
                   luaL_typename(L, idx));
    }
    for (size_t i = 0; i < p->n_origs; i++) {
        if (p->lm[i]->out) {
            push_obj(L, anchor, p->lm[i]);
            stage(L, p->lm[i], &p->staged[i], lua_gettop(L));
            lua_pop(L, 1);
        }
    }
    for (size_t i = 0; i < p->n_origs; i++)
        if (p->lm[i]->out)
            apply(p->lm[i], &p->staged[i]);
}

bool hl_plan_is_out(const struct hl_plan *p, size_t i)
{
    return p->lm[i] && p->lm[i]->out;
}

int hl_plan_reset(struct hl_plan *p, struct sl_msg **msgs, size_t n)
{
    if (n > p->cap_origs) {
        struct hl_lmsg **lm = realloc(p->lm, n * sizeof *lm);
        if (!lm)
            return -1;
        p->lm = lm;
        struct hl_staged *st = realloc(p->staged, n * sizeof *st);
        if (!st)
            return -1;
        p->staged = st;
        p->cap_origs = n;
    }
    memset(p->lm, 0, n * sizeof *p->lm);
    p->origs = msgs;
    p->n_origs = n;
    p->n_out = 0;
    p->n_derived = 0;
    return 0;
}

void hl_plan_free(struct hl_plan *p)
{
    free(p->lm);
    free(p->staged);
    free(p->out);
    free(p->derived);
    memset(p, 0, sizeof *p);
}
