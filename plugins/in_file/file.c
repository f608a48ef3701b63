/* in_file - one message per line from a file (or FIFO); ends at EOF unless
 * follow = true, which waits for more like `tail -f`. With state_file it
 * resumes after the last delivered line (checkpoint.c). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "framing.h"
#include "line_reader.h"

static uint64_t track_line(void *arg, int64_t end, int64_t line_no)
{
    return checkpoint_push(arg, end, line_no);
}

static void reader_idle(void *arg)
{
    checkpoint_idle(arg);
}

static void new_file(void *arg, int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0)
        checkpoint_file(arg, st.st_dev, st.st_ino);
}

/* Resume where the state file says (when it names this file) and track
 * every line from there on. */
static int start_checkpoint(struct line_reader *r, const struct sl_instance *inst,
                            const char *state, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        sl_instance_error(inst, "state_file needs a regular file to read");
        return SL_ERROR;
    }
    int64_t interval = sl_opt_int(inst, "checkpoint_ms");
    struct checkpoint *c = checkpoint_new(inst, state, (int)interval);
    if (!c)
        return SL_ERROR;
    struct checkpoint_pos at = checkpoint_resume(c, st.st_dev, st.st_ino, st.st_size);
    if (at.offset && lseek(fd, at.offset, SEEK_SET) != at.offset) {
        sl_instance_error(inst, "%s: cannot seek to %lld: %s", r->label, (long long)at.offset,
                          strerror(errno));
        checkpoint_free(c);
        return SL_ERROR;
    }
    r->offset = at.offset;
    r->line_no = at.line_no;
    r->track_line = track_line;
    r->new_file = new_file;
    r->track_idle = reader_idle;
    r->track_arg = c;
    return SL_OK;
}

/* Writes the last checkpoint (everything delivered by now: drain). */
static void file_destroy(void *ctx)
{
    struct line_reader *r = ctx;
    if (!r)
        return; /* init failed before there was a reader */
    if (r->track_arg)
        checkpoint_free(r->track_arg);
    line_reader_destroy(r);
}

static void file_delivered(void *ctx, const struct sl_delivery *d, size_t n)
{
    struct line_reader *r = ctx;
    if (r->track_arg)
        checkpoint_done(r->track_arg, d, n);
}

static int file_init(struct sl_instance *inst, void **ctx)
{
    const char *path = sl_opt_str(inst, "path");
    bool follow = sl_opt_bool(inst, "follow");
    if (follow && framing_of(inst) != FRAMING_LINES) {
        sl_instance_error(inst, "follow reads lines only, not framing = \"%s\"",
                          sl_opt_str(inst, "framing"));
        return SL_ERROR;
    }
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
    struct line_reader *r = line_reader_new(inst, fd, true, path, follow);
    if (!r) {
        close(fd);
        return SL_ERROR;
    }
    *ctx = r;
    const char *state = sl_opt_str(inst, "state_file");
    if (state && state[0] && start_checkpoint(r, inst, state, fd) < 0)
        return SL_ERROR; /* the core calls destroy, which frees the reader */
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
     .doc = "longer lines (or frames) go to dead_letter (bytes)"},
    {.name = "framing",
     .type = SL_OPT_STRING,
     .def = "lines",
     .allowed = framing_names,
     .doc = FRAMING_OPTION_DOC},
    {.name = "state_file",
     .type = SL_OPT_STRING,
     .def = "",
     .check = SL_CHECK_WRITABLE_PATH,
     .doc = "checkpoint: resume after the last delivered line on restart (device, inode, offset)"},
    {.name = "checkpoint_ms",
     .type = SL_OPT_INT,
     .def = "1000",
     SL_RANGE(0, 3600000),
     .doc = "write the checkpoint at most this often (ms; also on drain)"},
    {0},
};

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_INPUT,
    .name = "file",
    .version = SLUICE_VERSION,
    .doc = "read a file one message per line (or frame); ends at EOF unless follow = true",
    .options = file_options,
    .max_workers = 1, /* one reader per file */
    .init = file_init,
    .destroy = file_destroy,
    .run = line_reader_run,
    .stop = line_reader_stop,
    .delivered = file_delivered,
};
