/* sluice/value.h - the decoded record tree and the per-message arena it lives in. */
#ifndef SLUICE_VALUE_H
#define SLUICE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A bump allocator owned by one message. Everything it hands out dies (is
 * reused) when the message is released; nobody frees individual pieces. The
 * first chunk is kept across reuse, so steady state does not call malloc.
 * Not thread-safe: only the thread that owns the message allocates from its
 * arena. sl_arena_reset/free are for arenas a plugin made itself. */
struct sl_arena_chunk;
struct sl_arena {
    struct sl_arena_chunk *head;
    char *ptr;
    char *end;
    size_t total; /* bytes held in chunks */
};

/* Returns 8-byte aligned memory, or NULL when out of memory. */
void *sl_arena_alloc(struct sl_arena *a, size_t n);
/* Copies n bytes and appends a NUL. Returns NULL when out of memory. */
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n);
/* Forgets every allocation; keeps the first chunk for reuse. */
void sl_arena_reset(struct sl_arena *a);
/* Frees every chunk. */
void sl_arena_free(struct sl_arena *a);

/* The two calls above with their common case inline: a request that fits the
 * current chunk is a compare and an add (chunks hold whole 8-byte units), not
 * a call of ~25 instructions, a dozen times per decoded record. The functions
 * stay the ABI's symbols and the slow path; (sl_arena_alloc)(a, n) calls one. */
static inline void *sl__arena_alloc_inline(struct sl_arena *a, size_t n)
{
    if (n - 1 < (size_t)(a->end - a->ptr)) { /* 0 < n <= what is left */
        void *p = a->ptr;
        a->ptr += (n + 7) & ~(size_t)7;
        return p;
    }
    return (sl_arena_alloc)(a, n);
}
static inline char *sl__arena_strndup_inline(struct sl_arena *a, const char *s, size_t n)
{
    if (n >= (size_t)(a->end - a->ptr))
        return (sl_arena_strndup)(a, s, n);
    char *p = (char *)sl__arena_alloc_inline(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
#define sl_arena_alloc(a, n)      sl__arena_alloc_inline((a), (n))
#define sl_arena_strndup(a, s, n) sl__arena_strndup_inline((a), (s), (n))

enum sl_type {
    SL_NULL = 0,
    SL_BOOL,
    SL_INT,
    SL_DOUBLE,
    SL_STRING, /* UTF-8 text (not checked), NUL-terminated, len excludes NUL */
    SL_BYTES,  /* arbitrary bytes, NUL-terminated for convenience */
    SL_ARRAY,
    SL_MAP, /* members keep their order; duplicate keys are kept as they came */
};

struct sl_member;

struct sl_value {
    uint32_t type; /* enum sl_type */
    uint32_t len;  /* string/bytes: byte length; array/map: element count */
    union {
        bool b;
        int64_t i;
        double d;
        const char *str;
        struct sl_value *items;    /* SL_ARRAY: len values */
        struct sl_member *members; /* SL_MAP: len members */
    } u;
};

struct sl_member {
    const char *key; /* NUL-terminated */
    uint32_t key_len;
    struct sl_value value;
};

/* The readers below never allocate or change anything: any thread may call
 * them on a tree nobody is changing. Results point into the tree. */
/* Map lookup by key (linear; records are small). NULL when absent or not a map. */
const struct sl_value *sl_map_get(const struct sl_value *map, const char *key);
/* Dotted path lookup: "user.id", "items.0.name". NULL when absent. */
const struct sl_value *sl_value_path(const struct sl_value *root, const char *path);
/* Deep structural equality (ints and doubles are distinct types). */
bool sl_value_equal(const struct sl_value *a, const struct sl_value *b);
/* Deep copy into an arena (the caller's thread must own it): strings and
 * children are copied too. Returns 0, or -1 when out of memory. */
int sl_value_copy(struct sl_arena *a, struct sl_value *dst, const struct sl_value *src);
/* Type name for messages: "null", "bool", "int", ... */
const char *sl_type_name(uint32_t type);

#ifdef __cplusplus
}
#endif
#endif
