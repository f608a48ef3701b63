/* pb_reference.h - protobuf-c 1.4.1 as the reference for the codec's own decoder and
 * encoder (plugins/codec_protobuf/decode.c, encode.c), shared by the unit test
 * tests/unit/test_codec_protobuf_ref.c and the fuzz target fuzz_protobuf.
 *
 * For any bytes, pb_ref_check asserts:
 *  1. pb_decode accepts them exactly when protobuf_c_message_unpack does, except where
 *     the codec checks what protobuf-c does not (docs/departures.md): UTF-8 in strings,
 *     field numbers 0 and above 2^29-1 (protobuf-c keeps them as unknown fields), nesting
 *     deeper than PB_MAX_DEPTH, a bool field with another wire type than varint (protobuf-c
 *     reads any), and a singular message field that occurs twice (protobuf-c 1.4.1 merges
 *     such messages in its own way and fails on some; the codec merges as protobuf says).
 *  2. When both accept: the record encodes (pb_encode), protobuf-c unpacks those bytes,
 *     and packing that message gives the same bytes as packing protobuf-c's own unpack
 *     of the input, once both are normalised the way the record mapping normalises on
 *     purpose: a map's equal keys folded (last value wins), a map entry without its
 *     message value given an empty one, NaNs made one NaN (a float NaN's payload does
 *     not survive the record's double).
 *  3. And the encoder writes what protobuf-c writes for the same message: its bytes
 *     equal protobuf_c_message_pack of their own unpack (unless a string holds a NUL,
 *     which protobuf-c cuts at, being C strings).
 * Returns 1 when both accepted, 0 when both refused; aborts with a report otherwise. */
#ifndef SLUICE_PB_REFERENCE_H
#define SLUICE_PB_REFERENCE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"
#include "wire.h"

static void pb_ref_die(const char *what, const char *detail, const uint8_t *data, size_t size)
{
    fprintf(stderr, "pb_reference: %s: %s\ninput (%zu bytes):", what, detail ? detail : "", size);
    for (size_t i = 0; i < size; i++)
        fprintf(stderr, " %02x", data[i]);
    fputc('\n', stderr);
    abort();
}

static const struct pb_type *pb_ref_type(const struct pb_schema *s,
                                         const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < s->n_types; i++)
        if (s->types[i].d == d)
            return &s->types[i];
    return NULL;
}

/* Whether the wire bytes of t (well formed or not) hold a singular message
 * field twice in one message, at any depth. */
static bool pb_ref_has_merge(const struct pb_type *t, const uint8_t *p, const uint8_t *end,
                             int depth)
{
    uint8_t seen[512] = {0};
    while (p < end && depth < PB_MAX_DEPTH) {
        uint64_t key, v;
        if (!(p = wire_varint5(p, end, &key)))
            return false;
        const uint8_t *val = p;
        switch (key & 7) {
        case 0:
            p = wire_varint(p, end, &v);
            break;
        case 1:
        case 5:
            p = (size_t)(end - p) >= ((key & 7) == 1 ? 8u : 4u) ? p + ((key & 7) == 1 ? 8 : 4)
                                                                : NULL;
            break;
        case 2:
            if ((val = wire_varint5(p, end, &v)) && v <= (uint64_t)(end - val))
                p = val + v;
            else
                p = NULL;
            break;
        default:
            p = NULL;
        }
        if (!p)
            return false;
        int i = pb_field_by_number(t, (uint32_t)(key >> 3));
        if (i < 0 || (key & 7) != 2 || !t->fields[i].sub)
            continue;
        const struct pb_field *f = &t->fields[i];
        if (!f->repeated && i < 512 && seen[i]++)
            return true;
        if (pb_ref_has_merge(f->sub, val, p, depth + 1))
            return true;
    }
    return false;
}

static bool pb_ref_has_nul(const struct sl_value *v)
{
    switch (v->type) {
    case SL_STRING:
        return memchr(v->u.str, 0, v->len) != NULL;
    case SL_ARRAY:
        for (uint32_t i = 0; i < v->len; i++)
            if (pb_ref_has_nul(&v->u.items[i]))
                return true;
        return false;
    case SL_MAP:
        for (uint32_t i = 0; i < v->len; i++)
            if (memchr(v->u.members[i].key, 0, v->u.members[i].key_len) ||
                pb_ref_has_nul(&v->u.members[i].value))
                return true;
        return false;
    default:
        return false;
    }
}

/* The checks of the codec that protobuf-c lacks, by the reason given. */
static bool pb_ref_own_check(const struct pb_schema *s, const char *err)
{
    if (strstr(err, "invalid UTF-8") || strstr(err, "bad field number") ||
        strstr(err, "nested deeper"))
        return true;
    const char *w = strstr(err, "protobuf: field "), *e = w ? strstr(w, " (") : NULL;
    if (!e || !strstr(err, "has wire type"))
        return false;
    w += strlen("protobuf: field ");
    for (size_t i = 0; i < s->n_types; i++) /* the bool fields of any type of that name */
        for (unsigned k = 0; k < s->types[i].n_fields; k++) {
            const struct pb_field *f = &s->types[i].fields[k];
            if (f->type == PROTOBUF_C_TYPE_BOOL && strlen(f->fd->name) == (size_t)(e - w) &&
                !memcmp(f->fd->name, w, (size_t)(e - w)))
                return true;
        }
    return false;
}

static bool pb_ref_same_key(const ProtobufCFieldDescriptor *kf, const void *a, const void *b)
{
    if (kf->type == PROTOBUF_C_TYPE_STRING) {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return !strcmp(x ? x : "", y ? y : "");
    }
    return !memcmp(a, b, pb_type_size(kf->type));
}

static void pb_ref_normalise(const struct pb_schema *s, ProtobufCMessage *m, struct sl_arena *a);

/* One value of field fd at p, normalised in place. */
static void pb_ref_normalise_value(const struct pb_schema *s, const ProtobufCFieldDescriptor *fd,
                                   void *p, struct sl_arena *a)
{
    if (fd->type == PROTOBUF_C_TYPE_FLOAT && isnan(*(float *)p))
        *(float *)p = NAN;
    else if (fd->type == PROTOBUF_C_TYPE_DOUBLE && isnan(*(double *)p))
        *(double *)p = NAN;
    else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)p)
        pb_ref_normalise(s, *(ProtobufCMessage **)p, a);
}

/* A map field's entries: equal keys folded into the first, the last value
 * winning; an entry without its message value given an empty message. */
static void pb_ref_normalise_map(const struct pb_schema *s, const struct pb_type *entry,
                                 ProtobufCMessage **items, size_t *n, struct sl_arena *a)
{
    const ProtobufCFieldDescriptor *kf = &entry->d->fields[0], *vf = &entry->d->fields[1];
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        char *e = (char *)items[i];
        items[i]->n_unknown_fields = 0; /* the record has no place for them */
        for (int k = 0; k < 2; k++) {   /* proto2 entries: an absent key or value is its zero */
            const ProtobufCFieldDescriptor *f = k ? vf : kf;
            if (f->label != PROTOBUF_C_LABEL_OPTIONAL || f->type == PROTOBUF_C_TYPE_MESSAGE)
                continue;
            if (f->type == PROTOBUF_C_TYPE_STRING && !*(char **)(e + f->offset))
                *(const char **)(e + f->offset) = "";
            else if (f->type != PROTOBUF_C_TYPE_STRING)
                *(protobuf_c_boolean *)(e + f->quantifier_offset) = 1;
        }
        if (vf->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage **)(e + vf->offset)) {
            const ProtobufCMessageDescriptor *d = vf->descriptor;
            ProtobufCMessage *empty = sl_arena_alloc(a, d->sizeof_message);
            memset(empty, 0, d->sizeof_message);
            empty->descriptor = d;
            *(ProtobufCMessage **)(e + vf->offset) = empty;
        }
        size_t j = 0;
        while (j < out && !pb_ref_same_key(kf, (char *)items[j] + kf->offset, e + kf->offset))
            j++;
        if (j == out)
            items[out++] = items[i];
        else /* the first entry's place, the last entry's value */
            memcpy((char *)items[j] + vf->offset, e + vf->offset, pb_type_size(vf->type));
    }
    *n = out;
    for (size_t i = 0; i < out; i++)
        pb_ref_normalise(s, items[i], a);
}

static void pb_ref_normalise(const struct pb_schema *s, ProtobufCMessage *m, struct sl_arena *a)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *n = (size_t *)(base + fd->quantifier_offset);
            char *items = *(char **)(base + fd->offset);
            const struct pb_type *sub =
                fd->type == PROTOBUF_C_TYPE_MESSAGE ? pb_ref_type(s, fd->descriptor) : NULL;
            if (sub && sub->map_entry) {
                pb_ref_normalise_map(s, sub, (ProtobufCMessage **)items, n, a);
                continue;
            }
            for (size_t k = 0; k < *n; k++)
                pb_ref_normalise_value(s, fd, items + k * pb_type_size(fd->type), a);
            continue;
        }
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue; /* the union holds another member */
        pb_ref_normalise_value(s, fd, base + fd->offset, a);
    }
}

/* protobuf-c's packing of m (normalised first when asked), in a. */
static uint8_t *pb_ref_pack(const struct pb_schema *s, ProtobufCMessage *m, bool normalise,
                            struct sl_arena *a, size_t *len)
{
    if (normalise)
        pb_ref_normalise(s, m, a);
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *out = sl_arena_alloc(a, *len + 1);
    protobuf_c_message_pack(m, out);
    return out;
}

static int pb_ref_check(const struct pb_schema *s, const uint8_t *data, size_t size)
{
    static struct sl_arena ours, ref, scratch;
    static struct sl_buf enc;
    static const uint8_t empty[1];
    ProtobufCAllocator al;
    struct sl_value rec;
    char err[256], what[512];
    const uint8_t *in = data ? data : empty;

    sl_arena_reset(&ours);
    sl_arena_reset(&ref);
    sl_arena_reset(&scratch);
    pb_allocator_init(&al, &ref);
    ProtobufCMessage *want = protobuf_c_message_unpack(s->root->d, &al, size, in);
    bool ok = pb_decode(s, &ours, data, size, &rec, err, sizeof(err)) == 0;
    bool merge = pb_ref_has_merge(s->root, in, in + size, 1);
    if (!ok && want && !pb_ref_own_check(s, err) && !merge) {
        snprintf(what, sizeof(what), "%s: protobuf-c accepts, pb_decode refuses", s->root->d->name);
        pb_ref_die(what, err, in, size);
    }
    if (ok && !want && !merge)
        pb_ref_die("pb_decode accepts what protobuf-c refuses", s->root->d->name, in, size);
    if (!ok || !want || merge)
        return ok && want;
    enc.len = 0;
    if (pb_encode(s, &scratch, &rec, &enc, err, sizeof(err)) < 0)
        pb_ref_die("a decoded record does not encode", err, in, size);
    ProtobufCMessage *back = protobuf_c_message_unpack(s->root->d, &al, enc.len, enc.data);
    if (!back)
        pb_ref_die("protobuf-c refuses what pb_encode wrote", s->root->d->name, in, size);
    size_t n1, n2, n3;
    const uint8_t *packed_back = pb_ref_pack(s, back, false, &ref, &n1);
    if (!pb_ref_has_nul(&rec) && (n1 != enc.len || memcmp(packed_back, enc.data, n1) != 0))
        pb_ref_die("pb_encode does not write what protobuf-c packs", s->root->d->name, in, size);
    const uint8_t *a = pb_ref_pack(s, want, true, &ref, &n2);
    const uint8_t *b = pb_ref_pack(s, back, true, &ref, &n3);
    if (n2 != n3 || memcmp(a, b, n2) != 0)
        pb_ref_die("decode + encode changed the message", s->root->d->name, in, size);
    return 1;
}

#endif
