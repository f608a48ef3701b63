/* json_libs.c - JSON parse and parse+re-encode rates of the Debian JSON libraries against the
 * json codec's own paths (simdjson or yajl callbacks -> sl_value tree -> encoder). Built and run by
 * bench/json_libs.sh; prints one line per case: "json_libs <case> <mode> <msgs/s>", the
 * rate per second of this thread's CPU time. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* jansson and json-c share symbol names (json_object_get...), so each is
 * built into its own program: -DWITH_JANSSON, -DWITH_JSONC, or neither for
 * the yajl cases and the codec. */
#if defined(WITH_JANSSON)
#include <jansson.h>
#elif defined(WITH_JSONC)
#include <json-c/json.h>
#else
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "json.h"
#endif

static char *corpus; /* lines, each NUL-terminated */
static size_t *offs, *lens;
static size_t nlines;
static volatile size_t sink; /* keeps results alive */
static int sluice_mode;      /* which codec case, see run_sluice() */

/* CPU time of this thread: the machine is shared, and waiting for a core is not work. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ~100-byte log-like records: ints, a double, strings, a bool, a nested map. */
static void make_corpus(size_t n)
{
    static const char *levels[] = {"info", "warn", "error", "debug"};
    static const char *verbs[] = {"GET", "POST", "PUT", "DELETE"};
    size_t cap = n * 160;
    corpus = malloc(cap);
    offs = malloc(n * sizeof(*offs));
    lens = malloc(n * sizeof(*lens));
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        int len = snprintf(corpus + at, cap - at,
                           "{\"ts\":%llu,\"lvl\":\"%s\",\"host\":\"web-%02u\",\"msg\":\"%s "
                           "/orders/%u\",\"ms\":%u.%02u,\"ok\":%s,\"user\":{\"id\":%u}}",
                           1732579200000ull + i, levels[r & 3], (unsigned)(r >> 8) % 64,
                           verbs[(r >> 4) & 3], (unsigned)(r >> 16) % 100000,
                           (unsigned)(r >> 32) % 500, (unsigned)(r >> 40) % 100,
                           (r >> 50) & 1 ? "true" : "false", (unsigned)(r >> 20) % 10000);
        offs[i] = at;
        lens[i] = (size_t)len;
        at += (size_t)len + 1;
    }
    nlines = n;
}

#if defined(WITH_JANSSON)
/* ---- jansson ---- */
static void run_jansson(bool enc)
{
    char buf[1024];
    for (size_t i = 0; i < nlines; i++) {
        json_t *j = json_loadb(corpus + offs[i], lens[i], 0, NULL);
        if (enc)
            sink += json_dumpb(j, buf, sizeof(buf), JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
    }
}

#elif defined(WITH_JSONC)
/* ---- json-c (one tokener reused) ---- */
static void run_jsonc(bool enc)
{
    struct json_tokener *tok = json_tokener_new();
    for (size_t i = 0; i < nlines; i++) {
        json_tokener_reset(tok);
        struct json_object *o = json_tokener_parse_ex(tok, corpus + offs[i], (int)lens[i]);
        if (enc) {
            size_t n;
            json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
            sink += n;
        }
        json_object_put(o);
    }
    json_tokener_free(tok);
}

#else
/* ---- yajl tree, re-encoded with yajl_gen ---- */
static void gen_tree(yajl_gen g, yajl_val v)
{
    if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            yajl_gen_string(g, (const unsigned char *)k, strlen(k));
            gen_tree(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            gen_tree(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_STRING(v)) {
        yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else {
        yajl_gen_null(g);
    }
}

static void run_yajl_tree(bool enc)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    for (size_t i = 0; i < nlines; i++) {
        yajl_val v = yajl_tree_parse(corpus + offs[i], NULL, 0);
        if (enc) {
            const unsigned char *out;
            size_t n;
            gen_tree(g, v);
            yajl_gen_get_buf(g, &out, &n);
            sink += n;
            yajl_gen_clear(g);
            yajl_gen_reset(g, NULL);
        }
        yajl_tree_free(v);
    }
    yajl_gen_free(g);
}

/* ---- yajl callbacks straight into yajl_gen (no tree: an upper bound for yajl) ---- */
static int g_null(void *c)
{
    return yajl_gen_null(c) == yajl_gen_status_ok;
}
static int g_bool(void *c, int b)
{
    return yajl_gen_bool(c, b) == yajl_gen_status_ok;
}
static int g_num(void *c, const char *s, size_t n)
{
    return yajl_gen_number(c, s, n) == yajl_gen_status_ok;
}
static int g_str(void *c, const unsigned char *s, size_t n)
{
    return yajl_gen_string(c, s, n) == yajl_gen_status_ok;
}
static int g_mo(void *c)
{
    return yajl_gen_map_open(c) == yajl_gen_status_ok;
}
static int g_mc(void *c)
{
    return yajl_gen_map_close(c) == yajl_gen_status_ok;
}
static int g_ao(void *c)
{
    return yajl_gen_array_open(c) == yajl_gen_status_ok;
}
static int g_ac(void *c)
{
    return yajl_gen_array_close(c) == yajl_gen_status_ok;
}
static const yajl_callbacks gen_cb = {g_null, g_bool, NULL, NULL, g_num, g_str,
                                      g_mo,   g_str,  g_mc, g_ao, g_ac};

static void run_yajl_stream(bool enc)
{
    (void)enc;
    yajl_gen g = yajl_gen_alloc(NULL);
    for (size_t i = 0; i < nlines; i++) {
        yajl_handle h = yajl_alloc(&gen_cb, NULL, g);
        yajl_parse(h, (const unsigned char *)corpus + offs[i], lens[i]);
        yajl_complete_parse(h);
        yajl_free(h);
        const unsigned char *out;
        size_t n;
        yajl_gen_get_buf(g, &out, &n);
        sink += n;
        yajl_gen_clear(g);
        yajl_gen_reset(g, NULL);
    }
    yajl_gen_free(g);
}

/* ---- the codec: yajl callbacks -> sl_value in a reused arena -> encoder ---- */
static struct json_opts opts, yajl_opts;

static void gen_value(yajl_gen g, const struct sl_value *v)
{
    char tmp[32];
    switch (v->type) {
    case SL_NULL:
        yajl_gen_null(g);
        break;
    case SL_BOOL:
        yajl_gen_bool(g, v->u.b);
        break;
    case SL_INT:
        yajl_gen_integer(g, v->u.i);
        break;
    case SL_DOUBLE:
        yajl_gen_number(g, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%.17g", v->u.d));
        break;
    case SL_STRING:
    case SL_BYTES:
        yajl_gen_string(g, (const unsigned char *)v->u.str, v->len);
        break;
    case SL_ARRAY:
        yajl_gen_array_open(g);
        for (uint32_t i = 0; i < v->len; i++)
            gen_value(g, &v->u.items[i]);
        yajl_gen_array_close(g);
        break;
    case SL_MAP:
        yajl_gen_map_open(g);
        for (uint32_t i = 0; i < v->len; i++) {
            yajl_gen_string(g, (const unsigned char *)v->u.members[i].key, v->u.members[i].key_len);
            gen_value(g, &v->u.members[i].value);
        }
        yajl_gen_map_close(g);
        break;
    }
}

/* sluice_mode: 1 yajl + own encoder, 2 yajl + yajl_gen encoder, 3 simdjson (auto) + own encoder */
static void run_sluice(bool enc)
{
    struct json_dec *d = json_dec_new(sluice_mode == 3 ? &opts : &yajl_opts);
    struct sl_arena arena = {0};
    struct sl_buf out = {0};
    yajl_gen g = yajl_gen_alloc(NULL);
    char err[200];
    for (size_t i = 0; i < nlines; i++) {
        struct sl_value v;
        if (json_decode(d, &arena, (const uint8_t *)corpus + offs[i], lens[i], &v, err,
                        sizeof(err)) < 0) {
            fprintf(stderr, "decode: %s\n", err);
            exit(1);
        }
        if (enc && sluice_mode != 2) {
            out.len = 0;
            json_encode(&opts, &v, &out, err, sizeof(err));
            sink += out.len;
        } else if (enc) {
            const unsigned char *o;
            size_t n;
            gen_value(g, &v);
            yajl_gen_get_buf(g, &o, &n);
            sink += n;
            yajl_gen_clear(g);
            yajl_gen_reset(g, NULL);
        }
        sl_arena_reset(&arena);
    }
    yajl_gen_free(g);
    sl_buf_free(&out);
    sl_arena_free(&arena);
    json_dec_free(d);
}
#endif

static double best_rate(void (*fn)(bool), bool enc, int runs)
{
    double best = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        fn(enc);
        double rate = nlines / (now() - t0);
        if (rate > best)
            best = rate;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    make_corpus(n);
    size_t total = 0;
    for (size_t i = 0; i < nlines; i++)
        total += lens[i];
    if (getenv("JSON_LIBS_HEADER")) {
        printf("# %zu lines, %.1f bytes/line avg, best of %d runs, msgs per CPU-second\n", nlines,
               (double)total / nlines, runs);
        printf("# sample: %s\n", corpus);
    }
    struct {
        const char *name;
        void (*fn)(bool);
        int mode;
        bool parse;
    } cases[] = {
#if defined(WITH_JANSSON)
        {"jansson", run_jansson, 0, true},
#elif defined(WITH_JSONC)
        {"json-c", run_jsonc, 0, true},
#else
        {"yajl-tree+yajl_gen", run_yajl_tree, 0, true},
        {"yajl-callbacks->yajl_gen(no-tree)", run_yajl_stream, 0, false},
        {"codec parser=yajl (yajl-cb->sl_value)", run_sluice, 1, true},
        {"codec parser=yajl, yajl_gen encoder", run_sluice, 2, false},
        {"codec parser=auto (simdjson->sl_value)", run_sluice, 3, true},
#endif
    };
#if !defined(WITH_JANSSON) && !defined(WITH_JSONC)
    json_opts_init(&opts);
    json_opts_init(&yajl_opts);
    yajl_opts.yajl_only = true;
#endif
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *only = getenv("JSON_LIBS_ONLY");
        if (only && !strstr(cases[c].name, only))
            continue;
        sluice_mode = cases[c].mode;
        double p = cases[c].parse ? best_rate(cases[c].fn, false, runs) : 0;
        double pe = best_rate(cases[c].fn, true, runs);
        if (cases[c].parse)
            printf("json_libs %-38s parse %10.0f\n", cases[c].name, p);
        printf("json_libs %-38s parse+encode %10.0f\n", cases[c].name, pe);
        fflush(stdout);
    }
#if !defined(WITH_JANSSON) && !defined(WITH_JSONC)
    json_opts_fini(&opts);
    json_opts_fini(&yajl_opts);
#endif
    return 0;
}
