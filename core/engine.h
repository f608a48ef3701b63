/* engine.h - engine internals shared by the core files; never installed. */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include <libconfig.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "sluice/sluice.h"

/* ---- the engine's side of a message ---- */
/* The pool hands out every message as one of these; plugins see only pub,
 * the rest is the engine's (sl__msg_private gets there from pub). */
struct sl__ack;
struct sl__msg {
    struct sl_msg pub;
    struct sl__msg *next; /* a worker's retry list */
    struct sl__ack *ack;  /* NULL when the input does not track acks */
    int64_t due_ns;       /* when a waiting retry is due */
    /* Handler stages only, for the dropped count: 1 + the message's index in
     * the batch being processed (0: not one of its inputs), and the index
     * of the input a derived message descends from. */
    uint32_t batch_slot;
    uint32_t lineage_slot;
    int64_t read_ns;    /* sl__coarse_now_ns() when its input handed it over */
    uint32_t batch_gen; /* the worker's batch_gen then: a message a handler
                           keeps past its call cannot touch a later batch */
    /* A dead letter: the instance it failed at, whose dead_lettered count
     * goes up once the dead-letter output has confirmed it. */
    struct sl_instance *dead_from;
    /* The incoming traceparent's span (the parent of our spans) and flags. */
    struct {
        uint8_t parent_span_id[8];
        uint8_t flags;
        bool has_parent;
    } trace;
};

static inline struct sl__msg *sl__msg_private(const struct sl_msg *m)
{
    return (struct sl__msg *)((char *)m - offsetof(struct sl__msg, pub));
}

/* ---- batches and pools (pool.c) ---- */
struct sl_batch {
    struct sl_batch *next;
    uint32_t n;
    uint32_t cap;
    struct sl_msg *msgs[];
};

/* Size every pooled batch can hold; call once before any batch is made. */
void sl__pool_init(uint32_t batch_cap);
uint32_t sl__pool_batch_cap(void);
/* A clean message from this thread's cache. Aborts on out of memory. */
struct sl_msg *sl__msg_alloc(void);
/* Reset and return a message to the pool; does not touch its ack. */
void sl__msg_recycle(struct sl_msg *m);
struct sl_batch *sl__batch_alloc(void);
void sl__batch_free(struct sl_batch *b);
/* Hand this thread's cached messages back to the shared pool. */
void sl__pool_thread_exit(void);
/* Messages ever created (grows only while the pool warms up). */
uint64_t sl__pool_msgs_created(void);
void sl__pool_destroy(void);

/* ---- bounded MPMC queue of batches (queue.c) ---- */
struct sl__queue;
/* Named name + suffix (metrics, logs). NULL when out of memory. */
struct sl__queue *sl__queue_new(const char *name, const char *suffix, uint32_t slots);
void sl__queue_free(struct sl__queue *q);
/* Every producer registers before start and says done once; the queue
 * closes when the last one is done. */
void sl__queue_add_producer(struct sl__queue *q);
void sl__queue_producer_done(struct sl__queue *q);
/* Blocks while full. */
void sl__queue_push(struct sl__queue *q, struct sl_batch *b);
/* Waits up to timeout_ns (<0: forever). NULL on timeout or when closed and
 * empty (*closed set). */
struct sl_batch *sl__queue_pop(struct sl__queue *q, int64_t timeout_ns, bool *closed);
bool sl__queue_writable(struct sl__queue *q);
bool sl__queue_wait_writable(struct sl__queue *q, int timeout_ms);
bool sl__queue_empty(struct sl__queue *q);
uint32_t sl__queue_fill_pct(struct sl__queue *q);
const char *sl__queue_name(const struct sl__queue *q);

/* Append printf-style text of any length (message.c); keeps b NUL-terminated.
 * Returns 0, or -1 out of memory. */
int sl__buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- time, ids and memory (util.c) ---- */
int64_t sl__now_ns(void);
uint64_t sl__rand64(void);
uint64_t sl__hash(const void *p, size_t n);
/* n bytes from 2n lower-case hex digits at s (message.c). Returns 0, or -1
 * at the first character that is not one. */
int sl__unhex(const char *s, uint8_t *out, size_t n);
/* Zeroed memory for n items that one thread writes all the time: aligned to
 * and padded out to whole cache lines, so that no other allocation (written
 * by another thread) shares a line with it. Free with free(). */
void *sl__calloc_own_lines(size_t n, size_t size);

/* ---- service manager (notify.c): sd_notify READY=1 / RELOADING=1 /
 * STOPPING=1; no-ops without libsystemd or outside systemd. ---- */
void sl__notify_ready(void);
/* After a reload call sl__notify_ready() again. */
void sl__notify_reloading(void);
void sl__notify_stopping(void);

/* ---- log (log.c) ---- */
void sl__log_set_level(int level);
int sl__log_parse_level(const char *name);
/* Thins out a flood of similar lines: the first SL__LOG_FIRST pass, then one
 * in SL__LOG_EVERY. True when this one should be logged; *suppressed is set
 * to the lines skipped since the last one that passed. Thread-safe. At
 * debug level every line passes. */
enum { SL__LOG_FIRST = 100, SL__LOG_EVERY = 1000 };
struct sl__throttle {
    _Atomic uint64_t seen;
    _Atomic uint64_t suppressed;
};
bool sl__throttle_pass(struct sl__throttle *t, uint64_t *suppressed);
enum sl__log_format { SL__LOG_TEXT, SL__LOG_JSON, SL__LOG_LOGFMT };
void sl__log_set_format(int format);
/* "text", "json" or "logfmt"; -1 for anything else. */
int sl__log_parse_format(const char *name);
/* Print the count of lines still held back by the rate limit (at exit). */
void sl__log_flush_suppressed(void);
/* sl_log without the per-call-site rate limit, for lines that are thinned
 * out by their caller already (sl__throttle). */
void sl__log_unlimited(const struct sl_instance *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* sl_log_msg without the per-call-site rate limit (see sl__log_unlimited). */
void sl__log_msg_unlimited(const struct sl_instance *inst, int level, const struct sl_msg *m,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- stats ---- */
struct sl__stats {
    _Atomic uint64_t in;
    _Atomic uint64_t out;
    _Atomic uint64_t dead;      /* sent to the dead-letter output */
    _Atomic uint64_t discarded; /* failed with no dead_letter configured */
    _Atomic uint64_t dropped;
    _Atomic uint64_t retried;
    _Atomic uint64_t errors;
};

/* A snapshot of counters: one instance's (sl__stats_read) or the run's
 * (sl__totals: in = read by the inputs, out = confirmed by the outputs, the
 * rest summed over every instance). The one place --stats, the final
 * summary and /metrics get their figures from (stats.c). */
struct sl__counts {
    uint64_t in, out, dead, discarded, dropped, retried;
    uint64_t unrouted; /* totals only */
};
struct sl_instance;
void sl__stats_read(const struct sl_instance *inst, struct sl__counts *c);

/* ---- instances (instance.c, options.c) ---- */
struct sl__pipeline;
struct sl_instance {
    const struct sl_plugin *plugin;
    int kind;
    char *name;
    char where[300];
    config_setting_t *setting;
    struct sl_arena arena; /* config tree lives here */
    struct sl_value *config;
    void *ctx;
    bool checking;
    bool error_reported; /* sl_instance_error printed the reason init failed */
    unsigned workers;
    bool ordered;
    unsigned max_attempts;
    uint32_t backoff_ms;
    uint32_t max_backoff_ms;
    uint32_t batch_size;
    uint32_t linger_ms;
    struct sl_instance *codec; /* inputs and outputs */
    char *match;               /* outputs */
    bool match_all;
    unsigned decode_workers; /* inputs */
    struct sl__pipeline *pl;
    struct sl__stats stats;
    /* inputs with ack tracking; while an input reads, up to 63 ahead per
     * input thread (sinks add in steps of 64, see admit in pipeline.c) */
    _Atomic uint64_t in_flight;
    unsigned input_index; /* inputs: the place in pl->inputs */
    /* inputs: read -> finished, observed by threads with no histograms of
     * their own (locked adds; pipeline.c allocates it) */
    struct sl__histo *input_latency_shared;
    pthread_mutex_t counters_mu;
    struct sl_counter *counters;
    /* sl_instance_set_ready: per worker, NULL until one reports itself down */
    pthread_mutex_t ready_mu;
    struct sl__unready *unready;
    /* handlers with recovered(): the mark header's name, and the cookies
     * outputs read back, gathered during their recover() (recovery.c) */
    char *mark_name;
    uint64_t *recovered;
    size_t n_recovered, cap_recovered;
};

/* Check a group against the plugin's options table and build inst->config.
 * Errors are printed as FILE:LINE: message. Returns 0 or -1. */
int sl__options_validate(struct sl_instance *inst, const char *const *common_keys);

/* ---- an output writing what an input reads (samefile.c) ---- */
/* The input (read before out) that reads the file one of out's writable-path
 * options names, with *path that option's value; NULL when there is none. */
const struct sl_instance *sl__input_reading_output(const struct sl__pipeline *pl,
                                                   const struct sl_instance *out,
                                                   const char **path);
/* Two writers of one file (two outputs, a state file and an output, two
 * state files): each would corrupt what the other writes. The instance read
 * before inst (or inst itself) one of whose writable-path options names the
 * same file as one of inst's; NULL when there is none. */
struct sl__clash {
    const char *mine, *theirs; /* the two options' names */
    const char *path;          /* as inst's option says it */
};
const struct sl_instance *sl__writer_clash(const struct sl__pipeline *pl,
                                           const struct sl_instance *inst, struct sl__clash *clash);
/* Whether path has glob(3) characters (* ? [): a pattern, not a name. */
bool sl__is_glob(const char *path);

/* ---- option checks (optcheck.c) ---- */
/* Whether a setting of the right type passes o's range, allowed values and
 * kind. Returns 0, or -1 with why = "must be ..." (no option name). */
int sl__option_check_value(const struct sl_option *o, const config_setting_t *s, char *why,
                           size_t n);
/* Whether a table entry is well-formed and its default passes its checks.
 * Returns 0, or -1 with why = what is wrong (no option name). */
int sl__option_table_check(const struct sl_option *o, char *why, size_t n);
/* The checks in words, for --list-plugins ("1..256", "one of: a, b"); "" if none. */
const char *sl__option_describe(const struct sl_option *o, char *buf, size_t n);

/* ---- addresses (address.c) ---- */
struct sl__address {
    char host[256]; /* without brackets; "" when none was given */
    uint16_t port;
    bool ipv6; /* written in brackets */
};
/* Parse "host:port", "[v6]:port" or ":port". Returns 0, or -1 with why set. */
int sl__address_parse(const char *s, struct sl__address *a, char *why, size_t whylen);
void sl__instance_free(struct sl_instance *inst);

/* ---- plugin loader (loader.c) ---- */
struct sl__loader;
struct sl__loader *sl__loader_new(const char *const *extra_dirs, size_t n_extra);
void sl__loader_free(struct sl__loader *l);
/* Find and load <kind>_<name>.so. On failure writes a message to err. */
const struct sl_plugin *sl__loader_get(struct sl__loader *l, int kind, const char *name, char *err,
                                       size_t errlen);
/* elf_check.c: 0 when path's ELF headers, mapped segments and section table
 * lie within the file; -1 with "path: ..." in err otherwise (a truncated .so
 * would raise SIGBUS inside dlopen). */
int sl__elf_check(const char *path, char *err, size_t errlen);
/* Validate an opened plugin descriptor; used by the loader and tests. */
int sl__plugin_check(const struct sl_plugin *p, const char *file, int kind, const char *name,
                     char *err, size_t errlen);
/* Every plugin file on the search path, once (an earlier directory wins),
 * sorted by kind then name; *found is malloc'd, the caller frees it. */
struct sl__found {
    int kind;
    char name[256];
};
size_t sl__loader_scan(struct sl__loader *l, struct sl__found **found);

/* ---- --list-plugins (plugin_list.c) ---- */
/* Print every plugin found, with its options and what the core checks in
 * them: as text, or (markdown) as the options reference in docs/options.md.
 * Returns how many loaded; refused files are listed with the reason. */
int sl__loader_list(struct sl__loader *l, FILE *out, bool markdown);
const char *sl__kind_prefix(int kind);
const char *sl__kind_name(int kind);

/* ---- acks (ack.c) ---- */
struct sl__ack;
/* A token for m, told to `input` when m and everything made from it is
 * final. The caller counts it in input->in_flight (the delivery side takes
 * it off). */
struct sl__ack *sl__ack_new(struct sl_instance *input, const struct sl_msg *m);
void sl__ack_ref(struct sl__ack *a);
/* Recovery marks (recovery.c): name the handlers' marks, then run every
 * output's recover(), handing what it read back to the handlers. Before
 * any input runs. Returns 0, or -1 when an output could not recover. */
int sl__recovery_run(struct sl__pipeline *pl);
/* Whether a's message is whole (one share, never split) and tracked by a
 * handler: then *by is that handler and *cookie its cookie. */
bool sl__ack_mark(const struct sl__ack *a, const struct sl_instance **by, uint64_t *cookie);
/* Drop one share; the last one tells the input. */
void sl__ack_unref(struct sl__ack *a, bool failed);
/* Deliver this thread's batched notifications now. */
void sl__ack_flush(void);
/* Free the ack tokens cached by this thread / all of them at exit. */
void sl__ack_thread_exit(void);
void sl__ack_destroy(void);

/* ---- messages (message.c) ---- */
/* A full copy (payload, record, headers...) sharing the ack. */
struct sl_msg *sl__msg_clone(const struct sl_msg *m);
/* Final release: ack share done (failed or not), memory back to the pool. */
void sl__msg_finish(struct sl_msg *m, bool failed);

/* ---- stages, workers, emitters (stage.c, emitter.c) ---- */
enum sl__stage_kind { SL__STAGE_DECODE, SL__STAGE_HANDLER, SL__STAGE_OUTPUT, SL__STAGE_DLQ };

/* The queues in front of one stage: one shared, or one per worker (ordered). */
struct sl__link {
    unsigned nq;
    struct sl__queue **q;
    bool by_key;
    uint32_t batch_size;
    uint32_t linger_ms;
    struct sl_instance *inst; /* the consuming stage's instance (outputs: match) */
};

struct sl__worker;
struct sl_emitter {
    struct sl__pipeline *pl;
    struct sl__worker *w;      /* NULL for an input sink */
    struct sl__link *link;     /* next stage, or NULL: route to the outputs */
    unsigned nslots;           /* queues we may push to */
    struct sl__queue **slot_q; /* per slot */
    struct sl__link **slot_link;
    unsigned *out_base;     /* routing: first slot of each output */
    size_t *matched;        /* routing scratch: outputs that match (n_outputs) */
    struct sl_msg **copies; /* routing scratch: one copy per matched output */
    bool no_dlq;            /* the dead-letter workers themselves */
    struct sl_batch **pend;
    int64_t *pend_since;
    unsigned rr;               /* round robin for unkeyed ordered dispatch */
    struct sl_batch *dlq_pend; /* dead letters waiting */
    uint64_t emitted;
};

struct sl__stage {
    int kind;
    char *label;               /* owner's name, + ".decode" for a decode stage */
    struct sl_instance *inst;  /* decode: the codec instance */
    struct sl_instance *owner; /* decode: the input; else inst */
    struct sl__link in;
    struct sl__link *next; /* NULL: route to outputs */
    unsigned nworkers;
    struct sl__worker *workers;
};

/* ---- histograms (histogram.c): one writer each, merged on scrape ---- */
enum { SL__HISTO_BUCKETS = 17 }; /* 16 bounds + the +Inf bucket */
enum sl__histo_kind { SL__HISTO_SECONDS, SL__HISTO_SIZE };
struct sl__histo {
    _Atomic uint64_t buckets[SL__HISTO_BUCKETS]; /* not cumulative */
    _Atomic uint64_t sum;                        /* ns or messages */
};
struct sl__histo_snapshot {
    uint64_t buckets[SL__HISTO_BUCKETS];
    uint64_t count, sum;
};
/* The upper bounds (ns for SECONDS), SL__HISTO_BUCKETS - 1 of them. */
const uint64_t *sl__histo_bounds(enum sl__histo_kind kind);
/* Only the histogram's owner thread may call this. */
void sl__histo_observe(struct sl__histo *h, enum sl__histo_kind kind, uint64_t value);
/* Any thread (locked adds): for the rare thread without histograms of its own. */
void sl__histo_observe_shared(struct sl__histo *h, enum sl__histo_kind kind, uint64_t value);
/* Add h to into (any thread; a concurrent observe may be half seen). */
void sl__histo_merge(struct sl__histo_snapshot *into, const struct sl__histo *h);
/* CLOCK_MONOTONIC_COARSE (a few ms resolution, a few ns to read). */
int64_t sl__coarse_now_ns(void);

/* Aligned: a stage's workers sit in one array, each written by its own
 * thread for every message; no two may share a cache line. */
struct sl__worker {
    _Alignas(64) struct sl__stage *stage;
    struct sl__histo batch_sizes;    /* messages per batch this worker ran */
    struct sl__histo batch_seconds;  /* time the stage took per batch */
    struct sl__histo latency;        /* outputs: read by the input -> confirmed here */
    struct sl__histo *input_latency; /* per input: read -> finished, when finished here */
    unsigned idx;
    pthread_t thread;
    void *wctx;       /* plugin worker context */
    void *codec_wctx; /* output: encoder; decode: decoder */
    struct sl_emitter em;
    struct sl__msg *retry; /* sorted by due_ns */
    size_t n_retry;
    uint64_t outstanding; /* output: written, not yet confirmed */
    uint64_t confirmed;   /* output: confirmed, not yet added to stats */
    bool write_failed;    /* output: write() failed fatally; stop waiting for confirmations */
    uint8_t *slot_state;  /* handler: per input of the current batch, SLOT_* flags */
    uint32_t batch_gen;   /* handler: counts batches processed */
    struct sl__ordered *ordered; /* ordered = true (handler, output): keys held back */
    bool started;
};

/* next: forward there; else route to the outputs when route is true, else
 * emit nothing (outputs: only dead letters). */
int sl__emitter_init(struct sl_emitter *e, struct sl__pipeline *pl, struct sl__link *next,
                     bool route);
void sl__emitter_fini(struct sl_emitter *e);
/* Route or forward one message. */
void sl__emitter_put(struct sl_emitter *e, struct sl_msg *m);
/* Push partial batches: all (force) or those past their linger. Returns the
 * nearest linger deadline left (ns, INT64_MAX if none). */
int64_t sl__emitter_flush(struct sl_emitter *e, bool force);
/* Register as producer of every queue this emitter may push to. */
void sl__emitter_add_producer(struct sl_emitter *e);
void sl__emitter_producer_done(struct sl_emitter *e);
/* Queue a dead letter (headers set) for the dead-letter output. */
void sl__emitter_put_dead(struct sl_emitter *e, struct sl_msg *m);

/* ---- per-key order across retries (ordered.c), one per worker of an
 * ordered handler or output stage ---- */
struct sl__ordered;
struct sl__ordered *sl__ordered_new(void);
void sl__ordered_free(struct sl__ordered *o);
/* True when m's key is held back by an earlier message waiting for a retry:
 * m is parked behind it (the worker owns it until sl__ordered_release). */
bool sl__ordered_park(struct sl__ordered *o, struct sl_msg *m);
/* m went into the retry list / came out of it to be run again. */
void sl__ordered_retrying(struct sl__ordered *o, struct sl_msg *m);
void sl__ordered_retry_due(struct sl__ordered *o, struct sl_msg *m);
/* Up to cap parked messages whose key is free again, at most one per key
 * (the oldest). Returns how many; call again after running them. */
size_t sl__ordered_release(struct sl__ordered *o, struct sl_msg **out, size_t cap);
/* How many of msgs, from the first, have no key in common. */
size_t sl__ordered_distinct_prefix(const struct sl_msg *const *msgs, size_t n);

/* ---- the one failure path (failure.c) ---- */
/* m failed at `stage` (counted on inst): one more attempt; then retried by
 * e's worker when transient and attempts < max_attempts, else dead-lettered
 * through e (or discarded when there is no dead_letter). Takes m. */
void sl__failure(struct sl_emitter *e, struct sl_instance *inst, const char *stage,
                 struct sl_msg *m, const char *error, bool transient);

/* A handler worker released m (sl_msg_release); counts it as dropped when
 * it is an input of the batch and nothing derived from it went on. */
void sl__worker_released(struct sl__worker *w, struct sl_msg *m);
int sl__stage_start(struct sl__stage *s);
void sl__stage_join(struct sl__stage *s);

/* ---- tracing (trace.c, trace_export.c) ---- */
/* True only while spans are exported: every hook sits behind this one
 * predictable branch. Set before the stages start, cleared after they end. */
extern bool sl__tracing;
/* Read and check the top-level `tracing` group (absent: tracing off).
 * Errors as FILE:LINE. Returns 0 or -1. */
int sl__trace_configure(const config_setting_t *root, const char *path);
/* Start the exporter when tracing is configured. Returns 0 or -1. */
int sl__trace_start(const struct sl__pipeline *pl);
/* Flush (bounded), stop the exporter and log what was exported/dropped. */
void sl__trace_finish(void);
/* Keep this message's spans? (sampled upstream, or by trace id ratio) */
bool sl__trace_sampled(const struct sl_msg *m);
/* A stage is about to run msgs: note each one's hop; an output's messages
 * get the span id their outgoing traceparent will name. Returns the start. */
uint64_t sl__trace_hop_begin(struct sl__worker *w, struct sl_msg **msgs, size_t n);
void sl__trace_hop_end(struct sl__worker *w, uint64_t start);
/* m failed at stage: its hop span is kept and marked failed (or, outside a
 * hop, a span of its own is sent). */
void sl__trace_failed(struct sl__worker *w, const struct sl_instance *inst, const char *stage,
                      const struct sl_msg *m, const char *error);
/* The trace id as 32 lower-case hex digits. */
void sl__trace_id_hex(const struct sl_msg *m, char out[33]);

/* ---- around the parser (config_env.c) ---- */
/* Relative @include paths resolve against path's directory. */
void sl__config_set_include_dir(config_t *cfg, const char *path);
/* ${VAR} and ${VAR:-default} in every string value; errors as FILE:LINE.
 * Returns 0 or -1. */
int sl__config_expand_env(config_t *cfg, const char *path);

/* ---- pipeline (pipeline.c, config.c) ---- */
struct sl_input_sink {
    struct sl_emitter em;
    struct sl_instance *inst;
    struct sl__pipeline *pl;
    void *wctx;
    pthread_t thread;
    bool started;
    int rc;
    uint64_t uncounted;              /* read, not yet added to stats.in */
    uint64_t unpublished_out;        /* passed on, not yet added to stats.out */
    uint32_t in_flight_credit;       /* added to inst->in_flight ahead, not yet used */
    struct sl__histo *input_latency; /* per input, as a worker's */
};

/* What happens to a message that fails for good when there is no dead_letter. */
/* Inside Kubernetes' default 30 s grace period, and past the Kafka input's own
 * bound for a stop (drain_timeout_ms 20 s + 5 s for the commit and leave). */
#define SL__STOP_TIMEOUT_MS_DEFAULT 28000

enum sl__failure_mode {
    SL__FAILURE_UNSET = 0, /* as discard, but --check warns and the exit code is 2 */
    SL__FAILURE_DISCARD,   /* failure = "discard": logged, counted, acknowledged */
    SL__FAILURE_STOP,      /* failure = "stop": not acknowledged; the pipeline stops, exit 2 */
};

struct sl__pipeline {
    char *name;
    char *path;
    config_t cfg;
    bool cfg_loaded;
    bool checking;
    struct sl__loader *loader;
    uint32_t queue_capacity;
    uint32_t batch_size;
    uint32_t linger_ms;
    unsigned max_attempts;
    uint32_t backoff_ms;
    uint32_t max_backoff_ms;
    struct sl_instance **inputs, **handlers, **outputs, *dlq;
    size_t n_inputs, n_handlers, n_outputs;
    struct sl_instance **all;
    size_t n_all;
    struct sl__stage **stages;
    size_t n_stages;
    struct sl__link *first;        /* handler 1's link, or NULL: inputs route */
    struct sl__link **out_links;   /* per output */
    struct sl__link *dlq_link;     /* NULL when no dead_letter is configured */
    struct sl__link **input_links; /* per input: decode link or first */
    struct sl__stage *dlq_stage;
    struct sl_input_sink **sinks;
    size_t n_sinks;
    _Atomic bool stopping;
    _Atomic bool ready; /* /readyz: every stage started, not stopping, no fatal error */
    _Atomic int running_threads;
    _Atomic uint64_t unrouted;
    int failure_mode; /* enum sl__failure_mode */
    /* After a stop signal, how long the drain may take before the process
     * exits 2 with what is still in flight unacknowledged; 0: no limit. */
    uint32_t stop_timeout_ms;
    /* failure lines: dead-lettered, discarded, dead-letter write retried */
    struct sl__throttle log_retry, log_dead, log_discarded, log_dlq_retry;
    int64_t started_ns;
    struct sl__stats_mark {
        uint64_t in, out;
        int64_t ns;
    } stats_mark; /* the previous --stats line */
    char *metrics_listen;
    struct MHD_Daemon *metrics;
    _Atomic int fatal;
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
};

/* Parse, validate, load plugins, init instances. Prints errors. NULL on error. */
struct sl__pipeline *sl__pipeline_load(const char *path, bool checking);
int sl__pipeline_start(struct sl__pipeline *pl);
void sl__pipeline_stop(struct sl__pipeline *pl);
/* Wait until every thread finished or timeout; true when finished. */
bool sl__pipeline_wait(struct sl__pipeline *pl, int timeout_ms);
void sl__pipeline_reload(struct sl__pipeline *pl);
void sl__pipeline_free(struct sl__pipeline *pl);
void sl__pipeline_thread_done(struct sl__pipeline *pl);
void sl__totals(struct sl__pipeline *pl, struct sl__counts *t);
/* The --stats line: rates since the previous line, or over the whole run
 * when final. Main thread only. */
void sl__stats_line(struct sl__pipeline *pl, FILE *out, bool final);
/* The loaded pipeline as Graphviz DOT (graph.c); never fails. */
void sl__graph_print(const struct sl__pipeline *pl, FILE *out);
/* Whether every instance's workers are connected (readiness.c); appends a
 * "NAME: reason" line to why for each one that is not. Any thread. */
bool sl__readiness(struct sl__pipeline *pl, struct sl_buf *why);
/* Prometheus endpoint (metrics.c); start is a no-op without metrics.listen. */
struct MHD_Daemon;
int sl__metrics_start(struct sl__pipeline *pl);
void sl__metrics_stop(struct sl__pipeline *pl);
/* Walking plugin counters (stats.c); caller holds the instance's counters_mu. */
struct sl_counter *sl__counter_next(struct sl_counter *c);
const char *sl__counter_name(const struct sl_counter *c);
int64_t sl__counter_value(struct sl_counter *c);

extern _Thread_local struct sl__worker *sl__current_worker;
/* The running worker's or input sink's per-input read-to-finished
 * histograms (pl->n_inputs of them); NULL on any other thread. */
extern _Thread_local struct sl__histo *sl__input_latency;

#endif
