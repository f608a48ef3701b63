/* config.c - read the libconfig file into instances: check every key, load
 * every plugin, and report each problem as FILE:LINE: message. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static const char *const top_keys[] = {
    "name",    "plugin_path", "queue",   "inputs",  "handlers",        "outputs", "dead_letter",
    "failure", "retry",       "metrics", "tracing", "stop_timeout_ms", NULL};
static const char *const input_keys[] = {"type",           "name",    "workers", "codec",
                                         "decode_workers", "ordered", NULL};
static const char *const handler_keys[] = {"type", "name", "workers", "ordered", "retry", NULL};
static const char *const output_keys[] = {"type",  "name",  "workers", "codec", "match",
                                          "batch", "retry", "ordered", NULL};
static const char *const codec_keys[] = {"type", NULL};

static const char *src_file(const config_setting_t *s, const struct sl__pipeline *pl)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : pl->path;
}

#define CONF_ERR(pl, s, ...)                                                                       \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", src_file((s), (pl)), (s) ? config_setting_source_line(s) : 0);  \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
    } while (0)

static bool in_list(const char *name, const char *const *keys)
{
    for (; *keys; keys++)
        if (strcmp(*keys, name) == 0)
            return true;
    return false;
}

static int check_keys(struct sl__pipeline *pl, const config_setting_t *g, const char *what,
                      const char *const *keys)
{
    int errors = 0;
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, i);
        if (!in_list(config_setting_name(s), keys)) {
            CONF_ERR(pl, s, "unknown key '%s' in %s", config_setting_name(s), what);
            errors++;
        }
    }
    return errors ? -1 : 0;
}

/* An optional integer member within [lo, hi]; *out keeps its default when
 * the member is absent. */
static int get_uint(struct sl__pipeline *pl, const config_setting_t *g, const char *key,
                    long long lo, long long hi, uint32_t *out)
{
    const config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    if (!s)
        return 0;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        CONF_ERR(pl, s, "'%s' must be an integer", key);
        return -1;
    }
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi) {
        CONF_ERR(pl, s, "'%s' must be between %lld and %lld, not %lld", key, lo, hi, v);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int get_group(struct sl__pipeline *pl, const config_setting_t *parent, const char *key,
                     const config_setting_t **out)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    *out = s;
    if (s && config_setting_type(s) != CONFIG_TYPE_GROUP) {
        CONF_ERR(pl, s, "'%s' must be a group { ... }", key);
        return -1;
    }
    return 0;
}

static int get_bool(struct sl__pipeline *pl, const config_setting_t *g, const char *key, bool *out)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        CONF_ERR(pl, s, "'%s' must be true or false", key);
        return -1;
    }
    *out = config_setting_get_bool(s);
    return 0;
}

static int get_string(struct sl__pipeline *pl, const config_setting_t *g, const char *key,
                      const char **out)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        CONF_ERR(pl, s, "'%s' must be a string", key);
        return -1;
    }
    *out = config_setting_get_string(s);
    return 0;
}

static int read_retry(struct sl__pipeline *pl, const config_setting_t *parent, unsigned *attempts,
                      uint32_t *backoff, uint32_t *max_backoff)
{
    static const char *const keys[] = {"max_attempts", "backoff_ms", "max_backoff_ms", NULL};
    const config_setting_t *g;
    if (get_group(pl, parent, "retry", &g) < 0)
        return -1;
    if (!g)
        return 0;
    uint32_t a = *attempts;
    if (check_keys(pl, g, "retry", keys) < 0 ||
        get_uint(pl, g, "max_attempts", 1, 1000000, &a) < 0 ||
        get_uint(pl, g, "backoff_ms", 0, 3600000, backoff) < 0 ||
        get_uint(pl, g, "max_backoff_ms", 0, 86400000, max_backoff) < 0)
        return -1;
    if (*backoff > *max_backoff) {
        CONF_ERR(pl, g, "retry: 'backoff_ms' (%u) must not exceed 'max_backoff_ms' (%u)", *backoff,
                 *max_backoff);
        return -1;
    }
    *attempts = a;
    return 0;
}

static struct sl_instance *new_instance(struct sl__pipeline *pl, int kind,
                                        const config_setting_t *g, const char *type)
{
    char err[2048];
    const struct sl_plugin *p = sl__loader_get(pl->loader, kind, type, err, sizeof(err));
    if (!p) {
        CONF_ERR(pl, g, "%s", err);
        return NULL;
    }
    struct sl_instance *inst = calloc(1, sizeof(*inst));
    if (!inst)
        return NULL;
    inst->plugin = p;
    inst->kind = kind;
    inst->setting = (config_setting_t *)g;
    inst->pl = pl;
    inst->checking = pl->checking;
    inst->workers = 1;
    inst->decode_workers = 1;
    inst->max_attempts = pl->max_attempts;
    inst->backoff_ms = pl->backoff_ms;
    inst->max_backoff_ms = pl->max_backoff_ms;
    inst->batch_size = pl->batch_size;
    inst->linger_ms = pl->linger_ms;
    pthread_mutex_init(&inst->counters_mu, NULL);
    pthread_mutex_init(&inst->ready_mu, NULL);
    snprintf(inst->where, sizeof(inst->where), "%s:%d", src_file(g, pl),
             g ? config_setting_source_line(g) : 0);
    size_t n = pl->n_all + 1;
    struct sl_instance **all = realloc(pl->all, n * sizeof(*all));
    if (!all) {
        free(inst);
        return NULL;
    }
    pl->all = all;
    pl->all[pl->n_all++] = inst;
    return inst;
}

static int init_instance(struct sl__pipeline *pl, struct sl_instance *inst)
{
    if (!inst->plugin->init)
        return 0;
    if (inst->plugin->init(inst, &inst->ctx) != SL_OK) {
        /* The plugin said why with sl_instance_error, or we say it gave no reason. */
        if (!inst->error_reported)
            sl_instance_error(inst, "%s '%s' failed to start and gave no reason",
                              sl__kind_name(inst->kind), inst->plugin->name);
        return -1;
    }
    (void)pl;
    return 0;
}

/* codec = "json"; or codec = { type = "json"; option = ...; } */
static int read_codec(struct sl__pipeline *pl, struct sl_instance *owner, const config_setting_t *g)
{
    const config_setting_t *s = config_setting_get_member(g, "codec");
    const char *type = "lines";
    const config_setting_t *cg = NULL;
    if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
        type = config_setting_get_string(s);
    } else if (s && config_setting_type(s) == CONFIG_TYPE_GROUP) {
        cg = s;
        if (get_string(pl, s, "type", &type) < 0)
            return -1;
        if (!config_setting_get_member(s, "type")) {
            CONF_ERR(pl, s, "codec group needs a 'type'");
            return -1;
        }
    } else if (s) {
        CONF_ERR(pl, s, "'codec' must be a name or a group { type = ...; }");
        return -1;
    }
    struct sl_instance *c = new_instance(pl, SL_KIND_CODEC, cg ? cg : (s ? s : g), type);
    if (!c)
        return -1;
    const struct sl_plugin *cp = c->plugin;
    if (owner->kind == SL_KIND_INPUT && cp->encode && !cp->decode) {
        CONF_ERR(pl, s, "codec '%s' only encodes: an input needs one that decodes", type);
        return -1;
    }
    if (owner->kind == SL_KIND_OUTPUT && cp->decode && !cp->encode) {
        CONF_ERR(pl, s, "codec '%s' only decodes: an output needs one that encodes", type);
        return -1;
    }
    c->setting = (config_setting_t *)cg;
    if (asprintf(&c->name, "%s.codec", owner->name) < 0)
        return -1;
    c->workers = 1;
    if (sl__options_validate(c, codec_keys) < 0 || init_instance(pl, c) < 0)
        return -1;
    owner->codec = c;
    return 0;
}

static bool name_taken(struct sl__pipeline *pl, const char *name)
{
    for (size_t i = 0; i < pl->n_all; i++)
        if (pl->all[i]->name && pl->all[i]->kind != SL_KIND_CODEC &&
            strcmp(pl->all[i]->name, name) == 0)
            return true;
    return false;
}

static struct sl_instance *read_stage(struct sl__pipeline *pl, int kind, const config_setting_t *g,
                                      const char *what)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        CONF_ERR(pl, g, "each %s must be a group { type = ...; }", what);
        return NULL;
    }
    const char *type = NULL, *name = NULL;
    if (get_string(pl, g, "type", &type) < 0 || get_string(pl, g, "name", &name) < 0)
        return NULL;
    if (!type) {
        CONF_ERR(pl, g, "%s needs a 'type'", what);
        return NULL;
    }
    if (!name && strcmp(what, "dead_letter") == 0)
        name = "dead_letter";
    struct sl_instance *inst = new_instance(pl, kind, g, type);
    if (!inst)
        return NULL;
    if (name && name_taken(pl, name)) {
        CONF_ERR(pl, g, "name '%s' is used twice", name);
        return NULL;
    }
    if (name) {
        inst->name = strdup(name);
    } else {
        /* default: the type, made unique ("file", "file-2") */
        char candidate[256];
        snprintf(candidate, sizeof(candidate), "%s", type);
        for (int i = 2; name_taken(pl, candidate); i++)
            snprintf(candidate, sizeof(candidate), "%s-%d", type, i);
        inst->name = strdup(candidate);
    }
    if (!inst->name)
        return NULL;
    uint32_t workers = 1, dworkers = 1;
    const char *const *common = kind == SL_KIND_INPUT     ? input_keys
                                : kind == SL_KIND_HANDLER ? handler_keys
                                                          : output_keys;
    if (get_uint(pl, g, "workers", 1, 256, &workers) < 0 ||
        get_bool(pl, g, "ordered", &inst->ordered) < 0 ||
        read_retry(pl, g, &inst->max_attempts, &inst->backoff_ms, &inst->max_backoff_ms) < 0)
        return NULL;
    unsigned max_workers = inst->plugin->max_workers;
    if (max_workers && workers > max_workers) {
        CONF_ERR(pl, config_setting_get_member(g, "workers"),
                 "%s '%s' runs at most %u worker%s, not %u", sl__kind_name(kind), type, max_workers,
                 max_workers == 1 ? "" : "s", workers);
        return NULL;
    }
    inst->workers = workers;
    if (kind == SL_KIND_INPUT) {
        if (get_uint(pl, g, "decode_workers", 1, 256, &dworkers) < 0)
            return NULL;
        inst->decode_workers = dworkers;
    }
    if (kind == SL_KIND_OUTPUT) {
        const char *match = "*";
        const config_setting_t *batch;
        static const char *const batch_keys[] = {"size", "linger_ms", NULL};
        if (get_string(pl, g, "match", &match) < 0 || get_group(pl, g, "batch", &batch) < 0)
            return NULL;
        if (batch && (check_keys(pl, batch, "batch", batch_keys) < 0 ||
                      get_uint(pl, batch, "size", 1, 65536, &inst->batch_size) < 0 ||
                      get_uint(pl, batch, "linger_ms", 0, 60000, &inst->linger_ms) < 0))
            return NULL;
        if (!*match) {
            CONF_ERR(pl, config_setting_get_member(g, "match"),
                     "'match' must not be empty (\"*\" takes every route)");
            return NULL;
        }
        inst->match = strdup(match);
        inst->match_all = strcmp(match, "*") == 0;
    }
    if (sl__options_validate(inst, common) < 0)
        return NULL;
    const char *same;
    const struct sl_instance *reader =
        kind == SL_KIND_OUTPUT ? sl__input_reading_output(pl, inst, &same) : NULL;
    if (reader) {
        CONF_ERR(pl, g,
                 "%s '%s' would write %s, which input '%s' reads: it would read its own output "
                 "without end",
                 what, inst->name, same, reader->name);
        return NULL;
    }
    struct sl__clash clash;
    const struct sl_instance *other = sl__writer_clash(pl, inst, &clash);
    if (other == inst) {
        CONF_ERR(pl, g,
                 "%s '%s': '%s' and '%s' name the same file (%s): one would corrupt the other",
                 what, inst->name, clash.mine, clash.theirs, clash.path);
        return NULL;
    }
    if (other) {
        CONF_ERR(pl, g,
                 "%s '%s': '%s' names the file %s '%s' writes too ('%s', %s): two writers would "
                 "corrupt it",
                 what, inst->name, clash.mine, sl__kind_name(other->kind), other->name,
                 clash.theirs, clash.path);
        return NULL;
    }
    if ((kind == SL_KIND_INPUT || kind == SL_KIND_OUTPUT) && read_codec(pl, inst, g) < 0)
        return NULL;
    if (init_instance(pl, inst) < 0)
        return NULL;
    return inst;
}

static int read_list(struct sl__pipeline *pl, const config_setting_t *root, const char *key,
                     int kind, struct sl_instance ***out, size_t *n)
{
    const config_setting_t *l = config_setting_get_member(root, key);
    if (!l)
        return 0;
    if (config_setting_type(l) != CONFIG_TYPE_LIST) {
        CONF_ERR(pl, l, "'%s' must be a list ( { ... }, { ... } )", key);
        return -1;
    }
    int len = config_setting_length(l);
    *out = calloc(len ? (size_t)len : 1, sizeof(**out));
    if (!*out)
        return -1;
    int errors = 0;
    for (int i = 0; i < len; i++) {
        char what[64];
        snprintf(what, sizeof(what), "%s #%d", sl__kind_name(kind), i + 1);
        struct sl_instance *inst = read_stage(pl, kind, config_setting_get_elem(l, i), what);
        if (!inst) {
            errors++;
            continue;
        }
        (*out)[(*n)++] = inst;
    }
    return errors ? -1 : 0;
}

/* metrics.listen: an address this host can listen on, so that only a port
 * in use can stop the metrics server at start. */
static int check_listen(struct sl__pipeline *pl, const config_setting_t *s, const char *listen)
{
    struct sl__address a;
    char why[300];
    if (sl__address_parse(listen, &a, why, sizeof(why)) < 0) {
        CONF_ERR(pl, s, "metrics.listen must be HOST:PORT or [IPV6]:PORT (%s)", why);
        return -1;
    }
    unsigned char ip[16];
    if (a.host[0] && strcmp(a.host, "localhost") != 0 &&
        inet_pton(a.ipv6 ? AF_INET6 : AF_INET, a.host, ip) != 1) {
        CONF_ERR(pl, s, "metrics.listen: '%s' is not an IP%s address of this host", a.host,
                 a.ipv6 ? "v6" : "v4");
        return -1;
    }
    return 0;
}

/* failure = "discard" | "stop": what a message that fails for good becomes
 * when no dead_letter is configured. */
static int read_failure_mode(struct sl__pipeline *pl, const config_setting_t *root)
{
    const char *mode = NULL;
    if (get_string(pl, root, "failure", &mode) < 0)
        return -1;
    if (!mode)
        return 0;
    if (strcmp(mode, "discard") == 0) {
        pl->failure_mode = SL__FAILURE_DISCARD;
    } else if (strcmp(mode, "stop") == 0) {
        pl->failure_mode = SL__FAILURE_STOP;
    } else {
        CONF_ERR(pl, config_setting_get_member(root, "failure"),
                 "failure must be \"discard\" or \"stop\", not \"%s\"", mode);
        return -1;
    }
    return 0;
}

static int read_globals(struct sl__pipeline *pl, const config_setting_t *root)
{
    static const char *const queue_keys[] = {"capacity", "batch_size", "linger_ms", NULL};
    static const char *const metrics_keys[] = {"listen", NULL};
    const config_setting_t *q, *metrics;
    const char *name = "sluice";
    if (check_keys(pl, root, "the top level", top_keys) < 0 ||
        get_string(pl, root, "name", &name) < 0 || get_group(pl, root, "queue", &q) < 0 ||
        get_group(pl, root, "metrics", &metrics) < 0)
        return -1;
    pl->name = strdup(name);
    if (q && (check_keys(pl, q, "queue", queue_keys) < 0 ||
              get_uint(pl, q, "capacity", 1, 1 << 24, &pl->queue_capacity) < 0 ||
              get_uint(pl, q, "batch_size", 1, 65536, &pl->batch_size) < 0 ||
              get_uint(pl, q, "linger_ms", 0, 60000, &pl->linger_ms) < 0))
        return -1;
    const char *listen = NULL;
    if (metrics && (check_keys(pl, metrics, "metrics", metrics_keys) < 0 ||
                    get_string(pl, metrics, "listen", &listen) < 0))
        return -1;
    if (listen && check_listen(pl, config_setting_get_member(metrics, "listen"), listen) < 0)
        return -1;
    if (listen && !(pl->metrics_listen = strdup(listen)))
        return -1;
    if (read_failure_mode(pl, root) < 0 ||
        get_uint(pl, root, "stop_timeout_ms", 0, 3600000, &pl->stop_timeout_ms) < 0)
        return -1;
    return read_retry(pl, root, &pl->max_attempts, &pl->backoff_ms, &pl->max_backoff_ms);
}

static int make_loader(struct sl__pipeline *pl, const config_setting_t *root)
{
    const config_setting_t *pp = config_setting_get_member(root, "plugin_path");
    const char *dirs[64];
    size_t n = 0;
    if (pp && config_setting_type(pp) == CONFIG_TYPE_STRING) {
        dirs[n++] = config_setting_get_string(pp);
    } else if (pp && (config_setting_type(pp) == CONFIG_TYPE_ARRAY ||
                      config_setting_type(pp) == CONFIG_TYPE_LIST)) {
        for (int i = 0; i < config_setting_length(pp) && n < 64; i++) {
            const char *d = config_setting_get_string_elem(pp, i);
            if (!d) {
                CONF_ERR(pl, pp, "plugin_path must list directory names (strings)");
                return -1;
            }
            dirs[n++] = d;
        }
    } else if (pp) {
        CONF_ERR(pl, pp, "plugin_path must be a string or a list of strings");
        return -1;
    }
    pl->loader = sl__loader_new(dirs, n);
    return pl->loader ? 0 : -1;
}

struct sl__pipeline *sl__pipeline_load(const char *path, bool checking)
{
    struct sl__pipeline *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return NULL;
    pl->path = strdup(path);
    pl->checking = checking;
    pl->queue_capacity = 1024;
    pl->batch_size = 256;
    pl->linger_ms = 5;
    pl->max_attempts = 1;
    pl->backoff_ms = 100;
    pl->max_backoff_ms = 30000;
    pl->stop_timeout_ms = SL__STOP_TIMEOUT_MS_DEFAULT;
    pthread_mutex_init(&pl->done_mu, NULL);
    pthread_cond_init(&pl->done_cv, NULL);
    config_init(&pl->cfg);
    pl->cfg_loaded = true;
    sl__config_set_include_dir(&pl->cfg, path);
    if (!config_read_file(&pl->cfg, path)) {
        if (config_error_type(&pl->cfg) == CONFIG_ERR_FILE_IO)
            fprintf(stderr, "%s: cannot read the config file\n", path);
        else
            fprintf(stderr, "%s:%d: %s\n",
                    config_error_file(&pl->cfg) ? config_error_file(&pl->cfg) : path,
                    config_error_line(&pl->cfg), config_error_text(&pl->cfg));
        goto out_fail;
    }
    if (sl__config_expand_env(&pl->cfg, path) < 0)
        goto out_fail;
    const config_setting_t *root = config_root_setting(&pl->cfg);
    if (read_globals(pl, root) < 0 || make_loader(pl, root) < 0 ||
        sl__trace_configure(root, path) < 0)
        goto out_fail;
    int errors = 0;
    errors += read_list(pl, root, "inputs", SL_KIND_INPUT, &pl->inputs, &pl->n_inputs) < 0;
    errors += read_list(pl, root, "handlers", SL_KIND_HANDLER, &pl->handlers, &pl->n_handlers) < 0;
    errors += read_list(pl, root, "outputs", SL_KIND_OUTPUT, &pl->outputs, &pl->n_outputs) < 0;
    const config_setting_t *dl = config_setting_get_member(root, "dead_letter");
    if (dl) {
        pl->dlq = read_stage(pl, SL_KIND_OUTPUT, dl, "dead_letter");
        errors += !pl->dlq;
    }
    if (errors)
        goto out_fail;
    if (!pl->n_inputs || !pl->n_outputs) {
        fprintf(stderr, "%s: a pipeline needs at least one input and one output\n", path);
        goto out_fail;
    }
    if (checking && !pl->dlq && pl->failure_mode == SL__FAILURE_UNSET)
        fprintf(stderr,
                "%s: warning: no dead_letter and no failure = \"discard\" | \"stop\": a message "
                "that fails for good is logged, counted and acknowledged, so its source will not "
                "send it again (the run then exits 2)\n",
                path);
    return pl;
out_fail:
    sl__pipeline_free(pl);
    return NULL;
}
