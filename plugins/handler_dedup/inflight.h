/* inflight.h - keys whose first message has passed the dedup handler but is
 * not delivered yet, each with the duplicates that arrived meanwhile and
 * wait for the verdict. Small (bounded by what is in flight downstream):
 * open addressing that doubles when half full. Not thread-safe. */
#ifndef SLUICE_DEDUP_INFLIGHT_H
#define SLUICE_DEDUP_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/sluice.h>

struct inflight_entry {
    uint64_t hash; /* 0: empty slot (callers never use hash 0) */
    uint64_t seq;  /* the key's sequence number in the keytable's ring */
    struct sl_msg **waiting;
    uint32_t n_waiting, cap_waiting;
};

struct inflight {
    struct inflight_entry *slots;
    size_t mask;
    size_t count;
    size_t n_waiting; /* duplicates held, over every entry */
};

/* Returns 0, or -1 when out of memory. */
int inflight_init(struct inflight *f);
/* Frees the table and the waiting arrays (not the messages in them). */
void inflight_free(struct inflight *f);
/* The entry for hash, or NULL. Valid until the next inflight_add. */
struct inflight_entry *inflight_find(const struct inflight *f, uint64_t hash);
/* The entry for hash: a new one, or the one there already (*existed set;
 * one probe either way). NULL out of memory. */
struct inflight_entry *inflight_add(struct inflight *f, uint64_t hash, bool *existed);
/* Hold a duplicate on e. Returns 0, or -1 when out of memory. */
int inflight_hold(struct inflight *f, struct inflight_entry *e, struct sl_msg *m);
/* Remove e; its held duplicates are appended to *out (grown with realloc;
 * *out_n and *out_cap updated). Returns 0, or -1 when out of memory (the
 * entry is removed and its duplicates are lost to the caller only then). */
int inflight_remove(struct inflight *f, struct inflight_entry *e, struct sl_msg ***out,
                    size_t *out_n, size_t *out_cap);

#endif
