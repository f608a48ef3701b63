/* framing.h - how messages are delimited in a byte stream (file, stdin, stdout): one per
 * line, or length-prefixed for binary payloads (protobuf, msgpack bytes hold newlines). */
#ifndef SLUICE_COMMON_FRAMING_H
#define SLUICE_COMMON_FRAMING_H

#include <stddef.h>
#include <stdint.h>
#include <sluice/sluice.h>

enum framing {
    FRAMING_LINES = 0, /* bytes, then '\n' */
    FRAMING_VARINT,    /* length as a protobuf varint, then bytes (writeDelimitedTo) */
    FRAMING_U32BE,     /* length as 4 bytes big-endian, then bytes */
};

#define FRAMING_OPTION_DOC                                                                         \
    "\"lines\" (one message per line), \"varint\" (each message after its length as a "            \
    "protobuf varint: protobuf's delimited format) or \"u32be\" (after a 4-byte big-endian "       \
    "length)"

/* The accepted values of the `framing` option, for its `allowed` (the core
 * refuses others with FILE:LINE), NULL-terminated, in enum order. */
extern const char *const framing_names[];
/* The instance's `framing` option (lines when it has none). */
int framing_of(const struct sl_instance *inst);
/* Room the framing needs around a payload of len bytes: header, or '\n'. */
size_t framing_overhead(int framing, size_t len);
/* Appends len's header (nothing for lines) to b. Returns 0, or -1 out of memory. */
int framing_put_head(int framing, size_t len, struct sl_buf *b);
/* Appends the end of a frame (a newline for lines). Returns 0 or -1. */
int framing_put_tail(int framing, struct sl_buf *b);
/* Reads a header at p[0..n): returns its size with the length in *len, 0 when
 * more bytes are needed, -1 when it is not a header (a varint over 10 bytes
 * or past 64 bits). Not for lines. */
int framing_get_head(int framing, const uint8_t *p, size_t n, uint64_t *len);

#endif
