/* hl_state.c - one lua_State: capped allocator, instruction budget, loading the script. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lualib.h>

#include "handler_lua.h"

/* The count hook fires every HOOK_CHUNK instructions; cheap at this size. */
#define HOOK_CHUNK 100000

/* Every message makes a few short-lived Lua objects (its userdata, the
 * record table and its nodes); malloc and free cost more than Lua's work on
 * them, and the GC frees them in bursts that overflow glibc's thread cache.
 * Blocks up to HL_POOL_MAX bytes therefore go back to per-state free lists
 * of 16-byte classes (POOL_BYTES at most, not counted in `used`). Under ASan
 * the lists are off, so a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_BYTES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_BYTES 0
#endif
#endif
#ifndef POOL_BYTES
#define POOL_BYTES (256u << 10)
#endif

static size_t pool_class(size_t n)
{
    return (n + 15) / 16 - 1;
}

static void *pool_get(struct hl_state *hs, size_t n)
{
    size_t c = pool_class(n);
    void *p = hs->pool[c];
    if (!p)
        return malloc((c + 1) * 16);
    hs->pool[c] = *(void **)p;
    hs->pool_bytes -= (c + 1) * 16;
    return p;
}

/* Frees a block of (requested) size n, n > 0. */
static void release(struct hl_state *hs, void *p, size_t n)
{
    size_t c = pool_class(n);
    if (n > HL_POOL_MAX || hs->pool_bytes + (c + 1) * 16 > POOL_BYTES) {
        free(p);
        return;
    }
    *(void **)p = hs->pool[c];
    hs->pool[c] = p;
    hs->pool_bytes += (c + 1) * 16;
}

static void pool_drain(struct hl_state *hs)
{
    for (size_t c = 0; c < sizeof hs->pool / sizeof *hs->pool; c++) {
        while (hs->pool[c]) {
            void *p = hs->pool[c];
            hs->pool[c] = *(void **)p;
            free(p);
        }
    }
    hs->pool_bytes = 0;
}

/* Refuses growth past the cap; Lua then runs an emergency GC and, if that
 * does not help, raises a memory error that fails only the current call.
 * A block of size <= HL_POOL_MAX always has its whole 16-byte class. */
static void *hl_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct hl_state *hs = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr)
            release(hs, ptr, old);
        hs->used -= old;
        return NULL;
    }
    if (hs->limit && nsize > old && hs->used - old + nsize > hs->limit) {
        hs->mem_refused = true;
        return NULL;
    }
    void *p;
    if (nsize > HL_POOL_MAX && old <= HL_POOL_MAX && old) {
        p = malloc(nsize); /* out of the pooled sizes */
        if (!p)
            return NULL;
        memcpy(p, ptr, old);
        release(hs, ptr, old);
    } else if (nsize > HL_POOL_MAX) {
        p = realloc(ptr, nsize);
        if (!p)
            return NULL;
    } else if (old && pool_class(old) == pool_class(nsize) && old <= HL_POOL_MAX) {
        p = ptr; /* the block has room */
    } else {
        p = pool_get(hs, nsize);
        if (!p)
            return nsize <= old ? ptr : NULL; /* a shrink may keep the larger block */
        if (ptr) {
            memcpy(p, ptr, nsize < old ? nsize : old);
            release(hs, ptr, old);
        }
    }
    hs->used = hs->used - old + nsize;
    return p;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Count hook. Once the budget is gone it fires on every instruction of any
 * coroutine, so a script cannot catch the error with pcall and go on. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct hl_state *hs = hl_state_of(L);
    const struct hl_conf *conf = hs->conf;
    if (!hs->exhausted) {
        if (conf->max_instructions) {
            hs->instr_left -= HOOK_CHUNK;
            if (hs->instr_left <= 0) {
                hs->exhausted = true;
                hs->exhausted_why = "instruction budget exceeded (max_instructions)";
            }
        }
        if (!hs->exhausted && conf->max_cpu_ns) {
            int64_t now = thread_cpu_ns();
            if (!hs->cpu_start_ns)
                hs->cpu_start_ns = now;
            else if (now - hs->cpu_start_ns > conf->max_cpu_ns) {
                hs->exhausted = true;
                hs->exhausted_why = "CPU time limit exceeded (max_cpu_ms)";
            }
        }
        if (!hs->exhausted)
            return;
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "%s", hs->exhausted_why);
}

void hl_budget_check(lua_State *L)
{
    struct hl_state *hs = hl_state_of(L);
    if (!hs->exhausted && hs->conf->max_cpu_ns) {
        int64_t now = thread_cpu_ns();
        if (!hs->cpu_start_ns)
            hs->cpu_start_ns = now;
        else if (now - hs->cpu_start_ns > hs->conf->max_cpu_ns) {
            hs->exhausted = true;
            hs->exhausted_why = "CPU time limit exceeded (max_cpu_ms)";
        }
    }
    if (hs->exhausted) {
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "%s", hs->exhausted_why);
    }
}

void hl_budget_charge(lua_State *L, int64_t n)
{
    struct hl_state *hs = hl_state_of(L);
    if (hs->conf->max_instructions && !hs->exhausted) {
        hs->instr_left -= n;
        if (hs->instr_left <= 0) {
            hs->exhausted = true;
            hs->exhausted_why = "instruction budget exceeded (max_instructions)";
        }
    }
    hl_budget_check(L);
}

void hl_output_charge(lua_State *L, size_t n)
{
    struct hl_state *hs = hl_state_of(L);
    if (!hs->conf->max_output_bytes)
        return;
    if (n > hs->out_left)
        luaL_error(L,
                   "the returned messages take more than max_output_mb = %d after conversion "
                   "(records, payloads, keys and headers)",
                   (int)(hs->conf->max_output_bytes >> 20));
    hs->out_left -= n;
}

void hl_budget_start(struct hl_state *hs, size_t n)
{
    const struct hl_conf *conf = hs->conf;
    hs->exhausted = false;
    hs->out_left = conf->max_output_bytes;
    hs->cpu_start_ns = 0;
    if (n == 0)
        n = 1;
    int64_t budget = conf->max_instructions;
    hs->instr_left = budget > INT64_MAX / (int64_t)n ? INT64_MAX : budget * (int64_t)n;
    if (!budget && !conf->max_cpu_ns)
        return;
    /* also resets the hook counter of the main thread */
    lua_sethook(hs->L, budget_hook, LUA_MASKCOUNT, HOOK_CHUNK);
}

/* Message handler: the error text plus a traceback. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

void hl_error_text(struct hl_state *hs, int status, char *buf, size_t len)
{
    lua_State *L = hs->L;
    if (status == LUA_ERRMEM) {
        if (hs->mem_refused)
            snprintf(buf, len, "memory limit exceeded (memory_mb = %zu)", hs->limit >> 20);
        else
            snprintf(buf, len, "out of memory");
        lua_pop(L, 1);
        return;
    }
    const char *s = lua_tostring(L, -1);
    if (!s)
        s = "(error object is not a string)";
    /* "msg\nstack traceback:\n\t[C]: ...\n\tf.lua:3: in ..." -> "msg [f.lua:3: in ...]" */
    const char *tb = strstr(s, "\nstack traceback:\n");
    size_t mlen = tb ? (size_t)(tb - s) : strlen(s);
    size_t w = (size_t)snprintf(buf, len, "%.*s", (int)mlen, s);
    int frames = 0;
    for (const char *p = tb ? tb + 18 : NULL; p && *p && frames < 3 && w + 8 < len;) {
        while (*p == '\t')
            p++;
        const char *eol = strchr(p, '\n');
        size_t flen = eol ? (size_t)(eol - p) : strlen(p);
        if (flen && strncmp(p, "[C]", 3) != 0 && strncmp(p, "(...", 4) != 0) {
            w += (size_t)snprintf(buf + w, len - w, "%s%.*s", frames ? " < " : " [", (int)flen, p);
            frames++;
        }
        p = eol ? eol + 1 : NULL;
    }
    if (frames && w + 1 < len)
        snprintf(buf + w, len - w, "]");
    lua_pop(L, 1);
}

static int panic(lua_State *L)
{
    fprintf(stderr, "sluice: handler_lua: unprotected Lua error: %s\n", lua_tostring(L, -1));
    abort();
}

static int setup(lua_State *L)
{
    struct hl_state *hs = lua_touserdata(L, 1);
    const struct hl_conf *conf = hs->conf;
    if (conf->sandbox)
        hl_open_sandbox(L, conf);
    else
        luaL_openlibs(L);
    hl_guard_library(L, conf->sandbox);

    /* the marks are protected: a __gc added to one would make every table
     * marked afterwards run a Lua finalizer, outside the hooks */
    lua_newtable(L);
    lua_pushliteral(L, "sluice.array");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "sluice.array");
    lua_setfield(L, -2, "__metatable");
    hs->array_mt = lua_topointer(L, -1);
    hs->ref_array_mt = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    lua_pushliteral(L, "sluice.map");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "sluice.map");
    lua_setfield(L, -2, "__metatable");
    hs->map_mt = lua_topointer(L, -1);
    hs->ref_map_mt = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_pushcfunction(L, traceback);
    hs->ref_traceback = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    hs->ref_counters = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    hs->ref_anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, HL_KEY_CACHE, 0);
    hs->ref_keys = luaL_ref(L, LUA_REGISTRYINDEX);
    hl_msg_register(L, hs);
    hl_record_register(L, hs);

    hl_open_sluice(L);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "sluice");
    /* require "sluice" works too */
    if (conf->sandbox) {
        lua_getglobal(L, "require");
        lua_getupvalue(L, -1, 1);
    } else {
        luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    }
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "sluice");
    return 0;
}

struct hl_state *hl_state_new(const struct hl_conf *conf)
{
    struct hl_state *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->conf = conf;
    hs->limit = conf->mem_limit;
    hs->dir = strdup(conf->dir ? conf->dir : ".");
    if (!hs->dir) {
        free(hs);
        return NULL;
    }
    hs->ref_process = hs->ref_batch = LUA_NOREF;
    hs->L = lua_newstate(hl_alloc, hs);
    if (!hs->L) {
        pool_drain(hs);
        free(hs->dir);
        free(hs);
        return NULL;
    }
    lua_atpanic(hs->L, panic);
    /* generational mode suits many short-lived tables per message */
    lua_gc(hs->L, LUA_GCGEN, 0, 0);
    lua_pushcfunction(hs->L, setup);
    lua_pushlightuserdata(hs->L, hs);
    if (lua_pcall(hs->L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "sluice: handler_lua: cannot set up a Lua state: %s\n",
                lua_tostring(hs->L, -1));
        hl_state_free(hs);
        return NULL;
    }
    return hs;
}

void hl_state_free(struct hl_state *hs)
{
    if (!hs)
        return;
    if (hs->L)
        lua_close(hs->L);
    pool_drain(hs);
    hl_json_free(hs);
    free(hs->recs);
    free(hs->dir);
    free(hs);
}

static int load_script(lua_State *L)
{
    struct hl_state *hs = hl_state_of(L);
    const struct sl_value *config = lua_touserdata(L, 1);
    /* One snapshot of the script: its real path now, and modules and files
     * from that directory, even if a symlink on the way switches meanwhile. */
    char real[PATH_MAX];
    if (!realpath(hs->conf->script, real))
        return luaL_error(L, "%s: %s", hs->conf->script, strerror(errno));
    char *dir = strdup(real);
    if (!dir)
        return luaL_error(L, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    free(hs->dir);
    hs->dir = dir;
    if (hl_load_text_file(L, real, hs->conf->script) != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    lua_getglobal(L, "process_batch");
    bool batch = lua_type(L, -1) == LUA_TFUNCTION;
    lua_getglobal(L, "process");
    bool single = lua_type(L, -1) == LUA_TFUNCTION;
    if (!batch && !single)
        return luaL_error(L, "%s: defines neither process(msg) nor process_batch(msgs)",
                          hs->conf->script);
    hs->ref_process = luaL_ref(L, LUA_REGISTRYINDEX);
    hs->ref_batch = luaL_ref(L, LUA_REGISTRYINDEX);
    if (!batch) {
        luaL_unref(L, LUA_REGISTRYINDEX, hs->ref_batch);
        hs->ref_batch = LUA_NOREF;
    }
    if (!single) {
        luaL_unref(L, LUA_REGISTRYINDEX, hs->ref_process);
        hs->ref_process = LUA_NOREF;
    }
    if (lua_getglobal(L, "init") == LUA_TFUNCTION) {
        if (config)
            hl_push_value(L, config);
        else
            lua_newtable(L);
        lua_call(L, 1, 0);
    }
    return 0;
}

int hl_state_load(struct hl_state *hs, const struct sl_value *config, char *err, size_t errlen)
{
    lua_State *L = hs->L;
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_traceback);
    lua_pushcfunction(L, load_script);
    lua_pushlightuserdata(L, (void *)config);
    hl_budget_start(hs, 1);
    int st = lua_pcall(L, 1, 0, base + 1);
    if (st != LUA_OK) {
        hl_error_text(hs, st, err, errlen);
        lua_settop(L, base);
        return -1;
    }
    lua_settop(L, base);
    lua_gc(L, LUA_GCCOLLECT);
    hs->mem_refused = false;
    return 0;
}

int hl_compile_only(const struct hl_conf *conf, char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    if (luaL_loadfilex(L, conf->script, "t") != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        rc = -1;
    }
    lua_close(L);
    return rc;
}

bool hl_state_recover(struct hl_state *hs, int status)
{
    if (status != LUA_ERRMEM && !hs->mem_refused)
        return true;
    lua_gc(hs->L, LUA_GCCOLLECT);
    hs->mem_refused = false;
    /* what the script keeps alive leaves too little room: start afresh */
    return !(hs->limit && hs->used > hs->limit / 4 * 3);
}
