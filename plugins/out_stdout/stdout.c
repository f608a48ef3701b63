/* out_stdout - one message per line on standard output. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../out_file/file_writer.h"

struct stdout_out {
    const struct sl_instance *inst;
    struct file_writer fw;
    pthread_mutex_t mu;
};

static int stdout_init(struct sl_instance *inst, void **ctx)
{
    struct stdout_out *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ERROR;
    s->inst = inst;
    s->fw.fd = STDOUT_FILENO;
    s->fw.label = "stdout";
    pthread_mutex_init(&s->mu, NULL);
    *ctx = s;
    return SL_OK;
}

static void stdout_destroy(void *ctx)
{
    struct stdout_out *s = ctx;
    sl_buf_free(&s->fw.buf);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int stdout_write(void *ctx, struct sl_msg **msgs, size_t n)
{
    struct stdout_out *s = ctx;
    pthread_mutex_lock(&s->mu);
    int rc = file_writer_write(&s->fw, s->inst, msgs, n);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "stdout",
    .version = SLUICE_VERSION,
    .doc = "write one message per line to standard output",
    .init = stdout_init,
    .destroy = stdout_destroy,
    .write = stdout_write,
};
