/* out_file - one message per line, written per batch, fsync'd on drain. A
 * message is confirmed once its batch is in the kernel (survives a crash of
 * sluice); fsync at drain makes the file durable across a machine crash.
 * With state_file, each worker keeps the recovery marks of the batch it is
 * writing (marks_file.h), and recover() hands back those of lines a crash
 * left written but unheard of. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_writer.h"
#include "framing.h"
#include "marks_file.h"

struct file_out {
    struct file_writer *fw; /* shared by the workers (it locks) */
    const char *state;      /* NULL: no marks */
};

struct file_out_worker {
    struct file_out *o;
    struct marks_file marks;
};

/* Appending to a file whose last byte is not a newline (a write torn by a
 * crash) would glue our first line onto that fragment: end it first. The
 * descriptor is write-only, so the last byte is read through the path, from
 * the same file. Returns 0, or -1 (logged). */
static int end_torn_tail(const struct sl_instance *inst, int fd, const char *path)
{
    struct stat st, rst;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return 0;
    int rfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (rfd < 0) {
        sl_log(inst, SL_LOG_WARN, "%s: cannot read its end to check for a torn last line: %s", path,
               strerror(errno));
        return 0;
    }
    char last = '\n';
    bool same = fstat(rfd, &rst) == 0 && rst.st_dev == st.st_dev && rst.st_ino == st.st_ino;
    ssize_t got = same ? pread(rfd, &last, 1, st.st_size - 1) : 0;
    close(rfd);
    if (got != 1 || last == '\n')
        return 0;
    if (write(fd, "\n", 1) != 1) {
        sl_instance_error(inst, "%s: cannot end its torn last line: %s", path, strerror(errno));
        return -1;
    }
    sl_log(inst, SL_LOG_WARN,
           "%s: its last line had no newline (a torn write?); ended it with one so new lines "
           "stay whole",
           path);
    return 0;
}

static int file_init(struct sl_instance *inst, void **ctx)
{
    const char *path = sl_opt_str(inst, "path");
    const char *state = sl_opt_str(inst, "state_file");
    int framing = framing_of(inst);
    if (sl_instance_checking(inst))
        return SL_OK;
    bool append = sl_opt_bool(inst, "append");
    /* O_NONBLOCK: a FIFO with no reader would block open() for good, with
     * the stop signals not yet served; it is refused (ENXIO) instead. */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK | (append ? O_APPEND : O_TRUNC),
                  0644);
    if (fd < 0 && errno == ENXIO) {
        sl_instance_error(inst, "%s: a FIFO with no reader; start its reader first", path);
        return SL_ERROR;
    }
    if (fd < 0) {
        sl_instance_error(inst, "%s: cannot open for writing: %s", path, strerror(errno));
        return SL_ERROR;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (append && framing == FRAMING_LINES && end_torn_tail(inst, fd, path) < 0) {
        close(fd);
        return SL_ERROR;
    }
    struct file_out *o = calloc(1, sizeof(*o));
    if (!o || !(o->fw = file_writer_new(inst, fd, true, path, sl_opt_bool(inst, "fsync")))) {
        free(o);
        close(fd);
        return SL_ERROR;
    }
    o->state = state && state[0] ? state : NULL;
    *ctx = o;
    return SL_OK;
}

static void file_destroy(void *ctx)
{
    struct file_out *o = ctx;
    file_writer_destroy(o->fw);
    free(o);
}

static int file_worker_init(void *ctx, unsigned worker, void **wctx)
{
    struct file_out *o = ctx;
    struct file_out_worker *w = calloc(1, sizeof(*w));
    char err[4400];
    if (!w)
        return SL_ERROR;
    w->o = o;
    w->marks.fd = -1;
    if (o->state && marks_file_open(&w->marks, o->state, worker, o->fw->fd, err, sizeof(err)) < 0) {
        sl_instance_error(o->fw->inst, "state_file: %s", err);
        free(w);
        return SL_ERROR;
    }
    *wctx = w;
    return SL_OK;
}

static void file_worker_destroy(void *wctx)
{
    struct file_out_worker *w = wctx;
    marks_file_close(&w->marks);
    free(w);
}

static int file_write(void *wctx, struct sl_msg **msgs, size_t n)
{
    struct file_out_worker *w = wctx;
    return file_writer_write_marked(w->o->fw, msgs, n, &w->marks);
}

static int file_flush(void *wctx)
{
    struct file_out_worker *w = wctx;
    return file_writer_flush(w->o->fw);
}

static int file_recover(void *ctx)
{
    struct file_out *o = ctx;
    return o->state && marks_file_recover(o->fw->inst, o->state, o->fw->fd) < 0 ? SL_ERROR : SL_OK;
}

static const struct sl_option file_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "file to write"},
    {.name = "append",
     .type = SL_OPT_BOOL,
     .def = "true",
     .doc = "append (true) or truncate at start (false)"},
    {.name = "fsync", .type = SL_OPT_BOOL, .def = "true", .doc = "fsync when draining"},
    {.name = "state_file",
     .type = SL_OPT_STRING,
     .def = "",
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "keep the recovery marks of the batch being written (FILE, FILE.1 ... per worker): "
            "after a crash, lines written but unheard of are handed to dedup; empty: none"},
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
    .name = "file",
    .version = SLUICE_VERSION,
    .doc = "write one message per line (or frame) to a file",
    .options = file_options,
    .init = file_init,
    .destroy = file_destroy,
    .worker_init = file_worker_init,
    .worker_destroy = file_worker_destroy,
    .write = file_write,
    .flush = file_flush,
    .recover = file_recover,
};
