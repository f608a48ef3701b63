/* rmq_declare.c - the `declare` group: parsed once at init, applied per connect. */
#include "rmq_declare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq_conn.h"

static int bad(const struct sl_instance *inst, const char *what)
{
    sl_instance_error(inst, "declare: %s", what);
    return -1;
}

/* Every key of map is one of the allowed names. */
static int known_keys(const struct sl_instance *inst, const struct sl_value *map, const char *where,
                      const char *const *allowed)
{
    for (uint32_t i = 0; i < map->len; i++) {
        const char *k = map->u.members[i].key;
        size_t j = 0;
        while (allowed[j] && strcmp(allowed[j], k) != 0)
            j++;
        if (!allowed[j]) {
            char msg[256];
            snprintf(msg, sizeof(msg), "unknown key \"%s\" in %s", k, where);
            return bad(inst, msg);
        }
    }
    return 0;
}

static int get_bool(const struct sl_instance *inst, const struct sl_value *map, const char *key,
                    bool def, bool *out)
{
    const struct sl_value *v = sl_map_get(map, key);
    *out = def;
    if (!v)
        return 0;
    if (v->type != SL_BOOL) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s must be true or false", key);
        return bad(inst, msg);
    }
    *out = v->u.b;
    return 0;
}

static int get_str(const struct sl_instance *inst, const struct sl_value *map, const char *key,
                   const char *def, const char **out)
{
    const struct sl_value *v = sl_map_get(map, key);
    *out = def;
    if (!v)
        return 0;
    if (v->type != SL_STRING) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s must be a string", key);
        return bad(inst, msg);
    }
    *out = v->u.str;
    return 0;
}

/* Queue arguments: strings, integers, booleans and numbers, as AMQP fields. */
static int parse_arguments(const struct sl_instance *inst, const struct sl_value *args,
                           amqp_table_t *t)
{
    if (args->type != SL_MAP)
        return bad(inst, "queue.arguments must be a group");
    t->num_entries = (int)args->len;
    t->entries = calloc(args->len ? args->len : 1, sizeof(*t->entries));
    if (!t->entries)
        return bad(inst, "out of memory");
    for (uint32_t i = 0; i < args->len; i++) {
        const struct sl_member *m = &args->u.members[i];
        amqp_table_entry_t *e = &t->entries[i];
        e->key = amqp_cstring_bytes(m->key);
        switch (m->value.type) {
        case SL_STRING:
            e->value.kind = AMQP_FIELD_KIND_UTF8;
            e->value.value.bytes = amqp_cstring_bytes(m->value.u.str);
            break;
        case SL_INT:
            e->value.kind = AMQP_FIELD_KIND_I64;
            e->value.value.i64 = m->value.u.i;
            break;
        case SL_BOOL:
            e->value.kind = AMQP_FIELD_KIND_BOOLEAN;
            e->value.value.boolean = m->value.u.b;
            break;
        case SL_DOUBLE:
            e->value.kind = AMQP_FIELD_KIND_F64;
            e->value.value.f64 = m->value.u.d;
            break;
        default: {
            char msg[256];
            snprintf(msg, sizeof(msg), "queue.arguments.%s must be a string, number or boolean",
                     m->key);
            return bad(inst, msg);
        }
        }
    }
    return 0;
}

static int parse_queue(const struct sl_instance *inst, const struct sl_value *q,
                       const char *default_queue, struct rmq_declare *d)
{
    static const char *const keys[] = {"name",        "durable",   "exclusive",
                                       "auto_delete", "arguments", NULL};
    if (q->type != SL_MAP)
        return bad(inst, "queue must be a group");
    if (known_keys(inst, q, "queue", keys) < 0 ||
        get_str(inst, q, "name", default_queue, &d->queue_name) < 0 ||
        get_bool(inst, q, "durable", true, &d->durable) < 0 ||
        get_bool(inst, q, "exclusive", false, &d->exclusive) < 0 ||
        get_bool(inst, q, "auto_delete", false, &d->auto_delete) < 0)
        return -1;
    if (!d->queue_name || !d->queue_name[0])
        return bad(inst, "queue.name is required here");
    const struct sl_value *args = sl_map_get(q, "arguments");
    if (args && parse_arguments(inst, args, &d->arguments) < 0)
        return -1;
    d->queue = true;
    return 0;
}

static int parse_exchange(const struct sl_instance *inst, const struct sl_value *x,
                          struct rmq_declare *d)
{
    static const char *const keys[] = {"name", "type", "durable", "auto_delete", NULL};
    if (x->type != SL_MAP)
        return bad(inst, "exchange must be a group");
    if (known_keys(inst, x, "exchange", keys) < 0 ||
        get_str(inst, x, "name", NULL, &d->exchange_name) < 0 ||
        get_str(inst, x, "type", "direct", &d->exchange_type) < 0 ||
        get_bool(inst, x, "durable", true, &d->exchange_durable) < 0 ||
        get_bool(inst, x, "auto_delete", false, &d->exchange_auto_delete) < 0)
        return -1;
    if (!d->exchange_name || !d->exchange_name[0])
        return bad(inst, "exchange.name is required (the default exchange cannot be declared)");
    d->exchange = true;
    return 0;
}

static int parse_bindings(const struct sl_instance *inst, const struct sl_value *b,
                          struct rmq_declare *d)
{
    static const char *const keys[] = {"exchange", "routing_key", "queue", NULL};
    if (b->type != SL_ARRAY)
        return bad(inst, "bindings must be a list of groups");
    d->bindings = calloc(b->len ? b->len : 1, sizeof(*d->bindings));
    if (!d->bindings)
        return bad(inst, "out of memory");
    for (uint32_t i = 0; i < b->len; i++) {
        const struct sl_value *g = &b->u.items[i];
        struct rmq_binding *r = &d->bindings[i];
        if (g->type != SL_MAP)
            return bad(inst, "bindings must be a list of groups");
        if (known_keys(inst, g, "a binding", keys) < 0 ||
            get_str(inst, g, "exchange", d->exchange_name, &r->exchange) < 0 ||
            get_str(inst, g, "routing_key", "", &r->routing_key) < 0 ||
            get_str(inst, g, "queue", d->queue_name, &r->queue) < 0)
            return -1;
        if (!r->exchange || !r->exchange[0])
            return bad(inst, "a binding needs an exchange");
        if (!r->queue || !r->queue[0])
            return bad(inst, "a binding needs a queue");
        d->n_bindings++;
    }
    return 0;
}

int rmq_declare_parse(const struct sl_instance *inst, const char *default_queue,
                      struct rmq_declare *d)
{
    static const char *const keys[] = {"queue", "exchange", "bindings", NULL};
    memset(d, 0, sizeof(*d));
    const struct sl_value *v = sl_opt_value(inst, "declare");
    if (!v)
        return 0;
    if (v->type != SL_MAP)
        return bad(inst, "must be a group");
    if (known_keys(inst, v, "declare", keys) < 0)
        return -1;
    const struct sl_value *q = sl_map_get(v, "queue");
    const struct sl_value *x = sl_map_get(v, "exchange");
    const struct sl_value *b = sl_map_get(v, "bindings");
    /* An input's declare always means its queue; an output names it. */
    if (q || default_queue) {
        static const struct sl_value empty = {.type = SL_MAP};
        if (parse_queue(inst, q ? q : &empty, default_queue, d) < 0)
            return -1;
    }
    if (x && parse_exchange(inst, x, d) < 0)
        return -1;
    if (b && parse_bindings(inst, b, d) < 0)
        return -1;
    return 0;
}

void rmq_declare_free(struct rmq_declare *d)
{
    free(d->arguments.entries);
    free(d->bindings);
    memset(d, 0, sizeof(*d));
}

int rmq_declare_apply(amqp_connection_state_t st, const struct rmq_declare *d, char *err,
                      size_t errlen)
{
    char what[512];
    if (d->exchange) {
        amqp_exchange_declare(st, 1, amqp_cstring_bytes(d->exchange_name),
                              amqp_cstring_bytes(d->exchange_type), 0, d->exchange_durable,
                              d->exchange_auto_delete, 0, amqp_empty_table);
        snprintf(what, sizeof(what), "declare exchange \"%s\"", d->exchange_name);
        int rc = rmq_reply_check(st, amqp_get_rpc_reply(st), what, err, errlen);
        if (rc != RMQ_OK)
            return rc;
    }
    if (d->queue) {
        amqp_queue_declare(st, 1, amqp_cstring_bytes(d->queue_name), 0, d->durable, d->exclusive,
                           d->auto_delete, d->arguments);
        snprintf(what, sizeof(what), "declare queue \"%s\"", d->queue_name);
        int rc = rmq_reply_check(st, amqp_get_rpc_reply(st), what, err, errlen);
        if (rc != RMQ_OK)
            return rc;
    }
    for (size_t i = 0; i < d->n_bindings; i++) {
        const struct rmq_binding *b = &d->bindings[i];
        amqp_queue_bind(st, 1, amqp_cstring_bytes(b->queue), amqp_cstring_bytes(b->exchange),
                        amqp_cstring_bytes(b->routing_key), amqp_empty_table);
        snprintf(what, sizeof(what), "bind queue \"%s\" to exchange \"%s\" with \"%s\"", b->queue,
                 b->exchange, b->routing_key);
        int rc = rmq_reply_check(st, amqp_get_rpc_reply(st), what, err, errlen);
        if (rc != RMQ_OK)
            return rc;
    }
    return RMQ_OK;
}
