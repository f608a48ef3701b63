/* mp.h - internals of the msgpack codec shared by its files and the fuzz target. */
#ifndef SLUICE_CODEC_MSGPACK_H
#define SLUICE_CODEC_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "sluice/message.h"
#include "sluice/value.h"

/* An ext value in the record: a map of exactly these two members, in order. */
#define MP_EXT_TYPE "$ext"
#define MP_EXT_DATA "$data"

enum mp_ext_mode { MP_EXT_WRAP = 0, MP_EXT_REFUSE };

struct mp_opts {
    int ext;     /* enum mp_ext_mode */
    bool fluent; /* messages are Fluentd/Fluent Bit events: [time, record] */
};

/* ---- decode.c: one worker's decoder (not thread-safe) ---- */
struct mp_dec {
    const struct mp_opts *o;
    msgpack_zone zone; /* msgpack-c's objects; cleared after each message */
};
/* Returns 0, or -1 when out of memory. */
int mp_dec_init(struct mp_dec *d, const struct mp_opts *o);
void mp_dec_fini(struct mp_dec *d);
/* Decodes exactly one object from data into *out (in arena): the whole of it,
 * or in fluent mode its record, the event time going to *time when not NULL.
 * Returns 0, or -1 with a one-line "msgpack: ..." message in err. */
struct mp_time {
    int64_t sec;
    uint32_t nsec;
};
int mp_decode(struct mp_dec *d, struct sl_arena *arena, const uint8_t *data, size_t len,
              struct sl_value *out, struct mp_time *time, char *err, size_t errlen);
/* msgpack-c's object as a record value (strings copied into the arena). */
int mp_object_to_value(const struct mp_opts *o, struct sl_arena *a, const msgpack_object *obj,
                       struct sl_value *out, char *err, size_t errlen);

/* ---- encode.c ---- */
/* Appends v as one msgpack object. Returns 0, or -1 with err and out as it was. */
int mp_encode(const struct mp_opts *o, const struct sl_value *v, struct sl_buf *out, char *err,
              size_t errlen);
/* The packer the encoder uses, writing into out. */
void mp_packer_init(msgpack_packer *pk, struct sl_buf *out);
int mp_pack_value(const struct mp_opts *o, msgpack_packer *pk, const struct sl_value *v, int depth,
                  char *err, size_t errlen);

/* ---- fluent.c: the Fluentd/Fluent Bit event, [time, record] ---- */
/* Splits an event into its time and record objects. Returns 0 or -1 + err. */
int mp_fluent_unwrap(const msgpack_object *event, struct mp_time *time,
                     const msgpack_object **record, char *err, size_t errlen);
/* Writes the event array header and the time as an EventTime ext. */
int mp_fluent_pack_head(msgpack_packer *pk, const struct mp_time *t);
/* The time as the header text "SEC.NNNNNNNNN" (buf >= 32), and back. */
void mp_time_format(const struct mp_time *t, char *buf, size_t len);
int mp_time_parse(const char *s, size_t n, struct mp_time *t);

#define MP_TIME_HEADER "fluent_time"

#endif
