/* readiness.c - what /readyz says about connections: each worker of an
 * instance reports itself connected or not (sl_instance_set_ready); the
 * pipeline is ready when none is down. Reports are rare (a connection
 * lost or made), so a lock per instance is enough. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct sl__unready {
    bool down;
    char reason[200];
};

void sl_instance_set_ready(const struct sl_instance *cinst, unsigned worker, bool ready,
                           const char *reason)
{
    /* The instance is the core's; plugins see it const. */
    struct sl_instance *inst = (struct sl_instance *)cinst;
    unsigned n = inst->workers ? inst->workers : 1;
    if (worker >= n)
        worker = n - 1;
    pthread_mutex_lock(&inst->ready_mu);
    if (!inst->unready && !ready)
        inst->unready = calloc(n, sizeof(*inst->unready));
    if (inst->unready) {
        struct sl__unready *u = &inst->unready[worker];
        u->down = !ready;
        snprintf(u->reason, sizeof(u->reason), "%s", reason && *reason ? reason : "not connected");
    }
    pthread_mutex_unlock(&inst->ready_mu);
}

bool sl__readiness(struct sl__pipeline *pl, struct sl_buf *why)
{
    bool ready = true;
    for (size_t i = 0; i < pl->n_all; i++) {
        struct sl_instance *inst = pl->all[i];
        pthread_mutex_lock(&inst->ready_mu);
        for (unsigned w = 0; inst->unready && w < (inst->workers ? inst->workers : 1); w++) {
            if (!inst->unready[w].down)
                continue;
            ready = false;
            if (inst->workers > 1)
                sl__buf_printf(why, "%s (worker %u): %s\n", inst->name, w, inst->unready[w].reason);
            else
                sl__buf_printf(why, "%s: %s\n", inst->name, inst->unready[w].reason);
        }
        pthread_mutex_unlock(&inst->ready_mu);
    }
    return ready;
}
