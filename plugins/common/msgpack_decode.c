/* msgpack_decode.c - msgpack bytes to an sl_value tree in one pass: each header is
 * checked against the bytes left as it is read, and values go straight into the arena
 * (msgpack-c's objects in a zone, a separate bounds walk and a copy cost ~4x as much). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "msgpack_value.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

__attribute__((format(printf, 2, 3))) static int fail(struct mp_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t offset(const struct mp_reader *r, const uint8_t *at)
{
    return (size_t)(at - r->start);
}

static int truncated(struct mp_reader *r, const uint8_t *at)
{
    return fail(r, "msgpack: truncated at byte %zu of %zu", offset(r, at), offset(r, r->end));
}

static int too_deep(struct mp_reader *r, const uint8_t *at)
{
    return fail(r, "msgpack: nesting deeper than %d at byte %zu", MP_MAX_DEPTH, offset(r, at));
}

static int oom(struct mp_reader *r)
{
    return fail(r, "msgpack: out of memory");
}

/* The n bytes at s (in the input) as a NUL-terminated string: the same bytes
 * in the arena's copy of the input, the byte after them overwritten with the
 * NUL. That byte is the header of the next object, or the copy's extra byte
 * at the end, never part of another string; headers are read from the input. */
static inline const char *in_copy(struct mp_reader *r, const uint8_t *s, size_t n)
{
    char *d = r->copy + (s - r->start);
    d[n] = '\0';
    return d;
}

/* Text made here (decimal numbers) into the arena. */
static const char *new_text(struct mp_reader *r, const char *s, size_t n)
{
    return sl_arena_strndup(r->arena, s, n);
}

static int read_obj(struct mp_reader *r, struct sl_value *out);
static int read_key(struct mp_reader *r, struct sl_member *m);

/* A fixstr at k (< r->end): its n bytes copied to *text. Returns 0 or -1 with err. */
static inline __attribute__((always_inline)) int read_fixstr(struct mp_reader *r, const uint8_t *k,
                                                             const char **text, uint32_t *n)
{
    *n = *k & 0x1f;
    if (unlikely(*n > (size_t)(r->end - k) - 1))
        return truncated(r, k);
    *text = in_copy(r, k + 1, *n);
    r->p = k + 1 + *n;
    r->due--;
    return 0;
}

/* read_obj, with the commonest values (short strings, small integers) read
 * here without a call. */
static inline __attribute__((always_inline)) int read_elem(struct mp_reader *r,
                                                           struct sl_value *out)
{
    const uint8_t *at = r->p;
    if (likely(at < r->end)) {
        uint8_t b = *at;
        if ((b & 0xe0) == 0xa0) {
            out->type = SL_STRING;
            return read_fixstr(r, at, &out->u.str, &out->len);
        }
        if (b <= 0x7f) {
            *out = (struct sl_value){.type = SL_INT, .u.i = b};
            r->p = at + 1;
            r->due--;
            return 0;
        }
    }
    return read_obj(r, out);
}

/* Opens the level of a container of objs objects whose header, at
 * `at`, was just read: they must fit in the bytes left beside every object
 * still due, and no deeper than MP_MAX_DEPTH. Returns 0, or -1 with err. */
static int open_level(struct mp_reader *r, const uint8_t *at, uint64_t objs)
{
    size_t left = (size_t)(r->end - r->p);
    if (unlikely(objs > left))
        return fail(
            r, "msgpack: container at byte %zu declares %" PRIu64 " objects, only %zu bytes follow",
            offset(r, at), objs, left);
    if (unlikely(objs + r->due > left))
        return fail(r,
                    "msgpack: container at byte %zu declares %" PRIu64
                    " objects, only %zu bytes follow for them and %zu more",
                    offset(r, at), objs, left, r->due);
    if (unlikely(r->depth >= MP_MAX_DEPTH))
        return too_deep(r, at);
    r->due += objs;
    r->depth++;
    return 0;
}

/* The n elements (map: n members) of a container whose header, at `at`, was
 * just read. */
static int container(struct mp_reader *r, const uint8_t *at, struct sl_value *out, uint32_t n,
                     bool map)
{
    out->type = map ? SL_MAP : SL_ARRAY;
    out->len = n;
    out->u.items = NULL;
    if (!n) /* msgpack-c counts an empty container as a level too */
        return unlikely(r->depth >= MP_MAX_DEPTH) ? too_deep(r, at) : 0;
    if (open_level(r, at, map ? 2 * (uint64_t)n : n) < 0)
        return -1;
    if (map) {
        struct sl_member *m = sl_arena_alloc(r->arena, n * sizeof(*m));
        if (unlikely(!m))
            return oom(r);
        out->u.members = m;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *k = r->p;
            int rc = k < r->end && (*k & 0xe0) == 0xa0 /* keys are nearly always fixstr */
                         ? read_fixstr(r, k, &m[i].key, &m[i].key_len)
                         : read_key(r, &m[i]);
            if (rc < 0 || read_elem(r, &m[i].value) < 0)
                return -1;
        }
    } else {
        struct sl_value *v = sl_arena_alloc(r->arena, n * sizeof(*v));
        if (unlikely(!v))
            return oom(r);
        out->u.items = v;
        for (uint32_t i = 0; i < n; i++)
            if (read_elem(r, &v[i]) < 0)
                return -1;
    }
    r->depth--;
    return 0;
}

/* A key that is not a fixstr: str or bin as its bytes, an integer in decimal. */
static int read_key(struct mp_reader *r, struct sl_member *m)
{
    const char *what = NULL;
    if (r->p < r->end) {
        uint8_t b = *r->p;
        if (b == 0xc0)
            what = "nil";
        else if (b == 0xc2 || b == 0xc3)
            what = "a boolean";
        else if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd)
            what = "an array";
        else if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)
            what = "a map";
        else if (mp_is_ext_byte(b))
            what = "an ext";
        else if (b == 0xca || b == 0xcb)
            what = "a float";
    }
    if (what)
        return fail(r, "msgpack: a map key must be a string or an integer, not %s", what);
    struct sl_value k;
    if (read_obj(r, &k) < 0)
        return -1;
    if (k.type == SL_INT) {
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%" PRId64, k.u.i);
        k.u.str = new_text(r, buf, (size_t)n);
        if (!k.u.str)
            return oom(r);
        k.len = (uint32_t)n;
    }
    /* str, bin, or an integer above INT64_MAX (already its decimal text) */
    m->key = k.u.str;
    m->key_len = k.len;
    return 0;
}

/* Integers above INT64_MAX have no place in an SL_INT: their decimal text
 * keeps them exact (as protobuf's JSON mapping does for 64-bit numbers). */
static int big_uint(struct mp_reader *r, uint64_t u, struct sl_value *out)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, u);
    out->type = SL_STRING;
    out->len = (uint32_t)n;
    out->u.str = new_text(r, buf, (size_t)n);
    return out->u.str ? 0 : oom(r);
}

/* ext -> { "$ext": type, "$data": bytes } (or refused, per the ext option). */
static int ext_value(struct mp_reader *r, int8_t type, const uint8_t *data, uint32_t n,
                     struct sl_value *out)
{
    if (r->ext == MP_EXT_REFUSE)
        return fail(r, "msgpack: ext type %d is not accepted (ext = \"refuse\")", type);
    struct sl_member *m = sl_arena_alloc(r->arena, 2 * sizeof(*m));
    if (!m)
        return oom(r);
    m[0].key = MP_EXT_TYPE;
    m[0].key_len = sizeof(MP_EXT_TYPE) - 1;
    m[0].value = (struct sl_value){.type = SL_INT, .u.i = type};
    m[1].key = MP_EXT_DATA;
    m[1].key_len = sizeof(MP_EXT_DATA) - 1;
    m[1].value = (struct sl_value){.type = SL_BYTES, .len = n};
    m[1].value.u.str = in_copy(r, data, n);
    *out = (struct sl_value){.type = SL_MAP, .len = 2, .u.members = m};
    return 0;
}

/* Header bytes (type byte included) of the sized forms 0xc4..0xdf, by type
 * byte: bin, ext, float, int, fixext, str, array, map. */
static const uint8_t head_size[32] = {
    2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, /* c4 .. d3 */
    2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5,             /* d4 .. df */
};

static int read_obj(struct mp_reader *r, struct sl_value *out)
{
    const uint8_t *at = r->p;
    size_t left = (size_t)(r->end - at);
    if (unlikely(!left))
        return truncated(r, at);
    r->due--;
    uint8_t b = at[0];
    uint32_t n;
    out->len = 0;
    if (b <= 0x7f || b >= 0xe0) { /* fixint */
        out->type = SL_INT;
        out->u.i = (int8_t)b;
        if (b <= 0x7f)
            out->u.i = b;
        r->p = at + 1;
        return 0;
    }
    const uint8_t *text;          /* str and bin: the bytes, n of them */
    if (b >= 0xa0 && b <= 0xbf) { /* fixstr */
        n = b & 0x1f;
        out->type = SL_STRING;
        text = at + 1;
        goto text;
    }
    if (b <= 0x9f) { /* fixmap, fixarray */
        r->p = at + 1;
        return container(r, at, out, b & 0x0f, b <= 0x8f);
    }
    if (b <= 0xc3) {
        if (b == 0xc1)
            return fail(r, "msgpack: reserved byte 0xc1 at byte %zu", offset(r, at));
        out->type = b == 0xc0 ? SL_NULL : SL_BOOL;
        out->u.i = 0;
        out->u.b = b == 0xc3;
        r->p = at + 1;
        return 0;
    }
    size_t hs = head_size[b - 0xc4];
    if (unlikely(left < hs))
        return truncated(r, at);
    const uint8_t *body = at + hs;
    switch (b) {
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */
        n = b == 0xc4 ? at[1] : b == 0xc5 ? be16(at + 1) : be32(at + 1);
        out->type = SL_BYTES;
        goto sized_text;
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */
        n = b == 0xd9 ? at[1] : b == 0xda ? be16(at + 1) : be32(at + 1);
        out->type = SL_STRING;
        goto sized_text;
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length, then the type byte */
        n = b == 0xc7 ? at[1] : b == 0xc8 ? be16(at + 1) : be32(at + 1);
        if (unlikely(n > left - hs))
            return truncated(r, at);
        r->p = body + n;
        return ext_value(r, (int8_t)body[-1], body, n, out);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext: type, 1..16 bytes */
        n = 1u << (b - 0xd4);
        if (unlikely(n > left - hs))
            return truncated(r, at);
        r->p = body + n;
        return ext_value(r, (int8_t)at[1], body, n, out);
    case 0xca: { /* float 32 */
        uint32_t bits = be32(at + 1);
        float f;
        memcpy(&f, &bits, 4);
        out->type = SL_DOUBLE;
        out->u.d = f;
        break;
    }
    case 0xcb: { /* float 64 */
        uint64_t bits = be64(at + 1);
        out->type = SL_DOUBLE;
        memcpy(&out->u.d, &bits, 8);
        break;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: { /* uint 8..64 */
        uint64_t u = b == 0xcc   ? at[1]
                     : b == 0xcd ? be16(at + 1)
                     : b == 0xce ? be32(at + 1)
                                 : be64(at + 1);
        r->p = body;
        if (u > (uint64_t)INT64_MAX)
            return big_uint(r, u, out);
        out->type = SL_INT;
        out->u.i = (int64_t)u;
        return 0;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: /* int 8..64 */
        out->type = SL_INT;
        out->u.i = b == 0xd0   ? (int8_t)at[1]
                   : b == 0xd1 ? (int16_t)be16(at + 1)
                   : b == 0xd2 ? (int32_t)be32(at + 1)
                               : (int64_t)be64(at + 1);
        break;
    case 0xdc:
    case 0xdd: /* array 16/32 */
        r->p = body;
        return container(r, at, out, b == 0xdc ? be16(at + 1) : be32(at + 1), false);
    case 0xde:
    case 0xdf: /* map 16/32 */
        r->p = body;
        return container(r, at, out, b == 0xde ? be16(at + 1) : be32(at + 1), true);
    }
    r->p = body;
    return 0;
sized_text:
    text = body;
text:
    if (unlikely(n > (size_t)(r->end - text)))
        return truncated(r, at);
    out->len = n;
    r->p = text + n;
    out->u.str = in_copy(r, text, n);
    return 0;
}

int mp_reader_init(struct mp_reader *r, int ext, struct sl_arena *a, const uint8_t *data,
                   size_t len, char *err, size_t errlen)
{
    *r = (struct mp_reader){.start = data,
                            .p = data,
                            .end = data + len,
                            .due = 1,
                            .ext = ext,
                            .arena = a,
                            .err = err,
                            .errlen = errlen};
    if (len == 0)
        return fail(r, "msgpack: empty payload");
    if (len > UINT32_MAX) /* lengths and counts in the tree are 32-bit */
        return fail(r, "msgpack: payload too large (%zu bytes)", len);
    if (!(r->copy = sl_arena_alloc(a, len + 1)))
        return oom(r);
    memcpy(r->copy, data, len);
    r->copy[len] = '\0';
    return 0;
}

int mp_read_value(struct mp_reader *r, struct sl_value *out)
{
    return read_obj(r, out);
}

int mp_read_array(struct mp_reader *r, uint32_t *n)
{
    const uint8_t *at = r->p;
    if (at == r->end)
        return truncated(r, at);
    uint8_t b = *at;
    size_t hs = b == 0xdc ? 3 : b == 0xdd ? 5 : 1;
    if (hs == 1 && !(b >= 0x90 && b <= 0x9f))
        return 0;
    if ((size_t)(r->end - at) < hs)
        return truncated(r, at);
    r->due--;
    r->p = at + hs;
    *n = b == 0xdc ? be16(at + 1) : b == 0xdd ? be32(at + 1) : b & 0x0fu;
    return *n && open_level(r, at, *n) < 0 ? -1 : 1;
}

int mp_reader_finish(struct mp_reader *r)
{
    if (r->p != r->end)
        return fail(r, "msgpack: %zu bytes of trailing garbage after the object at byte %zu",
                    (size_t)(r->end - r->p), offset(r, r->p));
    return 0;
}

int mp_decode_value(int ext, struct sl_arena *a, const uint8_t *data, size_t len,
                    struct sl_value *out, char *err, size_t errlen)
{
    struct mp_reader r;
    if (mp_reader_init(&r, ext, a, data, len, err, errlen) < 0 || read_obj(&r, out) < 0)
        return -1;
    return mp_reader_finish(&r);
}
