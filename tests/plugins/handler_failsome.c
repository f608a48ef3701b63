/* handler_failsome - engine test handler, by source offset: fails multiples
 * of `fail_every`, drops those with offset % drop_every == 1, splits those
 * with offset % split_every == 2 into itself plus a derived "child", fails
 * those with offset % flaky_every == 4 on their first attempt only, replaces
 * those with offset % replace_every == 3 by one derived message (released
 * before the replacement is emitted) and splits those with offset %
 * split3_every == 6 into three derived parts (released after). */
#include <stdlib.h>

#include <sluice/sluice.h>

struct failsome {
    int64_t fail_every, drop_every, split_every, flaky_every, replace_every, split3_every;
};

static int fs_init(struct sl_instance *inst, void **ctx)
{
    struct failsome *f = calloc(1, sizeof(*f));
    if (!f)
        return SL_ERROR;
    f->fail_every = sl_opt_int(inst, "fail_every");
    f->drop_every = sl_opt_int(inst, "drop_every");
    f->split_every = sl_opt_int(inst, "split_every");
    f->flaky_every = sl_opt_int(inst, "flaky_every");
    f->replace_every = sl_opt_int(inst, "replace_every");
    f->split3_every = sl_opt_int(inst, "split3_every");
    *ctx = f;
    return SL_OK;
}

static void fs_destroy(void *ctx)
{
    free(ctx);
}

static int fs_process(void *ctx, struct sl_msg **msgs, size_t n, struct sl_emitter *out)
{
    struct failsome *f = ctx;
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        int64_t off = m->source.offset;
        if (f->fail_every && off % f->fail_every == 0) {
            sl_fail(out, m, "failsome: divisible");
        } else if (f->flaky_every && off % f->flaky_every == 4 && m->attempts == 0) {
            sl_fail(out, m, "failsome: flaky"); /* passes on its retry */
        } else if (f->drop_every && off % f->drop_every == 1) {
            sl_msg_release(m);
        } else if (f->replace_every && off % f->replace_every == 3) {
            struct sl_msg *c = sl_msg_derive(m);
            if (!c)
                return SL_ERROR;
            sl_buf_set(&c->payload, "child", 5);
            sl_msg_release(m); /* replaced, not dropped */
            sl_emit(out, c);
        } else if (f->split3_every && off % f->split3_every == 6) {
            for (int k = 0; k < 3; k++) {
                struct sl_msg *c = sl_msg_derive(m);
                if (!c)
                    return SL_ERROR;
                sl_buf_set(&c->payload, "child", 5);
                sl_emit(out, c);
            }
            sl_msg_release(m); /* split, not dropped */
        } else if (f->split_every && off % f->split_every == 2) {
            struct sl_msg *c = sl_msg_derive(m);
            if (!c)
                return SL_ERROR;
            sl_buf_set(&c->payload, "child", 5);
            sl_emit(out, m);
            sl_emit(out, c);
        } else {
            sl_emit(out, m);
        }
    }
    return SL_OK;
}

static const struct sl_option fs_options[] = {
    {.name = "fail_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "fail offsets divisible by this (0: none)"},
    {.name = "drop_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "drop offsets with offset % n == 1 (0: none)"},
    {.name = "split_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "split offsets with offset % n == 2 (0: none)"},
    {.name = "flaky_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "fail offsets with offset % n == 4 once (0: none)"},
    {.name = "replace_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "replace offsets with offset % n == 3 (0: none)"},
    {.name = "split3_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "split offsets with offset % n == 6 in 3 (0: none)"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_HANDLER,
    .name = "failsome",
    .version = "0.0.1",
    .doc = "fails, drops and splits messages by offset (engine tests)",
    .options = fs_options,
    .init = fs_init,
    .destroy = fs_destroy,
    .process = fs_process,
};
