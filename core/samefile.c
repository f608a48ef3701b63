/* samefile.c - refuse an output that writes a file an input reads: the input
 * would read its own output without end (as `cat f >> f` would, which cat
 * refuses too), filling the disk. */
#include <sys/stat.h>

#include "engine.h"

/* Whether one of inst's options of kind `check` names the file *want is;
 * *path gets that option's value. */
static bool names_file(const struct sl_instance *inst, int check, const struct stat *want,
                       const char **path)
{
    for (const struct sl_option *o = inst->plugin->options; o && o->name; o++) {
        struct stat st;
        if (o->check != check || o->type != SL_OPT_STRING)
            continue;
        const char *v = sl_opt_str(inst, o->name);
        if (v && *v && stat(v, &st) == 0 && st.st_dev == want->st_dev &&
            st.st_ino == want->st_ino) {
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
        if (!wpath || !*wpath || stat(wpath, &written) < 0)
            continue; /* a file that does not exist yet is read by nobody */
        for (size_t i = 0; i < pl->n_inputs; i++) {
            if (names_file(pl->inputs[i], SL_CHECK_READABLE_FILE, &written, &rpath)) {
                *path = wpath;
                return pl->inputs[i];
            }
        }
    }
    return NULL;
}
