/* json.h - internals of the json codec shared by its files, the bench and the fuzz target. */
#ifndef SLUICE_CODEC_JSON_H
#define SLUICE_CODEC_JSON_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/message.h"
#include "sluice/value.h"
#include "utf8.h"

#ifdef __cplusplus
extern "C" { /* the bench's C++ comparison program includes this too */
#endif

#define JSON_DEFAULT_MAX_DEPTH 512
#define JSON_LIMIT_MAX_DEPTH   10000

enum json_bytes_mode { JSON_BYTES_BASE64 = 0, JSON_BYTES_TEXT };

struct json_opts {
    int max_depth;     /* containers nested deeper are refused (decode and encode) */
    bool pretty;       /* encode with newlines and two-space indents */
    int bytes;         /* enum json_bytes_mode: how SL_BYTES are written */
    bool yajl_only;    /* decode with yajl alone, not simdjson first */
    locale_t c_locale; /* numbers are read and written with a '.' whatever LC_NUMERIC says */
};

/* Defaults, and the "C" locale object. Returns 0, or -1 when out of memory. */
int json_opts_init(struct json_opts *o);
void json_opts_fini(struct json_opts *o);

/* ---- scratch.c: a bump allocator yajl allocates from, reset per message ---- */
struct json_scratch_big;
struct json_scratch {
    uint8_t *buf;
    size_t cap, used, last; /* last: offset of the newest block's header */
    size_t demand;          /* bytes asked for since the last reset */
    struct json_scratch_big *big;
};
int json_scratch_init(struct json_scratch *s, size_t cap);
void *json_scratch_alloc(void *s, size_t n);
void *json_scratch_realloc(void *s, void *p, size_t n);
void json_scratch_free(void *s, void *p);
/* Forgets every block; grows the buffer when the last message needed more. */
void json_scratch_reset(struct json_scratch *s);
void json_scratch_destroy(struct json_scratch *s);

/* ---- decode.c: one worker's decoder (not thread-safe; one per worker) ---- */
struct json_dec;
/* NULL when out of memory. Keeps a pointer to o, which must outlive it. */
struct json_dec *json_dec_new(const struct json_opts *o);
void json_dec_free(struct json_dec *d);
/* Parses exactly one JSON value from text into *out, allocating in arena.
 * Returns 0, or -1 with a one-line message in err. */
int json_decode(struct json_dec *d, struct sl_arena *arena, const uint8_t *text, size_t len,
                struct sl_value *out, char *err, size_t errlen);

/* True when the last json_decode was done by simdjson (the fast path). */
bool json_dec_used_fast_path(const struct json_dec *d);

/* ---- simd.cpp (built when libsimdjson-dev is there: JSON_HAVE_SIMDJSON) ---- */
struct json_simd;
struct json_simd *json_simd_new(int max_depth);
void json_simd_free(struct json_simd *s);
/* Parses text with simdjson into *out. Returns 0, or -1 when simdjson refused
 * it (invalid, or valid but outside its range) or memory ran out: the caller
 * then asks yajl, which decides and explains. */
int json_simd_decode(struct json_simd *s, struct sl_arena *a, const uint8_t *text, size_t len,
                     struct sl_value *out);

/* ---- encode.c ---- */
/* Appends v as JSON to out (no trailing newline). Returns 0, or -1 with a
 * message in err and out as it was. Thread-safe. */
int json_encode(const struct json_opts *o, const struct sl_value *v, struct sl_buf *out, char *err,
                size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
