/* value.c - one protobuf scalar between its C form in a protobuf-c message and a record
 * value. 64-bit unsigned values above INT64_MAX are decimal strings in the record; enums
 * are names (numbers the schema does not know stay ints). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "utf8.h"

#include "pb.h"

size_t pb_type_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    default: /* the 64-bit numbers */
        return 8;
    }
}

static int text(struct sl_arena *a, const char *s, size_t n, uint32_t type, struct sl_value *out,
                char *err, size_t errlen)
{
    out->type = type;
    out->len = (uint32_t)n;
    out->u.str = sl_arena_strndup(a, s, n);
    if (out->u.str)
        return 0;
    snprintf(err, errlen, "protobuf: out of memory");
    return -1;
}

int pb_scalar_to_value(const ProtobufCFieldDescriptor *f, const void *p, struct sl_arena *a,
                       struct sl_value *out, char *err, size_t errlen)
{
    *out = (struct sl_value){.type = SL_INT};
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        out->u.i = *(const int32_t *)p;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        out->u.i = *(const uint32_t *)p;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        out->u.i = *(const int64_t *)p;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)p;
        if (u <= (uint64_t)INT64_MAX) {
            out->u.i = (int64_t)u;
            return 0;
        }
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%" PRIu64, u);
        return text(a, buf, (size_t)n, SL_STRING, out, err, errlen);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        out->type = SL_DOUBLE;
        out->u.d = *(const float *)p;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        out->type = SL_DOUBLE;
        out->u.d = *(const double *)p;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        out->type = SL_BOOL;
        out->u.b = *(const protobuf_c_boolean *)p != 0;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (!ev) { /* open enums keep numbers the schema does not name */
            out->u.i = v;
            return 0;
        }
        /* The name lives in the schema, which outlives every message. */
        *out = (struct sl_value){
            .type = SL_STRING, .len = (uint32_t)strlen(ev->name), .u.str = ev->name};
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        if (!s)
            s = "";
        size_t n = strlen(s); /* protobuf-c NUL-terminates its copy */
        if (!utf8_valid((const uint8_t *)s, n)) {
            snprintf(err, errlen, "protobuf: field %s: invalid UTF-8 in a string", f->name);
            return -1;
        }
        *out = (struct sl_value){.type = SL_STRING, .len = (uint32_t)n, .u.str = s};
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return text(a, b->len ? (const char *)b->data : "", b->len, SL_BYTES, out, err, errlen);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    snprintf(err, errlen, "protobuf: field %s: not a scalar", f->name);
    return -1;
}

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

int pb_value_to_scalar(const ProtobufCFieldDescriptor *f, const struct sl_value *v, void *p,
                       struct sl_arena *a, char *err, size_t errlen)
{
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (integer(f, v, INT32_MIN, INT32_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        *(int32_t *)p = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (integer(f, v, 0, UINT32_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        *(uint32_t *)p = (uint32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (integer(f, v, INT64_MIN, INT64_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        *(int64_t *)p = i;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (integer(f, v, 0, 0, true, &i, &u, err, errlen) < 0)
            return -1;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (floating(f, v, &d, err, errlen) < 0)
            return -1;
        *(float *)p = (float)d;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (floating(f, v, &d, err, errlen) < 0)
            return -1;
        *(double *)p = d;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (v->type != SL_BOOL)
            return bad(f, v, "a bool", err, errlen);
        *(protobuf_c_boolean *)p = v->u.b;
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        if (v->type == SL_STRING) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v->u.str);
            if (!ev) {
                snprintf(err, errlen, "protobuf: field %s: %s has no value %s", f->name,
                         ((const ProtobufCEnumDescriptor *)f->descriptor)->name, v->u.str);
                return -1;
            }
            *(int32_t *)p = ev->value;
            return 0;
        }
        if (integer(f, v, INT32_MIN, INT32_MAX, false, &i, &u, err, errlen) < 0)
            return -1;
        *(int32_t *)p = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_STRING:
        if (v->type != SL_STRING && v->type != SL_BYTES)
            return bad(f, v, "a string", err, errlen);
        if (!utf8_valid((const uint8_t *)v->u.str, v->len)) {
            snprintf(err, errlen, "protobuf: field %s: invalid UTF-8 in a string", f->name);
            return -1;
        }
        if (memchr(v->u.str, 0, v->len)) { /* protobuf-c measures strings with strlen */
            snprintf(err, errlen, "protobuf: field %s: a string with a NUL byte", f->name);
            return -1;
        }
        *(const char **)p = v->u.str;
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        if (v->type == SL_BYTES) {
            b->len = v->len;
            b->data = (uint8_t *)v->u.str;
            return 0;
        }
        if (v->type != SL_STRING)
            return bad(f, v, "bytes", err, errlen);
        /* text for bytes is base64, as protobuf's JSON mapping (and our json codec) write it */
        uint8_t *out = sl_arena_alloc(a, v->len / 4 * 3 + 1);
        long n = out ? base64_decode(out, v->u.str, v->len) : -1;
        if (n < 0) {
            snprintf(err, errlen, "protobuf: field %s: %s", f->name,
                     out ? "a string for bytes must be base64" : "out of memory");
            return -1;
        }
        b->len = (size_t)n;
        b->data = out;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    snprintf(err, errlen, "protobuf: field %s: not a scalar", f->name);
    return -1;
}
