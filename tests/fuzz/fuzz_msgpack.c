/* fuzz_msgpack.c - libFuzzer target for the msgpack codec: any input either decodes or is
 * refused with a one-line "msgpack: " reason; what decodes (as a plain object and as a
 * Fluentd event) encodes, decodes again to an equal record, and encodes to the same bytes.
 * And msgpack-c, the reference (tests/unit/mp_reference.c), agrees: it accepts the same
 * inputs, makes the same record of them, and reads our encoding back to that record.
 * Build and run: tests/fuzz/run.sh msgpack [seconds]
 * fuzz-sources: plugins/codec_msgpack/event.c plugins/codec_msgpack/fluent.c
 * fuzz-sources: plugins/common/msgpack_decode.c plugins/common/msgpack_encode.c
 * fuzz-sources: tests/unit/mp_reference.c
 * fuzz-cflags: -Iplugins/codec_msgpack -Iplugins/common -Itests/unit
 * fuzz-pkgs: msgpack */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "mp_reference.h"

static void die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_msgpack: %s: %s\n", what, err ? err : "");
    abort();
}

static void one(const struct mp_opts *o, const uint8_t *data, size_t size)
{
    static struct sl_arena a1, a2;
    static struct sl_buf out1, out2;
    struct sl_value v1, v2;
    struct mp_time t;
    char err[256];

    sl_arena_reset(&a1);
    sl_arena_reset(&a2);
    out1.len = out2.len = 0;
    if (mp_decode(o, &a1, data, size, &v1, &t, err, sizeof(err)) < 0) {
        if (strncmp(err, "msgpack: ", 9) != 0 || strchr(err, '\n'))
            die("bad error text", err);
        return;
    }
    if (mp_encode_event(o, &v1, &t, &out1, err, sizeof(err)) < 0)
        die("a decoded record does not encode", err);
    if (mp_decode(o, &a2, out1.data, out1.len, &v2, &t, err, sizeof(err)) < 0)
        die("encoded bytes do not decode", err);
    if (!sl_value_equal(&v1, &v2))
        die("round trip changed the record", NULL);
    if (mp_encode_event(o, &v2, &t, &out2, err, sizeof(err)) < 0 || out1.len != out2.len ||
        memcmp(out1.data, out2.data, out1.len) != 0)
        die("encoding is not stable", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mp_opts plain = {.ext = MP_EXT_WRAP},
                          fluent = {.ext = MP_EXT_WRAP, .fluent = true},
                          refuse = {.ext = MP_EXT_REFUSE};
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    one(&plain, copy, size);
    one(&fluent, copy, size);
    one(&refuse, copy, size);
    for (int ext = MP_EXT_WRAP; ext <= MP_EXT_REFUSE; ext++) {
        const char *why = mp_ref_check(ext, copy, size);
        if (why)
            die("msgpack-c disagrees", why);
    }
    free(copy);
    return 0;
}
