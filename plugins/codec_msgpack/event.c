/* event.c - one payload as a record: the whole object, or a Fluentd event's record. */
#include <stdio.h>

#include "mp.h"

int mp_decode(const struct mp_opts *o, struct sl_arena *arena, const uint8_t *data, size_t len,
              struct sl_value *out, struct mp_time *time, char *err, size_t errlen)
{
    struct mp_reader r;
    if (mp_reader_init(&r, o->ext, arena, data, len, err, errlen) < 0)
        return -1;
    if (o->fluent && mp_fluent_read_head(&r, time) < 0)
        return -1;
    if (mp_read_value(&r, out) < 0)
        return -1;
    if (o->fluent && out->type != SL_MAP) {
        snprintf(err, errlen, "msgpack: a fluent event's record must be a map");
        return -1;
    }
    return mp_reader_finish(&r);
}

int mp_encode_event(const struct mp_opts *o, const struct sl_value *v, const struct mp_time *t,
                    struct sl_buf *out, char *err, size_t errlen)
{
    size_t was = out->len;
    if (o->fluent) {
        if (v->type != SL_MAP) {
            snprintf(err, errlen, "msgpack: a fluent event's record must be a map, not %s",
                     sl_type_name(v->type));
            return -1;
        }
        if (mp_fluent_put_head(out, t) < 0) {
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
