/* in_stdin - one message per line from standard input, until EOF. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framing.h"
#include "line_reader.h"

static int stdin_init(struct sl_instance *inst, void **ctx)
{
    if (sl_instance_checking(inst))
        return SL_OK;
    /* the core holds a closed fd 0 with /dev/null write-only (core/stdfds.h) */
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY) {
        sl_instance_error(inst, "standard input is closed; nothing to read");
        return SL_ERROR;
    }
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISDIR(st.st_mode)) {
        sl_instance_error(inst, "standard input is a directory, not a file");
        return SL_ERROR;
    }
    *ctx = line_reader_new(inst, STDIN_FILENO, false, "stdin", false);
    return *ctx ? SL_OK : SL_ERROR;
}

static const struct sl_option stdin_options[] = {
    {.name = "max_line",
     .type = SL_OPT_INT,
     .def = "16777216",
     SL_RANGE(1, 1 << 30),
     .doc = "longer lines (or frames) go to dead_letter (bytes)"},
    {.name = "framing",
     .type = SL_OPT_STRING,
     .def = "lines",
     .allowed = framing_names,
     .doc = FRAMING_OPTION_DOC},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "stdin",
    .version = SLUICE_VERSION,
    .doc = "read standard input one message per line (or frame)",
    .options = stdin_options,
    .max_workers = 1, /* one reader of fd 0 */
    .init = stdin_init,
    .destroy = line_reader_destroy,
    .run = line_reader_run,
    .stop = line_reader_stop,
};
