/* out_flaky - test output for delivery tests: appends each message as a line
 * to `path` and confirms it once write(2) returned, as the file output does
 * (in the kernel, it survives a kill -9; fdatasync on flush), but asks for a retry of
 * every `fail_every`-th write, refuses for good every `refuse_every`-th one,
 * pauses `stall_ms` every `stall_every` batches, and can fail the first
 * `fail_first` attempts of messages whose key starts with `fail_key_prefix`.
 * With `state_file` it keeps the batch's recovery marks as the file output
 * does (marks_file.h); `kill_after_batch` kills the process (SIGKILL) right
 * after that batch is written, before it is confirmed: the window a crash
 * leaves for dedup, on demand. One worker per instance (the counters are
 * not shared). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "framing.h"
#include "marks_file.h"

struct flaky {
    const struct sl_instance *inst;
    const char *state;
    struct marks_file marks;
    int64_t kill_after_batch;
    uint64_t batches_written;
    int fd;
    int64_t fail_every, refuse_every, stall_every, stall_ms, fail_first;
    const char *fail_key_prefix;
    uint64_t writes, batches;
    struct sl_buf buf;
    struct sl_msg **held;
    size_t n_held, cap_held;
    struct sl_counter *retried, *refused;
};

static int flaky_init(struct sl_instance *inst, void **ctx)
{
    struct flaky *f = calloc(1, sizeof(*f));
    if (!f)
        return SL_ERROR;
    f->fd = -1;
    f->marks.fd = -1;
    f->inst = inst;
    f->state = sl_opt_str(inst, "state_file");
    f->kill_after_batch = sl_opt_int(inst, "kill_after_batch");
    f->fail_every = sl_opt_int(inst, "fail_every");
    f->refuse_every = sl_opt_int(inst, "refuse_every");
    f->stall_every = sl_opt_int(inst, "stall_every");
    f->stall_ms = sl_opt_int(inst, "stall_ms");
    f->fail_first = sl_opt_int(inst, "fail_first");
    f->fail_key_prefix = sl_opt_str(inst, "fail_key_prefix");
    f->retried = sl_counter_get(inst, "flaky_retried");
    f->refused = sl_counter_get(inst, "flaky_refused");
    *ctx = f;
    if (sl_instance_checking(inst))
        return SL_OK;
    const char *path = sl_opt_str(inst, "path");
    f->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        sl_instance_error(inst, "%s: cannot open: %s", path, strerror(errno));
        free(f);
        return SL_ERROR;
    }
    /* A kill -9 inside write(2) can leave a line cut short: end it, as the
     * file output does, so the next line is not glued onto it. */
    char last = '\n';
    off_t size = lseek(f->fd, 0, SEEK_END);
    if (size > 0 && pread(f->fd, &last, 1, size - 1) == 1 && last != '\n' &&
        write(f->fd, "\n", 1) != 1) {
        sl_instance_error(inst, "%s: cannot end its torn last line: %s", path, strerror(errno));
        close(f->fd);
        free(f);
        return SL_ERROR;
    }
    char err[4400];
    if (f->state && f->state[0] &&
        marks_file_open(&f->marks, f->state, 0, f->fd, err, sizeof(err)) < 0) {
        sl_instance_error(inst, "state_file: %s", err);
        close(f->fd);
        free(f);
        return SL_ERROR;
    }
    return SL_OK;
}

static int flaky_recover(void *ctx)
{
    struct flaky *f = ctx;
    return f->marks.fd >= 0 && marks_file_recover(f->inst, f->state, f->fd) < 0 ? SL_ERROR : SL_OK;
}

static void flaky_destroy(void *ctx)
{
    struct flaky *f = ctx;
    if (f->fd >= 0)
        close(f->fd);
    marks_file_close(&f->marks);
    sl_buf_free(&f->buf);
    free(f->held);
    free(f);
}

static bool key_fails(const struct flaky *f, const struct sl_msg *m)
{
    size_t n = f->fail_key_prefix ? strlen(f->fail_key_prefix) : 0;
    return n && m->has_key && m->key.len >= n && memcmp(m->key.data, f->fail_key_prefix, n) == 0 &&
           m->attempts < (uint32_t)f->fail_first;
}

static int flaky_write(void *ctx, struct sl_msg **msgs, size_t n)
{
    struct flaky *f = ctx;
    if (f->cap_held < n) {
        struct sl_msg **h = realloc(f->held, n * sizeof(*h));
        if (!h)
            return SL_ERROR;
        f->held = h;
        f->cap_held = n;
    }
    f->buf.len = 0;
    f->n_held = 0;
    for (size_t i = 0; i < n; i++) {
        struct sl_msg *m = msgs[i];
        f->writes++;
        if (f->refuse_every && f->writes % (uint64_t)f->refuse_every == 0) {
            sl_counter_add(f->refused, 1);
            sl_out_done(m, SL_ERROR, "flaky: refused");
        } else if ((f->fail_every && f->writes % (uint64_t)f->fail_every == 0) || key_fails(f, m)) {
            sl_counter_add(f->retried, 1);
            sl_out_done(m, SL_RETRY, "flaky: try again");
        } else if (sl_buf_append(&f->buf, sl_msg_out_data(m), sl_msg_out_len(m)) < 0 ||
                   sl_buf_append(&f->buf, "\n", 1) < 0) {
            return SL_ERROR;
        } else {
            f->held[f->n_held++] = m;
        }
    }
    if (f->stall_every && ++f->batches % (uint64_t)f->stall_every == 0)
        nanosleep(&(struct timespec){f->stall_ms / 1000, f->stall_ms % 1000 * 1000000}, NULL);
    if (marks_file_record(&f->marks, f->fd, FRAMING_LINES, f->held, f->n_held) < 0)
        return SL_ERROR;
    for (size_t off = 0; off < f->buf.len;) {
        ssize_t w = write(f->fd, f->buf.data + off, f->buf.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return SL_ERROR;
        off += (size_t)w;
    }
    if (f->n_held && f->kill_after_batch && ++f->batches_written == (uint64_t)f->kill_after_batch)
        raise(SIGKILL); /* written, not yet confirmed: dedup has not heard */
    for (size_t i = 0; i < f->n_held; i++)
        sl_out_done(f->held[i], SL_OK, NULL);
    return SL_OK;
}

static int flaky_flush(void *ctx)
{
    struct flaky *f = ctx;
    return fdatasync(f->fd) < 0 ? SL_ERROR : SL_OK;
}

static const struct sl_option flaky_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "file the confirmed messages are appended to"},
    {.name = "fail_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "ask for a retry of every Nth write (0: never)"},
    {.name = "refuse_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "refuse every Nth write for good (0: never)"},
    {.name = "stall_every",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "pause every Nth batch (0: never)"},
    {.name = "stall_ms",
     .type = SL_OPT_INT,
     .def = "0",
     SL_RANGE(0, 60000),
     .doc = "how long a pause lasts"},
    {.name = "fail_key_prefix",
     .type = SL_OPT_STRING,
     .def = "",
     .doc = "fail messages whose key starts with this"},
    {.name = "state_file",
     .type = SL_OPT_STRING,
     .def = "",
     .doc = "keep the batch's recovery marks here, as the file output does"},
    {.name = "kill_after_batch",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "SIGKILL the process once this batch is written, before confirming it (0: never)"},
    {.name = "fail_first",
     .type = SL_OPT_INT,
     .def = "0",
     SL_AT_LEAST(0),
     .doc = "... for their first N attempts"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_OUTPUT,
    .name = "flaky",
    .version = "0.0.1",
    .doc = "appends lines to a file, failing or stalling some writes (delivery tests)",
    .options = flaky_options,
    .max_workers = 1, /* the counters are per instance */
    .init = flaky_init,
    .destroy = flaky_destroy,
    .write = flaky_write,
    .flush = flaky_flush,
    .recover = flaky_recover,
};
