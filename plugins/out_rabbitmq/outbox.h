/* outbox.h - messages published on a confirm-mode channel and not answered
 * yet, and the reader of the broker's answers (basic.ack, basic.nack,
 * basic.return). */
#ifndef SLUICE_OUTBOX_H
#define SLUICE_OUTBOX_H

#include <amqp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sluice/sluice.h>

#include "rmq_conn.h"

struct outbox_entry {
    struct sl_msg *m;
    amqp_bytes_t routing_key; /* as published */
    uint64_t tag;             /* publish sequence number; 0 until published */
    const char *returned;     /* basic.return text (in m's arena), NULL if none */
    int status;               /* SL_OK, SL_RETRY; valid once answered */
    const char *error;
    bool answered;
};

/* Entries in publish order. Not thread-safe: the output worker owns it. */
struct outbox {
    struct outbox_entry *e;
    size_t n, cap;
    size_t first_open; /* entries before this one are answered */
    size_t n_open;     /* entries not answered */
    uint64_t next_tag; /* tag the next publish gets on the current channel */
    uint64_t answered_upto;
};

void outbox_free(struct outbox *o);
/* Queue m for publishing with this routing key. Returns 0, -1 out of memory. */
int outbox_add(struct outbox *o, struct sl_msg *m, amqp_bytes_t routing_key);
/* A new channel: tags start again at 1 and every unanswered entry is to be
 * published again. */
void outbox_restart(struct outbox *o);
/* Entries not answered yet. */
static inline size_t outbox_open(const struct outbox *o)
{
    return o->n_open;
}

/* Applies one confirm-channel frame: ack, nack or return (whose content it
 * reads). Returns RMQ_OK, RMQ_OK with *other set for frames it does not
 * handle, or RMQ_TRANSIENT when the connection failed mid-return. */
int outbox_frame(struct outbox *o, amqp_connection_state_t st, const amqp_frame_t *f, bool *other,
                 char *err, size_t errlen);

/* Every unanswered entry fails with status and error (the channel closed
 * under them). */
void outbox_fail_open(struct outbox *o, int status, const char *error);

/* Hands the answered entries at the front to the engine (sl_out_done), in
 * publish order, and forgets them. Returns how many were confirmed (SL_OK)
 * and adds the others to *failed. */
size_t outbox_finish(struct outbox *o, size_t *failed);

#endif
