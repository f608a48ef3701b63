/* file_glob.c - the file input's glob mode: path = "/var/log/app-*.log".
 *
 * Without follow, the files matched at start are read one after the other
 * in sorted order, each to its end. With follow, every matched file is read
 * to its current end in turn (sorted order), then the pattern is looked at
 * again and the files are watched every FOLLOW_POLL_MS: a new match is read
 * from its start, a truncated one (copytruncate) again from its start, and
 * one no longer matched (deleted, or renamed away by a rotation) is read to
 * its end and finished: at once when deleted, after UNMATCHED_GRACE_MS when
 * renamed (a writer may not have reopened yet). Files are known by device
 * and inode, so a rename to a name that still matches changes only the name
 * (msg.source.name) and reads nothing twice. Only regular files are read. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_input.h"
#include "monotime.h"

enum { FOLLOW_POLL_MS = 200, UNMATCHED_GRACE_MS = 1000 };

static struct glob_member *find_member(struct file_input *in, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < in->n_members; i++)
        if (in->members[i].r && in->members[i].dev == dev && in->members[i].ino == ino)
            return &in->members[i];
    return NULL;
}

/* The file was renamed to another matching name: messages still point at
 * the old one, which is kept until destroy. */
static void rename_member(struct file_input *in, struct glob_member *m, const char *path)
{
    char *copy = strdup(path);
    char **old = realloc(in->old_paths, (in->n_old_paths + 1) * sizeof(*old));
    if (!copy || !old) {
        free(copy);
        if (old)
            in->old_paths = old;
        return; /* keep the old name */
    }
    in->old_paths = old;
    in->old_paths[in->n_old_paths++] = m->path;
    sl_log(in->inst, SL_LOG_INFO, "%s: renamed to %s (still matched): reading on", m->path, copy);
    m->path = copy;
    m->r->label = copy;
}

/* Open a newly matched file and start its reader where its checkpoint says.
 * Returns 0, or -1 (logged) when it cannot be read: it is skipped. */
static int add_member(struct file_input *in, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        sl_log(in->inst, SL_LOG_WARN, "%s: matches %s but cannot be opened: %s", path, in->pattern,
               strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || find_member(in, st.st_dev, st.st_ino)) {
        close(fd); /* not a regular file, or replaced by a known one since the scan */
        return 0;
    }
    struct glob_member m = {.dev = st.st_dev, .ino = st.st_ino, .matched = true};
    m.path = strdup(path);
    m.r = m.path ? line_reader_new(in->inst, fd, true, m.path, false) : NULL;
    if (!m.r) {
        sl_log(in->inst, SL_LOG_ERROR, "%s: out of memory", path);
        free(m.path);
        close(fd);
        return -1;
    }
    if (in->store) {
        struct checkpoint_pos at;
        struct checkpoint *c =
            checkpoint_add(in->store, m.path, st.st_dev, st.st_ino, st.st_size, &at);
        if (!c || (at.offset && lseek(fd, at.offset, SEEK_SET) != at.offset)) {
            if (c)
                sl_log(in->inst, SL_LOG_ERROR, "%s: cannot seek to %" PRId64 ": %s", path,
                       at.offset, strerror(errno));
            goto out_reader;
        }
        m.r->offset = at.offset;
        m.r->line_no = at.line_no;
        file_track(m.r, c);
    }
    pthread_mutex_lock(&in->mu);
    if (in->n_members == in->cap_members) {
        size_t cap = in->cap_members ? in->cap_members * 2 : 16;
        struct glob_member *v = realloc(in->members, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&in->mu);
            sl_log(in->inst, SL_LOG_ERROR, "%s: out of memory", path);
            goto out_reader;
        }
        in->members = v;
        in->cap_members = cap;
    }
    if (atomic_load(&in->stop))
        line_reader_stop(m.r); /* stop() ran before it was listed */
    in->members[in->n_members++] = m;
    pthread_mutex_unlock(&in->mu);
    return 0;
out_reader:
    line_reader_destroy(m.r);
    free(m.path);
    return -1;
}

/* Look at the pattern: new files are added, known ones marked matched (and
 * renamed when their name changed). Returns the number of matches, or -1
 * on a glob error other than no match (logged). */
static int scan(struct file_input *in)
{
    glob_t g;
    int rc = glob(in->pattern, 0, NULL, &g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
        sl_log(in->inst, SL_LOG_WARN, "%s: cannot look for matches (%s)", in->pattern,
               rc == GLOB_NOSPACE ? "out of memory" : "a directory cannot be read");
        return -1;
    }
    int64_t now = monotime_ms();
    for (size_t i = 0; i < in->n_members; i++)
        in->members[i].matched = false;
    size_t n = rc == 0 ? g.gl_pathc : 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        struct glob_member *m = find_member(in, st.st_dev, st.st_ino);
        if (!m) {
            add_member(in, g.gl_pathv[i]);
            continue;
        }
        m->matched = true;
        if (strcmp(m->path, g.gl_pathv[i]) != 0)
            rename_member(in, m, g.gl_pathv[i]);
    }
    for (size_t i = 0; i < in->n_members; i++) {
        struct glob_member *m = &in->members[i];
        if (m->matched)
            m->unmatched_ms = 0;
        else if (!m->unmatched_ms)
            m->unmatched_ms = now;
    }
    globfree(&g);
    return (int)n;
}

int file_glob_init(struct file_input *in)
{
    glob_t g;
    size_t matches = 0;
    if (glob(in->pattern, 0, NULL, &g) == 0) {
        struct stat st;
        for (size_t i = 0; i < g.gl_pathc; i++)
            matches += stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode);
        globfree(&g);
    }
    if (!matches && !in->follow) {
        sl_instance_error(in->inst,
                          "path: no file matches '%s' (with follow = true, files that "
                          "appear later are read)",
                          in->pattern);
        return SL_ERROR;
    }
    if (sl_instance_checking(in->inst))
        return SL_OK;
    in->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (in->wake_fd < 0) {
        sl_instance_error(in->inst, "%s: cannot set up the reader: %s", in->pattern,
                          strerror(errno));
        return SL_ERROR;
    }
    scan(in);
    if (in->store) {
        size_t gone = checkpoint_unclaimed(in->store);
        if (gone)
            sl_log(in->inst, SL_LOG_INFO,
                   "state_file: %zu saved position(s) for files %s no longer matches: dropped",
                   gone, in->pattern);
    }
    if (!in->n_members)
        sl_log(in->inst, SL_LOG_INFO, "%s: no file matches yet; looking every %d ms", in->pattern,
               FOLLOW_POLL_MS);
    return SL_OK;
}

/* The file is done: what is buffered goes out, its reader closes. */
static void finish_member(struct file_input *in, struct glob_member *m, struct sl_input_sink *sink,
                          const char *why)
{
    line_reader_finish(m->r, sink);
    sl_log(in->inst, SL_LOG_INFO, "%s: %s; finished after line %" PRId64, m->path, why,
           m->r->line_no);
    if (m->r->track_arg)
        checkpoint_drop(m->r->track_arg);
    pthread_mutex_lock(&in->mu);
    line_reader_destroy(m->r);
    m->r = NULL;
    pthread_mutex_unlock(&in->mu);
}

/* Without follow: each file matched at start, in sorted order, to its end. */
static int read_each(struct file_input *in, struct sl_input_sink *sink)
{
    for (size_t i = 0; i < in->n_members && !atomic_load(&in->stop); i++) {
        struct glob_member *m = &in->members[i];
        if (line_reader_run(m->r, sink) < 0)
            return SL_ERROR; /* logged by the reader */
        if (atomic_load(&in->stop))
            break;
        if (m->r->track_idle)
            m->r->track_idle(m->r->track_arg); /* its last lines, so they can be checkpointed */
        pthread_mutex_lock(&in->mu);
        line_reader_destroy(m->r);
        m->r = NULL;
        pthread_mutex_unlock(&in->mu);
    }
    return SL_OK;
}

/* Following, at the end of m's file: finish it when it is gone from the
 * pattern. Returns true when it read again from the start (truncated). */
static bool at_end(struct file_input *in, struct glob_member *m, struct sl_input_sink *sink,
                   int64_t now)
{
    if (line_reader_truncated(m->r, sink))
        return true;
    if (m->matched)
        return false;
    struct stat st;
    if (fstat(m->r->fd, &st) == 0 && st.st_nlink == 0)
        finish_member(in, m, sink, "deleted");
    else if (now - m->unmatched_ms >= UNMATCHED_GRACE_MS)
        finish_member(in, m, sink, "no longer matched (renamed)");
    return false;
}

static void wait_a_little(struct file_input *in, struct sl_input_sink *sink, int ms)
{
    sl_sink_flush(sink);
    for (size_t i = 0; i < in->n_members; i++)
        if (in->members[i].r && in->members[i].r->track_idle)
            in->members[i].r->track_idle(in->members[i].r->track_arg);
    if (in->store)
        checkpoint_tick(in->store); /* a dropped file's entry goes even with no more deliveries */
    struct pollfd w = {in->wake_fd, POLLIN, 0};
    poll(&w, 1, ms);
}

int file_glob_run(struct file_input *in, struct sl_input_sink *sink)
{
    if (!in->follow) {
        if (read_each(in, sink) < 0)
            return SL_ERROR;
    } else {
        int64_t next_scan = monotime_ms() + FOLLOW_POLL_MS;
        while (!atomic_load(&in->stop)) {
            int64_t now = monotime_ms();
            if (now >= next_scan) {
                scan(in);
                next_scan = now + FOLLOW_POLL_MS;
            }
            bool read = false;
            for (size_t i = 0; i < in->n_members && !atomic_load(&in->stop); i++) {
                struct glob_member *m = &in->members[i];
                if (!m->r)
                    continue;
                off_t before = m->r->offset;
                int rc = line_reader_pass(m->r, sink);
                if (rc == LINE_READER_ERROR)
                    finish_member(in, m, sink, "cannot be read");
                else if (rc == LINE_READER_EOF)
                    read |= m->r->offset != before || at_end(in, m, sink, now);
            }
            if (!read && !atomic_load(&in->stop))
                wait_a_little(in, sink,
                              (int)(next_scan - monotime_ms() > 0 ? next_scan - monotime_ms() : 0));
        }
    }
    /* Stopped: each file's line being read is read to its end. */
    for (size_t i = 0; i < in->n_members; i++)
        if (in->members[i].r)
            line_reader_stopped(in->members[i].r, sink);
    return SL_OK;
}

void file_glob_stop(struct file_input *in)
{
    atomic_store(&in->stop, true);
    uint64_t one = 1;
    ssize_t w = write(in->wake_fd, &one, sizeof(one));
    (void)w;
    pthread_mutex_lock(&in->mu);
    for (size_t i = 0; i < in->n_members; i++)
        if (in->members[i].r)
            line_reader_stop(in->members[i].r);
    pthread_mutex_unlock(&in->mu);
}

void file_glob_destroy(struct file_input *in)
{
    for (size_t i = 0; i < in->n_members; i++) {
        if (in->members[i].r)
            line_reader_destroy(in->members[i].r);
        free(in->members[i].path);
    }
    for (size_t i = 0; i < in->n_old_paths; i++)
        free(in->old_paths[i]);
    free(in->members);
    free(in->old_paths);
    if (in->wake_fd >= 0)
        close(in->wake_fd);
}
