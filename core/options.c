/* options.c - check a plugin's config group against its options table, and
 * the sl_opt_* readers plugins use. No plugin parses options by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static const char *opt_type_name(int t)
{
    switch (t) {
    case SL_OPT_STRING:
        return "a string";
    case SL_OPT_INT:
        return "an integer";
    case SL_OPT_BOOL:
        return "a boolean";
    case SL_OPT_DOUBLE:
        return "a number";
    case SL_OPT_LIST:
        return "a list of strings";
    case SL_OPT_GROUP:
        return "a group";
    default:
        return "a value";
    }
}

static bool type_ok(const config_setting_t *s, int t)
{
    int ct = config_setting_type(s);
    switch (t) {
    case SL_OPT_STRING:
        return ct == CONFIG_TYPE_STRING;
    case SL_OPT_INT:
        return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64;
    case SL_OPT_BOOL:
        return ct == CONFIG_TYPE_BOOL;
    case SL_OPT_DOUBLE:
        return ct == CONFIG_TYPE_FLOAT || ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64;
    case SL_OPT_LIST:
        if (ct != CONFIG_TYPE_ARRAY && ct != CONFIG_TYPE_LIST)
            return false;
        for (int i = 0; i < config_setting_length(s); i++)
            if (config_setting_type(config_setting_get_elem(s, i)) != CONFIG_TYPE_STRING)
                return false;
        return true;
    case SL_OPT_GROUP:
        return ct == CONFIG_TYPE_GROUP;
    default:
        return true;
    }
}

static const struct sl_option *find_option(const struct sl_plugin *p, const char *name)
{
    for (const struct sl_option *o = p->options; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int to_value(struct sl_arena *a, const config_setting_t *s, struct sl_value *v)
{
    memset(v, 0, sizeof(*v));
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v->type = SL_INT;
        v->u.i = config_setting_get_int64(s);
        return 0;
    case CONFIG_TYPE_FLOAT:
        v->type = SL_DOUBLE;
        v->u.d = config_setting_get_float(s);
        return 0;
    case CONFIG_TYPE_BOOL:
        v->type = SL_BOOL;
        v->u.b = config_setting_get_bool(s);
        return 0;
    case CONFIG_TYPE_STRING: {
        const char *str = config_setting_get_string(s);
        v->type = SL_STRING;
        v->len = (uint32_t)strlen(str);
        v->u.str = sl_arena_strndup(a, str, v->len);
        return v->u.str ? 0 : -1;
    }
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_GROUP: {
        bool group = config_setting_type(s) == CONFIG_TYPE_GROUP;
        uint32_t n = (uint32_t)config_setting_length(s);
        v->type = group ? SL_MAP : SL_ARRAY;
        v->len = n;
        size_t each = group ? sizeof(struct sl_member) : sizeof(struct sl_value);
        void *items = sl_arena_alloc(a, each * (n ? n : 1));
        if (!items)
            return -1;
        for (uint32_t i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, i);
            if (group) {
                struct sl_member *mb = &((struct sl_member *)items)[i];
                mb->key_len = (uint32_t)strlen(config_setting_name(e));
                mb->key = sl_arena_strndup(a, config_setting_name(e), mb->key_len);
                if (!mb->key || to_value(a, e, &mb->value) < 0)
                    return -1;
            } else if (to_value(a, e, &((struct sl_value *)items)[i]) < 0) {
                return -1;
            }
        }
        if (group)
            v->u.members = items;
        else
            v->u.items = items;
        return 0;
    }
    default:
        v->type = SL_NULL;
        return 0;
    }
}

static bool is_common(const char *name, const char *const *common)
{
    for (; common && *common; common++)
        if (strcmp(*common, name) == 0)
            return true;
    return false;
}

static const char *file_of(const config_setting_t *s)
{
    const char *f = config_setting_source_file(s);
    return f ? f : "<config>";
}

int sl__options_validate(struct sl_instance *inst, const char *const *common)
{
    const struct sl_plugin *p = inst->plugin;
    const config_setting_t *g = inst->setting;
    const char *kind = sl__kind_name(p->kind);
    int errors = 0;
    for (int i = 0; g && i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, i);
        const char *name = config_setting_name(s);
        if (is_common(name, common))
            continue;
        const struct sl_option *o = find_option(p, name);
        if (!o) {
            char known[512] = "";
            size_t len = 0;
            for (const struct sl_option *k = p->options; k && k->name && len < sizeof(known) - 64;
                 k++)
                len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
                                        k->name);
            fprintf(stderr, "%s:%d: unknown option '%s' for %s '%s' (it takes: %s)\n", file_of(s),
                    config_setting_source_line(s), name, kind, p->name, len ? known : "no options");
            errors++;
        } else if (!type_ok(s, o->type)) {
            fprintf(stderr, "%s:%d: option '%s' of %s '%s' must be %s\n", file_of(s),
                    config_setting_source_line(s), name, kind, p->name, opt_type_name(o->type));
            errors++;
        } else {
            char why[1024];
            if (sl__option_check_value(o, s, why, sizeof(why)) < 0) {
                fprintf(stderr, "%s:%d: option '%s' of %s '%s' %s\n", file_of(s),
                        config_setting_source_line(s), name, kind, p->name, why);
                errors++;
            }
        }
    }
    for (const struct sl_option *o = p->options; o && o->name; o++) {
        if (o->required && !(g && config_setting_get_member(g, o->name))) {
            fprintf(stderr, "%s:%d: %s '%s' needs option '%s' (%s)\n", g ? file_of(g) : "<config>",
                    g ? config_setting_source_line(g) : 0, kind, p->name, o->name,
                    o->doc ? o->doc : opt_type_name(o->type));
            errors++;
        }
    }
    if (errors)
        return -1;
    inst->config = sl_arena_alloc(&inst->arena, sizeof(*inst->config));
    if (!inst->config)
        return -1;
    if (g)
        return to_value(&inst->arena, g, inst->config);
    memset(inst->config, 0, sizeof(*inst->config));
    inst->config->type = SL_MAP;
    return 0;
}

/* ---- readers ---- */

const struct sl_value *sl_instance_config(const struct sl_instance *inst)
{
    return inst->config;
}

const struct sl_value *sl_opt_value(const struct sl_instance *inst, const char *name)
{
    return sl_map_get(inst->config, name);
}

static const char *opt_default(const struct sl_instance *inst, const char *name)
{
    const struct sl_option *o = find_option(inst->plugin, name);
    return o ? o->def : NULL;
}

const char *sl_opt_str(const struct sl_instance *inst, const char *name)
{
    const struct sl_value *v = sl_opt_value(inst, name);
    if (v && v->type == SL_STRING)
        return v->u.str;
    return opt_default(inst, name);
}

int64_t sl_opt_int(const struct sl_instance *inst, const char *name)
{
    const struct sl_value *v = sl_opt_value(inst, name);
    if (v && v->type == SL_INT)
        return v->u.i;
    if (v && v->type == SL_DOUBLE)
        return (int64_t)v->u.d;
    const char *d = opt_default(inst, name);
    return d ? strtoll(d, NULL, 0) : 0;
}

double sl_opt_double(const struct sl_instance *inst, const char *name)
{
    const struct sl_value *v = sl_opt_value(inst, name);
    if (v && v->type == SL_DOUBLE)
        return v->u.d;
    if (v && v->type == SL_INT)
        return (double)v->u.i;
    const char *d = opt_default(inst, name);
    return d ? strtod(d, NULL) : 0.0;
}

bool sl_opt_bool(const struct sl_instance *inst, const char *name)
{
    const struct sl_value *v = sl_opt_value(inst, name);
    if (v && v->type == SL_BOOL)
        return v->u.b;
    const char *d = opt_default(inst, name);
    return d && (strcmp(d, "true") == 0 || strcmp(d, "1") == 0);
}

size_t sl_opt_list_len(const struct sl_instance *inst, const char *name)
{
    const struct sl_value *v = sl_opt_value(inst, name);
    return v && v->type == SL_ARRAY ? v->len : 0;
}

const char *sl_opt_list_item(const struct sl_instance *inst, const char *name, size_t i)
{
    const struct sl_value *v = sl_opt_value(inst, name);
    if (!v || v->type != SL_ARRAY || i >= v->len || v->u.items[i].type != SL_STRING)
        return NULL;
    return v->u.items[i].u.str;
}

const char *sl_instance_name(const struct sl_instance *inst)
{
    return inst->name;
}

unsigned sl_instance_workers(const struct sl_instance *inst)
{
    return inst->workers;
}

const char *sl_instance_where(const struct sl_instance *inst)
{
    return inst->where;
}

bool sl_instance_checking(const struct sl_instance *inst)
{
    return inst->checking;
}
