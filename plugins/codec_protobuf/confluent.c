/* confluent.c - the Confluent Schema Registry wire format around a protobuf message:
 * magic byte 0, the schema id (4 bytes, big-endian), then the message indexes - a
 * zig-zag varint count and that many zig-zag varints; [0] is written as one 0 byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"

#define MAX_INDEXES 32

static int zigzag_varint(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return -1;
}

long pb_confluent_strip(const uint8_t *data, size_t len, char *id_text, size_t id_len,
                        char *index_text, size_t index_len, char *err, size_t errlen)
{
    if (len < 5 || data[0] != 0) {
        snprintf(err, errlen, "protobuf: no Confluent framing (magic byte 0 and a schema id)");
        return -1;
    }
    uint32_t id =
        (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
    snprintf(id_text, id_len, "%u", id);
    const uint8_t *p = data + 5, *end = data + len;
    int64_t count, ix;
    if (zigzag_varint(&p, end, &count) < 0 || count < 0 || count > MAX_INDEXES) {
        snprintf(err, errlen, "protobuf: bad Confluent message-index count at byte 5");
        return -1;
    }
    size_t o = 0;
    index_text[0] = 0;
    if (count == 0)
        o += (size_t)snprintf(index_text, index_len, "0");
    for (int64_t i = 0; i < count; i++) {
        if (zigzag_varint(&p, end, &ix) < 0 || ix < 0) {
            snprintf(err, errlen, "protobuf: bad Confluent message index at byte %zu",
                     (size_t)(p - data));
            return -1;
        }
        if (o < index_len)
            o += (size_t)snprintf(index_text + o, index_len - o, "%s%lld", i ? "." : "",
                                  (long long)ix);
    }
    return (long)(p - data);
}

static int put_zigzag(struct sl_buf *out, int64_t v)
{
    uint64_t u = (uint64_t)v << 1 ^ (uint64_t)(v >> 63);
    uint8_t b[10];
    int n = 0;
    while (u >= 0x80) {
        b[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    b[n++] = (uint8_t)u;
    return sl_buf_append(out, b, (size_t)n);
}

int pb_confluent_write(struct sl_buf *out, uint32_t id, const char *index_text, char *err,
                       size_t errlen)
{
    uint8_t head[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                       (uint8_t)id};
    int64_t ix[MAX_INDEXES];
    int n = 0;
    const char *p = index_text && *index_text ? index_text : "0";
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || n == MAX_INDEXES || (*end && *end != '.')) {
            snprintf(err, errlen, "protobuf: bad Confluent message index \"%s\"", index_text);
            return -1;
        }
        ix[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (sl_buf_append(out, head, sizeof(head)) < 0)
        goto oom;
    if (n == 1 && ix[0] == 0) /* the common case [0]: a single 0 */
        return put_zigzag(out, 0) < 0 ? -1 : 0;
    if (put_zigzag(out, n) < 0)
        goto oom;
    for (int i = 0; i < n; i++)
        if (put_zigzag(out, ix[i]) < 0)
            goto oom;
    return 0;
oom:
    snprintf(err, errlen, "protobuf: out of memory");
    return -1;
}
