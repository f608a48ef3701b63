/* out_stdout - one message per line on standard output. */
#include <fcntl.h>
#include <unistd.h>

#include "file_writer.h"
#include "framing.h"

static int stdout_init(struct sl_instance *inst, void **ctx)
{
    if (sl_instance_checking(inst))
        return SL_OK;
    /* the core holds a closed fd 1 with /dev/null read-only (core/stdfds.h) */
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
        sl_instance_error(inst, "standard output is closed; nowhere to write");
        return SL_ERROR;
    }
    *ctx = file_writer_new(inst, STDOUT_FILENO, false, "stdout", false);
    return *ctx ? SL_OK : SL_ERROR;
}

static const struct sl_option stdout_options[] = {
    {.name = "framing",
     .type = SL_OPT_STRING,
     .def = "lines",
     .allowed = framing_names,
     .doc = FRAMING_OPTION_DOC},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "stdout",
    .version = SLUICE_VERSION,
    .doc = "write one message per line (or frame) to standard output",
    .options = stdout_options,
    .init = stdout_init,
    .destroy = file_writer_destroy,
    .write = file_writer_write,
    .flush = file_writer_flush,
};
