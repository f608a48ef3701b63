/* schema.c - the types reachable from the configured message, with what the walkers
 * need that protobuf-c's descriptors do not carry: map entries, record keys, and the
 * pb_type of each message field. Works on run-time and generated descriptors alike. */
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

/* Depth-first search for a cycle through message fields. */
static bool has_cycle(const struct pb_type *types, size_t i, char *state)
{
    if (state[i] == 1)
        return true;
    if (state[i] == 2)
        return false;
    state[i] = 1;
    const struct pb_type *t = &types[i];
    for (unsigned f = 0; f < t->d->n_fields; f++)
        if (t->sub[f] && has_cycle(types, (size_t)(t->sub[f] - types), state))
            return true;
    state[i] = 2;
    return false;
}

int pb_schema_build(struct pb_schema *s, const ProtobufCMessageDescriptor *root, int names,
                    char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor **list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    char *state = NULL;

    if (index_of(&list, &n, &cap, root) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) /* n grows as new types are found */
        for (unsigned f = 0; f < list[i]->n_fields; f++)
            if (list[i]->fields[f].type == PROTOBUF_C_TYPE_MESSAGE &&
                index_of(&list, &n, &cap, list[i]->fields[f].descriptor) < 0)
                goto oom;
    s->types = sl_arena_alloc(&s->mem, n * sizeof(*s->types));
    if (!s->types)
        goto oom;
    s->n_types = n;
    for (size_t i = 0; i < n; i++) {
        struct pb_type *t = &s->types[i];
        const ProtobufCMessageDescriptor *d = list[i];
        unsigned nf = d->n_fields;
        t->d = d;
        t->map_entry = is_map_entry(d);
        t->keys = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*t->keys));
        t->key_lens = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*t->key_lens));
        t->sub = sl_arena_alloc(&s->mem, (nf + 1) * sizeof(*t->sub));
        if (!t->keys || !t->key_lens || !t->sub)
            goto oom;
        for (unsigned f = 0; f < nf; f++) {
            const ProtobufCFieldDescriptor *fd = &d->fields[f];
            t->keys[f] = names == PB_NAMES_JSON ? pb_json_name(&s->mem, fd->name) : fd->name;
            if (!t->keys[f])
                goto oom;
            t->key_lens[f] = (uint32_t)strlen(t->keys[f]);
            t->sub[f] = NULL;
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
                t->sub[f] = &s->types[index_of(&list, &n, &cap, fd->descriptor)];
        }
        for (unsigned f = 0; f + 1 < nf; f++)
            for (unsigned g = f + 1; g < nf; g++)
                if (!strcmp(t->keys[f], t->keys[g])) {
                    snprintf(err, errlen, "protobuf: %s: fields %s and %s have the same name %s",
                             d->name, d->fields[f].name, d->fields[g].name, t->keys[f]);
                    goto out;
                }
    }
    if (!(state = calloc(n, 1)))
        goto oom;
    s->recursive = has_cycle(s->types, 0, state);
    s->root = &s->types[0];
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "protobuf: out of memory");
out:
    free(state);
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

int pb_field_by_key(const struct pb_type *t, const char *key, uint32_t len, int hint)
{
    unsigned n = t->d->n_fields;
    if (hint >= 0 && (unsigned)hint < n && t->key_lens[hint] == len &&
        !memcmp(t->keys[hint], key, len))
        return hint;
    for (unsigned f = 0; f < n; f++)
        if (t->key_lens[f] == len && !memcmp(t->keys[f], key, len))
            return (int)f;
    return -1;
}
