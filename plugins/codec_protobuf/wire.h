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

#define WIRE_MAX_FIELD_NUMBER 536870911u /* 2^29 - 1: protobuf's largest */

/* A varint at p (< end) of at most max_bytes bytes: its value (bits past 64
 * dropped) and the byte after it; NULL when cut short or longer. max_bytes is
 * a constant at every call, so each caller gets its own unrolled copy. */
static inline const uint8_t *wire_varint_max(const uint8_t *p, const uint8_t *end, uint64_t *v,
                                             unsigned max_bytes)
{
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    uint64_t x = 0;
    const uint8_t *stop = (size_t)(end - p) > max_bytes ? p + max_bytes : end;
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

/* A value: a varint of at most 10 bytes. */
static inline const uint8_t *wire_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    return wire_varint_max(p, end, v, 10);
}

/* A tag or a length prefix: a varint of at most 5 bytes (protobuf-c reads no
 * more), value below 2^35. */
static inline const uint8_t *wire_varint5(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    return wire_varint_max(p, end, v, 5);
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

/* The bytes of p[0..n) ORed together in words, from overlapping loads inside
 * the span (no byte past it is read): enough to see whether any has its top
 * bit set. */
static inline uint64_t wire_or_bytes(const uint8_t *p, size_t n)
{
    uint64_t w, x, any = 0;
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, p + i, 8);
            any |= w;
        }
        memcpy(&w, p + n - 8, 8);
        return any | w;
    }
    uint32_t a, b;
    if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return a | b;
    }
    uint16_t c, d;
    if (n >= 2) {
        memcpy(&c, p, 2);
        memcpy(&d, p + n - 2, 2);
        return (uint64_t)(c | d);
    }
    x = n ? p[0] : 0;
    return x;
}

/* UTF-8 check with the ASCII case inline; anything else goes to utf8_valid. */
static inline bool wire_utf8(const uint8_t *p, size_t n)
{
    return !(wire_or_bytes(p, n) & 0x8080808080808080ull) || utf8_valid(p, n);
}

/* Whether a[0..n) equals b[0..n): short spans (record keys) by overlapping
 * loads, without a call. */
static inline bool wire_same(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    if (n > 16)
        return !memcmp(x, y, n);
    if (n >= 8) {
        uint64_t x0, x1, y0, y1;
        memcpy(&x0, x, 8), memcpy(&x1, x + n - 8, 8);
        memcpy(&y0, y, 8), memcpy(&y1, y + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4) {
        uint32_t x0, x1, y0, y1;
        memcpy(&x0, x, 4), memcpy(&x1, x + n - 4, 4);
        memcpy(&y0, y, 4), memcpy(&y1, y + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 2) {
        uint16_t x0, x1, y0, y1;
        memcpy(&x0, x, 2), memcpy(&x1, x + n - 2, 2);
        memcpy(&y0, y, 2), memcpy(&y1, y + n - 2, 2);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return !n || x[0] == y[0];
}

/* memcpy for the short strings a record is full of, without a call. */
static inline void wire_copy(void *dst, const void *src, size_t n)
{
    uint8_t *o = dst;
    const uint8_t *p = src;
    if (n > 16) {
        memcpy(o, p, n);
    } else if (n >= 8) {
        uint64_t w0, w1;
        memcpy(&w0, p, 8), memcpy(&w1, p + n - 8, 8);
        memcpy(o, &w0, 8), memcpy(o + n - 8, &w1, 8);
    } else if (n >= 4) {
        uint32_t w0, w1;
        memcpy(&w0, p, 4), memcpy(&w1, p + n - 4, 4);
        memcpy(o, &w0, 4), memcpy(o + n - 4, &w1, 4);
    } else if (n >= 2) {
        uint16_t w0, w1;
        memcpy(&w0, p, 2), memcpy(&w1, p + n - 2, 2);
        memcpy(o, &w0, 2), memcpy(o + n - 2, &w1, 2);
    } else if (n) {
        o[0] = p[0];
    }
}

#endif
