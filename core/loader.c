/* loader.c - find plugin .so files, open them, and refuse any that does not
 * match our ABI, naming the file. */
#include <dirent.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

struct loaded {
    char *key; /* "in_file" */
    void *handle;
    const struct sl_plugin *plugin;
};

struct sl__loader {
    char **dirs;
    size_t n_dirs;
    struct loaded *loaded;
    size_t n_loaded;
};

const char *sl__kind_prefix(int kind)
{
    switch (kind) {
    case SL_KIND_INPUT:
        return "in";
    case SL_KIND_CODEC:
        return "codec";
    case SL_KIND_HANDLER:
        return "handler";
    case SL_KIND_OUTPUT:
        return "out";
    default:
        return "?";
    }
}

const char *sl__kind_name(int kind)
{
    switch (kind) {
    case SL_KIND_INPUT:
        return "input";
    case SL_KIND_CODEC:
        return "codec";
    case SL_KIND_HANDLER:
        return "handler";
    case SL_KIND_OUTPUT:
        return "output";
    default:
        return "plugin";
    }
}

static int add_dir(struct sl__loader *l, const char *dir)
{
    if (!dir || !*dir)
        return 0;
    for (size_t i = 0; i < l->n_dirs; i++)
        if (strcmp(l->dirs[i], dir) == 0)
            return 0;
    char **dirs = realloc(l->dirs, (l->n_dirs + 1) * sizeof(*dirs));
    if (!dirs)
        return -1;
    l->dirs = dirs;
    if (!(l->dirs[l->n_dirs] = strdup(dir)))
        return -1;
    l->n_dirs++;
    return 0;
}

/* Search order: the config's plugin_path, $SLUICE_PLUGIN_PATH, the install
 * dir, the build dir, then next to the binary (../lib/sluice, ../plugins). */
struct sl__loader *sl__loader_new(const char *const *extra_dirs, size_t n_extra)
{
    struct sl__loader *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    for (size_t i = 0; i < n_extra; i++)
        add_dir(l, extra_dirs[i]);
    const char *env = getenv("SLUICE_PLUGIN_PATH");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save))
            add_dir(l, d);
        free(copy);
    }
    add_dir(l, SLUICE_INSTALL_PLUGIN_DIR);
    add_dir(l, SLUICE_BUILD_PLUGIN_DIR);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            strcpy(slash, "/../lib/sluice");
            add_dir(l, exe);
            strcpy(slash, "/../plugins");
            add_dir(l, exe);
        }
    }
    return l;
}

void sl__loader_free(struct sl__loader *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_loaded; i++) {
        free(l->loaded[i].key);
        /* Not dlclose'd: a plugin's threads or atexit hooks may still refer
         * to its code until the process ends. */
    }
    for (size_t i = 0; i < l->n_dirs; i++)
        free(l->dirs[i]);
    free(l->loaded);
    free(l->dirs);
    free(l);
}

int sl__plugin_check(const struct sl_plugin *p, const char *file, int kind, const char *name,
                     char *err, size_t errlen)
{
    if (p->abi_major != SL_ABI_MAJOR) {
        snprintf(err, errlen, "%s: plugin ABI %u.%u, this sluice speaks %u.%u: rebuild the plugin",
                 file, p->abi_major, p->abi_minor, SL_ABI_MAJOR, SL_ABI_MINOR);
        return -1;
    }
    if (p->abi_minor > SL_ABI_MINOR) {
        snprintf(err, errlen, "%s: plugin needs ABI %u.%u, this sluice has %u.%u: upgrade sluice",
                 file, p->abi_major, p->abi_minor, SL_ABI_MAJOR, SL_ABI_MINOR);
        return -1;
    }
    if (p->struct_size < offsetof(struct sl_plugin, spare)) {
        snprintf(err, errlen, "%s: plugin descriptor is %u bytes, expected at least %zu", file,
                 p->struct_size, offsetof(struct sl_plugin, spare));
        return -1;
    }
    if (p->signature != SL_ABI_SIGNATURE) {
        snprintf(err, errlen, "%s: plugin built for another platform (signature %#x, want %#x)",
                 file, p->signature, SL_ABI_SIGNATURE);
        return -1;
    }
    if (p->kind < SL_KIND_INPUT || p->kind > SL_KIND_OUTPUT || (kind && p->kind != kind)) {
        snprintf(err, errlen, "%s: descriptor kind %d does not match the file name", file, p->kind);
        return -1;
    }
    if (!p->name || !p->version || !p->doc || (name && strcmp(p->name, name) != 0)) {
        snprintf(err, errlen, "%s: descriptor lacks a name, version or doc, or its name differs",
                 file);
        return -1;
    }
    const char *missing = NULL;
    if (p->kind == SL_KIND_INPUT && (!p->run || !p->stop))
        missing = "run/stop";
    if (p->kind == SL_KIND_HANDLER && !p->process)
        missing = "process";
    if (p->kind == SL_KIND_OUTPUT && !p->write)
        missing = "write";
    if (missing) {
        snprintf(err, errlen, "%s: %s plugin has no %s callback", file, sl__kind_name(p->kind),
                 missing);
        return -1;
    }
    for (const struct sl_option *o = p->options; o && o->name; o++) {
        char why[512];
        if (sl__option_table_check(o, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: option '%s' %s", file, o->name, why);
            return -1;
        }
    }
    return 0;
}

static const struct sl_plugin *open_file(const char *path, int kind, const char *name,
                                         void **handle, char *err, size_t errlen)
{
    if (sl__elf_check(path, err, errlen) < 0)
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
        return NULL;
    }
    const struct sl_plugin *p = dlsym(h, SL_PLUGIN_SYMBOL);
    if (!p) {
        snprintf(err, errlen, "%s: no '%s' symbol: not a sluice plugin", path, SL_PLUGIN_SYMBOL);
        dlclose(h);
        return NULL;
    }
    if (sl__plugin_check(p, path, kind, name, err, errlen) < 0) {
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return p;
}

const struct sl_plugin *sl__loader_get(struct sl__loader *l, int kind, const char *name, char *err,
                                       size_t errlen)
{
    char key[256];
    snprintf(key, sizeof(key), "%s_%s", sl__kind_prefix(kind), name);
    for (size_t i = 0; i < l->n_loaded; i++)
        if (strcmp(l->loaded[i].key, key) == 0)
            return l->loaded[i].plugin;
    if (strchr(name, '/') || strchr(name, '.')) {
        snprintf(err, errlen, "bad plugin name '%s'", name);
        return NULL;
    }
    for (size_t i = 0; i < l->n_dirs; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.so", l->dirs[i], key);
        if (access(path, F_OK) != 0)
            continue;
        void *h = NULL;
        const struct sl_plugin *p = open_file(path, kind, name, &h, err, errlen);
        if (!p)
            return NULL;
        struct loaded *ld = realloc(l->loaded, (l->n_loaded + 1) * sizeof(*ld));
        if (!ld) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        l->loaded = ld;
        l->loaded[l->n_loaded++] = (struct loaded){strdup(key), h, p};
        return p;
    }
    size_t len = (size_t)snprintf(err, errlen, "unknown %s type '%s': no %s.so in",
                                  sl__kind_name(kind), name, key);
    for (size_t i = 0; i < l->n_dirs && len < errlen; i++)
        len += (size_t)snprintf(err + len, errlen - len, " %s%s", l->dirs[i],
                                i + 1 < l->n_dirs ? "," : "");
    return NULL;
}

static int kind_of_file(const char *file, char *name, size_t n)
{
    static const int kinds[] = {SL_KIND_INPUT, SL_KIND_CODEC, SL_KIND_HANDLER, SL_KIND_OUTPUT};
    size_t len = strlen(file);
    if (len < 4 || strcmp(file + len - 3, ".so") != 0)
        return 0;
    for (size_t k = 0; k < 4; k++) {
        const char *pre = sl__kind_prefix(kinds[k]);
        size_t pl = strlen(pre);
        if (strncmp(file, pre, pl) == 0 && file[pl] == '_' && len - pl - 4 < n) {
            memcpy(name, file + pl + 1, len - pl - 4);
            name[len - pl - 4] = '\0';
            return kinds[k];
        }
    }
    return 0;
}

static int by_kind_then_name(const void *a, const void *b)
{
    const struct sl__found *x = a, *y = b;
    return x->kind != y->kind ? x->kind - y->kind : strcmp(x->name, y->name);
}

size_t sl__loader_scan(struct sl__loader *l, struct sl__found **out)
{
    struct sl__found *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < l->n_dirs; i++) {
        DIR *d = opendir(l->dirs[i]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            struct sl__found f;
            if (!(f.kind = kind_of_file(e->d_name, f.name, sizeof(f.name))))
                continue;
            bool seen = false; /* an earlier directory wins, as when loading */
            for (size_t j = 0; j < n && !seen; j++)
                seen = found[j].kind == f.kind && strcmp(found[j].name, f.name) == 0;
            struct sl__found *more = seen ? NULL : realloc(found, (n + 1) * sizeof(*more));
            if (more) {
                found = more;
                found[n++] = f;
            }
        }
        closedir(d);
    }
    if (n)
        qsort(found, n, sizeof(*found), by_kind_then_name);
    *out = found;
    return n;
}
