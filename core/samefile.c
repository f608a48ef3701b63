/* samefile.c - refuse an output that writes a file an input reads: the input
 * would read its own output without end (as `cat f >> f` would, which cat
 * refuses too), filling the disk. An input's glob counts as reading every
 * file it matches now, and every file it would match once created. */
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"

bool sl__is_glob(const char *path)
{
    return strpbrk(path, "*?[") != NULL;
}

static bool same_file(const char *path, const struct stat *want)
{
    struct stat st;
    return want && stat(path, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino;
}

/* path with its directory resolved (symlinks, "..", relative), its last
 * part kept as written: the name a file there has or would have. Returns
 * false when the directory cannot be resolved. */
static bool resolve_dir(const char *path, char out[PATH_MAX])
{
    char dcopy[PATH_MAX], bcopy[PATH_MAX], dir[PATH_MAX];
    if (strlen(path) >= PATH_MAX)
        return false;
    strcpy(dcopy, path);
    strcpy(bcopy, path);
    if (!realpath(dirname(dcopy), dir))
        return false;
    const char *base = basename(bcopy);
    size_t n = strlen(dir), m = strlen(base);
    if (n + 1 + m >= PATH_MAX)
        return false;
    memcpy(out, dir, n);
    out[n] = '/';
    memcpy(out + n + 1, base, m + 1);
    return true;
}

/* Whether the glob pattern matches the file want (which exists) or the
 * path wpath names (which may not exist yet). glob(3)'s rules: '/' and a
 * leading '.' are matched only by themselves. */
static bool glob_covers(const char *pattern, const char *wpath, const struct stat *want)
{
    glob_t g;
    bool hit = false;
    if (want && glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && !hit; i++)
            hit = same_file(g.gl_pathv[i], want);
        globfree(&g);
    }
    if (hit)
        return true;
    /* A file not yet there (or not matched yet): compare names, the
     * pattern's directory resolved when it has no glob characters. */
    char rw[PATH_MAX], rp[PATH_MAX], dcopy[PATH_MAX];
    if (!resolve_dir(wpath, rw))
        return false;
    if (strlen(pattern) < PATH_MAX) {
        strcpy(dcopy, pattern);
        if (!sl__is_glob(dirname(dcopy)) && resolve_dir(pattern, rp))
            return fnmatch(rp, rw, FNM_PATHNAME | FNM_PERIOD) == 0;
    }
    return fnmatch(pattern, wpath, FNM_PATHNAME | FNM_PERIOD) == 0 ||
           fnmatch(pattern, rw, FNM_PATHNAME | FNM_PERIOD) == 0;
}

/* Whether one of inst's read options names the file the output writes (at
 * wpath; want is its stat, NULL when it does not exist yet); *path gets
 * that option's value. */
static bool reads_file(const struct sl_instance *inst, const char *wpath, const struct stat *want,
                       const char **path)
{
    for (const struct sl_option *o = inst->plugin->options; o && o->name; o++) {
        bool glob = o->check == SL_CHECK_READABLE_GLOB;
        if ((o->check != SL_CHECK_READABLE_FILE && !glob) || o->type != SL_OPT_STRING)
            continue;
        const char *v = sl_opt_str(inst, o->name);
        if (!v || !*v)
            continue;
        if (glob && sl__is_glob(v) ? glob_covers(v, wpath, want) : same_file(v, want)) {
            *path = v;
            return true;
        }
    }
    return false;
}

const struct sl_instance *sl__input_reading_output(const struct sl__pipeline *pl,
                                                   const struct sl_instance *out, const char **path)
{
    for (const struct sl_option *o = out->plugin->options; o && o->name; o++) {
        struct stat written;
        const char *wpath, *rpath;
        if (o->check != SL_CHECK_WRITABLE_PATH || o->type != SL_OPT_STRING)
            continue;
        wpath = sl_opt_str(out, o->name);
        if (!wpath || !*wpath)
            continue;
        /* a file that does not exist yet is read by nobody, unless a glob
         * will match it once it does */
        bool exists = stat(wpath, &written) == 0;
        for (size_t i = 0; i < pl->n_inputs; i++) {
            if (reads_file(pl->inputs[i], wpath, exists ? &written : NULL, &rpath)) {
                *path = wpath;
                return pl->inputs[i];
            }
        }
    }
    return NULL;
}

/* Whether two writable paths name one regular file: the same device and
 * inode when both exist, else the same name with the directory resolved.
 * Devices and FIFOs (/dev/null for two outputs) take any number of writers. */
static bool same_target(const char *a, const char *b)
{
    struct stat sa, sb;
    bool ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb)
        return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char ra[PATH_MAX], rb[PATH_MAX];
    return ea == eb && resolve_dir(a, ra) && resolve_dir(b, rb) && strcmp(ra, rb) == 0;
}

/* inst's writable-path option after `after` (NULL: from the first) that is set. */
static const struct sl_option *next_written(const struct sl_instance *inst,
                                            const struct sl_option *after)
{
    const struct sl_option *o = after ? after + 1 : inst->plugin->options;
    for (; o && o->name; o++) {
        const char *v;
        if (o->check == SL_CHECK_WRITABLE_PATH && o->type == SL_OPT_STRING &&
            (v = sl_opt_str(inst, o->name)) && *v)
            return o;
    }
    return NULL;
}

const struct sl_instance *sl__writer_clash(const struct sl__pipeline *pl,
                                           const struct sl_instance *inst, struct sl__clash *clash)
{
    for (const struct sl_option *o = next_written(inst, NULL); o; o = next_written(inst, o)) {
        const char *v = sl_opt_str(inst, o->name);
        /* its own other paths, then those of every instance read before it */
        for (const struct sl_option *p = next_written(inst, o); p; p = next_written(inst, p))
            if (same_target(v, sl_opt_str(inst, p->name))) {
                *clash = (struct sl__clash){o->name, p->name, v};
                return inst;
            }
        for (size_t i = 0; i < pl->n_all && pl->all[i] != inst; i++) {
            const struct sl_instance *other = pl->all[i];
            for (const struct sl_option *p = next_written(other, NULL); p;
                 p = next_written(other, p))
                if (same_target(v, sl_opt_str(other, p->name))) {
                    *clash = (struct sl__clash){o->name, p->name, v};
                    return other;
                }
        }
    }
    return NULL;
}
