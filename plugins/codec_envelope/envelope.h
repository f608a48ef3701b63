/* envelope.h - the envelope codec's worker state, shared by its encoder
 * (envelope.c) and its decoder (unwrap.c). */
#ifndef SLUICE_ENVELOPE_H
#define SLUICE_ENVELOPE_H

#include <stdbool.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include <sluice/sluice.h>

#include "json.h"

/* The codec's shared options. */
struct envelope_conf {
    bool payload_json; /* decode: parse the restored payload as JSON into the record */
    struct json_opts json;
};

struct envelope_worker {
    const struct envelope_conf *conf;
    yajl_gen gen;         /* encode */
    struct json_dec *dec; /* decode, made on first use */
    struct sl_buf text;   /* decode: a copy of the envelope while it is taken apart */
};

/* True for the names of the envelope's "source" object that are struct
 * sl_source's own fields; every other member there is a source attribute. */
static inline bool envelope_source_field(const char *name)
{
    static const char *const fields[] = {"name", "partition", "offset", "timestamp", "failure"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(name, fields[i]) == 0)
            return true;
    return false;
}

/* Decode one envelope back into the message it was (see unwrap.c). */
int envelope_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen);

#endif
