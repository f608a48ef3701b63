/* unwrap.c - envelope decode: a dead letter back into the message it was, so
 * a dead-letter file or topic can be fed through a (fixed) pipeline again.
 * A message that carries an x-sluice-error header is a dead letter that
 * travelled raw (a Kafka dead-letter topic, key and headers native): only
 * its x-sluice-* headers move.
 * The payload, key, headers, route and trace context are restored; the
 * x-sluice-* headers the failure added go to msg.source.failure instead, so
 * outputs do not write them again; the original source (topic, partition,
 * offset) goes to msg.source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "envelope.h"

static const char FAILURE_PREFIX[] = "x-sluice-";

/* The field `name` as bytes: a string under name, or base64 under
 * name_base64 (how the encoder writes bytes that are not UTF-8). Returns 1
 * when found, 0 when absent, -1 when malformed (err set). */
static int get_bytes(const struct sl_value *map, const char *name, struct sl_arena *a,
                     const uint8_t **p, size_t *n, char *err, size_t errlen)
{
    const struct sl_value *v = sl_map_get(map, name);
    if (v && v->type == SL_STRING) {
        *p = (const uint8_t *)v->u.str;
        *n = v->len;
        return 1;
    }
    char key[300];
    snprintf(key, sizeof(key), "%s_base64", name);
    const struct sl_value *b = sl_map_get(map, key);
    if (!v && !b)
        return 0;
    if (!b || b->type != SL_STRING) {
        snprintf(err, errlen, "envelope: \"%s\" is not a string", v ? name : key);
        return -1;
    }
    uint8_t *out = sl_arena_alloc(a, b->len / 4 * 3 + 1);
    long len = out ? base64_decode(out, b->u.str, b->len) : -1;
    if (len < 0) {
        snprintf(err, errlen, "envelope: \"%s\" is not valid base64", key);
        return -1;
    }
    *p = out;
    *n = (size_t)len;
    return 1;
}

/* The name a bytes member stands for (name_base64 carries a value that is
 * not UTF-8), NUL-terminated in buf. Returns its length, 0 when too long. */
static size_t member_name(const struct sl_member *mb, char *buf, size_t size)
{
    size_t len = mb->key_len;
    if (len > 7 && memcmp(mb->key + len - 7, "_base64", 7) == 0)
        len -= 7;
    if (!len || len >= size)
        return 0;
    memcpy(buf, mb->key, len);
    buf[len] = '\0';
    return len;
}

static int restore_headers(struct sl_msg *m, const struct sl_value *hdrs, char *err, size_t errlen)
{
    if (!hdrs)
        return 0;
    if (hdrs->type != SL_MAP) {
        snprintf(err, errlen, "envelope: \"headers\" is not an object");
        return -1;
    }
    uint32_t n_fail = 0;
    struct sl_header *fail = sl_arena_alloc(&m->arena, (hdrs->len + 1) * sizeof(*fail));
    if (!fail)
        goto out_of_memory;
    for (uint32_t i = 0; i < hdrs->len; i++) {
        char name[256];
        size_t len = member_name(&hdrs->u.members[i], name, sizeof(name));
        if (!len) {
            snprintf(err, errlen, "envelope: header name too long");
            return -1;
        }
        const uint8_t *v;
        size_t vlen;
        if (get_bytes(hdrs, name, &m->arena, &v, &vlen, err, errlen) < 0)
            return -1;
        if (strncmp(name, FAILURE_PREFIX, sizeof(FAILURE_PREFIX) - 1) == 0) {
            const char *nm = sl_arena_strndup(&m->arena, name, len);
            const char *val = sl_arena_strndup(&m->arena, (const char *)v, vlen);
            if (!nm || !val)
                goto out_of_memory;
            fail[n_fail++] = (struct sl_header){nm, (const uint8_t *)val, (uint32_t)vlen};
        } else if (sl_msg_set_header(m, name, v, vlen) < 0) {
            goto out_of_memory;
        }
    }
    m->source.failure = n_fail ? fail : NULL;
    m->source.n_failure = n_fail;
    return 0;
out_of_memory:
    snprintf(err, errlen, "envelope: out of memory");
    return -1;
}

static int restore_source(struct sl_msg *m, const struct sl_value *src, char *err, size_t errlen)
{
    if (!src || src->type != SL_MAP)
        return 0;
    for (uint32_t i = 0; i < src->len; i++) {
        char name[256];
        const uint8_t *v;
        size_t vlen;
        if (!member_name(&src->u.members[i], name, sizeof(name)) || envelope_source_field(name))
            continue;
        if (get_bytes(src, name, &m->arena, &v, &vlen, err, errlen) < 0)
            return -1;
        if (sl_msg_set_source_attr(m, name, v, vlen) < 0) {
            snprintf(err, errlen, "envelope: out of memory");
            return -1;
        }
    }
    const struct sl_value *name = sl_map_get(src, "name");
    const struct sl_value *part = sl_map_get(src, "partition");
    const struct sl_value *off = sl_map_get(src, "offset");
    if (name && name->type == SL_STRING &&
        !(m->source.name = sl_arena_strndup(&m->arena, name->u.str, name->len)))
        return -1;
    if (part && part->type == SL_INT && part->u.i >= INT32_MIN && part->u.i <= INT32_MAX)
        m->source.partition = (int32_t)part->u.i;
    if (off && off->type == SL_INT)
        m->source.offset = off->u.i;
    return 0;
}

/* A dead letter that travelled raw, its headers carried by the broker (a
 * Kafka dead-letter topic): only the x-sluice-* headers move. */
static int unwrap_raw(struct sl_msg *m)
{
    struct sl_header *fail = sl_arena_alloc(&m->arena, m->n_headers * sizeof(*fail));
    if (!fail)
        return -1;
    uint32_t n_fail = 0, kept = 0;
    for (uint32_t i = 0; i < m->n_headers; i++) {
        if (strncmp(m->headers[i].name, FAILURE_PREFIX, sizeof(FAILURE_PREFIX) - 1) == 0)
            fail[n_fail++] = m->headers[i];
        else
            m->headers[kept++] = m->headers[i];
    }
    m->n_headers = kept;
    m->source.failure = fail;
    m->source.n_failure = n_fail;
    return 0;
}

static int decode_payload(struct envelope_worker *w, struct sl_msg *m, char *err, size_t errlen)
{
    m->record = NULL;
    if (!w->conf->payload_json)
        return SL_OK;
    struct sl_value *rec = sl_arena_alloc(&m->arena, sizeof(*rec));
    if (!rec) {
        snprintf(err, errlen, "envelope: out of memory");
        return SL_ERROR;
    }
    char why[400];
    if (json_decode(w->dec, &m->arena, m->payload.data, m->payload.len, rec, why, sizeof(why)) <
        0) {
        snprintf(err, errlen, "envelope: payload = \"json\": %s", why);
        return SL_ERROR;
    }
    m->record = rec;
    return SL_OK;
}

int envelope_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen)
{
    struct envelope_worker *w = wctx;
    if (!w->dec && !(w->dec = json_dec_new(&w->conf->json))) {
        snprintf(err, errlen, "envelope: out of memory");
        return SL_ERROR;
    }
    /* Dead letters always carry x-sluice-error; envelopes (file lines) carry
     * no headers at all. */
    if (sl_msg_header(m, "x-sluice-error")) {
        if (unwrap_raw(m) < 0) {
            snprintf(err, errlen, "envelope: out of memory");
            return SL_ERROR;
        }
        return decode_payload(w, m, err, errlen);
    }
    /* The payload is about to be replaced by what it contains: parse a copy. */
    if (sl_buf_set(&w->text, m->payload.data, m->payload.len) < 0) {
        snprintf(err, errlen, "envelope: out of memory");
        return SL_ERROR;
    }
    struct sl_value env;
    char why[400];
    if (json_decode(w->dec, &m->arena, w->text.data, w->text.len, &env, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "envelope: not an envelope (%s)", why);
        return SL_ERROR;
    }
    if (env.type != SL_MAP) {
        snprintf(err, errlen, "envelope: not a JSON object");
        return SL_ERROR;
    }
    /* Everything that can be malformed is checked before the payload and
     * key change, so a bad envelope is dead-lettered as it came. */
    const uint8_t *payload, *key;
    size_t payload_len, key_len;
    int got = get_bytes(&env, "payload", &m->arena, &payload, &payload_len, err, errlen);
    if (got <= 0) {
        if (got == 0)
            snprintf(err, errlen, "envelope: no \"payload\"");
        return SL_ERROR;
    }
    int has_key = get_bytes(&env, "key", &m->arena, &key, &key_len, err, errlen);
    if (has_key < 0 || restore_headers(m, sl_map_get(&env, "headers"), err, errlen) < 0)
        return SL_ERROR;
    if (sl_buf_set(&m->payload, payload, payload_len) < 0)
        goto out_of_memory;
    if (has_key) {
        if (sl_buf_set(&m->key, key, key_len) < 0)
            goto out_of_memory;
        m->has_key = true;
    }
    const struct sl_value *route = sl_map_get(&env, "route");
    if (route && route->type == SL_STRING && sl_msg_set_route(m, route->u.str) < 0)
        goto out_of_memory;
    const struct sl_value *tp = sl_map_get(&env, "traceparent");
    if (tp && tp->type == SL_STRING)
        sl_msg_parse_traceparent(m, tp->u.str, tp->len); /* a bad one: keep the new id */
    if (restore_source(m, sl_map_get(&env, "source"), err, errlen) < 0)
        return SL_ERROR;
    return decode_payload(w, m, err, errlen);
out_of_memory:
    snprintf(err, errlen, "envelope: out of memory");
    return SL_ERROR;
}
