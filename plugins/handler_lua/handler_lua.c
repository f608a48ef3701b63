/* handler_lua.c - the `lua` handler: user scripts in Lua 5.4, one lua_State per worker. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handler_lua.h"

#define ERR_MAX 1024

struct worker {
    struct hl_conf *conf;
    unsigned id;
    unsigned generation; /* of the script this state runs */
    struct hl_state *hs;
    struct hl_plan plan;
};

static const struct sl_option options[] = {
    {.name = "script",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "Lua 5.4 script defining process(msg) or process_batch(msgs), optionally init(conf); "
            "a relative path is tried from the working directory, then from the config's"},
    {.name = "memory_mb",
     .type = SL_OPT_INT,
     .def = "64",
     SL_RANGE(0, 1 << 20),
     .doc = "memory cap per worker's Lua state, MB (0: none)"},
    {.name = "max_instructions",
     .type = SL_OPT_INT,
     .def = "100000000",
     SL_AT_LEAST(0),
     .doc = "Lua instructions one call may run, per message (0: no limit)"},
    {.name = "max_cpu_ms",
     .type = SL_OPT_INT,
     .def = "2000",
     .check = SL_CHECK_DURATION_MS,
     SL_RANGE(0, 86400000),
     .doc = "CPU time one call may use, per message, ms (0: no limit)"},
    {.name = "max_outputs",
     .type = SL_OPT_INT,
     .def = "10000",
     SL_AT_LEAST(0),
     .doc = "messages one call may return, per message handled (0: no limit)"},
    {.name = "max_output_mb",
     .type = SL_OPT_INT,
     .def = "64",
     SL_RANGE(0, 1 << 20),
     .doc = "MB one call's returned messages may take after conversion (0: no limit)"},
    {.name = "sandbox",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "restrict the standard library (no os.execute, io.popen, binary chunks, ...)"},
    {.name = "allow_io",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "sandbox: allow writing files and stdio"},
    {.name = "allow_env", .type = SL_OPT_BOOL, .def = "false", .doc = "sandbox: allow os.getenv"},
    {.name = "lazy_record",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "msg.record reads fields on demand (false: a plain table built at first touch)"},
    {.name = "params",
     .type = SL_OPT_ANY,
     .doc = "free-form settings for the script (conf.params)"},
    {0},
};

static void conf_free(struct hl_conf *conf)
{
    if (!conf)
        return;
    free(conf->script);
    free(conf->dir);
    free(conf);
}

/* The script path as given, else relative to the config file's directory. */
static char *find_script(const struct sl_instance *inst, const char *script)
{
    if (script[0] == '/' || access(script, R_OK) == 0)
        return strdup(script);
    const char *where = sl_instance_where(inst);
    if (!where)
        return strdup(script);
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s", where);
    char *colon = strrchr(cfg, ':');
    if (colon)
        *colon = 0;
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dirname(cfg), script);
    return strdup(access(path, R_OK) == 0 ? path : script);
}

/* A fresh state running the current script, or NULL (error logged). */
static struct hl_state *new_loaded_state(struct hl_conf *conf, unsigned worker)
{
    struct hl_state *hs = hl_state_new(conf);
    if (!hs) {
        sl_log(conf->inst, SL_LOG_ERROR, "worker %u: cannot create a Lua state", worker);
        return NULL;
    }
    char err[ERR_MAX];
    if (hl_state_load(hs, sl_instance_config(conf->inst), err, sizeof err) != 0) {
        sl_instance_error(conf->inst, "%s", err);
        hl_state_free(hs);
        return NULL;
    }
    return hs;
}

static int lua_init(struct sl_instance *inst, void **ctx)
{
    struct hl_conf *conf = calloc(1, sizeof *conf);
    if (!conf)
        return SL_ERROR;
    conf->inst = inst;
    conf->script = find_script(inst, sl_opt_str(inst, "script"));
    int64_t mb = sl_opt_int(inst, "memory_mb");
    int64_t cpu_ms = sl_opt_int(inst, "max_cpu_ms");
    conf->max_instructions = sl_opt_int(inst, "max_instructions");
    /* the options table bounds every limit (>= 0, the MB counts to 1 TiB) */
    conf->max_outputs = sl_opt_int(inst, "max_outputs");
    conf->max_output_bytes = (size_t)sl_opt_int(inst, "max_output_mb") << 20;
    conf->mem_limit = (size_t)mb << 20;
    conf->max_cpu_ns = cpu_ms * 1000000;
    conf->sandbox = sl_opt_bool(inst, "sandbox");
    conf->allow_io = sl_opt_bool(inst, "allow_io");
    conf->allow_env = sl_opt_bool(inst, "allow_env");
    conf->lazy_record = sl_opt_bool(inst, "lazy_record");
    atomic_init(&conf->generation, 0);

    char tmp[PATH_MAX], real[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", conf->script);
    if (!conf->script || !realpath(dirname(tmp), real)) {
        sl_instance_error(inst, "script %s: %s", conf->script ? conf->script : "?",
                          strerror(errno));
        goto out_free;
    }
    conf->dir = strdup(real);
    char err[ERR_MAX];
    if (hl_compile_only(conf, err, sizeof err) != 0) {
        sl_instance_error(inst, "%s", err);
        goto out_free;
    }
    /* A sandboxed script cannot touch anything outside its state, so running
     * its main chunk and init() once here is safe even at --check, and finds
     * what compiling cannot (an error at load, no process function) before
     * any worker starts. */
    if (conf->sandbox && !conf->allow_io) {
        struct hl_state *trial = new_loaded_state(conf, 0);
        if (!trial)
            goto out_free;
        hl_state_free(trial);
    }
    *ctx = conf;
    return SL_OK;
out_free:
    conf_free(conf);
    return SL_ERROR;
}

static void lua_destroy(void *ctx)
{
    conf_free(ctx);
}

static int lua_worker_init(void *ctx, unsigned worker, void **wctx)
{
    struct hl_conf *conf = ctx;
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return SL_ERROR;
    w->conf = conf;
    w->id = worker;
    w->generation = atomic_load(&conf->generation);
    w->hs = new_loaded_state(conf, worker);
    if (!w->hs) {
        free(w);
        return SL_ERROR;
    }
    *wctx = w;
    return SL_OK;
}

static void lua_worker_destroy(void *wctx)
{
    struct worker *w = wctx;
    if (!w)
        return;
    hl_state_free(w->hs);
    hl_plan_free(&w->plan);
    free(w);
}

/* SIGHUP: check that the new script compiles, then let every worker switch
 * at the start of its next batch. */
static void lua_reload(void *ctx)
{
    struct hl_conf *conf = ctx;
    char err[ERR_MAX];
    if (hl_compile_only(conf, err, sizeof err) != 0) {
        sl_log(conf->inst, SL_LOG_ERROR, "reload: %s (keeping the running script)", err);
        return;
    }
    atomic_fetch_add(&conf->generation, 1);
    sl_log(conf->inst, SL_LOG_INFO, "reloading %s", conf->script);
}

static void maybe_reload(struct worker *w)
{
    unsigned gen = atomic_load_explicit(&w->conf->generation, memory_order_acquire);
    if (gen == w->generation)
        return;
    w->generation = gen;
    struct hl_state *hs = new_loaded_state(w->conf, w->id);
    if (!hs) {
        sl_log(w->conf->inst, SL_LOG_ERROR, "worker %u: reload failed, keeping the old script",
               w->id);
        return;
    }
    hl_state_free(w->hs);
    w->hs = hs;
    sl_log(w->conf->inst, SL_LOG_DEBUG, "worker %u: script reloaded", w->id);
}

/* Records were decoded on another core: start pulling the next one's arena
 * (where its tree lives) into this core's cache while this one runs. */
static void prefetch_msg(const struct sl_msg *m)
{
    const char *end = m->arena.ptr;
    if (!end || !m->record)
        return;
    size_t used = m->arena.total - (size_t)(m->arena.end - m->arena.ptr);
    if (used > 4096)
        used = 4096;
    for (const char *p = end - used; p < end; p += 64)
        __builtin_prefetch(p);
}

/* Protected: process_batch(msgs) for every p->origs. */
static int call_batch(lua_State *L)
{
    struct hl_plan *p = lua_touserdata(L, 1);
    struct hl_state *hs = hl_state_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_anchor); /* 2 */
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_batch);  /* 3 */
    lua_createtable(L, (int)p->n_origs, 0);
    for (size_t i = 0; i < p->n_origs; i++) {
        hl_msg_push(L, p, i);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 2, (lua_Integer)i + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_call(L, 1, 1);
    hl_plan_outputs(L, 3, p);
    return 0;
}

static void replace_state(struct worker *w)
{
    struct hl_state *hs = new_loaded_state(w->conf, w->id);
    if (!hs)
        return; /* keep the old one; it still works, only with less room */
    sl_log(w->conf->inst, SL_LOG_WARN, "worker %u: Lua state near its memory cap, recreated",
           w->id);
    hl_state_free(w->hs);
    w->hs = hs;
}

/* Emits the outputs of a successful call and releases the dropped originals. */
static void carry_out(struct hl_plan *p, struct sl_emitter *e)
{
    for (size_t i = 0; i < p->n_out; i++)
        sl_emit(e, p->out[i]);
    for (size_t i = 0; i < p->n_origs; i++)
        if (!hl_plan_is_out(p, i))
            sl_msg_release(p->origs[i]); /* dropped: acked once its children are */
}

/* After a failed call: fails msgs[0..n) with the error at the top of the stack. */
static void fail_call(struct worker *w, int st, int base, struct sl_msg **msgs, size_t n,
                      struct sl_emitter *e)
{
    struct hl_state *hs = w->hs;
    struct hl_plan *p = &w->plan;
    char err[ERR_MAX];
    hl_error_text(hs, st, err, sizeof err);
    lua_settop(hs->L, base);
    for (size_t i = 0; i < p->n_derived; i++)
        sl_msg_release(p->derived[i]);
    for (size_t i = 0; i < n; i++)
        sl_fail(e, msgs[i], err);
    if (!hl_state_recover(hs, st))
        replace_state(w);
}

/* One protected call of process_batch over msgs; then emits, drops or fails them. */
static void run_batch(struct worker *w, struct sl_msg **msgs, size_t n, struct sl_emitter *e)
{
    struct hl_state *hs = w->hs;
    struct hl_plan *p = &w->plan;
    lua_State *L = hs->L;
    if (hl_plan_reset(p, msgs, n) != 0) {
        for (size_t i = 0; i < n; i++)
            sl_fail(e, msgs[i], "handler_lua: out of memory");
        return;
    }
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_traceback);
    lua_pushcfunction(L, call_batch);
    lua_pushlightuserdata(L, p);
    hl_budget_start(hs, n);
    int st = lua_pcall(L, 1, 0, base + 1);
    hs->call_id++; /* message objects of this call expire */
    if (st == LUA_OK) {
        lua_settop(L, base);
        carry_out(p, e);
        return;
    }
    fail_call(w, st, base, msgs, n, e);
}

/* process(msg) over msgs[next..n), one call per message but all inside one
 * protected call (entering one costs more than a small script's work): each
 * message's outputs go out as soon as its call returns, and an error ends
 * the protected call at msgs[next], the message that failed. */
struct singles {
    struct hl_plan *p;
    struct sl_msg **msgs;
    size_t n, next;
    struct sl_emitter *e;
};

/* Protected: the loop of run_singles. Stack: 1 struct singles. */
static int call_singles(lua_State *L)
{
    struct singles *r = lua_touserdata(L, 1);
    struct hl_state *hs = hl_state_of(L);
    struct hl_plan *p = r->p;
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_process); /* 2 */
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_anchor);  /* 3 */
    for (; r->next < r->n; r->next++) {
        size_t i = r->next;
        if (i + 2 < r->n)
            __builtin_prefetch(r->msgs[i + 2]);
        if (i + 1 < r->n)
            prefetch_msg(r->msgs[i + 1]);
        hl_plan_reset(p, &r->msgs[i], 1); /* cannot fail: run_singles made room */
        hl_budget_start(hs, 1);
        lua_pushvalue(L, 2);
        hl_msg_push(L, p, 0);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 3, 1);
        hs->current = r->msgs[i];
        lua_call(L, 1, 1);
        hs->current = NULL;
        hl_plan_outputs(L, 4, p); /* the anchor sits just below the result */
        hs->call_id++;            /* message objects of this call expire */
        lua_settop(L, 3);
        carry_out(p, r->e);
    }
    return 0;
}

static void run_singles(struct worker *w, struct sl_msg **msgs, size_t n, struct sl_emitter *e)
{
    if (hl_plan_reset(&w->plan, msgs, 1) != 0) {
        for (size_t i = 0; i < n; i++)
            sl_fail(e, msgs[i], "handler_lua: out of memory");
        return;
    }
    struct singles r = {&w->plan, msgs, n, 0, e};
    if (n)
        prefetch_msg(msgs[0]);
    while (r.next < n) {
        struct hl_state *hs = w->hs; /* replaced after a failure near the memory cap */
        lua_State *L = hs->L;
        int base = lua_gettop(L);
        lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref_traceback);
        lua_pushcfunction(L, call_singles);
        lua_pushlightuserdata(L, &r);
        int st = lua_pcall(L, 1, 0, base + 1);
        hs->current = NULL; /* an error left call_singles inside the call */
        if (st == LUA_OK) {
            lua_settop(L, base);
            return;
        }
        hs->call_id++;
        fail_call(w, st, base, &msgs[r.next], 1, e);
        r.next++;
    }
}

static int lua_process(void *wctx, struct sl_msg **msgs, size_t n, struct sl_emitter *e)
{
    struct worker *w = wctx;
    maybe_reload(w);
    if (w->hs->ref_batch != LUA_NOREF) {
        for (size_t i = 0; i < n && i < 64; i++)
            prefetch_msg(msgs[i]);
        run_batch(w, msgs, n, e);
    } else {
        run_singles(w, msgs, n, e);
    }
    return SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_HANDLER,
    .name = "lua",
    .version = "0.1.0",
    .doc = "Lua 5.4 scripts: process(msg) or process_batch(msgs), sandboxed, reloadable",
    .options = options,
    .init = lua_init,
    .destroy = lua_destroy,
    .worker_init = lua_worker_init,
    .worker_destroy = lua_worker_destroy,
    .reload = lua_reload,
    .process = lua_process,
};
