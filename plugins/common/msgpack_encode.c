/* msgpack_encode.c - an sl_value tree to msgpack with msgpack-c's packer, straight into the
 * output buffer (which keeps its memory from message to message). */
#include <stdio.h>
#include <string.h>

#include "msgpack_scan.h"
#include "msgpack_value.h"

static int write_buf(void *data, const char *buf, size_t len)
{
    return sl_buf_append(data, buf, len);
}

/* ---- the record's values are written here directly: msgpack-c's packer
 * calls its write callback for every header and body (three times the work) ---- */

/* Room for n more bytes. */
static inline int room(struct sl_buf *b, size_t n)
{
    return b->cap - b->len >= n || sl_buf_reserve(b, n < 256 ? 256 : n) == 0 ? 0 : -1;
}

/* A type byte and a big-endian number of k bytes (k = 0: the byte alone). */
static inline void head(struct sl_buf *b, uint8_t type, uint64_t v, int k)
{
    uint8_t *o = b->data + b->len;
    *o++ = type;
    for (int i = k - 1; i >= 0; i--)
        *o++ = (uint8_t)(v >> (8 * i));
    b->len += 1 + (size_t)k;
}

/* Integers in their smallest form, as msgpack-c writes them (non-negative ones
 * as fixint or uint 8..64). */
static void put_int(struct sl_buf *b, int64_t i)
{
    if (i >= 0) {
        uint64_t u = (uint64_t)i;
        if (u < 128)
            b->data[b->len++] = (uint8_t)u;
        else
            head(b,
                 u <= UINT8_MAX    ? 0xcc
                 : u <= UINT16_MAX ? 0xcd
                 : u <= UINT32_MAX ? 0xce
                                   : 0xcf,
                 u,
                 u <= UINT8_MAX    ? 1
                 : u <= UINT16_MAX ? 2
                 : u <= UINT32_MAX ? 4
                                   : 8);
    } else if (i >= -32) {
        b->data[b->len++] = (uint8_t)i;
    } else {
        int k = i >= INT8_MIN ? 1 : i >= INT16_MIN ? 2 : i >= INT32_MIN ? 4 : 8;
        head(b, k == 1 ? 0xd0 : k == 2 ? 0xd1 : k == 4 ? 0xd2 : 0xd3, (uint64_t)i, k);
    }
}

/* A length header: the fix form when fix is set and n <= fix_max, else the
 * 8-bit form (when t8 is set), 16-bit or 32-bit. */
static void put_len(struct sl_buf *b, uint8_t fix, uint32_t fix_max, uint8_t t8, uint8_t t16,
                    uint8_t t32, uint32_t n)
{
    if (fix && n <= fix_max)
        b->data[b->len++] = (uint8_t)(fix | n);
    else if (t8 && n <= UINT8_MAX)
        head(b, t8, n, 1);
    else if (n <= UINT16_MAX)
        head(b, t16, n, 2);
    else
        head(b, t32, n, 4);
}

static void put_bytes(struct sl_buf *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_str(struct sl_buf *b, const char *s, uint32_t n)
{
    put_len(b, 0xa0, 31, 0xd9, 0xda, 0xdb, n);
    put_bytes(b, s, n);
}

static void put_ext(struct sl_buf *b, int8_t type, const struct sl_value *data)
{
    uint32_t n = data->len;
    int fix = n == 1 ? 0xd4 : n == 2 ? 0xd5 : n == 4 ? 0xd6 : n == 8 ? 0xd7 : n == 16 ? 0xd8 : 0;
    if (fix)
        b->data[b->len++] = (uint8_t)fix;
    else
        put_len(b, 0, 0, 0xc7, 0xc8, 0xc9, n);
    b->data[b->len++] = (uint8_t)type;
    put_bytes(b, data->u.str, n);
}

void mp_packer_init(msgpack_packer *pk, struct sl_buf *out)
{
    msgpack_packer_init(pk, out, write_buf);
}

/* The { "$ext": type, "$data": bytes } wrapper the decoder makes of an ext, its
 * members in either order (Lua tables have none). When it is one, *type and *data
 * are set. "$data" must be bytes: the same map read from JSON ("$data" a base64
 * string) stays a map. */
static bool is_ext(const struct sl_value *v, int8_t *type, const struct sl_value **data)
{
    if (v->type != SL_MAP || v->len != 2)
        return false;
    const struct sl_member *m = v->u.members;
    int t = !strcmp(m[1].key, MP_EXT_TYPE); /* index of "$ext" */
    const struct sl_value *tv = &m[t].value, *dv = &m[1 - t].value;
    if (strcmp(m[t].key, MP_EXT_TYPE) != 0 || strcmp(m[1 - t].key, MP_EXT_DATA) != 0 ||
        tv->type != SL_INT || tv->u.i < INT8_MIN || tv->u.i > INT8_MAX || dv->type != SL_BYTES)
        return false;
    *type = (int8_t)tv->u.i;
    *data = dv;
    return true;
}

/* Writes v. Returns 0, -1 out of memory, -2 with err. */
static int pack_value(int ext, struct sl_buf *b, const struct sl_value *v, int depth, char *err,
                      size_t errlen)
{
    int8_t ext_type;
    const struct sl_value *data;
    /* the largest header is 9 bytes, an ext's 6 */
    if (room(b, 16 + ((v->type == SL_STRING || v->type == SL_BYTES) ? v->len : 0)) < 0)
        return -1;
    switch (v->type) {
    case SL_NULL:
        b->data[b->len++] = 0xc0;
        return 0;
    case SL_BOOL:
        b->data[b->len++] = v->u.b ? 0xc3 : 0xc2;
        return 0;
    case SL_INT:
        put_int(b, v->u.i);
        return 0;
    case SL_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        head(b, 0xcb, bits, 8);
        return 0;
    }
    case SL_STRING:
        put_str(b, v->u.str, v->len);
        return 0;
    case SL_BYTES:
        put_len(b, 0, 0, 0xc4, 0xc5, 0xc6, v->len);
        put_bytes(b, v->u.str, v->len);
        return 0;
    case SL_ARRAY:
    case SL_MAP:
        break;
    default:
        snprintf(err, errlen, "msgpack: cannot encode a value of type %u", v->type);
        return -2;
    }
    if (ext == MP_EXT_WRAP && is_ext(v, &ext_type, &data)) { /* a scalar on the wire */
        if (room(b, 6 + data->len) < 0)
            return -1;
        put_ext(b, ext_type, data);
        return 0;
    }
    if (depth >= MSGPACK_SCAN_MAX_DEPTH) {
        snprintf(err, errlen, "msgpack: nesting deeper than %d", MSGPACK_SCAN_MAX_DEPTH);
        return -2;
    }
    int rc = 0;
    if (v->type == SL_ARRAY) {
        put_len(b, 0x90, 15, 0, 0xdc, 0xdd, v->len);
        for (uint32_t i = 0; !rc && i < v->len; i++)
            rc = pack_value(ext, b, &v->u.items[i], depth + 1, err, errlen);
        return rc;
    }
    put_len(b, 0x80, 15, 0, 0xde, 0xdf, v->len);
    for (uint32_t i = 0; !rc && i < v->len; i++) {
        const struct sl_member *m = &v->u.members[i];
        if (room(b, 5 + m->key_len) < 0)
            return -1;
        put_str(b, m->key, m->key_len);
        rc = pack_value(ext, b, &m->value, depth + 1, err, errlen);
    }
    return rc;
}

int mp_encode(int ext, const struct sl_value *v, struct sl_buf *out, char *err, size_t errlen)
{
    size_t was = out->len;
    int rc = pack_value(ext, out, v, 0, err, errlen);
    if (rc == 0)
        return 0;
    if (rc == -1)
        snprintf(err, errlen, "msgpack: out of memory");
    out->len = was;
    return -1;
}
