/* framing.c - see framing.h. */
#include <string.h>

#include "framing.h"

const char *const framing_names[] = {"lines", "varint", "u32be", NULL};

int framing_of(const struct sl_instance *inst)
{
    const char *f = sl_opt_str(inst, "framing");
    for (int i = 0; f && framing_names[i]; i++)
        if (!strcmp(f, framing_names[i]))
            return i;
    return FRAMING_LINES;
}

size_t framing_overhead(int framing, size_t len)
{
    if (framing == FRAMING_LINES)
        return 1;
    if (framing == FRAMING_U32BE)
        return 4;
    size_t n = 1;
    for (; len >= 0x80; len >>= 7)
        n++;
    return n;
}

int framing_put_head(int framing, size_t len, struct sl_buf *b)
{
    uint8_t h[10];
    size_t n = 0;
    if (framing == FRAMING_LINES)
        return 0;
    if (framing == FRAMING_U32BE) {
        uint32_t v = (uint32_t)len;
        h[0] = (uint8_t)(v >> 24), h[1] = (uint8_t)(v >> 16), h[2] = (uint8_t)(v >> 8);
        h[3] = (uint8_t)v;
        n = 4;
    } else {
        for (; len >= 0x80; len >>= 7)
            h[n++] = (uint8_t)(len | 0x80);
        h[n++] = (uint8_t)len;
    }
    return sl_buf_append(b, h, n);
}

int framing_put_tail(int framing, struct sl_buf *b)
{
    return framing == FRAMING_LINES ? sl_buf_append(b, "\n", 1) : 0;
}

int framing_get_head(int framing, const uint8_t *p, size_t n, uint64_t *len)
{
    if (framing == FRAMING_U32BE) {
        if (n < 4)
            return 0;
        *len = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        return 4;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == n)
            return 0;
        if (i == 9 && p[i] > 1)
            return -1; /* past 64 bits */
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *len = v;
            return (int)i + 1;
        }
    }
    return -1;
}
