/* loader.c - protobuf-c descriptors built at run time from a FileDescriptorSet, which
 * is read with the code protoc-c generates from descriptor.proto. protobuf-c's unpack
 * and pack work on such descriptors (message_init = NULL: fields start zeroed). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"

#include "pb.h"

typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MsgProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;

/* A named type of the set: its full name with the leading dot (as type_name
 * fields refer to it) and the descriptor being built. */
struct named {
    const char *full; /* ".shop.v1.Order" */
    bool is_enum;
    const FileProto *file;
    const void *proto; /* MsgProto or EnumProto */
    void *desc;        /* ProtobufCMessageDescriptor or ProtobufCEnumDescriptor */
};

struct loader {
    struct sl_arena *mem;
    struct named *types;
    size_t n, cap;
    char *err;
    size_t errlen;
};

static int fail(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, l->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static char *join(struct loader *l, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = sl_arena_alloc(l->mem, na + nb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    s[na] = '.';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

static int add(struct loader *l, const char *full, bool is_enum, const FileProto *f,
               const void *proto)
{
    if (!full)
        return fail(l, "protobuf: out of memory");
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->types[i].full, full))
            return fail(l, "protobuf: type %s is defined twice in the descriptor set", full + 1);
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct named *t = realloc(l->types, cap * sizeof(*t));
        if (!t)
            return fail(l, "protobuf: out of memory");
        l->types = t;
        l->cap = cap;
    }
    l->types[l->n++] = (struct named){.full = full, .is_enum = is_enum, .file = f, .proto = proto};
    return 0;
}

/* Every message and enum, nested ones included, under scope (".pkg" or ""). */
static int collect(struct loader *l, const FileProto *f, const char *scope, MsgProto **msgs,
                   size_t n_msgs, EnumProto **enums, size_t n_enums)
{
    for (size_t i = 0; i < n_enums; i++) {
        if (!enums[i]->name)
            return fail(l, "protobuf: an enum in %s has no name", scope);
        for (size_t k = 0; k < enums[i]->n_value; k++)
            if (!enums[i]->value[k]->name || !enums[i]->value[k]->has_number)
                return fail(l, "protobuf: a value of enum %s lacks a name or number",
                            enums[i]->name);
        if (add(l, join(l, scope, enums[i]->name), true, f, enums[i]) < 0)
            return -1;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        const MsgProto *m = msgs[i];
        if (!m->name)
            return fail(l, "protobuf: a message in %s has no name", scope);
        char *full = join(l, scope, m->name);
        if (add(l, full, false, f, m) < 0 ||
            collect(l, f, full, m->nested_type, m->n_nested_type, m->enum_type, m->n_enum_type) < 0)
            return -1;
    }
    return 0;
}

static struct named *find(struct loader *l, const char *full)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->types[i].full, full))
            return &l->types[i];
    return NULL;
}

static const char *package_of(const struct named *t)
{
    return t->file->package ? t->file->package : "";
}

static void *arena_alloc(void *data, size_t n)
{
    return sl_arena_alloc(data, n ? n : 1);
}

static void arena_free(void *data, void *p)
{
    (void)data; /* the arena goes as a whole */
    (void)p;
}

void pb_allocator_init(ProtobufCAllocator *al, struct sl_arena *a)
{
    al->alloc = arena_alloc;
    al->free = arena_free;
    al->allocator_data = a;
}

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

/* ---- enums ---- */

static int cmp_value(const void *a, const void *b)
{
    const ProtobufCEnumValue *x = a, *y = b;
    return (x->value > y->value) - (x->value < y->value);
}

static int cmp_value_name(const void *a, const void *b)
{
    return strcmp(((const ProtobufCEnumValueIndex *)a)->name,
                  ((const ProtobufCEnumValueIndex *)b)->name);
}

static int build_enum(struct loader *l, struct named *t)
{
    const EnumProto *e = t->proto;
    ProtobufCEnumDescriptor *d = t->desc;
    size_t n = e->n_value;
    if (n == 0)
        return fail(l, "protobuf: enum %s has no values", t->full + 1);
    ProtobufCEnumValue *values = sl_arena_alloc(l->mem, n * sizeof(*values));
    ProtobufCEnumValueIndex *by_name = sl_arena_alloc(l->mem, n * sizeof(*by_name));
    ProtobufCIntRange *ranges = sl_arena_alloc(l->mem, (n + 1) * sizeof(*ranges));
    if (!values || !by_name || !ranges)
        return fail(l, "protobuf: out of memory");
    for (size_t i = 0; i < n; i++)
        values[i] = (ProtobufCEnumValue){e->value[i]->name, e->value[i]->name, e->value[i]->number};
    /* Sorted by number, aliases (allow_alias) folded into the first name. */
    qsort(values, n, sizeof(*values), cmp_value);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || values[u - 1].value != values[i].value)
            values[u++] = values[i];
    for (size_t i = 0; i < n; i++) {
        by_name[i].name = e->value[i]->name;
        ProtobufCEnumValue key = {.value = e->value[i]->number};
        const ProtobufCEnumValue *at = bsearch(&key, values, u, sizeof(*values), cmp_value);
        by_name[i].index = (unsigned)(at - values);
    }
    qsort(by_name, n, sizeof(*by_name), cmp_value_name);
    unsigned n_ranges = 0;
    for (size_t i = 0; i < u; i++)
        if (i == 0 || values[i].value != values[i - 1].value + 1)
            ranges[n_ranges++] = (ProtobufCIntRange){values[i].value, (unsigned)i};
    ranges[n_ranges] = (ProtobufCIntRange){0, (unsigned)u};
    d->magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC;
    d->name = t->full + 1;
    d->short_name = e->name;
    d->c_name = t->full + 1;
    d->package_name = package_of(t);
    d->n_values = (unsigned)u;
    d->values = values;
    d->n_value_names = (unsigned)n;
    d->values_by_name = by_name;
    d->n_value_ranges = n_ranges;
    d->value_ranges = ranges;
    return 0;
}

/* ---- messages ---- */

static const ProtobufCType type_map[] = {
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE] = PROTOBUF_C_TYPE_DOUBLE,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT] = PROTOBUF_C_TYPE_FLOAT,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64] = PROTOBUF_C_TYPE_INT64,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64] = PROTOBUF_C_TYPE_UINT64,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32] = PROTOBUF_C_TYPE_INT32,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64] = PROTOBUF_C_TYPE_FIXED64,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32] = PROTOBUF_C_TYPE_FIXED32,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL] = PROTOBUF_C_TYPE_BOOL,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING] = PROTOBUF_C_TYPE_STRING,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE] = PROTOBUF_C_TYPE_MESSAGE,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES] = PROTOBUF_C_TYPE_BYTES,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32] = PROTOBUF_C_TYPE_UINT32,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM] = PROTOBUF_C_TYPE_ENUM,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32] = PROTOBUF_C_TYPE_SFIXED32,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64] = PROTOBUF_C_TYPE_SFIXED64,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32] = PROTOBUF_C_TYPE_SINT32,
    [GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64] = PROTOBUF_C_TYPE_SINT64,
};

static size_t align_to(size_t off, size_t a)
{
    return (off + a - 1) / a * a;
}

/* Room for one slot of size n in the struct being laid out. */
static unsigned slot(size_t *size, size_t n)
{
    *size = align_to(*size, n >= 8 ? 8 : n);
    unsigned at = (unsigned)*size;
    *size += n;
    return at;
}

static bool packable(ProtobufCType t)
{
    return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES &&
           t != PROTOBUF_C_TYPE_MESSAGE;
}

/* Protobuf names are identifiers: letters, digits, '_', not starting with a
 * digit (so no field can take the record key "$unknown"). */
static bool identifier(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= '0' && *s <= '9') || ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z')))
            return false;
    return true;
}

static int fill_field(struct loader *l, const struct named *owner, const FieldProto *fp,
                      bool proto3, ProtobufCFieldDescriptor *f)
{
    const char *where = owner->full + 1;
    if (!fp->has_number || !fp->name || !fp->has_type)
        return fail(l, "protobuf: a field of %s lacks a name, number or type", where);
    if (fp->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP)
        return fail(l, "protobuf: %s.%s: groups are not supported", where, fp->name);
    if (fp->type < 1 || (unsigned)fp->type >= sizeof(type_map) / sizeof(type_map[0]))
        return fail(l, "protobuf: %s.%s: unknown type %d", where, fp->name, fp->type);
    if (!identifier(fp->name))
        return fail(l, "protobuf: %s: field name \"%s\" is not an identifier", where, fp->name);
    if (fp->number < 1 || fp->number > 536870911)
        return fail(l, "protobuf: %s.%s: field number %d is out of range", where, fp->name,
                    fp->number);
    memset(f, 0, sizeof(*f));
    f->name = fp->name;
    f->id = (uint32_t)fp->number;
    f->type = type_map[fp->type];
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_ENUM) {
        if (!fp->type_name || fp->type_name[0] != '.')
            return fail(l, "protobuf: %s.%s: type name \"%s\" is not fully qualified", where,
                        fp->name, fp->type_name ? fp->type_name : "");
        struct named *t = find(l, fp->type_name);
        if (!t || t->is_enum != (f->type == PROTOBUF_C_TYPE_ENUM))
            return fail(l,
                        "protobuf: %s.%s: type %s is not in the descriptor set (protoc "
                        "--include_imports)",
                        where, fp->name, fp->type_name + 1);
        f->descriptor = t->desc;
    }
    bool oneof = fp->has_oneof_index && !fp->proto3_optional;
    if (fp->has_oneof_index &&
        fp->label != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL)
        return fail(l, "protobuf: %s.%s: a oneof member must be optional", where, fp->name);
    switch (fp->label) {
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED:
        f->label = PROTOBUF_C_LABEL_REQUIRED;
        break;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED:
        f->label = PROTOBUF_C_LABEL_REPEATED;
        /* proto3 packs repeated scalars unless told not to; proto2 only when told to */
        if (packable(f->type) &&
            (fp->options && fp->options->has_packed ? fp->options->packed : proto3))
            f->flags |= PROTOBUF_C_FIELD_FLAG_PACKED;
        break;
    default:
        /* proto3 fields without `optional` have no presence, except messages */
        f->label = proto3 && !fp->proto3_optional && !oneof && f->type != PROTOBUF_C_TYPE_MESSAGE
                       ? PROTOBUF_C_LABEL_NONE
                       : PROTOBUF_C_LABEL_OPTIONAL;
        break;
    }
    if (oneof)
        f->flags |= PROTOBUF_C_FIELD_FLAG_ONEOF;
    return 0;
}

static int cmp_field_id(const void *a, const void *b)
{
    const ProtobufCFieldDescriptor *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static const ProtobufCFieldDescriptor *sort_fields;
static int cmp_field_name(const void *a, const void *b)
{
    return strcmp(sort_fields[*(const unsigned *)a].name, sort_fields[*(const unsigned *)b].name);
}

/* Offsets as protoc-c would lay the struct out: the base, then per field its
 * quantifier (has_ / n_) and value; the members of a oneof share one case
 * word and one union. */
static void layout(const MsgProto *m, ProtobufCFieldDescriptor *fields, size_t n,
                   size_t *sizeof_message, unsigned *oneof_case, unsigned *oneof_at,
                   size_t *oneof_size)
{
    size_t size = sizeof(ProtobufCMessage);
    for (size_t i = 0; i < m->n_oneof_decl; i++)
        oneof_case[i] = 0, oneof_size[i] = 0;
    /* A oneof's union must hold its largest member. */
    for (size_t i = 0; i < n; i++) {
        const FieldProto *fp = m->field[i];
        size_t sz = pb_type_size(fields[i].type);
        if ((fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && sz > oneof_size[fp->oneof_index])
            oneof_size[fp->oneof_index] = sz;
    }
    for (size_t i = 0; i < n; i++) {
        ProtobufCFieldDescriptor *f = &fields[i];
        const FieldProto *fp = m->field[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            int k = fp->oneof_index;
            if (!oneof_case[k]) {
                oneof_case[k] = slot(&size, sizeof(uint32_t));
                oneof_at[k] = slot(&size, oneof_size[k]);
            }
            f->quantifier_offset = oneof_case[k];
            f->offset = oneof_at[k];
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            f->quantifier_offset = slot(&size, sizeof(size_t));
            f->offset = slot(&size, sizeof(void *));
        } else {
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                f->type != PROTOBUF_C_TYPE_MESSAGE)
                f->quantifier_offset = slot(&size, sizeof(protobuf_c_boolean));
            f->offset = slot(&size, pb_type_size(f->type));
        }
    }
    *sizeof_message = align_to(size, 8);
}

static int build_message(struct loader *l, struct named *t)
{
    const MsgProto *m = t->proto;
    ProtobufCMessageDescriptor *d = t->desc;
    bool proto3 = t->file->syntax && !strcmp(t->file->syntax, "proto3");
    size_t n = m->n_field;
    ProtobufCFieldDescriptor *fields = sl_arena_alloc(l->mem, (n + 1) * sizeof(*fields));
    unsigned *by_name = sl_arena_alloc(l->mem, (n + 1) * sizeof(*by_name));
    ProtobufCIntRange *ranges = sl_arena_alloc(l->mem, (n + 1) * sizeof(*ranges));
    size_t no = m->n_oneof_decl + 1;
    unsigned *oneof_case = sl_arena_alloc(l->mem, no * sizeof(unsigned));
    unsigned *oneof_at = sl_arena_alloc(l->mem, no * sizeof(unsigned));
    size_t *oneof_size = sl_arena_alloc(l->mem, no * sizeof(size_t));
    if (!fields || !by_name || !ranges || !oneof_case || !oneof_at || !oneof_size)
        return fail(l, "protobuf: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (fill_field(l, t, m->field[i], proto3, &fields[i]) < 0)
            return -1;
        if (m->field[i]->has_oneof_index && (size_t)m->field[i]->oneof_index >= m->n_oneof_decl)
            return fail(l, "protobuf: %s.%s: bad oneof index", t->full + 1, fields[i].name);
    }
    layout(m, fields, n, &d->sizeof_message, oneof_case, oneof_at, oneof_size);
    qsort(fields, n, sizeof(*fields), cmp_field_id);
    unsigned n_ranges = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && fields[i].id == fields[i - 1].id)
            return fail(l, "protobuf: %s: field number %u used twice", t->full + 1, fields[i].id);
        if (i == 0 || fields[i].id != fields[i - 1].id + 1)
            ranges[n_ranges++] = (ProtobufCIntRange){(int)fields[i].id, (unsigned)i};
        by_name[i] = (unsigned)i;
    }
    ranges[n_ranges] = (ProtobufCIntRange){0, (unsigned)n};
    sort_fields = fields; /* the loader runs once, at start, on one thread */
    qsort(by_name, n, sizeof(*by_name), cmp_field_name);
    d->magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
    d->name = t->full + 1;
    d->short_name = m->name;
    d->c_name = t->full + 1;
    d->package_name = package_of(t);
    d->n_fields = (unsigned)n;
    d->fields = fields;
    d->fields_sorted_by_name = by_name;
    d->n_field_ranges = n_ranges;
    d->field_ranges = ranges;
    d->message_init = NULL;
    /* protobuf-c has no map flag: reserved1 marks map entries for schema.c */
    d->reserved1 =
        m->options && m->options->has_map_entry && m->options->map_entry ? (void *)d : NULL;
    return 0;
}

const ProtobufCMessageDescriptor *pb_load_descriptor_set(struct sl_arena *mem, const uint8_t *data,
                                                         size_t len, const char *message, char *err,
                                                         size_t errlen)
{
    struct loader l = {.mem = mem, .err = err, .errlen = errlen};
    const ProtobufCMessageDescriptor *root = NULL;
    /* Unpacked into mem: the names in it live as long as the descriptors. */
    ProtobufCAllocator al;
    pb_allocator_init(&al, mem);
    Google__Protobuf__FileDescriptorSet *set =
        google__protobuf__file_descriptor_set__unpack(&al, len, data);
    if (!set) {
        fail(&l, "protobuf: not a FileDescriptorSet (write it with protoc --include_imports "
                 "--descriptor_set_out)");
        return NULL;
    }
    for (size_t i = 0; i < set->n_file; i++) {
        const FileProto *f = set->file[i];
        if (f->syntax && strcmp(f->syntax, "proto2") != 0 && strcmp(f->syntax, "proto3") != 0) {
            fail(&l, "protobuf: %s: syntax \"%s\" is not supported", f->name ? f->name : "?",
                 f->syntax);
            goto out;
        }
        char *scope = f->package && *f->package ? join(&l, "", f->package) : "";
        if (!scope || collect(&l, f, scope, f->message_type, f->n_message_type, f->enum_type,
                              f->n_enum_type) < 0)
            goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        size_t size = l.types[i].is_enum ? sizeof(ProtobufCEnumDescriptor)
                                         : sizeof(ProtobufCMessageDescriptor);
        if (!(l.types[i].desc = sl_arena_alloc(mem, size))) {
            fail(&l, "protobuf: out of memory");
            goto out;
        }
        memset(l.types[i].desc, 0, size);
    }
    for (size_t i = 0; i < l.n; i++) {
        struct named *t = &l.types[i];
        if ((t->is_enum ? build_enum(&l, t) : build_message(&l, t)) < 0)
            goto out;
    }
    char *want = join(&l, "", message);
    struct named *t = want ? find(&l, want) : NULL;
    if (!t || t->is_enum)
        fail(&l, "protobuf: message %s is not in the descriptor set", message);
    else
        root = t->desc;
out:
    free(l.types);
    return root;
}
