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

static int fail(struct mp_reader *r, const char *msg)
{
    snprintf(r->err, r->errlen, "msgpack: %s", msg);
    return -1;
}

/* The time, read as a value; an ext even with ext = "refuse" (the option is
 * about the record), and only a real ext, not a map that looks like one. */
static int read_time(struct mp_reader *r, struct mp_time *t)
{
    bool is_ext = r->p < r->end && mp_is_ext_byte(*r->p);
    int mode = r->ext;
    struct sl_value v;
    r->ext = MP_EXT_WRAP;
    int rc = mp_read_value(r, &v);
    r->ext = mode;
    if (rc < 0)
        return -1;
    switch (v.type) {
    case SL_INT:
        t->sec = v.u.i;
        t->nsec = 0;
        return 0;
    case SL_DOUBLE: {
        double d = v.u.d, s = floor(d);
        if (!(s >= -9.2e18 && s <= 9.2e18))
            break;
        t->sec = (int64_t)s;
        t->nsec = (uint32_t)((d - s) * 1e9);
        if (t->nsec > 999999999)
            t->nsec = 999999999;
        return 0;
    }
    case SL_MAP: { /* the decoder's ext wrapper: {"$ext": type, "$data": bytes} */
        if (!is_ext)
            break;
        const struct sl_value *type = &v.u.members[0].value, *data = &v.u.members[1].value;
        if (type->u.i != EVENT_TIME_EXT || data->len != 8)
            break;
        t->sec = be32(data->u.str);
        t->nsec = be32(data->u.str + 4);
        if (t->nsec > 999999999)
            break;
        return 0;
    }
    default: /* (an integer above INT64_MAX is a string here) */
        break;
    }
    return fail(r, "event time is not an integer, a float or an EventTime");
}

int mp_fluent_read_head(struct mp_reader *r, struct mp_time *time)
{
    uint32_t n;
    int rc = mp_read_array(r, &n);
    if (rc < 0)
        return -1;
    if (rc == 0 || n != 2)
        return fail(r, "a fluent event is an array [time, record]");
    rc = mp_read_array(r, &n); /* Fluent Bit 2: [time, metadata] */
    if (rc < 0)
        return -1;
    if (rc == 0)
        return read_time(r, time);
    struct sl_value meta;
    if (n != 2)
        return fail(r, "a fluent event header is [time, metadata map]");
    if (read_time(r, time) < 0 || mp_read_value(r, &meta) < 0)
        return -1;
    if (meta.type != SL_MAP)
        return fail(r, "a fluent event header is [time, metadata map]");
    r->depth--;
    return 0;
}

int mp_fluent_put_head(struct sl_buf *out, const struct mp_time *t)
{
    uint8_t b[11] = {0x92, 0xd7, EVENT_TIME_EXT};
    uint32_t s = (uint32_t)t->sec, n = t->nsec;
    for (int i = 0; i < 4; i++) {
        b[3 + i] = (uint8_t)(s >> (24 - 8 * i));
        b[7 + i] = (uint8_t)(n >> (24 - 8 * i));
    }
    return sl_buf_append(out, b, sizeof(b));
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
