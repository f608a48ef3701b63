/* graph.c - the pipeline as Graphviz DOT (`sluice -c FILE --graph`): the
 * stages the config asks for, their workers, the queues between them with
 * their capacities, the routes (`match`) and the dead-letter paths. It reads
 * the loaded instances only: nothing is started. */
#include <stdio.h>
#include <string.h>

#include "engine.h"

/* A DOT string: quotes and backslashes escaped, newlines as DOT's \n line
 * breaks, other control bytes dropped. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, out);
    }
    fputc('"', out);
}

static void put_node_id(FILE *out, const char *prefix, const char *name)
{
    char id[300];
    snprintf(id, sizeof(id), "%s:%s", prefix, name);
    put_quoted(out, id);
}

static const char *plural(unsigned n)
{
    return n == 1 ? "" : "s";
}

static void put_edge(FILE *out, const char *from_prefix, const char *from, const char *to_prefix,
                     const char *to)
{
    fputs("  ", out);
    put_node_id(out, from_prefix, from);
    fputs(" -> ", out);
    put_node_id(out, to_prefix, to);
}

/* What the queue in front of a stage holds, as a quoted DOT string: capacity
 * is rounded up to whole batches (pipeline.c), and ordered stages get one
 * queue per worker. */
static void put_queue_text(FILE *out, const struct sl__pipeline *pl, unsigned workers, bool ordered,
                           uint32_t batch, const char *extra)
{
    uint32_t slots = (pl->queue_capacity + batch - 1) / batch;
    unsigned nq = ordered && workers > 1 ? workers : 1;
    char label[300];
    snprintf(label, sizeof(label), "%s%s%s%u msgs (%u x %u)", extra ? extra : "", extra ? "\n" : "",
             nq > 1 ? "per worker: " : "", slots * batch, slots, batch);
    put_quoted(out, label);
}

/* An edge into a stage, labelled with that stage's queue. */
static void put_queue_edge(FILE *out, const struct sl__pipeline *pl, const char *from_prefix,
                           const char *from, const char *to_prefix, const char *to,
                           unsigned workers, bool ordered, uint32_t batch, const char *extra)
{
    put_edge(out, from_prefix, from, to_prefix, to);
    fputs(" [label=", out);
    put_queue_text(out, pl, workers, ordered, batch, extra);
    fputs("];\n", out);
}

/* A stage: its instance name, "what type[ | codec]", its workers. */
static void put_stage_node(FILE *out, const char *prefix, const struct sl_instance *inst,
                           const char *what, const char *type, unsigned workers, const char *codec,
                           const char *attrs)
{
    char label[400];
    snprintf(label, sizeof(label), "%s\n%s %s%s%s\n%u worker%s%s", inst->name, what, type,
             codec ? " | " : "", codec ? codec : "", workers, plural(workers),
             inst->ordered && workers > 1 ? ", ordered by key" : "");
    fputs("  ", out);
    put_node_id(out, prefix, inst->name);
    fputs(" [label=", out);
    put_quoted(out, label);
    fprintf(out, "%s];\n", attrs);
}

static void put_dead_letter_edge(FILE *out, const struct sl__pipeline *pl, const char *prefix,
                                 const char *name)
{
    if (!pl->dlq)
        return;
    put_edge(out, prefix, name, "dead_letter", pl->dlq->name);
    fputs(" [style=dashed, color=firebrick, arrowhead=open];\n", out);
}

/* Print the loaded pipeline as a DOT digraph to out. Never fails; the graph
 * mirrors the stages pipeline.c builds from the same instances. */
void sl__graph_print(const struct sl__pipeline *pl, FILE *out)
{
    fputs("digraph ", out);
    put_quoted(out, pl->name ? pl->name : "sluice");
    fputs(" {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, "
          "fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
          out);
    /* Where each input's messages go next: its decode stage, or the first
     * handler, or the router when there are no handlers. */
    const char *first_prefix = pl->n_handlers ? "handler" : NULL;
    const char *first_name = pl->n_handlers ? pl->handlers[0]->name : NULL;
    for (size_t i = 0; i < pl->n_inputs; i++) {
        const struct sl_instance *in = pl->inputs[i];
        bool decodes = in->codec && in->codec->plugin->decode;
        put_stage_node(out, "input", in, "input", in->plugin->name, in->workers,
                       in->codec && !decodes ? in->codec->plugin->name : NULL,
                       ", fillcolor=\"#dbeafe\"");
        put_dead_letter_edge(out, pl, "input", in->name);
        const char *prefix = "input", *name = in->name;
        if (decodes) {
            put_stage_node(out, "decode", in, "decode", in->codec->plugin->name, in->decode_workers,
                           NULL, ", fillcolor=\"#ede9fe\"");
            put_queue_edge(out, pl, "input", in->name, "decode", in->name, in->decode_workers,
                           in->ordered, pl->batch_size, NULL);
            put_dead_letter_edge(out, pl, "decode", in->name);
            prefix = "decode";
        }
        if (first_prefix) {
            const struct sl_instance *h = pl->handlers[0];
            put_queue_edge(out, pl, prefix, name, first_prefix, first_name, h->workers, h->ordered,
                           pl->batch_size, NULL);
        } else {
            put_edge(out, prefix, name, "route", "route");
            fputs(";\n", out);
        }
    }
    for (size_t k = 0; k < pl->n_handlers; k++) {
        const struct sl_instance *h = pl->handlers[k];
        put_stage_node(out, "handler", h, "handler", h->plugin->name, h->workers, NULL,
                       ", fillcolor=\"#dcfce7\"");
        put_dead_letter_edge(out, pl, "handler", h->name);
        if (k + 1 < pl->n_handlers) {
            const struct sl_instance *next = pl->handlers[k + 1];
            put_queue_edge(out, pl, "handler", h->name, "handler", next->name, next->workers,
                           next->ordered, pl->batch_size, NULL);
        } else {
            put_edge(out, "handler", h->name, "route", "route");
            fputs(";\n", out);
        }
    }
    fputs("  \"route:route\" [label=\"route\", shape=diamond, style=filled, "
          "fillcolor=\"#fef9c3\"];\n",
          out);
    for (size_t j = 0; j < pl->n_outputs; j++) {
        const struct sl_instance *o = pl->outputs[j];
        put_stage_node(out, "output", o, "output", o->plugin->name, o->workers,
                       o->codec ? o->codec->plugin->name : NULL, ", fillcolor=\"#fee2e2\"");
        char match[300];
        snprintf(match, sizeof(match), "match \"%s\"", o->match ? o->match : "*");
        put_queue_edge(out, pl, "route", "route", "output", o->name, o->workers, o->ordered,
                       o->batch_size, match);
        put_dead_letter_edge(out, pl, "output", o->name);
    }
    if (pl->dlq) {
        const struct sl_instance *d = pl->dlq;
        put_stage_node(out, "dead_letter", d, "dead_letter", d->plugin->name, d->workers,
                       d->codec ? d->codec->plugin->name : NULL,
                       ", color=firebrick, fillcolor=\"#fecaca\"");
        /* Many stages feed it: its queue is a note beside it, not an edge. */
        fputs("  \"dead_letter:queue\" [shape=note, fontsize=9, label=", out);
        put_queue_text(out, pl, d->workers, false, d->batch_size, "dead_letter queue");
        fputs("];\n  \"dead_letter:queue\" -> ", out);
        put_node_id(out, "dead_letter", d->name);
        fputs(" [style=dotted, arrowhead=none];\n", out);
    }
    fputs("}\n", out);
}
