/* message.c - buffers, headers, trace context, and the life of a message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int sl_buf_reserve(struct sl_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 4 - b->len)
        return -1; /* the doubling below would overflow */
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    if (sl_buf_reserve(b, n + 1) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0; /* keeps text payloads usable as C strings */
    return 0;
}

int sl__buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sl_buf_reserve(b, (size_t)n + 1) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int sl_buf_set(struct sl_buf *b, const void *p, size_t n)
{
    b->len = 0;
    return sl_buf_append(b, p, n);
}

void sl_buf_free(struct sl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* First entry named `name` in a header list, or NULL. */
static const struct sl_header *find_header(const struct sl_header *list, uint32_t n,
                                           const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

const struct sl_header *sl_msg_header(const struct sl_msg *m, const char *name)
{
    return find_header(m->headers, m->n_headers, name);
}

const struct sl_header *sl_msg_source_attr(const struct sl_msg *m, const char *name)
{
    return find_header(m->source_attrs, m->n_source_attrs, name);
}

void sl_msg_del_header(struct sl_msg *m, const char *name)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < m->n_headers; i++)
        if (strcmp(m->headers[i].name, name) != 0)
            m->headers[j++] = m->headers[i];
    m->n_headers = j;
}

/* Set (replace) name = value in a header list living in arena `a`. */
static int set_in_list(struct sl_arena *a, struct sl_header **list, uint32_t *n, uint32_t *cap,
                       const char *name, const void *value, size_t len)
{
    uint8_t *v = (uint8_t *)sl_arena_strndup(a, value, len);
    if (!v)
        return -1;
    struct sl_header *same = (struct sl_header *)find_header(*list, *n, name);
    if (same) {
        same->value = v;
        same->value_len = (uint32_t)len;
        return 0;
    }
    if (*n == *cap) {
        /* Arrays in the arena cannot grow in place: copy to a larger one. */
        uint32_t grown = *cap ? *cap * 2 : 8;
        struct sl_header *h = sl_arena_alloc(a, grown * sizeof(*h));
        if (!h)
            return -1;
        if (*n)
            memcpy(h, *list, *n * sizeof(*h));
        *list = h;
        *cap = grown;
    }
    const char *copy = sl_arena_strndup(a, name, strlen(name));
    if (!copy)
        return -1;
    (*list)[(*n)++] = (struct sl_header){copy, v, (uint32_t)len};
    return 0;
}

int sl_msg_set_header(struct sl_msg *m, const char *name, const void *value, size_t len)
{
    return set_in_list(&m->arena, &m->headers, &m->n_headers, &m->headers_cap, name, value, len);
}

int sl_msg_set_source_attr(struct sl_msg *m, const char *name, const void *value, size_t len)
{
    return set_in_list(&m->arena, &m->source_attrs, &m->n_source_attrs, &m->source_attrs_cap, name,
                       value, len);
}

int sl_msg_set_route(struct sl_msg *m, const char *route)
{
    const char *r = sl_arena_strndup(&m->arena, route, strlen(route));
    if (!r)
        return -1;
    m->route = r;
    return 0;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

void sl_msg_traceparent(const struct sl_msg *m, char *buf)
{
    memcpy(buf, "00-", 3);
    hex(buf + 3, m->trace_id, 16);
    buf[35] = '-';
    hex(buf + 36, m->span_id, 8);
    /* sampled flag: with tracing on, our head-sampling decision, so the
     * next service samples the same traces; else "sampled" as before */
    memcpy(buf + 52, !sl__tracing || sl__trace_sampled(m) ? "-01" : "-00", 4); /* with the NUL */
}

int sl__unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2)
            out[i / 2] |= (uint8_t)v;
        else
            out[i / 2] = (uint8_t)(v << 4);
    }
    return 0;
}

int sl_msg_parse_traceparent(struct sl_msg *m, const char *v, size_t len)
{
    uint8_t version, flags, trace[16], span[8], zero[16] = {0};
    /* version-trace-span-flags: 2-32-16-2 lower-case hex digits; version
     * "00" is exactly 55 bytes, later versions may append "-..."; "ff" and
     * all-zero ids are invalid (W3C Trace Context, section 3.2) */
    if (len < 55 || sl__unhex(v, &version, 1) < 0 || version == 0xff || v[2] != '-' ||
        v[35] != '-' || v[52] != '-' || sl__unhex(v + 3, trace, 16) < 0 ||
        sl__unhex(v + 36, span, 8) < 0 || sl__unhex(v + 53, &flags, 1) < 0 ||
        (version == 0 && len != 55) || (len > 55 && v[55] != '-') || memcmp(trace, zero, 16) == 0 ||
        memcmp(span, zero, 8) == 0)
        return -1;
    memcpy(m->trace_id, trace, 16);
    memcpy(m->span_id, span, 8);
    return 0;
}

/* The failure headers live in the source's arena: copy them into dst's. */
static int copy_failure(struct sl_msg *dst, const struct sl_source *src)
{
    struct sl_header *h = sl_arena_alloc(&dst->arena, src->n_failure * sizeof(*h));
    if (!h)
        return -1;
    for (uint32_t i = 0; i < src->n_failure; i++) {
        const struct sl_header *f = &src->failure[i];
        h[i].name = sl_arena_strndup(&dst->arena, f->name, strlen(f->name));
        h[i].value =
            (const uint8_t *)sl_arena_strndup(&dst->arena, (const char *)f->value, f->value_len);
        h[i].value_len = f->value_len;
        if (!h[i].name || !h[i].value)
            return -1;
    }
    dst->source.failure = h;
    return 0;
}

static int copy_meta(struct sl_msg *dst, const struct sl_msg *src)
{
    if (src->has_key && sl_buf_set(&dst->key, src->key.data, src->key.len) < 0)
        return -1;
    dst->has_key = src->has_key;
    for (uint32_t i = 0; i < src->n_headers; i++) {
        const struct sl_header *h = &src->headers[i];
        if (sl_msg_set_header(dst, h->name, h->value, h->value_len) < 0)
            return -1;
    }
    if (src->route && sl_msg_set_route(dst, src->route) < 0)
        return -1;
    memcpy(dst->trace_id, src->trace_id, 16);
    memcpy(dst->span_id, src->span_id, 8);
    dst->source = src->source;
    if (src->source.name && !(dst->source.name = sl_arena_strndup(&dst->arena, src->source.name,
                                                                  strlen(src->source.name))))
        return -1;
    if (src->source.n_failure && copy_failure(dst, &src->source) < 0)
        return -1;
    for (uint32_t i = 0; i < src->n_source_attrs; i++) {
        const struct sl_header *a = &src->source_attrs[i];
        if (sl_msg_set_source_attr(dst, a->name, a->value, a->value_len) < 0)
            return -1;
    }
    dst->cookie = src->cookie;
    struct sl__msg *pd = sl__msg_private(dst), *ps = sl__msg_private(src);
    pd->ack = ps->ack;
    if (pd->ack)
        sl__ack_ref(pd->ack);
    pd->lineage_slot = ps->lineage_slot; /* a replacement or part of src */
    pd->read_ns = ps->read_ns;
    pd->batch_gen = ps->batch_gen;
    pd->trace = ps->trace;
    return 0;
}

struct sl_msg *sl_msg_derive(const struct sl_msg *parent)
{
    struct sl_msg *m = sl__msg_alloc();
    if (copy_meta(m, parent) < 0) {
        sl__msg_finish(m, false);
        return NULL;
    }
    return m;
}

struct sl_msg *sl__msg_clone(const struct sl_msg *src)
{
    struct sl_msg *m = sl_msg_derive(src);
    if (!m)
        return NULL;
    if (sl_buf_set(&m->payload, src->payload.data, src->payload.len) < 0)
        goto out_fail;
    if (src->record) {
        m->record = sl_arena_alloc(&m->arena, sizeof(*m->record));
        if (!m->record || sl_value_copy(&m->arena, m->record, src->record) < 0)
            goto out_fail;
    }
    m->attempts = src->attempts;
    return m;
out_fail:
    sl__msg_finish(m, false);
    return NULL;
}

void sl__msg_finish(struct sl_msg *m, bool failed)
{
    struct sl__ack *ack = sl__msg_private(m)->ack;
    if (ack)
        sl__ack_unref(ack, failed);
    sl__msg_recycle(m);
}

void sl_msg_release(struct sl_msg *m)
{
    struct sl__worker *w = sl__current_worker;
    if (w)
        sl__worker_released(w, m);
    sl__msg_finish(m, false);
}
