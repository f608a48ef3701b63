/* pb.h - internals of the protobuf codec shared by its files and the fuzz targets. */
#ifndef SLUICE_CODEC_PROTOBUF_H
#define SLUICE_CODEC_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "sluice/message.h"
#include "sluice/value.h"

/* Record key of a message's unknown fields: their wire bytes, kept so an
 * unchanged record encodes back to the bytes it came from. */
#define PB_UNKNOWN_KEY "$unknown"
/* Nested messages deeper than this are refused (protobuf-c recurses). */
#define PB_MAX_DEPTH 100

/* One message type as the codec walks it: protobuf-c's descriptor and what
 * protobuf-c does not say (map entries, record keys, nested types). */
struct pb_type {
    const ProtobufCMessageDescriptor *d;
    bool map_entry;    /* a map field's entry: key = 1, value = 2 */
    const char **keys; /* record key per field index */
    uint32_t *key_lens;
    const struct pb_type **sub; /* per field index: the message type, else NULL */
};

/* Every type reachable from the configured message, and the memory behind them. */
struct pb_schema {
    struct sl_arena mem; /* descriptors, names, tables */
    const struct pb_type *root;
    struct pb_type *types;
    size_t n_types;
    bool recursive; /* a type contains itself: check depth before unpacking */
    void *library;  /* dlopen handle when loaded from a library */
};

enum pb_names { PB_NAMES_PROTO = 0, PB_NAMES_JSON };

/* ---- loader.c: a FileDescriptorSet (protoc --include_imports
 * --descriptor_set_out) to protobuf-c descriptors built at run time ---- */
/* Builds every message and enum of the set. Returns the descriptor of the
 * message with the full name `message` ("shop.v1.Order"), or NULL with the
 * reason in err. Everything lives in mem. */
const ProtobufCMessageDescriptor *pb_load_descriptor_set(struct sl_arena *mem, const uint8_t *data,
                                                         size_t len, const char *message, char *err,
                                                         size_t errlen);

/* ---- schema.c: the pb_type graph over descriptors, however they were made ---- */
/* Fills s from root (reachable types, map entries, record keys). Returns 0,
 * or -1 with err. s->mem must be initialised by the caller. */
int pb_schema_build(struct pb_schema *s, const ProtobufCMessageDescriptor *root, int names,
                    char *err, size_t errlen);
/* Frees the schema's memory and closes its library. */
void pb_schema_free(struct pb_schema *s);
/* The record key of field i: its name or its lowerCamelCase JSON name. */
const char *pb_json_name(struct sl_arena *mem, const char *name);
/* Index of the field with record key (key, len) in t, -1 if none; hint: the
 * index to try first (fields usually come in order). */
int pb_field_by_key(const struct pb_type *t, const char *key, uint32_t len, int hint);

/* ---- library.c: a protoc-c generated library ---- */
/* dlopens path and finds <pkg>__<msg>__descriptor for message. NULL + err. */
const ProtobufCMessageDescriptor *pb_load_library(const char *path, const char *message,
                                                  void **handle, char *err, size_t errlen);

/* ---- check.c: explain what protobuf-c refuses, and bound nesting ---- */
/* Walks the wire bytes as message t: wire types against field types, lengths,
 * required fields, nesting up to PB_MAX_DEPTH. Returns 0 when it finds nothing
 * wrong, or -1 with "protobuf: ... at byte N" in err. */
int pb_check(const struct pb_type *t, const uint8_t *data, size_t len, char *err, size_t errlen);

/* ---- decode.c ---- */
/* Zeroes a message struct (protobuf_c_message_init would call message_init,
 * which run-time descriptors lack; they carry no defaults either). */
void pb_message_init(const ProtobufCMessageDescriptor *d, void *m);
/* An allocator over an sl_arena (free does nothing). */
void pb_allocator_init(ProtobufCAllocator *al, struct sl_arena *a);
/* Wire bytes to a record in a (everything, protobuf-c's unpacked message
 * included, lives in a). Returns 0, or -1 with "protobuf: ..." in err. */
int pb_decode(const struct pb_schema *s, struct sl_arena *a, const uint8_t *data, size_t len,
              struct sl_value *out, char *err, size_t errlen);

/* ---- encode.c ---- */
/* A record to wire bytes appended to out; scratch holds the message built on
 * the way (reset by the caller). Returns 0, or -1 with err and out as it was. */
int pb_encode(const struct pb_schema *s, struct sl_arena *scratch, const struct sl_value *v,
              struct sl_buf *out, char *err, size_t errlen);

/* ---- value.c: scalars between protobuf-c's C values and record values ---- */
/* Size of one value of a type in a message struct or a repeated array. */
size_t pb_type_size(ProtobufCType type);
/* The C value at p as a record value; strings are checked for UTF-8. */
int pb_scalar_to_value(const ProtobufCFieldDescriptor *f, const void *p, struct sl_arena *a,
                       struct sl_value *out, char *err, size_t errlen);
/* A record value into the C value at p (strings and bytes borrow v; a string
 * for bytes is base64-decoded into a). */
int pb_value_to_scalar(const ProtobufCFieldDescriptor *f, const struct sl_value *v, void *p,
                       struct sl_arena *a, char *err, size_t errlen);

/* ---- confluent.c: Confluent Schema Registry framing ---- */
#define PB_CONFLUENT_ID_HEADER    "confluent_schema_id"
#define PB_CONFLUENT_INDEX_HEADER "confluent_message_index"
/* Splits magic byte, schema id and message indexes off data. Returns the
 * offset of the protobuf bytes, or -1 with err. The id and the indexes
 * ("0", "1.0") are written as text to id_text / index_text. */
long pb_confluent_strip(const uint8_t *data, size_t len, char *id_text, size_t id_len,
                        char *index_text, size_t index_len, char *err, size_t errlen);
/* Appends the framing: magic, id, indexes from index_text ("" or NULL: [0]). */
int pb_confluent_write(struct sl_buf *out, uint32_t id, const char *index_text, char *err,
                       size_t errlen);

#endif
