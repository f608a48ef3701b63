/* msgpack_decode.c - msgpack bytes to an sl_value tree: msgpack-c unpacks into a zone the
 * caller owns, then the objects are copied into an arena. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "msgpack_scan.h"
#include "msgpack_value.h"

/* Big enough for the usual message: one chunk reused, no malloc per message. */
#define ZONE_CHUNK (16u * 1024u)

int mp_dec_init(struct mp_dec *d)
{
    return msgpack_zone_init(&d->zone, ZONE_CHUNK) ? 0 : -1;
}

void mp_dec_fini(struct mp_dec *d)
{
    msgpack_zone_destroy(&d->zone);
}

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "msgpack: out of memory");
    return -1;
}

static int copy_text(struct sl_arena *a, const char *p, uint32_t n, struct sl_value *out,
                     uint32_t type, char *err, size_t errlen)
{
    out->type = type;
    out->len = n;
    out->u.str = sl_arena_strndup(a, n ? p : "", n);
    return out->u.str ? 0 : oom(err, errlen);
}

/* Integers above INT64_MAX have no place in an SL_INT: their decimal text
 * keeps them exact (as protobuf's JSON mapping does for 64-bit numbers). */
static int big_uint(struct sl_arena *a, uint64_t u, struct sl_value *out, char *err, size_t errlen)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, u);
    return copy_text(a, buf, (uint32_t)n, out, SL_STRING, err, errlen);
}

/* Map keys are text: str as is, bin as its bytes, integers in decimal. */
static int map_key(struct sl_arena *a, const msgpack_object *k, struct sl_member *m, char *err,
                   size_t errlen)
{
    char buf[24];
    const char *p = buf;
    uint32_t n;
    switch (k->type) {
    case MSGPACK_OBJECT_STR:
        p = k->via.str.ptr;
        n = k->via.str.size;
        break;
    case MSGPACK_OBJECT_BIN:
        p = k->via.bin.ptr;
        n = k->via.bin.size;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = (uint32_t)snprintf(buf, sizeof(buf), "%" PRIu64, k->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = (uint32_t)snprintf(buf, sizeof(buf), "%" PRId64, k->via.i64);
        break;
    default:
        snprintf(err, errlen, "msgpack: a map key must be a string or an integer, not %s",
                 k->type == MSGPACK_OBJECT_NIL       ? "nil"
                 : k->type == MSGPACK_OBJECT_BOOLEAN ? "a boolean"
                 : k->type == MSGPACK_OBJECT_ARRAY   ? "an array"
                 : k->type == MSGPACK_OBJECT_MAP     ? "a map"
                 : k->type == MSGPACK_OBJECT_EXT     ? "an ext"
                                                     : "a float");
        return -1;
    }
    m->key = sl_arena_strndup(a, n ? p : "", n);
    m->key_len = n;
    return m->key ? 0 : oom(err, errlen);
}

/* ext -> { "$ext": type, "$data": bytes } (or refused, per the ext option). */
static int ext_value(int ext, struct sl_arena *a, const msgpack_object_ext *x, struct sl_value *out,
                     char *err, size_t errlen)
{
    if (ext == MP_EXT_REFUSE) {
        snprintf(err, errlen, "msgpack: ext type %d is not accepted (ext = \"refuse\")", x->type);
        return -1;
    }
    struct sl_member *m = sl_arena_alloc(a, 2 * sizeof(*m));
    if (!m)
        return oom(err, errlen);
    m[0].key = MP_EXT_TYPE;
    m[0].key_len = sizeof(MP_EXT_TYPE) - 1;
    m[0].value = (struct sl_value){.type = SL_INT, .u.i = x->type};
    m[1].key = MP_EXT_DATA;
    m[1].key_len = sizeof(MP_EXT_DATA) - 1;
    if (copy_text(a, x->ptr, x->size, &m[1].value, SL_BYTES, err, errlen) < 0)
        return -1;
    *out = (struct sl_value){.type = SL_MAP, .len = 2, .u.members = m};
    return 0;
}

int mp_object_to_value(int ext, struct sl_arena *a, const msgpack_object *obj, struct sl_value *out,
                       char *err, size_t errlen)
{
    *out = (struct sl_value){.type = SL_NULL};
    switch (obj->type) {
    case MSGPACK_OBJECT_NIL:
        return 0;
    case MSGPACK_OBJECT_BOOLEAN:
        out->type = SL_BOOL;
        out->u.b = obj->via.boolean;
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (obj->via.u64 > (uint64_t)INT64_MAX)
            return big_uint(a, obj->via.u64, out, err, errlen);
        out->type = SL_INT;
        out->u.i = (int64_t)obj->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        out->type = SL_INT;
        out->u.i = obj->via.i64;
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        out->type = SL_DOUBLE;
        out->u.d = obj->via.f64;
        return 0;
    case MSGPACK_OBJECT_STR:
        return copy_text(a, obj->via.str.ptr, obj->via.str.size, out, SL_STRING, err, errlen);
    case MSGPACK_OBJECT_BIN:
        return copy_text(a, obj->via.bin.ptr, obj->via.bin.size, out, SL_BYTES, err, errlen);
    case MSGPACK_OBJECT_EXT:
        return ext_value(ext, a, &obj->via.ext, out, err, errlen);
    case MSGPACK_OBJECT_ARRAY: {
        uint32_t n = obj->via.array.size;
        out->type = SL_ARRAY;
        out->len = n;
        out->u.items = NULL;
        if (!n)
            return 0;
        if (!(out->u.items = sl_arena_alloc(a, n * sizeof(struct sl_value))))
            return oom(err, errlen);
        for (uint32_t i = 0; i < n; i++)
            if (mp_object_to_value(ext, a, &obj->via.array.ptr[i], &out->u.items[i], err, errlen))
                return -1;
        return 0;
    }
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = obj->via.map.size;
        out->type = SL_MAP;
        out->len = n;
        out->u.members = NULL;
        if (!n)
            return 0;
        if (!(out->u.members = sl_arena_alloc(a, n * sizeof(struct sl_member))))
            return oom(err, errlen);
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object_kv *kv = &obj->via.map.ptr[i];
            struct sl_member *m = &out->u.members[i];
            if (map_key(a, &kv->key, m, err, errlen) < 0 ||
                mp_object_to_value(ext, a, &kv->val, &m->value, err, errlen) < 0)
                return -1;
        }
        return 0;
    }
    }
    snprintf(err, errlen, "msgpack: unknown object type %d", (int)obj->type);
    return -1;
}

int mp_dec_unpack(struct mp_dec *d, const uint8_t *data, size_t len, msgpack_object *obj, char *err,
                  size_t errlen)
{
    size_t end = 0, off = 0;

    if (len == 0) {
        snprintf(err, errlen, "msgpack: empty payload");
        return -1;
    }
    if (len > UINT32_MAX) { /* lengths and counts in the tree are 32-bit */
        snprintf(err, errlen, "msgpack: payload too large (%zu bytes)", len);
        return -1;
    }
    if (msgpack_scan(data, len, MSGPACK_SCAN_MAX_DEPTH, &end, err, errlen) < 0)
        return -1;
    if (end != len) {
        snprintf(err, errlen, "msgpack: %zu bytes of trailing garbage after the object at byte %zu",
                 len - end, end);
        return -1;
    }
    msgpack_unpack_return ur = msgpack_unpack((const char *)data, len, &off, &d->zone, obj);
    if (ur == MSGPACK_UNPACK_SUCCESS)
        return 0;
    mp_dec_done(d);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
        return oom(err, errlen);
    snprintf(err, errlen, "msgpack: cannot unpack (msgpack-c error %d)", (int)ur);
    return -1;
}

void mp_dec_done(struct mp_dec *d)
{
    msgpack_zone_clear(&d->zone);
}
