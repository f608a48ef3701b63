/* encode.c - the record tree straight to protobuf wire bytes in the output buffer, driven
 * by the schema's compiled fields (schema.c). Record members are matched to fields (by
 * the key's pointer or the next field's name first, else the key hash), then written in
 * field order as protobuf_c_message_pack writes the same message; a nested message or
 * packed run gets a one-byte length, widened (its bytes moved) in the rare longer case. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pb.h"
#include "wire.h"

#define SMALL_MESSAGE 32 /* fields matched on the stack; beyond, in scratch */

struct enc {
    struct sl_buf *out;
    struct sl_arena *scratch;
    char *err;
    size_t errlen;
};

static int fail(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* n more bytes of room in the output, and 8 to spare: put_tag stores 8 bytes. */
static inline int room(struct enc *e, size_t n)
{
    if (e->out->cap - e->out->len >= n + 8)
        return 0;
    return sl_buf_reserve(e->out, n + 8) < 0 ? fail(e, "protobuf: out of memory") : 0;
}

/* The tag of f, in one store (room() keeps 8 bytes to spare). */
static inline void put_tag(struct enc *e, const struct pb_field *f)
{
    memcpy(e->out->data + e->out->len, f->tag, 8);
    e->out->len += f->tag_len;
}

static inline void put(struct enc *e, const void *p, size_t n)
{
    memcpy(e->out->data + e->out->len, p, n);
    e->out->len += n;
}

/* Opens length-delimited content after tag: returns where it starts, after a
 * one-byte length that close_length fixes. (size_t)-1 when out of memory. */
static size_t open_length(struct enc *e, const struct pb_field *f)
{
    if (room(e, f->tag_len + 1u) < 0)
        return (size_t)-1;
    put_tag(e, f);
    e->out->data[e->out->len++] = 0;
    return e->out->len;
}

static int close_length(struct enc *e, size_t start)
{
    size_t n = e->out->len - start;
    if (n < 0x80) {
        e->out->data[start - 1] = (uint8_t)n;
        return 0;
    }
    unsigned k = wire_varint_size(n);
    if (room(e, k - 1) < 0)
        return -1;
    uint8_t *s = e->out->data + start;
    memmove(s + k - 1, s, n);
    wire_put_varint(s - 1, n);
    e->out->len += k - 1;
    return 0;
}

/* One scalar of f, with its tag when tagged; nothing when skip_zero and the
 * value is zero (a proto3 field without presence). */
static inline __attribute__((always_inline)) int put_scalar(struct enc *e, const struct pb_field *f,
                                                            const struct sl_value *v, bool tagged,
                                                            bool skip_zero)
{
    struct pb_scalar s;
    s.n = 0; /* room() counts it; the rest is set by what the type uses */
    /* the common pairings inline; the rest (and every check) in value.c */
    if (v->type == SL_INT && v->u.i >= f->lo && v->u.i <= f->hi)
        s.u = (uint64_t)v->u.i;
    else if (v->type == SL_DOUBLE && f->type == PROTOBUF_C_TYPE_DOUBLE)
        s.d = v->u.d;
    else if (v->type == SL_STRING && f->type == PROTOBUF_C_TYPE_STRING &&
             wire_utf8((const uint8_t *)v->u.str, v->len))
        s.p = (const uint8_t *)v->u.str, s.n = v->len;
    else if (pb_value_to_scalar(f, v, &s, e->scratch, e->err, e->errlen) < 0)
        return -1;
    /* tag, length and value fit in tag_len + 16 + n; written past len, and
     * counted (len moved) only when the value is to be written */
    if (room(e, f->tag_len + 16u + s.n) < 0)
        return -1;
    uint8_t *o = e->out->data + e->out->len;
    if (tagged) {
        memcpy(o, f->tag, 8);
        o += f->tag_len;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
        if (skip_zero && !s.n)
            return 0;
        o = wire_put_varint(o, s.n);
        wire_copy(o, s.p, s.n);
        o += s.n;
        break;
    case PROTOBUF_C_TYPE_FLOAT: {
        float x = (float)s.d;
        if (skip_zero && x == 0)
            return 0;
        memcpy(o, &x, 4); /* the wire and this host are little-endian */
        o += 4;
        break;
    }
    case PROTOBUF_C_TYPE_DOUBLE:
        if (skip_zero && s.d == 0)
            return 0;
        memcpy(o, &s.d, 8);
        o += 8;
        break;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        uint32_t x = (uint32_t)s.u;
        if (skip_zero && !x)
            return 0;
        memcpy(o, &x, 4);
        o += 4;
        break;
    }
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (skip_zero && !s.u)
            return 0;
        memcpy(o, &s.u, 8);
        o += 8;
        break;
    default: {
        uint64_t w = s.u;
        if (f->type == PROTOBUF_C_TYPE_SINT32)
            w = wire_zigzag32((int32_t)s.u);
        else if (f->type == PROTOBUF_C_TYPE_SINT64)
            w = wire_zigzag64((int64_t)s.u);
        else if (f->type == PROTOBUF_C_TYPE_UINT32)
            w = (uint32_t)s.u;
        if (skip_zero && !w)
            return 0;
        o = wire_put_varint(o, w); /* int32 < 0: ten bytes, as protobuf-c */
    }
    }
    e->out->len = (size_t)(o - e->out->data);
    return 0;
}

static int put_message(struct enc *e, const struct pb_type *t, const struct sl_value *v, int depth);

/* One value of a field with its tag: a scalar, or a nested message. */
static int put_one(struct enc *e, const struct pb_field *f, const struct sl_value *v, int depth,
                   bool skip_zero)
{
    if (!f->sub)
        return put_scalar(e, f, v, true, skip_zero);
    size_t start = open_length(e, f);
    if (start == (size_t)-1 || put_message(e, f->sub, v, depth + 1) < 0)
        return -1;
    return close_length(e, start);
}

/* A record map as the entries of map field f, each a message of key and value. */
static int put_map(struct enc *e, const struct pb_field *f, const struct sl_value *v, int depth)
{
    if (v->type != SL_MAP)
        return fail(e, "protobuf: map field %s wants a map, not %s", f->fd->name,
                    sl_type_name(v->type));
    const struct pb_field *kf = &f->sub->fields[0], *vf = &f->sub->fields[1];
    for (uint32_t i = 0; i < v->len; i++) {
        const struct sl_member *m = &v->u.members[i];
        struct sl_value k = {.type = SL_STRING, .len = m->key_len, .u.str = m->key};
        if (kf->type == PROTOBUF_C_TYPE_BOOL) {
            bool yes = !strcmp(m->key, "true");
            if (!yes && strcmp(m->key, "false") != 0)
                return fail(e, "protobuf: map key \"%s\" is not true or false", m->key);
            k = (struct sl_value){.type = SL_BOOL, .u.b = yes};
        }
        size_t start = open_length(e, f);
        if (start == (size_t)-1 || put_scalar(e, kf, &k, true, kf->skip_zero) < 0 ||
            put_one(e, vf, &m->value, depth, vf->skip_zero) < 0 || close_length(e, start) < 0)
            return -1;
    }
    return 0;
}

static inline __attribute__((always_inline)) int put_field(struct enc *e, const struct pb_field *f,
                                                           const struct sl_value *v, int depth)
{
    if (!f->repeated)
        return f->sub ? put_one(e, f, v, depth, false) : put_scalar(e, f, v, true, f->skip_zero);
    if (f->sub && f->sub->map_entry)
        return put_map(e, f, v, depth);
    if (v->type != SL_ARRAY)
        return fail(e, "protobuf: repeated field %s wants an array, not %s", f->fd->name,
                    sl_type_name(v->type));
    if (!v->len)
        return 0;
    if (!f->packed) {
        for (uint32_t k = 0; k < v->len; k++)
            if (put_one(e, f, &v->u.items[k], depth, false) < 0)
                return -1;
        return 0;
    }
    size_t start = open_length(e, f);
    if (start == (size_t)-1)
        return -1;
    for (uint32_t k = 0; k < v->len; k++)
        if (put_scalar(e, f, &v->u.items[k], false, false) < 0)
            return -1;
    return close_length(e, start);
}

/* "$unknown": wire bytes, checked to be whole fields, then copied. */
static int put_unknown(struct enc *e, const struct sl_value *v)
{
    if (v->type != SL_BYTES && v->type != SL_STRING)
        return fail(e, "protobuf: %s wants bytes, not %s", PB_UNKNOWN_KEY, sl_type_name(v->type));
    const uint8_t *p = (const uint8_t *)v->u.str, *end = p + v->len;
    while (p < end) {
        uint64_t key, n;
        if (!(p = wire_varint5(p, end, &key)) || (key >> 3) == 0 ||
            (key >> 3) > WIRE_MAX_FIELD_NUMBER)
            goto bad;
        switch (key & 7) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            p = wire_varint(p, end, &n);
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
        case PROTOBUF_C_WIRE_TYPE_32BIT:
            n = (key & 7) == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
            p = (size_t)(end - p) >= n ? p + n : NULL;
            break;
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
            if ((p = wire_varint5(p, end, &n)))
                p = n <= INT32_MAX && n <= (uint64_t)(end - p) ? p + n : NULL;
            break;
        default:
            p = NULL;
        }
        if (!p)
            goto bad;
    }
    if (room(e, v->len) < 0)
        return -1;
    put(e, v->u.str, v->len);
    return 0;
bad:
    return fail(e, "protobuf: %s is not protobuf wire bytes", PB_UNKNOWN_KEY);
}

/* The field of t that member m sets: the one after the last matched (records
 * usually list fields in order; a record we decoded even shares the key
 * pointers), else by hash. -1 when none. */
static inline int field_of(const struct pb_type *t, const struct sl_member *m, unsigned next)
{
    if (next < t->n_fields) {
        const struct pb_field *f = &t->fields[next];
        if (m->key_len == f->key_len && (m->key == f->key || wire_same(m->key, f->key, f->key_len)))
            return (int)next;
    }
    return pb_field_by_key(t, m->key, m->key_len);
}

/* The common case in one pass: members in field order (as a record decoded from
 * protobuf or JSON of the same schema lists them), written as they come, which
 * is the field order put_any_order would write. Returns 0, or -1 when the
 * record is not like that or anything fails: the caller then drops what was
 * written and takes the general walk, which also gives the error. */
static int put_in_order(struct enc *e, const struct pb_type *t, const struct sl_value *v, int depth)
{
    unsigned next = 0, required = 0;
    uint64_t oneofs = 0;
    const struct sl_value *unknown = NULL;
    for (uint32_t k = 0; k < v->len; k++) {
        const struct sl_member *m = &v->u.members[k];
        if (m->value.type == SL_NULL)
            continue;
        int i = field_of(t, m, next);
        if (i < 0) {
            if (unknown || m->key_len != sizeof(PB_UNKNOWN_KEY) - 1 ||
                memcmp(m->key, PB_UNKNOWN_KEY, m->key_len) != 0)
                return -1;
            unknown = &m->value; /* written last, wherever it is */
            continue;
        }
        const struct pb_field *f = &t->fields[i];
        if ((unsigned)i < next)
            return -1;
        if (f->oneof) {
            if (f->oneof > 64 || (oneofs >> (f->oneof - 1) & 1))
                return -1;
            oneofs |= 1ull << (f->oneof - 1);
        }
        required += f->required;
        if (put_field(e, f, &m->value, depth) < 0)
            return -1;
        next = (unsigned)i + 1;
    }
    if (required != t->n_required)
        return -1;
    return unknown ? put_unknown(e, unknown) : 0;
}

/* The general walk: members matched to fields first (the last of equal keys
 * and of a oneof's members winning), then written in field order. */
static int put_any_order(struct enc *e, const struct pb_type *t, const struct sl_value *v,
                         int depth)
{
    unsigned nf = t->n_fields, next = 0;
    const struct sl_value *small[SMALL_MESSAGE], **slot = small, *unknown = NULL;
    if (nf > SMALL_MESSAGE && !(slot = sl_arena_alloc(e->scratch, nf * sizeof(*slot))))
        return fail(e, "protobuf: out of memory");
    memset(slot, 0, nf * sizeof(*slot));
    for (uint32_t k = 0; k < v->len; k++) {
        const struct sl_member *m = &v->u.members[k];
        if (m->value.type == SL_NULL)
            continue; /* null: the field is absent */
        int i = field_of(t, m, next);
        if (i < 0) {
            if (m->key_len == sizeof(PB_UNKNOWN_KEY) - 1 &&
                !memcmp(m->key, PB_UNKNOWN_KEY, m->key_len)) {
                unknown = &m->value;
                continue;
            }
            return fail(e, "protobuf: %s has no field \"%s\"", t->d->name, m->key);
        }
        const struct pb_field *f = &t->fields[i];
        if (f->oneof) /* the last member set wins */
            for (const uint32_t *o = t->oneof_members[f->oneof - 1]; *o != UINT32_MAX; o++)
                slot[*o] = NULL;
        slot[i] = &m->value;
        next = (unsigned)i + 1;
    }
    for (unsigned r = 0; r < t->n_required; r++)
        if (!slot[t->required[r]])
            return fail(e, "protobuf: missing required field %s of %s",
                        t->fields[t->required[r]].fd->name, t->d->name);
    for (unsigned i = 0; i < nf; i++)
        if (slot[i] && put_field(e, &t->fields[i], slot[i], depth) < 0)
            return -1;
    return unknown ? put_unknown(e, unknown) : 0;
}

static int put_message(struct enc *e, const struct pb_type *t, const struct sl_value *v, int depth)
{
    if (v->type != SL_MAP)
        return fail(e, "protobuf: %s wants a map, not %s", t->d->name, sl_type_name(v->type));
    if (depth > PB_MAX_DEPTH)
        return fail(e, "protobuf: messages nested deeper than %d", PB_MAX_DEPTH);
    size_t start = e->out->len;
    if (put_in_order(e, t, v, depth) == 0)
        return 0;
    e->out->len = start;
    return put_any_order(e, t, v, depth);
}

int pb_encode(const struct pb_schema *s, struct sl_arena *scratch, const struct sl_value *v,
              struct sl_buf *out, char *err, size_t errlen)
{
    struct enc e = {.out = out, .scratch = scratch, .err = err, .errlen = errlen};
    size_t was = out->len;
    /* room() first: an empty message leaves out with memory, as callers expect */
    if (room(&e, 1) < 0 || put_message(&e, s->root, v, 1) < 0) {
        out->len = was;
        return -1;
    }
    return 0;
}
