/* in_file - one message per line from a file (or FIFO); ends at EOF unless
 * follow = true, which waits for more like `tail -f`. A path with glob(3)
 * characters reads every file it matches (file_glob.c). With state_file it
 * resumes each file after its last delivered line (checkpoint.c). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_input.h"
#include "framing.h"

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

bool file_path_is_glob(const char *path)
{
    return strpbrk(path, "*?[") != NULL;
}

void file_track(struct line_reader *r, struct checkpoint *c)
{
    r->track_line = track_line;
    r->new_file = new_file;
    r->track_idle = reader_idle;
    r->track_arg = c;
}

/* Resume where the state file says (when it names this file) and track
 * every line from there on. */
static int start_checkpoint(struct file_input *in, int fd)
{
    struct line_reader *r = in->plain;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        sl_instance_error(in->inst, "state_file needs a regular file to read");
        return SL_ERROR;
    }
    struct checkpoint_pos at;
    struct checkpoint *c =
        checkpoint_add(in->store, r->label, st.st_dev, st.st_ino, st.st_size, &at);
    if (!c)
        return SL_ERROR;
    if (at.offset && lseek(fd, at.offset, SEEK_SET) != at.offset) {
        sl_instance_error(in->inst, "%s: cannot seek to %lld: %s", r->label, (long long)at.offset,
                          strerror(errno));
        return SL_ERROR;
    }
    r->offset = at.offset;
    r->line_no = at.line_no;
    file_track(r, c);
    return SL_OK;
}

/* Writes the last checkpoint (everything delivered by now: drain). */
static void file_destroy(void *ctx)
{
    struct file_input *in = ctx;
    if (!in)
        return;
    checkpoint_store_free(in->store);
    if (in->plain)
        line_reader_destroy(in->plain);
    if (in->pattern)
        file_glob_destroy(in);
    pthread_mutex_destroy(&in->mu);
    free(in);
}

static void file_delivered(void *ctx, const struct sl_delivery *d, size_t n)
{
    struct file_input *in = ctx;
    if (in->store)
        checkpoint_done(in->store, d, n);
}

static int open_plain(struct file_input *in, const char *path, bool follow)
{
    /* O_NONBLOCK so opening a FIFO with no writer yet does not hang; reads
     * then wait in poll(), where stop() can interrupt them. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        sl_instance_error(in->inst, "%s: cannot open: %s", path, strerror(errno));
        return SL_ERROR;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        sl_instance_error(in->inst, "%s: is a directory, not a file", path);
        close(fd);
        return SL_ERROR;
    }
    in->plain = line_reader_new(in->inst, fd, true, path, follow);
    if (!in->plain) {
        close(fd);
        return SL_ERROR;
    }
    return in->store ? start_checkpoint(in, fd) : SL_OK;
}

/* Whether the glob matches the state file or its temporary copy. */
static bool state_file_matched(const char *pattern, const char *state)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", state);
    return fnmatch(pattern, state, FNM_PATHNAME | FNM_PERIOD) == 0 ||
           fnmatch(pattern, tmp, FNM_PATHNAME | FNM_PERIOD) == 0;
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
    struct file_input *in = calloc(1, sizeof(*in));
    if (!in) {
        sl_instance_error(inst, "out of memory");
        return SL_ERROR;
    }
    in->inst = inst;
    in->follow = follow;
    in->wake_fd = -1;
    atomic_init(&in->stop, false);
    pthread_mutex_init(&in->mu, NULL);
    *ctx = in; /* the core calls destroy, also when init fails below */
    bool glob = file_path_is_glob(path);
    if (glob)
        in->pattern = path;
    const char *state = sl_opt_str(inst, "state_file");
    if (glob && state && state[0] && state_file_matched(path, state)) {
        sl_instance_error(inst, "state_file %s is matched by path '%s': it would be read as input",
                          state, path);
        return SL_ERROR;
    }
    if (sl_instance_checking(inst))
        return glob ? file_glob_init(in) : SL_OK;
    if (state && state[0]) {
        in->store =
            checkpoint_store_new(inst, state, (int)sl_opt_int(inst, "checkpoint_ms"), !glob);
        if (!in->store)
            return SL_ERROR;
    }
    return glob ? file_glob_init(in) : open_plain(in, path, follow);
}

static int file_run(void *ctx, struct sl_input_sink *sink)
{
    struct file_input *in = ctx;
    return in->plain ? line_reader_run(in->plain, sink) : file_glob_run(in, sink);
}

static void file_stop(void *ctx)
{
    struct file_input *in = ctx;
    if (in->plain)
        line_reader_stop(in->plain);
    else
        file_glob_stop(in);
}

static const struct sl_option file_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = true,
     .check = SL_CHECK_READABLE_GLOB,
     .doc = "file or FIFO to read, or a glob(3) pattern: every regular file it matches"},
    {.name = "follow",
     .type = SL_OPT_BOOL,
     .def = "false",
     .doc = "keep reading as the file grows (like tail -f); a glob picks up new files"},
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
     .doc = "checkpoint: resume each file after its last delivered line on restart (device, "
            "inode, offset)"},
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
    .doc = "read files one message per line (or frame); ends at EOF unless follow = true",
    .options = file_options,
    .max_workers = 1, /* one reader thread for every file */
    .init = file_init,
    .destroy = file_destroy,
    .run = file_run,
    .stop = file_stop,
    .delivered = file_delivered,
};
