/* fluent.c - the Fluentd / Fluent Bit event: [time, record], the time an integer, a float
 * or an EventTime (ext type 0: seconds and nanoseconds, 32-bit big-endian each); Fluent
 * Bit 2's [[time, metadata], record] is read too (the metadata is not kept). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"

#define EVENT_TIME_EXT 0

static uint32_t be32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static int read_time(const msgpack_object *o, struct mp_time *t, char *err, size_t errlen)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            break;
        t->sec = (int64_t)o->via.u64;
        t->nsec = 0;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        t->sec = o->via.i64;
        t->nsec = 0;
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        double d = o->via.f64, s = floor(d);
        if (!(s >= -9.2e18 && s <= 9.2e18))
            break;
        t->sec = (int64_t)s;
        t->nsec = (uint32_t)((d - s) * 1e9);
        if (t->nsec > 999999999)
            t->nsec = 999999999;
        return 0;
    }
    case MSGPACK_OBJECT_EXT:
        if (o->via.ext.type != EVENT_TIME_EXT || o->via.ext.size != 8)
            break;
        t->sec = be32(o->via.ext.ptr);
        t->nsec = be32(o->via.ext.ptr + 4);
        if (t->nsec > 999999999)
            break;
        return 0;
    default:
        break;
    }
    snprintf(err, errlen, "msgpack: event time is not an integer, a float or an EventTime");
    return -1;
}

int mp_fluent_unwrap(const msgpack_object *event, struct mp_time *time,
                     const msgpack_object **record, char *err, size_t errlen)
{
    if (event->type != MSGPACK_OBJECT_ARRAY || event->via.array.size != 2) {
        snprintf(err, errlen, "msgpack: a fluent event is an array [time, record]");
        return -1;
    }
    const msgpack_object *t = &event->via.array.ptr[0];
    if (t->type == MSGPACK_OBJECT_ARRAY) { /* Fluent Bit 2: [time, metadata] */
        if (t->via.array.size != 2 || t->via.array.ptr[1].type != MSGPACK_OBJECT_MAP) {
            snprintf(err, errlen, "msgpack: a fluent event header is [time, metadata map]");
            return -1;
        }
        t = &t->via.array.ptr[0];
    }
    if (read_time(t, time, err, errlen) < 0)
        return -1;
    *record = &event->via.array.ptr[1];
    if ((*record)->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "msgpack: a fluent event's record must be a map");
        return -1;
    }
    return 0;
}

int mp_fluent_pack_head(msgpack_packer *pk, const struct mp_time *t)
{
    char b[8];
    uint32_t s = (uint32_t)t->sec, n = t->nsec;
    for (int i = 0; i < 4; i++) {
        b[i] = (char)(s >> (24 - 8 * i));
        b[4 + i] = (char)(n >> (24 - 8 * i));
    }
    return msgpack_pack_array(pk, 2) || msgpack_pack_ext_with_body(pk, b, 8, EVENT_TIME_EXT) ? -1
                                                                                             : 0;
}

void mp_time_format(const struct mp_time *t, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRId64 ".%09" PRIu32, t->sec, t->nsec);
}

int mp_time_parse(const char *s, size_t n, struct mp_time *t)
{
    char buf[40], *end;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    long long sec = strtoll(buf, &end, 10);
    if (errno || end == buf)
        return -1;
    t->sec = sec;
    t->nsec = 0;
    if (*end == '.') {
        const char *f = end + 1;
        uint32_t ns = 0;
        int digits = 0;
        for (; *f >= '0' && *f <= '9'; f++)
            if (digits < 9) {
                ns = ns * 10 + (uint32_t)(*f - '0');
                digits++;
            }
        for (; digits < 9; digits++)
            ns *= 10;
        t->nsec = ns;
        end = (char *)f;
    }
    return *end ? -1 : 0;
}
