/* msgpack_encode.c - the record tree to msgpack bytes, stored straight into the output
 * buffer (msgpack-c's packer calls a write callback for every header and body). */
#include <stdio.h>
#include <string.h>

#include "msgpack_value.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

/* Where the bytes go: the writing functions take and return o, the next byte
 * of out's data (NULL once something failed: rc says what); end is the end of
 * its capacity; out->len is set when the value is written. */
struct writer {
    uint8_t *end;
    struct sl_buf *out;
    int ext;
    int rc; /* -1 out of memory, -2 with err */
    char *err;
    size_t errlen;
};

/* Makes room for n more bytes after o, at least doubling the buffer. */
static uint8_t *grow(struct writer *w, uint8_t *o, size_t n)
{
    struct sl_buf *b = w->out;
    b->len = (size_t)(o - b->data);
    if (sl_buf_reserve(b, n > b->cap ? n : b->cap) < 0) {
        w->rc = -1;
        return NULL;
    }
    w->end = b->data + b->cap;
    return b->data + b->len;
}

/* o with room for n more bytes (a compare: a reused buffer nearly always has it). */
static inline uint8_t *room(struct writer *w, uint8_t *o, size_t n)
{
    return unlikely((size_t)(w->end - o) < n) ? grow(w, o, n) : o;
}

static inline uint8_t *put16(uint8_t *o, uint8_t type, uint16_t v)
{
    *o = type;
    v = __builtin_bswap16(v);
    memcpy(o + 1, &v, 2);
    return o + 3;
}

static inline uint8_t *put32(uint8_t *o, uint8_t type, uint32_t v)
{
    *o = type;
    v = __builtin_bswap32(v);
    memcpy(o + 1, &v, 4);
    return o + 5;
}

static inline uint8_t *put64(uint8_t *o, uint8_t type, uint64_t v)
{
    *o = type;
    v = __builtin_bswap64(v);
    memcpy(o + 1, &v, 8);
    return o + 9;
}

/* Integers in their smallest form, as msgpack-c writes them (non-negative ones
 * as fixint or uint 8..64). At most 9 bytes. */
static uint8_t *put_int(uint8_t *o, int64_t i)
{
    if (i >= 0) {
        uint64_t u = (uint64_t)i;
        if (u < 128) {
            *o = (uint8_t)u;
            return o + 1;
        }
        if (u <= UINT8_MAX) {
            o[0] = 0xcc;
            o[1] = (uint8_t)u;
            return o + 2;
        }
        return u <= UINT16_MAX   ? put16(o, 0xcd, (uint16_t)u)
               : u <= UINT32_MAX ? put32(o, 0xce, (uint32_t)u)
                                 : put64(o, 0xcf, u);
    }
    if (i >= -32) {
        *o = (uint8_t)i;
        return o + 1;
    }
    if (i >= INT8_MIN) {
        o[0] = 0xd0;
        o[1] = (uint8_t)i;
        return o + 2;
    }
    return i >= INT16_MIN   ? put16(o, 0xd1, (uint16_t)i)
           : i >= INT32_MIN ? put32(o, 0xd2, (uint32_t)i)
                            : put64(o, 0xd3, (uint64_t)i);
}

/* A length: the fix form (fix != 0) when n <= fix_max, else the 8-bit form
 * (t8 != 0), the 16-bit (t16) or the 32-bit (t16 + 1). At most 5 bytes. */
static inline uint8_t *put_len(uint8_t *o, uint8_t fix, uint32_t fix_max, uint8_t t8, uint8_t t16,
                               uint32_t n)
{
    if (fix && n <= fix_max) {
        *o = (uint8_t)(fix | n);
        return o + 1;
    }
    if (t8 && n <= UINT8_MAX) {
        o[0] = t8;
        o[1] = (uint8_t)n;
        return o + 2;
    }
    return n <= UINT16_MAX ? put16(o, t16, (uint16_t)n) : put32(o, (uint8_t)(t16 + 1), n);
}

/* n bytes; short ones in two overlapping loads and stores, not a call. */
static inline uint8_t *put_bytes(uint8_t *o, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (n >= 8 && n <= 16) {
        memcpy(o, s, 8);
        memcpy(o + n - 8, s + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(o, s, 4);
        memcpy(o + n - 4, s + n - 4, 4);
    } else if (n >= 2 && n < 4) {
        memcpy(o, s, 2);
        memcpy(o + n - 2, s + n - 2, 2);
    } else if (n == 1) {
        o[0] = s[0];
    } else if (n) {
        memcpy(o, s, n);
    }
    return o + n;
}

/* A str: header and bytes, at most 5 + n. */
static inline uint8_t *put_str(uint8_t *o, const char *s, uint32_t n)
{
    return put_bytes(put_len(o, 0xa0, 31, 0xd9, 0xda, n), s, n);
}

/* The { "$ext": type, "$data": bytes } wrapper the decoder makes of an ext, its
 * members in either order (Lua tables have none). When it is one, *type and *data
 * are set. "$data" must be bytes: the same map read from JSON ("$data" a base64
 * string) stays a map. */
static bool is_ext(const struct sl_value *v, int8_t *type, const struct sl_value **data)
{
    const struct sl_member *m = v->u.members;
    int t = m[1].key_len == 4; /* index of "$ext" when there is one */
    const struct sl_member *tm = &m[t], *dm = &m[1 - t];
    if (tm->key_len != 4 || dm->key_len != 5 || memcmp(tm->key, MP_EXT_TYPE, 4) != 0 ||
        memcmp(dm->key, MP_EXT_DATA, 5) != 0 || tm->value.type != SL_INT ||
        tm->value.u.i < INT8_MIN || tm->value.u.i > INT8_MAX || dm->value.type != SL_BYTES)
        return false;
    *type = (int8_t)tm->value.u.i;
    *data = &dm->value;
    return true;
}

static uint8_t *put_ext(uint8_t *o, int8_t type, const struct sl_value *data)
{
    uint32_t n = data->len;
    uint8_t fix = n == 1    ? 0xd4
                  : n == 2  ? 0xd5
                  : n == 4  ? 0xd6
                  : n == 8  ? 0xd7
                  : n == 16 ? 0xd8
                            : 0;
    if (fix)
        *o++ = fix;
    else
        o = put_len(o, 0, 0, 0xc7, 0xc8, n);
    *o++ = (uint8_t)type;
    return put_bytes(o, data->u.str, n);
}

static uint8_t *fail(struct writer *w, int rc)
{
    w->rc = rc;
    return NULL;
}

static uint8_t *pack(struct writer *w, uint8_t *o, const struct sl_value *v, int depth);

/* pack() for a container's element, with strings (the commonest) written here
 * without a call. */
static inline __attribute__((always_inline)) uint8_t *pack_elem(struct writer *w, uint8_t *o,
                                                                const struct sl_value *v, int depth)
{
    if (v->type != SL_STRING)
        return pack(w, o, v, depth);
    return (o = room(w, o, 5 + (size_t)v->len)) ? put_str(o, v->u.str, v->len) : NULL;
}

/* Writes v at o; depth containers are open. Returns the byte after it, or NULL
 * with w->rc. */
static uint8_t *pack(struct writer *w, uint8_t *o, const struct sl_value *v, int depth)
{
    bool text = v->type == SL_STRING || v->type == SL_BYTES;
    if (!(o = room(w, o, text ? 5 + (size_t)v->len : 9))) /* 9: the largest scalar */
        return NULL;
    switch (v->type) {
    case SL_NULL:
        *o = 0xc0;
        return o + 1;
    case SL_BOOL:
        *o = v->u.b ? 0xc3 : 0xc2;
        return o + 1;
    case SL_INT:
        return put_int(o, v->u.i);
    case SL_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        return put64(o, 0xcb, bits);
    }
    case SL_STRING:
        return put_str(o, v->u.str, v->len);
    case SL_BYTES:
        return put_bytes(put_len(o, 0, 0, 0xc4, 0xc5, v->len), v->u.str, v->len);
    case SL_ARRAY:
    case SL_MAP:
        break;
    default:
        snprintf(w->err, w->errlen, "msgpack: cannot encode a value of type %u", v->type);
        return fail(w, -2);
    }
    int8_t ext_type;
    const struct sl_value *data;
    uint32_t n = v->len;
    if (v->type == SL_MAP && n == 2 && w->ext == MP_EXT_WRAP &&
        is_ext(v, &ext_type, &data)) /* a scalar on the wire */
        return (o = room(w, o, 6 + (size_t)data->len)) ? put_ext(o, ext_type, data) : NULL;
    if (depth >= MP_MAX_DEPTH) { /* a decoder would refuse it */
        snprintf(w->err, w->errlen, "msgpack: nesting deeper than %d", MP_MAX_DEPTH);
        return fail(w, -2);
    }
    if (v->type == SL_ARRAY) {
        const struct sl_value *items = v->u.items;
        o = put_len(o, 0x90, 15, 0, 0xdc, n);
        for (uint32_t i = 0; o && i < n; i++)
            o = pack_elem(w, o, &items[i], depth + 1);
        return o;
    }
    const struct sl_member *m = v->u.members;
    o = put_len(o, 0x80, 15, 0, 0xde, n);
    for (uint32_t i = 0; o && i < n; i++) {
        if (!(o = room(w, o, 5 + (size_t)m[i].key_len)))
            return NULL;
        o = pack_elem(w, put_str(o, m[i].key, m[i].key_len), &m[i].value, depth + 1);
    }
    return o;
}

int mp_encode(int ext, const struct sl_value *v, struct sl_buf *out, char *err, size_t errlen)
{
    size_t was = out->len;
    if (out->cap - out->len < 64 && sl_buf_reserve(out, 256) < 0) { /* data is never NULL below */
        snprintf(err, errlen, "msgpack: out of memory");
        return -1;
    }
    struct writer w = {
        .end = out->data + out->cap, .out = out, .ext = ext, .err = err, .errlen = errlen};
    uint8_t *o = pack(&w, out->data + out->len, v, 0);
    if (o) {
        out->len = (size_t)(o - out->data);
        return 0;
    }
    if (w.rc == -1)
        snprintf(err, errlen, "msgpack: out of memory");
    out->len = was;
    return -1;
}
