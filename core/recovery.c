/* recovery.c - recovery marks: an output writes, with each whole message a
 * handler tracks, the handler's cookie (sl_msg_mark); after a crash it reads
 * back what it wrote since the handlers last heard and hands the marks it
 * finds back (recover, sl_recovered), so that dedup learns of messages that
 * were written although it never heard (plugin.h has the contract). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* The callbacks came with ABI 2.3; an older descriptor has zeros there. */
static bool has_recovered(const struct sl_plugin *p)
{
    return p->abi_minor >= 3 && p->recovered;
}

static bool has_recover(const struct sl_plugin *p)
{
    return p->abi_minor >= 3 && p->recover;
}

bool sl_msg_mark(const struct sl_msg *m, struct sl_mark *mark)
{
    const struct sl__ack *a = sl__msg_private(m)->ack;
    const struct sl_instance *by;
    uint64_t cookie;
    /* A dead letter is not delivered: its key must stay uncommitted, so
     * that replaying the dead letters passes the handler again. */
    const struct sl__worker *w = sl__current_worker;
    if (w && w->stage->kind == SL__STAGE_DLQ)
        return false;
    if (!a || !sl__ack_mark(a, &by, &cookie) || !by->mark_name)
        return false;
    mark->name = by->mark_name;
    mark->cookie = cookie;
    return true;
}

/* The handler whose marks are named so; NULL for none (renamed or removed
 * since: its marks mean nothing now). */
static struct sl_instance *handler_marked(const struct sl__pipeline *pl, const char *name)
{
    for (size_t k = 0; k < pl->n_handlers; k++) {
        struct sl_instance *h = pl->handlers[k];
        if (h->mark_name && strcmp(h->mark_name, name) == 0)
            return h;
    }
    return NULL;
}

void sl_recovered(const struct sl_instance *output, const char *name, const void *value, size_t len)
{
    struct sl_instance *h = handler_marked(output->pl, name);
    uint8_t b[8];
    if (!h || len != 16 || sl__unhex(value, b, 8) < 0)
        return;
    uint64_t cookie = 0;
    for (size_t i = 0; i < 8; i++)
        cookie = cookie << 8 | b[i];
    if (h->n_recovered == h->cap_recovered) {
        size_t cap = h->cap_recovered ? h->cap_recovered * 2 : 1024;
        uint64_t *p = realloc(h->recovered, cap * sizeof(*p));
        if (!p) {
            sl_log(output, SL_LOG_ERROR, "out of memory keeping a mark read back for %s", h->name);
            return;
        }
        h->recovered = p;
        h->cap_recovered = cap;
    }
    h->recovered[h->n_recovered++] = cookie;
}

/* Hand each handler what this output's recover() found. */
static void hand_over(struct sl__pipeline *pl)
{
    for (size_t k = 0; k < pl->n_handlers; k++) {
        struct sl_instance *h = pl->handlers[k];
        if (!h->n_recovered)
            continue;
        h->plugin->recovered(h->ctx, h->recovered, h->n_recovered);
        h->n_recovered = 0;
    }
}

int sl__recovery_run(struct sl__pipeline *pl)
{
    for (size_t k = 0; k < pl->n_handlers; k++) {
        struct sl_instance *h = pl->handlers[k];
        if (has_recovered(h->plugin) && !h->mark_name) {
            size_t n = strlen(SL_MARK_PREFIX) + strlen(h->name) + 1;
            if (!(h->mark_name = malloc(n)))
                return -1;
            snprintf(h->mark_name, n, SL_MARK_PREFIX "%s", h->name);
        }
    }
    for (size_t j = 0; j < pl->n_outputs; j++) {
        struct sl_instance *o = pl->outputs[j];
        if (!has_recover(o->plugin))
            continue;
        int rc = o->plugin->recover(o->ctx);
        hand_over(pl);
        if (rc != 0)
            return -1;
    }
    return 0;
}
