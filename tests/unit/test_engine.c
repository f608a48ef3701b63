/* test_engine.c - whole pipelines in-process (sl__pipeline_load/start/wait/free)
 * on the "gives bugs a chance" config: queue capacity 2, batch size 1. Counts
 * in == out, fan-out, routing, retries and dead letters, per-input acks, and
 * that the message pool is reused. Test plugins (tests/plugins/) are compiled
 * at run time: in_seq, handler_failsome, out_check, codec_evenodd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

#include "../plugins/check.h"

static char dir[256];
static bool hung; /* a pipeline's threads never finished: leave the pools alone */

static int build_plugins(void)
{
    static const char *const names[] = {"in_seq", "handler_failsome", "out_check", "codec_evenodd"};
    char cmd[4096];
    size_t len = 0;
    for (size_t i = 0; i < 4; i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
                                "cc -shared -fPIC -std=c11 -D_GNU_SOURCE -fvisibility=hidden "
                                "-I'%s/core/include' -o '%s/%s.so' '%s/tests/plugins/%s.c' & ",
                                SLUICE_SOURCE_DIR, dir, names[i], SLUICE_SOURCE_DIR, names[i]);
    snprintf(cmd + len, sizeof(cmd) - len, "wait");
    if (system(cmd) != 0)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        char so[512];
        snprintf(so, sizeof(so), "%s/%s.so", dir, names[i]);
        if (access(so, R_OK) != 0) {
            fprintf(stderr, "test plugin %s was not built\n", so);
            return -1;
        }
    }
    return 0;
}

/* Write the config (with our plugin dir) and load it for real. */
static struct sl__pipeline *load(const char *name, const char *body)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "plugin_path = [ \"%s\" ];\n%s", dir, body);
    fclose(f);
    struct sl__pipeline *pl = sl__pipeline_load(path, false);
    if (!pl)
        fail_msg("%s did not load (see stderr)", path);
    return pl;
}

/* Liveness guard only: these pipelines finish in seconds. */
static void wait_done(struct sl__pipeline *pl)
{
    if (!sl__pipeline_wait(pl, 240000)) {
        sl__pipeline_stop(pl);
        fail_msg("pipeline did not finish within 4 minutes (deadlock?)");
    }
}

static void run(struct sl__pipeline *pl)
{
    assert_int_equal(sl__pipeline_start(pl), 0);
    wait_done(pl);
    assert_int_equal(atomic_load(&pl->fatal), 0);
}

/* Run with fd 2 sent to /dev/null: for pipelines that log errors on purpose. */
static void run_quiet(struct sl__pipeline *pl)
{
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(devnull);
    assert_int_equal(sl__pipeline_start(pl), 0);
    bool done = sl__pipeline_wait(pl, 240000);
    dup2(saved, 2);
    close(saved);
    if (!done) {
        sl__pipeline_stop(pl);
        fail_msg("pipeline did not finish within 4 minutes (deadlock?)");
    }
}

/* What main() does at the end, so each test starts from empty pools. */
static void finish(struct sl__pipeline *pl)
{
    sl__pipeline_free(pl);
    if (hung)
        return; /* an earlier pipeline's threads may still use the pools */
    sl__ack_destroy();
    sl__pool_destroy();
}

static uint64_t out_of(struct sl_instance *inst)
{
    return atomic_load(&inst->stats.out);
}

/* The run's counters as --stats, the summary and /metrics see them. */
static struct sl__counts totals(struct sl__pipeline *pl)
{
    struct sl__counts t;
    sl__totals(pl, &t);
    return t;
}

#define TINY_QUEUE "queue = { capacity = 2; batch_size = 1; };\n"

static void test_generator_to_null(void **state)
{
    (void)state;
    uint64_t created = sl__pool_msgs_created();
    struct sl__pipeline *pl =
        load("gen-null.conf", TINY_QUEUE "inputs = ( { type = \"generator\"; count = 200000; } );\n"
                                         "outputs = ( { type = \"null\"; } );\n");
    run(pl);
    assert_int_equal(atomic_load(&pl->inputs[0]->stats.in), 200000);
    assert_int_equal(out_of(pl->inputs[0]), 200000); /* the input passed on every one */
    assert_int_equal(out_of(pl->outputs[0]), 200000);
    assert_int_equal(atomic_load(&pl->outputs[0]->stats.dead), 0);
    assert_int_equal(atomic_load(&pl->unrouted), 0);
    assert_int_equal(totals(pl).discarded, 0);
    uint64_t made = sl__pool_msgs_created() - created;
    if (made >= 10000)
        fail_msg("200000 messages created %llu pooled messages", (unsigned long long)made);
    finish(pl);
}

static void test_fan_out_with_dead_letter(void **state)
{
    (void)state;
    uint64_t created = sl__pool_msgs_created();
    struct sl__pipeline *pl =
        load("fanout.conf", TINY_QUEUE "inputs = ( { type = \"generator\"; count = 200000; } );\n"
                                       "outputs = ( { type = \"null\"; name = \"a\"; },\n"
                                       "            { type = \"null\"; name = \"b\"; } );\n"
                                       "dead_letter = { type = \"null\"; };\n");
    run(pl);
    assert_int_equal(atomic_load(&pl->inputs[0]->stats.in), 200000);
    assert_int_equal(out_of(pl->outputs[0]), 200000);
    assert_int_equal(out_of(pl->outputs[1]), 200000);
    assert_int_equal(out_of(pl->dlq), 0);
    assert_int_equal(atomic_load(&pl->unrouted), 0);
    uint64_t made = sl__pool_msgs_created() - created;
    if (made >= 10000)
        fail_msg("200000 messages x 2 outputs created %llu pooled messages",
                 (unsigned long long)made);
    finish(pl);
}

/* More outputs than any fixed array in the router: every output gets every
 * message (a 64-slot array once dropped outputs 65..70 silently). */
static void test_seventy_outputs(void **state)
{
    (void)state;
    enum { OUTPUTS = 70, N = 2000 };
    static char conf[8192];
    size_t len = (size_t)snprintf(conf, sizeof(conf),
                                  "queue = { capacity = 64; batch_size = 16; };\n"
                                  "inputs = ( { type = \"generator\"; count = %d; } );\n"
                                  "outputs = (",
                                  N);
    for (int j = 0; j < OUTPUTS; j++)
        len += (size_t)snprintf(conf + len, sizeof(conf) - len,
                                "%s { type = \"null\"; name = \"o%d\"; }", j ? "," : "", j);
    snprintf(conf + len, sizeof(conf) - len, " );\n");
    struct sl__pipeline *pl = load("seventy.conf", conf);
    run(pl);
    assert_int_equal(pl->n_outputs, OUTPUTS);
    for (int j = 0; j < OUTPUTS; j++)
        if (out_of(pl->outputs[j]) != N)
            fail_msg("output o%d confirmed %llu of %d messages", j,
                     (unsigned long long)out_of(pl->outputs[j]), N);
    assert_int_equal(totals(pl).out, (uint64_t)OUTPUTS * N);
    finish(pl);
}

/* Every source of failure goes through one path: the same x-sluice-*
 * headers (x-sluice-attempts = failed tries at the failing stage, so 1 for
 * a failure that cannot succeed on a retry), the same counters, and, with
 * no dead_letter, the same "discarded" count and SL_ERROR ack. */
static void test_every_failure_source(void **state)
{
    (void)state;
    static const struct {
        const char *what, *body, *stage, *error, *attempts;
        uint64_t failed;
    } cases[] = {
        {"input reject",
         "inputs = ( { type = \"seq\"; name = \"in\"; count = 100; reject_every = 10; } );\n"
         "outputs = ( { type = \"check\"; name = \"out\"; } );\n",
         "in", "seq: rejected", "1", 10},
        {"decode",
         "inputs = ( { type = \"seq\"; name = \"in\"; count = 100; codec = \"evenodd\"; } );\n"
         "outputs = ( { type = \"check\"; name = \"out\"; } );\n",
         "in.decode", "evenodd: odd offset *", "1", 50},
        {"handler",
         "retry = { max_attempts = 3; backoff_ms = 0; };\n"
         "inputs = ( { type = \"seq\"; name = \"in\"; count = 100; } );\n"
         "handlers = ( { type = \"failsome\"; name = \"h\"; fail_every = 10; } );\n"
         "outputs = ( { type = \"check\"; name = \"out\"; } );\n",
         "h", "failsome: divisible", "3", 10},
        {"encode",
         "inputs = ( { type = \"seq\"; name = \"in\"; count = 100; } );\n"
         "outputs = ( { type = \"check\"; name = \"out\"; codec = \"evenodd\"; } );\n",
         "out", "evenodd: no seq in the record", "1", 100},
        {"output refuses",
         "inputs = ( { type = \"seq\"; name = \"in\"; count = 100; } );\n"
         "outputs = ( { type = \"check\"; name = \"out\"; refuse_every = 10; } );\n",
         "out", "check: refused", "1", 10},
        {"output retries",
         "inputs = ( { type = \"seq\"; name = \"in\"; count = 100; } );\n"
         "outputs = ( { type = \"check\"; name = \"out\"; retry_always = true;\n"
         "              retry = { max_attempts = 3; backoff_ms = 0; }; } );\n",
         "out", "check: always retry", "3", 100},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int with_dlq = 1; with_dlq >= 0; with_dlq--) {
            char conf[2048];
            int n = snprintf(conf, sizeof(conf), TINY_QUEUE "%s", cases[i].body);
            if (with_dlq)
                snprintf(conf + n, sizeof(conf) - (size_t)n,
                         "dead_letter = { type = \"check\"; expect_error = \"%s\";\n"
                         "                expect_stage = \"%s\"; expect_attempts = \"%s\"; };\n",
                         cases[i].error, cases[i].stage, cases[i].attempts);
            struct sl__pipeline *pl = load("sources.conf", conf);
            run_quiet(pl); /* discarded messages are logged as errors */
            assert_int_equal(atomic_load(&pl->fatal), 0);
            struct seq_in *in = pl->inputs[0]->ctx;
            struct sl__counts t = totals(pl);
            uint64_t want = cases[i].failed;
            if (with_dlq) {
                struct check_out *dlq = pl->dlq->ctx;
                if (atomic_load(&dlq->dead_ok) != want || atomic_load(&dlq->dead_bad) != 0)
                    fail_msg("%s: %llu of %llu dead letters had x-sluice-stage %s, "
                             "x-sluice-attempts %s (%llu others)",
                             cases[i].what, (unsigned long long)atomic_load(&dlq->dead_ok),
                             (unsigned long long)want, cases[i].stage, cases[i].attempts,
                             (unsigned long long)atomic_load(&dlq->dead_bad));
            }
            if (t.dead != (with_dlq ? want : 0) || t.discarded != (with_dlq ? 0 : want))
                fail_msg("%s%s: dead_lettered %llu, discarded %llu, want %llu", cases[i].what,
                         with_dlq ? "" : " (no dead_letter)", (unsigned long long)t.dead,
                         (unsigned long long)t.discarded, (unsigned long long)want);
            assert_int_equal(t.in, 100);
            assert_int_equal(atomic_load(&in->delivered_err), want);
            assert_int_equal(atomic_load(&in->delivered_ok), 100 - want);
            finish(pl);
        }
    }
}

/* dropped counts only what a handler dropped: a message it replaced by a
 * derived one, or split into three, went on. Every stage's in/out/dropped
 * equals what happened, the input's out included. */
static void test_dropped_is_only_dropped(void **state)
{
    (void)state;
    enum { N = 1155, DROP = 5, REPLACE = 7, SPLIT3 = 11 };
    uint64_t dropped = 0, replaced = 0, split = 0, out = 0;
    for (uint64_t off = 0; off < N; off++) {
        if (off % DROP == 1)
            dropped++;
        else if (off % REPLACE == 3)
            replaced++, out++;
        else if (off % SPLIT3 == 6)
            split++, out += 3;
        else
            out++;
    }
    char conf[1024];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "inputs = ( { type = \"seq\"; count = %d; } );\n"
                        "handlers = ( { type = \"failsome\"; drop_every = %d; replace_every = %d;\n"
                        "               split3_every = %d; } );\n"
                        "outputs = ( { type = \"check\"; } );\n",
             N, DROP, REPLACE, SPLIT3);
    struct sl__pipeline *pl = load("dropped.conf", conf);
    run(pl);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *o = pl->outputs[0]->ctx;
    struct sl_instance *h = pl->handlers[0];
    assert_int_equal(atomic_load(&pl->inputs[0]->stats.in), N);
    assert_int_equal(out_of(pl->inputs[0]), N);
    assert_int_equal(atomic_load(&h->stats.in), N);
    assert_int_equal(out_of(h), out);
    assert_int_equal(atomic_load(&h->stats.dropped), dropped);
    assert_int_equal(atomic_load(&o->n), out);
    assert_int_equal(atomic_load(&o->children), replaced + 3 * split);
    struct sl__counts t = totals(pl);
    assert_int_equal(t.in, N);
    assert_int_equal(t.out, out);
    assert_int_equal(t.dropped, dropped);
    assert_int_equal(t.dead + t.discarded + t.retried + t.unrouted, 0);
    assert_int_equal(atomic_load(&in->delivered_ok), N); /* parts share their parent's ack */
    assert_int_equal(atomic_load(&in->duplicates), 0);
    finish(pl);
}

/* A stage name of any length is kept whole: in x-sluice-stage, in the
 * stage's label (metrics) and in its queue's name (once cut at 127 bytes,
 * so two long names could read the same). */
static void test_long_stage_names(void **state)
{
    (void)state;
    char name[301];
    memset(name, 'h', 300);
    name[300] = '\0';
    char conf[2048];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "inputs = ( { type = \"seq\"; count = 100; } );\n"
                        "handlers = ( { type = \"failsome\"; name = \"%s\"; fail_every = 10; } );\n"
                        "outputs = ( { type = \"check\"; } );\n"
                        "dead_letter = { type = \"check\"; expect_error = \"failsome: *\";\n"
                        "                expect_stage = \"%s\"; };\n",
             name, name);
    struct sl__pipeline *pl = load("long-names.conf", conf);
    run(pl);
    struct check_out *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&dlq->dead_ok), 10);
    bool found = false;
    for (size_t j = 0; j < pl->n_stages; j++)
        if (pl->stages[j]->kind == SL__STAGE_HANDLER) {
            assert_string_equal(pl->stages[j]->label, name);
            assert_string_equal(sl__queue_name(pl->stages[j]->in.q[0]), name);
            found = true;
        }
    assert_true(found);
    finish(pl);
}

/* Routes: each output's `match` glob over the input name. */
static void test_routing(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("route.conf", TINY_QUEUE
             "inputs = ( { type = \"generator\"; name = \"alpha\"; count = 3000; },\n"
             "           { type = \"generator\"; name = \"beta\"; count = 2000; } );\n"
             "outputs = ( { type = \"null\"; name = \"a\"; match = \"alpha\"; },\n"
             "            { type = \"null\"; name = \"b\"; match = \"b*\"; },\n"
             "            { type = \"null\"; name = \"all\"; },\n"
             "            { type = \"null\"; name = \"none\"; match = \"gamma\"; } );\n");
    run(pl);
    assert_int_equal(out_of(pl->outputs[0]), 3000);
    assert_int_equal(out_of(pl->outputs[1]), 2000);
    assert_int_equal(out_of(pl->outputs[2]), 5000);
    assert_int_equal(out_of(pl->outputs[3]), 0);
    assert_int_equal(atomic_load(&pl->unrouted), 0);
    finish(pl);
    /* a message no output matches is counted, not lost silently */
    pl = load("unrouted.conf",
              TINY_QUEUE "inputs = ( { type = \"generator\"; name = \"alpha\"; count = 100; } );\n"
                         "outputs = ( { type = \"null\"; match = \"beta\"; } );\n");
    run(pl);
    assert_int_equal(out_of(pl->outputs[0]), 0);
    assert_int_equal(atomic_load(&pl->unrouted), 100);
    finish(pl);
}

/* in_seq -> failsome -> check, dead_letter check: every message is reported
 * back to the input exactly once, failures as SL_ERROR after the retries, the
 * passing ones in order; split children share their parent's ack. */
static void test_acks_retries_dead_letters(void **state)
{
    (void)state;
    enum { N = 30000, FAIL = 7, DROP = 5, SPLIT = 11 };
    uint64_t failed = 0, dropped = 0, split = 0;
    for (uint64_t i = 0; i < N; i++) {
        if (i % FAIL == 0)
            failed++;
        else if (i % DROP == 1)
            dropped++;
        else if (i % SPLIT == 2)
            split++;
    }
    char conf[2048];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE
             "retry = { max_attempts = 2; backoff_ms = 0; };\n"
             "inputs = ( { type = \"seq\"; count = %d; } );\n"
             "handlers = ( { type = \"failsome\"; fail_every = %d; drop_every = %d;\n"
             "               split_every = %d; } );\n"
             "outputs = ( { type = \"check\"; } );\n"
             "dead_letter = { type = \"check\"; expect_error = \"failsome: divisible\";\n"
             "                expect_stage = \"failsome\"; expect_attempts = \"2\"; };\n",
             N, FAIL, DROP, SPLIT);
    struct sl__pipeline *pl = load("acks.conf", conf);
    run(pl);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx, *dlq = pl->dlq->ctx;
    struct sl_instance *h = pl->handlers[0];
    assert_int_equal(atomic_load(&in->emitted), N);
    /* every message reported exactly once, none in flight */
    assert_int_equal(atomic_load(&in->bad), 0);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    assert_int_equal(atomic_load(&in->delivered_ok), N - failed);
    assert_int_equal(atomic_load(&in->delivered_err), failed);
    assert_int_equal(atomic_load(&pl->inputs[0]->in_flight), 0);
    for (uint64_t i = 0; i < N; i++)
        if (in->seen[i] != (i % FAIL == 0 ? 2 : 1))
            fail_msg("offset %llu: delivery state %u", (unsigned long long)i, in->seen[i]);
    /* outputs */
    assert_int_equal(atomic_load(&out->n), N - failed - dropped + split);
    assert_int_equal(atomic_load(&out->children), split);
    assert_int_equal(atomic_load(&out->order_errors), 0);
    assert_int_equal(atomic_load(&dlq->n), failed);
    assert_int_equal(atomic_load(&dlq->dead_ok), failed);
    assert_int_equal(atomic_load(&dlq->dead_bad), 0);
    /* stage counters */
    assert_int_equal(atomic_load(&h->stats.retried), failed);
    assert_int_equal(atomic_load(&h->stats.dead), failed);
    assert_int_equal(atomic_load(&h->stats.dropped), dropped);
    assert_int_equal(totals(pl).discarded, 0);
    finish(pl);
}

/* Every tenth message (offset % 10 == 4) failed: the dead-letter output
 * confirmed exactly those, and the input heard of every message exactly
 * once: delivered (1) or dead-lettered (2). */
static void assert_tenth_dead_lettered(struct seq_in *in, struct check_out *dlq, uint64_t N)
{
    assert_int_equal(atomic_load(&dlq->n), N / 10);
    assert_int_equal(atomic_load(&dlq->dead_ok), N / 10);
    assert_int_equal(atomic_load(&in->delivered_ok), N - N / 10);
    assert_int_equal(atomic_load(&in->delivered_err), N / 10);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    for (uint64_t i = 0; i < N; i++)
        if (in->seen[i] != (i % 10 == 4 ? 2 : 1))
            fail_msg("offset %llu: delivery state %u", (unsigned long long)i, in->seen[i]);
}

/* The same with fan-out: the ack waits for both outputs (and the dead letter). */
static void test_acks_fan_out(void **state)
{
    (void)state;
    enum { N = 20000 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "inputs = ( { type = \"seq\"; count = %d; } );\n"
                        "outputs = ( { type = \"check\"; name = \"a\"; },\n"
                        "            { type = \"check\"; name = \"b\"; } );\n",
             N);
    struct sl__pipeline *pl = load("acks-fanout.conf", conf);
    run(pl);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *a = pl->outputs[0]->ctx, *b = pl->outputs[1]->ctx;
    assert_int_equal(atomic_load(&in->delivered_ok), N);
    assert_int_equal(atomic_load(&in->delivered_err), 0);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    assert_int_equal(atomic_load(&a->n), N);
    assert_int_equal(atomic_load(&b->n), N);
    assert_int_equal(atomic_load(&a->order_errors), 0);
    assert_int_equal(atomic_load(&b->order_errors), 0);
    finish(pl);
    /* one copy dead-lettered, the other delivered: the input hears SL_ERROR,
     * once, after both outputs and the dead_letter confirmed */
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "inputs = ( { type = \"seq\"; count = %d; } );\n"
                        "outputs = ( { type = \"check\"; name = \"a\"; refuse_every = 10; },\n"
                        "            { type = \"check\"; name = \"b\"; } );\n"
                        "dead_letter = { type = \"check\"; expect_error = \"check: refused\";\n"
                        "                expect_stage = \"a\"; };\n",
             N);
    pl = load("acks-fanout-dlq.conf", conf);
    run(pl);
    in = pl->inputs[0]->ctx;
    a = pl->outputs[0]->ctx;
    b = pl->outputs[1]->ctx;
    struct check_out *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&a->n), N - N / 10);
    assert_int_equal(atomic_load(&b->n), N);
    assert_tenth_dead_lettered(in, dlq, N);
    finish(pl);
}

/* No dead_letter: failures are discarded, counted, and still acked as SL_ERROR. */
static void test_failures_without_dead_letter(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("nodlq.conf", TINY_QUEUE "inputs = ( { type = \"seq\"; count = 1000; } );\n"
                                      "handlers = ( { type = \"failsome\"; fail_every = 100; } );\n"
                                      "outputs = ( { type = \"check\"; } );\n");
    run_quiet(pl); /* 10 "discarded" error lines */
    assert_int_equal(atomic_load(&pl->fatal), 0);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    assert_int_equal(atomic_load(&out->n), 990);
    assert_int_equal(totals(pl).discarded, 10);
    assert_int_equal(atomic_load(&in->delivered_ok), 990);
    assert_int_equal(atomic_load(&in->delivered_err), 10);
    finish(pl);
}

/* Decode stage: odd offsets fail to decode and are dead-lettered by the
 * decode stage; even ones reach the output with a record, encoded. */
static void test_decode_encode(void **state)
{
    (void)state;
    enum { N = 10000 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE
             "inputs = ( { type = \"seq\"; count = %d; codec = \"evenodd\"; } );\n"
             "outputs = ( { type = \"check\"; codec = \"evenodd\"; } );\n"
             "dead_letter = { type = \"check\"; expect_error = \"evenodd: odd offset *\";\n"
             "                expect_stage = \"seq.decode\"; };\n",
             N);
    struct sl__pipeline *pl = load("decode.conf", conf);
    run(pl);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx, *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&out->n), N / 2);
    assert_int_equal(atomic_load(&out->records), N / 2);
    assert_int_equal(atomic_load(&out->encoded_bad), 0);
    assert_int_equal(atomic_load(&dlq->n), N / 2);
    assert_int_equal(atomic_load(&dlq->dead_ok), N / 2);
    assert_int_equal(atomic_load(&dlq->records), 0); /* dead letters keep the raw bytes */
    assert_int_equal(atomic_load(&in->delivered_ok), N / 2);
    assert_int_equal(atomic_load(&in->delivered_err), N / 2);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    finish(pl);
}

/* Output confirmations: SL_RETRY is retried (then confirmed), SL_ERROR goes
 * to dead_letter with x-sluice-* headers; the input hears of each once. */
static void test_output_retry_and_refuse(void **state)
{
    (void)state;
    enum { N = 10000 }; /* offsets % 10: 3 retried once, 4 refused */
    char conf[1024];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "inputs = ( { type = \"seq\"; count = %d; } );\n"
                        "outputs = ( { type = \"check\"; retry_every = 10; refuse_every = 10;\n"
                        "              retry = { max_attempts = 2; backoff_ms = 0; }; } );\n"
                        "dead_letter = { type = \"check\"; expect_error = \"check: refused\";\n"
                        "                expect_stage = \"check\"; };\n",
             N);
    struct sl__pipeline *pl = load("outretry.conf", conf);
    run(pl);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx, *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&out->n), N - N / 10);
    assert_int_equal(atomic_load(&pl->outputs[0]->stats.retried), N / 10);
    assert_int_equal(atomic_load(&pl->outputs[0]->stats.out), N - N / 10);
    assert_tenth_dead_lettered(in, dlq, N);
    finish(pl);
}

/* x-sluice-attempts counts the failed attempts: an output that refuses a
 * message on its first try has failed it once, like a handler with
 * max_attempts = 1 (which says "1"). */
static void test_dead_letter_attempts_header(void **state)
{
    (void)state;
    struct sl__pipeline *pl = load(
        "attempts.conf", TINY_QUEUE
        "inputs = ( { type = \"seq\"; count = 100; } );\n"
        "handlers = ( { type = \"failsome\"; fail_every = 10; } );\n"
        "outputs = ( { type = \"check\"; refuse_every = 10; } );\n"
        "dead_letter = { type = \"check\"; expect_error = \"*\"; expect_attempts = \"1\"; };\n");
    run(pl);
    struct check_out *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&dlq->n), 20); /* 10 from the handler, 10 from the output */
    uint64_t ok = atomic_load(&dlq->dead_ok);
    finish(pl);
    if (ok != 20)
        fail_msg("%llu of 20 dead letters had x-sluice-attempts: 1", (unsigned long long)ok);
}

/* Two inputs into one output: each input hears of exactly its own messages
 * (the output worker batches delivery reports per input); rejected ones go
 * straight to dead_letter with the input's name as the stage. */
static void test_two_inputs_acks_and_reject(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("two-inputs.conf", TINY_QUEUE
             "inputs = ( { type = \"seq\"; name = \"s1\"; count = 3000; },\n"
             "           { type = \"seq\"; name = \"s2\"; count = 5000; reject_every = 10; } );\n"
             "outputs = ( { type = \"check\"; } );\n"
             "dead_letter = { type = \"check\"; expect_error = \"seq: rejected\";\n"
             "                expect_stage = \"s2\"; };\n");
    run(pl);
    struct seq_in *s1 = pl->inputs[0]->ctx, *s2 = pl->inputs[1]->ctx;
    struct check_out *out = pl->outputs[0]->ctx, *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&s1->bad), 0);
    assert_int_equal(atomic_load(&s2->bad), 0);
    assert_int_equal(atomic_load(&s1->duplicates) + atomic_load(&s2->duplicates), 0);
    assert_int_equal(atomic_load(&s1->delivered_ok), 3000);
    assert_int_equal(atomic_load(&s1->delivered_err), 0);
    assert_int_equal(atomic_load(&s2->delivered_ok), 4500);
    assert_int_equal(atomic_load(&s2->delivered_err), 500);
    assert_int_equal(atomic_load(&out->n), 7500);
    assert_int_equal(atomic_load(&dlq->n), 500);
    assert_int_equal(atomic_load(&dlq->dead_ok), 500);
    assert_int_equal(atomic_load(&pl->inputs[1]->stats.in), 5000);
    assert_int_equal(atomic_load(&pl->inputs[1]->stats.dead), 500);
    finish(pl);
}

/* attempts counts failures "at the current stage": a message that needed a
 * retry in a handler starts again at 0 in the output, so an output refusal
 * says x-sluice-attempts: 1, and the output gets its own full retry budget. */
static void test_attempts_reset_between_stages(void **state)
{
    (void)state;
    enum { N = 1000 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "retry = { max_attempts = 2; backoff_ms = 0; };\n"
                        "inputs = ( { type = \"seq\"; count = %d; } );\n"
                        "handlers = ( { type = \"failsome\"; flaky_every = 10; } );\n"
                        "outputs = ( { type = \"check\"; refuse_every = 10; } );\n"
                        "dead_letter = { type = \"check\"; expect_error = \"check: refused\";\n"
                        "                expect_stage = \"check\"; expect_attempts = \"1\"; };\n",
             N);
    struct sl__pipeline *pl = load("attempts-reset.conf", conf);
    run(pl);
    struct check_out *out = pl->outputs[0]->ctx, *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&pl->handlers[0]->stats.retried), N / 10);
    assert_int_equal(atomic_load(&out->n), N - N / 10);
    assert_int_equal(atomic_load(&dlq->n), N / 10);
    uint64_t ok = atomic_load(&dlq->dead_ok);
    finish(pl);
    if (ok != N / 10)
        fail_msg("%llu of %d dead letters said x-sluice-attempts: 1 (attempts carried over "
                 "from the handler's retry?)",
                 (unsigned long long)ok, N / 10);
}

/* ordered = true with several workers keeps per-key order end to end. */
static void test_ordered_workers(void **state)
{
    (void)state;
    enum { N = 20000 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             TINY_QUEUE "inputs = ( { type = \"seq\"; count = %d; keys = 16; } );\n"
                        "handlers = ( { type = \"failsome\"; workers = 3; ordered = true; } );\n"
                        "outputs = ( { type = \"check\"; workers = 2; ordered = true; } );\n",
             N);
    struct sl__pipeline *pl = load("ordered.conf", conf);
    run(pl);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    assert_int_equal(atomic_load(&out->n), N);
    assert_int_equal(atomic_load(&out->order_errors), 0);
    assert_int_equal(atomic_load(&in->delivered_ok), N);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    finish(pl);
}

/* An input that fails stops the pipeline, which still drains: everything it
 * emitted is delivered and acked; the run is marked fatal. */
static void test_input_failure_drains(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("inputfail.conf", TINY_QUEUE "inputs = ( { type = \"seq\"; count = 100000;\n"
                                          "             fail_at = 5000; } );\n"
                                          "outputs = ( { type = \"check\"; } );\n");
    run_quiet(pl);
    assert_int_equal(atomic_load(&pl->fatal), 1);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    assert_int_equal(atomic_load(&in->emitted), 5000);
    assert_int_equal(atomic_load(&out->n), 5000);
    assert_int_equal(atomic_load(&in->delivered_ok), 5000);
    finish(pl);
}

/* sl__pipeline_stop (SIGINT) mid-stream: inputs stop, queues drain, and every
 * message emitted is delivered and acked. */
static void test_stop_drains(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("stop.conf", TINY_QUEUE "inputs = ( { type = \"seq\"; count = 1000000000; } );\n"
                                     "handlers = ( { type = \"failsome\"; } );\n"
                                     "outputs = ( { type = \"check\"; } );\n");
    assert_int_equal(sl__pipeline_start(pl), 0);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    while (atomic_load(&out->n) < 2000)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    sl__pipeline_stop(pl);
    sl__pipeline_stop(pl); /* a second stop is harmless */
    wait_done(pl);
    assert_int_equal(atomic_load(&pl->fatal), 0);
    uint64_t emitted = atomic_load(&in->emitted);
    assert_true(emitted < 1000000000);
    assert_int_equal(atomic_load(&out->n), emitted);
    assert_int_equal(atomic_load(&in->delivered_ok), emitted);
    assert_int_equal(atomic_load(&pl->inputs[0]->in_flight), 0);
    finish(pl);
}

/* With the default queue (batch 256, linger 5 ms) an input that waits for
 * each message's delivery before the next only moves because workers push
 * partial batches and delivery reports when idle. */
static void test_trickle_lockstep(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("trickle.conf", "inputs = ( { type = \"seq\"; count = 100; lockstep = true; } );\n"
                             "handlers = ( { type = \"failsome\"; },\n"
                             "             { type = \"failsome\"; name = \"second\"; } );\n"
                             "outputs = ( { type = \"check\"; } );\n");
    assert_int_equal(pl->batch_size, 256);
    assert_int_equal(sl__pipeline_start(pl), 0);
    if (!sl__pipeline_wait(pl, 60000)) { /* liveness: ~100 x 3 lingers when it works */
        hung = true;
        sl__pipeline_stop(pl);
        fail_msg("a lockstep trickle stalled: partial batches or acks not flushed when idle");
    }
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    assert_int_equal(atomic_load(&out->n), 100);
    assert_int_equal(atomic_load(&in->delivered_ok), 100);
    assert_int_equal(atomic_load(&out->order_errors), 0);
    finish(pl);
}

/* A failing dead-letter write is retried (never dropped), and the input
 * hears of the message only once the dead-letter output confirmed it. */
static void test_dead_letter_retried(void **state)
{
    (void)state;
    struct sl__pipeline *pl = load(
        "dlq-retry.conf", TINY_QUEUE
        "inputs = ( { type = \"seq\"; count = 200; } );\n"
        "handlers = ( { type = \"failsome\"; fail_every = 10; } );\n"
        "outputs = ( { type = \"check\"; } );\n"
        "dead_letter = { type = \"check\"; retry_first = true; expect_error = \"failsome: *\";\n"
        "                retry = { backoff_ms = 1; max_backoff_ms = 1; }; };\n");
    run_quiet(pl); /* each failed dead-letter write is logged as an error */
    assert_int_equal(atomic_load(&pl->fatal), 0);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *dlq = pl->dlq->ctx;
    assert_int_equal(atomic_load(&dlq->n), 20);
    assert_int_equal(atomic_load(&dlq->dead_ok), 20);
    assert_int_equal(atomic_load(&pl->dlq->stats.retried), 20);
    assert_int_equal(atomic_load(&in->delivered_err), 20);
    assert_int_equal(atomic_load(&in->delivered_ok), 180);
    finish(pl);
}

/* An output whose write() fails fatally, leaving messages unconfirmed: the
 * pipeline stops and finishes (exit 2), it does not wait forever for
 * confirmations that cannot come. What was confirmed before is acked. Runs
 * last: if the threads hang, the pools are left alone. */
static void test_fatal_output_finishes(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("fatal-out.conf", TINY_QUEUE "inputs = ( { type = \"seq\"; count = 100000; } );\n"
                                          "outputs = ( { type = \"check\"; fatal_at = 500; } );\n");
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(devnull);
    assert_int_equal(sl__pipeline_start(pl), 0);
    /* liveness only: this takes milliseconds when it works */
    bool done = sl__pipeline_wait(pl, 60000);
    dup2(saved, 2);
    close(saved);
    if (!done) {
        hung = true;
        fail_msg("after a fatal write() the pipeline did not finish (waits for confirmations "
                 "that never come)");
    }
    assert_int_equal(atomic_load(&pl->fatal), 1);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    /* offsets 0..499 confirmed, and maybe a few queued after 500 before the
     * stop; each confirmed one acked, 500 itself not */
    uint64_t n = atomic_load(&out->n);
    assert_true(n >= 500 && n < 100000 - 1);
    assert_int_equal(atomic_load(&in->delivered_ok), n);
    assert_int_equal(atomic_load(&in->delivered_err), 0);
    assert_int_equal(in->seen[500], 0);
    finish(pl);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-engine-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    setenv("SLUICE_PLUGIN_PATH", SLUICE_TEST_PLUGIN_DIR, 1);
    sl__log_set_level(SL_LOG_ERROR); /* dead letters are logged at warn */
    return build_plugins();
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A lost wakeup or a deadlock hangs rather than fails: turn that into a
 * failure in bounded time (generous: ASan on a busy 2-core box). */
static void on_hang(int sig)
{
    (void)sig;
    static const char msg[] = "test_engine: still running after 5 minutes: hang or deadlock\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_to_null),
        cmocka_unit_test(test_fan_out_with_dead_letter),
        cmocka_unit_test(test_seventy_outputs),
        cmocka_unit_test(test_every_failure_source),
        cmocka_unit_test(test_dropped_is_only_dropped),
        cmocka_unit_test(test_long_stage_names),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_acks_retries_dead_letters),
        cmocka_unit_test(test_acks_fan_out),
        cmocka_unit_test(test_failures_without_dead_letter),
        cmocka_unit_test(test_decode_encode),
        cmocka_unit_test(test_output_retry_and_refuse),
        cmocka_unit_test(test_dead_letter_attempts_header),
        cmocka_unit_test(test_two_inputs_acks_and_reject),
        cmocka_unit_test(test_attempts_reset_between_stages),
        cmocka_unit_test(test_ordered_workers),
        cmocka_unit_test(test_input_failure_drains),
        cmocka_unit_test(test_stop_drains),
        cmocka_unit_test(test_dead_letter_retried),
        cmocka_unit_test(test_trickle_lockstep),
        cmocka_unit_test(test_fatal_output_finishes), /* last: it may hang threads */
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    signal(SIGALRM, on_hang);
    alarm(300);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (hung)
        _exit(rc ? rc : 1); /* threads still use the pools */
    sl__ack_destroy();
    sl__pool_destroy();
    return rc;
}
