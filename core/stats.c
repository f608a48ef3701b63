/* stats.c - named counters from plugins (Lua's sluice.counter), and the
 * --stats progress line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct sl_counter {
    struct sl_counter *next;
    _Atomic int64_t value;
    char name[];
};

struct sl_counter *sl_counter_get(const struct sl_instance *cinst, const char *name)
{
    struct sl_instance *inst = (struct sl_instance *)cinst;
    pthread_mutex_lock(&inst->counters_mu);
    struct sl_counter *c = inst->counters;
    while (c && strcmp(c->name, name) != 0)
        c = c->next;
    if (!c && (c = calloc(1, sizeof(*c) + strlen(name) + 1))) {
        strcpy(c->name, name);
        c->next = inst->counters;
        inst->counters = c;
    }
    pthread_mutex_unlock(&inst->counters_mu);
    return c;
}

void sl_counter_add(struct sl_counter *c, int64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

struct sl_counter *sl__counter_next(struct sl_counter *c)
{
    return c->next;
}

const char *sl__counter_name(const struct sl_counter *c)
{
    return c->name;
}

int64_t sl__counter_value(struct sl_counter *c)
{
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

void sl__instance_free(struct sl_instance *inst)
{
    if (!inst)
        return;
    if (inst->ctx && inst->plugin->destroy)
        inst->plugin->destroy(inst->ctx);
    while (inst->counters) {
        struct sl_counter *c = inst->counters;
        inst->counters = c->next;
        free(c);
    }
    pthread_mutex_destroy(&inst->counters_mu);
    pthread_mutex_destroy(&inst->ready_mu);
    free(inst->unready);
    sl_arena_free(&inst->arena);
    free(inst->name);
    free(inst->match);
    free(inst->mark_name);
    free(inst->recovered);
    free(inst);
}

static uint64_t get(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

void sl__stats_read(const struct sl_instance *inst, struct sl__counts *c)
{
    struct sl__stats *st = (struct sl__stats *)&inst->stats;
    *c = (struct sl__counts){.in = get(&st->in),
                             .out = get(&st->out),
                             .dead = get(&st->dead),
                             .discarded = get(&st->discarded),
                             .dropped = get(&st->dropped),
                             .retried = get(&st->retried)};
}

void sl__totals(struct sl__pipeline *pl, struct sl__counts *t)
{
    struct sl__counts c;
    *t = (struct sl__counts){0};
    for (size_t i = 0; i < pl->n_inputs; i++) {
        sl__stats_read(pl->inputs[i], &c);
        t->in += c.in;
    }
    for (size_t i = 0; i < pl->n_outputs; i++) {
        sl__stats_read(pl->outputs[i], &c);
        t->out += c.out;
    }
    for (size_t i = 0; i < pl->n_all; i++) {
        sl__stats_read(pl->all[i], &c);
        t->dead += c.dead;
        t->discarded += c.discarded;
        t->dropped += c.dropped;
        t->retried += c.retried;
    }
    t->unrouted = get(&pl->unrouted);
}

static void human(char *buf, size_t n, double v)
{
    if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

static void rate(char *buf, size_t n, uint64_t count, int64_t ns)
{
    human(buf, n, ns > 0 ? (double)count * 1e9 / (double)ns : 0);
}

/* in, out, dead-lettered, discarded, dropped, retried, unrouted, with rates
 * since the previous line (the final one: over the whole run), queue fill
 * per stage and the plugins' own counters. */
void sl__stats_line(struct sl__pipeline *pl, FILE *out, bool final)
{
    struct sl__counts t;
    sl__totals(pl, &t);
    int64_t now = sl__now_ns();
    struct sl__stats_mark *last = &pl->stats_mark;
    if (final)
        *last = (struct sl__stats_mark){.ns = pl->started_ns};
    char rin[32], rout[32];
    rate(rin, sizeof(rin), t.in - last->in, now - last->ns);
    rate(rout, sizeof(rout), t.out - last->out, now - last->ns);
    *last = (struct sl__stats_mark){t.in, t.out, now};
    struct sl_buf line = {0}; /* whole, however many stages and counters */
    sl__buf_printf(&line,
                   "stats:%s in=%llu (%s/s%s) out=%llu (%s/s%s) dead_lettered=%llu discarded=%llu "
                   "dropped=%llu retried=%llu unrouted=%llu queues:",
                   final ? " final" : "", (unsigned long long)t.in, rin, final ? " average" : "",
                   (unsigned long long)t.out, rout, final ? " average" : "",
                   (unsigned long long)t.dead, (unsigned long long)t.discarded,
                   (unsigned long long)t.dropped, (unsigned long long)t.retried,
                   (unsigned long long)t.unrouted);
    for (size_t j = 0; j < pl->n_stages; j++) {
        struct sl__stage *s = pl->stages[j];
        uint32_t pct = 0;
        for (unsigned q = 0; q < s->in.nq; q++) {
            uint32_t p = sl__queue_fill_pct(s->in.q[q]);
            pct = p > pct ? p : pct;
        }
        sl__buf_printf(&line, " %s=%u%%", s->label, pct);
    }
    for (size_t i = 0; i < pl->n_all; i++) {
        struct sl_instance *inst = pl->all[i];
        pthread_mutex_lock(&inst->counters_mu);
        for (struct sl_counter *c = inst->counters; c; c = c->next)
            sl__buf_printf(&line, " %s.%s=%lld", inst->name, c->name,
                           (long long)atomic_load(&c->value));
        pthread_mutex_unlock(&inst->counters_mu);
    }
    if (line.data)
        fprintf(out, "%s\n", (const char *)line.data);
    sl_buf_free(&line);
    fflush(out);
}
