/* optcheck.c - what an options table declares beyond types: ranges, allowed
 * values and kinds of string (file, output path, address, regex, duration).
 * One place checks them for every plugin, so a value --check accepts cannot
 * fail at run time, and one place describes them for --list-plugins. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

/* Integers as integers, fractions as %g: "1073741824", not "1.07374e+09". */
static const char *num(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 9e15)
        snprintf(buf, n, "%lld", (long long)v);
    else
        snprintf(buf, n, "%g", v);
    return buf;
}

static bool is_string_check(int c)
{
    return (c >= SL_CHECK_NONEMPTY && c <= SL_CHECK_NAME_OR_REGEX) || c == SL_CHECK_READABLE_GLOB;
}

static int check_number(const struct sl_option *o, double v, char *why, size_t n)
{
    char a[32], b[32], c[32];
    if (o->has_range && (v < o->min || v > o->max)) {
        if (isinf(o->max))
            snprintf(why, n, "must be >= %s, not %s", num(o->min, a, sizeof(a)),
                     num(v, c, sizeof(c)));
        else
            snprintf(why, n, "must be between %s and %s, not %s", num(o->min, a, sizeof(a)),
                     num(o->max, b, sizeof(b)), num(v, c, sizeof(c)));
        return -1;
    }
    if (o->check == SL_CHECK_DURATION_MS && v < 0) {
        snprintf(why, n, "must be a duration in ms >= 0, not %s", num(v, c, sizeof(c)));
        return -1;
    }
    return 0;
}

static int check_regex(const char *re, char *why, size_t n)
{
    regex_t r;
    int rc = regcomp(&r, re, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&r);
        return 0;
    }
    char msg[200];
    regerror(rc, &r, msg, sizeof(msg));
    snprintf(why, n, "must be a valid regular expression ('%s': %s)", re, msg);
    return -1;
}

static int check_readable(const char *path, char *why, size_t n)
{
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        snprintf(why, n, "must be a readable file ('%s': %s)", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(why, n, "must be a readable file ('%s' is a directory)", path);
        return -1;
    }
    return 0;
}

/* A file we may create or write: it exists and is writable, or its
 * directory exists and lets us create it. */
static int check_writable(const char *path, char *why, size_t n)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(why, n, "must be a file to write ('%s' is a directory)", path);
            return -1;
        }
        if (access(path, W_OK) != 0) {
            snprintf(why, n, "must be a file to write ('%s': %s)", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    const char *dir = dirname(copy);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, n, "must be a file to write (directory '%s' does not exist)", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, n, "must be a file to write (cannot create files in '%s': %s)", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int check_string(const struct sl_option *o, const char *v, char *why, size_t n)
{
    if (o->allowed) {
        size_t len = (size_t)snprintf(why, n, "must be one of");
        for (const char *const *a = o->allowed; *a; a++) {
            if (strcmp(*a, v) == 0)
                return 0;
            if (len < n)
                len += (size_t)snprintf(why + len, n - len, "%s \"%s\"", a == o->allowed ? "" : ",",
                                        *a);
        }
        if (len < n)
            snprintf(why + len, n - len, ", not \"%s\"", v);
        return -1;
    }
    if (is_string_check(o->check) && !*v) {
        if (o->def && !*o->def)
            return 0; /* "" is the default: the feature is off (state_file = "") */
        snprintf(why, n, "must not be empty");
        return -1;
    }
    switch (o->check) {
    case SL_CHECK_READABLE_FILE:
        return check_readable(v, why, n);
    case SL_CHECK_READABLE_GLOB:
        return sl__is_glob(v) ? 0 : check_readable(v, why, n);
    case SL_CHECK_WRITABLE_PATH:
        return check_writable(v, why, n);
    case SL_CHECK_ADDRESS: {
        struct sl__address a;
        char msg[300];
        if (sl__address_parse(v, &a, msg, sizeof(msg)) == 0)
            return 0;
        snprintf(why, n, "must be HOST:PORT (%s)", msg);
        return -1;
    }
    case SL_CHECK_REGEX:
        return check_regex(v, why, n);
    case SL_CHECK_NAME_OR_REGEX:
        return v[0] == '^' ? check_regex(v, why, n) : 0;
    default:
        return 0;
    }
}

int sl__option_check_value(const struct sl_option *o, const config_setting_t *s, char *why,
                           size_t n)
{
    switch (o->type) {
    case SL_OPT_INT:
    case SL_OPT_DOUBLE: {
        double v = config_setting_type(s) == CONFIG_TYPE_FLOAT
                       ? config_setting_get_float(s)
                       : (double)config_setting_get_int64(s);
        return check_number(o, v, why, n);
    }
    case SL_OPT_STRING:
        return check_string(o, config_setting_get_string(s), why, n);
    case SL_OPT_LIST:
        if ((is_string_check(o->check) || o->allowed) && config_setting_length(s) == 0) {
            snprintf(why, n, "must not be empty");
            return -1;
        }
        for (int i = 0; i < config_setting_length(s); i++) {
            char inner[600];
            if (check_string(o, config_setting_get_string_elem(s, i), inner, sizeof(inner)) < 0) {
                snprintf(why, n, "item %d %s", i + 1, inner);
                return -1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

/* The default must pass the option's own checks, except those that look at
 * the file system: a default path may name a file made later. */
static int check_default(const struct sl_option *o, char *why, size_t n)
{
    if (o->type == SL_OPT_INT || o->type == SL_OPT_DOUBLE) {
        char *end;
        double v = o->type == SL_OPT_INT ? (double)strtoll(o->def, &end, 0) : strtod(o->def, &end);
        if (end == o->def || *end) {
            snprintf(why, n, "default '%s' is not a number", o->def);
            return -1;
        }
        return check_number(o, v, why, n);
    }
    if (o->type == SL_OPT_STRING &&
        (o->allowed || o->check == SL_CHECK_ADDRESS || o->check == SL_CHECK_REGEX ||
         o->check == SL_CHECK_NONEMPTY || o->check == SL_CHECK_NAME_OR_REGEX))
        return check_string(o, o->def, why, n);
    return 0;
}

int sl__option_table_check(const struct sl_option *o, char *why, size_t n)
{
    bool number = o->type == SL_OPT_INT || o->type == SL_OPT_DOUBLE;
    bool text = o->type == SL_OPT_STRING || o->type == SL_OPT_LIST;
    if (o->type < SL_OPT_STRING || o->type > SL_OPT_ANY) {
        snprintf(why, n, "has an unknown type %d", o->type);
        return -1;
    }
    if (o->check < SL_CHECK_NONE || o->check > SL_CHECK_READABLE_GLOB) {
        snprintf(why, n, "has an unknown check %d", o->check);
        return -1;
    }
    if ((is_string_check(o->check) && !text) || (o->check == SL_CHECK_DURATION_MS && !number) ||
        (o->allowed && !text) || (o->has_range && !number)) {
        snprintf(why, n, "declares a check that does not fit its type");
        return -1;
    }
    if (o->has_range && !(o->min <= o->max)) {
        snprintf(why, n, "has an empty range");
        return -1;
    }
    if (o->allowed && !o->allowed[0]) {
        snprintf(why, n, "allows no value at all");
        return -1;
    }
    return o->def ? check_default(o, why, n) : 0;
}

const char *sl__option_describe(const struct sl_option *o, char *buf, size_t n)
{
    char a[32], b[32];
    size_t len = 0;
    buf[0] = '\0';
    if (o->allowed) {
        len = (size_t)snprintf(buf, n, "one of:");
        for (const char *const *v = o->allowed; *v && len < n; v++)
            len += (size_t)snprintf(buf + len, n - len, "%s %s", v == o->allowed ? "" : ",", *v);
        return buf;
    }
    static const char *const kinds[] = {
        [SL_CHECK_NONEMPTY] = "not empty",
        [SL_CHECK_READABLE_FILE] = "a readable file",
        [SL_CHECK_WRITABLE_PATH] = "a file to write, in an existing directory",
        [SL_CHECK_ADDRESS] = "HOST:PORT or [IPV6]:PORT",
        [SL_CHECK_REGEX] = "a POSIX extended regex",
        [SL_CHECK_NAME_OR_REGEX] = "a name, or a POSIX extended regex starting with ^",
        [SL_CHECK_DURATION_MS] = "ms",
        [SL_CHECK_READABLE_GLOB] = "a readable file, or a glob(3) pattern of files",
    };
    if (o->check > SL_CHECK_NONE && o->check <= SL_CHECK_READABLE_GLOB)
        len = (size_t)snprintf(buf, n, "%s", kinds[o->check]);
    if (!o->has_range && o->check == SL_CHECK_DURATION_MS && len < n)
        snprintf(buf + len, n - len, ", >= 0");
    else if (o->has_range && len < n && isinf(o->max))
        snprintf(buf + len, n - len, "%s>= %s", len ? ", " : "", num(o->min, a, sizeof(a)));
    else if (o->has_range && len < n)
        snprintf(buf + len, n - len, "%s%s..%s", len ? ", " : "", num(o->min, a, sizeof(a)),
                 num(o->max, b, sizeof(b)));
    return buf;
}
