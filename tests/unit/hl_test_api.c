/* hl_test_api.c - a small API through which the unit tests (test_handler_lua*.c)
 * reach the Lua handler's conversion and sandbox code; linked into the tests
 * only, with the handler's static library, never into handler_lua.so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handler_lua.h"
#include "hl_test_api.h"

struct hl_test {
    struct hl_conf conf;
    struct hl_state *hs;
    bool lazy; /* v is a lazy record (hl_record.c) */
};

static void *t_open(const char *dir, size_t mem_mb, int64_t max_instructions, int64_t max_cpu_ms,
                    bool sandbox, bool allow_io)
{
    struct hl_test *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->conf.dir = strdup(dir);
    t->conf.script = malloc(strlen(dir) + 16);
    sprintf(t->conf.script, "%s/test.lua", dir);
    t->conf.mem_limit = mem_mb << 20;
    t->conf.max_instructions = max_instructions;
    t->conf.max_cpu_ns = max_cpu_ms * 1000000;
    t->conf.sandbox = sandbox;
    t->conf.allow_io = allow_io;
    t->hs = hl_state_new(&t->conf);
    if (!t->hs) {
        free(t->conf.dir);
        free(t->conf.script);
        free(t);
        return NULL;
    }
    return t;
}

static void t_close(void *h)
{
    struct hl_test *t = h;
    if (!t)
        return;
    hl_state_free(t->hs);
    free(t->conf.dir);
    free(t->conf.script);
    free(t);
}

struct rt_args {
    struct hl_test *t;
    const char *code;
    const struct sl_value *in;
    struct sl_arena *a;
    struct sl_value *out;
};

static int t_run(lua_State *L)
{
    struct rt_args *r = lua_touserdata(L, 1);
    if (r->in) {
        struct hl_test *t = r->t;
        if (t->lazy && r->in->type == SL_MAP)
            hl_record_push(L, r->in);
        else
            hl_push_value(L, r->in);
        lua_setglobal(L, "v");
    }
    if (luaL_loadbufferx(L, r->code, strlen(r->code), "=test", "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (r->out)
        hl_to_value(L, -1, r->a, r->out, r->in, true);
    else
        luaL_tolstring(L, -1, NULL);
    return 1;
}

/* Runs code; with `in`, global v holds it converted to Lua and the chunk's
 * result is converted back into out (in arena a); without, the result as
 * text goes to text. Returns 0, or -1 with the error in text. */
static int t_eval(void *h, const char *code, const struct sl_value *in, struct sl_arena *a,
                  struct sl_value *out, char *text, size_t textlen)
{
    struct hl_test *t = h;
    struct hl_state *hs = t->hs;
    lua_State *L = hs->L;
    struct rt_args r = {t, code, in, a, out};
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_traceback);
    lua_pushcfunction(L, t_run);
    lua_pushlightuserdata(L, &r);
    hl_budget_start(hs, 1);
    int st = lua_pcall(L, 1, 1, base + 1);
    hs->call_id++; /* like a process() call: lazy records made here expire */
    if (st != LUA_OK) {
        hl_error_text(hs, st, text, textlen);
        lua_settop(L, base);
        if (!hl_state_recover(hs, st)) {
            hl_state_free(t->hs);
            t->hs = hl_state_new(&t->conf);
        }
        return -1;
    }
    if (!out && text)
        snprintf(text, textlen, "%s", lua_tostring(L, -1));
    lua_settop(L, base);
    return 0;
}

struct bench_args {
    const char *code;
    const struct sl_value *in;
    struct sl_arena *a;
    size_t iters;
    int mode; /* 0: push + call + convert back; 1: push only; 2: push + call */
};

static int t_bench_run(lua_State *L)
{
    struct bench_args *b = lua_touserdata(L, 1);
    if (luaL_loadbufferx(L, b->code, strlen(b->code), "=bench", "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1); /* the chunk returns the function to time */
    int fn = lua_gettop(L);
    for (size_t i = 0; i < b->iters; i++) {
        lua_pushvalue(L, fn);
        hl_push_value(L, b->in);
        if (b->mode == 1) {
            lua_pop(L, 2);
            continue;
        }
        lua_call(L, 1, 1);
        if (b->mode == 0) {
            struct sl_value out;
            sl_arena_reset(b->a);
            hl_to_value(L, -1, b->a, &out, b->in, true);
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* Thread CPU ns per iteration of a record round trip through a function. */
static double t_bench(void *h, const char *code, const struct sl_value *in, struct sl_arena *a,
                      size_t iters, int mode)
{
    struct hl_test *t = h;
    lua_State *L = t->hs->L;
    struct bench_args b = {code, in, a, iters, mode};
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    lua_pushcfunction(L, t_bench_run);
    lua_pushlightuserdata(L, &b);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "bench: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
           (double)iters;
}

static void t_set_lazy(void *h, bool lazy)
{
    ((struct hl_test *)h)->lazy = lazy;
}

static size_t t_mem_used(void *h)
{
    return ((struct hl_test *)h)->hs->used;
}

const struct hl_test_api sluice_lua_test_api = {
    t_open, t_eval, t_mem_used, t_close, t_bench, t_set_lazy,
};
