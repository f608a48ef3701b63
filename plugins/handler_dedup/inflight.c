/* inflight.c - see inflight.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"

enum { FIRST_SLOTS = 64 };

int inflight_init(struct inflight *f)
{
    *f = (struct inflight){0};
    f->slots = calloc(FIRST_SLOTS, sizeof(*f->slots));
    if (!f->slots)
        return -1;
    f->mask = FIRST_SLOTS - 1;
    return 0;
}

void inflight_free(struct inflight *f)
{
    if (f->slots)
        for (size_t i = 0; i <= f->mask; i++)
            free(f->slots[i].waiting);
    free(f->slots);
    *f = (struct inflight){0};
}

static size_t probe(const struct inflight *f, uint64_t hash)
{
    size_t i = hash & f->mask;
    while (f->slots[i].hash && f->slots[i].hash != hash)
        i = (i + 1) & f->mask;
    return i;
}

struct inflight_entry *inflight_find(const struct inflight *f, uint64_t hash)
{
    struct inflight_entry *e = &f->slots[probe(f, hash)];
    return e->hash ? e : NULL;
}

static int grow(struct inflight *f)
{
    size_t n = (f->mask + 1) * 2;
    struct inflight_entry *slots = calloc(n, sizeof(*slots)), *old = f->slots;
    if (!slots)
        return -1;
    size_t old_n = f->mask + 1;
    f->slots = slots;
    f->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].hash)
            f->slots[probe(f, old[i].hash)] = old[i];
    free(old);
    return 0;
}

struct inflight_entry *inflight_add(struct inflight *f, uint64_t hash, bool *existed)
{
    if ((f->count + 1) * 2 > f->mask + 1 && grow(f) < 0)
        return NULL;
    struct inflight_entry *e = &f->slots[probe(f, hash)];
    *existed = e->hash != 0;
    if (!*existed) {
        *e = (struct inflight_entry){.hash = hash};
        f->count++;
    }
    return e;
}

int inflight_hold(struct inflight *f, struct inflight_entry *e, struct sl_msg *m)
{
    if (e->n_waiting == e->cap_waiting) {
        uint32_t cap = e->cap_waiting ? e->cap_waiting * 2 : 4;
        struct sl_msg **w = realloc(e->waiting, cap * sizeof(*w));
        if (!w)
            return -1;
        e->waiting = w;
        e->cap_waiting = cap;
    }
    e->waiting[e->n_waiting++] = m;
    f->n_waiting++;
    return 0;
}

/* Backward-shift deletion, as in keytable.c: no tombstones. */
static void remove_slot(struct inflight *f, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & f->mask;
        if (!f->slots[j].hash)
            break;
        size_t home = f->slots[j].hash & f->mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            f->slots[i] = f->slots[j];
            i = j;
        }
    }
    f->slots[i] = (struct inflight_entry){0};
    f->count--;
}

int inflight_remove(struct inflight *f, struct inflight_entry *e, struct sl_msg ***out,
                    size_t *out_n, size_t *out_cap)
{
    int rc = 0;
    if (e->n_waiting) {
        if (*out_cap - *out_n < e->n_waiting) {
            size_t cap = *out_cap ? *out_cap : 16;
            while (cap - *out_n < e->n_waiting)
                cap *= 2;
            struct sl_msg **o = realloc(*out, cap * sizeof(*o));
            if (o) {
                *out = o;
                *out_cap = cap;
            }
        }
        if (*out_cap - *out_n >= e->n_waiting) {
            memcpy(*out + *out_n, e->waiting, e->n_waiting * sizeof(**out));
            *out_n += e->n_waiting;
        } else {
            rc = -1;
        }
        f->n_waiting -= e->n_waiting;
    }
    free(e->waiting);
    remove_slot(f, (size_t)(e - f->slots));
    return rc;
}
