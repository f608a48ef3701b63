/* keytable.c - hash set with backward-shift deletion and a FIFO ring. */
#include <stdlib.h>
#include <sys/mman.h>

#include "keytable.h"

/* Large arrays come from mmap with transparent huge pages asked for: at 10 M
 * keys every lookup lands on a random page, and 2 MB pages spare most of the
 * TLB misses that would otherwise cost as much as the lookup itself. Untouched
 * pages stay unmapped, so a large max_keys costs only what is used. */
static void *alloc_zeroed(size_t n, size_t size)
{
    size_t bytes = n * size;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (bytes >= (2u << 20))
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without THP it is just slower */
    return p;
}

static void free_zeroed(void *p, size_t n, size_t size)
{
    if (p)
        munmap(p, n * size);
}

static uint64_t stored(uint64_t hash)
{
    return hash ? hash : 1; /* 0 is the empty marker */
}

int keytable_init(struct keytable *t, size_t max_keys, bool times)
{
    *t = (struct keytable){0};
    if (max_keys < 1)
        max_keys = 1;
    /* Load factor at most 2/3: linear probing stays short. */
    size_t slots = 4;
    while (slots < max_keys + max_keys / 2 + 1)
        slots *= 2;
    t->mask = slots - 1;
    t->cap = max_keys;
    t->slots = alloc_zeroed(slots, sizeof(*t->slots));
    t->ring_hash = alloc_zeroed(max_keys, sizeof(*t->ring_hash));
    if (times)
        t->ring_time = alloc_zeroed(max_keys, sizeof(*t->ring_time));
    if (!t->slots || !t->ring_hash || (times && !t->ring_time)) {
        keytable_free(t);
        return -1;
    }
    return 0;
}

void keytable_free(struct keytable *t)
{
    free_zeroed(t->slots, t->mask + 1, sizeof(*t->slots));
    free_zeroed(t->ring_hash, t->cap, sizeof(*t->ring_hash));
    free_zeroed(t->ring_time, t->cap, sizeof(*t->ring_time));
    *t = (struct keytable){0};
}

/* The slot holding h, or the empty slot where it would go. */
static size_t find(const struct keytable *t, uint64_t h)
{
    size_t i = h & t->mask;
    while (t->slots[i] && t->slots[i] != h)
        i = (i + 1) & t->mask;
    return i;
}

bool keytable_contains(const struct keytable *t, uint64_t hash)
{
    return t->slots && t->slots[find(t, stored(hash))] != 0;
}

/* Remove the slot at i, shifting later members of its probe run back so
 * lookups never meet a hole (no tombstones to clean up later). */
static void remove_slot(struct keytable *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        uint64_t h = t->slots[j];
        if (!h)
            break;
        size_t home = h & t->mask;
        /* h may move to i when its home is not within (i, j] cyclically. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slots[i] = h;
            i = j;
        }
    }
    t->slots[i] = 0;
}

/* Drop the oldest ring entry. Returns whether it held a key (not a hole). */
static bool pop_oldest(struct keytable *t)
{
    uint64_t h = t->ring_hash[t->head];
    if (h) {
        size_t i = find(t, h);
        if (t->slots[i])
            remove_slot(t, i);
    } else {
        t->forgotten--;
    }
    t->head = (t->head + 1) % t->cap;
    t->count--;
    return h != 0;
}

void keytable_forget(struct keytable *t, uint64_t hash, uint64_t seq)
{
    uint64_t h = stored(hash);
    if (seq + t->count < t->added)
        return; /* evicted or expired already: its slot went with it */
    size_t pos = (size_t)(seq % t->cap);
    if (t->ring_hash[pos] != h)
        return;
    t->ring_hash[pos] = 0;
    t->forgotten++;
    size_t i = find(t, h);
    if (t->slots[i])
        remove_slot(t, i);
}

bool keytable_insert(struct keytable *t, uint64_t hash, uint32_t now_s, uint64_t *seq)
{
    uint64_t h = stored(hash);
    size_t i = find(t, h);
    if (t->slots[i])
        return false;
    if (t->count == t->cap) {
        t->evictions += pop_oldest(t);
        i = find(t, h); /* the shift may have moved the empty slot */
    }
    t->slots[i] = h;
    size_t tail = (t->head + t->count) % t->cap;
    t->ring_hash[tail] = h;
    if (t->ring_time)
        t->ring_time[tail] = now_s;
    t->count++;
    if (seq)
        *seq = t->added;
    t->added++;
    return true;
}

size_t keytable_expire(struct keytable *t, uint32_t now_s, uint32_t ttl_s)
{
    size_t n = 0;
    while (t->ring_time && t->count && now_s - t->ring_time[t->head] > ttl_s &&
           now_s >= t->ring_time[t->head])
        n += pop_oldest(t);
    t->expirations += n;
    return n;
}

size_t keytable_bytes(const struct keytable *t)
{
    return t->slots
               ? (t->mask + 1) * sizeof(*t->slots) +
                     t->cap * (sizeof(*t->ring_hash) + (t->ring_time ? sizeof(*t->ring_time) : 0))
               : 0;
}
