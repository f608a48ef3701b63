/* keytable.h - the committed keys of the dedup handler: 64-bit key hashes in
 * an open-addressing set (linear probing), plus a ring that keeps them in
 * commit order so the oldest can be evicted or expired in O(1). No strings are
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
    uint32_t *ring_time; /* commit time, Unix seconds */
    size_t cap;          /* max_keys */
    size_t head;         /* oldest entry */
    size_t count;
    uint64_t evictions;   /* oldest keys pushed out because the table was full */
    uint64_t expirations; /* keys older than the ttl forgotten */
};

/* A table for up to max_keys keys (>= 1). Returns 0, or -1 when out of
 * memory (t is then left empty and safe to free). */
int keytable_init(struct keytable *t, size_t max_keys);
void keytable_free(struct keytable *t);
/* True when the hash is held. */
bool keytable_contains(const struct keytable *t, uint64_t hash);
/* Commit a key at time now_s. A full table first evicts its oldest key.
 * Returns false (and changes nothing) when the key is already held. */
bool keytable_insert(struct keytable *t, uint64_t hash, uint32_t now_s);
/* Forget every key committed more than ttl_s seconds before now_s (oldest
 * first, so this costs O(1) per expired key). Returns how many. */
size_t keytable_expire(struct keytable *t, uint32_t now_s, uint32_t ttl_s);
/* The i-th oldest key (i < count), for snapshots. */
static inline uint64_t keytable_nth_hash(const struct keytable *t, size_t i)
{
    return t->ring_hash[(t->head + i) % t->cap];
}
static inline uint32_t keytable_nth_time(const struct keytable *t, size_t i)
{
    return t->ring_time[(t->head + i) % t->cap];
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
