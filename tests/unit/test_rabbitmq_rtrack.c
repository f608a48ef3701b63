/* test_rabbitmq_rtrack.c - in_rabbitmq's delivery-tag tracker: the contiguous
 * ack point that basic.ack (multiple) is sent for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../plugins/in_rabbitmq/rtrack.c"

static void contiguous_point(void **state)
{
    (void)state;
    struct rtrack t;
    rtrack_init(&t);
    for (uint64_t tag = 1; tag <= 5; tag++)
        assert_int_equal(rtrack_push(&t, tag), 0);
    assert_int_equal(rtrack_in_flight(&t), 5);
    assert_false(rtrack_dirty(&t));
    assert_true(rtrack_done(&t, 3));
    assert_int_equal(rtrack_ack_point(&t), 0); /* 1 and 2 still in flight */
    assert_true(rtrack_done(&t, 1));
    assert_int_equal(rtrack_ack_point(&t), 1);
    assert_true(rtrack_done(&t, 2));
    assert_int_equal(rtrack_ack_point(&t), 3); /* 3 was done already */
    assert_true(rtrack_dirty(&t));
    t.acked = rtrack_ack_point(&t);
    assert_false(rtrack_dirty(&t));
    assert_false(rtrack_done(&t, 2)); /* acked: no longer in flight */
    assert_false(rtrack_done(&t, 9)); /* never delivered */
    assert_true(rtrack_done(&t, 5));
    assert_false(rtrack_done(&t, 5)); /* twice */
    assert_int_equal(rtrack_ack_point(&t), 3);
    assert_true(rtrack_done(&t, 4));
    assert_int_equal(rtrack_ack_point(&t), 5);
    assert_int_equal(rtrack_in_flight(&t), 0);
    rtrack_free(&t);
}

/* Many more tags in flight than the first ring holds, finished backwards. */
static void grows_and_keeps_flags(void **state)
{
    (void)state;
    struct rtrack t;
    rtrack_init(&t);
    const uint64_t n = 5000;
    for (uint64_t tag = 1; tag <= n; tag++) {
        assert_int_equal(rtrack_push(&t, tag), 0);
        if (tag % 2 == 0)
            assert_true(rtrack_done(&t, tag)); /* evens done before the ring grows */
    }
    assert_int_equal(rtrack_ack_point(&t), 0);
    for (uint64_t tag = n - 1; tag >= 3; tag -= 2)
        assert_true(rtrack_done(&t, tag));
    assert_int_equal(rtrack_ack_point(&t), 0);
    assert_true(rtrack_done(&t, 1));
    assert_int_equal(rtrack_ack_point(&t), n);
    rtrack_free(&t);
}

/* A new channel starts its tags at 1 again; tags of the old one are ignored. */
static void reset_for_a_new_channel(void **state)
{
    (void)state;
    struct rtrack t;
    rtrack_init(&t);
    for (uint64_t tag = 1; tag <= 10; tag++)
        assert_int_equal(rtrack_push(&t, tag), 0);
    assert_true(rtrack_done(&t, 1));
    rtrack_reset(&t, 2);
    assert_int_equal(rtrack_in_flight(&t), 0);
    assert_false(rtrack_done(&t, 5));
    assert_int_equal(rtrack_push(&t, 1), 0);
    assert_int_equal(rtrack_push(&t, 1), -1); /* not new */
    assert_true(rtrack_done(&t, 1));
    assert_int_equal(rtrack_ack_point(&t), 1);
    /* a tag the broker skipped has nothing to wait for */
    assert_int_equal(rtrack_push(&t, 4), 0);
    assert_int_equal(rtrack_ack_point(&t), 3);
    rtrack_free(&t);
}

/* After a reconnect, a message read on the old connection finishes: its
 * tag must not mark the new channel's delivery with the same tag (acking it
 * would ack a message the pipeline has not delivered). */
static void old_connection_cookie_ignored(void **state)
{
    (void)state;
    struct rtrack t;
    rtrack_init(&t);
    assert_false(rtrack_done_cookie(&t, rtrack_cookie(&t, 0), 1)); /* never connected */
    rtrack_reset(&t, 7); /* connection 7, worker 3 reads tags 1..3 */
    uint64_t old = rtrack_cookie(&t, 3);
    assert_int_equal(rtrack_cookie_worker(old), 3);
    for (uint64_t tag = 1; tag <= 3; tag++)
        assert_int_equal(rtrack_push(&t, tag), 0);
    assert_true(rtrack_done_cookie(&t, old, 1));
    assert_int_equal(rtrack_ack_point(&t), 1);

    rtrack_reset(&t, 0); /* connection lost: nothing matches while down */
    assert_false(rtrack_done_cookie(&t, old, 2));

    rtrack_reset(&t, 8); /* reconnected: the broker numbers from 1 again */
    uint64_t cur = rtrack_cookie(&t, 3);
    assert_int_not_equal(cur, old);
    for (uint64_t tag = 1; tag <= 3; tag++)
        assert_int_equal(rtrack_push(&t, tag), 0);
    for (uint64_t tag = 1; tag <= 3; tag++)
        assert_false(rtrack_done_cookie(&t, old, tag)); /* old connection's 1..3 */
    assert_int_equal(rtrack_ack_point(&t), 0);
    assert_false(rtrack_dirty(&t));
    assert_int_equal(rtrack_in_flight(&t), 3);
    assert_true(rtrack_done_cookie(&t, cur, 1));
    assert_true(rtrack_done_cookie(&t, cur, 2));
    assert_int_equal(rtrack_ack_point(&t), 2);
    rtrack_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(contiguous_point),
        cmocka_unit_test(grows_and_keeps_flags),
        cmocka_unit_test(reset_for_a_new_channel),
        cmocka_unit_test(old_connection_cookie_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
