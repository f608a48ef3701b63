/* schema.c - the types reachable from the configured message, compiled at start for the
 * hot path: per field its record key, wire type, presence and tag bytes; per type a dense
 * index by field number and a hash of record keys; map entries, oneofs, enum names.
 * Works on run-time and generated descriptors alike. */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"

/* Index of d in the list, adding it when new; -1 when out of memory. */
static long index_of(const ProtobufCMessageDescriptor ***list, size_t *n, size_t *cap,
                     const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i] == d)
            return (long)i;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        const ProtobufCMessageDescriptor **l = realloc(*list, c * sizeof(*l));
        if (!l)
            return -1;
        *list = l;
        *cap = c;
    }
    (*list)[*n] = d;
    return (long)(*n)++;
}

/* protobuf-c marks nothing as a map entry. Our loader sets reserved1 to the
 * descriptor itself when the set says map_entry; generated code is recognised by
 * its name, ...Entry. Either way it must have the shape the walkers rely on:
 * exactly key = 1 (a scalar) and value = 2, neither repeated. */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->short_name);
    if (d->reserved1 != d && !(n > 5 && !strcmp(d->short_name + n - 5, "Entry")))
        return false;
    return d->n_fields == 2 && d->fields[0].id == 1 && !strcmp(d->fields[0].name, "key") &&
           d->fields[1].id == 2 && !strcmp(d->fields[1].name, "value") &&
           d->fields[0].label != PROTOBUF_C_LABEL_REPEATED &&
           d->fields[1].label != PROTOBUF_C_LABEL_REPEATED &&
           d->fields[0].type != PROTOBUF_C_TYPE_MESSAGE &&
           d->fields[0].type != PROTOBUF_C_TYPE_BYTES &&
           d->fields[0].type != PROTOBUF_C_TYPE_FLOAT &&
           d->fields[0].type != PROTOBUF_C_TYPE_DOUBLE;
}

const char *pb_json_name(struct sl_arena *mem, const char *name)
{
    size_t n = strlen(name);
    char *out = sl_arena_alloc(mem, n + 1), *o = out;
    if (!out)
        return NULL;
    bool upper = false;
    for (const char *p = name; *p; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        *o++ = upper ? (char)toupper((unsigned char)*p) : *p;
        upper = false;
    }
    *o = 0;
    return out;
}

/* Wire type of one value of a field of this type. */
static uint8_t wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return PROTOBUF_C_WIRE_TYPE_64BIT;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return PROTOBUF_C_WIRE_TYPE_32BIT;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    default:
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    }
}

static uint32_t key_hash(const char *key, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h;
}

/* Number -> name table of an enum, shared by every field of that enum. */
static const struct pb_enum *enum_table(struct pb_schema *s, struct pb_enum **list, size_t *n,
                                        const ProtobufCEnumDescriptor *d)
{
    for (size_t i = 0; i < *n; i++)
        if (list[i]->d == d)
            return list[i];
    struct pb_enum *e = sl_arena_alloc(&s->mem, sizeof(*e));
    if (!e)
        return NULL;
    *e = (struct pb_enum){.d = d};
    int64_t lo = INT32_MAX, hi = INT32_MIN;
    for (unsigned i = 0; i < d->n_values; i++) {
        lo = d->values[i].value < lo ? d->values[i].value : lo;
        hi = d->values[i].value > hi ? d->values[i].value : hi;
    }
    if (d->n_values && hi - lo < 4096) { /* else looked up with protobuf-c's search */
        e->min = (int32_t)lo;
        e->span = (uint32_t)(hi - lo + 1);
        e->names = sl_arena_alloc(&s->mem, e->span * sizeof(*e->names));
        e->lens = sl_arena_alloc(&s->mem, e->span * sizeof(*e->lens));
        if (!e->names || !e->lens)
            return NULL;
        memset(e->names, 0, e->span * sizeof(*e->names));
        for (unsigned i = d->n_values; i-- > 0;) { /* the first of equal numbers wins */
            e->names[d->values[i].value - lo] = d->values[i].name;
            e->lens[d->values[i].value - lo] = (uint32_t)strlen(d->values[i].name);
        }
    }
    list[(*n)++] = e;
    return e;
}

/* The tag of field f carrying wire type w, as bytes. */
static void put_tag(struct pb_field *f, uint8_t w)
{
    uint64_t key = (uint64_t)f->number << 3 | w;
    f->tag_len = 0;
    while (key >= 0x80) {
        f->tag[f->tag_len++] = (uint8_t)(key | 0x80);
        key >>= 7;
    }
    f->tag[f->tag_len++] = (uint8_t)key;
}

/* Fills field i of t from its descriptor; sub is its message type. */
static void fill_field(struct pb_type *t, unsigned i, const struct pb_type *sub)
{
    const ProtobufCFieldDescriptor *fd = &t->d->fields[i];
    struct pb_field *f = &t->fields[i];
    f->fd = fd;
    f->sub = sub;
    f->number = fd->id;
    f->type = (uint8_t)fd->type;
    f->wire = wire_type_of(fd->type);
    f->repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
    f->packed = f->repeated && (fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED);
    f->required = fd->label == PROTOBUF_C_LABEL_REQUIRED;
    bool oneof = fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF;
    f->skip_zero =
        fd->label == PROTOBUF_C_LABEL_NONE && !oneof && fd->type != PROTOBUF_C_TYPE_MESSAGE;
    if (f->repeated)
        f->absent = PB_ABSENT_EMPTY;
    else if (t->map_entry || f->skip_zero) /* protobuf-c reads an absent key or value as zero */
        f->absent = PB_ABSENT_ZERO;
    else
        f->absent = PB_ABSENT_OMITTED;
    put_tag(f, f->packed ? PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED : f->wire);
    switch (fd->type) { /* for the encoder's fast path; value.c checks the rest */
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        f->lo = INT32_MIN, f->hi = INT32_MAX;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        f->lo = 0, f->hi = UINT32_MAX;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        f->lo = INT64_MIN, f->hi = INT64_MAX;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        f->lo = 0, f->hi = INT64_MAX;
        break;
    default:
        f->lo = 1, f->hi = 0; /* not an integer: no int is in range */
    }
}

/* The by-number, by-key, required and oneof indexes of t. */
static int index_type(struct pb_schema *s, struct pb_type *t, char *err, size_t errlen)
{
    unsigned nf = t->n_fields;
    uint32_t max = 0;
    for (unsigned i = 0; i < nf; i++)
        max = t->fields[i].number > max ? t->fields[i].number : max;
    t->dense_max = max < 4096 ? max : 4095; /* beyond: protobuf-c's search */
    t->by_number = sl_arena_alloc(&s->mem, (t->dense_max + 1) * sizeof(*t->by_number));
    uint32_t slots = 4;
    while (slots < 2 * nf)
        slots *= 2;
    t->key_mask = slots - 1;
    t->by_key = sl_arena_alloc(&s->mem, slots * sizeof(*t->by_key));
    t->required = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*t->required));
    t->oneof_members = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*t->oneof_members));
    if (!t->by_number || !t->by_key || !t->required || !t->oneof_members)
        return -1;
    memset(t->by_number, 0, (t->dense_max + 1) * sizeof(*t->by_number));
    memset(t->by_key, 0, slots * sizeof(*t->by_key));
    unsigned n_oneofs = 0;
    for (unsigned i = 0; i < nf; i++) {
        struct pb_field *f = &t->fields[i];
        if (f->number <= t->dense_max)
            t->by_number[f->number] = i + 1;
        uint32_t h = key_hash(f->key, f->key_len) & t->key_mask;
        while (t->by_key[h]) {
            const struct pb_field *g = &t->fields[t->by_key[h] - 1];
            if (g->key_len == f->key_len && !memcmp(g->key, f->key, f->key_len)) {
                snprintf(err, errlen, "protobuf: %s: fields %s and %s have the same name %s",
                         t->d->name, g->fd->name, f->fd->name, f->key);
                return -2;
            }
            h = (h + 1) & t->key_mask;
        }
        t->by_key[h] = i + 1;
        if (f->required)
            t->required[t->n_required++] = i;
        if (!(f->fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        /* members of one oneof share the case word (quantifier_offset) */
        unsigned k = 0;
        while (k < i && !(t->fields[k].oneof &&
                          t->fields[k].fd->quantifier_offset == f->fd->quantifier_offset))
            k++;
        f->oneof = k < i ? t->fields[k].oneof : (uint16_t)++n_oneofs;
    }
    for (unsigned g = 0; g < n_oneofs; g++) {
        uint32_t *m = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*m)), n = 0;
        if (!m)
            return -1;
        for (unsigned i = 0; i < nf; i++)
            if (t->fields[i].oneof == g + 1)
                m[n++] = i;
        m[n] = UINT32_MAX;
        t->oneof_members[g] = m;
    }
    return 0;
}

int pb_schema_build(struct pb_schema *s, const ProtobufCMessageDescriptor *root, int names,
                    char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor **list = NULL;
    struct pb_enum **enums = NULL;
    size_t n = 0, cap = 0, n_enums = 0, max_enums = 0;
    int rc = -1;

    if (index_of(&list, &n, &cap, root) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) /* n grows as new types are found */
        for (unsigned f = 0; f < list[i]->n_fields; f++) {
            if (list[i]->fields[f].type == PROTOBUF_C_TYPE_MESSAGE &&
                index_of(&list, &n, &cap, list[i]->fields[f].descriptor) < 0)
                goto oom;
            max_enums += list[i]->fields[f].type == PROTOBUF_C_TYPE_ENUM;
        }
    s->types = sl_arena_alloc(&s->mem, n * sizeof(*s->types));
    enums = calloc(max_enums + 1, sizeof(*enums));
    if (!s->types || !enums)
        goto oom;
    s->n_types = n;
    for (size_t i = 0; i < n; i++) {
        struct pb_type *t = &s->types[i];
        const ProtobufCMessageDescriptor *d = list[i];
        unsigned nf = d->n_fields;
        *t = (struct pb_type){.d = d, .map_entry = is_map_entry(d), .n_fields = nf};
        t->fields = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*t->fields));
        if (!t->fields)
            goto oom;
        memset(t->fields, 0, (nf + 1) * sizeof(*t->fields));
        for (unsigned f = 0; f < nf; f++) {
            const ProtobufCFieldDescriptor *fd = &d->fields[f];
            struct pb_field *pf = &t->fields[f];
            const struct pb_type *sub = NULL;
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
                sub = &s->types[index_of(&list, &n, &cap, fd->descriptor)];
            fill_field(t, f, sub);
            pf->key = names == PB_NAMES_JSON ? pb_json_name(&s->mem, fd->name) : fd->name;
            if (!pf->key)
                goto oom;
            pf->key_len = (uint32_t)strlen(pf->key);
            if (fd->type == PROTOBUF_C_TYPE_ENUM &&
                !(pf->en = enum_table(s, enums, &n_enums, fd->descriptor)))
                goto oom;
        }
        int ix = index_type(s, t, err, errlen);
        if (ix == -2)
            goto out;
        if (ix < 0)
            goto oom;
    }
    s->root = &s->types[0];
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "protobuf: out of memory");
out:
    free(enums);
    free(list);
    return rc;
}

void pb_schema_free(struct pb_schema *s)
{
    sl_arena_free(&s->mem);
    if (s->library)
        dlclose(s->library);
    s->library = NULL;
}

int pb_field_by_key(const struct pb_type *t, const char *key, uint32_t len)
{
    uint32_t h = key_hash(key, len) & t->key_mask;
    for (uint32_t i; (i = t->by_key[h]); h = (h + 1) & t->key_mask) {
        const struct pb_field *f = &t->fields[i - 1];
        if (f->key_len == len && !memcmp(f->key, key, len))
            return (int)i - 1;
    }
    return -1;
}
