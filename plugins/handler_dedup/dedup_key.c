/* dedup_key.c - key specs and hashing of record values, headers and bytes. */
#include <stdio.h>
#include <string.h>

#include "dedup_key.h"

enum { SEED_BYTES = 0x6b, SEED_VALUE = 0x76 };

static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

uint64_t dedup_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = fmix64(seed ^ (uint64_t)n * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = rotl(h ^ fmix64(w), 27) * 0x9e3779b97f4a7c15ULL + 0x52dce729;
    }
    uint64_t tail = 0;
    if (n > i)
        memcpy(&tail, b + i, n - i);
    h ^= fmix64(tail ^ 0x27d4eb2f165667c5ULL);
    return fmix64(h);
}

int dedup_key_parse(struct dedup_key *k, const char *spec, char *err, size_t errlen)
{
    if (strncmp(spec, "record.", 7) == 0 && spec[7]) {
        *k = (struct dedup_key){DEDUP_KEY_RECORD, spec + 7};
    } else if (strncmp(spec, "header:", 7) == 0 && spec[7]) {
        *k = (struct dedup_key){DEDUP_KEY_HEADER, spec + 7};
    } else if (strcmp(spec, "key") == 0) {
        *k = (struct dedup_key){DEDUP_KEY_MSGKEY, NULL};
    } else if (strcmp(spec, "payload") == 0) {
        *k = (struct dedup_key){DEDUP_KEY_PAYLOAD, NULL};
    } else {
        snprintf(err, errlen,
                 "key = \"%s\": expected \"record.PATH\", \"header:NAME\", \"key\" or \"payload\"",
                 spec);
        return -1;
    }
    return 0;
}

/* Type and contents: 1 and "1" and 1.0 are three different keys. */
static uint64_t hash_value(const struct sl_value *v, uint64_t seed)
{
    uint64_t h = fmix64(seed + v->type);
    switch (v->type) {
    case SL_BOOL:
        return fmix64(h ^ (uint64_t)v->u.b);
    case SL_INT:
        return fmix64(h ^ dedup_hash_bytes(&v->u.i, sizeof(v->u.i), SEED_VALUE));
    case SL_DOUBLE:
        return fmix64(h ^ dedup_hash_bytes(&v->u.d, sizeof(v->u.d), SEED_VALUE));
    case SL_STRING:
    case SL_BYTES:
        return dedup_hash_bytes(v->u.str, v->len, h);
    case SL_ARRAY:
        for (uint32_t i = 0; i < v->len; i++)
            h = hash_value(&v->u.items[i], h);
        return fmix64(h ^ v->len);
    case SL_MAP:
        for (uint32_t i = 0; i < v->len; i++) {
            h = dedup_hash_bytes(v->u.members[i].key, v->u.members[i].key_len, h);
            h = hash_value(&v->u.members[i].value, h);
        }
        return fmix64(h ^ v->len);
    default:
        return h;
    }
}

int dedup_key_hash(const struct dedup_key *k, const struct sl_msg *m, uint64_t *hash)
{
    switch (k->kind) {
    case DEDUP_KEY_RECORD: {
        const struct sl_value *v = m->record ? sl_value_path(m->record, k->arg) : NULL;
        if (!v)
            return -1;
        *hash = hash_value(v, SEED_VALUE);
        return 0;
    }
    case DEDUP_KEY_HEADER: {
        const struct sl_header *h = sl_msg_header(m, k->arg);
        if (!h)
            return -1;
        *hash = dedup_hash_bytes(h->value, h->value_len, SEED_BYTES);
        return 0;
    }
    case DEDUP_KEY_MSGKEY:
        if (!m->has_key)
            return -1;
        *hash = dedup_hash_bytes(m->key.data, m->key.len, SEED_BYTES);
        return 0;
    default:
        *hash = dedup_hash_bytes(m->payload.data, m->payload.len, SEED_BYTES);
        return 0;
    }
}
