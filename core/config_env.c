/* config_env.c - what happens to the config file around libconfig's parser:
 * @include paths resolve against the main file's directory, and ${VAR} /
 * ${VAR:-default} in string values are replaced from the environment. */
#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Resolve relative @include paths against the directory of path, as Fluent
 * Bit does, so a unit can run the config from any working directory. */
void sl__config_set_include_dir(config_t *cfg, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    config_set_include_dir(cfg, dirname(copy)); /* libconfig keeps its own copy */
    free(copy);
}

struct expander {
    char *buf;
    size_t len, cap;
};

static int put(struct expander *e, const char *s, size_t n)
{
    if (e->len + n + 1 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 128;
        while (cap < e->len + n + 1)
            cap *= 2;
        char *b = realloc(e->buf, cap);
        if (!b)
            return -1;
        e->buf = b;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
    return 0;
}

static void where(const config_setting_t *s, const char *path)
{
    const char *file = config_setting_source_file(s);
    fprintf(stderr, "%s:%u: ", file ? file : path, config_setting_source_line(s));
}

/* Expand one string. Returns 1 when it changed (*out malloc'd), 0 when it has
 * nothing to expand, -1 after printing FILE:LINE: error. */
static int expand(const config_setting_t *s, const char *path, const char *in, char **out)
{
    if (!strchr(in, '$'))
        return 0;
    struct expander e = {0};
    const char *p = in;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (put(&e, p, strlen(p)) < 0)
                goto out_nomem;
            break;
        }
        if (put(&e, p, (size_t)(dollar - p)) < 0)
            goto out_nomem;
        if (dollar[1] == '$') { /* $$ is a literal $ */
            if (put(&e, "$", 1) < 0)
                goto out_nomem;
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') { /* a lone $ stays: regexes, prices */
            if (put(&e, "$", 1) < 0)
                goto out_nomem;
            p = dollar + 1;
            continue;
        }
        const char *name = dollar + 2, *q = name;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        size_t name_len = (size_t)(q - name);
        if (name_len == 0 || isdigit((unsigned char)*name)) {
            where(s, path);
            fprintf(stderr,
                    "'${' must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*) "
                    "in \"%s\" (write $$ for a literal $)\n",
                    in);
            goto out_fail;
        }
        const char *dflt = NULL, *end;
        if (q[0] == ':' && q[1] == '-') {
            dflt = q + 2;
            end = strchr(dflt, '}');
        } else {
            end = *q == '}' ? q : NULL;
        }
        if (!end) {
            where(s, path);
            fprintf(stderr, "unterminated '${%.*s' in \"%s\" (want ${VAR} or ${VAR:-default})\n",
                    (int)name_len, name, in);
            goto out_fail;
        }
        char var[256];
        if (name_len >= sizeof(var)) {
            where(s, path);
            fprintf(stderr, "variable name too long in \"%s\"\n", in);
            goto out_fail;
        }
        memcpy(var, name, name_len);
        var[name_len] = '\0';
        const char *value = getenv(var);
        if (dflt && (!value || !*value)) { /* like the shell's ${VAR:-x} */
            if (put(&e, dflt, (size_t)(end - dflt)) < 0)
                goto out_nomem;
        } else if (value) {
            if (put(&e, value, strlen(value)) < 0)
                goto out_nomem;
        } else {
            where(s, path);
            fprintf(stderr,
                    "environment variable %s is not set (use ${%s:-default} for a default)\n", var,
                    var);
            goto out_fail;
        }
        p = end + 1;
    }
    *out = e.buf ? e.buf : strdup("");
    return *out ? 1 : -1;
out_nomem:
    where(s, path);
    fprintf(stderr, "out of memory expanding \"%s\"\n", in);
out_fail:
    free(e.buf);
    return -1;
}

static int walk(config_setting_t *s, const char *path)
{
    int errors = 0;
    if (config_setting_is_aggregate(s)) {
        for (int i = 0; i < config_setting_length(s); i++)
            errors += walk(config_setting_get_elem(s, i), path) < 0;
        return errors ? -1 : 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return 0;
    char *expanded;
    int rc = expand(s, path, config_setting_get_string(s), &expanded);
    if (rc <= 0)
        return rc;
    rc = config_setting_set_string(s, expanded) == CONFIG_TRUE ? 0 : -1;
    free(expanded);
    return rc;
}

/* Replace ${VAR} and ${VAR:-default} in every string value of cfg (keys and
 * numbers are left alone; $$ is a literal $). Every problem is printed as
 * FILE:LINE: message; returns 0, or -1 when any string could not be
 * expanded. */
int sl__config_expand_env(config_t *cfg, const char *path)
{
    return walk(config_root_setting(cfg), path);
}
