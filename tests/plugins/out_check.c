/* out_check - engine test output: confirms every message, counts them, and
 * checks that offsets never go backwards and that dead letters carry the
 * expected x-sluice-* headers. Context layout in check.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#include "check.h"

static int check_init(struct sl_instance *inst, void **ctx)
{
    struct check_out *c = calloc(1, sizeof(*c));
    if (!c)
        return SL_ERROR;
    c->last_offset = -1;
    for (int i = 0; i < CHECK_KEYS; i++)
        c->last_by_key[i] = -1;
    c->retry_every = sl_opt_int(inst, "retry_every");
    c->refuse_every = sl_opt_int(inst, "refuse_every");
    c->retry_first = sl_opt_bool(inst, "retry_first");
    c->retry_always = sl_opt_bool(inst, "retry_always");
    c->fatal_at = sl_opt_int(inst, "fatal_at");
    c->marks = sl_opt_bool(inst, "marks");
    c->inst = inst;
    c->expect_error = sl_opt_str(inst, "expect_error");
    c->expect_stage = sl_opt_str(inst, "expect_stage");
    c->expect_attempts = sl_opt_str(inst, "expect_attempts");
    *ctx = c;
    return SL_OK;
}

static void check_destroy(void *ctx)
{
    free(ctx);
}

static bool header_is(const struct sl_msg *m, const char *name, const char *want)
{
    const struct sl_header *h = sl_msg_header(m, name);
    if (!want)
        return h != NULL;
    size_t n = strlen(want);
    if (n && want[n - 1] == '*')
        return h && h->value_len >= n - 1 && memcmp(h->value, want, n - 1) == 0;
    return h && h->value_len == n && memcmp(h->value, want, n) == 0;
}

/* A mark must name the tracking test handler and carry its cookie: the
 * offset. Parts and copies ("child") must have none. */
static void check_mark(struct check_out *c, const struct sl_msg *m)
{
    struct sl_mark mk;
    if (!sl_msg_mark(m, &mk))
        return;
    char want[17], value[17];
    snprintf(want, sizeof(want), "%016llx", (unsigned long long)m->source.offset);
    sl_mark_value(mk.cookie, value);
    bool ok = strcmp(mk.name, SL_MARK_PREFIX "track") == 0 && strcmp(value, want) == 0 &&
              mk.cookie == (uint64_t)m->source.offset;
    atomic_fetch_add(ok ? &c->marked : &c->mark_bad, 1);
    if (m->payload.len == 5 && memcmp(m->payload.data, "child", 5) == 0)
        atomic_fetch_add(&c->marked_part, 1);
}

/* Hands each "NAME=VALUE" of recover_marks to sl_recovered(). */
static int check_recover(void *ctx)
{
    struct check_out *c = ctx;
    const char *item;
    for (size_t i = 0; (item = sl_opt_list_item(c->inst, "recover_marks", i)); i++) {
        const char *eq = strchr(item, '=');
        char name[128];
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - item) : 0, item);
        if (eq)
            sl_recovered(c->inst, name, eq + 1, strlen(eq + 1));
    }
    return SL_OK;
}

static int check_write(void *ctx, struct sl_msg **msgs, size_t n)
{
    struct check_out *c = ctx;
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        int64_t off = m->source.offset;
        if (off == c->fatal_at)
            return SL_ERROR;
        if (c->retry_always) {
            sl_out_done(m, SL_RETRY, "check: always retry");
            continue;
        }
        if (c->retry_first && m->attempts == 0) {
            sl_out_done(m, SL_RETRY, "check: first try");
            continue;
        }
        if (c->retry_every && off % c->retry_every == 3 && m->attempts == 0) {
            sl_out_done(m, SL_RETRY, "check: try again");
            continue;
        }
        if (c->refuse_every && off % c->refuse_every == 4) {
            sl_out_done(m, SL_ERROR, "check: refused");
            continue;
        }
        /* Keyed "k<n>": one worker owns a key (ordered = true), so per-key
         * slots need no lock. Unkeyed: only with one worker. */
        int64_t *last = &c->last_offset;
        if (m->has_key && m->key.len > 1 && m->key.data[0] == 'k')
            last = &c->last_by_key[strtol((const char *)m->key.data + 1, NULL, 10) % CHECK_KEYS];
        if (off < *last)
            atomic_fetch_add(&c->order_errors, 1);
        *last = off;
        if (m->record) {
            const struct sl_value *seq = sl_map_get(m->record, "seq");
            char want[32];
            int len = snprintf(want, sizeof(want), "seq=%lld", seq ? (long long)seq->u.i : -1LL);
            if (m->out_raw || sl_msg_out_len(m) != (size_t)len ||
                memcmp(sl_msg_out_data(m), want, (size_t)len) != 0)
                atomic_fetch_add(&c->encoded_bad, 1);
            atomic_fetch_add(&c->records, 1);
        }
        if (m->payload.len == 5 && memcmp(m->payload.data, "child", 5) == 0)
            atomic_fetch_add(&c->children, 1);
        if (c->marks)
            check_mark(c, m);
        if (c->expect_error) {
            bool ok = header_is(m, "x-sluice-error", c->expect_error) &&
                      header_is(m, "x-sluice-stage", c->expect_stage) &&
                      header_is(m, "x-sluice-attempts", c->expect_attempts) &&
                      header_is(m, "x-sluice-failed-at", NULL);
            atomic_fetch_add(ok ? &c->dead_ok : &c->dead_bad, 1);
        }
        atomic_fetch_add(&c->n, 1);
        sl_out_done(m, SL_OK, NULL);
    }
    return SL_OK;
}

static const struct sl_option check_options[] = {
    {.name = "expect_error",
     .type = SL_OPT_STRING,
     .doc = "x-sluice-error every message must carry"},
    {.name = "expect_stage",
     .type = SL_OPT_STRING,
     .doc = "x-sluice-stage every message must carry"},
    {.name = "expect_attempts",
     .type = SL_OPT_STRING,
     .doc = "x-sluice-attempts every message must carry"},
    {.name = "retry_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "SL_RETRY offsets with offset % n == 3, first try"},
    {.name = "refuse_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "SL_ERROR offsets with offset % n == 4"},
    {.name = "retry_first",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "SL_RETRY every message's first try"},
    {.name = "retry_always",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "SL_RETRY every try of every message"},
    {.name = "marks",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "check the recovery marks (sl_msg_mark) of what it confirms"},
    {.name = "recover_marks",
     .type = SL_OPT_LIST,
     .doc = "\"NAME=VALUE\" marks recover() hands to sl_recovered()"},
    {.name = "fatal_at",
     .type = SL_OPT_INT,
     .def = "-1",
     SL_AT_LEAST(-1),
     .doc = "write() returns SL_ERROR at this offset"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "check",
    .version = "0.0.1",
    .doc = "counts and checks what it confirms (engine tests)",
    .options = check_options,
    .init = check_init,
    .destroy = check_destroy,
    .write = check_write,
    .recover = check_recover,
};
