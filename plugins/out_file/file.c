/* out_file - one message per line, written per batch, fsync'd on drain. A
 * message is confirmed once its batch is in the kernel (survives a crash of
 * sluice); fsync at drain makes the file durable across a machine crash. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "file_writer.h"

static int file_init(struct sl_instance *inst, void **ctx)
{
    const char *path = sl_opt_str(inst, "path");
    if (sl_instance_checking(inst))
        return SL_OK;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (sl_opt_bool(inst, "append") ? O_APPEND : O_TRUNC);
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        sl_log(inst, SL_LOG_ERROR, "%s: cannot open for writing: %s", path, strerror(errno));
        return SL_ERROR;
    }
    *ctx = file_writer_new(inst, fd, true, path, sl_opt_bool(inst, "fsync"));
    if (!*ctx) {
        close(fd);
        return SL_ERROR;
    }
    return SL_OK;
}

static const struct sl_option file_options[] = {
    {"path", SL_OPT_STRING, NULL, true, "file to write"},
    {"append", SL_OPT_BOOL, "true", false, "append (true) or truncate at start (false)"},
    {"fsync", SL_OPT_BOOL, "true", false, "fsync when draining"},
    {NULL, 0, NULL, false, NULL},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "file",
    .version = SLUICE_VERSION,
    .doc = "write one message per line to a file",
    .options = file_options,
    .init = file_init,
    .destroy = file_writer_destroy,
    .write = file_writer_write,
    .flush = file_writer_flush,
};
