/* sluice/plugin.h - the plugin SDK: descriptor, options, and the host calls plugins use. */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/message.h"
#include "sluice/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A plugin built for another major version is refused at load. Minor versions
 * only append: a plugin with a minor <= the host's loads. Major 2: options
 * carry checks (struct sl_option grew), plugins declare max_workers.
 * Minor 1: source attributes (sl_msg_set_source_attr, appended to sl_msg).
 * Minor 2: sl_log_msg (log lines naming a message's trace id) and
 * sl_instance_set_ready (connections in /readyz), the option check
 * SL_CHECK_READABLE_GLOB. Minor 3: recovery marks (recover, recovered,
 * sl_msg_mark, sl_recovered), taken from spare. */
#define SL_ABI_MAJOR 2
#define SL_ABI_MINOR 3
/* Build signature: pointer and size_t widths. A mismatch is refused. */
#define SL_ABI_SIGNATURE ((uint32_t)(sizeof(void *) << 8 | sizeof(size_t)))

/* The one symbol a plugin .so exports. */
#define SL_PLUGIN_SYMBOL "sluice_plugin"
#ifdef __cplusplus
#define SL_PLUGIN_DEFINE                                                                           \
    extern "C" __attribute__((visibility("default"))) const struct sl_plugin sluice_plugin
#else
#define SL_PLUGIN_DEFINE __attribute__((visibility("default"))) const struct sl_plugin sluice_plugin
#endif

/* Status codes: 0 success, negative outcomes. */
enum sl_status {
    SL_OK = 0,
    SL_ERROR = -1,    /* permanent failure: the message goes to dead_letter */
    SL_AGAIN = -2,    /* would block (queue full) */
    SL_DECLINED = -3, /* rejected on purpose */
    SL_RETRY = -4,    /* transient failure: retry with backoff */
    SL_STOPPED = -5,  /* the pipeline is stopping */
};

enum sl_kind { SL_KIND_INPUT = 1, SL_KIND_CODEC, SL_KIND_HANDLER, SL_KIND_OUTPUT };

enum sl_opt_type {
    SL_OPT_STRING = 1,
    SL_OPT_INT,
    SL_OPT_BOOL,
    SL_OPT_DOUBLE,
    SL_OPT_LIST,  /* list or array of strings */
    SL_OPT_GROUP, /* a nested group, read with sl_opt_value */
    SL_OPT_ANY,   /* any setting, read with sl_opt_value */
};

/* What a value must be, beyond its type. The core checks it at `--check`
 * and at start, before init, and reports `FILE:LINE: message`; a plugin
 * never re-checks what its table declares. On a list option every item is
 * checked, and a string check or allowed values also refuse an empty list.
 * The string checks also refuse "", unless "" is the option's default
 * (meaning "off", as an empty state_file). */
enum sl_opt_check {
    SL_CHECK_NONE = 0,
    SL_CHECK_NONEMPTY,      /* string: not "" */
    SL_CHECK_READABLE_FILE, /* string: an existing file or FIFO this process can read */
    SL_CHECK_WRITABLE_PATH, /* string: a file to write; its directory must exist */
    SL_CHECK_ADDRESS,       /* string: "host:port", "[IPv6]:port"; port 1..65535 */
    SL_CHECK_REGEX,         /* string: a POSIX extended regular expression that compiles */
    SL_CHECK_NAME_OR_REGEX, /* string: a name, or a regex (as above) when it starts with ^ */
    SL_CHECK_DURATION_MS,   /* int: milliseconds, >= 0 */
    /* string: with none of the glob(3) characters * ? [, as
     * SL_CHECK_READABLE_FILE; with them, a pattern (whether it must match
     * something is the plugin's to say, in init); outputs writing a file it
     * matches are refused */
    SL_CHECK_READABLE_GLOB,
};

/* One entry of a plugin's options table; the table ends with {0}. Write
 * entries with designated initializers: {.name = "path", .type =
 * SL_OPT_STRING, .required = true, .check = SL_CHECK_READABLE_FILE, .doc =
 * "..."}. The same table drives `--check`, `--list-plugins` and the docs. */
struct sl_option {
    const char *name;
    int type;        /* enum sl_opt_type */
    const char *def; /* default as text ("100", "true"), NULL for none */
    bool required;
    const char *doc;
    int check;                  /* enum sl_opt_check */
    const char *const *allowed; /* strings: the accepted values, NULL-terminated; NULL: any */
    bool has_range;             /* ints and doubles: min <= value <= max */
    double min;
    double max;
    const void *spare[2]; /* zero; room to grow without breaking the ABI */
};

/* Range of a numeric option: {.name = "workers", ..., SL_RANGE(1, 64)}. */
#define SL_RANGE(lo, hi) .has_range = true, .min = (lo), .max = (hi)
/* No upper bound: SL_AT_LEAST(0) refuses negative values. */
#define SL_AT_LEAST(lo) SL_RANGE(lo, INFINITY)

struct sl_instance;   /* one configured use of a plugin; owned by the core */
struct sl_input_sink; /* where an input worker emits messages; one per input worker */
struct sl_emitter;    /* where a handler worker passes messages on; one per worker */

/* One delivered (or dead-lettered) message, handed back to its input. */
struct sl_delivery {
    uint64_t cookie;
    int32_t partition;
    int64_t offset;
    int status; /* SL_OK delivered; SL_ERROR dead-lettered (still final) */
};

/* The descriptor. The core reads it, never writes it; it must stay valid
 * for as long as the .so is loaded (the core never unloads plugins).
 *
 * Threads: init, destroy and reload run on the main thread; worker_init,
 * run, process, write, flush, poll and worker_destroy on the worker thread
 * they belong to; decode/encode on the decode or output worker that owns
 * the wctx; stop and delivered on any thread. A plugin without worker_init
 * gets ctx as wctx and must make its callbacks safe to run on several
 * workers at once. */
struct sl_plugin {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size; /* sizeof(struct sl_plugin) as the plugin saw it */
    uint32_t signature;   /* SL_ABI_SIGNATURE */
    int kind;             /* enum sl_kind */
    const char *name;
    const char *version;
    const char *doc;                 /* one line */
    const struct sl_option *options; /* ends with {0}; NULL: no options */
    /* Most workers one instance can run (the file input reads one stream:
     * 1). 0: no limit of the plugin's own. `workers` above it is refused
     * at --check with FILE:LINE. */
    unsigned max_workers;

    /* Every kind. init reads options and builds the shared context *ctx,
     * which the plugin owns and frees in destroy: called once when *ctx is
     * not NULL, also after an init that failed having set it. init must not
     * touch the network when sl_instance_checking() is true. On failure it
     * reports why with sl_instance_error() and returns SL_ERROR. */
    int (*init)(struct sl_instance *inst, void **ctx);
    void (*destroy)(void *ctx);
    /* Optional per-worker state; when set, kind callbacks get the wctx. The
     * plugin owns *wctx and frees it in worker_destroy. */
    int (*worker_init)(void *ctx, unsigned worker, void **wctx);
    void (*worker_destroy)(void *wctx);
    /* Optional: SIGHUP. Called on the main thread while workers run; must be
     * quick and hand the change to the workers itself. */
    void (*reload)(void *ctx);

    /* Input. run() is called once per worker thread and returns when the
     * source ends or stop() was called (0), or on fatal error (<0). An input
     * that sets delivered takes part in acknowledgement (at-least-once);
     * without it the core tracks no acks for this input. */
    int (*run)(void *wctx, struct sl_input_sink *sink);
    void (*stop)(void *ctx); /* any thread; makes run() return soon */
    /* Optional: messages fully delivered, in batches; d is valid only during
     * the call. When NULL, the engine does not track acks for this input.
     * Input: every message it emitted (d->cookie is m->cookie).
     * Handler: every message it passed with sl_emit_tracked() (d->cookie is
     * the cookie given there), once all that came of it is final: confirmed
     * by every output it matched, or by the dead-letter output (status
     * SL_ERROR), or dropped by a later handler (SL_OK). A message retried
     * downstream is not final yet. The handler hears before the input does.
     * Threads: any thread (often an output's, or a later handler's),
     * concurrently with process() and with other delivered() calls, so lock.
     * No engine lock is held; it may sl_msg_release() messages it held back,
     * but must not block for long or emit. */
    void (*delivered)(void *ctx, const struct sl_delivery *d, size_t n);

    /* Codec. decode sets m->record (allocated in m->arena); encode appends
     * to out. Both return 0, or SL_ERROR with a message in err. A codec with
     * neither passes payloads through and serves inputs and outputs alike; a
     * codec with only encode is refused on an input, one with only decode on
     * an output (at --check, with FILE:LINE). */
    int (*decode)(void *wctx, struct sl_msg *m, char *err, size_t errlen);
    int (*encode)(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err, size_t errlen);

    /* Handler. For each message: sl_emit() it (or derived ones), or
     * sl_msg_release() it (drop), or sl_fail() it; the array itself stays the
     * core's. Returns 0, <0 is fatal. */
    int (*process)(void *wctx, struct sl_msg **msgs, size_t n, struct sl_emitter *out);

    /* Output. write() takes the messages; for each, the plugin calls
     * sl_out_done() on the worker thread, in write(), poll() or flush(); until
     * then the message is the plugin's to read (not to free). flush()
     * confirms everything outstanding before it returns (drain). poll()
     * serves asynchronous confirmations; called when idle. When any of the
     * three returns, the engine has told the inputs (and tracking handlers)
     * about every message it confirmed. */
    int (*write)(void *wctx, struct sl_msg **msgs, size_t n);
    int (*flush)(void *wctx);
    int (*poll)(void *wctx);

    /* Recovery after a crash (ABI 2.3). A kill -9 can come after an output
     * wrote a message and before the handler that tracks it heard (dedup's
     * key not yet recorded): the source sends it again and, unknown to the
     * handler, it passes again. An output that can read back what it wrote
     * closes that window: it writes each message's mark (sl_msg_mark) with
     * it, and recover() reads back what was written since the handlers last
     * heard, handing every mark found to sl_recovered().
     * Output, optional: called once, on the main thread, after every init
     * and worker_init and before any input runs. Returns 0, or SL_ERROR
     * (said why with sl_log) to stop the start. */
    int (*recover)(void *ctx);
    /* Handler, optional: cookies it passed with sl_emit_tracked() whose
     * messages an output found written (the handler never heard, the
     * process having died first): treat them as delivered (SL_OK). Called
     * on the main thread before any input runs, once per recovering output.
     * A handler with recovered() gets its marks written by outputs that
     * recover. */
    void (*recovered)(void *ctx, const uint64_t *cookies, size_t n);

    void *spare[6]; /* room to grow without breaking the ABI */
};

/* Convenience for the header fields. */
#define SL_PLUGIN_HEADER                                                                           \
    .abi_major = SL_ABI_MAJOR, .abi_minor = SL_ABI_MINOR, .struct_size = sizeof(struct sl_plugin), \
    .signature = SL_ABI_SIGNATURE

/* ---- options and the instance ----
 * Every sl_opt_* / sl_instance_* call may be made from any thread once init
 * has been called: the config is read-only from then on. Strings and values
 * returned belong to the instance and live until destroy returns; do not
 * free them. A value has passed its table's checks before init runs. */

/* Value as set, or the default, or NULL. */
const char *sl_opt_str(const struct sl_instance *inst, const char *name);
int64_t sl_opt_int(const struct sl_instance *inst, const char *name);
bool sl_opt_bool(const struct sl_instance *inst, const char *name);
double sl_opt_double(const struct sl_instance *inst, const char *name);
/* List options: count, and item i (NULL past the end). */
size_t sl_opt_list_len(const struct sl_instance *inst, const char *name);
const char *sl_opt_list_item(const struct sl_instance *inst, const char *name, size_t i);
/* Any option as a value tree (groups become maps), or NULL if unset. */
const struct sl_value *sl_opt_value(const struct sl_instance *inst, const char *name);
/* The instance's whole config group as a map. */
const struct sl_value *sl_instance_config(const struct sl_instance *inst);
const char *sl_instance_name(const struct sl_instance *inst);
unsigned sl_instance_workers(const struct sl_instance *inst);
/* Where the instance was configured: "pipeline.conf:12". */
const char *sl_instance_where(const struct sl_instance *inst);
/* True during `--check`: validate, compile, but start nothing. */
bool sl_instance_checking(const struct sl_instance *inst);
/* Why init (or worker_init) cannot go on, for a problem the options table
 * cannot express (a script that does not compile, two options that clash).
 * Prints "FILE:LINE: NAME: message" on stderr, FILE:LINE being where the
 * instance is configured; the core then adds nothing, so each problem is
 * reported once. Main thread, during init or worker_init; return SL_ERROR
 * after it. */
void sl_instance_error(const struct sl_instance *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Readiness (/readyz): whether worker `worker` (the index worker_init got;
 * 0 without workers) is connected to its broker. Every worker starts ready;
 * a plugin with connections reports false when one is lost or not made yet,
 * with a reason (copied; shown on /readyz), and true once it is up again.
 * /readyz answers 503 while any worker of any instance is down. Any thread;
 * it takes a lock: call it when the state changes, not per message. ABI 2.2. */
void sl_instance_set_ready(const struct sl_instance *inst, unsigned worker, bool ready,
                           const char *reason);

/* ---- logging ---- */
enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };
/* One line on stderr ("time level NAME: message"), written whole even when
 * threads log at once. Any thread. inst may be NULL (the line says "sluice"). */
void sl_log(const struct sl_instance *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* sl_log for a line about one message (it failed, it is odd): the line also
 * names m's trace id (text: " trace_id=HEX" at the end; json and logfmt: a
 * trace_id field), so it can be matched with the dead letter and the trace.
 * Any thread; m is only read. ABI 2.2. */
void sl_log_msg(const struct sl_instance *inst, int level, const struct sl_msg *m, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
/* Whether sl_log at this level prints anything: skip costly formatting. Any thread. */
bool sl_log_enabled(int level);

/* ---- counters (shown by --stats and metrics) ----
 * sl_counter_get finds or creates the instance's counter by name. Any
 * thread; it takes a lock, so look a name up once and keep the pointer. The
 * counter lives as long as the instance. NULL when out of memory.
 * sl_counter_add is lock-free, any thread; a NULL counter is ignored. */
struct sl_counter;
struct sl_counter *sl_counter_get(const struct sl_instance *inst, const char *name);
void sl_counter_add(struct sl_counter *c, int64_t n);

/* ---- input side: the input worker thread that owns the sink only ---- */
/* A fresh message from the worker's pool; never NULL (aborts on OOM). The
 * input owns it until sl_sink_emit or sl_sink_reject takes it. */
struct sl_msg *sl_sink_msg(struct sl_input_sink *s);
/* Hand a message to the pipeline; the pipeline owns it from now on. Blocks
 * while the next queue is full. Returns 0, or SL_STOPPED when stopping (the
 * message is still taken). */
int sl_sink_emit(struct sl_input_sink *s, struct sl_msg *m);
/* Push the partial batch now. Call before blocking on the source. */
void sl_sink_flush(struct sl_input_sink *s);
/* False when the next queue is full: an input that can pause its source
 * (Kafka partitions) should, then wait with sl_sink_wait(). */
bool sl_sink_writable(struct sl_input_sink *s);
/* Wait up to timeout_ms for room downstream. True if writable. */
bool sl_sink_wait(struct sl_input_sink *s, int timeout_ms);
/* True once the pipeline is stopping (a signal): finish up and return. */
bool sl_sink_stopping(const struct sl_input_sink *s);
/* The input cannot hand this message on (oversize, unreadable): send it
 * straight to dead_letter with `error` (copied); it still counts as read.
 * The pipeline owns the message from now on. */
void sl_sink_reject(struct sl_input_sink *s, struct sl_msg *m, const char *error);

/* ---- handler side: inside process(), on its worker thread ---- */
/* Pass a message on to the next stage, which owns it from now on. */
void sl_emit(struct sl_emitter *e, struct sl_msg *m);
/* Pass a message on, and have the handler's delivered() callback told, with
 * this cookie, once the message (with every copy and part made of it later)
 * is final. Same as sl_emit() for a handler without delivered(). */
void sl_emit_tracked(struct sl_emitter *e, struct sl_msg *m, uint64_t cookie);
/* The message failed at this stage: retried per the stage's retry policy,
 * then sent to dead_letter with `error` (copied) in x-sluice-error. The
 * core owns the message from now on. */
void sl_fail(struct sl_emitter *e, struct sl_msg *m, const char *error);

/* ---- output side ---- */
/* Confirm (SL_OK), retry later (SL_RETRY), or dead-letter (SL_ERROR) one
 * message that write() took; the core owns it again once this returns.
 * Worker thread only, in write(), poll() or flush(). error (copied) may be
 * NULL. */
void sl_out_done(struct sl_msg *m, int status, const char *error);

/* ---- recovery marks (ABI 2.3; see recover above) ---- */
/* What an output writes with m (as a header: name, value) so that recover()
 * can tell, after a crash, that m was written. Only a message that is the
 * whole of what its tracking handler passed gets one: no copy for another
 * output, no part split off after the handler, so that finding it written
 * means the handler's message was delivered; and never a dead letter (not
 * delivered: its key stays uncommitted). The name is SL_MARK_PREFIX +
 * the handler's name (it lives as long as the pipeline); the value is the
 * handler's cookie (sl_mark_value gives it as text). */
#define SL_MARK_PREFIX "x-sluice-mark."
struct sl_mark {
    const char *name;
    uint64_t cookie;
};
/* The mark's value as written and as sl_recovered() takes it: the cookie in
 * 16 lowercase hex digits, NUL-terminated. */
static inline void sl_mark_value(uint64_t cookie, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, cookie >>= 4)
        out[i] = hex[cookie & 15];
    out[16] = '\0';
}
/* Fills *mark and returns true when m carries a mark; false otherwise. Any
 * output thread, in write(). */
bool sl_msg_mark(const struct sl_msg *m, struct sl_mark *mark);
/* A mark read back in recover(): header name and value as written. Marks of
 * no handler in this pipeline (renamed, removed) are ignored. Main thread,
 * in recover() only. */
void sl_recovered(const struct sl_instance *output, const char *name, const void *value,
                  size_t len);

#ifdef __cplusplus
}
#endif
#endif
