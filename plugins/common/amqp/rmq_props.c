/* rmq_props.c - the property table both directions share, and header mapping. */
#include "rmq_props.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum prop_kind { P_BYTES, P_U8, P_U64 };

static const struct prop {
    const char *name; /* the header name, RMQ_HEADER_PREFIX + AMQP name */
    amqp_flags_t flag;
    size_t off;
    int kind;
    bool out; /* published from a header (user_id must match the login) */
} props[] = {
    {"amqp_content_type", AMQP_BASIC_CONTENT_TYPE_FLAG,
     offsetof(amqp_basic_properties_t, content_type), P_BYTES, true},
    {"amqp_content_encoding", AMQP_BASIC_CONTENT_ENCODING_FLAG,
     offsetof(amqp_basic_properties_t, content_encoding), P_BYTES, true},
    {"amqp_delivery_mode", AMQP_BASIC_DELIVERY_MODE_FLAG,
     offsetof(amqp_basic_properties_t, delivery_mode), P_U8, true},
    {"amqp_priority", AMQP_BASIC_PRIORITY_FLAG, offsetof(amqp_basic_properties_t, priority), P_U8,
     true},
    {"amqp_correlation_id", AMQP_BASIC_CORRELATION_ID_FLAG,
     offsetof(amqp_basic_properties_t, correlation_id), P_BYTES, true},
    {"amqp_reply_to", AMQP_BASIC_REPLY_TO_FLAG, offsetof(amqp_basic_properties_t, reply_to),
     P_BYTES, true},
    {"amqp_expiration", AMQP_BASIC_EXPIRATION_FLAG, offsetof(amqp_basic_properties_t, expiration),
     P_BYTES, true},
    {"amqp_message_id", AMQP_BASIC_MESSAGE_ID_FLAG, offsetof(amqp_basic_properties_t, message_id),
     P_BYTES, true},
    {"amqp_timestamp", AMQP_BASIC_TIMESTAMP_FLAG, offsetof(amqp_basic_properties_t, timestamp),
     P_U64, true},
    {"amqp_type", AMQP_BASIC_TYPE_FLAG, offsetof(amqp_basic_properties_t, type), P_BYTES, true},
    {"amqp_user_id", AMQP_BASIC_USER_ID_FLAG, offsetof(amqp_basic_properties_t, user_id), P_BYTES,
     false},
    {"amqp_app_id", AMQP_BASIC_APP_ID_FLAG, offsetof(amqp_basic_properties_t, app_id), P_BYTES,
     true},
};
#define N_PROPS (sizeof(props) / sizeof(props[0]))

/* ---- inbound ---- */

static int field_text(struct sl_buf *b, const amqp_field_value_t *v);

static int append_json_string(struct sl_buf *b, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (sl_buf_append(b, "\"", 1) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char esc[8];
        if (s[i] == '"' || s[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)s[i];
            if (sl_buf_append(b, esc, 2) < 0)
                return -1;
        } else if (s[i] < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
            if (sl_buf_append(b, esc, 6) < 0)
                return -1;
        } else if (sl_buf_append(b, &s[i], 1) < 0) {
            return -1;
        }
    }
    return sl_buf_append(b, "\"", 1);
}

/* A nested value as JSON: strings quoted, the rest as field_text writes it. */
static int field_json(struct sl_buf *b, const amqp_field_value_t *v)
{
    if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES)
        return append_json_string(b, v->value.bytes.bytes, v->value.bytes.len);
    if (v->kind == AMQP_FIELD_KIND_VOID)
        return sl_buf_append(b, "null", 4);
    if (v->kind == AMQP_FIELD_KIND_DECIMAL) { /* no JSON number says "decimal": text */
        char tmp[40];
        int n = snprintf(tmp, sizeof(tmp), "%" PRIu32 "e-%u", v->value.decimal.value,
                         v->value.decimal.decimals);
        return append_json_string(b, tmp, (size_t)n);
    }
    return field_text(b, v);
}

static int fmt(struct sl_buf *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static int fmt(struct sl_buf *b, const char *f, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(tmp, sizeof(tmp), f, ap);
    va_end(ap);
    return sl_buf_append(b, tmp, (size_t)n);
}

static int field_text(struct sl_buf *b, const amqp_field_value_t *v)
{
    const amqp_field_value_t *x = v;
    switch (x->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        return x->value.boolean ? sl_buf_append(b, "true", 4) : sl_buf_append(b, "false", 5);
    case AMQP_FIELD_KIND_I8:
        return fmt(b, "%d", x->value.i8);
    case AMQP_FIELD_KIND_U8:
        return fmt(b, "%u", x->value.u8);
    case AMQP_FIELD_KIND_I16:
        return fmt(b, "%d", x->value.i16);
    case AMQP_FIELD_KIND_U16:
        return fmt(b, "%u", x->value.u16);
    case AMQP_FIELD_KIND_I32:
        return fmt(b, "%" PRId32, x->value.i32);
    case AMQP_FIELD_KIND_U32:
        return fmt(b, "%" PRIu32, x->value.u32);
    case AMQP_FIELD_KIND_I64:
        return fmt(b, "%" PRId64, x->value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        return fmt(b, "%" PRIu64, x->value.u64);
    case AMQP_FIELD_KIND_F32:
        return fmt(b, "%.9g", (double)x->value.f32);
    case AMQP_FIELD_KIND_F64:
        return fmt(b, "%.17g", x->value.f64);
    case AMQP_FIELD_KIND_DECIMAL:
        return fmt(b, "%" PRIu32 "e-%u", x->value.decimal.value, x->value.decimal.decimals);
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        return sl_buf_append(b, x->value.bytes.bytes, x->value.bytes.len);
    case AMQP_FIELD_KIND_ARRAY: {
        if (sl_buf_append(b, "[", 1) < 0)
            return -1;
        for (int i = 0; i < x->value.array.num_entries; i++)
            if ((i && sl_buf_append(b, ",", 1) < 0) ||
                field_json(b, &x->value.array.entries[i]) < 0)
                return -1;
        return sl_buf_append(b, "]", 1);
    }
    case AMQP_FIELD_KIND_TABLE: {
        if (sl_buf_append(b, "{", 1) < 0)
            return -1;
        for (int i = 0; i < x->value.table.num_entries; i++) {
            const amqp_table_entry_t *e = &x->value.table.entries[i];
            if ((i && sl_buf_append(b, ",", 1) < 0) ||
                append_json_string(b, e->key.bytes, e->key.len) < 0 ||
                sl_buf_append(b, ":", 1) < 0 || field_json(b, &e->value) < 0)
                return -1;
        }
        return sl_buf_append(b, "}", 1);
    }
    default: /* void */
        return 0;
    }
}

static int set_header_n(struct sl_msg *m, const void *name, size_t nlen, const void *v, size_t len)
{
    char tmp[256];
    if (nlen >= sizeof(tmp))
        nlen = sizeof(tmp) - 1;
    memcpy(tmp, name, nlen);
    tmp[nlen] = '\0';
    return sl_msg_set_header(m, tmp, v, len);
}

int rmq_props_to_msg(struct sl_msg *m, const amqp_basic_properties_t *p, struct sl_buf *scratch)
{
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
        for (int i = 0; i < p->headers.num_entries; i++) {
            const amqp_table_entry_t *e = &p->headers.entries[i];
            const amqp_field_value_t *v = &e->value;
            if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES) {
                if (set_header_n(m, e->key.bytes, e->key.len, v->value.bytes.bytes,
                                 v->value.bytes.len) < 0)
                    return -1;
                continue;
            }
            scratch->len = 0;
            if (field_text(scratch, v) < 0 ||
                set_header_n(m, e->key.bytes, e->key.len,
                             scratch->data ? scratch->data : (void *)"", scratch->len) < 0)
                return -1;
        }
    }
    for (size_t i = 0; i < N_PROPS; i++) {
        if (!(p->_flags & props[i].flag))
            continue;
        const char *field = (const char *)p + props[i].off;
        char num[24];
        int n;
        if (props[i].kind == P_BYTES) {
            const amqp_bytes_t *b = (const amqp_bytes_t *)field;
            if (sl_msg_set_header(m, props[i].name, b->bytes ? b->bytes : "", b->len) < 0)
                return -1;
            continue;
        }
        if (props[i].kind == P_U8)
            n = snprintf(num, sizeof(num), "%u", *(const uint8_t *)field);
        else
            n = snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)field);
        if (sl_msg_set_header(m, props[i].name, num, (size_t)n) < 0)
            return -1;
    }
    return 0;
}

/* ---- outbound ---- */

static const struct prop *prop_named(const char *header)
{
    for (size_t i = 0; i < N_PROPS; i++)
        if (strcmp(props[i].name, header) == 0)
            return &props[i];
    return NULL;
}

/* Sets one property from text. False when the text does not fit its type. */
static bool set_prop(amqp_basic_properties_t *p, const struct prop *pr, const void *v, size_t len)
{
    char *field = (char *)p + pr->off;
    if (pr->kind == P_BYTES) {
        ((amqp_bytes_t *)field)->bytes = (void *)v;
        ((amqp_bytes_t *)field)->len = len;
    } else {
        char num[24];
        if (len == 0 || len >= sizeof(num))
            return false;
        memcpy(num, v, len);
        num[len] = '\0';
        char *end;
        unsigned long long x = strtoull(num, &end, 10);
        if (*end || (pr->kind == P_U8 && x > 255))
            return false;
        if (pr->kind == P_U8)
            *(uint8_t *)field = (uint8_t)x;
        else
            *(uint64_t *)field = x;
    }
    p->_flags |= pr->flag;
    return true;
}

int rmq_out_props_init(struct rmq_out_props *o, const struct sl_instance *inst)
{
    memset(o, 0, sizeof(*o));
    o->force_persistent = sl_opt_bool(inst, "persistent");
    o->keep_headers = sl_opt_bool(inst, "keep_headers");
    o->trace_header = sl_opt_bool(inst, "trace_header");
    const struct sl_value *g = sl_opt_value(inst, "properties");
    for (uint32_t i = 0; g && i < g->len; i++) {
        const struct sl_member *m = &g->u.members[i];
        char hname[64];
        snprintf(hname, sizeof(hname), RMQ_HEADER_PREFIX "%s", m->key);
        const struct prop *pr = prop_named(hname);
        char num[24];
        const char *text = num;
        size_t len;
        if (m->value.type == SL_STRING) {
            text = m->value.u.str;
            len = m->value.len;
        } else if (m->value.type == SL_INT) {
            len = (size_t)snprintf(num, sizeof(num), "%" PRId64, m->value.u.i);
        } else {
            len = 0;
            pr = NULL;
        }
        if (!pr || !pr->out || !set_prop(&o->defaults, pr, text, len)) {
            sl_instance_error(
                inst,
                "properties.%s: not a property sluice can set, or a bad value (content_type, "
                "content_encoding, delivery_mode, priority, correlation_id, reply_to, "
                "expiration, message_id, timestamp, type, app_id)",
                m->key);
            return -1;
        }
    }
    return 0;
}

int rmq_props_from_msg(struct sl_msg *m, const struct rmq_out_props *o, amqp_basic_properties_t *p)
{
    *p = o->defaults;
    size_t prefix = strlen(RMQ_HEADER_PREFIX);
    uint32_t n_table = 0;
    amqp_table_entry_t *t = NULL;
    if (o->keep_headers || o->trace_header) {
        t = sl_arena_alloc(&m->arena, (m->n_headers + 1) * sizeof(*t));
        if (!t)
            return -1;
    }
    for (uint32_t i = 0; i < m->n_headers; i++) {
        const struct sl_header *h = &m->headers[i];
        if (strncmp(h->name, RMQ_HEADER_PREFIX, prefix) == 0) {
            const struct prop *pr = prop_named(h->name);
            if (pr && pr->out)
                set_prop(p, pr, h->value, h->value_len); /* a bad number is left out */
            continue;
        }
        if (!o->keep_headers || (o->trace_header && strcmp(h->name, "traceparent") == 0))
            continue;
        t[n_table].key = amqp_cstring_bytes(h->name);
        t[n_table].value.kind = AMQP_FIELD_KIND_UTF8;
        t[n_table].value.value.bytes.bytes = (void *)h->value;
        t[n_table].value.value.bytes.len = h->value_len;
        n_table++;
    }
    if (o->trace_header) {
        char *tp = sl_arena_alloc(&m->arena, 64);
        if (!tp)
            return -1;
        sl_msg_traceparent(m, tp);
        t[n_table].key = amqp_cstring_bytes("traceparent");
        t[n_table].value.kind = AMQP_FIELD_KIND_UTF8;
        t[n_table].value.value.bytes = amqp_cstring_bytes(tp);
        n_table++;
    }
    if (n_table) {
        p->headers.entries = t;
        p->headers.num_entries = (int)n_table;
        p->_flags |= AMQP_BASIC_HEADERS_FLAG;
    }
    if (o->force_persistent) {
        p->delivery_mode = AMQP_DELIVERY_PERSISTENT;
        p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    }
    return 0;
}
