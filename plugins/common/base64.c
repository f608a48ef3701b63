/* base64.c - see base64.h. */
#include <stdbool.h>

#include "base64.h"

char *base64_encode(char *out, const uint8_t *in, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = tbl[v >> 18];
        *out++ = tbl[(v >> 12) & 63];
        *out++ = tbl[(v >> 6) & 63];
        *out++ = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = tbl[v >> 18];
        *out++ = tbl[(v >> 12) & 63];
        *out++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    return out;
}

static int sextet(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long base64_decode(uint8_t *out, const char *in, size_t n)
{
    if (n % 4)
        return -1;
    uint8_t *o = out;
    for (size_t i = 0; i < n; i += 4) {
        const uint8_t *q = (const uint8_t *)in + i;
        bool last = i + 4 == n;
        int pad = last && q[3] == '=' ? (q[2] == '=' ? 2 : 1) : 0;
        int a = sextet(q[0]), b = sextet(q[1]);
        int c = pad == 2 ? 0 : sextet(q[2]), d = pad ? 0 : sextet(q[3]);
        if (a < 0 || b < 0 || c < 0 || d < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        *o++ = (uint8_t)(v >> 16);
        if (pad < 2)
            *o++ = (uint8_t)(v >> 8);
        if (pad < 1)
            *o++ = (uint8_t)v;
    }
    return (long)(o - out);
}
