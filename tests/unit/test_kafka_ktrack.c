/* test_kafka_ktrack.c - in_kafka's per-partition commit tracker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../plugins/in_kafka/ktrack.c"

static void contiguous_prefix(void **state)
{
    (void)state;
    struct ktrack t;
    ktrack_init(&t);
    for (int64_t o = 10; o < 15; o++)
        assert_int_equal(ktrack_push(&t, o), 0);
    assert_false(ktrack_dirty(&t));
    assert_true(ktrack_done(&t, 12));
    assert_int_equal(t.commit, -1); /* 10 and 11 still in flight */
    assert_true(ktrack_done(&t, 10));
    assert_int_equal(t.commit, 11);
    assert_true(ktrack_done(&t, 11));
    assert_int_equal(t.commit, 13); /* 12 was already done */
    assert_true(ktrack_dirty(&t));
    t.committed = t.commit;
    assert_false(ktrack_dirty(&t));
    assert_false(ktrack_done(&t, 12)); /* no longer in flight */
    assert_false(ktrack_done(&t, 99));
    assert_true(ktrack_done(&t, 14));
    assert_int_equal(t.commit, 13);
    assert_true(ktrack_done(&t, 13));
    assert_int_equal(t.commit, 15);
    assert_int_equal(t.count, 0);
    ktrack_free(&t);
}

static void gaps_between_offsets(void **state)
{
    (void)state;
    struct ktrack t;
    ktrack_init(&t);
    int64_t offs[] = {3, 7, 8, 20};
    for (int i = 0; i < 4; i++)
        ktrack_push(&t, offs[i]);
    assert_false(ktrack_done(&t, 4));
    assert_true(ktrack_done(&t, 7));
    assert_true(ktrack_done(&t, 3));
    assert_int_equal(t.commit, 8);
    assert_true(ktrack_done(&t, 20));
    assert_true(ktrack_done(&t, 8));
    assert_int_equal(t.commit, 21);
    ktrack_free(&t);
}

/* Grows past the first ring size while the head has wrapped; random completion order. */
static void grows_and_wraps(void **state)
{
    (void)state;
    struct ktrack t;
    ktrack_init(&t);
    int64_t next = 0, lo = 0;
    srand(7);
    for (int round = 0; round < 50; round++) {
        int add = 100 + rand() % 3000;
        for (int i = 0; i < add; i++)
            assert_int_equal(ktrack_push(&t, next++), 0);
        /* complete a random subset, then everything below a cut */
        int64_t cut = lo + (next - lo) / 2;
        for (int64_t o = lo; o < next; o++)
            if (rand() % 3 == 0)
                ktrack_done(&t, o);
        for (int64_t o = lo; o < cut; o++)
            ktrack_done(&t, o);
        assert_true(t.commit >= cut);
        if (t.count > 0)
            assert_true((int64_t)(t.ring[t.head] >> 1) == t.commit);
        lo = t.commit;
    }
    for (int64_t o = lo; o < next; o++)
        ktrack_done(&t, o);
    assert_int_equal(t.commit, next);
    assert_int_equal(t.count, 0);
    ktrack_reset(&t);
    assert_int_equal(t.commit, -1);
    ktrack_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(contiguous_prefix),
        cmocka_unit_test(gaps_between_offsets),
        cmocka_unit_test(grows_and_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
