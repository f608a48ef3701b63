/* test_dedup_state.c - the dedup handler's key table (set + age ring), key
 * extraction and hashing, and its state file (snapshot + log, torn tails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugins/handler_dedup/dedup_key.c"
#include "../../plugins/handler_dedup/keylog.c"
#include "../../plugins/handler_dedup/keytable.c"

static void insert_contains_duplicate(void **state)
{
    (void)state;
    struct keytable t;
    assert_int_equal(keytable_init(&t, 100, true), 0);
    assert_false(keytable_contains(&t, 42));
    assert_true(keytable_insert(&t, 42, 1, NULL));
    assert_true(keytable_contains(&t, 42));
    assert_false(keytable_insert(&t, 42, 2, NULL)); /* already held: no second entry */
    assert_int_equal(t.count, 1);
    assert_true(keytable_insert(&t, 0, 3, NULL)); /* hash 0 is a key like any other */
    assert_true(keytable_contains(&t, 0));
    keytable_free(&t);
}

static void evicts_oldest_first(void **state)
{
    (void)state;
    struct keytable t;
    assert_int_equal(keytable_init(&t, 4, false), 0);
    for (uint64_t k = 1; k <= 6; k++)
        assert_true(keytable_insert(&t, k * 0x9e3779b97f4a7c15ULL, 10, NULL));
    assert_int_equal(t.count, 4);
    assert_int_equal(t.evictions, 2);
    for (uint64_t k = 1; k <= 6; k++)
        assert_int_equal(keytable_contains(&t, k * 0x9e3779b97f4a7c15ULL), k > 2);
    keytable_free(&t);
}

/* Small hash range so probe runs collide and wrap around the slot array:
 * the table must always hold exactly the last `cap` keys added, less those
 * taken back (keytable_forget, a failed message), which leave holes in the
 * ring. Taking back a key evicted since (maybe added again later, with a
 * new sequence number) must change nothing. */
static void matches_a_reference_under_churn(void **state)
{
    (void)state;
    enum { CAP = 37, ROUNDS = 200000, RANGE = 200 };
    struct keytable t;
    assert_int_equal(keytable_init(&t, CAP, false), 0);
    uint64_t fifo[CAP], seqs[CAP]; /* fifo 0: a hole */
    uint64_t gone_key = 0, gone_seq = 0;
    size_t head = 0, n = 0;
    srand(7);
    for (int r = 0; r < ROUNDS; r++) {
        /* Multiples of the slot count share a home slot: worst-case runs. */
        uint64_t k = (uint64_t)(rand() % RANGE) * (r % 3 ? 1 : t.mask + 1);
        bool held = false;
        for (size_t i = 0; i < n; i++)
            held |= fifo[(head + i) % CAP] == (k ? k : 1);
        uint64_t seq;
        assert_int_equal(keytable_insert(&t, k, 0, &seq), !held);
        if (!held) {
            if (n == CAP) {
                if (fifo[head]) {
                    gone_key = fifo[head];
                    gone_seq = seqs[head];
                }
                head = (head + 1) % CAP;
                n--;
            }
            fifo[(head + n) % CAP] = k ? k : 1;
            seqs[(head + n++) % CAP] = seq;
        }
        if (r % 5 == 0) {
            size_t p = (head + (size_t)rand() % n) % CAP;
            if (fifo[p]) {
                keytable_forget(&t, fifo[p], seqs[p]);
                fifo[p] = 0;
            }
        }
        if (r % 7 == 0 && gone_key)
            keytable_forget(&t, gone_key, gone_seq); /* stale: a no-op */
        if (r % 1000 == 0) {
            size_t keys = 0;
            for (size_t i = 0; i < n; i++)
                keys += fifo[(head + i) % CAP] != 0;
            assert_int_equal(keytable_held(&t), keys);
            for (uint64_t q = 0; q < RANGE; q++) {
                bool want = false;
                for (size_t i = 0; i < n; i++)
                    want |= fifo[(head + i) % CAP] == (q ? q : 1);
                assert_int_equal(keytable_contains(&t, q), want);
            }
        }
    }
    keytable_free(&t);
}

static void expires_by_ttl(void **state)
{
    (void)state;
    struct keytable t;
    assert_int_equal(keytable_init(&t, 10, true), 0);
    keytable_insert(&t, 1, 100, NULL);
    keytable_insert(&t, 2, 105, NULL);
    keytable_insert(&t, 3, 110, NULL);
    assert_int_equal(keytable_expire(&t, 110, 10), 0);
    assert_int_equal(keytable_expire(&t, 111, 10), 1);
    assert_false(keytable_contains(&t, 1));
    assert_true(keytable_contains(&t, 2));
    assert_int_equal(keytable_expire(&t, 200, 10), 2);
    assert_int_equal(t.count, 0);
    assert_int_equal(t.expirations, 3);
    keytable_free(&t);
}

static void under_100_bytes_per_key_at_10m(void **state)
{
    (void)state;
    struct keytable t;
    assert_int_equal(keytable_init(&t, 10000000, true), 0);
    size_t per_key = keytable_bytes(&t) / 10000000;
    print_message("key table: %zu bytes per key at 10 M keys\n", per_key);
    assert_true(per_key < 100);
    keytable_free(&t);
}

static struct sl_value str_value(const char *s)
{
    return (struct sl_value){.type = SL_STRING, .len = (uint32_t)strlen(s), .u.str = s};
}

static void key_specs_and_hashes(void **state)
{
    (void)state;
    struct dedup_key k;
    char err[256];
    assert_int_equal(dedup_key_parse(&k, "record", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "record.PATH"));
    assert_int_equal(dedup_key_parse(&k, "header:", err, sizeof(err)), -1);
    assert_int_equal(dedup_key_parse(&k, "bogus", err, sizeof(err)), -1);

    struct sl_member inner[1] = {{"id", 2, str_value("17")}};
    struct sl_member outer[2] = {
        {"user", 4, {.type = SL_MAP, .len = 1, .u.members = inner}},
        {"n", 1, {.type = SL_INT, .u.i = 17}},
    };
    struct sl_value rec = {.type = SL_MAP, .len = 2, .u.members = outer};
    struct sl_msg m = {0};
    m.record = &rec;
    uint64_t a, b, c;
    assert_int_equal(dedup_key_parse(&k, "record.user.id", err, sizeof(err)), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &a), 0);
    assert_int_equal(dedup_key_parse(&k, "record.n", err, sizeof(err)), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &b), 0);
    assert_int_not_equal(a, b); /* "17" and 17 are different keys */
    assert_int_equal(dedup_key_parse(&k, "record.missing", err, sizeof(err)), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &c), -1);

    assert_int_equal(dedup_key_parse(&k, "header:id", err, sizeof(err)), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &c), -1);
    assert_int_equal(sl_msg_set_header(&m, "id", "17", 2), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &a), 0);

    assert_int_equal(dedup_key_parse(&k, "key", err, sizeof(err)), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &c), -1);
    sl_buf_set(&m.key, "17", 2);
    m.has_key = true;
    assert_int_equal(dedup_key_hash(&k, &m, &b), 0);
    assert_int_equal(a, b); /* the same bytes, wherever they come from */

    assert_int_equal(dedup_key_parse(&k, "payload", err, sizeof(err)), 0);
    assert_int_equal(dedup_key_hash(&k, &m, &a), 0); /* empty payload hashes too */
    sl_buf_set(&m.payload, "hello", 5);
    assert_int_equal(dedup_key_hash(&k, &m, &b), 0);
    assert_int_not_equal(a, b);
    sl_buf_free(&m.key);
    sl_buf_free(&m.payload);
    sl_arena_free(&m.arena);
}

/* Hashes of a million sequential ids: no collision, and the low bits (the
 * home slot) spread evenly. */
static void hash_spreads(void **state)
{
    (void)state;
    enum { N = 1 << 20, BUCKETS = 1024 };
    struct keytable t;
    assert_int_equal(keytable_init(&t, N, true), 0);
    unsigned *bucket = calloc(BUCKETS, sizeof(*bucket));
    char id[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(id, sizeof(id), "order-%d", i);
        uint64_t h = dedup_hash_bytes(id, (size_t)len, 1);
        assert_true(keytable_insert(&t, h, 0, NULL));
        bucket[h % BUCKETS]++;
    }
    for (int b = 0; b < BUCKETS; b++)
        assert_true(bucket[b] > N / BUCKETS * 8 / 10 && bucket[b] < N / BUCKETS * 12 / 10);
    free(bucket);
    keytable_free(&t);
}

static char dir[] = "/tmp/test_dedup_stateXXXXXX";
static char state_path[300];
static int warnings;

static void count_warning(void *arg, const char *msg)
{
    (void)arg;
    print_message("warning: %s\n", msg);
    warnings++;
}

static int setup_dir(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(state_path, sizeof(state_path), "%s/dedup.state", dir);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void reset_state(void)
{
    char p[400];
    unlink(state_path);
    snprintf(p, sizeof(p), "%s.log", state_path);
    unlink(p);
    warnings = 0;
}

static void open_table(struct keylog *l, struct keytable *t, size_t cap)
{
    char err[512] = "";
    assert_int_equal(keytable_init(t, cap, true), 0);
    if (keylog_open(l, state_path, t, count_warning, NULL, err, sizeof(err)) < 0)
        fail_msg("keylog_open: %s", err);
}

static void commit(struct keylog *l, struct keytable *t, uint64_t k)
{
    if (keytable_insert(t, k, 1000, NULL))
        assert_int_equal(keylog_append(l, k, 1000), 0);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void state_survives_restart(void **state)
{
    (void)state;
    reset_state();
    struct keylog l;
    struct keytable t;
    open_table(&l, &t, 100);
    for (uint64_t k = 1; k <= 50; k++)
        commit(&l, &t, k);
    assert_int_equal(keylog_sync(&l, &t), 0);
    keylog_close(&l, &t);
    keytable_free(&t);

    open_table(&l, &t, 100);
    assert_int_equal(t.count, 50);
    for (uint64_t k = 1; k <= 50; k++)
        assert_true(keytable_contains(&t, k));
    assert_int_equal(warnings, 0);
    keylog_close(&l, &t);
    keytable_free(&t);

    /* A smaller max_keys after a restart keeps the newest keys. */
    open_table(&l, &t, 10);
    assert_int_equal(t.count, 10);
    assert_false(keytable_contains(&t, 40));
    assert_true(keytable_contains(&t, 41));
    keylog_close(&l, &t);
    keytable_free(&t);
}

/* A crash mid-append leaves half a record (or garbage): the keys before it
 * load, a warning says what was cut, and later appends are readable. */
static void torn_tail_is_ignored(void **state)
{
    (void)state;
    char log_path[400];
    snprintf(log_path, sizeof(log_path), "%s.log", state_path);
    static const char *const tails[] = {"\x01\x02\x03\x04\x05\x06\x07", /* half a record */
                                        "0123456789abcdef"};            /* a whole bad one */
    for (int i = 0; i < 2; i++) {
        reset_state();
        struct keylog l;
        struct keytable t;
        open_table(&l, &t, 100);
        for (uint64_t k = 1; k <= 20; k++)
            commit(&l, &t, k);
        assert_int_equal(keylog_sync(&l, &t), 0);
        keylog_close(&l, &t);
        keytable_free(&t);

        int fd = open(log_path, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, tails[i], strlen(tails[i])), (ssize_t)strlen(tails[i]));
        close(fd);

        open_table(&l, &t, 100);
        assert_int_equal(warnings, 1);
        assert_int_equal(t.count, 20);
        assert_int_equal(file_size(log_path), 20 * 16); /* cut back */
        commit(&l, &t, 99);
        assert_int_equal(keylog_sync(&l, &t), 0);
        keylog_close(&l, &t);
        keytable_free(&t);

        open_table(&l, &t, 100);
        assert_int_equal(warnings, 1); /* nothing torn this time */
        assert_int_equal(t.count, 21);
        assert_true(keytable_contains(&t, 99));
        keylog_close(&l, &t);
        keytable_free(&t);
    }
}

static void log_compacts_into_snapshot(void **state)
{
    (void)state;
    reset_state();
    char log_path[400];
    snprintf(log_path, sizeof(log_path), "%s.log", state_path);
    struct keylog l;
    struct keytable t;
    open_table(&l, &t, 1000);
    /* 20000 commits through a 1000-key table: the log would hold 20000
     * records; compaction keeps it near the table's size. */
    for (uint64_t k = 1; k <= 20000; k++) {
        commit(&l, &t, k);
        if (k % 100 == 0)
            assert_int_equal(keylog_sync(&l, &t), 0);
    }
    assert_true(file_size(log_path) < (off_t)(2 * 1000 + 4096 + 100) * 16);
    assert_true(file_size(state_path) > 0);
    keylog_close(&l, &t);
    keytable_free(&t);

    open_table(&l, &t, 1000);
    assert_int_equal(t.count, 1000);
    assert_false(keytable_contains(&t, 19000));
    for (uint64_t k = 19001; k <= 20000; k++)
        assert_true(keytable_contains(&t, k));
    keylog_close(&l, &t);
    keytable_free(&t);
}

static bool odd_in_flight(const void *arg, uint64_t hash)
{
    (void)arg;
    return hash % 2 == 1;
}

/* Keys enter the table as their message passes; a snapshot must hold only
 * the committed ones: not those still in flight (they reach the log when
 * committed, or never), nor those taken back after a failure. */
static void snapshot_leaves_out_keys_in_flight(void **state)
{
    (void)state;
    reset_state();
    struct keylog l;
    struct keytable t;
    open_table(&l, &t, 100);
    l.in_flight = odd_in_flight;
    uint64_t seq_of_10 = 0;
    for (uint64_t k = 1; k <= 20; k++) {
        uint64_t seq;
        assert_true(keytable_insert(&t, k, 1000, &seq));
        if (k == 10)
            seq_of_10 = seq;
    }
    keytable_forget(&t, 10, seq_of_10); /* failed: taken back */
    assert_false(keytable_contains(&t, 10));
    assert_int_equal(keytable_held(&t), 19);
    assert_int_equal(keylog_compact(&l, &t), 0);
    keylog_close(&l, &t);
    keytable_free(&t);

    open_table(&l, &t, 100);
    assert_int_equal(keytable_held(&t), 9); /* 2, 4, ... 20 but 10 */
    for (uint64_t k = 1; k <= 20; k++)
        assert_int_equal(keytable_contains(&t, k), k % 2 == 0 && k != 10);
    keylog_close(&l, &t);
    keytable_free(&t);
}

static void *hold_sync_lock(void *arg)
{
    struct keylog *l = arg;
    pthread_mutex_lock(&l->sync_mu); /* as a thread inside fdatasync would */
    nanosleep(&(struct timespec){0, 300 * 1000000}, NULL);
    pthread_mutex_unlock(&l->sync_mu);
    return NULL;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* keylog_write puts the keys in the file at once (a kill -9 right after it
 * keeps them, before any fdatasync) and never waits for an fdatasync that
 * another thread is in: delivered() writes under the handler's lock and
 * syncs outside it. */
static void write_is_visible_before_sync(void **state)
{
    (void)state;
    reset_state();
    struct keylog l, l2;
    struct keytable t, t2;
    open_table(&l, &t, 100);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_sync_lock, &l), 0);
    nanosleep(&(struct timespec){0, 50 * 1000000}, NULL);
    for (uint64_t k = 1; k <= 10; k++)
        commit(&l, &t, k);
    uint64_t upto = 0;
    double t0 = seconds();
    assert_int_equal(keylog_write(&l, &t, &upto), 0);
    assert_true(seconds() - t0 < 0.2); /* did not wait for the other thread's sync */
    assert_int_equal(upto, 10);

    open_table(&l2, &t2, 100); /* what a restart after kill -9 would load */
    assert_int_equal(t2.count, 10);
    keylog_close(&l2, &t2);
    keytable_free(&t2);

    assert_int_equal(keylog_sync_to(&l, upto), 0); /* waits for the holder, then syncs */
    assert_int_equal(l.synced, 10);
    assert_int_equal(keylog_sync_to(&l, 5), 0); /* covered already */
    pthread_join(th, NULL);
    keylog_close(&l, &t);
    keytable_free(&t);
}

/* A compaction runs after the batch is appended: when it fails (as when a
 * kill lands while the snapshot is written), the batch's keys are already
 * in the log, and the next write compacts again. */
static void compaction_follows_the_append(void **state)
{
    (void)state;
    reset_state();
    char tmp_path[400];
    snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", state_path);
    struct keylog l, l2;
    struct keytable t, t2;
    open_table(&l, &t, 100);
    for (uint64_t k = 1; k <= 10; k++)
        commit(&l, &t, k);
    atomic_store(&l.sync_failed, true);         /* a compaction is due */
    assert_int_equal(mkdir(tmp_path, 0755), 0); /* the snapshot cannot be written */
    uint64_t upto = 0;
    assert_int_equal(keylog_write(&l, &t, &upto), -1);
    assert_int_equal(upto, 10);
    open_table(&l2, &t2, 100); /* a restart now */
    assert_int_equal(t2.count, 10);
    keylog_close(&l2, &t2);
    keytable_free(&t2);
    assert_int_equal(rmdir(tmp_path), 0);
    commit(&l, &t, 11);
    assert_int_equal(keylog_write(&l, &t, &upto), 0); /* compacts this time */
    assert_int_equal(file_size(state_path), 16 + 11 * 16);
    keylog_close(&l, &t);
    keytable_free(&t);
}

static void refuses_a_foreign_file(void **state)
{
    (void)state;
    reset_state();
    FILE *f = fopen(state_path, "w");
    fputs("not a state file at all\n", f);
    fclose(f);
    struct keylog l;
    struct keytable t;
    char err[512];
    assert_int_equal(keytable_init(&t, 10, true), 0);
    assert_int_equal(keylog_open(&l, state_path, &t, count_warning, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a dedup state file"));
    keytable_free(&t);
    reset_state();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(insert_contains_duplicate),
        cmocka_unit_test(evicts_oldest_first),
        cmocka_unit_test(matches_a_reference_under_churn),
        cmocka_unit_test(expires_by_ttl),
        cmocka_unit_test(under_100_bytes_per_key_at_10m),
        cmocka_unit_test(key_specs_and_hashes),
        cmocka_unit_test(hash_spreads),
        cmocka_unit_test(state_survives_restart),
        cmocka_unit_test(torn_tail_is_ignored),
        cmocka_unit_test(log_compacts_into_snapshot),
        cmocka_unit_test(snapshot_leaves_out_keys_in_flight),
        cmocka_unit_test(write_is_visible_before_sync),
        cmocka_unit_test(compaction_follows_the_append),
        cmocka_unit_test(refuses_a_foreign_file),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
