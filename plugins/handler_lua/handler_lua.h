/* handler_lua.h - internals shared by the files of the Lua handler plugin (tag hl_). */
#ifndef HANDLER_LUA_H
#define HANDLER_LUA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "sluice/sluice.h"

#define HL_MAX_DEPTH 100 /* nesting limit of records and JSON (also catches cycles) */
#define HL_KEY_CACHE 256 /* slots of the record key cache (a power of two) */
#define HL_POOL_MAX  256 /* blocks up to this size are recycled by the allocator */

/* Settings shared read-only by every worker of one handler instance. */
struct hl_conf {
    const struct sl_instance *inst; /* NULL in unit tests */
    char *script;                   /* path as configured (used in messages) */
    char *dir;                      /* real path of the script's directory */
    size_t mem_limit;               /* bytes per lua_State, 0 = none */
    int64_t max_instructions;       /* per call, 0 = none */
    int64_t max_cpu_ns;             /* per call, thread CPU time, 0 = none */
    int64_t max_outputs;            /* messages a call may return, per message given, 0 = none */
    size_t max_output_bytes;        /* converted bytes a call may return, 0 = none */
    bool sandbox, allow_io, allow_env;
    bool lazy_record;       /* msg.record as a lazy table (hl_record.c) */
    atomic_uint generation; /* bumped by reload() */
};

/* One lua_State and what it needs; the allocator's ud, so C code reaches it
 * from any lua_State with lua_getallocf. */
struct hl_state {
    lua_State *L;
    const struct hl_conf *conf;
    char *dir;        /* real directory of the script this state loaded (modules, files) */
    size_t used;      /* bytes allocated by this state */
    size_t limit;     /* 0 = none */
    bool mem_refused; /* the allocator refused a request since the last check */
    /* per-call budget, reset by hl_budget_start */
    int64_t instr_left;
    int64_t cpu_start_ns;
    bool exhausted;
    const char *exhausted_why;
    size_t out_left; /* converted output bytes the call may still make */
    /* registry refs */
    int ref_process, ref_batch, ref_traceback, ref_array_mt, ref_map_mt, ref_msg_mt;
    int ref_counters;              /* name -> light userdata (struct sl_counter *) */
    int ref_anchor;                /* list that keeps the current call's message objects alive */
    const struct sl_msg *current;  /* the message process(msg) runs on (sluice.log names it) */
    const void *array_mt, *map_mt; /* identities of the marker metatables */
    int ref_record_mt;             /* lazy records (hl_record.c) */
    const void *record_mt;
    struct hl_rec_slot { /* a lazy record's state, hashed by its table's address */
        const void *table;
        const struct sl_value *orig;
        uint64_t call, bits; /* the slot is in use while call == call_id */
        uint32_t new_sets;   /* writes of absent new keys (an upper bound of their number) */
    } * recs;
    struct hl_rec_slot *recs_last; /* the slot found last */
    size_t recs_cap, recs_live;    /* a power of two; slots in use by call recs_call */
    uint64_t recs_call;
    /* Record keys repeat message after message: a direct-mapped cache of
     * their Lua strings (kept alive in the ref_keys table) saves interning. */
    int ref_keys;
    struct hl_key_slot {
        uint32_t len, hash;
        const char *bytes; /* of the cached Lua string */
    } keys[HL_KEY_CACHE];
    /* messages handed to Lua are valid only while call_id is unchanged */
    uint64_t call_id;
    void *gen; /* yajl_gen reused by sluice.json.encode */
    /* free lists of small blocks by 16-byte size class (hl_state.c) */
    void *pool[HL_POOL_MAX / 16];
    size_t pool_bytes;
};

/* The sentinel for JSON null (a light userdata). */
extern const char hl_null_sentinel;
#define HL_NULL ((void *)&hl_null_sentinel)

static inline struct hl_state *hl_state_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* ---- hl_state.c: creating, loading and calling ---- */
/* A new state with the sandbox, the sluice module and the marker metatables,
 * the script not yet loaded. NULL when out of memory. */
struct hl_state *hl_state_new(const struct hl_conf *conf);
void hl_state_free(struct hl_state *hs);
/* Runs the script's top level, then init(conf). Returns 0, or -1 with the
 * error (with "script.lua:LINE:") in err. config may be NULL. */
int hl_state_load(struct hl_state *hs, const struct sl_value *config, char *err, size_t errlen);
/* Compiles the script only (for --check and reload). Returns 0 or -1 + err. */
int hl_compile_only(const struct hl_conf *conf, char *err, size_t errlen);
/* Raises the budget error when the CPU time of the call is used up. */
void hl_budget_check(lua_State *L);
/* Charges n units of work done in C (pattern matching steps) to the
 * instruction budget, then checks as hl_budget_check. */
void hl_budget_charge(lua_State *L, int64_t n);
/* Counts n bytes converted for the call's outputs; raises the
 * max_output_mb error when the call's allowance is used up. */
void hl_output_charge(lua_State *L, size_t n);
/* Arms the per-call instruction and CPU budget, scaled by n messages. */
void hl_budget_start(struct hl_state *hs, size_t n);
/* After a failed call: collect garbage; false when the state should be
 * replaced (memory stays near the cap). */
bool hl_state_recover(struct hl_state *hs, int status);
/* Formats the error at the top of the stack (pops it) into buf. */
void hl_error_text(struct hl_state *hs, int status, char *buf, size_t len);

/* ---- hl_sandbox.c ---- */
/* Opens the allowed standard libraries and safe replacements. */
void hl_open_sandbox(lua_State *L, const struct hl_conf *conf);
/* Loads the text chunk in file real, named "@path" (a #! line skipped).
 * Returns a lua_load status; the chunk or the error is on the stack. */
int hl_load_text_file(lua_State *L, const char *real, const char *path);

/* ---- hl_guard.c ---- */
/* Replaces the library functions that could loop outside the hooks with
 * bounded ones; in the sandbox also refuses Lua finalizers (__gc). */
void hl_guard_library(lua_State *L, bool sandbox);

/* ---- hl_pattern.c ---- */
/* Sets find, match, gmatch and gsub of the string table at index t to
 * matchers that charge their steps to the budget. */
void hl_open_patterns(lua_State *L, int t);

/* ---- hl_sluice.c: the sluice module (global `sluice`, and require "sluice") ---- */
int hl_open_sluice(lua_State *L);

/* ---- hl_msgpack.c ---- */
int hl_open_msgpack(lua_State *L); /* pushes the sluice.msgpack table */

/* ---- hl_json.c ---- */
int hl_open_json(lua_State *L); /* pushes the sluice.json table */
void hl_json_free(struct hl_state *hs);

/* ---- hl_conv.c: sl_value <-> Lua ---- */
/* Pushes v (NULL pushes nil). Raises a Lua error when out of memory. */
void hl_push_value(lua_State *L, const struct sl_value *v);
/* Converts the Lua value at idx into dst, allocated in a. hint is the value
 * this one replaces (it keeps map key order and the kind of empty tables);
 * may be NULL. share: the hint's memory lives as long as dst (same message),
 * so unchanged keys and strings point into it instead of being copied.
 * Raises a Lua error when it cannot convert. */
void hl_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                 const struct sl_value *hint, bool share);
/* Array/map decision for a table (shared with JSON): true when array. */
bool hl_table_is_array(lua_State *L, int idx, const struct sl_value *hint, size_t *n);

/* ---- hl_record.c: msg.record as a lazy table ---- */
void hl_record_register(lua_State *L, struct hl_state *hs);
/* Pushes a lazy table over map (an SL_MAP living as long as the call);
 * false when it pushed a plain table instead (a large map, out of memory). */
bool hl_record_push(lua_State *L, const struct sl_value *map);
bool hl_is_record(lua_State *L, int idx);
/* Pushes a plain (map-marked) table with the lazy table's current fields. */
void hl_record_materialize(lua_State *L, int idx);
/* Converts one value for hl_record_to_value: hint/share as for hl_to_value. */
typedef void (*hl_convert_fn)(void *cctx, int idx, struct sl_value *dst,
                              const struct sl_value *hint, bool share, const char *key,
                              size_t keylen);
/* The lazy table at idx as a record: the original's members with the
 * overlay applied (zero copy when untouched and share && hint is the
 * original). Raises a Lua error when a value does not convert. */
void hl_record_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                        const struct sl_value *hint, bool share, hl_convert_fn convert, void *cctx);
/* hl_to_value for a table known to be a lazy record (no type checks). */
void hl_lazy_to_value(lua_State *L, int idx, struct sl_arena *a, struct sl_value *dst,
                      const struct sl_value *hint, bool share);

/* ---- hl_msg.c: messages in Lua and what scripts return ---- */
struct hl_lmsg;   /* the userdata behind a message object */
struct hl_staged; /* an original's converted changes (hl_msg.c) */

/* What to do with the messages of one call, built inside the protected call
 * and carried out after it returns. */
struct hl_plan {
    struct sl_msg **origs;    /* the messages given to the script */
    struct hl_lmsg **lm;      /* their message objects */
    struct hl_staged *staged; /* their changes, converted */
    size_t n_origs, cap_origs;
    struct sl_msg **out; /* to emit, in order */
    size_t n_out, cap_out;
    struct sl_msg **derived; /* created this call (released on failure) */
    size_t n_derived, cap_derived;
};

/* Registers the message metatable in hs. */
void hl_msg_register(lua_State *L, struct hl_state *hs);
/* The message behind the message object at idx, when it is one and still
 * valid (this call's); else NULL. Never raises. */
struct sl_msg *hl_msg_at(lua_State *L, int idx);
/* Pushes the message object for p->origs[i], valid during the current call. */
void hl_msg_push(lua_State *L, struct hl_plan *p, size_t i);
/* Turns the script's return value at idx into p->out, then applies the
 * script's changes to the originals that pass on. Raises a Lua error on a
 * bad return value or a record that does not convert; the originals are
 * then untouched. */
void hl_plan_outputs(lua_State *L, int idx, struct hl_plan *p);
/* True when the original i is among the outputs. */
bool hl_plan_is_out(const struct hl_plan *p, size_t i);
/* Room for n originals. Returns 0, or -1 when out of memory. */
int hl_plan_reset(struct hl_plan *p, struct sl_msg **msgs, size_t n);
void hl_plan_free(struct hl_plan *p);

#endif
