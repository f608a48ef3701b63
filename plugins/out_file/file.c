/* out_file - one message per line, written per batch, fsync'd on drain. A
 * message is confirmed once its batch is in the kernel (survives a crash of
 * sluice); fsync at drain makes the file durable across a machine crash. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_writer.h"

struct file_out {
    const struct sl_instance *inst;
    struct file_writer fw;
    pthread_mutex_t mu; /* several workers share one file */
};

static int file_init(struct sl_instance *inst, void **ctx)
{
    const char *path = sl_opt_str(inst, "path");
    if (sl_instance_checking(inst))
        return SL_OK;
    struct file_out *f = calloc(1, sizeof(*f));
    if (!f)
        return SL_ERROR;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (sl_opt_bool(inst, "append") ? O_APPEND : O_TRUNC);
    f->fw.fd = open(path, flags, 0644);
    if (f->fw.fd < 0) {
        sl_log(inst, SL_LOG_ERROR, "%s: cannot open for writing: %s", path, strerror(errno));
        free(f);
        return SL_ERROR;
    }
    f->inst = inst;
    f->fw.label = path;
    f->fw.fsync_on_flush = sl_opt_bool(inst, "fsync");
    pthread_mutex_init(&f->mu, NULL);
    *ctx = f;
    return SL_OK;
}

static void file_destroy(void *ctx)
{
    struct file_out *f = ctx;
    close(f->fw.fd);
    sl_buf_free(&f->fw.buf);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static int file_write(void *ctx, struct sl_msg **msgs, size_t n)
{
    struct file_out *f = ctx;
    pthread_mutex_lock(&f->mu);
    int rc = file_writer_write(&f->fw, f->inst, msgs, n);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int file_flush(void *ctx)
{
    struct file_out *f = ctx;
    pthread_mutex_lock(&f->mu);
    int rc = file_writer_flush(&f->fw, f->inst);
    pthread_mutex_unlock(&f->mu);
    return rc;
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
    .destroy = file_destroy,
    .write = file_write,
    .flush = file_flush,
};
