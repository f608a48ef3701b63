/* pb_fuzz.h - what the protobuf fuzz targets share: load a schema, and check one
 * payload's decode -> encode -> decode round trip. */
#ifndef SLUICE_PB_FUZZ_H
#define SLUICE_PB_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"

static void pb_fuzz_die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_protobuf: %s: %s\n", what, err ? err : "");
    abort();
}

/* The record, roughly, for the report of a failure. */
static void pb_fuzz_print(const struct sl_value *v)
{
    switch (v->type) {
    case SL_MAP:
        fputc('{', stderr);
        for (uint32_t i = 0; i < v->len; i++) {
            fprintf(stderr, "%s\"%s\":", i ? "," : "", v->u.members[i].key);
            pb_fuzz_print(&v->u.members[i].value);
        }
        fputc('}', stderr);
        break;
    case SL_ARRAY:
        fputc('[', stderr);
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                fputc(',', stderr);
            pb_fuzz_print(&v->u.items[i]);
        }
        fputc(']', stderr);
        break;
    case SL_STRING:
    case SL_BYTES:
        fprintf(stderr, "\"%.*s\"", (int)v->len, v->u.str);
        break;
    case SL_INT:
        fprintf(stderr, "%lld", (long long)v->u.i);
        break;
    case SL_DOUBLE:
        fprintf(stderr, "%g", v->u.d);
        break;
    default:
        fprintf(stderr, "%s", sl_type_name(v->type));
    }
}

static void pb_fuzz_schema(struct pb_schema *s, const char *path, const char *message)
{
    char err[256];
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    const ProtobufCMessageDescriptor *d =
        pb_load_descriptor_set(&s->mem, buf, n, message, err, sizeof(err));
    if (!d || pb_schema_build(s, d, PB_NAMES_PROTO, err, sizeof(err)) < 0)
        pb_fuzz_die(path, err);
}

/* Decodes data; when it decodes, encode -> decode must give an equal record and
 * encoding again the same bytes. Returns whether data decoded. */
static bool pb_fuzz_round_trip(const struct pb_schema *s, const uint8_t *data, size_t size)
{
    static struct sl_arena a1, a2, scratch;
    static struct sl_buf out1, out2;
    struct sl_value v1, v2;
    char err[256];

    sl_arena_reset(&a1);
    sl_arena_reset(&a2);
    out1.len = out2.len = 0;
    if (pb_decode(s, &a1, data, size, &v1, err, sizeof(err)) < 0) {
        if (strncmp(err, "protobuf: ", 10) != 0 || strchr(err, '\n'))
            pb_fuzz_die("bad error text", err);
        return false;
    }
    sl_arena_reset(&scratch);
    if (pb_encode(s, &scratch, &v1, &out1, err, sizeof(err)) < 0)
        pb_fuzz_die("a decoded record does not encode", err);
    if (pb_decode(s, &a2, out1.data, out1.len, &v2, err, sizeof(err)) < 0)
        pb_fuzz_die("encoded bytes do not decode", err);
    if (!sl_value_equal(&v1, &v2)) {
        pb_fuzz_print(&v1);
        fputs("\n", stderr);
        pb_fuzz_print(&v2);
        fputs("\n", stderr);
        pb_fuzz_die("round trip changed the record", s->root->d->name);
    }
    sl_arena_reset(&scratch);
    if (pb_encode(s, &scratch, &v2, &out2, err, sizeof(err)) < 0 || out1.len != out2.len ||
        memcmp(out1.data, out2.data, out1.len) != 0)
        pb_fuzz_die("encoding is not stable", err);
    return true;
}

#endif
