/* encode.c - a record to protobuf bytes: the record is turned into a protobuf-c message
 * in the worker's scratch arena (strings and bytes borrow the record), then protobuf-c
 * packs it straight into the output buffer. */
#include <stdio.h>
#include <string.h>

#include "pb.h"

struct enc {
    struct sl_arena *a;
    char *err;
    size_t errlen;
};

static int oom(struct enc *e)
{
    snprintf(e->err, e->errlen, "protobuf: out of memory");
    return -1;
}

static int build_message(struct enc *e, const struct pb_type *t, const struct sl_value *v,
                         ProtobufCMessage **out, int depth);

static int one_value(struct enc *e, const ProtobufCFieldDescriptor *f, const struct pb_type *sub,
                     const struct sl_value *v, void *p, int depth)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return build_message(e, sub, v, (ProtobufCMessage **)p, depth + 1);
    return pb_value_to_scalar(f, v, p, e->a, e->err, e->errlen);
}

static int set_single(struct enc *e, const ProtobufCFieldDescriptor *f, const struct pb_type *sub,
                      const struct sl_value *v, char *base, int depth);

/* A map key's text as the entry's key field. */
static int map_key(struct enc *e, const ProtobufCFieldDescriptor *kf, const struct sl_member *m,
                   char *entry)
{
    struct sl_value k = {.type = SL_STRING, .len = m->key_len, .u.str = m->key};
    if (kf->type == PROTOBUF_C_TYPE_BOOL) {
        bool t = !strcmp(m->key, "true");
        if (!t && strcmp(m->key, "false") != 0) {
            snprintf(e->err, e->errlen, "protobuf: map key \"%s\" is not true or false", m->key);
            return -1;
        }
        k = (struct sl_value){.type = SL_BOOL, .u.b = t};
    }
    return set_single(e, kf, NULL, &k, entry, 0);
}

/* A record map as the repeated entries of a map field. */
static int map_entries(struct enc *e, const struct pb_type *entry, const struct sl_value *v,
                       ProtobufCMessage ***items, int depth)
{
    const ProtobufCMessageDescriptor *d = entry->d;
    const ProtobufCFieldDescriptor *kf = &d->fields[0], *vf = &d->fields[1];
    ProtobufCMessage **list = sl_arena_alloc(e->a, (v->len + 1) * sizeof(*list));
    if (!list)
        return oom(e);
    for (uint32_t i = 0; i < v->len; i++) {
        char *m = sl_arena_alloc(e->a, d->sizeof_message);
        if (!m)
            return oom(e);
        pb_message_init(d, m);
        if (map_key(e, kf, &v->u.members[i], m) < 0 ||
            set_single(e, vf, entry->sub[1], &v->u.members[i].value, m, depth) < 0)
            return -1;
        list[i] = (ProtobufCMessage *)m;
    }
    *items = list;
    return 0;
}

static int set_repeated(struct enc *e, const struct pb_type *t, unsigned i,
                        const struct sl_value *v, char *base, int depth)
{
    const ProtobufCFieldDescriptor *f = &t->d->fields[i];
    const struct pb_type *sub = t->sub[i];
    if (sub && sub->map_entry) {
        if (v->type != SL_MAP) {
            snprintf(e->err, e->errlen, "protobuf: map field %s wants a map, not %s", f->name,
                     sl_type_name(v->type));
            return -1;
        }
        *(size_t *)(base + f->quantifier_offset) = v->len;
        return map_entries(e, sub, v, (ProtobufCMessage ***)(base + f->offset), depth);
    }
    if (v->type != SL_ARRAY) {
        snprintf(e->err, e->errlen, "protobuf: repeated field %s wants an array, not %s", f->name,
                 sl_type_name(v->type));
        return -1;
    }
    size_t step = pb_type_size(f->type);
    char *items = sl_arena_alloc(e->a, (v->len + 1) * step);
    if (!items)
        return oom(e);
    for (uint32_t k = 0; k < v->len; k++)
        if (one_value(e, f, sub, &v->u.items[k], items + k * step, depth) < 0)
            return -1;
    *(size_t *)(base + f->quantifier_offset) = v->len;
    *(char **)(base + f->offset) = items;
    return 0;
}

/* A singular field: its value, and what says it is present (has_, oneof case). */
static int set_single(struct enc *e, const ProtobufCFieldDescriptor *f, const struct pb_type *sub,
                      const struct sl_value *v, char *base, int depth)
{
    if (one_value(e, f, sub, v, base + f->offset, depth) < 0)
        return -1;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id; /* the last member set wins */
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return 0;
}

static int set_field(struct enc *e, const struct pb_type *t, unsigned i, const struct sl_value *v,
                     char *base, int depth)
{
    if (t->d->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
        return set_repeated(e, t, i, v, base, depth);
    return set_single(e, &t->d->fields[i], t->sub[i], v, base, depth);
}

/* "$unknown": wire bytes split back into protobuf-c's unknown fields. */
static int set_unknown(struct enc *e, const struct sl_value *v, ProtobufCMessage *msg)
{
    if (v->type != SL_BYTES && v->type != SL_STRING) {
        snprintf(e->err, e->errlen, "protobuf: %s wants bytes, not %s", PB_UNKNOWN_KEY,
                 sl_type_name(v->type));
        return -1;
    }
    const uint8_t *p = (const uint8_t *)v->u.str, *end = p + v->len;
    size_t n = 0, cap = 8;
    ProtobufCMessageUnknownField *u = sl_arena_alloc(e->a, cap * sizeof(*u));
    while (u && p < end) {
        uint64_t key = 0, len = 0;
        int shift = 0;
        do
            key |= (uint64_t)(*p & 0x7f) << shift, shift += 7;
        while (*p++ & 0x80 && p < end && shift < 64);
        const uint8_t *data = p;
        switch (key & 7) {
        case 0:
            while (p < end && *p & 0x80)
                p++;
            p++;
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            shift = 0;
            do
                len |= (uint64_t)(*p & 0x7f) << shift, shift += 7;
            while (p < end && *p++ & 0x80 && shift < 64);
            if (len > (uint64_t)(end - p))
                goto bad;
            p += len;
            break;
        default:
            goto bad;
        }
        if (p > end || (key >> 3) == 0 || (key >> 3) > 536870911)
            goto bad;
        if (n == cap) {
            ProtobufCMessageUnknownField *bigger = sl_arena_alloc(e->a, 2 * cap * sizeof(*u));
            if (!bigger)
                return oom(e);
            memcpy(bigger, u, n * sizeof(*u));
            u = bigger;
            cap *= 2;
        }
        u[n++] = (ProtobufCMessageUnknownField){.tag = (uint32_t)(key >> 3),
                                                .wire_type = (ProtobufCWireType)(key & 7),
                                                .len = (size_t)(p - data),
                                                .data = (uint8_t *)data};
    }
    if (!u)
        return oom(e);
    msg->n_unknown_fields = (unsigned)n;
    msg->unknown_fields = u;
    return 0;
bad:
    snprintf(e->err, e->errlen, "protobuf: %s is not protobuf wire bytes", PB_UNKNOWN_KEY);
    return -1;
}

static int build_message(struct enc *e, const struct pb_type *t, const struct sl_value *v,
                         ProtobufCMessage **out, int depth)
{
    const ProtobufCMessageDescriptor *d = t->d;
    if (v->type != SL_MAP) {
        snprintf(e->err, e->errlen, "protobuf: %s wants a map, not %s", d->name,
                 sl_type_name(v->type));
        return -1;
    }
    if (depth > PB_MAX_DEPTH) {
        snprintf(e->err, e->errlen, "protobuf: messages nested deeper than %d", PB_MAX_DEPTH);
        return -1;
    }
    char *base = sl_arena_alloc(e->a, d->sizeof_message);
    uint8_t *set = sl_arena_alloc(e->a, d->n_fields + 1);
    if (!base || !set)
        return oom(e);
    pb_message_init(d, base);
    memset(set, 0, d->n_fields + 1);
    int hint = 0;
    for (uint32_t k = 0; k < v->len; k++) {
        const struct sl_member *m = &v->u.members[k];
        if (m->value.type == SL_NULL)
            continue; /* null: the field is absent */
        int i = pb_field_by_key(t, m->key, m->key_len, hint);
        if (i < 0) {
            if (!strcmp(m->key, PB_UNKNOWN_KEY)) {
                if (set_unknown(e, &m->value, (ProtobufCMessage *)base) < 0)
                    return -1;
                continue;
            }
            snprintf(e->err, e->errlen, "protobuf: %s has no field \"%s\"", d->name, m->key);
            return -1;
        }
        if (set_field(e, t, (unsigned)i, &m->value, base, depth) < 0)
            return -1;
        set[i] = 1;
        hint = i + 1;
    }
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !set[i]) {
            snprintf(e->err, e->errlen, "protobuf: missing required field %s of %s",
                     d->fields[i].name, d->name);
            return -1;
        }
    *out = (ProtobufCMessage *)base;
    return 0;
}

int pb_encode(const struct pb_schema *s, struct sl_arena *scratch, const struct sl_value *v,
              struct sl_buf *out, char *err, size_t errlen)
{
    struct enc e = {.a = scratch, .err = err, .errlen = errlen};
    ProtobufCMessage *msg;
    if (build_message(&e, s->root, v, &msg, 1) < 0)
        return -1;
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (sl_buf_reserve(out, n + 1) < 0)
        return oom(&e);
    out->len += protobuf_c_message_pack(msg, out->data + out->len);
    return 0;
}
