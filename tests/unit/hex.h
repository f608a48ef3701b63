/* hex.h - test inputs written as hex: "81 a1 6e c0" -> bytes. Included by the
 * codec tests. */
#ifndef SLUICE_TEST_HEX_H
#define SLUICE_TEST_HEX_H

#include <stdint.h>
#include <stdio.h>

/* The bytes of h (pairs of hex digits, spaces between them ignored) into
 * out; returns how many. */
static inline size_t hex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = h; p[0] && p[1];) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        sscanf(p, "%2x", &v);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

#endif
