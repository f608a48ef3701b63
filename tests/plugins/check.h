/* check.h - contexts of the engine-test plugins (in_seq, handler_failsome,
 * out_check, handler_track); the tests read them through sl_instance.ctx. */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* in_seq: emits offsets 0..count-1 and checks every delivery report. */
struct seq_in {
    uint64_t count;
    uint64_t keys;         /* option: key "k<offset % keys>"; 0: key is the offset */
    uint64_t fail_at;      /* option: run() fails after this many (0: never) */
    uint64_t reject_every; /* option: sl_sink_reject offsets % n == 5 (0: none) */
    bool lockstep;         /* option: wait for each message's delivery before the next */
    atomic_bool stop;
    _Atomic uint64_t emitted;
    _Atomic uint64_t delivered_ok;
    _Atomic uint64_t delivered_err;
    _Atomic uint64_t duplicates; /* a cookie reported twice */
    _Atomic uint64_t bad;        /* a cookie/offset we never emitted */
    _Atomic uint8_t *seen;       /* per offset: 0 open, 1 ok, 2 dead-lettered */
    /* Set by a test: a handler's per-offset record (track_handler.seen)
     * that must be written before this input hears of that offset. */
    _Atomic uint8_t *heard_first;
    _Atomic uint64_t early; /* offsets this input heard of first */
};

enum { CHECK_KEYS = 64 };

/* out_check: counts what it confirms and checks order and dead-letter headers. */
struct sl_instance;
struct check_out {
    const struct sl_instance *inst;
    _Atomic uint64_t n;
    _Atomic uint64_t order_errors;   /* an offset below the one before it */
    _Atomic uint64_t dead_ok;        /* dead letters with the expected headers */
    _Atomic uint64_t dead_bad;       /* dead letters without them */
    _Atomic uint64_t children;       /* payload "child" (made by sl_msg_derive) */
    int64_t last_offset;             /* unkeyed messages */
    int64_t last_by_key[CHECK_KEYS]; /* keys "k<n>": order is kept per key */
    int64_t retry_every;             /* option: SL_RETRY offset % n == 3, first try only */
    int64_t refuse_every;            /* option: SL_ERROR offset % n == 4 */
    bool retry_first;                /* option: every message's first try gets SL_RETRY */
    bool retry_always;               /* option: every try gets SL_RETRY */
    int64_t fatal_at;                /* option: write() fails fatally at this offset (-1: never),
                                        leaving it and the rest of the batch unconfirmed */
    _Atomic uint64_t records;        /* messages with a decoded record */
    _Atomic uint64_t encoded_bad;    /* record {"seq": N} not encoded as "seq=N" */
    bool marks;                      /* option: check recovery marks (sl_msg_mark) */
    _Atomic uint64_t marked;         /* marked "x-sluice-mark.track", value = its offset */
    _Atomic uint64_t mark_bad;       /* marked otherwise */
    _Atomic uint64_t marked_part;    /* marked, yet a part or a copy (payload "child") */
    const char *expect_error;        /* option: x-sluice-error every message must carry */
    const char *expect_stage;
    const char *expect_attempts;
};

/* handler_track: what its delivered() heard, per offset (sl_emit_tracked). */
struct track_handler {
    uint64_t count;
    _Atomic uint64_t passed;
    _Atomic uint64_t ok;
    _Atomic uint64_t err;
    _Atomic uint64_t duplicates; /* an offset reported twice */
    _Atomic uint64_t bad;        /* an offset past count */
    _Atomic uint8_t *seen;       /* per offset: 0 open, 1 ok, 2 dead-lettered */
    _Atomic uint64_t recovered;  /* cookies handed to recovered() */
    uint64_t recovered_sum;      /* their sum (main thread) */
};

#endif
