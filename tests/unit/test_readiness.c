/* test_readiness.c - core/readiness.c: what /readyz says about connections.
 * Instances start ready; a worker reported down makes the pipeline not ready
 * with one "NAME: reason" line ("NAME (worker N): reason" with several
 * workers) until it reports itself up again; a worker index past the last
 * counts as the last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct fixture {
    struct sl__pipeline pl;
    struct sl_instance in, out;
    struct sl_instance *all[2];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->in = (struct sl_instance){.name = "rin", .workers = 1};
    f->out = (struct sl_instance){.name = "rout", .workers = 2};
    pthread_mutex_init(&f->in.ready_mu, NULL);
    pthread_mutex_init(&f->out.ready_mu, NULL);
    f->all[0] = &f->in;
    f->all[1] = &f->out;
    f->pl.all = f->all;
    f->pl.n_all = 2;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->in.unready);
    free(f->out.unready);
    pthread_mutex_destroy(&f->in.ready_mu);
    pthread_mutex_destroy(&f->out.ready_mu);
    free(f);
    return 0;
}

/* The reasons /readyz would list, or "" when ready. */
static const char *why(struct fixture *f, struct sl_buf *b)
{
    b->len = 0;
    bool ready = sl__readiness(&f->pl, b);
    sl_buf_append(b, "", 1);
    assert_int_equal(ready, b->len == 1);
    return (const char *)b->data;
}

static void test_ready_until_reported_down(void **state)
{
    struct fixture *f = *state;
    struct sl_buf b = {0};
    assert_string_equal(why(f, &b), "");
    sl_instance_set_ready(&f->in, 0, true, NULL); /* up before any down: nothing kept */
    assert_null(f->in.unready);
    sl_instance_set_ready(&f->in, 0, false, "rabbitmq: cannot connect");
    assert_string_equal(why(f, &b), "rin: rabbitmq: cannot connect\n");
    sl_instance_set_ready(&f->in, 0, true, NULL);
    assert_string_equal(why(f, &b), "");
    sl_buf_free(&b);
}

static void test_workers_named_and_counted_apart(void **state)
{
    struct fixture *f = *state;
    struct sl_buf b = {0};
    sl_instance_set_ready(&f->out, 1, false, "kafka: 2/2 brokers are down");
    sl_instance_set_ready(&f->out, 0, false, NULL);
    assert_string_equal(why(f, &b), "rout (worker 0): not connected\n"
                                    "rout (worker 1): kafka: 2/2 brokers are down\n");
    sl_instance_set_ready(&f->out, 0, true, NULL); /* one up: the other still down */
    assert_string_equal(why(f, &b), "rout (worker 1): kafka: 2/2 brokers are down\n");
    sl_instance_set_ready(&f->out, 7, true, NULL); /* past the last: the last */
    assert_string_equal(why(f, &b), "");
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_until_reported_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_named_and_counted_apart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
