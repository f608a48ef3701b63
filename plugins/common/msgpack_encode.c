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

static int pack_value(int ext, msgpack_packer *pk, const struct sl_value *v, int depth, char *err,
                      size_t errlen)
{
    int rc = 0;
    switch (v->type) {
    case SL_NULL:
        return msgpack_pack_nil(pk) ? -1 : 0;
    case SL_BOOL:
        return (v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? -1 : 0;
    case SL_INT:
        return msgpack_pack_int64(pk, v->u.i) ? -1 : 0;
    case SL_DOUBLE:
        return msgpack_pack_double(pk, v->u.d) ? -1 : 0;
    case SL_STRING:
        return msgpack_pack_str_with_body(pk, v->u.str, v->len) ? -1 : 0;
    case SL_BYTES:
        return msgpack_pack_bin_with_body(pk, v->u.str, v->len) ? -1 : 0;
    case SL_ARRAY:
    case SL_MAP:
        break;
    default:
        snprintf(err, errlen, "msgpack: cannot encode a value of type %u", v->type);
        return -2;
    }
    int8_t ext_type;
    const struct sl_value *data;
    if (ext == MP_EXT_WRAP && is_ext(v, &ext_type, &data)) /* a scalar on the wire */
        return msgpack_pack_ext_with_body(pk, data->u.str, data->len, ext_type) ? -1 : 0;
    if (depth >= MSGPACK_SCAN_MAX_DEPTH) {
        snprintf(err, errlen, "msgpack: nesting deeper than %d", MSGPACK_SCAN_MAX_DEPTH);
        return -2;
    }
    if (v->type == SL_ARRAY) {
        rc = msgpack_pack_array(pk, v->len);
        for (uint32_t i = 0; !rc && i < v->len; i++)
            rc = pack_value(ext, pk, &v->u.items[i], depth + 1, err, errlen);
        return rc;
    }
    rc = msgpack_pack_map(pk, v->len);
    for (uint32_t i = 0; !rc && i < v->len; i++) {
        const struct sl_member *m = &v->u.members[i];
        rc = msgpack_pack_str_with_body(pk, m->key, m->key_len);
        if (!rc)
            rc = pack_value(ext, pk, &m->value, depth + 1, err, errlen);
    }
    return rc;
}

int mp_encode(int ext, const struct sl_value *v, struct sl_buf *out, char *err, size_t errlen)
{
    msgpack_packer pk;
    size_t was = out->len;
    mp_packer_init(&pk, out);
    int rc = pack_value(ext, &pk, v, 0, err, errlen);
    if (rc == 0)
        return 0;
    if (rc == -1) /* the packer's write failed */
        snprintf(err, errlen, "msgpack: out of memory");
    out->len = was;
    return -1;
}
