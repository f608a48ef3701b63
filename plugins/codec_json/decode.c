/* decode.c - JSON text to an sl_value tree: yajl's callback parser builds it directly. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "json.h"
#include "json_space.h"

#define SCRATCH_INIT (16u * 1024u)
#define STACK_INIT   64u

/* An open array or map: its elements sit on the stack from `start` up. */
struct frame {
    uint32_t start;
    bool is_map;
};

struct json_dec {
    const struct json_opts *o;
    struct json_simd *simd; /* fast path, NULL when not built in or not wanted */
    struct json_scratch scratch;
    yajl_alloc_funcs af;
    /* Elements of open containers; a map's slot gets its key first. Reused. */
    struct sl_member *stack;
    size_t top, cap;
    struct frame *frames;
    size_t depth, frames_cap;
    /* The parse in progress. */
    yajl_handle h;
    struct sl_arena *arena;
    const uint8_t *text;
    size_t len;
    struct sl_value root;
    char *err;
    size_t errlen;
    bool failed;
    bool finishing; /* inside yajl_complete_parse: positions are past the end */
    bool used_fast_path;
};

static int fail(struct json_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records our own error (the first one wins) and cancels the parse. */
static int fail(struct json_dec *d, const char *fmt, ...)
{
    if (!d->failed && d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    d->failed = true;
    return 0;
}

/* Byte offset of the parse in the payload, for messages. */
static size_t where(const struct json_dec *d)
{
    return d->finishing ? d->len : yajl_get_bytes_consumed(d->h);
}

static int grow_stack(struct json_dec *d)
{
    size_t cap = d->cap ? d->cap * 2 : STACK_INIT;
    struct sl_member *s = realloc(d->stack, cap * sizeof(*s));
    if (!s)
        return fail(d, "json: out of memory");
    d->stack = s;
    d->cap = cap;
    return 1;
}

static int add_value(struct json_dec *d, const struct sl_value *v)
{
    if (d->depth == 0) {
        d->root = *v;
        return 1;
    }
    if (d->frames[d->depth - 1].is_map) {
        d->stack[d->top - 1].value = *v; /* its key came first */
        return 1;
    }
    if (d->top == d->cap && !grow_stack(d))
        return 0;
    d->stack[d->top++].value = *v;
    return 1;
}

static int on_null(void *ctx)
{
    struct sl_value v = {.type = SL_NULL};
    return add_value(ctx, &v);
}

static int on_bool(void *ctx, int b)
{
    struct sl_value v = {.type = SL_BOOL, .u.b = b != 0};
    return add_value(ctx, &v);
}

static const double pow10s[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Clinger's fast path: with at most 15 significant digits the digits form an
 * exact double m, 10^|e| is exact up to 10^22, and one IEEE multiply or
 * divide rounds correctly - the same result strtod gives, much faster. */
static bool fast_double(const char *s, size_t n, double *out)
{
    const char *p = s, *end = s + n;
    bool neg = *p == '-';
    uint64_t m = 0;
    int digits = 0, exp10 = 0;

    p += neg;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (m || *p != '0')
            digits++;
        m = m * 10 + (uint64_t)(*p - '0');
        if (digits > 15)
            return false;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (m || *p != '0')
                digits++;
            m = m * 10 + (uint64_t)(*p - '0');
            exp10--;
            if (digits > 15)
                return false;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = *p == '-';
        p += *p == '-' || *p == '+';
        int e = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            e = e * 10 + (*p - '0');
            if (e > 1000)
                return false;
        }
        exp10 += eneg ? -e : e;
    }
    if (p != end || exp10 < -22 || exp10 > 22)
        return false;
    double d = (double)m;
    d = exp10 < 0 ? d / pow10s[-exp10] : d * pow10s[exp10];
    *out = neg ? -d : d;
    return true;
}

/* Integers stay int64; anything with a fraction, an exponent or out of
 * int64 range becomes a double. yajl has checked the JSON number grammar. */
static int on_number(void *ctx, const char *s, size_t n)
{
    struct json_dec *d = ctx;
    struct sl_value v = {.type = SL_INT};
    bool neg = s[0] == '-';
    size_t i = neg;
    uint64_t u = 0;

    if (n - i <= 19) {
        for (; i < n; i++) {
            unsigned c = (unsigned char)s[i] - '0';
            if (c > 9)
                break;
            u = u * 10 + c; /* 19 digits fit in uint64 */
        }
        if (i == n && (u <= (uint64_t)INT64_MAX || (neg && u == (uint64_t)INT64_MAX + 1))) {
            v.type = SL_INT;
            v.u.i = neg ? (int64_t)(0 - u) : (int64_t)u;
            return add_value(d, &v);
        }
    }
    if (fast_double(s, n, &v.u.d)) {
        v.type = SL_DOUBLE;
        return add_value(d, &v);
    }
    char small[64];
    char *buf = n < sizeof(small) ? small : json_scratch_alloc(&d->scratch, n + 1);
    if (!buf)
        return fail(d, "json: out of memory");
    memcpy(buf, s, n);
    buf[n] = '\0';
    v.type = SL_DOUBLE;
    v.u.d = strtod_l(buf, NULL, d->o->c_locale);
    if (isinf(v.u.d))
        return fail(d, "json: number out of range at byte %zu", where(d));
    return add_value(d, &v);
}

/* The raw text of the string token yajl just read: it ends at the closing
 * quote right before the parse position; its opening quote is the first
 * quote before that not preceded by an odd number of backslashes. */
static void raw_string(const struct json_dec *d, const uint8_t **b, const uint8_t **e)
{
    const uint8_t *end = d->text + where(d) - 1;
    const uint8_t *q = end - 1;

    for (; q > d->text; q--) {
        if (*q != '"')
            continue;
        const uint8_t *k = q;
        while (k > d->text && k[-1] == '\\')
            k--;
        if ((q - k) % 2 == 0)
            break;
    }
    *b = q + 1;
    *e = end;
}

static unsigned hex4(const uint8_t *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* yajl decodes a lone surrogate escape to "?" (eating the next character)
 * or pairs it with whatever \u follows; refuse those instead. */
static int check_escapes(struct json_dec *d)
{
    const uint8_t *p, *e;

    raw_string(d, &p, &e);
    for (; p < e; p++) {
        if (*p != '\\')
            continue;
        if (p[1] != 'u') {
            p++;
            continue;
        }
        unsigned cp = hex4(p + 2);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (e - p >= 12 && p[6] == '\\' && p[7] == 'u') {
                unsigned lo = hex4(p + 8);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    p += 11;
                    continue;
                }
            }
        } else if (cp < 0xDC00 || cp > 0xDFFF) {
            p += 5;
            continue;
        }
        return fail(d, "json: unpaired UTF-16 surrogate escape at byte %zu", (size_t)(p - d->text));
    }
    return 1;
}

/* Validates a decoded string or key and copies it into the arena. */
static const char *take_string(struct json_dec *d, const unsigned char *s, size_t n)
{
    if (n > UINT32_MAX) {
        fail(d, "json: string too long at byte %zu", where(d));
        return NULL;
    }
    /* A pointer outside the payload means yajl unescaped into its own buffer. */
    if ((s < d->text || s > d->text + d->len) && !check_escapes(d))
        return NULL;
    if (!utf8_valid(s, n)) {
        fail(d, "json: invalid UTF-8 in string at byte %zu", where(d));
        return NULL;
    }
    char *c = sl_arena_strndup(d->arena, (const char *)s, n);
    if (!c)
        fail(d, "json: out of memory");
    return c;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    struct json_dec *d = ctx;
    const char *c = take_string(d, s, n);
    if (!c)
        return 0;
    struct sl_value v = {.type = SL_STRING, .len = (uint32_t)n, .u.str = c};
    return add_value(d, &v);
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
    struct json_dec *d = ctx;
    const char *c = take_string(d, s, n);
    if (!c)
        return 0;
    if (d->top == d->cap && !grow_stack(d))
        return 0;
    struct sl_member *m = &d->stack[d->top++];
    m->key = c;
    m->key_len = (uint32_t)n;
    m->value = (struct sl_value){.type = SL_NULL};
    return 1;
}

static int open_container(struct json_dec *d, bool is_map)
{
    if (d->depth >= (size_t)d->o->max_depth)
        return fail(d, "json: nesting deeper than max_depth (%d) at byte %zu", d->o->max_depth,
                    where(d));
    if (d->depth == d->frames_cap) {
        size_t cap = d->frames_cap ? d->frames_cap * 2 : 32;
        struct frame *f = realloc(d->frames, cap * sizeof(*f));
        if (!f)
            return fail(d, "json: out of memory");
        d->frames = f;
        d->frames_cap = cap;
    }
    d->frames[d->depth].start = (uint32_t)d->top;
    d->frames[d->depth].is_map = is_map;
    d->depth++;
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, true);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, false);
}

/* Moves the closed container's elements from the stack into one
 * exactly-sized arena block. */
static int close_container(struct json_dec *d)
{
    struct frame f = d->frames[--d->depth];
    size_t n = d->top - f.start;
    struct sl_value v = {.type = f.is_map ? SL_MAP : SL_ARRAY, .len = (uint32_t)n};

    if (n > UINT32_MAX)
        return fail(d, "json: container too large at byte %zu", where(d));
    if (f.is_map) {
        v.u.members = NULL;
        if (n) {
            v.u.members = sl_arena_alloc(d->arena, n * sizeof(struct sl_member));
            if (!v.u.members)
                return fail(d, "json: out of memory");
            memcpy(v.u.members, d->stack + f.start, n * sizeof(struct sl_member));
        }
    } else {
        v.u.items = NULL;
        if (n) {
            v.u.items = sl_arena_alloc(d->arena, n * sizeof(struct sl_value));
            if (!v.u.items)
                return fail(d, "json: out of memory");
            for (size_t i = 0; i < n; i++)
                v.u.items[i] = d->stack[f.start + i].value;
        }
    }
    d->top = f.start;
    return add_value(d, &v);
}

static int on_end(void *ctx)
{
    return close_container(ctx);
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

struct json_dec *json_dec_new(const struct json_opts *o)
{
    struct json_dec *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->o = o;
#ifdef JSON_HAVE_SIMDJSON
    if (!o->yajl_only && !(d->simd = json_simd_new(o->max_depth))) {
        json_dec_free(d);
        return NULL;
    }
#endif
    if (json_scratch_init(&d->scratch, SCRATCH_INIT) < 0) {
        json_dec_free(d);
        return NULL;
    }
    d->af.malloc = json_scratch_alloc;
    d->af.realloc = json_scratch_realloc;
    d->af.free = json_scratch_free;
    d->af.ctx = &d->scratch;
    return d;
}

void json_dec_free(struct json_dec *d)
{
    if (!d)
        return;
#ifdef JSON_HAVE_SIMDJSON
    json_simd_free(d->simd);
#endif
    json_scratch_destroy(&d->scratch);
    free(d->stack);
    free(d->frames);
    free(d);
}

bool json_dec_used_fast_path(const struct json_dec *d)
{
    return d->used_fast_path;
}

/* yajl's one-line error text without its "parse error: " prefix and newline. */
static void yajl_message(struct json_dec *d, size_t at, char *err, size_t errlen)
{
    unsigned char *s = yajl_get_error(d->h, 0, d->text, d->len);
    const char *t = s ? (const char *)s : "invalid JSON";
    const char *colon = strstr(t, "error: ");
    if (colon)
        t = colon + 7;
    size_t n = strcspn(t, "\r\n");
    snprintf(err, errlen, "json: parse error at byte %zu: %.*s", at, (int)n, t);
    if (s)
        yajl_free_error(d->h, s);
}

int json_decode(struct json_dec *d, struct sl_arena *arena, const uint8_t *text, size_t len,
                struct sl_value *out, char *err, size_t errlen)
{
    static const uint8_t empty[1] = "";
    int rc = -1;

    d->used_fast_path = false;
    if (len == 0) {
        snprintf(err, errlen, "json: empty payload");
        return -1;
    }
    if (len > UINT32_MAX) { /* lengths and counts in the tree are 32-bit */
        snprintf(err, errlen, "json: payload too large (%zu bytes)", len);
        return -1;
    }
    if (!text)
        text = empty;
#ifdef JSON_HAVE_SIMDJSON
    /* simdjson takes what it can (nearly everything valid, ~2.5x faster);
     * the rest - errors, integers past 64 bits - goes through yajl below. */
    if (d->simd && json_simd_decode(d->simd, arena, text, len, out) == 0) {
        d->used_fast_path = true;
        return 0;
    }
#endif
    const uint8_t *bad = json_bad_space(text, len);
    if (bad) {
        snprintf(err, errlen, "json: parse error at byte %zu: byte 0x%02x is not JSON whitespace",
                 (size_t)(bad - text), *bad);
        return -1;
    }
    d->arena = arena;
    d->text = text;
    d->len = len;
    d->err = err;
    d->errlen = errlen;
    d->failed = false;
    d->finishing = false;
    d->top = 0;
    d->depth = 0;
    d->root.type = SL_NULL;
    d->h = yajl_alloc(&callbacks, &d->af, d);
    if (!d->h) {
        snprintf(err, errlen, "json: out of memory");
        goto out;
    }
    /* Defaults are what we want: strings validated, no comments, no
     * trailing garbage, one value only. */
    yajl_status st = yajl_parse(d->h, text, len);
    size_t at = yajl_get_bytes_consumed(d->h);
    if (st == yajl_status_ok) {
        d->finishing = true;
        st = yajl_complete_parse(d->h);
        at = len;
    }
    if (st == yajl_status_ok && !d->failed) {
        *out = d->root;
        rc = 0;
    } else if (!d->failed) {
        yajl_message(d, at, err, errlen);
    }
    yajl_free(d->h);
out:
    d->h = NULL;
    d->arena = NULL;
    json_scratch_reset(&d->scratch);
    return rc;
}
