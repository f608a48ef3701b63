/* codec_harness.h - drive a codec plugin from the build as the engine does: load it, give
 * it options, decode and encode messages; count mallocs. Included by one test each. */
#ifndef SLUICE_TEST_CODEC_HARNESS_H
#define SLUICE_TEST_CODEC_HARNESS_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* One configured codec with one worker. */
struct codec {
    struct sl_instance inst;
    config_t cfg;
    void *ctx;
    void *wctx;
};

static const struct sl_plugin *harness_load(const char *file, const char *name)
{
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/%s", SLUICE_TEST_PLUGIN_DIR, file);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return NULL;
    }
    const struct sl_plugin *p = dlsym(h, SL_PLUGIN_SYMBOL);
    if (!p || sl__plugin_check(p, file, SL_KIND_CODEC, name, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", file, p ? err : "no plugin symbol");
        return NULL;
    }
    return p;
}

static void codec_free_config(struct codec *c)
{
    sl_arena_free(&c->inst.arena);
    config_destroy(&c->cfg);
}

/* Options as "key", "value" pairs ending with NULL: "true"/"false" become
 * booleans, decimal numbers integers, the rest strings. They go through the
 * core's check of the options table, as a config file's would; then init.
 * Returns SL_ERROR when the table refuses a value, else the init status; on
 * SL_OK the worker is ready. */
static int codec_open_opts(struct codec *c, const struct sl_plugin *p, const char *const *kv)
{
    memset(c, 0, sizeof(*c));
    c->inst.plugin = p;
    c->inst.kind = SL_KIND_CODEC;
    c->inst.name = "codec-test";
    snprintf(c->inst.where, sizeof(c->inst.where), "test.conf:1");
    config_init(&c->cfg);
    config_setting_t *g =
        config_setting_add(config_root_setting(&c->cfg), "codec", CONFIG_TYPE_GROUP);
    for (size_t i = 0; kv && kv[i]; i += 2) {
        const char *k = kv[i], *v = kv[i + 1];
        char *end;
        long long num = strtoll(v, &end, 10);
        if (!strcmp(v, "true") || !strcmp(v, "false"))
            config_setting_set_bool(config_setting_add(g, k, CONFIG_TYPE_BOOL), v[0] == 't');
        else if (*v && !*end)
            config_setting_set_int64(config_setting_add(g, k, CONFIG_TYPE_INT64), num);
        else
            config_setting_set_string(config_setting_add(g, k, CONFIG_TYPE_STRING), v);
    }
    c->inst.setting = g;
    static const char *const common[] = {"type", NULL};
    if (sl__options_validate(&c->inst, common) < 0) {
        codec_free_config(c);
        return SL_ERROR;
    }
    int rc = p->init(&c->inst, &c->ctx);
    if (rc != SL_OK) {
        codec_free_config(c);
        return rc;
    }
    c->wctx = c->ctx; /* as the core does for a codec without worker_init */
    if (p->worker_init && p->worker_init(c->ctx, 0, &c->wctx) != SL_OK)
        return SL_ERROR;
    return SL_OK;
}

static void codec_close(struct codec *c)
{
    const struct sl_plugin *p = c->inst.plugin;
    if (p->worker_destroy)
        p->worker_destroy(c->wctx);
    p->destroy(c->ctx);
    codec_free_config(c);
    for (struct sl_counter *k = c->inst.counters, *next; k; k = next) {
        next = sl__counter_next(k);
        free(k);
    }
}

static void msg_clear(struct sl_msg *m)
{
    sl_buf_free(&m->payload);
    sl_buf_free(&m->out);
    sl_buf_free(&m->key);
    sl_arena_free(&m->arena);
    memset(m, 0, sizeof(*m));
}

/* Decodes bytes as a new message in m (arena and headers reset). */
static int codec_decode(struct codec *c, struct sl_msg *m, const void *data, size_t len, char *err,
                        size_t errlen)
{
    sl_arena_reset(&m->arena);
    m->record = NULL;
    m->headers = NULL;
    m->n_headers = m->headers_cap = 0;
    if (sl_buf_set(&m->payload, data, len) < 0)
        return SL_ERROR;
    err[0] = 0;
    return c->inst.plugin->decode(c->wctx, m, err, errlen);
}

/* Encodes m's record into m->out (emptied first). */
static int codec_encode(struct codec *c, struct sl_msg *m, char *err, size_t errlen)
{
    m->out.len = 0;
    err[0] = 0;
    return c->inst.plugin->encode(c->wctx, m, &m->out, err, errlen);
}

/* ---- a malloc counter: every allocation the process makes, plugins included ---- */
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_COUNTS_MALLOC 0 /* ASan owns malloc */
static unsigned long harness_mallocs;
#else
#define HARNESS_COUNTS_MALLOC 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static unsigned long harness_mallocs;
void *malloc(size_t n)
{
    __atomic_fetch_add(&harness_mallocs, 1, __ATOMIC_RELAXED);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t k)
{
    __atomic_fetch_add(&harness_mallocs, 1, __ATOMIC_RELAXED);
    return __libc_calloc(n, k);
}
void *realloc(void *p, size_t n)
{
    __atomic_fetch_add(&harness_mallocs, 1, __ATOMIC_RELAXED);
    return __libc_realloc(p, n);
}
#endif

/* Decodes m's payload and encodes the record n times (n > 1000), the way a
 * worker reuses one message. Fails the test on an error; after it, m->out holds
 * the last encoding. Returns the mallocs made after the first 1000 (warm-up);
 * the arena must not have grown either. */
static inline unsigned long codec_churn(struct codec *c, struct sl_msg *m, int n)
{
    const struct sl_plugin *p = c->inst.plugin;
    unsigned long before = 0;
    size_t arena_total = 0;
    char err[256];
    for (int i = 0; i < n; i++) {
        if (i == 1000) {
            before = harness_mallocs;
            arena_total = m->arena.total;
        }
        sl_arena_reset(&m->arena);
        m->record = NULL;
        if (p->decode(c->wctx, m, err, sizeof(err)) != SL_OK)
            fail_msg("decode %d: %s", i, err);
        m->out.len = 0;
        if (p->encode(c->wctx, m, &m->out, err, sizeof(err)) != SL_OK)
            fail_msg("encode %d: %s", i, err);
    }
    assert_int_equal(m->arena.total, arena_total);
    return harness_mallocs - before;
}

#endif
