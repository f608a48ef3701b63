/* test_kafka_positions.c - where out_kafka's read-back starts (positions.c):
 * the least of every busy worker's row and the highest offset heard of; a
 * worker going busy starts at the latter; an idle one holds nothing back;
 * the state file written and read back, and the files refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/out_kafka/positions.c"

static char dir[] = "/tmp/test_kafka_positionsXXXXXX";
static char path[300];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/out.state", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* What the file says now (write, then read back). */
static void file_starts(struct positions *ps, int64_t *start)
{
    assert_int_equal(positions_write(ps, false), 0);
    struct positions_file f;
    char err[200];
    assert_int_equal(positions_read(path, &f, err, sizeof(err)), 1);
    assert_string_equal(f.topic, "out");
    assert_int_equal(f.n_parts, ps->n_parts);
    memcpy(start, f.start, (size_t)f.n_parts * sizeof(*start));
    free(f.start);
}

static void the_least_unheard_offset_is_kept(void **state)
{
    (void)state;
    struct positions ps;
    int64_t end[2] = {10, 20}, s[2];
    assert_int_equal(positions_init(&ps, NULL, path, "out", 2), 0);
    assert_int_equal(positions_start(&ps, 2, end), 0);
    file_starts(&ps, s);
    assert_int_equal(s[0], 10); /* both idle: the end */
    assert_int_equal(s[1], 20);

    positions_heard(&ps, 0, true); /* worker 0 produces: its row starts at the end */
    for (int64_t o = 10; o < 15; o++)
        positions_reported(&ps, 0, 0, o);
    file_starts(&ps, s);
    assert_int_equal(s[0], 10); /* reported, not yet heard of */
    positions_heard(&ps, 0, true);
    file_starts(&ps, s);
    assert_int_equal(s[0], 15);
    assert_int_equal(s[1], 20);

    positions_heard(&ps, 1, true); /* worker 1 goes busy at what was heard: 15 */
    positions_reported(&ps, 1, 0, 15);
    positions_reported(&ps, 1, 0, 16);
    positions_heard(&ps, 1, true);
    file_starts(&ps, s);
    assert_int_equal(s[0], 15);    /* worker 0 may still have messages from 15 on */
    positions_heard(&ps, 0, true); /* still busy, nothing new heard: no move */
    file_starts(&ps, s);
    assert_int_equal(s[0], 15);

    positions_heard(&ps, 0, false); /* worker 0 idle: all it wrote was heard of */
    file_starts(&ps, s);
    assert_int_equal(s[0], 17);

    positions_reported(&ps, 1, 1, 25);
    positions_heard(&ps, 1, false);
    file_starts(&ps, s);
    assert_int_equal(s[0], 17);
    assert_int_equal(s[1], 26);

    /* A report for a partition the start did not know is left out (that
     * partition is read from its beginning after a restart). */
    positions_reported(&ps, 0, 7, 100);
    positions_reported(&ps, 0, -1, 100);
    positions_heard(&ps, 0, false);
    file_starts(&ps, s);
    assert_int_equal(s[0], 17);
    assert_int_equal(s[1], 26);
    positions_free(&ps);
}

/* Not started (--check, or a read-back that failed): no file is written. */
static void nothing_written_before_the_start(void **state)
{
    (void)state;
    struct positions ps;
    unlink(path);
    assert_int_equal(positions_init(&ps, NULL, path, "out", 1), 0);
    positions_heard(&ps, 0, true);
    positions_heard(&ps, 0, false);
    assert_int_equal(access(path, F_OK), -1);
    positions_free(&ps);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void files_read_and_refused(void **state)
{
    (void)state;
    struct positions_file f;
    char err[200];
    unlink(path);
    assert_int_equal(positions_read(path, &f, err, sizeof(err)), 0); /* none: first start */

    write_file("sluice kafka read-back 1\ntopic out\n0 5\n3 9\n");
    assert_int_equal(positions_read(path, &f, err, sizeof(err)), 1);
    assert_int_equal(f.n_parts, 4);
    assert_int_equal(f.start[0], 5);
    assert_int_equal(f.start[1], -1); /* not in the file */
    assert_int_equal(f.start[2], -1);
    assert_int_equal(f.start[3], 9);
    free(f.start);

    static const char *const bad[] = {
        "",
        "garbage\n",
        "sluice kafka read-back 2\ntopic out\n",
        "sluice kafka read-back 1\n",
        "sluice kafka read-back 1\ntopic out\n0\n",
        "sluice kafka read-back 1\ntopic out\n0 -5\n",
        "sluice kafka read-back 1\ntopic out\n-1 5\n",
        "sluice kafka read-back 1\ntopic out\n9999999 5\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(bad[i]);
        if (positions_read(path, &f, err, sizeof(err)) != -1)
            fail_msg("accepted bad file %zu: \"%s\"", i, bad[i]);
        assert_null(f.start);
        assert_true(err[0] != '\0');
    }
}

/* The file is replaced whole: a failed write leaves the old one. */
static void failed_write_keeps_the_old_file(void **state)
{
    (void)state;
    struct positions ps;
    int64_t end[1] = {42};
    char bad_path[400];
    snprintf(bad_path, sizeof(bad_path), "%s/no/such/dir/out.state", dir);
    assert_int_equal(positions_init(&ps, NULL, bad_path, "out", 1), 0);
    assert_int_equal(positions_start(&ps, 1, end), 0);
    assert_int_equal(positions_write(&ps, true), -1);
    assert_int_equal(errno, ENOENT);
    positions_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_least_unheard_offset_is_kept),
        cmocka_unit_test(nothing_written_before_the_start),
        cmocka_unit_test(files_read_and_refused),
        cmocka_unit_test(failed_write_keeps_the_old_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
