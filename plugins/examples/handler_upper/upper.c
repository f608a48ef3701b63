/* handler_upper - an example out-of-tree plugin: upper-cases ASCII letters
 * of each payload (or only of messages whose route matches `only_route`),
 * and tags them with a header. Shows the whole SDK surface a handler needs. */
#include <string.h>

#include <sluice/sluice.h>

struct upper {
    const char *only_route; /* NULL: every message */
    const char *tag;
};

static struct upper settings; /* one instance is enough for an example */

static int upper_init(struct sl_instance *inst, void **ctx)
{
    settings.only_route = sl_opt_str(inst, "only_route");
    settings.tag = sl_opt_str(inst, "tag");
    *ctx = &settings;
    return SL_OK;
}

static int upper_process(void *ctx, struct sl_msg **msgs, size_t n, struct sl_emitter *out)
{
    const struct upper *u = ctx;
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        if (!u->only_route || (m->route && strcmp(m->route, u->only_route) == 0)) {
            for (size_t k = 0; k < m->payload.len; k++)
                if (m->payload.data[k] >= 'a' && m->payload.data[k] <= 'z')
                    m->payload.data[k] = (uint8_t)(m->payload.data[k] - 'a' + 'A');
            m->record = NULL; /* the payload changed: the old record is stale */
        }
        if (sl_msg_set_header(m, "x-upper", u->tag, strlen(u->tag)) < 0) {
            sl_fail(out, m, "out of memory");
            continue;
        }
        sl_emit(out, m);
    }
    return SL_OK;
}

static const struct sl_option upper_options[] = {
    {.name = "only_route",
     .type = SL_OPT_STRING,
     .check = SL_CHECK_NONEMPTY,
     .doc = "upper-case only messages with this route"},
    {.name = "tag", .type = SL_OPT_STRING, .def = "yes", .doc = "value of the x-upper header"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_HANDLER,
    .name = "upper",
    .version = "1.0.0",
    .doc = "example out-of-tree plugin: upper-case payloads",
    .options = upper_options,
    .init = upper_init,
    .process = upper_process,
};
