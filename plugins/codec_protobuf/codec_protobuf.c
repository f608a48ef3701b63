/* codec_protobuf.c - the "protobuf" codec: one protobuf message per payload <-> the record
 * tree, the schema read at start from a descriptor set (or a protoc-c generated library). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/sluice.h"

#include "pb.h"

static const char *const field_namings[] = {"proto", "json", NULL};

static const struct sl_option options[] = {
    {.name = "message",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_NONEMPTY,
     .doc = "full name of the message type, e.g. shop.v1.Order"},
    {.name = "descriptor_set",
     .type = SL_OPT_STRING,
     .check = SL_CHECK_READABLE_FILE,
     .doc = "file written by protoc --include_imports --descriptor_set_out (this or library)"},
    {.name = "library",
     .type = SL_OPT_STRING,
     .check = SL_CHECK_NONEMPTY,
     .doc = "a protoc-c generated shared library holding the message's descriptor (this or "
            "descriptor_set)"},
    {.name = "field_names",
     .type = SL_OPT_STRING,
     .def = "proto",
     .allowed = field_namings,
     .doc = "record keys: proto (as in the .proto) or json (lowerCamelCase)"},
    {.name = "confluent",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "Confluent Schema Registry framing: magic byte, schema id, message indexes"},
    {.name = "schema_id",
     .type = SL_OPT_INT,
     .def = "-1",
     SL_RANGE(-1, UINT32_MAX),
     .doc = "schema id written with confluent = true; -1: the confluent_schema_id header decoding "
            "set"},
    {0},
};

struct pb_codec {
    struct pb_schema schema;
    bool confluent;
    int64_t schema_id;
};

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct sl_buf b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (sl_buf_append(&b, chunk, n) < 0)
            break;
    int rc = ferror(f) || !feof(f) ? -1 : 0;
    fclose(f);
    if (rc < 0) {
        sl_buf_free(&b);
        return -1;
    }
    *data = b.data;
    *len = b.len;
    return 0;
}

static int load(struct sl_instance *inst, struct pb_codec *c, char *err, size_t errlen)
{
    const char *set = sl_opt_str(inst, "descriptor_set");
    const char *lib = sl_opt_str(inst, "library");
    const char *message = sl_opt_str(inst, "message");
    const char *names = sl_opt_str(inst, "field_names");
    const ProtobufCMessageDescriptor *root;

    if (!set == !lib) {
        snprintf(err, errlen, "set one of descriptor_set and library");
        return -1;
    }
    if (set) {
        uint8_t *data;
        size_t len;
        if (read_file(set, &data, &len) < 0) {
            snprintf(err, errlen, "descriptor_set %s: %s", set, strerror(errno));
            return -1;
        }
        root = pb_load_descriptor_set(&c->schema.mem, data, len, message, err, errlen);
        free(data);
    } else {
        root = pb_load_library(lib, message, &c->schema.library, err, errlen);
    }
    if (!root)
        return -1;
    int mode = names && !strcmp(names, "json") ? PB_NAMES_JSON : PB_NAMES_PROTO;
    return pb_schema_build(&c->schema, root, mode, err, errlen);
}

static int pbc_init(struct sl_instance *inst, void **ctx)
{
    char err[512];
    struct pb_codec *c = calloc(1, sizeof(*c));
    if (!c) {
        sl_instance_error(inst, "out of memory");
        return SL_ERROR;
    }
    c->confluent = sl_opt_bool(inst, "confluent");
    c->schema_id = sl_opt_int(inst, "schema_id"); /* the options table bounds it */
    if (load(inst, c, err, sizeof(err)) < 0)
        goto fail;
    *ctx = c;
    return SL_OK;
fail:
    sl_instance_error(inst, "%s", err);
    pb_schema_free(&c->schema);
    free(c);
    return SL_ERROR;
}

static void pbc_destroy(void *ctx)
{
    struct pb_codec *c = ctx;
    if (!c)
        return;
    pb_schema_free(&c->schema);
    free(c);
}

/* Per worker: the scratch arena encode takes what the stack cannot hold in. */
struct worker {
    const struct pb_codec *c;
    struct sl_arena scratch;
};

static int pbc_worker_init(void *ctx, unsigned n, void **wctx)
{
    (void)n;
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ERROR;
    w->c = ctx;
    *wctx = w;
    return SL_OK;
}

static void pbc_worker_destroy(void *wctx)
{
    struct worker *w = wctx;
    if (!w)
        return;
    sl_arena_free(&w->scratch);
    free(w);
}

static int pbc_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen)
{
    struct worker *w = wctx;
    const uint8_t *data = m->payload.data;
    size_t len = m->payload.len;
    struct sl_value *root = sl_arena_alloc(&m->arena, sizeof(*root));
    if (!root) {
        snprintf(err, errlen, "protobuf: out of memory");
        return SL_ERROR;
    }
    if (w->c->confluent) {
        char id[16], index[128];
        long off = pb_confluent_strip(data, len, id, sizeof(id), index, sizeof(index), err, errlen);
        if (off < 0)
            return SL_ERROR;
        if (sl_msg_set_header(m, PB_CONFLUENT_ID_HEADER, id, strlen(id)) < 0 ||
            sl_msg_set_header(m, PB_CONFLUENT_INDEX_HEADER, index, strlen(index)) < 0) {
            snprintf(err, errlen, "protobuf: out of memory");
            return SL_ERROR;
        }
        data += off;
        len -= (size_t)off;
    }
    if (pb_decode(&w->c->schema, &m->arena, data, len, root, err, errlen) < 0)
        return SL_ERROR;
    m->record = root;
    return SL_OK;
}

/* The schema id to write: the option, else the header a confluent decode set. */
static int schema_id(const struct pb_codec *c, const struct sl_msg *m, uint32_t *id, char *err,
                     size_t errlen)
{
    if (c->schema_id >= 0) {
        *id = (uint32_t)c->schema_id;
        return 0;
    }
    const struct sl_header *h = sl_msg_header(m, PB_CONFLUENT_ID_HEADER);
    char text[16] = "";
    if (h && h->value_len < sizeof(text)) {
        memcpy(text, h->value, h->value_len);
        char *end;
        unsigned long v = strtoul(text, &end, 10);
        if (*text && !*end && v <= UINT32_MAX) {
            *id = (uint32_t)v;
            return 0;
        }
    }
    snprintf(err, errlen, "protobuf: no schema id: set schema_id or decode with confluent = true");
    return -1;
}

/* With no record (nothing decoded it), the payload is passed through as is. */
static int pbc_encode(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err,
                      size_t errlen)
{
    struct worker *w = wctx;
    size_t was = out->len;
    if (!m->record) {
        if (sl_buf_append(out, m->payload.data, m->payload.len) < 0) {
            snprintf(err, errlen, "protobuf: out of memory");
            return SL_ERROR;
        }
        return SL_OK;
    }
    if (w->c->confluent) {
        uint32_t id;
        const struct sl_header *h = sl_msg_header(m, PB_CONFLUENT_INDEX_HEADER);
        char index[128] = "";
        if (h && h->value_len < sizeof(index))
            memcpy(index, h->value, h->value_len);
        if (schema_id(w->c, m, &id, err, errlen) < 0 ||
            pb_confluent_write(out, id, index, err, errlen) < 0)
            goto fail;
    }
    char *mark = w->scratch.ptr; /* scratch is rarely used: reset only when it was */
    int rc = pb_encode(&w->c->schema, &w->scratch, m->record, out, err, errlen);
    if (w->scratch.ptr != mark)
        sl_arena_reset(&w->scratch);
    if (rc < 0)
        goto fail;
    return SL_OK;
fail:
    out->len = was;
    return SL_ERROR;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_CODEC,
    .name = "protobuf",
    .version = "0.1.0",
    .doc =
        "one protobuf message per payload <-> record (schema from a descriptor set or a protoc-c "
        "library)",
    .options = options,
    .init = pbc_init,
    .destroy = pbc_destroy,
    .worker_init = pbc_worker_init,
    .worker_destroy = pbc_worker_destroy,
    .decode = pbc_decode,
    .encode = pbc_encode,
};
