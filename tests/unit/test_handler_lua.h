/* test_handler_lua.h - shared helpers of the handler_lua unit tests: the plugin's
 * test API (hl_test_api.c), value builders and a compact value printer. */
#ifndef TEST_HANDLER_LUA_H
#define TEST_HANDLER_LUA_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_test_api.h"
#include "sluice/sluice.h"

static inline const struct hl_test_api *hl_api(void)
{
    return &sluice_lua_test_api;
}

static struct sl_arena test_arena;

static inline struct sl_value V_null(void)
{
    struct sl_value v = {.type = SL_NULL};
    return v;
}

static inline struct sl_value V_bool(bool b)
{
    struct sl_value v = {.type = SL_BOOL, .u.b = b};
    return v;
}

static inline struct sl_value V_int(int64_t i)
{
    struct sl_value v = {.type = SL_INT, .u.i = i};
    return v;
}

static inline struct sl_value V_dbl(double d)
{
    struct sl_value v = {.type = SL_DOUBLE, .u.d = d};
    return v;
}

static inline struct sl_value V_strn(const char *s, size_t n, int type)
{
    struct sl_value v = {.type = (uint32_t)type, .len = (uint32_t)n};
    v.u.str = sl_arena_strndup(&test_arena, s, n);
    return v;
}

static inline struct sl_value V_str(const char *s)
{
    return V_strn(s, strlen(s), SL_STRING);
}

/* V_arr(n, v1, ..., vn) */
static inline struct sl_value V_arr(int n, ...)
{
    struct sl_value v = {.type = SL_ARRAY, .len = (uint32_t)n};
    v.u.items = sl_arena_alloc(&test_arena, (size_t)(n ? n : 1) * sizeof(struct sl_value));
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        v.u.items[i] = va_arg(ap, struct sl_value);
    va_end(ap);
    return v;
}

/* V_map(n, "k1", v1, ..., "kn", vn) */
static inline struct sl_value V_map(int n, ...)
{
    struct sl_value v = {.type = SL_MAP, .len = (uint32_t)n};
    v.u.members = sl_arena_alloc(&test_arena, (size_t)(n ? n : 1) * sizeof(struct sl_member));
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *k = va_arg(ap, const char *);
        v.u.members[i].key = k;
        v.u.members[i].key_len = (uint32_t)strlen(k);
        v.u.members[i].value = va_arg(ap, struct sl_value);
    }
    va_end(ap);
    return v;
}

/* Compact text: ints 1, doubles 1.5 or 2.0, "str", b"\xff", [..], {"k":..}. */
static inline void dump_to(char **p, char *end, const struct sl_value *v)
{
#define OUT(...) (*p += snprintf(*p, (size_t)(end - *p), __VA_ARGS__), *p = *p > end ? end : *p)
    switch (v->type) {
    case SL_NULL:
        OUT("null");
        break;
    case SL_BOOL:
        OUT(v->u.b ? "true" : "false");
        break;
    case SL_INT:
        OUT("%lld", (long long)v->u.i);
        break;
    case SL_DOUBLE: {
        char b[40];
        snprintf(b, sizeof b, "%.15g", v->u.d);
        OUT("%s%s", b, strpbrk(b, ".en") ? "" : ".0");
        break;
    }
    case SL_STRING:
    case SL_BYTES:
        OUT("%s\"", v->type == SL_BYTES ? "b" : "");
        for (uint32_t i = 0; i < v->len; i++) {
            unsigned char c = (unsigned char)v->u.str[i];
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                OUT("%c", c);
            else
                OUT("\\x%02x", c);
        }
        OUT("\"");
        break;
    case SL_ARRAY:
        OUT("[");
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                OUT(",");
            dump_to(p, end, &v->u.items[i]);
        }
        OUT("]");
        break;
    case SL_MAP:
        OUT("{");
        for (uint32_t i = 0; i < v->len; i++) {
            OUT("%s\"%s\":", i ? "," : "", v->u.members[i].key);
            dump_to(p, end, &v->u.members[i].value);
        }
        OUT("}");
        break;
    }
#undef OUT
}

static inline const char *dump(const struct sl_value *v)
{
    static char buf[8192];
    char *p = buf;
    buf[0] = 0;
    dump_to(&p, buf + sizeof buf - 1, v);
    return buf;
}

static char text[2048]; /* what the last eval returned, or its error */

/* What code returned in the state h, as text; "ERROR: ..." when it raised. */
static inline const char *ev_in(void *h, const char *code)
{
    static char buf[2100];
    if (hl_api()->eval(h, code, NULL, NULL, NULL, text, sizeof text) != 0)
        snprintf(buf, sizeof buf, "ERROR: %s", text);
    else
        snprintf(buf, sizeof buf, "%s", text);
    return buf;
}

#ifdef TEST_HANDLER_LUA_ONE_STATE
/* For a test file whose tests all run in one Lua state (cmocka group
 * setup/teardown), evaluated with ev(). */
static void *L_;

static int setup(void **state)
{
    (void)state;
    L_ = hl_api()->open("/tmp", 64, 100000000, 2000, true, false);
    return L_ ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hl_api()->close(L_);
    sl_arena_free(&test_arena);
    return 0;
}

static const char *ev(const char *code)
{
    return ev_in(L_, code);
}
#endif

#endif
