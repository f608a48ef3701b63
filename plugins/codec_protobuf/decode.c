/* decode.c - protobuf bytes to a record: protobuf-c unpacks into the message's arena
 * (no malloc), then the unpacked struct is walked into an sl_value tree. Record keys and
 * enum names borrow the schema's strings: the codec outlives every message. */
#include <stdio.h>
#include <string.h>

#include "pb.h"

static void *arena_alloc(void *data, size_t n)
{
    return sl_arena_alloc(data, n ? n : 1);
}

static void arena_free(void *data, void *p)
{
    (void)data; /* the arena goes as a whole with its message */
    (void)p;
}

void pb_allocator_init(ProtobufCAllocator *al, struct sl_arena *a)
{
    al->alloc = arena_alloc;
    al->free = arena_free;
    al->allocator_data = a;
}

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "protobuf: out of memory");
    return -1;
}

static int message_to_value(const struct pb_type *t, const ProtobufCMessage *msg,
                            struct sl_arena *a, struct sl_value *out, char *err, size_t errlen);

/* One value of field f (a scalar, or a message of type sub). */
static int one_value(const ProtobufCFieldDescriptor *f, const struct pb_type *sub, const void *p,
                     struct sl_arena *a, struct sl_value *out, char *err, size_t errlen)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return message_to_value(sub, *(const ProtobufCMessage *const *)p, a, out, err, errlen);
    return pb_scalar_to_value(f, p, a, out, err, errlen);
}

void pb_message_init(const ProtobufCMessageDescriptor *d, void *m)
{
    if (d->message_init) {
        d->message_init(m);
        return;
    }
    memset(m, 0, d->sizeof_message);
    ((ProtobufCMessage *)m)->descriptor = d;
}

/* A message with no field set (what an absent map value reads as). */
static const ProtobufCMessage *empty_message(const ProtobufCMessageDescriptor *d,
                                             struct sl_arena *a)
{
    ProtobufCMessage *m = sl_arena_alloc(a, d->sizeof_message);
    if (m)
        pb_message_init(d, m);
    return m;
}

/* A map key as record key text. */
static int map_key(const struct sl_value *k, struct sl_arena *a, struct sl_member *m, char *err,
                   size_t errlen)
{
    char buf[32];
    const char *s = buf;
    size_t n;
    if (k->type == SL_STRING) {
        m->key = k->u.str;
        m->key_len = k->len;
        return 0;
    }
    if (k->type == SL_BOOL)
        s = k->u.b ? "true" : "false", n = strlen(s);
    else
        n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)k->u.i);
    if (!(m->key = sl_arena_strndup(a, s, n)))
        return oom(err, errlen);
    m->key_len = (uint32_t)n;
    return 0;
}

/* A map field: repeated entries to one map, the last of equal keys winning. */
static int map_value(const struct pb_type *entry, ProtobufCMessage *const *items, size_t n,
                     struct sl_arena *a, struct sl_value *out, char *err, size_t errlen)
{
    const ProtobufCFieldDescriptor *kf = &entry->d->fields[0], *vf = &entry->d->fields[1];
    struct sl_member *m = n ? sl_arena_alloc(a, n * sizeof(*m)) : NULL;
    if (n && !m)
        return oom(err, errlen);
    uint32_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *base = (const char *)items[i];
        struct sl_value k, v;
        struct sl_member tmp;
        if (pb_scalar_to_value(kf, base + kf->offset, a, &k, err, errlen) < 0 ||
            map_key(&k, a, &tmp, err, errlen) < 0)
            return -1;
        const void *vp = base + vf->offset;
        const ProtobufCMessage *empty = NULL;
        if (vf->type == PROTOBUF_C_TYPE_MESSAGE && !*(void *const *)vp) {
            /* an absent message value is an empty message, as protobuf says */
            if (!(empty = empty_message(entry->sub[1]->d, a)))
                return oom(err, errlen);
            vp = &empty;
        }
        if (one_value(vf, entry->sub[1], vp, a, &v, err, errlen) < 0)
            return -1;
        uint32_t j = 0;
        while (j < len && (m[j].key_len != tmp.key_len || memcmp(m[j].key, tmp.key, tmp.key_len)))
            j++;
        m[j].key = tmp.key;
        m[j].key_len = tmp.key_len;
        m[j].value = v;
        if (j == len)
            len++;
    }
    *out = (struct sl_value){.type = SL_MAP, .len = len, .u.members = m};
    return 0;
}

static int repeated_value(const struct pb_type *t, unsigned i, const char *base, struct sl_arena *a,
                          struct sl_value *out, char *err, size_t errlen)
{
    const ProtobufCFieldDescriptor *f = &t->d->fields[i];
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *items = *(const char *const *)(base + f->offset);
    if (t->sub[i] && t->sub[i]->map_entry)
        return map_value(t->sub[i], (ProtobufCMessage *const *)items, n, a, out, err, errlen);
    if (n > UINT32_MAX)
        return oom(err, errlen);
    *out = (struct sl_value){.type = SL_ARRAY, .len = (uint32_t)n};
    if (!n)
        return 0;
    if (!(out->u.items = sl_arena_alloc(a, n * sizeof(struct sl_value))))
        return oom(err, errlen);
    size_t step = pb_type_size(f->type);
    for (size_t k = 0; k < n; k++)
        if (one_value(f, t->sub[i], items + k * step, a, &out->u.items[k], err, errlen) < 0)
            return -1;
    return 0;
}

/* Whether a singular field appears in the record: set oneof members, present
 * optional ones; proto3 fields without presence always (their zero when unset). */
static bool present(const ProtobufCFieldDescriptor *f, const char *base)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
        return true;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const void *p = *(const void *const *)(base + f->offset);
        return p && p != f->default_value;
    }
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

/* The unknown fields as their wire bytes: tag, then the data protobuf-c kept
 * (for length-delimited fields it includes the length). */
static int unknown_bytes(const ProtobufCMessage *msg, struct sl_arena *a, struct sl_value *out,
                         char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < msg->n_unknown_fields; i++)
        total += 10 + msg->unknown_fields[i].len;
    uint8_t *buf = sl_arena_alloc(a, total + 1), *o = buf;
    if (!buf)
        return oom(err, errlen);
    for (size_t i = 0; i < msg->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];
        if (u->tag == 0 || u->tag > 536870911) { /* protobuf-c reads tags up to 2^32-1 */
            snprintf(err, errlen, "protobuf: bad field number %u in %s", u->tag,
                     msg->descriptor->name);
            return -1;
        }
        uint64_t key = (uint64_t)u->tag << 3 | u->wire_type;
        while (key >= 0x80) {
            *o++ = (uint8_t)(key | 0x80);
            key >>= 7;
        }
        *o++ = (uint8_t)key;
        memcpy(o, u->data, u->len);
        o += u->len;
    }
    *o = 0;
    *out = (struct sl_value){.type = SL_BYTES, .len = (uint32_t)(o - buf), .u.str = (char *)buf};
    return 0;
}

static int message_to_value(const struct pb_type *t, const ProtobufCMessage *msg,
                            struct sl_arena *a, struct sl_value *out, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *d = t->d;
    const char *base = (const char *)msg;
    struct sl_member *m = sl_arena_alloc(a, (d->n_fields + 1) * sizeof(*m));
    uint32_t n = 0;
    if (!m)
        return oom(err, errlen);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        struct sl_member *mm = &m[n];
        int rc;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            rc = repeated_value(t, i, base, a, &mm->value, err, errlen);
        else if (!present(f, base))
            continue;
        else
            rc = one_value(f, t->sub[i], base + f->offset, a, &mm->value, err, errlen);
        if (rc < 0)
            return -1;
        mm->key = t->keys[i];
        mm->key_len = t->key_lens[i];
        n++;
    }
    if (msg->n_unknown_fields) {
        m[n].key = PB_UNKNOWN_KEY;
        m[n].key_len = sizeof(PB_UNKNOWN_KEY) - 1;
        if (unknown_bytes(msg, a, &m[n].value, err, errlen) < 0)
            return -1;
        n++;
    }
    *out = (struct sl_value){.type = SL_MAP, .len = n, .u.members = m};
    return 0;
}

int pb_decode(const struct pb_schema *s, struct sl_arena *a, const uint8_t *data, size_t len,
              struct sl_value *out, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    ProtobufCAllocator al;

    if (len > UINT32_MAX) {
        snprintf(err, errlen, "protobuf: payload too large (%zu bytes)", len);
        return -1;
    }
    /* protobuf-c recurses without a limit: with a recursive schema the
     * nesting is checked first (which explains any other error as well). */
    if (s->recursive && pb_check(s->root, data, len, err, errlen) < 0)
        return -1;
    pb_allocator_init(&al, a);
    ProtobufCMessage *msg = protobuf_c_message_unpack(s->root->d, &al, len, data ? data : empty);
    if (!msg) {
        /* protobuf-c does not say why: our own walk over the bytes does */
        if (pb_check(s->root, data, len, err, errlen) == 0)
            snprintf(err, errlen, "protobuf: protobuf-c cannot unpack the %zu bytes as %s", len,
                     s->root->d->name);
        return -1;
    }
    return message_to_value(s->root, msg, a, out, err, errlen);
}
