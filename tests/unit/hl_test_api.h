/* hl_test_api.h - the test-only API of the Lua handler (hl_test_api.c). */
#ifndef HL_TEST_API_H
#define HL_TEST_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/sluice.h"

struct hl_test_api {
    /* A sandboxed (or not) state over dir/test.lua with these limits; NULL when out of memory. */
    void *(*open)(const char *dir, size_t mem_mb, int64_t max_instructions, int64_t max_cpu_ms,
                  bool sandbox, bool allow_io);
    /* Runs code (global v = in); the result converted into out, or as text. 0 or -1 + text. */
    int (*eval)(void *h, const char *code, const struct sl_value *in, struct sl_arena *a,
                struct sl_value *out, char *text, size_t textlen);
    size_t (*mem_used)(void *h);
    void (*close)(void *h);
    /* Thread CPU ns per iteration of a record round trip through a function. */
    double (*bench)(void *h, const char *code, const struct sl_value *in, struct sl_arena *a,
                    size_t iters, int mode);
    void (*set_lazy)(void *h, bool lazy); /* v as a lazy record */
};

extern const struct hl_test_api sluice_lua_test_api;

#endif
