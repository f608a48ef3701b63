/* value.c - record values as protobuf scalars for the encoder: the conversions and range
 * checks (64-bit unsigned values above INT64_MAX are decimal strings in the record; enums
 * are names or numbers), and the defaults a protoc-c library gives required fields. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "utf8.h"

#include "pb.h"

static int bad(const ProtobufCFieldDescriptor *f, const struct sl_value *v, const char *want,
               char *err, size_t errlen)
{
    snprintf(err, errlen, "protobuf: field %s wants %s, not %s", f->name, want,
             sl_type_name(v->type));
    return -1;
}

/* A record value as an integer in [lo, hi] (unsigned 64-bit: hi = 0 means
 * the whole uint64 range, in *u). Ints, integral doubles and decimal strings. */
static int integer(const ProtobufCFieldDescriptor *f, const struct sl_value *v, int64_t lo,
                   int64_t hi, bool u64, int64_t *i, uint64_t *u, char *err, size_t errlen)
{
    if (v->type == SL_DOUBLE) {
        double d = v->u.d;
        if (d != floor(d) || !(d >= -9223372036854775808.0 && d < 18446744073709551616.0))
            return bad(f, v, "an integer", err, errlen);
        if (d >= 9223372036854775808.0) {
            if (!u64)
                goto range;
            *u = (uint64_t)d;
            return 0;
        }
        *i = (int64_t)d;
    } else if (v->type == SL_STRING) {
        char *end;
        errno = 0;
        if (u64 && v->len && v->u.str[0] != '-') {
            *u = strtoull(v->u.str, &end, 10);
            if (errno || end != v->u.str + v->len || !v->len)
                return bad(f, v, "an integer", err, errlen);
            return 0;
        }
        *i = strtoll(v->u.str, &end, 10);
        if (errno || end != v->u.str + v->len || !v->len)
            return bad(f, v, "an integer (a string that is not one)", err, errlen);
    } else if (v->type == SL_INT) {
        *i = v->u.i;
    } else {
        return bad(f, v, "an integer", err, errlen);
    }
    if (*i < lo || (!u64 && *i > hi))
        goto range;
    *u = (uint64_t)*i;
    return 0;
range:
    snprintf(err, errlen, "protobuf: field %s: value out of range", f->name);
    return -1;
}

static int floating(const ProtobufCFieldDescriptor *f, const struct sl_value *v, double *d,
                    char *err, size_t errlen)
{
    if (v->type == SL_DOUBLE)
        *d = v->u.d;
    else if (v->type == SL_INT)
        *d = (double)v->u.i;
    else if (v->type == SL_STRING && !strcmp(v->u.str, "NaN"))
        *d = NAN;
    else if (v->type == SL_STRING && !strcmp(v->u.str, "Infinity"))
        *d = INFINITY;
    else if (v->type == SL_STRING && !strcmp(v->u.str, "-Infinity"))
        *d = -INFINITY;
    else
        return bad(f, v, "a number", err, errlen);
    return 0;
}

int pb_value_to_scalar(const struct pb_field *f, const struct sl_value *v, struct pb_scalar *out,
                       struct sl_arena *scratch, char *err, size_t errlen)
{
    const ProtobufCFieldDescriptor *fd = f->fd;
    int64_t i = 0;
    uint64_t u = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (integer(fd, v, INT32_MIN, INT32_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        out->u = (uint64_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (integer(fd, v, 0, UINT32_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        out->u = (uint64_t)i;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (integer(fd, v, INT64_MIN, INT64_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        out->u = (uint64_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (integer(fd, v, 0, 0, true, &i, &u, err, errlen) < 0)
            return -1;
        out->u = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return floating(fd, v, &out->d, err, errlen);
    case PROTOBUF_C_TYPE_BOOL:
        if (v->type != SL_BOOL)
            return bad(fd, v, "a bool", err, errlen);
        out->u = v->u.b;
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        if (v->type == SL_STRING) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, v->u.str);
            if (!ev) {
                snprintf(err, errlen, "protobuf: field %s: %s has no value %s", fd->name,
                         ((const ProtobufCEnumDescriptor *)fd->descriptor)->name, v->u.str);
                return -1;
            }
            out->u = (uint64_t)(int64_t)ev->value;
            return 0;
        }
        if (integer(fd, v, INT32_MIN, INT32_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        out->u = (uint64_t)i;
        return 0;
    case PROTOBUF_C_TYPE_STRING:
        if (v->type != SL_STRING && v->type != SL_BYTES)
            return bad(fd, v, "a string", err, errlen);
        if (!utf8_valid((const uint8_t *)v->u.str, v->len)) {
            snprintf(err, errlen, "protobuf: field %s: invalid UTF-8 in a string", fd->name);
            return -1;
        }
        out->p = (const uint8_t *)v->u.str;
        out->n = v->len;
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        if (v->type == SL_BYTES) {
            out->p = (const uint8_t *)v->u.str;
            out->n = v->len;
            return 0;
        }
        if (v->type != SL_STRING)
            return bad(fd, v, "bytes", err, errlen);
        /* text for bytes is base64, as protobuf's JSON mapping (and our json codec) write it */
        uint8_t *b = sl_arena_alloc(scratch, v->len / 4 * 3 + 1);
        long n = b ? base64_decode(b, v->u.str, v->len) : -1;
        if (n < 0) {
            snprintf(err, errlen, "protobuf: field %s: %s", fd->name,
                     b ? "a string for bytes must be base64" : "out of memory");
            return -1;
        }
        out->p = b;
        out->n = (size_t)n;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    snprintf(err, errlen, "protobuf: field %s: not a scalar", fd->name);
    return -1;
}

static int text(struct sl_arena *a, const char *s, size_t n, uint32_t type, struct sl_value *out)
{
    out->type = type;
    out->len = (uint32_t)n;
    out->u.str = sl_arena_strndup(a, s, n);
    return out->u.str ? 0 : -1;
}

int pb_default_value(const struct pb_field *f, struct sl_arena *a, struct sl_value *out)
{
    const void *p = f->fd->default_value;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *out = (struct sl_value){.type = SL_INT, .u.i = *(const int32_t *)p};
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *out = (struct sl_value){.type = SL_INT, .u.i = *(const uint32_t *)p};
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *out = (struct sl_value){.type = SL_INT, .u.i = *(const int64_t *)p};
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)p;
        if (u <= (uint64_t)INT64_MAX) {
            *out = (struct sl_value){.type = SL_INT, .u.i = (int64_t)u};
            return 0;
        }
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%" PRIu64, u);
        return text(a, buf, (size_t)n, SL_STRING, out);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        *out = (struct sl_value){.type = SL_DOUBLE, .u.d = *(const float *)p};
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        *out = (struct sl_value){.type = SL_DOUBLE, .u.d = *(const double *)p};
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        *out = (struct sl_value){.type = SL_BOOL, .u.b = *(const protobuf_c_boolean *)p != 0};
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->fd->descriptor, v);
        *out = ev ? (struct sl_value){.type = SL_STRING,
                                      .len = (uint32_t)strlen(ev->name),
                                      .u.str = ev->name}
                  : (struct sl_value){.type = SL_INT, .u.i = v};
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        /* the schema's string, which outlives every message */
        *out = (struct sl_value){.type = SL_STRING, .len = (uint32_t)strlen(p), .u.str = p};
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return text(a, b->len ? (const char *)b->data : "", b->len, SL_BYTES, out);
    }
    default: /* a message has no default */
        *out = (struct sl_value){.type = SL_MAP};
        return 0;
    }
}
