/* handler_dedup - drops redelivered duplicates without voiding at-least-once:
 * a key is remembered (committed) only once the message that carried it is
 * delivered, which the engine reports through delivered() (sl_emit_tracked).
 *
 *   new key            passes; the key is in flight until its message is final
 *   key in flight      the duplicate waits; when the first is final it is
 *                      dropped (acked): delivered, or dead-lettered
 *   committed key      dropped (acked) at once
 *   no key             passes untouched (counted: no_key)
 *
 * A new key goes into the table of keys as it passes, so each message costs
 * one probe of that (large, cache-missing) table; the keys in flight are
 * also in a small table of their own, which is all delivered() needs to
 * touch when the message succeeds. A failed one is taken back out.
 *
 * A first message retried downstream keeps its key in flight; one dropped by
 * a later handler counts as delivered. One that ends in dead_letter is not
 * committed, so replaying the dead letters later passes through. Committed
 * keys are bounded by max_keys (oldest evicted) and ttl_s; with state_file
 * they survive restarts (keylog.c). Every worker shares one table under one
 * lock, taken once per batch, so any `workers` count is correct. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/sluice.h>

#include "dedup_key.h"
#include "inflight.h"
#include "keylog.h"
#include "keytable.h"

struct dedup {
    const struct sl_instance *inst;
    struct dedup_key key;
    uint32_t ttl_s;     /* 0: keys do not expire */
    pthread_mutex_t mu; /* guards everything below */
    struct keytable committed;
    struct inflight inflight;
    struct keylog log;
    bool persistent;
    atomic_bool log_failing; /* a state-file write failed: said once until it works */
    size_t held_reported;
    uint64_t evictions_reported, expirations_reported;
    struct sl_counter *c_dropped, *c_held, *c_in_flight, *c_waiting, *c_evicted, *c_expired,
        *c_no_key;
};

/* Per worker: what to do with each message of the batch once unlocked. */
enum action { PASS, TRACK, DROP, HOLD };
struct dedup_worker {
    struct dedup *d;
    uint8_t *act;
    uint64_t *hash;
    size_t cap;
};

static const struct sl_option dedup_options[] = {
    {.name = "key",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "what identifies a message: \"record.PATH\", \"header:NAME\", \"key\" (the message "
            "key) or \"payload\" (a hash of its bytes)"},
    {.name = "max_keys",
     .type = SL_OPT_INT,
     .def = "1000000",
     SL_RANGE(1, 1000000000),
     .doc = "keys remembered, those in flight included; the oldest are evicted first"},
    {.name = "ttl_s",
     .type = SL_OPT_INT,
     .def = "0",
     SL_RANGE(0, 2147483647),
     .doc = "forget a key this many seconds after its first message passed (0: never)"},
    {.name = "state_file",
     .type = SL_OPT_STRING,
     .def = "",
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "keep committed keys across restarts in this file (+ FILE.log); empty: memory only"},
    {0},
};

static uint32_t now_s(void)
{
    return (uint32_t)time(NULL);
}

/* For keylog: snapshots leave out the keys in flight. Caller holds mu. */
static bool key_in_flight(const void *arg, uint64_t hash)
{
    return inflight_find(arg, hash) != NULL;
}

static void log_warning(void *arg, const char *msg)
{
    sl_log(arg, SL_LOG_WARN, "%s", msg);
}

/* Bring the gauges and counters up to date; caller holds mu. */
static void publish_counts(struct dedup *d)
{
    /* Keys in flight are in the table but not committed yet. */
    size_t held = keytable_held(&d->committed);
    held = held > d->inflight.count ? held - d->inflight.count : 0;
    sl_counter_add(d->c_held, (int64_t)held - (int64_t)d->held_reported);
    d->held_reported = held;
    sl_counter_add(d->c_evicted, (int64_t)(d->committed.evictions - d->evictions_reported));
    d->evictions_reported = d->committed.evictions;
    sl_counter_add(d->c_expired, (int64_t)(d->committed.expirations - d->expirations_reported));
    d->expirations_reported = d->committed.expirations;
}

static void dedup_destroy(void *ctx)
{
    struct dedup *d = ctx;
    if (!d)
        return;
    if (d->persistent)
        keylog_close(&d->log, &d->committed);
    keytable_free(&d->committed);
    inflight_free(&d->inflight);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int dedup_init(struct sl_instance *inst, void **ctx)
{
    char err[600];
    struct dedup *d = calloc(1, sizeof(*d));
    if (!d) {
        sl_instance_error(inst, "out of memory");
        return SL_ERROR;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->inst = inst;
    *ctx = d; /* destroy frees it, also when init fails below */
    if (dedup_key_parse(&d->key, sl_opt_str(inst, "key"), err, sizeof(err)) < 0) {
        sl_instance_error(inst, "%s", err);
        return SL_ERROR;
    }
    /* ranges: the options table */
    int64_t max_keys = sl_opt_int(inst, "max_keys");
    d->ttl_s = (uint32_t)sl_opt_int(inst, "ttl_s");
    if (sl_instance_checking(inst))
        return SL_OK;
    const char *state = sl_opt_str(inst, "state_file");
    bool persistent = state && state[0];
    if (keytable_init(&d->committed, (size_t)max_keys, d->ttl_s || persistent) < 0 ||
        inflight_init(&d->inflight) < 0) {
        sl_instance_error(inst, "out of memory for max_keys = %lld", (long long)max_keys);
        return SL_ERROR;
    }
    if (persistent) {
        if (keylog_open(&d->log, state, &d->committed, log_warning, inst, err, sizeof(err)) < 0) {
            sl_instance_error(inst, "state_file: %s", err);
            return SL_ERROR;
        }
        d->persistent = true;
        d->log.in_flight = key_in_flight;
        d->log.in_flight_arg = &d->inflight;
        if (d->ttl_s)
            keytable_expire(&d->committed, now_s(), d->ttl_s);
        sl_log(inst, SL_LOG_INFO, "%s: %zu committed keys loaded", state,
               keytable_held(&d->committed));
    }
    d->c_dropped = sl_counter_get(inst, "duplicates_dropped");
    d->c_held = sl_counter_get(inst, "keys_held");
    d->c_in_flight = sl_counter_get(inst, "keys_in_flight");
    d->c_waiting = sl_counter_get(inst, "duplicates_waiting");
    d->c_evicted = sl_counter_get(inst, "evictions");
    d->c_expired = sl_counter_get(inst, "expired");
    d->c_no_key = sl_counter_get(inst, "no_key");
    d->evictions_reported = d->committed.evictions; /* loading is not evicting */
    d->expirations_reported = d->committed.expirations;
    publish_counts(d);
    return SL_OK;
}

static int dedup_worker_init(void *ctx, unsigned idx, void **wctx)
{
    (void)idx;
    struct dedup_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->d = ctx;
    *wctx = w;
    return SL_OK;
}

static void dedup_worker_destroy(void *wctx)
{
    struct dedup_worker *w = wctx;
    free(w->act);
    free(w->hash);
    free(w);
}

static int reserve(struct dedup_worker *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    uint8_t *act = realloc(w->act, n);
    if (act)
        w->act = act;
    uint64_t *hash = realloc(w->hash, n * sizeof(*hash));
    if (hash)
        w->hash = hash;
    if (!act || !hash)
        return -1;
    w->cap = n;
    return 0;
}

/* Decide under the lock; emit and release after it, so a full queue
 * downstream never blocks delivered() (which needs the lock to let the
 * outputs go on). */
static int dedup_process(void *wctx, struct sl_msg **msgs, size_t n, struct sl_emitter *out)
{
    struct dedup_worker *w = wctx;
    struct dedup *d = w->d;
    if (reserve(w, n) < 0)
        return SL_ERROR;
    int64_t no_key = 0, dropped = 0, held = 0, tracked = 0;
    /* Hash (and prefetch) outside the lock; 0 marks a message with no key. */
    for (size_t i = 0; i < n; i++) {
        uint64_t h;
        if (dedup_key_hash(&d->key, msgs[i], &h) < 0) {
            w->hash[i] = 0;
            no_key++;
            continue;
        }
        w->hash[i] = h ? h : 1; /* 0 marks an empty slot in the tables */
        keytable_prefetch(&d->committed, w->hash[i]);
    }
    uint32_t now = now_s();
    pthread_mutex_lock(&d->mu);
    if (d->ttl_s)
        keytable_expire(&d->committed, now, d->ttl_s);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = w->hash[i];
        if (!h) {
            w->act[i] = PASS;
            continue;
        }
        struct inflight_entry *e;
        uint64_t seq;
        bool existed;
        if (!keytable_insert(&d->committed, h, now, &seq)) {
            /* Held: committed, or its first message still in flight. */
            e = inflight_find(&d->inflight, h);
            if (!e) {
                w->act[i] = DROP;
                dropped++;
                continue;
            }
        } else if (!(e = inflight_add(&d->inflight, h, &existed))) {
            keytable_forget(&d->committed, h, seq); /* out of memory: untracked */
            w->act[i] = PASS;
            continue;
        } else if (!existed) {
            e->seq = seq;
            w->act[i] = TRACK;
            tracked++;
            continue;
        } else {
            /* In flight, but evicted from the table meanwhile (a max_keys
             * smaller than what is in flight): in again, as seq. */
            e->seq = seq;
        }
        w->act[i] = inflight_hold(&d->inflight, e, msgs[i]) == 0 ? HOLD : PASS;
        held += w->act[i] == HOLD;
    }
    publish_counts(d);
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        switch (w->act[i]) {
        case TRACK:
            sl_emit_tracked(out, msgs[i], w->hash[i]);
            break;
        case PASS:
            sl_emit(out, msgs[i]);
            break;
        case DROP:
            sl_msg_release(msgs[i]);
            break;
        default: /* HOLD: delivered() releases it */
            break;
        }
    }
    sl_counter_add(d->c_no_key, no_key);
    sl_counter_add(d->c_dropped, dropped);
    sl_counter_add(d->c_waiting, held);
    sl_counter_add(d->c_in_flight, tracked);
    return SL_OK;
}

/* Logs the first failure to write the state file (err: its errno, 0 for
 * none), and the first success after failures. Any thread. */
static void report_state_write(struct dedup *d, int err)
{
    bool failing = err != 0;
    if (atomic_load(&d->log_failing) == failing ||
        atomic_exchange(&d->log_failing, failing) == failing)
        return; /* nothing changed, or another thread said it */
    if (failing)
        sl_log(d->inst, SL_LOG_ERROR, "state_file: cannot write: %s (retrying)", strerror(err));
    else
        sl_log(d->inst, SL_LOG_INFO, "state_file: writing again");
}

/* A key committed: queued for the state file. Caller holds mu. */
static void log_key(struct dedup *d, uint64_t hash, uint32_t now)
{
    if (d->persistent && keylog_append(&d->log, hash, now) < 0)
        sl_log(d->inst, SL_LOG_ERROR, "out of memory queueing a key for the state file");
}

/* Ends a commit made under mu. The keys queued go to the log under the
 * lock, so they reach it in commit order and a kill -9 from here on keeps
 * them; then mu is released and the fdatasync (a machine crash) follows
 * outside it, so the other workers and outputs are not held up by it. */
static void log_and_unlock(struct dedup *d, uint32_t now)
{
    uint64_t upto = 0;
    int err = d->persistent && keylog_write(&d->log, &d->committed, &upto) < 0 ? errno : 0;
    if (d->ttl_s)
        keytable_expire(&d->committed, now, d->ttl_s);
    publish_counts(d);
    pthread_mutex_unlock(&d->mu);
    if (d->persistent) {
        if (!err && keylog_sync_to(&d->log, upto) < 0)
            err = errno;
        report_state_write(d, err);
    }
}

static void dedup_delivered(void *ctx, const struct sl_delivery *dv, size_t n)
{
    struct dedup *d = ctx;
    struct sl_msg **release = NULL;
    size_t n_release = 0, cap_release = 0;
    int64_t finished = 0;
    uint32_t now = now_s();
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        struct inflight_entry *e = inflight_find(&d->inflight, dv[i].cookie);
        if (!e)
            continue;
        /* A dead letter's key is taken back: replaying it must pass. */
        if (dv[i].status != SL_OK)
            keytable_forget(&d->committed, e->hash, e->seq);
        else
            log_key(d, e->hash, now);
        if (inflight_remove(&d->inflight, e, &release, &n_release, &cap_release) < 0)
            sl_log(d->inst, SL_LOG_ERROR, "out of memory: held duplicates stay unacknowledged");
        finished++;
    }
    /* Durable before the input may acknowledge the source (it hears after
     * this returns), so a restart never forgets a key whose message is acked. */
    log_and_unlock(d, now);
    for (size_t i = 0; i < n_release; i++)
        sl_msg_release(release[i]);
    free(release);
    sl_counter_add(d->c_in_flight, -finished);
    sl_counter_add(d->c_waiting, -(int64_t)n_release);
    sl_counter_add(d->c_dropped, (int64_t)n_release);
}

/* Keys whose messages an output found written after a crash, though this
 * handler never heard: committed now, and logged like any delivery, before
 * any input runs (so nothing is in flight yet). */
static void dedup_recovered(void *ctx, const uint64_t *cookies, size_t n)
{
    struct dedup *d = ctx;
    uint32_t now = now_s();
    size_t added = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        if (!keytable_insert(&d->committed, cookies[i], now, &seq))
            continue; /* held already: the log has it */
        added++;
        log_key(d, cookies[i], now);
    }
    log_and_unlock(d, now);
    sl_log(d->inst, SL_LOG_INFO,
           "%zu keys read back from an output (written before a restart, unheard), %zu of them "
           "new: committed",
           n, added);
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_HANDLER,
    .name = "dedup",
    .version = SLUICE_VERSION,
    .doc = "drop duplicates; a key is remembered only once its message is delivered",
    .options = dedup_options,
    .init = dedup_init,
    .destroy = dedup_destroy,
    .worker_init = dedup_worker_init,
    .worker_destroy = dedup_worker_destroy,
    .process = dedup_process,
    .delivered = dedup_delivered,
    .recovered = dedup_recovered,
};
