/* scratch.c - per-worker bump allocator handed to yajl, so a parse costs no malloc. */
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define HDR      16u             /* keeps blocks 16-aligned; holds the size */
#define KEEP_MAX (1024u * 1024u) /* never keep more than this between messages */
#define ROUND(n) (((n) + 15u) & ~(size_t)15u)

/* Blocks that did not fit the buffer: malloc'd, freed at reset. */
struct json_scratch_big {
    struct json_scratch_big *next;
    size_t size;
};

static size_t block_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

static bool in_buf(const struct json_scratch *s, const void *p)
{
    return (const uint8_t *)p >= s->buf && (const uint8_t *)p < s->buf + s->cap;
}

int json_scratch_init(struct json_scratch *s, size_t cap)
{
    memset(s, 0, sizeof(*s));
    s->buf = malloc(cap);
    if (!s->buf)
        return -1;
    s->cap = cap;
    return 0;
}

void *json_scratch_alloc(void *ud, size_t n)
{
    struct json_scratch *s = ud;
    size_t need = HDR + ROUND(n);

    if (need < n)
        return NULL;
    s->demand += need;
    if (s->cap - s->used >= need) {
        uint8_t *p = s->buf + s->used + HDR;
        ((size_t *)p)[-1] = n;
        s->last = s->used;
        s->used += need;
        return p;
    }
    struct json_scratch_big *b = malloc(sizeof(*b) + HDR + n);
    if (!b)
        return NULL;
    b->next = s->big;
    b->size = n;
    s->big = b;
    uint8_t *p = (uint8_t *)(b + 1) + HDR;
    ((size_t *)p)[-1] = n;
    return p;
}

void *json_scratch_realloc(void *ud, void *p, size_t n)
{
    struct json_scratch *s = ud;

    if (!p)
        return json_scratch_alloc(s, n);
    size_t old = block_size(p);
    /* The newest block in the buffer grows in place (yajl's stacks do this). */
    if (in_buf(s, p) && (uint8_t *)p - HDR == s->buf + s->last &&
        s->cap - s->last - HDR >= ROUND(n)) {
        s->demand += ROUND(n) - ROUND(old);
        s->used = s->last + HDR + ROUND(n);
        ((size_t *)p)[-1] = n;
        return p;
    }
    void *q = json_scratch_alloc(s, n);
    if (q)
        memcpy(q, p, old < n ? old : n);
    return q;
}

void json_scratch_free(void *ud, void *p)
{
    (void)ud;
    (void)p; /* everything goes at reset */
}

void json_scratch_reset(struct json_scratch *s)
{
    while (s->big) {
        struct json_scratch_big *b = s->big;
        s->big = b->next;
        free(b);
    }
    /* Steady state: size the buffer so the usual message fits in it. */
    if (s->demand > s->cap && s->cap < KEEP_MAX) {
        size_t cap = s->cap;
        while (cap < s->demand && cap < KEEP_MAX)
            cap *= 2;
        uint8_t *nb = malloc(cap);
        if (nb) {
            free(s->buf);
            s->buf = nb;
            s->cap = cap;
        }
    }
    s->used = 0;
    s->last = 0;
    s->demand = 0;
}

void json_scratch_destroy(struct json_scratch *s)
{
    json_scratch_reset(s);
    free(s->buf);
    s->buf = NULL;
}
