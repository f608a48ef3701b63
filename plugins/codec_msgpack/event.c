/* event.c - one payload as a record: the whole object, or a Fluentd event's record. */
#include <stdio.h>

#include "mp.h"

int mp_decode(const struct mp_opts *o, struct mp_dec *d, struct sl_arena *arena,
              const uint8_t *data, size_t len, struct sl_value *out, struct mp_time *time,
              char *err, size_t errlen)
{
    msgpack_object obj;
    if (mp_dec_unpack(d, data, len, &obj, err, errlen) < 0)
        return -1;
    const msgpack_object *rec = &obj;
    int rc = o->fluent ? mp_fluent_unwrap(&obj, time, &rec, err, errlen) : 0;
    if (rc == 0)
        rc = mp_object_to_value(o->ext, arena, rec, out, err, errlen);
    mp_dec_done(d);
    return rc;
}

int mp_encode_event(const struct mp_opts *o, const struct sl_value *v, const struct mp_time *t,
                    struct sl_buf *out, char *err, size_t errlen)
{
    size_t was = out->len;
    if (o->fluent) {
        msgpack_packer pk;
        if (v->type != SL_MAP) {
            snprintf(err, errlen, "msgpack: a fluent event's record must be a map, not %s",
                     sl_type_name(v->type));
            return -1;
        }
        mp_packer_init(&pk, out);
        if (mp_fluent_pack_head(&pk, t) < 0) {
            out->len = was;
            snprintf(err, errlen, "msgpack: out of memory");
            return -1;
        }
    }
    if (mp_encode(o->ext, v, out, err, errlen) < 0) {
        out->len = was;
        return -1;
    }
    return 0;
}
