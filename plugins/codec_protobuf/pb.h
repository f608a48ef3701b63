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

struct pb_type;

/* The decimal names of one enum, looked up by number without a search. */
struct pb_enum {
    const ProtobufCEnumDescriptor *d;
    int32_t min;        /* the smallest number named */
    uint32_t span;      /* names[0..span) cover min .. min + span - 1; 0: search d */
    const char **names; /* NULL where the number has no name */
    uint32_t *lens;
};

/* How a field that the wire bytes lack appears in the record. */
enum pb_absent {
    PB_ABSENT_OMITTED = 0, /* presence (proto2, proto3 optional, oneof, messages) */
    PB_ABSENT_ZERO,        /* proto3 without presence, map entry key and value: its zero */
    PB_ABSENT_EMPTY,       /* repeated: an empty array or map */
};

/* One field as the codec walks it: what protobuf-c's descriptor says, made
 * ready for the hot path (wire type, presence, precomputed tag bytes). */
struct pb_field {
    const ProtobufCFieldDescriptor *fd;
    const struct pb_type *sub; /* the message type, else NULL */
    const struct pb_enum *en;  /* enum names, else NULL */
    const char *key;           /* record key: the name or its lowerCamelCase JSON name */
    uint32_t key_len;
    uint32_t number;
    uint8_t type;    /* ProtobufCType */
    uint8_t wire;    /* wire type of one value */
    uint8_t absent;  /* enum pb_absent */
    bool repeated;   /* an array, or a map when sub->map_entry */
    bool packed;     /* written packed (read either way) */
    bool skip_zero;  /* proto3 without presence: a zero value is not written */
    bool required;   /* proto2 required */
    uint8_t tag_len; /* tag bytes of one value; a packed run has tag_len bytes too */
    uint16_t oneof;  /* 1 + index of its oneof in the type, 0 when not a member */
    uint8_t tag[8];  /* of one value (wire) or of a packed run (length-delimited); 8 bytes
                      * so that writing it is one store */
    int64_t lo, hi;  /* integer types: the range a record int may take */
};

/* One message type: its fields in descriptor order (by number), with indexes
 * built at start: by number (dense) and by record key (hashed). */
struct pb_type {
    const ProtobufCMessageDescriptor *d;
    bool map_entry; /* a map field's entry: key = 1, value = 2 */
    unsigned n_fields;
    struct pb_field *fields;
    uint32_t dense_max;  /* numbers 1..dense_max are looked up in by_number */
    uint32_t *by_number; /* number -> field index + 1; 0: not a field */
    uint32_t key_mask;   /* by_key has key_mask + 1 slots (a power of two) */
    uint32_t *by_key;    /* open addressing: field index + 1; 0: empty */
    unsigned n_required;
    uint32_t *required;       /* field indexes of the proto2 required fields */
    uint32_t **oneof_members; /* per oneof: its field indexes, ended by UINT32_MAX */
};

/* Every type reachable from the configured message, and the memory behind them. */
struct pb_schema {
    struct sl_arena mem; /* descriptors, names, tables */
    const struct pb_type *root;
    struct pb_type *types;
    size_t n_types;
    void *library; /* dlopen handle when loaded from a library */
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

/* An allocator over an sl_arena (free does nothing). */
void pb_allocator_init(ProtobufCAllocator *al, struct sl_arena *a);
/* Size of one value of a type in a protobuf-c message struct or repeated array. */
size_t pb_type_size(ProtobufCType type);

/* ---- schema.c: the pb_type graph over descriptors, however they were made ---- */
/* Fills s from root (reachable types, map entries, record keys). Returns 0,
 * or -1 with err. s->mem must be initialised by the caller. */
int pb_schema_build(struct pb_schema *s, const ProtobufCMessageDescriptor *root, int names,
                    char *err, size_t errlen);
/* Frees the schema's memory and closes its library. */
void pb_schema_free(struct pb_schema *s);
/* The record key of field i: its name or its lowerCamelCase JSON name. */
const char *pb_json_name(struct sl_arena *mem, const char *name);
/* Index of the field with record key (key, len) in t, -1 if none. */
int pb_field_by_key(const struct pb_type *t, const char *key, uint32_t len);
/* Index of the field with this number in t, -1 if none. */
static inline int pb_field_by_number(const struct pb_type *t, uint32_t number)
{
    if (number <= t->dense_max)
        return (int)t->by_number[number] - 1;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(t->d, number);
    return fd ? (int)(fd - t->d->fields) : -1;
}

/* ---- library.c: a protoc-c generated library ---- */
/* dlopens path and finds <pkg>__<msg>__descriptor for message. NULL + err. */
const ProtobufCMessageDescriptor *pb_load_library(const char *path, const char *message,
                                                  void **handle, char *err, size_t errlen);

/* ---- decode.c: wire bytes straight into the record tree ---- */
/* Wire bytes to a record in a: strings, bytes and every node are copied into
 * a; record keys and enum names borrow the schema, which outlives every
 * message. Accepts what protobuf_c_message_unpack accepts, but also checks
 * UTF-8 in strings, field numbers (1 .. 2^29-1) and nesting (PB_MAX_DEPTH),
 * and merges a repeated singular message the standard way (docs/departures.md).
 * Returns 0, or -1 with "protobuf: ... at byte N" in err. */
int pb_decode(const struct pb_schema *s, struct sl_arena *a, const uint8_t *data, size_t len,
              struct sl_value *out, char *err, size_t errlen);

/* ---- encode.c: the record tree straight to wire bytes ---- */
/* A record to wire bytes appended to out, as protobuf_c_message_pack would
 * write the same message: fields by number, zeros of fields without presence
 * left out, repeated scalars packed as the schema says, "$unknown" last.
 * scratch holds what the walk needs beyond the stack (big messages, base64);
 * the caller resets it. Returns 0, or -1 with err and out as it was. */
int pb_encode(const struct pb_schema *s, struct sl_arena *scratch, const struct sl_value *v,
              struct sl_buf *out, char *err, size_t errlen);

/* ---- value.c: record values as protobuf scalars (the encoder's conversions) ---- */
/* A protobuf scalar ready for the wire: integers as their 64-bit two's
 * complement (zigzag not yet applied), floats and doubles as such, strings
 * and bytes as a span. */
struct pb_scalar {
    uint64_t u;
    double d;
    const uint8_t *p;
    size_t n;
};
/* The record value v as a value of field f, checked against the field's type
 * and range: ints, integral doubles and decimal strings for integers; names
 * or numbers for enums; numbers or "NaN"/"Infinity"/"-Infinity" for floats;
 * UTF-8 text for strings; bytes, or base64 text decoded into scratch, for
 * bytes. Returns 0, or -1 with "protobuf: field NAME ..." in err. */
int pb_value_to_scalar(const struct pb_field *f, const struct sl_value *v, struct pb_scalar *out,
                       struct sl_arena *scratch, char *err, size_t errlen);
/* The default value (fd->default_value, not NULL) of field f as a record
 * value: what a proto2 required field of a protoc-c library reads as when the
 * wire bytes lack it, as protobuf-c's unpack gave it. Returns 0, or -1 when out
 * of memory. */
int pb_default_value(const struct pb_field *f, struct sl_arena *a, struct sl_value *out);

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
