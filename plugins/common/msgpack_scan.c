/* msgpack_scan.c - header-by-header walk of one MessagePack object. */
#include <stdio.h>

#include "msgpack_scan.h"

static uint32_t be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* One object header at p[0] (len > 0 bytes available): its header size, the
 * size of its body (str/bin/ext bytes, scalars), and how many objects it
 * contains (array elements, map keys + values). -1 for the reserved byte. */
static int header(const uint8_t *p, size_t len, size_t *hsize, uint64_t *body, uint64_t *children)
{
    uint8_t b = p[0];
    int n = 0; /* length field bytes after the type byte */
    *hsize = 1;
    *body = 0;
    *children = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0x8f) {
        *children = 2u * (b & 0x0f);
        return 0;
    }
    if (b <= 0x9f) {
        *children = b & 0x0f;
        return 0;
    }
    if (b <= 0xbf) {
        *body = b & 0x1f;
        return 0;
    }
    switch (b) {
    case 0xc1:
        return -1;
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */
        n = 1 << (b - 0xc4);
        break;
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length, then the type byte */
        n = 1 << (b - 0xc7);
        *hsize = 2;
        break;
    case 0xca:
        *body = 4;
        return 0;
    case 0xcb:
        *body = 8;
        return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        *body = 1u << (b - 0xcc);
        return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        *body = 1u << (b - 0xd0);
        return 0;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext: type + 1..16 bytes */
        *hsize = 2;
        *body = 1u << (b - 0xd4);
        return 0;
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */
        n = 1 << (b - 0xd9);
        break;
    case 0xdc:
    case 0xdd: /* array 16/32 */
    case 0xde:
    case 0xdf: /* map 16/32 */
        n = b & 1 ? 4 : 2;
        break;
    }
    *hsize += (size_t)n;
    if (len < *hsize)
        return 0; /* the caller reports the truncation */
    uint64_t v = be(p + 1, n);
    if (b >= 0xdc)
        *children = b >= 0xde ? 2 * v : v;
    else
        *body = v;
    return 0;
}

int msgpack_scan(const uint8_t *p, size_t len, int max_depth, size_t *end, char *err, size_t errlen)
{
    uint64_t left[MSGPACK_SCAN_MAX_DEPTH + 1]; /* objects still to read per open level */
    int depth = 0;
    size_t pos = 0;

    if (max_depth > MSGPACK_SCAN_MAX_DEPTH)
        max_depth = MSGPACK_SCAN_MAX_DEPTH;
    left[0] = 1;
    for (;;) {
        while (depth > 0 && left[depth] == 0)
            depth--;
        if (left[depth] == 0)
            break;
        left[depth]--;
        size_t hsize;
        uint64_t body, children;
        if (pos >= len)
            goto truncated;
        if (header(p + pos, len - pos, &hsize, &body, &children) < 0) {
            snprintf(err, errlen, "msgpack: reserved byte 0xc1 at byte %zu", pos);
            return -1;
        }
        if (hsize > len - pos || body > len - pos - hsize)
            goto truncated;
        size_t at = pos;
        pos += hsize + (size_t)body;
        if (!children)
            continue;
        if (children > len - pos) {
            snprintf(err, errlen,
                     "msgpack: container at byte %zu declares %llu objects, only %zu bytes follow",
                     at, (unsigned long long)children, len - pos);
            return -1;
        }
        if (depth >= max_depth) {
            snprintf(err, errlen, "msgpack: nesting deeper than %d at byte %zu", max_depth, at);
            return -1;
        }
        left[++depth] = children;
    }
    *end = pos;
    return 0;
truncated:
    snprintf(err, errlen, "msgpack: truncated at byte %zu of %zu", pos, len);
    return -1;
}
