/* keytable.h - the keys the dedup handler has seen: 64-bit key hashes in an
 * open-addressing set (linear probing), plus a ring that keeps them in the
 * order they were added so the oldest can be evicted or expired in O(1). A
 * key goes in when its first message passes (one probe per message: the
 * lookup finds the slot the insert fills); the handler keeps the ones still
 * in flight in a small table of its own (inflight.h) and forgets a key whose
 * message failed (keytable_forget). No strings are
 * stored: 8 bytes per slot (load <= 2/3) and 12 bytes per ring entry, so
 * about 25 bytes per key at 10 M keys (see docs/dedup.md for the collision
 * odds this gives). Not thread-safe: the handler holds its lock around it. */
#ifndef SLUICE_DEDUP_KEYTABLE_H
#define SLUICE_DEDUP_KEYTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keytable {
    uint64_t *slots; /* hashes; 0 marks an empty slot (hash 0 is stored as 1) */
    size_t mask;     /* slots - 1, a power of two */
    uint64_t *ring_hash;
    uint32_t *ring_time;  /* time added, Unix seconds; NULL: not kept (all 0) */
    size_t cap;           /* max_keys */
    size_t head;          /* oldest entry */
    size_t count;         /* ring entries, forgotten ones included */
    uint64_t added;       /* keys ever added: the ring sequence number of the next */
    size_t forgotten;     /* ring entries whose key was forgotten (hash 0) */
    uint64_t evictions;   /* oldest keys pushed out because the table was full */
    uint64_t expirations; /* keys older than the ttl forgotten */
};

/* A table for up to max_keys keys (>= 1), keeping the time each key was
 * added when times is true (a ttl, or a state file, needs them; 4 bytes a
 * key). Returns 0, or -1 when out of memory (t is then left empty and safe
 * to free). */
int keytable_init(struct keytable *t, size_t max_keys, bool times);
void keytable_free(struct keytable *t);
/* True when the hash is held. */
bool keytable_contains(const struct keytable *t, uint64_t hash);
/* Add a key at time now_s. A full table first evicts its oldest key.
 * Returns false (and changes nothing) when the key is already held; else
 * true, with the key's ring sequence number in *seq (may be NULL). */
bool keytable_insert(struct keytable *t, uint64_t hash, uint32_t now_s, uint64_t *seq);
/* Take back the key added as seq (its message failed): it is no longer
 * held, and its ring entry, unless evicted or expired already, is left as
 * a hole that costs nothing when it reaches the head. */
void keytable_forget(struct keytable *t, uint64_t hash, uint64_t seq);
/* Keys held. */
static inline size_t keytable_held(const struct keytable *t)
{
    return t->count - t->forgotten;
}
/* Forget every key committed more than ttl_s seconds before now_s (oldest
 * first, so this costs O(1) per expired key). Returns how many. */
size_t keytable_expire(struct keytable *t, uint32_t now_s, uint32_t ttl_s);
/* The i-th oldest ring entry (i < count), for snapshots; hash 0 is a
 * forgotten key's hole. */
static inline uint64_t keytable_nth_hash(const struct keytable *t, size_t i)
{
    return t->ring_hash[(t->head + i) % t->cap];
}
static inline uint32_t keytable_nth_time(const struct keytable *t, size_t i)
{
    return t->ring_time ? t->ring_time[(t->head + i) % t->cap] : 0;
}
/* Start loading the slot where hash would be: a batch prefetches every
 * key before looking any up, so the cache misses of a large table overlap.
 * Needs no lock (the slot array never moves). */
static inline void keytable_prefetch(const struct keytable *t, uint64_t hash)
{
    __builtin_prefetch(&t->slots[(hash ? hash : 1) & t->mask]);
}
/* Bytes the table allocated (slots and ring). */
size_t keytable_bytes(const struct keytable *t);

#endif
