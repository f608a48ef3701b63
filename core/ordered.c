/* ordered.c - per-key order across retries in a stage with ordered = true.
 * While a message waits out its backoff in a worker's retry list, the later
 * messages of its key wait too (parked, in arrival order) and other keys
 * flow. When it leaves the stage (passed on, dropped or dead-lettered), its
 * key's parked messages go on one at a time, each free to block the key again
 * if it fails. A batch is cut where a key repeats, so a failure inside it
 * cannot let the same key's next message slip past. Unkeyed messages have no
 * order to keep. One per worker: no lock. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum { EMPTY = 0, GONE = 1, FIRST_SLOTS = 64 };

struct held_key {
    uint64_t hash;               /* EMPTY, GONE (a deleted entry), or the key's hash */
    uint32_t retrying;           /* messages of the key in the retry list */
    struct sl__msg *head, *tail; /* parked, oldest first (linked by next) */
};

struct sl__ordered {
    struct held_key *slots;
    size_t mask;
    size_t used; /* entries + GONE markers */
};

static uint64_t key_hash(const struct sl_msg *m)
{
    uint64_t h = sl__hash(m->key.data, m->key.len);
    return h > GONE ? h : h + 2;
}

struct sl__ordered *sl__ordered_new(void)
{
    struct sl__ordered *o = calloc(1, sizeof(*o));
    if (o && !(o->slots = calloc(FIRST_SLOTS, sizeof(*o->slots)))) {
        free(o);
        return NULL;
    }
    if (o)
        o->mask = FIRST_SLOTS - 1;
    return o;
}

void sl__ordered_free(struct sl__ordered *o)
{
    if (!o)
        return;
    free(o->slots);
    free(o);
}

static struct held_key *find(const struct sl__ordered *o, uint64_t h)
{
    for (size_t i = h & o->mask;; i = (i + 1) & o->mask) {
        if (o->slots[i].hash == h)
            return &o->slots[i];
        if (o->slots[i].hash == EMPTY)
            return NULL;
    }
}

/* Room for one more: at most half the slots used, GONE markers dropped. */
static void make_room(struct sl__ordered *o)
{
    if ((o->used + 1) * 2 <= o->mask + 1)
        return;
    size_t live = 0;
    for (size_t i = 0; i <= o->mask; i++)
        live += o->slots[i].hash > GONE;
    size_t n = o->mask + 1;
    while ((live + 1) * 4 > n)
        n *= 2;
    struct held_key *slots = calloc(n, sizeof(*slots));
    if (!slots) {
        sl_log(NULL, SL_LOG_ERROR, "out of memory keeping per-key order");
        abort();
    }
    for (size_t i = 0; i <= o->mask; i++) {
        if (o->slots[i].hash <= GONE)
            continue;
        size_t j = o->slots[i].hash & (n - 1);
        while (slots[j].hash != EMPTY)
            j = (j + 1) & (n - 1);
        slots[j] = o->slots[i];
    }
    free(o->slots);
    o->slots = slots;
    o->mask = n - 1;
    o->used = live;
}

static struct held_key *find_or_add(struct sl__ordered *o, uint64_t h)
{
    struct held_key *k = find(o, h);
    if (k)
        return k;
    make_room(o);
    size_t i = h & o->mask;
    while (o->slots[i].hash > GONE)
        i = (i + 1) & o->mask;
    if (o->slots[i].hash == EMPTY)
        o->used++;
    o->slots[i] = (struct held_key){.hash = h};
    return &o->slots[i];
}

bool sl__ordered_park(struct sl__ordered *o, struct sl_msg *m)
{
    if (!m->has_key)
        return false;
    struct held_key *k = find(o, key_hash(m));
    if (!k)
        return false;
    struct sl__msg *pm = sl__msg_private(m);
    pm->next = NULL;
    if (k->tail)
        k->tail->next = pm;
    else
        k->head = pm;
    k->tail = pm;
    return true;
}

void sl__ordered_retrying(struct sl__ordered *o, struct sl_msg *m)
{
    if (m->has_key)
        find_or_add(o, key_hash(m))->retrying++;
}

void sl__ordered_retry_due(struct sl__ordered *o, struct sl_msg *m)
{
    struct held_key *k = m->has_key ? find(o, key_hash(m)) : NULL;
    if (k && k->retrying)
        k->retrying--;
}

size_t sl__ordered_release(struct sl__ordered *o, struct sl_msg **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i <= o->mask && n < cap; i++) {
        struct held_key *k = &o->slots[i];
        if (k->hash <= GONE || k->retrying)
            continue;
        if (k->head) {
            struct sl__msg *pm = k->head;
            k->head = pm->next;
            if (!k->head)
                k->tail = NULL;
            pm->next = NULL;
            out[n++] = &pm->pub;
        } else {
            k->hash = GONE; /* nothing waits on the key any more */
        }
    }
    return n;
}

size_t sl__ordered_distinct_prefix(const struct sl_msg *const *msgs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (!msgs[i]->has_key)
            continue;
        for (size_t j = 0; j < i; j++)
            if (msgs[j]->has_key && msgs[j]->key.len == msgs[i]->key.len &&
                memcmp(msgs[j]->key.data, msgs[i]->key.data, msgs[i]->key.len) == 0)
                return i;
    }
    return n;
}
