/* wire.h - protobuf wire format primitives for the decoder and the encoder, inline for the
 * hot path. Reading follows protobuf-c 1.4.1's limits (10-byte varints, 5-byte tags and
 * length prefixes) so that both accept the same bytes. */
#ifndef SLUICE_PB_WIRE_H
#define SLUICE_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "utf8.h"

/* A varint at p (< end) of at most 10 bytes: its value (bits past 64 dropped),
 * and the byte after it; NULL when cut short or longer. */
static inline const uint8_t *wire_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    uint64_t x = 0;
    const uint8_t *stop = end - p > 10 ? p + 10 : end;
    for (unsigned shift = 0; p < stop; shift += 7) {
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

/* A tag or a length prefix: a varint of at most 5 bytes (protobuf-c reads no
 * more), value below 2^35. NULL when cut short or longer. */
static inline const uint8_t *wire_varint5(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    uint64_t x = 0;
    const uint8_t *stop = end - p > 5 ? p + 5 : end;
    for (unsigned shift = 0; p < stop; shift += 7) {
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

/* Bytes of v as a varint. */
static inline unsigned wire_varint_size(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80)
        v >>= 7, n++;
    return n;
}

/* Writes v as a varint at o; returns the byte after it. */
static inline uint8_t *wire_put_varint(uint8_t *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t)v;
    return o;
}

static inline uint32_t wire_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* the wire and this host are little-endian */
    return v;
}

static inline uint64_t wire_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline int32_t wire_unzigzag32(uint32_t v)
{
    return (int32_t)((v >> 1) ^ -(v & 1));
}

static inline int64_t wire_unzigzag64(uint64_t v)
{
    return (int64_t)((v >> 1) ^ -(v & 1));
}

static inline uint64_t wire_zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline uint32_t wire_zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

/* UTF-8 check with the ASCII case inline: whole 8-byte words, the tail as one
 * overlapping word; anything else goes to utf8_valid. */
static inline bool wire_utf8(const uint8_t *p, size_t n)
{
    uint64_t w, any = 0;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            memcpy(&w, p + i, 8);
            any |= w;
        }
        memcpy(&w, p + n - 8, 8);
        any |= w;
    } else {
        for (size_t i = 0; i < n; i++)
            any |= p[i];
    }
    return !(any & 0x8080808080808080ull) || utf8_valid(p, n);
}

#endif
