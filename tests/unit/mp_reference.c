/* mp_reference.c - msgpack-c as the reference for the codec's own reader and writer. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "msgpack_value.h"
#include "mp_reference.h"

static const char *text(struct sl_arena *a, const char *p, size_t n)
{
    return sl_arena_strndup(a, n ? p : "", n);
}

/* Map keys: str and bin as their bytes, integers in decimal. false otherwise. */
static bool map_key(struct sl_arena *a, const msgpack_object *k, struct sl_member *m)
{
    char buf[24];
    switch (k->type) {
    case MSGPACK_OBJECT_STR:
        m->key = text(a, k->via.str.ptr, k->via.str.size);
        m->key_len = k->via.str.size;
        return true;
    case MSGPACK_OBJECT_BIN:
        m->key = text(a, k->via.bin.ptr, k->via.bin.size);
        m->key_len = k->via.bin.size;
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        m->key_len = (uint32_t)snprintf(buf, sizeof(buf), "%" PRIu64, k->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        m->key_len = (uint32_t)snprintf(buf, sizeof(buf), "%" PRId64, k->via.i64);
        break;
    default:
        return false;
    }
    m->key = text(a, buf, m->key_len);
    return true;
}

/* The object as the codec's record; false where the codec must refuse it. */
static bool to_value(int ext, struct sl_arena *a, const msgpack_object *o, struct sl_value *out)
{
    char buf[24];
    *out = (struct sl_value){.type = SL_NULL};
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return true;
    case MSGPACK_OBJECT_BOOLEAN:
        *out = (struct sl_value){.type = SL_BOOL, .u.b = o->via.boolean};
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) { /* exact decimal text */
            out->type = SL_STRING;
            out->len = (uint32_t)snprintf(buf, sizeof(buf), "%" PRIu64, o->via.u64);
            out->u.str = text(a, buf, out->len);
            return true;
        }
        *out = (struct sl_value){.type = SL_INT, .u.i = (int64_t)o->via.u64};
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (struct sl_value){.type = SL_INT, .u.i = o->via.i64};
        return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = (struct sl_value){.type = SL_DOUBLE, .u.d = o->via.f64};
        return true;
    case MSGPACK_OBJECT_STR:
        *out = (struct sl_value){.type = SL_STRING, .len = o->via.str.size};
        out->u.str = text(a, o->via.str.ptr, o->via.str.size);
        return true;
    case MSGPACK_OBJECT_BIN:
        *out = (struct sl_value){.type = SL_BYTES, .len = o->via.bin.size};
        out->u.str = text(a, o->via.bin.ptr, o->via.bin.size);
        return true;
    case MSGPACK_OBJECT_EXT: {
        if (ext == MP_EXT_REFUSE)
            return false;
        struct sl_member *m = sl_arena_alloc(a, 2 * sizeof(*m));
        m[0] = (struct sl_member){.key = MP_EXT_TYPE, .key_len = 4};
        m[0].value = (struct sl_value){.type = SL_INT, .u.i = o->via.ext.type};
        m[1] = (struct sl_member){.key = MP_EXT_DATA, .key_len = 5};
        m[1].value = (struct sl_value){.type = SL_BYTES, .len = o->via.ext.size};
        m[1].value.u.str = text(a, o->via.ext.ptr, o->via.ext.size);
        *out = (struct sl_value){.type = SL_MAP, .len = 2, .u.members = m};
        return true;
    }
    case MSGPACK_OBJECT_ARRAY: {
        uint32_t n = o->via.array.size;
        *out = (struct sl_value){.type = SL_ARRAY, .len = n};
        if (n)
            out->u.items = sl_arena_alloc(a, n * sizeof(struct sl_value));
        for (uint32_t i = 0; i < n; i++)
            if (!to_value(ext, a, &o->via.array.ptr[i], &out->u.items[i]))
                return false;
        return true;
    }
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = o->via.map.size;
        *out = (struct sl_value){.type = SL_MAP, .len = n};
        if (n)
            out->u.members = sl_arena_alloc(a, n * sizeof(struct sl_member));
        for (uint32_t i = 0; i < n; i++)
            if (!map_key(a, &o->via.map.ptr[i].key, &out->u.members[i]) ||
                !to_value(ext, a, &o->via.map.ptr[i].val, &out->u.members[i].value))
                return false;
        return true;
    }
    }
    return false;
}

/* Whether any byte could be an array 16/32 or map 16/32 header declaring more
 * elements than len: msgpack-c would ask for up to ~200 GB before reading them. */
static bool unsafe(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t b = p[i];
        if (b < 0xdc)
            continue;
        size_t k = b & 1 ? 4 : 2;
        uint64_t n = 0;
        for (size_t j = 1; j <= k && i + j < len; j++)
            n = n << 8 | p[i + j];
        if (i + k < len && n * (b >= 0xde ? 2 : 1) > len) /* (an incomplete header asks nothing) */
            return true;
    }
    return false;
}

static enum mp_ref_verdict unpack(int ext, msgpack_zone *z, struct sl_arena *a, const uint8_t *data,
                                  size_t len, struct sl_value *out)
{
    if (len == 0)
        return MP_REF_REFUSED;
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_clear(z);
    if (msgpack_unpack((const char *)data, len, &off, z, &o) != MSGPACK_UNPACK_SUCCESS)
        return MP_REF_REFUSED;
    return to_value(ext, a, &o, out) ? MP_REF_ACCEPTED : MP_REF_REFUSED;
}

enum mp_ref_verdict mp_ref_decode(int ext, msgpack_zone *z, struct sl_arena *a, const uint8_t *data,
                                  size_t len, struct sl_value *out)
{
    return unsafe(data, len) ? MP_REF_UNSAFE : unpack(ext, z, a, data, len, out);
}

const char *mp_ref_check(int ext, const uint8_t *data, size_t len)
{
    static msgpack_zone z;
    static bool have_zone;
    struct sl_arena ours = {0}, ref = {0}, back = {0};
    struct sl_buf out = {0};
    struct sl_value v, r, b;
    char err[256];
    const char *why = NULL;
    if (!have_zone)
        have_zone = msgpack_zone_init(&z, 16384);
    enum mp_ref_verdict verdict = mp_ref_decode(ext, &z, &ref, data, len, &r);
    int rc = mp_decode_value(ext, &ours, data, len, &v, err, sizeof(err));
    if (verdict == MP_REF_UNSAFE)
        goto out;
    if ((rc == 0) != (verdict == MP_REF_ACCEPTED)) {
        why = rc == 0 ? "we accept what msgpack-c refuses" : "we refuse what msgpack-c accepts";
        goto out;
    }
    if (rc < 0) {
        if (strncmp(err, "msgpack: ", 9) != 0 || strchr(err, '\n'))
            why = "a refusal without a one-line \"msgpack: \" reason";
        goto out;
    }
    if (!sl_value_equal(&v, &r)) {
        why = "our record differs from msgpack-c's object";
        goto out;
    }
    if (mp_encode(ext, &v, &out, err, sizeof(err)) < 0) {
        why = "a record we decoded does not encode";
        goto out;
    }
    /* our writer's counts are true: msgpack-c unpacks its bytes unguarded */
    if (unpack(ext, &z, &back, out.data, out.len, &b) != MP_REF_ACCEPTED)
        why = "msgpack-c does not unpack what we encoded";
    else if (!sl_value_equal(&b, &v))
        why = "msgpack-c unpacks what we encoded to another record";
out:
    sl_arena_free(&ours);
    sl_arena_free(&ref);
    sl_arena_free(&back);
    sl_buf_free(&out);
    return why;
}
