/* outbox.c - the publish list and the answers to it.
 *
 * RabbitMQ answers every publish on a confirm channel with basic.ack or
 * basic.nack (multiple = true covers every tag up to the one named). An
 * unroutable message published with mandatory = true first comes back as
 * basic.return and is then acked: a return carries no tag, so it is matched
 * to the first unanswered, not yet returned entry with the same routing key
 * and body (returns come in publish order). */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void outbox_free(struct outbox *o)
{
    free(o->e);
    memset(o, 0, sizeof(*o));
}

int outbox_add(struct outbox *o, struct sl_msg *m, amqp_bytes_t routing_key)
{
    if (o->n == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 256;
        struct outbox_entry *n = realloc(o->e, ncap * sizeof(*n));
        if (!n)
            return -1;
        o->e = n;
        o->cap = ncap;
    }
    o->e[o->n++] = (struct outbox_entry){.m = m, .routing_key = routing_key};
    o->n_open++;
    return 0;
}

void outbox_restart(struct outbox *o)
{
    o->next_tag = 1;
    for (size_t i = o->first_open; i < o->n; i++)
        if (!o->e[i].answered) {
            o->e[i].tag = 0;
            o->e[i].returned = NULL;
        }
}

static void answer(struct outbox *o, struct outbox_entry *e, bool ack)
{
    e->answered = true;
    o->n_open--;
    if (ack && !e->returned) {
        e->status = SL_OK;
    } else {
        e->status = SL_RETRY;
        e->error = e->returned ? e->returned : "rabbitmq: the broker refused the message (nack)";
    }
}

/* Answers tag (and every earlier one with multiple). */
static void answer_tags(struct outbox *o, uint64_t tag, bool multiple, bool ack)
{
    for (size_t i = o->first_open; i < o->n; i++) {
        struct outbox_entry *e = &o->e[i];
        if (e->answered || !e->tag)
            continue;
        if (e->tag > tag)
            break;
        if (multiple || e->tag == tag)
            answer(o, e, ack);
    }
}

/* basic.return: read the returned content and mark the matching entry. */
static int returned(struct outbox *o, amqp_connection_state_t st, const amqp_basic_return_t *r,
                    char *err, size_t errlen)
{
    char why[512];
    snprintf(why, sizeof(why),
             "rabbitmq: returned unroutable: %u %.*s (exchange \"%.*s\", routing key \"%.*s\")",
             r->reply_code, (int)r->reply_text.len, (const char *)r->reply_text.bytes,
             (int)r->exchange.len, (const char *)r->exchange.bytes, (int)r->routing_key.len,
             (const char *)r->routing_key.bytes);
    amqp_bytes_t key = r->routing_key;
    amqp_message_t msg;
    amqp_rpc_reply_t rr = amqp_read_message(st, 1, &msg, 0);
    if (rr.reply_type != AMQP_RESPONSE_NORMAL)
        return rmq_reply_check(st, rr, "read returned message", err, errlen);
    for (size_t i = o->first_open; i < o->n; i++) {
        struct outbox_entry *e = &o->e[i];
        if (e->answered || !e->tag || e->returned)
            continue;
        size_t len = sl_msg_out_len(e->m);
        if (e->routing_key.len == key.len &&
            memcmp(e->routing_key.bytes, key.bytes, key.len) == 0 && len == msg.body.len &&
            memcmp(sl_msg_out_data(e->m), msg.body.bytes, len) == 0) {
            e->returned = sl_arena_strndup(&e->m->arena, why, strlen(why));
            if (!e->returned)
                e->returned = "rabbitmq: returned unroutable";
            break;
        }
    }
    amqp_destroy_message(&msg);
    return RMQ_OK;
}

int outbox_frame(struct outbox *o, amqp_connection_state_t st, const amqp_frame_t *f, bool *other,
                 char *err, size_t errlen)
{
    *other = false;
    if (f->frame_type != AMQP_FRAME_METHOD) {
        *other = true;
        return RMQ_OK;
    }
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f->payload.method.decoded;
        answer_tags(o, a->delivery_tag, a->multiple, true);
        return RMQ_OK;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *a = f->payload.method.decoded;
        answer_tags(o, a->delivery_tag, a->multiple, false);
        return RMQ_OK;
    }
    case AMQP_BASIC_RETURN_METHOD:
        return returned(o, st, f->payload.method.decoded, err, errlen);
    default:
        *other = true;
        return RMQ_OK;
    }
}

void outbox_fail_open(struct outbox *o, int status, const char *error)
{
    for (size_t i = o->first_open; i < o->n; i++)
        if (!o->e[i].answered) {
            o->e[i].answered = true;
            o->e[i].status = status;
            o->e[i].error = error;
        }
    o->n_open = 0;
}

size_t outbox_finish(struct outbox *o, size_t *failed)
{
    size_t ok = 0, i = o->first_open;
    for (; i < o->n && o->e[i].answered; i++) {
        struct outbox_entry *e = &o->e[i];
        if (e->status == SL_OK)
            ok++;
        else
            (*failed)++;
        sl_out_done(e->m, e->status, e->status == SL_OK ? NULL : e->error);
    }
    o->first_open = i;
    /* With publishes always in flight the front never empties: move the
     * open entries down once the answered ones fill half the array. */
    if (o->first_open == o->n) {
        o->n = o->first_open = 0;
    } else if (o->first_open > o->cap / 2) {
        memmove(o->e, o->e + o->first_open, (o->n - o->first_open) * sizeof(*o->e));
        o->n -= o->first_open;
        o->first_open = 0;
    }
    return ok;
}
