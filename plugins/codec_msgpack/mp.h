/* mp.h - internals of the msgpack codec shared by its files and the fuzz target; the
 * value mapping itself is plugins/common/msgpack_value.h. */
#ifndef SLUICE_CODEC_MSGPACK_H
#define SLUICE_CODEC_MSGPACK_H

#include "msgpack_value.h"

struct mp_opts {
    int ext;     /* enum mp_ext_mode */
    bool fluent; /* messages are Fluentd/Fluent Bit events: [time, record] */
};

struct mp_time {
    int64_t sec;
    uint32_t nsec;
};

/* ---- event.c: a payload to a record, plain or as a Fluentd event ---- */
/* Decodes exactly one object from data into *out (in arena): the whole of it,
 * or with o->fluent its record, the event time going to *time. Returns 0, or
 * -1 with a one-line "msgpack: ..." message in err. */
int mp_decode(const struct mp_opts *o, struct sl_arena *arena, const uint8_t *data, size_t len,
              struct sl_value *out, struct mp_time *time, char *err, size_t errlen);
/* Encodes the record, with o->fluent as the event [t, record]. Returns 0 or -1 + err. */
int mp_encode_event(const struct mp_opts *o, const struct sl_value *v, const struct mp_time *t,
                    struct sl_buf *out, char *err, size_t errlen);

/* ---- fluent.c: the Fluentd/Fluent Bit event, [time, record] ---- */
/* Reads an event's array header and its time, leaving r at the record.
 * Returns 0 or -1 with r's err. */
int mp_fluent_read_head(struct mp_reader *r, struct mp_time *time);
/* Appends the event's array header and the time as an EventTime ext.
 * Returns 0, or -1 out of memory. */
int mp_fluent_put_head(struct sl_buf *out, const struct mp_time *t);
/* The time as the header text "SEC.NNNNNNNNN" (buf >= 32), and back. */
void mp_time_format(const struct mp_time *t, char *buf, size_t len);
int mp_time_parse(const char *s, size_t n, struct mp_time *t);

#define MP_TIME_HEADER "fluent_time"

#endif
