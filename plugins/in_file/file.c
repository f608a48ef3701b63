/* in_file - one message per line from a file (or FIFO); ends at EOF unless
 * follow = true, which waits for more like `tail -f`. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "line_reader.h"

static int file_init(struct sl_instance *inst, void **ctx)
{
    const char *path = sl_opt_str(inst, "path");
    if (sl_instance_checking(inst))
        return SL_OK;
    /* O_NONBLOCK so opening a FIFO with no writer yet does not hang; reads
     * then wait in poll(), where stop() can interrupt them. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        sl_instance_error(inst, "%s: cannot open: %s", path, strerror(errno));
        return SL_ERROR;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        sl_instance_error(inst, "%s: is a directory, not a file", path);
        close(fd);
        return SL_ERROR;
    }
    *ctx = line_reader_new(inst, fd, true, path, sl_opt_bool(inst, "follow"));
    if (!*ctx) {
        close(fd);
        return SL_ERROR;
    }
    return SL_OK;
}

static const struct sl_option file_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_READABLE_FILE,
     .doc = "file or FIFO to read"},
    {.name = "follow",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "keep reading as the file grows (like tail -f)"},
    {.name = "max_line",
     .type = SL_OPT_INT,
     .def = "16777216",
     SL_RANGE(1, 1 << 30),
     .doc = "longer lines go to dead_letter (bytes)"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "file",
    .version = SLUICE_VERSION,
    .doc = "read a file one message per line; ends at EOF unless follow = true",
    .options = file_options,
    .max_workers = 1, /* one reader per file */
    .init = file_init,
    .destroy = line_reader_destroy,
    .run = line_reader_run,
    .stop = line_reader_stop,
};
