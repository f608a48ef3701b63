/* test_dedup_engine.c - the delivered hook for handlers (sl_emit_tracked) and
 * the dedup handler in whole pipelines, in-process, on a tiny-queue config:
 * each tracked message reported once, when final, with the right status;
 * duplicates dropped with every message still acked; keys committed only for
 * delivered messages, so a restart after a fatal stop loses nothing and
 * doubles nothing. Test plugins (tests/plugins/) are compiled at run time;
 * handler_dedup comes from the build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

#include "../plugins/check.h"

static char dir[] = "/tmp/test_dedup_engineXXXXXX";

static int build_plugins(void **state)
{
    (void)state;
    static const char *const names[] = {"in_seq", "handler_track", "handler_failsome", "out_check"};
    enum { N_NAMES = sizeof(names) / sizeof(names[0]) };
    if (!mkdtemp(dir))
        return -1;
    char cmd[4096];
    size_t len = 0;
    for (size_t i = 0; i < N_NAMES; i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
                                "cc -shared -fPIC -std=c11 -D_GNU_SOURCE -fvisibility=hidden "
                                "-I'%s/core/include' -o '%s/%s.so' '%s/tests/plugins/%s.c' & ",
                                SLUICE_SOURCE_DIR, dir, names[i], SLUICE_SOURCE_DIR, names[i]);
    snprintf(cmd + len, sizeof(cmd) - len, "wait");
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Load a config body with our plugins and the built ones on the path. */
static struct sl__pipeline *load(const char *body)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/p.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "plugin_path = [ \"%s\", \"%s\" ];\n"
            "queue = { capacity = 2; batch_size = 4; };\n"
            "retry = { max_attempts = 2; backoff_ms = 0; };\n%s",
            dir, SLUICE_TEST_PLUGIN_DIR, body);
    fclose(f);
    struct sl__pipeline *pl = sl__pipeline_load(path, false);
    if (!pl)
        fail_msg("%s did not load (see stderr)", path);
    return pl;
}

/* Run to the end; stderr muted when the run logs errors on purpose. */
static void run(struct sl__pipeline *pl, bool quiet)
{
    int saved = -1;
    if (quiet) {
        fflush(stderr);
        saved = dup(2);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        close(devnull);
    }
    assert_int_equal(sl__pipeline_start(pl), 0);
    bool done = sl__pipeline_wait(pl, 240000);
    if (quiet) {
        dup2(saved, 2);
        close(saved);
    }
    if (!done) {
        sl__pipeline_stop(pl);
        fail_msg("pipeline did not finish within 4 minutes (deadlock?)");
    }
}

static void finish(struct sl__pipeline *pl)
{
    sl__pipeline_free(pl);
    sl__ack_destroy();
    sl__pool_destroy();
}

static int64_t counter(struct sl_instance *inst, const char *name)
{
    int64_t v = -1;
    pthread_mutex_lock(&inst->counters_mu);
    for (struct sl_counter *c = inst->counters; c; c = sl__counter_next(c))
        if (strcmp(sl__counter_name(c), name) == 0)
            v = sl__counter_value(c);
    pthread_mutex_unlock(&inst->counters_mu);
    return v;
}

/* seq -> track -> failsome -> check (two outputs, one retrying every first
 * try): the tracking handler hears of every message exactly once: failed
 * ones (dead-lettered after their retries) as SL_ERROR, dropped, split and
 * retried ones as SL_OK, like the input; and always before the input does
 * (its cookie rides on the input's token, or, for a message split later,
 * shared by its parts, on a token of its own). */
static void hook_reports_each_message_once_when_final(void **state)
{
    (void)state;
    enum { N = 5000, FAIL = 7, DROP = 5, SPLIT = 11, FLAKY = 13 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             "inputs = ( { type = \"seq\"; count = %d; } );\n"
             "handlers = ( { type = \"track\"; count = %d; },\n"
             "             { type = \"failsome\"; fail_every = %d; drop_every = %d;\n"
             "               split_every = %d; flaky_every = %d; } );\n"
             "outputs = ( { type = \"check\"; name = \"a\"; retry_first = true; },\n"
             "            { type = \"check\"; name = \"b\"; } );\n"
             "dead_letter = { type = \"check\"; };\n",
             N, N, FAIL, DROP, SPLIT, FLAKY);
    struct sl__pipeline *pl = load(conf);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct track_handler *t = pl->handlers[0]->ctx;
    in->heard_first = t->seen;
    run(pl, true); /* the dead letters are logged */
    assert_int_equal(atomic_load(&in->early), 0);
    uint64_t failed = (N + FAIL - 1) / FAIL;
    assert_int_equal(atomic_load(&t->passed), N);
    assert_int_equal(atomic_load(&t->bad), 0);
    assert_int_equal(atomic_load(&t->duplicates), 0);
    assert_int_equal(atomic_load(&t->ok), N - failed);
    assert_int_equal(atomic_load(&t->err), failed);
    for (uint64_t i = 0; i < N; i++)
        if (t->seen[i] != in->seen[i] || t->seen[i] != (i % FAIL == 0 ? 2 : 1))
            fail_msg("offset %llu: handler heard %u, input %u", (unsigned long long)i, t->seen[i],
                     in->seen[i]);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    finish(pl);
}

/* A message split before the tracking handler: its parts share the input's
 * token, so each part gets a token of its own in front of it. The handler
 * still hears before the input, and the input once per offset. */
static void hook_precedes_the_input_for_split_messages(void **state)
{
    (void)state;
    enum { N = 3000, SPLIT = 3 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             "inputs = ( { type = \"seq\"; count = %d; } );\n"
             "handlers = ( { type = \"failsome\"; split_every = %d; },\n"
             "             { type = \"track\"; count = %d; } );\n"
             "outputs = ( { type = \"check\"; } );\n",
             N, SPLIT, N);
    struct sl__pipeline *pl = load(conf);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct track_handler *t = pl->handlers[1]->ctx;
    in->heard_first = t->seen;
    run(pl, false);
    assert_int_equal(atomic_load(&in->early), 0);
    assert_int_equal(atomic_load(&in->delivered_ok), N);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    assert_int_equal(atomic_load(&t->bad), 0);
    assert_true(atomic_load(&t->passed) > N); /* the parts were tracked one by one */
    finish(pl);
}

/* N messages over K keys through dedup (key = the message key): K come out,
 * all N are acknowledged to the input, duplicates waiting on a key in flight
 * included; also with three workers and an output that retries. */
static void dedup_passes_each_key_once(void **state)
{
    (void)state;
    enum { N = 10000, K = 500 };
    static const char *const variants[] = {
        "handlers = ( { type = \"dedup\"; key = \"key\"; } );\n"
        "outputs = ( { type = \"check\"; } );\n",
        "handlers = ( { type = \"dedup\"; key = \"key\"; workers = 3; } );\n"
        "outputs = ( { type = \"check\"; retry_every = 10; } );\n",
    };
    for (size_t v = 0; v < 2; v++) {
        char conf[1024];
        snprintf(conf, sizeof(conf), "inputs = ( { type = \"seq\"; count = %d; keys = %d; } );\n%s",
                 N, K, variants[v]);
        struct sl__pipeline *pl = load(conf);
        run(pl, false);
        struct seq_in *in = pl->inputs[0]->ctx;
        struct check_out *out = pl->outputs[0]->ctx;
        struct sl_instance *d = pl->handlers[0];
        assert_int_equal(atomic_load(&out->n), K);
        assert_int_equal(atomic_load(&in->delivered_ok), N);
        assert_int_equal(atomic_load(&in->duplicates), 0);
        assert_int_equal(counter(d, "duplicates_dropped"), N - K);
        assert_int_equal(counter(d, "keys_held"), K);
        assert_int_equal(counter(d, "keys_in_flight"), 0);
        assert_int_equal(counter(d, "duplicates_waiting"), 0);
        finish(pl);
    }
}

/* max_keys far below what is in flight: keys are evicted while their first
 * message is still on its way (retried downstream), and their duplicates
 * find them in the in-flight table (inflight_add reports them there). Every
 * message is still acked exactly once, none is lost, the counters settle
 * at 0, and no key passes twice while its first copy is in flight: the
 * output would then confirm a key's later copy before the earlier one's
 * retry, which it counts as an order error (one dedup worker, so copies
 * reach it in input order). */
static void dedup_max_keys_below_in_flight(void **state)
{
    (void)state;
    enum { N = 5000, K = 8, MAX_KEYS = 2 };
    char conf[1024];
    snprintf(conf, sizeof(conf),
             "inputs = ( { type = \"seq\"; count = %d; keys = %d; } );\n"
             "handlers = ( { type = \"dedup\"; key = \"key\"; max_keys = %d; } );\n"
             "outputs = ( { type = \"check\"; retry_every = 5;\n"
             "              retry = { max_attempts = 3; backoff_ms = 20; }; } );\n",
             N, K, MAX_KEYS);
    struct sl__pipeline *pl = load(conf);
    run(pl, false);
    struct seq_in *in = pl->inputs[0]->ctx;
    struct check_out *out = pl->outputs[0]->ctx;
    struct sl_instance *d = pl->handlers[0];
    assert_int_equal(atomic_load(&in->delivered_ok), N);
    assert_int_equal(atomic_load(&in->duplicates), 0);
    assert_int_equal(atomic_load(&in->bad), 0);
    assert_true(atomic_load(&out->n) >= K);
    assert_int_equal(atomic_load(&out->order_errors), 0);
    assert_int_equal(atomic_load(&out->n) + (uint64_t)counter(d, "duplicates_dropped"), N);
    assert_true(counter(d, "evictions") > 0);
    assert_true(counter(d, "keys_held") <= MAX_KEYS);
    assert_int_equal(counter(d, "keys_in_flight"), 0);
    assert_int_equal(counter(d, "duplicates_waiting"), 0);
    finish(pl);
}

/* max_keys evicts the oldest committed keys: with room for 5 keys and 20
 * distinct keys cycling, every message is new again when it comes back
 * (lockstep: each is delivered before the next is read). */
static void dedup_evicts_oldest(void **state)
{
    (void)state;
    struct sl__pipeline *pl =
        load("inputs = ( { type = \"seq\"; count = 200; keys = 20; lockstep = true; } );\n"
             "handlers = ( { type = \"dedup\"; key = \"key\"; max_keys = 5; } );\n"
             "outputs = ( { type = \"check\"; } );\n");
    run(pl, false);
    struct check_out *out = pl->outputs[0]->ctx;
    assert_int_equal(atomic_load(&out->n), 200);
    assert_int_equal(counter(pl->handlers[0], "evictions"), 195);
    assert_int_equal(counter(pl->handlers[0], "keys_held"), 5);
    finish(pl);
}

/* A restart after a fatal stop: run 1's output dies at offset 1000, so that
 * batch (and what was in flight behind it) was passed by dedup but never
 * delivered; run 2 redelivers everything.
 * With keys committed only on delivery (state_file) the two outputs hold
 * every message exactly once. */
static void dedup_restart_loses_and_doubles_nothing(void **state)
{
    (void)state;
    enum { N = 2000, FATAL = 1000 };
    char conf[1024], state_path[300];
    snprintf(state_path, sizeof(state_path), "%s/dedup.state", dir);
    uint64_t out_total = 0;
    for (int round = 0; round < 2; round++) {
        snprintf(conf, sizeof(conf),
                 "inputs = ( { type = \"seq\"; count = %d; } );\n"
                 "handlers = ( { type = \"dedup\"; key = \"key\"; state_file = \"%s\"; } );\n"
                 "outputs = ( { type = \"check\"; fatal_at = %d; } );\n",
                 N, state_path, round == 0 ? FATAL : -1);
        struct sl__pipeline *pl = load(conf);
        run(pl, round == 0);
        assert_int_equal(atomic_load(&pl->fatal), round == 0);
        struct check_out *out = pl->outputs[0]->ctx;
        uint64_t n = atomic_load(&out->n);
        if (round == 0) /* at least the fatal batch was never confirmed */
            assert_true(n >= 1 && n < N);
        else
            assert_int_equal(counter(pl->handlers[0], "duplicates_dropped"), out_total);
        out_total += n;
        finish(pl);
    }
    assert_int_equal(out_total, N);
}

/* The log is compacted into a snapshot near the end of the stream, while
 * keys the outputs reported final are still waiting for the handler's next
 * batch to settle them: the snapshot must hold them anyway. With
 * max_keys = 10 the log is due for compaction once it holds 2 * 10 + 4096
 * records, so with that many + 10 keys it is compacted among the last
 * ones. A second run, with room for every key, must then hold the last 10
 * keys of the first (the input's offsets come out in order: the last one
 * out shows that none of them passed). */
static void dedup_snapshot_keeps_keys_reported_final(void **state)
{
    (void)state;
    enum { MAX_KEYS = 10, KEYS = 2 * MAX_KEYS + 4096 + MAX_KEYS };
    char conf[1024], state_path[300], cmd[700];
    snprintf(state_path, sizeof(state_path), "%s/compact.state", dir);
    snprintf(cmd, sizeof(cmd), "rm -f '%s' '%s.log'", state_path, state_path);
    assert_int_equal(system(cmd), 0);
    for (int round = 0; round < 2; round++) {
        snprintf(conf, sizeof(conf),
                 "inputs = ( { type = \"seq\"; count = %d; } );\n"
                 "handlers = ( { type = \"dedup\"; key = \"key\"; max_keys = %d;\n"
                 "               state_file = \"%s\"; } );\n"
                 "outputs = ( { type = \"check\"; } );\n",
                 KEYS, round == 0 ? MAX_KEYS : KEYS, state_path);
        struct sl__pipeline *pl = load(conf);
        run(pl, false);
        struct check_out *out = pl->outputs[0]->ctx;
        if (round == 0) {
            assert_int_equal(atomic_load(&out->n), KEYS);
        } else {
            assert_true(counter(pl->handlers[0], "duplicates_dropped") >= MAX_KEYS);
            assert_true(out->last_offset < KEYS - MAX_KEYS);
        }
        finish(pl);
    }
}

/* Recovery marks (sl_msg_mark) at the output: a message the tracking
 * handler passed gets one when it is all there is of it, naming the
 * handler and carrying its cookie (the offset). A message split after the
 * handler (itself and its part) or copied for two outputs gets none: one
 * of them found written would say nothing of the others. A part split
 * before the handler is tracked, and marked, on its own. */
static void marks_only_whole_tracked_messages(void **state)
{
    (void)state;
    enum { N = 3000, SPLIT = 3, SPLIT_N = N / SPLIT }; /* offsets % 3 == 2 split */
    static const struct {
        const char *handlers, *outputs;
        uint64_t marked, marked_part; /* per output */
    } variants[] = {
        {"{ type = \"track\"; count = 3000; }", "{ type = \"check\"; marks = true; }", N, 0},
        {"{ type = \"track\"; count = 3000; }, { type = \"failsome\"; split_every = 3; }",
         "{ type = \"check\"; marks = true; }", N - SPLIT_N, 0},
        {"{ type = \"track\"; count = 3000; }",
         "{ type = \"check\"; name = \"a\"; marks = true; },"
         "{ type = \"check\"; name = \"b\"; marks = true; }",
         0, 0},
        {"{ type = \"failsome\"; split_every = 3; }, { type = \"track\"; count = 3000; }",
         "{ type = \"check\"; marks = true; }", N + SPLIT_N, SPLIT_N},
    };
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        char conf[1024];
        snprintf(conf, sizeof(conf),
                 "inputs = ( { type = \"seq\"; count = %d; } );\n"
                 "handlers = ( %s );\noutputs = ( %s );\n",
                 N, variants[v].handlers, variants[v].outputs);
        struct sl__pipeline *pl = load(conf);
        run(pl, false);
        for (size_t j = 0; j < pl->n_outputs; j++) {
            struct check_out *out = pl->outputs[j]->ctx;
            if (atomic_load(&out->marked) != variants[v].marked ||
                atomic_load(&out->marked_part) != variants[v].marked_part ||
                atomic_load(&out->mark_bad) != 0)
                fail_msg("variant %zu, output %zu: %llu marked (want %llu), %llu parts marked "
                         "(want %llu), %llu bad marks",
                         v, j, (unsigned long long)atomic_load(&out->marked),
                         (unsigned long long)variants[v].marked,
                         (unsigned long long)atomic_load(&out->marked_part),
                         (unsigned long long)variants[v].marked_part,
                         (unsigned long long)atomic_load(&out->mark_bad));
        }
        finish(pl);
    }
}

/* A dead letter gets no mark: it was not delivered, and its key must stay
 * uncommitted (replaying the dead letters passes the handler again). */
static void dead_letters_get_no_mark(void **state)
{
    (void)state;
    enum { N = 3000, FAIL = 7 };
    struct sl__pipeline *pl = load("inputs = ( { type = \"seq\"; count = 3000; } );\n"
                                   "handlers = ( { type = \"track\"; count = 3000; },\n"
                                   "             { type = \"failsome\"; fail_every = 7; } );\n"
                                   "outputs = ( { type = \"check\"; marks = true; } );\n"
                                   "dead_letter = { type = \"check\"; marks = true; };\n");
    run(pl, true); /* the dead letters are logged */
    struct check_out *out = pl->outputs[0]->ctx, *dlq = pl->dlq->ctx;
    uint64_t failed = (N + FAIL - 1) / FAIL;
    assert_int_equal(atomic_load(&dlq->n), failed);
    assert_int_equal(atomic_load(&dlq->marked), 0);
    assert_int_equal(atomic_load(&dlq->mark_bad), 0);
    assert_int_equal(atomic_load(&out->marked), N - failed);
    finish(pl);
}

/* What an output's recover() hands to sl_recovered() reaches the handler
 * the mark names, as cookies, before the input runs; marks of no handler
 * here, with a cut or non-hex value, or without the prefix are ignored. */
static void recovered_marks_reach_their_handler(void **state)
{
    (void)state;
    struct sl__pipeline *pl = load(
        "inputs = ( { type = \"seq\"; count = 10; } );\n"
        "handlers = ( { type = \"track\"; count = 10; } );\n"
        "outputs = ( { type = \"check\"; recover_marks = [\n"
        "  \"x-sluice-mark.track=000000000000002a\", \"x-sluice-mark.track=0000000000000007\",\n"
        "  \"x-sluice-mark.other=0000000000000001\", \"x-sluice-mark.track=00000000000000zz\",\n"
        "  \"x-sluice-mark.track=2a\", \"x-sluice-mark.track=000000000000002A\",\n"
        "  \"x-other.track=0000000000000001\" ]; } );\n");
    run(pl, false);
    struct track_handler *t = pl->handlers[0]->ctx;
    assert_int_equal(atomic_load(&t->recovered), 2);
    assert_int_equal(t->recovered_sum, 0x2a + 7);
    finish(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hook_reports_each_message_once_when_final),
        cmocka_unit_test(hook_precedes_the_input_for_split_messages),
        cmocka_unit_test(dedup_passes_each_key_once),
        cmocka_unit_test(dedup_evicts_oldest),
        cmocka_unit_test(dedup_max_keys_below_in_flight),
        cmocka_unit_test(dedup_restart_loses_and_doubles_nothing),
        cmocka_unit_test(dedup_snapshot_keeps_keys_reported_final),
        cmocka_unit_test(marks_only_whole_tracked_messages),
        cmocka_unit_test(dead_letters_get_no_mark),
        cmocka_unit_test(recovered_marks_reach_their_handler),
    };
    return cmocka_run_group_tests(tests, build_plugins, remove_dir);
}
