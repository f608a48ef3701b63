/* check.c - a walk over protobuf wire bytes guided by the schema. protobuf-c's unpack
 * says only "no" (its error macro is compiled out) and recurses without a limit; this
 * says where and why, and bounds the nesting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "utf8.h"

#include "pb.h"

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

struct walk {
    const uint8_t *start; /* of the whole payload, for offsets */
    char *err;
    size_t errlen;
};

static int fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, w->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A varint at *p (< end): its value, *p moved past it. -1 when cut short or
 * longer than ten bytes. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        if (shift < 64)
            *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

static int wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return WT_64BIT;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return WT_32BIT;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return WT_LEN;
    default:
        return WT_VARINT;
    }
}

/* The contents of a packed repeated field: whole elements only. */
static int check_packed(struct walk *w, const ProtobufCFieldDescriptor *f, const uint8_t *p,
                        const uint8_t *end)
{
    int wt = wire_type_of(f->type);
    size_t n = (size_t)(end - p);
    if ((wt == WT_64BIT && n % 8) || (wt == WT_32BIT && n % 4))
        return fail(w, "protobuf: packed field %s at byte %zu is not a whole number of values",
                    f->name, (size_t)(p - w->start));
    while (wt == WT_VARINT && p < end) {
        uint64_t v;
        const uint8_t *at = p;
        if (varint(&p, end, &v) < 0)
            return fail(w, "protobuf: bad varint in packed field %s at byte %zu", f->name,
                        (size_t)(at - w->start));
    }
    return 0;
}

static int walk_message(struct walk *w, const struct pb_type *t, const uint8_t *p,
                        const uint8_t *end, int depth)
{
    const ProtobufCMessageDescriptor *d = t->d;
    uint64_t seen_small = 0; /* required fields seen, by field index (first 64) */
    uint8_t *seen_big = d->n_fields > 64 ? calloc(d->n_fields, 1) : NULL;
    int rc = -1;

    if (d->n_fields > 64 && !seen_big)
        return fail(w, "protobuf: out of memory");
    while (p < end) {
        const uint8_t *at = p;
        uint64_t key, v = 0;
        if (varint(&p, end, &key) < 0) {
            fail(w, "protobuf: truncated or bad field tag at byte %zu", (size_t)(at - w->start));
            goto out;
        }
        uint64_t number = key >> 3;
        int wt = (int)(key & 7);
        if (number == 0 || number > 536870911) {
            fail(w, "protobuf: bad field number %llu at byte %zu", (unsigned long long)number,
                 (size_t)(at - w->start));
            goto out;
        }
        const uint8_t *val = p;
        switch (wt) {
        case WT_VARINT:
            if (varint(&p, end, &v) < 0) {
                fail(w, "protobuf: truncated or bad varint at byte %zu", (size_t)(val - w->start));
                goto out;
            }
            break;
        case WT_64BIT:
        case WT_32BIT: {
            size_t n = wt == WT_64BIT ? 8 : 4;
            if ((size_t)(end - p) < n) {
                fail(w, "protobuf: truncated %zu-byte value at byte %zu", n,
                     (size_t)(val - w->start));
                goto out;
            }
            p += n;
            break;
        }
        case WT_LEN:
            if (varint(&p, end, &v) < 0 || v > (uint64_t)(end - p)) {
                fail(w, "protobuf: truncated length-delimited value at byte %zu",
                     (size_t)(val - w->start));
                goto out;
            }
            val = p;
            p += v;
            break;
        default:
            fail(w, "protobuf: wire type %d at byte %zu is not supported (groups are not)", wt,
                 (size_t)(at - w->start));
            goto out;
        }
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(d, (unsigned)number);
        if (!f)
            continue; /* unknown: kept as it is */
        unsigned i = (unsigned)(f - d->fields);
        if (i < 64)
            seen_small |= 1ull << i;
        else
            seen_big[i] = 1;
        int want = wire_type_of(f->type);
        if (wt == WT_LEN && want != WT_LEN && f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (check_packed(w, f, val, p) < 0)
                goto out;
            continue;
        }
        if (wt != want) {
            fail(w, "protobuf: field %s (%u) of %s has wire type %d, not %d, at byte %zu", f->name,
                 f->id, d->name, wt, want, (size_t)(at - w->start));
            goto out;
        }
        if (f->type == PROTOBUF_C_TYPE_STRING && !utf8_valid(val, (size_t)(p - val))) {
            fail(w, "protobuf: invalid UTF-8 in string field %s at byte %zu", f->name,
                 (size_t)(val - w->start));
            goto out;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (depth >= PB_MAX_DEPTH) {
                fail(w, "protobuf: messages nested deeper than %d at byte %zu", PB_MAX_DEPTH,
                     (size_t)(val - w->start));
                goto out;
            }
            if (walk_message(w, t->sub[i], val, p, depth + 1) < 0)
                goto out;
        }
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        bool seen = i < 64 ? (seen_small >> i) & 1 : seen_big[i];
        if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen) {
            fail(w, "protobuf: missing required field %s of %s", d->fields[i].name, d->name);
            goto out;
        }
    }
    rc = 0;
out:
    free(seen_big);
    return rc;
}

int pb_check(const struct pb_type *t, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    if (!data)
        data = empty;
    struct walk w = {.start = data, .err = err, .errlen = errlen};
    return walk_message(&w, t, data, data + len, 1);
}
