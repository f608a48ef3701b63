/* value.c - the per-message arena and the record tree helpers. */
#include <stdlib.h>
#include <string.h>

#include "sluice/value.h"

struct sl_arena_chunk {
    struct sl_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    max_align_t data[];
};

enum { ARENA_FIRST_CHUNK = 2048, ARENA_KEEP_MAX = 16384 };
#define ARENA_MAX_REQUEST (SIZE_MAX / 8)

static int arena_grow(struct sl_arena *a, size_t need)
{
    size_t size = a->head ? a->head->size * 2 : ARENA_FIRST_CHUNK;
    while (size < need)
        size *= 2;
    struct sl_arena_chunk *c = malloc(sizeof(*c) + size);
    if (!c)
        return -1;
    c->size = size;
    c->next = a->head;
    a->head = c;
    a->ptr = (char *)c->data;
    a->end = a->ptr + size;
    a->total += size;
    return 0;
}

/* (the names in parentheses: value.h makes them macros for the inline path) */
void *(sl_arena_alloc)(struct sl_arena *a, size_t n)
{
    if (n > ARENA_MAX_REQUEST)
        return NULL; /* also keeps the rounding and chunk doubling from overflowing */
    n = n ? (n + 7) & ~(size_t)7 : 8; /* a distinct, valid pointer even for 0 bytes */
    if ((size_t)(a->end - a->ptr) < n && arena_grow(a, n) < 0)
        return NULL;
    void *p = a->ptr;
    a->ptr += n;
    return p;
}

char *(sl_arena_strndup)(struct sl_arena *a, const char *s, size_t n)
{
    if (n >= ARENA_MAX_REQUEST)
        return NULL; /* n + 1 must not wrap to 0 */
    char *p = sl_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Keep the largest chunk that is not oversized, free the rest: steady
 * state then reuses one chunk big enough for its records, with no malloc. */
void sl_arena_reset(struct sl_arena *a)
{
    struct sl_arena_chunk *c = a->head, *keep = NULL;
    for (; c; c = c->next)
        if (c->size <= ARENA_KEEP_MAX && (!keep || c->size > keep->size))
            keep = c;
    c = a->head;
    while (c) {
        struct sl_arena_chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    if (keep)
        keep->next = NULL;
    a->head = keep;
    a->total = keep ? keep->size : 0;
    a->ptr = keep ? (char *)keep->data : NULL;
    a->end = keep ? a->ptr + keep->size : NULL;
}

void sl_arena_free(struct sl_arena *a)
{
    struct sl_arena_chunk *c = a->head;
    while (c) {
        struct sl_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(a, 0, sizeof(*a));
}

const struct sl_value *sl_map_get(const struct sl_value *map, const char *key)
{
    if (!map || map->type != SL_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->len; i++)
        if (strcmp(map->u.members[i].key, key) == 0)
            return &map->u.members[i].value;
    return NULL;
}

/* The member of map named by the n bytes at key (not NUL-terminated). */
static const struct sl_value *map_get_n(const struct sl_value *map, const char *key, size_t n)
{
    for (uint32_t i = 0; i < map->len; i++) {
        const struct sl_member *m = &map->u.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return &m->value;
    }
    return NULL;
}

/* "12" -> 12; anything but 1 to 9 decimal digits -> -1. */
static int64_t parse_index(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return -1;
    int64_t idx = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        idx = idx * 10 + (s[i] - '0');
    }
    return idx;
}

const struct sl_value *sl_value_path(const struct sl_value *root, const char *path)
{
    const struct sl_value *v = root;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        const char *part = path;
        path += n + (path[n] == '.');
        if (v->type == SL_MAP) {
            v = map_get_n(v, part, n);
        } else if (v->type == SL_ARRAY) {
            int64_t idx = parse_index(part, n);
            v = idx >= 0 && (uint64_t)idx < v->len ? &v->u.items[idx] : NULL;
        } else {
            return NULL;
        }
    }
    return v;
}

bool sl_value_equal(const struct sl_value *a, const struct sl_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SL_NULL:
        return true;
    case SL_BOOL:
        return a->u.b == b->u.b;
    case SL_INT:
        return a->u.i == b->u.i;
    case SL_DOUBLE:
        return a->u.d == b->u.d || (a->u.d != a->u.d && b->u.d != b->u.d);
    case SL_STRING:
    case SL_BYTES:
        return a->len == b->len && memcmp(a->u.str, b->u.str, a->len) == 0;
    case SL_ARRAY:
        if (a->len != b->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!sl_value_equal(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case SL_MAP:
        if (a->len != b->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const struct sl_member *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                !sl_value_equal(&x->value, &y->value))
                return false;
        }
        return true;
    }
    return false;
}

int sl_value_copy(struct sl_arena *a, struct sl_value *dst, const struct sl_value *src)
{
    *dst = *src;
    switch (src->type) {
    case SL_STRING:
    case SL_BYTES:
        dst->u.str = sl_arena_strndup(a, src->u.str, src->len);
        return dst->u.str ? 0 : -1;
    case SL_ARRAY:
        dst->u.items = sl_arena_alloc(a, sizeof(struct sl_value) * (src->len ? src->len : 1));
        if (!dst->u.items)
            return -1;
        for (uint32_t i = 0; i < src->len; i++)
            if (sl_value_copy(a, &dst->u.items[i], &src->u.items[i]) < 0)
                return -1;
        return 0;
    case SL_MAP:
        dst->u.members = sl_arena_alloc(a, sizeof(struct sl_member) * (src->len ? src->len : 1));
        if (!dst->u.members)
            return -1;
        for (uint32_t i = 0; i < src->len; i++) {
            const struct sl_member *s = &src->u.members[i];
            struct sl_member *d = &dst->u.members[i];
            d->key_len = s->key_len;
            d->key = sl_arena_strndup(a, s->key, s->key_len);
            if (!d->key || sl_value_copy(a, &d->value, &s->value) < 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

const char *sl_type_name(uint32_t type)
{
    static const char *const names[] = {"null",   "bool",  "int",   "double",
                                        "string", "bytes", "array", "map"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}
