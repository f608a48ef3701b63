/* sluice/plugin.h - the plugin SDK: descriptor, options, and the host calls plugins use. */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

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
 * only append: a plugin with a minor <= the host's loads. */
#define SL_ABI_MAJOR 1
#define SL_ABI_MINOR 0
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

struct sl_option {
    const char *name;
    int type;        /* enum sl_opt_type */
    const char *def; /* default as text ("100", "true"), NULL for none */
    bool required;
    const char *doc;
};

struct sl_instance;   /* one configured use of a plugin */
struct sl_input_sink; /* where an input worker emits messages */
struct sl_emitter;    /* where a handler worker passes messages on */

/* One delivered (or dead-lettered) message, handed back to its input. */
struct sl_delivery {
    uint64_t cookie;
    int32_t partition;
    int64_t offset;
    int status; /* SL_OK delivered; SL_ERROR dead-lettered (still final) */
};

struct sl_plugin {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size; /* sizeof(struct sl_plugin) as the plugin saw it */
    uint32_t signature;   /* SL_ABI_SIGNATURE */
    int kind;             /* enum sl_kind */
    const char *name;
    const char *version;
    const char *doc;                 /* one line */
    const struct sl_option *options; /* ends with {NULL} */

    /* Every kind. init reads options and builds the shared context; it must
     * not touch the network when sl_instance_checking() is true. */
    int (*init)(struct sl_instance *inst, void **ctx);
    void (*destroy)(void *ctx);
    /* Optional per-worker state; when set, kind callbacks get the wctx. */
    int (*worker_init)(void *ctx, unsigned worker, void **wctx);
    void (*worker_destroy)(void *wctx);
    /* Optional: SIGHUP. Called on the main thread; must be quick. */
    void (*reload)(void *ctx);

    /* Input. run() is called once per worker thread and returns when the
     * source ends or stop() was called (0), or on fatal error (<0). */
    int (*run)(void *wctx, struct sl_input_sink *sink);
    void (*stop)(void *ctx); /* any thread; makes run() return soon */
    /* Optional: messages fully delivered, in batches, from any thread. When
     * NULL, the engine does not track acks for this input. */
    void (*delivered)(void *ctx, const struct sl_delivery *d, size_t n);

    /* Codec. decode sets m->record (allocated in m->arena); encode appends
     * to out. Both return 0, or SL_ERROR with a message in err. A codec with
     * no decode leaves records alone; with no encode writes payloads raw. */
    int (*decode)(void *wctx, struct sl_msg *m, char *err, size_t errlen);
    int (*encode)(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err, size_t errlen);

    /* Handler. For each message: sl_emit() it (or derived ones), or
     * sl_msg_release() it (drop), or sl_fail() it. Returns 0, <0 is fatal. */
    int (*process)(void *wctx, struct sl_msg **msgs, size_t n, struct sl_emitter *out);

    /* Output. write() takes the messages; for each, the plugin calls
     * sl_out_done() on the worker thread, in write(), poll() or flush().
     * flush() confirms everything outstanding before it returns (drain).
     * poll() serves asynchronous confirmations; called when idle. */
    int (*write)(void *wctx, struct sl_msg **msgs, size_t n);
    int (*flush)(void *wctx);
    int (*poll)(void *wctx);

    void *spare[8]; /* room to grow without breaking the ABI */
};

/* Convenience for the header fields. */
#define SL_PLUGIN_HEADER                                                                           \
    .abi_major = SL_ABI_MAJOR, .abi_minor = SL_ABI_MINOR, .struct_size = sizeof(struct sl_plugin), \
    .signature = SL_ABI_SIGNATURE

/* ---- options (validated by the core against the options table) ---- */
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
/* Retry policy for this stage (the instance's retry group, else the global). */
unsigned sl_instance_max_attempts(const struct sl_instance *inst);

/* ---- logging ---- */
enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };
void sl_log(const struct sl_instance *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sl_vlog(const struct sl_instance *inst, int level, const char *fmt, va_list ap);
bool sl_log_enabled(int level);

/* ---- counters (shown by --stats and metrics); thread-safe ---- */
struct sl_counter;
struct sl_counter *sl_counter_get(const struct sl_instance *inst, const char *name);
void sl_counter_add(struct sl_counter *c, int64_t n);

/* ---- input side ---- */
/* A fresh message from the worker's pool; never NULL (aborts on OOM). */
struct sl_msg *sl_sink_msg(struct sl_input_sink *s);
/* Hand a message to the pipeline. Blocks while the next queue is full.
 * Returns 0, or SL_STOPPED when stopping (the message is still taken). */
int sl_sink_emit(struct sl_input_sink *s, struct sl_msg *m);
/* Push the partial batch now. Call before blocking on the source. */
void sl_sink_flush(struct sl_input_sink *s);
/* False when the next queue is full: an input that can pause its source
 * (Kafka partitions) should, then wait with sl_sink_wait(). */
bool sl_sink_writable(struct sl_input_sink *s);
/* Wait up to timeout_ms for room downstream. True if writable. */
bool sl_sink_wait(struct sl_input_sink *s, int timeout_ms);
bool sl_sink_stopping(const struct sl_input_sink *s);
/* The input cannot hand this message on (oversize, unreadable): send it
 * straight to dead_letter with `error`; it still counts as read. */
void sl_sink_reject(struct sl_input_sink *s, struct sl_msg *m, const char *error);
/* Messages this input emitted that are not yet delivered. */
uint64_t sl_sink_in_flight(const struct sl_input_sink *s);

/* ---- handler side ---- */
/* Pass a message on to the next stage. */
void sl_emit(struct sl_emitter *e, struct sl_msg *m);
/* The message failed at this stage: retried per the stage's retry policy,
 * then sent to dead_letter with `error` in x-sluice-error. */
void sl_fail(struct sl_emitter *e, struct sl_msg *m, const char *error);

/* ---- output side ---- */
/* Confirm (SL_OK), retry later (SL_RETRY), or dead-letter (SL_ERROR) one
 * message that write() took. Worker thread only. error may be NULL. */
void sl_out_done(struct sl_msg *m, int status, const char *error);

#ifdef __cplusplus
}
#endif
#endif
