/* msgpack_value.h - MessagePack <-> the record tree on msgpack-c, shared by the msgpack
 * codec and sluice.msgpack in Lua. */
#ifndef SLUICE_COMMON_MSGPACK_VALUE_H
#define SLUICE_COMMON_MSGPACK_VALUE_H

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

/* ---- msgpack_decode.c: bytes -> msgpack-c objects -> record ---- */
struct mp_dec {
    msgpack_zone zone; /* msgpack-c's objects; cleared by mp_dec_done */
};
/* Returns 0, or -1 when out of memory. */
int mp_dec_init(struct mp_dec *d);
void mp_dec_fini(struct mp_dec *d);
/* Checks (msgpack_scan) and unpacks exactly one object filling data[0..len)
 * into *obj, valid until mp_dec_done. Returns 0, or -1 with a one-line
 * "msgpack: ..." message in err. */
int mp_dec_unpack(struct mp_dec *d, const uint8_t *data, size_t len, msgpack_object *obj, char *err,
                  size_t errlen);
/* Forgets the objects of the last unpack (keeps the zone's first chunk). */
void mp_dec_done(struct mp_dec *d);
/* An object as a record value, strings copied into the arena (ext: enum
 * mp_ext_mode). Returns 0, or -1 with err. */
int mp_object_to_value(int ext, struct sl_arena *a, const msgpack_object *obj, struct sl_value *out,
                       char *err, size_t errlen);

/* ---- msgpack_encode.c: record -> bytes ---- */
/* A packer writing into out. */
void mp_packer_init(msgpack_packer *pk, struct sl_buf *out);
/* Appends v as one object. Returns 0, or -1 with err and out as it was. */
int mp_encode(int ext, const struct sl_value *v, struct sl_buf *out, char *err, size_t errlen);

#endif
