/* decode.c - protobuf wire bytes straight into the record tree, in one pass over the
 * bytes, driven by the schema's compiled fields (schema.c). The members of a message are
 * collected in an array indexed like its fields, then compacted in field order: the
 * record lists fields as protobuf-c's struct did (by number), then "$unknown".
 * Acceptance follows protobuf-c 1.4.1's unpack; docs/departures.md lists the differences. */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pb.h"
#include "wire.h"

struct dec {
    struct sl_arena *a;
    const uint8_t *start; /* of the bytes being read, for offsets in errors */
    const uint8_t *end;
    char *text, *text_end; /* room for the copies of strings and bytes */
    char *err;
    size_t errlen;
};

static int fail(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct dec *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(struct dec *d)
{
    return fail(d, "protobuf: out of memory");
}

static size_t off(const struct dec *d, const uint8_t *p)
{
    return (size_t)(p - d->start);
}

/* n bytes for a string copy. A copy (with its NUL) is shorter than the field
 * it comes from (tag and length take 2 bytes at least), so one block as long
 * as the rest of the payload holds every copy still to come: one arena call
 * per payload instead of one per string. at: where the field starts. */
static inline char *text_room(struct dec *d, size_t n, const uint8_t *at)
{
    if ((size_t)(d->text_end - d->text) < n) {
        size_t want = (size_t)(d->end - at) > n ? (size_t)(d->end - at) : n;
        if (!(d->text = sl_arena_alloc(d->a, want)))
            return NULL;
        d->text_end = d->text + want;
    }
    char *p = d->text;
    d->text += n;
    return p;
}

static inline int text_value(struct dec *d, uint32_t type, const uint8_t *p, size_t n,
                             const uint8_t *at, struct sl_value *out)
{
    char *s = text_room(d, n + 1, at);
    if (!s)
        return oom(d);
    wire_copy(s, p, n);
    s[n] = 0;
    *out = (struct sl_value){.type = type, .len = (uint32_t)n, .u.str = s};
    return 0;
}

static void enum_value(const struct pb_enum *e, int32_t v, struct sl_value *out)
{
    if (e->span) {
        uint32_t k = (uint32_t)v - (uint32_t)e->min;
        if (k < e->span && e->names[k]) {
            *out = (struct sl_value){.type = SL_STRING, .len = e->lens[k], .u.str = e->names[k]};
            return;
        }
    } else {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(e->d, v);
        if (ev) {
            *out = (struct sl_value){
                .type = SL_STRING, .len = (uint32_t)strlen(ev->name), .u.str = ev->name};
            return;
        }
    }
    *out = (struct sl_value){.type = SL_INT, .u.i = v}; /* open enums keep unnamed numbers */
}

/* A uint64 as a record value: an int up to INT64_MAX, exact decimal text above. */
static int u64_value(struct dec *d, uint64_t u, struct sl_value *out)
{
    if (u <= (uint64_t)INT64_MAX) {
        *out = (struct sl_value){.type = SL_INT, .u.i = (int64_t)u};
        return 0;
    }
    char *s = sl_arena_alloc(d->a, 24);
    if (!s)
        return oom(d);
    int n = snprintf(s, 24, "%" PRIu64, u);
    *out = (struct sl_value){.type = SL_STRING, .len = (uint32_t)n, .u.str = s};
    return 0;
}

/* One scalar of field f: v is the varint read, or val..vend the fixed-size or
 * length-delimited bytes. at: where the field starts. */
static int scalar(struct dec *d, const struct pb_field *f, uint64_t v, const uint8_t *val,
                  const uint8_t *vend, const uint8_t *at, struct sl_value *out)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
        *out = (struct sl_value){.type = SL_INT, .u.i = (int32_t)(uint32_t)v};
        return 0;
    case PROTOBUF_C_TYPE_SINT32:
        *out = (struct sl_value){.type = SL_INT, .u.i = wire_unzigzag32((uint32_t)v)};
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
        *out = (struct sl_value){.type = SL_INT, .u.i = (uint32_t)v};
        return 0;
    case PROTOBUF_C_TYPE_INT64:
        *out = (struct sl_value){.type = SL_INT, .u.i = (int64_t)v};
        return 0;
    case PROTOBUF_C_TYPE_SINT64:
        *out = (struct sl_value){.type = SL_INT, .u.i = wire_unzigzag64(v)};
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
        return u64_value(d, v, out);
    case PROTOBUF_C_TYPE_FIXED32:
        *out = (struct sl_value){.type = SL_INT, .u.i = wire_le32(val)};
        return 0;
    case PROTOBUF_C_TYPE_SFIXED32:
        *out = (struct sl_value){.type = SL_INT, .u.i = (int32_t)wire_le32(val)};
        return 0;
    case PROTOBUF_C_TYPE_FIXED64:
        return u64_value(d, wire_le64(val), out);
    case PROTOBUF_C_TYPE_SFIXED64:
        *out = (struct sl_value){.type = SL_INT, .u.i = (int64_t)wire_le64(val)};
        return 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        uint32_t bits = wire_le32(val);
        float x;
        memcpy(&x, &bits, 4);
        *out = (struct sl_value){.type = SL_DOUBLE, .u.d = x};
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        uint64_t bits = wire_le64(val);
        double x;
        memcpy(&x, &bits, 8);
        *out = (struct sl_value){.type = SL_DOUBLE, .u.d = x};
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        /* as protobuf-c: true when any payload bit is set, also past bit 63 */
        bool b = v != 0;
        for (const uint8_t *q = val; !b && q < vend; q++)
            b = *q & 0x7f;
        *out = (struct sl_value){.type = SL_BOOL, .u.b = b};
        return 0;
    }
    case PROTOBUF_C_TYPE_ENUM:
        enum_value(f->en, (int32_t)(uint32_t)v, out);
        return 0;
    case PROTOBUF_C_TYPE_STRING:
        if (!wire_utf8(val, (size_t)(vend - val)))
            return fail(d, "protobuf: invalid UTF-8 in string field %s at byte %zu", f->fd->name,
                        off(d, val));
        return text_value(d, SL_STRING, val, (size_t)(vend - val), at, out);
    case PROTOBUF_C_TYPE_BYTES:
        return text_value(d, SL_BYTES, val, (size_t)(vend - val), at, out);
    }
    return fail(d, "protobuf: field %s: not a scalar", f->fd->name);
}

static int decode_message(struct dec *d, const struct pb_type *t, const uint8_t *p,
                          const uint8_t *end, int depth, struct sl_value *out);

/* The zero an absent field without presence reads as. */
static int zero_value(struct dec *d, const struct pb_field *f, int depth, struct sl_value *out)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        *out = (struct sl_value){.type = SL_DOUBLE};
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        *out = (struct sl_value){.type = SL_BOOL};
        return 0;
    case PROTOBUF_C_TYPE_STRING:
        *out = (struct sl_value){.type = SL_STRING, .u.str = ""};
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        *out = (struct sl_value){.type = SL_BYTES, .u.str = ""};
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        enum_value(f->en, 0, out);
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: /* a map entry without its value: an empty message */
        return decode_message(d, f->sub, d->start, d->start, depth + 1, out);
    default:
        *out = (struct sl_value){.type = SL_INT};
        return 0;
    }
}

/* Room for `more` values at the end of the array of member mm (NULL: out of
 * memory). While the message is read, key_len holds the array's capacity (the
 * keys are set at the end). */
static struct sl_value *array_room(struct dec *d, struct sl_member *mm, size_t more)
{
    static struct sl_value none; /* where zero more values go */
    struct sl_value *arr = &mm->value;
    if (arr->type != SL_ARRAY)
        *arr = (struct sl_value){.type = SL_ARRAY}, mm->key_len = 0;
    size_t need = (size_t)arr->len + more;
    if (need > mm->key_len) {
        size_t cap = 2 * (size_t)mm->key_len > need ? 2 * (size_t)mm->key_len : need;
        cap = cap < 4 ? 4 : cap;
        struct sl_value *items =
            cap > UINT32_MAX ? NULL : sl_arena_alloc(d->a, cap * sizeof(*items));
        if (!items)
            return NULL;
        if (arr->len)
            memcpy(items, arr->u.items, arr->len * sizeof(*items));
        arr->u.items = items;
        mm->key_len = (uint32_t)cap;
    }
    return more ? arr->u.items + arr->len : &none;
}

/* A packed run val..vend of repeated scalar field f. */
static int packed_run(struct dec *d, const struct pb_field *f, struct sl_member *mm,
                      const uint8_t *val, const uint8_t *vend, const uint8_t *at)
{
    size_t n = (size_t)(vend - val), count = 0, size = 0;
    if (f->wire == PROTOBUF_C_WIRE_TYPE_32BIT || f->wire == PROTOBUF_C_WIRE_TYPE_64BIT) {
        size = f->wire == PROTOBUF_C_WIRE_TYPE_32BIT ? 4 : 8;
        if (n % size)
            return fail(d, "protobuf: packed field %s at byte %zu is not a whole number of values",
                        f->fd->name, off(d, val));
        count = n / size;
    } else {
        for (const uint8_t *q = val; q < vend; q++)
            count += !(*q & 0x80);
    }
    struct sl_value *items = array_room(d, mm, count);
    if (!items)
        return oom(d);
    const uint8_t *q = val;
    size_t k = 0;
    while (q < vend) {
        uint64_t v = 0;
        const uint8_t *e = q + size;
        if (!size && !(e = wire_varint(q, vend, &v)))
            return fail(d, "protobuf: bad varint in packed field %s at byte %zu", f->fd->name,
                        off(d, q));
        if (scalar(d, f, v, q, e, at, &items[k++]) < 0)
            return -1;
        q = e;
    }
    mm->value.len += (uint32_t)k;
    return 0;
}

/* A map key as record key text. */
static int map_key(struct dec *d, const struct sl_value *k, struct sl_member *m)
{
    if (k->type == SL_STRING) {
        m->key = k->u.str;
        m->key_len = k->len;
        return 0;
    }
    char buf[24];
    int n = k->type == SL_BOOL ? snprintf(buf, sizeof(buf), "%s", k->u.b ? "true" : "false")
                               : snprintf(buf, sizeof(buf), "%lld", (long long)k->u.i);
    if (!(m->key = sl_arena_strndup(d->a, buf, (size_t)n)))
        return oom(d);
    m->key_len = (uint32_t)n;
    return 0;
}

/* One entry of map field f, val..vend: into the map of member mm, the last of
 * equal keys winning in the place of the first. key_len: capacity, as arrays. */
static int map_entry(struct dec *d, const struct pb_field *f, struct sl_member *mm,
                     const uint8_t *val, const uint8_t *vend, int depth)
{
    struct sl_value entry;
    struct sl_member kv;
    if (decode_message(d, f->sub, val, vend, depth + 1, &entry) < 0 ||
        map_key(d, &entry.u.members[0].value, &kv) < 0)
        return -1;
    kv.value = entry.u.members[1].value;
    struct sl_value *map = &mm->value;
    if (map->type != SL_MAP)
        *map = (struct sl_value){.type = SL_MAP}, mm->key_len = 0;
    struct sl_member *m = map->u.members;
    uint32_t j = 0;
    while (j < map->len && (m[j].key_len != kv.key_len || memcmp(m[j].key, kv.key, kv.key_len)))
        j++;
    if (j == map->len) {
        if (map->len == mm->key_len) {
            size_t cap = mm->key_len ? 2 * (size_t)mm->key_len : 4;
            struct sl_member *bigger =
                cap > UINT32_MAX ? NULL : sl_arena_alloc(d->a, cap * sizeof(*bigger));
            if (!bigger)
                return oom(d);
            if (map->len)
                memcpy(bigger, m, map->len * sizeof(*m));
            map->u.members = m = bigger;
            mm->key_len = (uint32_t)cap;
        }
        map->len++;
    }
    m[j] = kv;
    return 0;
}

/* A singular message field, val..vend. A second occurrence merges into the
 * first as protobuf says (the result is what the two encodings concatenated
 * decode to): key and key_len of mm hold the bytes read so far. */
static int message_field(struct dec *d, const struct pb_field *f, struct sl_member *mm,
                         const uint8_t *val, const uint8_t *vend, int depth)
{
    struct sl_value v;
    if (decode_message(d, f->sub, val, vend, depth + 1, &v) < 0)
        return -1;
    size_t n = (size_t)(vend - val);
    if (mm->value.type == SL_MAP) {
        size_t was = mm->key_len;
        uint8_t *both = sl_arena_alloc(d->a, was + n);
        if (!both)
            return oom(d);
        memcpy(both, mm->key, was);
        memcpy(both + was, val, n);
        const uint8_t *start = d->start, *end = d->end;
        d->start = both;
        d->end = both + was + n;
        int rc = decode_message(d, f->sub, both, both + was + n, depth + 1, &v);
        d->start = start;
        d->end = end;
        if (rc < 0)
            return -1;
        val = both;
        n += was;
    }
    mm->value = v;
    mm->key = (const char *)val;
    mm->key_len = (uint32_t)n;
    return 0;
}

/* An unknown field at..p (data: after its tag) appended to the unknown bytes of
 * the message, with its tag written the shortest way, as protobuf-c packs it. */
static int unknown_field(struct dec *d, uint8_t **buf, size_t *n, uint64_t key, const uint8_t *at,
                         const uint8_t *data, const uint8_t *p, const uint8_t *end)
{
    if (!*buf && !(*buf = sl_arena_alloc(d->a, (size_t)(end - at) + 1)))
        return oom(d); /* the rest of the message bounds all its unknown fields */
    uint8_t *o = wire_put_varint(*buf + *n, key);
    memcpy(o, data, (size_t)(p - data));
    *n = (size_t)(o - *buf) + (size_t)(p - data);
    return 0;
}

/* The members collected by field index, in field order: absent fields left out
 * or read as their zero, required ones checked, then "$unknown". */
static int finish(struct dec *d, const struct pb_type *t, struct sl_member *m, uint8_t *unknown,
                  size_t n_unknown, int depth, struct sl_value *out)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < t->n_fields; i++) {
        const struct pb_field *f = &t->fields[i];
        struct sl_value v = m[i].value;
        if (v.type == SL_NULL) {
            if (f->absent == PB_ABSENT_EMPTY) {
                v.type = f->sub && f->sub->map_entry ? SL_MAP : SL_ARRAY;
            } else if (f->absent == PB_ABSENT_ZERO) {
                if (zero_value(d, f, depth, &v) < 0)
                    return -1;
            } else if (!f->required) {
                continue;
            } else if (!f->fd->default_value) {
                return fail(d, "protobuf: missing required field %s of %s", f->fd->name,
                            t->d->name);
            } else if (pb_default_value(f, d->a, &v) < 0) {
                return oom(d);
            }
        }
        m[n].key = f->key;
        m[n].key_len = f->key_len;
        m[n].value = v;
        n++;
    }
    if (unknown) {
        unknown[n_unknown] = 0;
        m[n++] = (struct sl_member){
            .key = PB_UNKNOWN_KEY,
            .key_len = sizeof(PB_UNKNOWN_KEY) - 1,
            .value = {.type = SL_BYTES, .len = (uint32_t)n_unknown, .u.str = (char *)unknown}};
    }
    *out = (struct sl_value){.type = SL_MAP, .len = n, .u.members = m};
    return 0;
}

/* A known field's value at val..p (v: the varint read, wt: the wire type). */
static inline int known_field(struct dec *d, const struct pb_type *t, unsigned i,
                              struct sl_member *m, unsigned wt, uint64_t v, const uint8_t *at,
                              const uint8_t *val, const uint8_t *p, int depth)
{
    const struct pb_field *f = &t->fields[i];
    struct sl_member *mm = &m[i];
    if (wt == f->wire && !f->repeated && !f->oneof) { /* the common cases first */
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_INT32:
            mm->value = (struct sl_value){
                .type = SL_INT,
                .u.i = f->type == PROTOBUF_C_TYPE_INT64 ? (int64_t)v : (int32_t)(uint32_t)v};
            return 0;
        case PROTOBUF_C_TYPE_DOUBLE: {
            uint64_t bits = wire_le64(val);
            mm->value.type = SL_DOUBLE;
            memcpy(&mm->value.u.d, &bits, 8);
            return 0;
        }
        case PROTOBUF_C_TYPE_STRING:
            if (!wire_utf8(val, (size_t)(p - val)))
                break; /* scalar() says where */
            return text_value(d, SL_STRING, val, (size_t)(p - val), at, &mm->value);
        default:
            break;
        }
    }
    if (wt != f->wire) {
        if (wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && f->repeated)
            return packed_run(d, f, mm, val, p, at); /* packed or not, both are read */
        return fail(d, "protobuf: field %s (%u) of %s has wire type %u, not %u, at byte %zu",
                    f->fd->name, f->number, t->d->name, wt, f->wire, off(d, at));
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= PB_MAX_DEPTH)
        return fail(d, "protobuf: messages nested deeper than %d at byte %zu", PB_MAX_DEPTH,
                    off(d, val));
    if (f->repeated) {
        if (f->sub && f->sub->map_entry)
            return map_entry(d, f, mm, val, p, depth);
        struct sl_value *item = mm->value.type == SL_ARRAY && mm->value.len < mm->key_len
                                    ? mm->value.u.items + mm->value.len /* room left */
                                    : array_room(d, mm, 1);
        if (!item)
            return oom(d);
        int rc;
        if (f->sub)
            rc = decode_message(d, f->sub, val, p, depth + 1, item);
        else if (f->type == PROTOBUF_C_TYPE_STRING && wire_utf8(val, (size_t)(p - val)))
            rc = text_value(d, SL_STRING, val, (size_t)(p - val), at, item);
        else
            rc = scalar(d, f, v, val, p, at, item);
        mm->value.len += rc == 0;
        return rc;
    }
    if (f->oneof) /* the last member seen is the one set */
        for (const uint32_t *k = t->oneof_members[f->oneof - 1]; *k != UINT32_MAX; k++)
            if (*k != i)
                m[*k].value.type = SL_NULL;
    if (f->sub)
        return message_field(d, f, mm, val, p, depth);
    return scalar(d, f, v, val, p, at, &mm->value);
}

static int decode_message(struct dec *d, const struct pb_type *t, const uint8_t *p,
                          const uint8_t *end, int depth, struct sl_value *out)
{
    size_t size = (t->n_fields + 1) * sizeof(struct sl_member);
    struct sl_member *m = sl_arena_alloc(d->a, size);
    uint8_t *unknown = NULL;
    size_t n_unknown = 0;
    if (!m)
        return oom(d);
    memset(m, 0, size); /* every value SL_NULL: not seen */
    while (p < end) {
        const uint8_t *at = p, *val;
        uint64_t key, v = 0;
        if (*p >= 8 && *p < 0x80)
            key = *p++;
        else if (!(p = wire_varint5(p, end, &key)))
            return fail(d, "protobuf: truncated or bad field tag at byte %zu", off(d, at));
        uint64_t number = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        const uint8_t *data = val = p;
        switch (wt) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            if (!(p = wire_varint(p, end, &v)))
                return fail(d, "protobuf: truncated or bad varint at byte %zu", off(d, val));
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
        case PROTOBUF_C_WIRE_TYPE_32BIT: {
            size_t n = wt == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
            if ((size_t)(end - p) < n)
                return fail(d, "protobuf: truncated %zu-byte value at byte %zu", n, off(d, val));
            p += n;
            break;
        }
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
            if (!(val = wire_varint5(p, end, &v)) || v > INT_MAX || v > (uint64_t)(end - val))
                return fail(d, "protobuf: truncated length-delimited value at byte %zu",
                            off(d, data));
            p = val + v;
            break;
        default:
            return fail(d, "protobuf: wire type %u at byte %zu is not supported (groups are not)",
                        wt, off(d, at));
        }
        int i = pb_field_by_number(t, (uint32_t)number), rc; /* number < 2^32: 5 bytes */
        if (i >= 0)
            rc = known_field(d, t, (unsigned)i, m, wt, v, at, val, p, depth);
        else if (number == 0 || number > WIRE_MAX_FIELD_NUMBER)
            rc = fail(d, "protobuf: bad field number %" PRIu64 " at byte %zu", number, off(d, at));
        else
            rc = unknown_field(d, &unknown, &n_unknown, key, at, data, p, end);
        if (rc < 0)
            return -1;
    }
    return finish(d, t, m, unknown, n_unknown, depth, out);
}

int pb_decode(const struct pb_schema *s, struct sl_arena *a, const uint8_t *data, size_t len,
              struct sl_value *out, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    if (len > UINT32_MAX) {
        snprintf(err, errlen, "protobuf: payload too large (%zu bytes)", len);
        return -1;
    }
    if (!data)
        data = empty;
    struct dec d = {.a = a, .start = data, .end = data + len, .err = err, .errlen = errlen};
    return decode_message(&d, s->root, data, data + len, 1, out);
}
