/* codec_msgpack.c - the "msgpack" codec: one MessagePack object per message <-> the record
 * tree; optionally the Fluentd / Fluent Bit event format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/sluice.h"

#include "mp.h"

static const char *const ext_modes[] = {"wrap", "refuse", NULL};
static const char *const formats[] = {"plain", "fluent", NULL};

static const struct sl_option options[] = {
    {.name = "ext",
     .type = SL_OPT_STRING,
     .def = "wrap",
     .allowed = ext_modes,
     .doc = "ext values: wrap (a map {\"$ext\": type, \"$data\": bytes}, written back as the ext) "
            "or refuse (the message goes to dead_letter)"},
    {.name = "format",
     .type = SL_OPT_STRING,
     .def = "plain",
     .allowed = formats,
     .doc = "plain: the object is the record; fluent: a Fluentd/Fluent Bit event [time, record], "
            "the time in header fluent_time"},
    {0},
};

static int mp_init(struct sl_instance *inst, void **ctx)
{
    struct mp_opts *o = calloc(1, sizeof(*o));
    if (!o) {
        sl_instance_error(inst, "out of memory");
        return SL_ERROR;
    }
    /* the options table allows only these values */
    o->ext = !strcmp(sl_opt_str(inst, "ext"), "refuse") ? MP_EXT_REFUSE : MP_EXT_WRAP;
    o->fluent = !strcmp(sl_opt_str(inst, "format"), "fluent");
    *ctx = o;
    return SL_OK;
}

static void mp_destroy(void *ctx)
{
    free(ctx);
}

/* No worker state: wctx is the options (the decoder needs nothing else). */
static int mp_codec_decode(void *wctx, struct sl_msg *m, char *err, size_t errlen)
{
    const struct mp_opts *o = wctx;
    struct sl_value *root = sl_arena_alloc(&m->arena, sizeof(*root));
    if (!root) {
        snprintf(err, errlen, "msgpack: out of memory");
        return SL_ERROR;
    }
    struct mp_time t;
    if (mp_decode(o, &m->arena, m->payload.data, m->payload.len, root, &t, err, errlen) < 0)
        return SL_ERROR;
    if (o->fluent) {
        char text[40];
        mp_time_format(&t, text, sizeof(text));
        if (sl_msg_set_header(m, MP_TIME_HEADER, text, strlen(text)) < 0) {
            snprintf(err, errlen, "msgpack: out of memory");
            return SL_ERROR;
        }
        m->source.timestamp_ms = t.sec * 1000 + t.nsec / 1000000;
    }
    m->record = root;
    return SL_OK;
}

/* The event time of an outgoing fluent event: the fluent_time header a fluent
 * decode set, else the message's source timestamp, else now. */
static void event_time(const struct sl_msg *m, struct mp_time *t)
{
    const struct sl_header *h = sl_msg_header(m, MP_TIME_HEADER);
    if (h && mp_time_parse((const char *)h->value, h->value_len, t) == 0)
        return;
    if (m->source.timestamp_ms > 0) {
        t->sec = m->source.timestamp_ms / 1000;
        t->nsec = (uint32_t)(m->source.timestamp_ms % 1000) * 1000000u;
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->sec = ts.tv_sec;
    t->nsec = (uint32_t)ts.tv_nsec;
}

/* With no record (nothing decoded it), the payload is passed through as is. */
static int mp_codec_encode(void *wctx, const struct sl_msg *m, struct sl_buf *out, char *err,
                           size_t errlen)
{
    const struct mp_opts *o = wctx;
    if (!m->record) {
        if (sl_buf_append(out, m->payload.data, m->payload.len) < 0) {
            snprintf(err, errlen, "msgpack: out of memory");
            return SL_ERROR;
        }
        return SL_OK;
    }
    struct mp_time t = {0};
    if (o->fluent)
        event_time(m, &t);
    return mp_encode_event(o, m->record, &t, out, err, errlen) < 0 ? SL_ERROR : SL_OK;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_CODEC,
    .name = "msgpack",
    .version = "0.1.0",
    .doc = "one MessagePack object per message <-> record (Fluentd events optional)",
    .options = options,
    .init = mp_init,
    .destroy = mp_destroy,
    .decode = mp_codec_decode,
    .encode = mp_codec_encode,
};
