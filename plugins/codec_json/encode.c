/* encode.c - an sl_value tree to compact JSON text (a small encoder: faster than yajl_gen,
 * which also stops at 128 levels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "json.h"

struct enc {
    const struct json_opts *o;
    struct sl_buf *b;
    char *err;
    size_t errlen;
};

int json_opts_init(struct json_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_depth = JSON_DEFAULT_MAX_DEPTH;
    o->bytes = JSON_BYTES_BASE64;
    o->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return o->c_locale ? 0 : -1;
}

void json_opts_fini(struct json_opts *o)
{
    if (o->c_locale)
        freelocale(o->c_locale);
    o->c_locale = (locale_t)0;
}

/* Room for n more bytes at b->data + b->len. */
static inline int room(struct enc *e, size_t n)
{
    if (e->b->cap - e->b->len >= n)
        return 0;
    if (sl_buf_reserve(e->b, n) < 0) {
        snprintf(e->err, e->errlen, "json: out of memory");
        return -1;
    }
    return 0;
}

static inline int put(struct enc *e, const void *p, size_t n)
{
    if (room(e, n) < 0)
        return -1;
    memcpy(e->b->data + e->b->len, p, n);
    e->b->len += n;
    return 0;
}

static inline int putc1(struct enc *e, char c)
{
    if (room(e, 1) < 0)
        return -1;
    e->b->data[e->b->len++] = (uint8_t)c;
    return 0;
}

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* Writes u in decimal right-aligned ending at end, two digits a step; returns the start. */
static char *utoa_rev(uint64_t u, char *end)
{
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        end -= 2;
        memcpy(end, digits2 + 2 * r, 2);
    }
    if (u >= 10) {
        end -= 2;
        memcpy(end, digits2 + 2 * u, 2);
    } else {
        *--end = (char)('0' + u);
    }
    return end;
}

static int put_int(struct enc *e, int64_t i)
{
    char tmp[24], *end = tmp + sizeof(tmp);
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    char *s = utoa_rev(u, end);
    if (i < 0)
        *--s = '-';
    return put(e, s, (size_t)(end - s));
}

static const double pow10s[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};

/* Short decimal forms for common doubles ("12.5", "3.0", "0.001"): the
 * smallest k for which the integer m = round(|d| * 10^k) < 2^53 gives back d
 * as m / 10^k. Both are exact, so that division rounds exactly as a reader
 * of the text "m with k decimals" will: the text round-trips. */
static int fast_double(double d, char *buf)
{
    double a = fabs(d);
    if (!(a < 9007199254740992.0) || (a != 0 && a < 1e-4)) /* small: %g's exponent form */
        return 0;
    for (int k = 0; k <= 8; k++) {
        double m = nearbyint(a * pow10s[k]);
        if (m >= 9007199254740992.0)
            return 0;
        if (m / pow10s[k] != a)
            continue;
        char tmp[40], *end = tmp + sizeof(tmp);
        char *s = utoa_rev((uint64_t)m, end);
        while (end - s < k + 1)
            *--s = '0';
        char *o = buf;
        if (signbit(d))
            *o++ = '-';
        size_t ip = (size_t)(end - s) - (size_t)k;
        memcpy(o, s, ip);
        o += ip;
        *o++ = '.';
        if (k) {
            memcpy(o, s + ip, (size_t)k);
            o += k;
        } else {
            *o++ = '0';
        }
        return (int)(o - buf);
    }
    return 0;
}

/* Shortest of %.15g, %.16g, %.17g that reads back as d; always keeps a '.'
 * or an exponent so the value stays a double when decoded again. */
static int put_double(struct enc *e, double d)
{
    char buf[48];
    int n;

    if (!isfinite(d)) {
        snprintf(e->err, e->errlen, "json: cannot encode %s (not a JSON number)",
                 isnan(d) ? "NaN" : "infinity");
        return -1;
    }
    n = fast_double(d, buf);
    if (!n) {
        locale_t old = uselocale(e->o->c_locale);
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(buf, sizeof(buf) - 2, "%.*g", prec, d);
            if (prec == 17 || strtod(buf, NULL) == d)
                break;
        }
        uselocale(old);
        if (!strpbrk(buf, ".eE")) {
            buf[n++] = '.';
            buf[n++] = '0';
        }
    }
    return put(e, buf, (size_t)n);
}

/* 0: copy; 1: escape; 2: start of a multi-byte sequence to check. */
static const uint8_t klass[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static const char hexd[] = "0123456789abcdef";

/* True when one of the 8 bytes in w needs a look: a control character, '"', '\\' or a
 * byte >= 0x80 (SWAR: a byte is zero / below n iff its high bit survives). */
static inline bool word_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t ctrl = (w - 0x20 * ones) & ~w;
    uint64_t quote = w ^ (0x22 * ones), bslash = w ^ (0x5C * ones);
    quote = (quote - ones) & ~quote;
    bslash = (bslash - ones) & ~bslash;
    return ((ctrl | quote | bslash | w) & high) != 0;
}

/* A JSON string. Well-formed UTF-8 is copied; a byte that is not part of
 * well-formed UTF-8 is written as \u00XX (its Latin-1 reading), so the output
 * is always valid JSON. Room for the plain copy is made once; escapes make more. */
static int put_string(struct enc *e, const uint8_t *s, size_t n)
{
    const uint8_t *p = s, *end = s + n;

    if (room(e, n + 2) < 0)
        return -1;
    uint8_t *o = e->b->data + e->b->len;
    *o++ = '"';
    for (;;) {
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (word_special(w))
                break;
            memcpy(o, &w, 8);
            o += 8;
            p += 8;
        }
        while (p < end && !klass[*p])
            *o++ = *p++;
        if (p == end)
            break;
        if (klass[*p] == 2) {
            size_t k = utf8_seq(p, (size_t)(end - p));
            if (k) {
                memcpy(o, p, k); /* same size in and out: already made room */
                o += k;
                p += k;
                continue;
            }
        }
        char esc[6] = {'\\', 0};
        size_t el = 2;
        switch (*p) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hexd[*p >> 4];
            esc[5] = hexd[*p & 15];
            el = 6;
        }
        /* The escape needs el bytes where 1 was planned, plus the rest and the quote. */
        e->b->len = (size_t)(o - e->b->data);
        if (room(e, el + (size_t)(end - p)) < 0)
            return -1;
        o = e->b->data + e->b->len;
        memcpy(o, esc, el);
        o += el;
        p++;
    }
    *o++ = '"';
    e->b->len = (size_t)(o - e->b->data);
    return 0;
}

static int put_base64(struct enc *e, const uint8_t *s, size_t n)
{
    if (room(e, base64_encoded_len(n) + 2) < 0)
        return -1;
    uint8_t *o = e->b->data + e->b->len;
    *o++ = '"';
    o = (uint8_t *)base64_encode((char *)o, s, n);
    *o++ = '"';
    e->b->len = (size_t)(o - e->b->data);
    return 0;
}

static int newline(struct enc *e, int depth)
{
    if (!e->o->pretty)
        return 0;
    size_t n = 1 + 2 * (size_t)depth;
    if (room(e, n) < 0)
        return -1;
    uint8_t *o = e->b->data + e->b->len;
    o[0] = '\n';
    memset(o + 1, ' ', n - 1);
    e->b->len += n;
    return 0;
}

static int put_value(struct enc *e, const struct sl_value *v, int depth)
{
    switch (v->type) {
    case SL_NULL:
        return put(e, "null", 4);
    case SL_BOOL:
        return v->u.b ? put(e, "true", 4) : put(e, "false", 5);
    case SL_INT:
        return put_int(e, v->u.i);
    case SL_DOUBLE:
        return put_double(e, v->u.d);
    case SL_STRING:
        return put_string(e, (const uint8_t *)v->u.str, v->len);
    case SL_BYTES:
        if (e->o->bytes == JSON_BYTES_TEXT)
            return put_string(e, (const uint8_t *)v->u.str, v->len);
        return put_base64(e, (const uint8_t *)v->u.str, v->len);
    case SL_ARRAY:
    case SL_MAP:
        break;
    default:
        snprintf(e->err, e->errlen, "json: cannot encode value of type %u", v->type);
        return -1;
    }
    bool map = v->type == SL_MAP;
    if (depth >= e->o->max_depth) {
        snprintf(e->err, e->errlen, "json: record nested deeper than max_depth (%d)",
                 e->o->max_depth);
        return -1;
    }
    if (putc1(e, map ? '{' : '[') < 0)
        return -1;
    for (uint32_t i = 0; i < v->len; i++) {
        if (i && putc1(e, ',') < 0)
            return -1;
        if (newline(e, depth + 1) < 0)
            return -1;
        const struct sl_value *item;
        if (map) {
            const struct sl_member *m = &v->u.members[i];
            if (put_string(e, (const uint8_t *)m->key, m->key_len) < 0)
                return -1;
            if (e->o->pretty ? put(e, ": ", 2) < 0 : putc1(e, ':') < 0)
                return -1;
            item = &m->value;
        } else {
            item = &v->u.items[i];
        }
        if (put_value(e, item, depth + 1) < 0)
            return -1;
    }
    if (v->len && newline(e, depth) < 0)
        return -1;
    return putc1(e, map ? '}' : ']');
}

int json_encode(const struct json_opts *o, const struct sl_value *v, struct sl_buf *out, char *err,
                size_t errlen)
{
    struct enc e = {.o = o, .b = out, .err = err, .errlen = errlen};
    size_t mark = out->len;

    if (put_value(&e, v, 0) < 0) {
        out->len = mark;
        return -1;
    }
    return 0;
}
