/* dedup_key.h - what the dedup handler compares: a spec parsed from the `key`
 * option, and the 64-bit hash of that part of a message. */
#ifndef SLUICE_DEDUP_KEY_H
#define SLUICE_DEDUP_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/sluice.h>

enum dedup_key_kind {
    DEDUP_KEY_RECORD = 1, /* "record.PATH": a value in the decoded record */
    DEDUP_KEY_HEADER,     /* "header:NAME": a header's bytes */
    DEDUP_KEY_MSGKEY,     /* "key": the message key */
    DEDUP_KEY_PAYLOAD,    /* "payload": the payload bytes */
};

struct dedup_key {
    int kind;
    const char *arg; /* path or header name, pointing into the option text */
};

/* Parse the `key` option. Returns 0, or -1 with a reason in err. */
int dedup_key_parse(struct dedup_key *k, const char *spec, char *err, size_t errlen);
/* Hash the message's key part into *hash. Returns 0, or -1 when the message
 * has no such part (no record, path absent, no header, no key). */
int dedup_key_hash(const struct dedup_key *k, const struct sl_msg *m, uint64_t *hash);
/* A 64-bit hash of bytes, mixed so every input bit reaches every output bit;
 * stable across runs and machines (state files keep these). Not keyed: a
 * sender who can craft keys could make two collide on purpose. */
uint64_t dedup_hash_bytes(const void *p, size_t n, uint64_t seed);

#endif
