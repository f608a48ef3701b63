/* msgpack_value.h - MessagePack <-> the record tree, read and written directly (no
 * msgpack-c objects in between), shared by the msgpack codec and sluice.msgpack in Lua.
 * msgpack-c stays the reference: tests/fuzz/mp_reference.c checks both against it. */
#ifndef SLUICE_COMMON_MSGPACK_VALUE_H
#define SLUICE_COMMON_MSGPACK_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/message.h"
#include "sluice/value.h"

/* An ext value in the record: a map of exactly these two members, in order. */
#define MP_EXT_TYPE "$ext"
#define MP_EXT_DATA "$data"

enum mp_ext_mode { MP_EXT_WRAP = 0, MP_EXT_REFUSE };

/* Containers open at once, at most (msgpack-c's unpacker keeps 32 too). */
#define MP_MAX_DEPTH 32

/* ---- msgpack_decode.c: bytes -> record, in one pass ---- */

/* Reads objects from data[0..len) into records in an arena, checking as it
 * goes: every header within the bytes, no reserved byte, no more than
 * MP_MAX_DEPTH containers open, and no container declaring more objects than
 * bytes are left for them and for every object still due (each takes at least
 * a byte), so the arena never holds more than ~32 bytes per input byte,
 * whatever the input declares. The input is copied into the arena once and
 * the record's strings point into that copy, each NUL-terminated in place:
 * the record outlives and never aliases the input. */
struct mp_reader {
    const uint8_t *start, *p, *end;
    char *copy; /* the input's len bytes + 1, in the arena */
    size_t due; /* objects declared and not read yet */
    int depth;  /* containers open */
    int ext;    /* enum mp_ext_mode */
    struct sl_arena *arena;
    char *err;
    size_t errlen;
};

/* Starts reading data[0..len) as exactly one object. Returns 0, or -1 with
 * "msgpack: empty payload" or "... payload too large" in err. */
int mp_reader_init(struct mp_reader *r, int ext, struct sl_arena *a, const uint8_t *data,
                   size_t len, char *err, size_t errlen);
/* Reads the next object into *out. Returns 0, or -1 with a one-line
 * "msgpack: ..." message (naming the byte offset where there is one) in err. */
int mp_read_value(struct mp_reader *r, struct sl_value *out);
/* Reads the header of an array: 1 and its length in *n; 0 when the next
 * object is not an array (nothing read); -1 with err. The caller reads its
 * n elements, then (n > 0) closes its level with r->depth--. */
int mp_read_array(struct mp_reader *r, uint32_t *n);
/* The end of a decode: 0 when every byte was read, else -1 with err. */
int mp_reader_finish(struct mp_reader *r);
/* True when b starts an ext object. */
static inline bool mp_is_ext_byte(uint8_t b)
{
    return (b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8);
}

/* Decodes exactly one object filling data[0..len) into *out (ext: enum
 * mp_ext_mode). Returns 0, or -1 with err. */
int mp_decode_value(int ext, struct sl_arena *a, const uint8_t *data, size_t len,
                    struct sl_value *out, char *err, size_t errlen);

/* ---- msgpack_encode.c: record -> bytes ---- */
/* Appends v as one object, in msgpack's smallest forms (as msgpack-c's packer
 * writes them). Returns 0, or -1 with err and out as it was. */
int mp_encode(int ext, const struct sl_value *v, struct sl_buf *out, char *err, size_t errlen);

#endif
