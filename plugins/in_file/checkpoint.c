/* checkpoint.c - see checkpoint.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fsync_dir.h"

#define STATE_FORMAT                                                                               \
    "sluice-file-checkpoint 1 dev=%ju ino=%ju offset=%" PRId64 " line=%" PRId64 "\n"

static void publish(struct checkpoint *c);
static void advance(struct checkpoint *c);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct checkpoint *checkpoint_new(const struct sl_instance *inst, const char *path, int interval_ms)
{
    struct checkpoint *c = calloc(1, sizeof(*c));
    size_t n = strlen(path);
    if (!c)
        goto out_of_memory;
    c->inst = inst;
    c->interval_ms = interval_ms;
    c->path = strdup(path);
    c->tmp_path = malloc(n + 5);
    c->cap = 1024;
    c->ring = malloc(c->cap * sizeof(*c->ring));
    if (!c->path || !c->tmp_path || !c->ring)
        goto out_of_memory;
    memcpy(c->tmp_path, path, n);
    memcpy(c->tmp_path + n, ".tmp", 5);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->write_mu, NULL);
    c->last_write_ms = now_ms();
    return c;
out_of_memory:
    sl_instance_error(inst, "out of memory");
    if (c) {
        free(c->path);
        free(c->tmp_path);
        free(c->ring);
        free(c);
    }
    return NULL;
}

void checkpoint_free(struct checkpoint *c)
{
    if (!c)
        return;
    publish(c); /* the reader has stopped: every line it emitted is known */
    checkpoint_write(c);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->write_mu);
    free(c->path);
    free(c->tmp_path);
    free(c->ring);
    free(c->early);
    free(c);
}

static bool read_state(struct checkpoint *c, struct checkpoint_pos *p)
{
    FILE *f = fopen(c->path, "r");
    if (!f) {
        if (errno != ENOENT)
            sl_log(c->inst, SL_LOG_WARN, "state_file %s: cannot read (%s); reading from the start",
                   c->path, strerror(errno));
        return false;
    }
    uintmax_t dev, ino;
    int got = fscanf(f, "sluice-file-checkpoint 1 dev=%ju ino=%ju offset=%" SCNd64 " line=%" SCNd64,
                     &dev, &ino, &p->offset, &p->line_no);
    fclose(f);
    if (got != 4 || p->offset < 0 || p->line_no < 0) {
        sl_log(c->inst, SL_LOG_WARN, "state_file %s: not a checkpoint; reading from the start",
               c->path);
        return false;
    }
    p->dev = (dev_t)dev;
    p->ino = (ino_t)ino;
    return true;
}

struct checkpoint_pos checkpoint_resume(struct checkpoint *c, dev_t dev, ino_t ino, off_t size)
{
    struct checkpoint_pos saved, start = {dev, ino, 0, 0};
    const char *label = sl_opt_str(c->inst, "path");
    pthread_mutex_lock(&c->mu);
    c->files[0].dev = dev;
    c->files[0].ino = ino;
    c->cur_file = 0;
    c->done_file = 0;
    c->done = start;
    pthread_mutex_unlock(&c->mu);
    if (!read_state(c, &saved))
        return start;
    if (saved.dev != dev || saved.ino != ino) {
        sl_log(c->inst, SL_LOG_INFO,
               "%s: the state file is for another file (inode %ju, this one is %ju): reading "
               "from the start",
               label, (uintmax_t)saved.ino, (uintmax_t)ino);
        return start;
    }
    if (saved.offset > size) {
        sl_log(c->inst, SL_LOG_INFO,
               "%s: shorter (%lld bytes) than the saved offset %" PRId64
               " (truncated): reading from the start",
               label, (long long)size, saved.offset);
        return start;
    }
    sl_log(c->inst, SL_LOG_INFO, "%s: resuming at byte %" PRId64 " (after line %" PRId64 ")", label,
           saved.offset, saved.line_no);
    pthread_mutex_lock(&c->mu);
    c->done = saved;
    c->have_done = true;
    c->written_current = true;
    pthread_mutex_unlock(&c->mu);
    return saved;
}

void checkpoint_file(struct checkpoint *c, dev_t dev, ino_t ino)
{
    publish(c); /* the old file's lines first */
    pthread_mutex_lock(&c->mu);
    c->cur_file++;
    c->files[c->cur_file % CHECKPOINT_FILES].dev = dev;
    c->files[c->cur_file % CHECKPOINT_FILES].ino = ino;
    if (!c->count) {
        /* Nothing of the old file is pending: the new one starts done at 0. */
        c->done = (struct checkpoint_pos){dev, ino, 0, 0};
        c->done_file = c->cur_file;
        c->have_done = true;
        c->written_current = false;
    }
    pthread_mutex_unlock(&c->mu);
}

static void grow(struct checkpoint *c)
{
    size_t cap = c->cap * 2;
    struct checkpoint_line *ring = malloc(cap * sizeof(*ring));
    if (!ring) {
        sl_log(c->inst, SL_LOG_ERROR, "out of memory tracking lines for the checkpoint");
        abort();
    }
    for (size_t i = 0; i < c->count; i++) {
        const struct checkpoint_line *l = &c->ring[(c->head + i) & (c->cap - 1)];
        ring[l->seq & (cap - 1)] = *l;
    }
    free(c->ring);
    c->ring = ring;
    c->cap = cap;
    c->head = (c->next_seq - c->count) & (cap - 1);
}

/* Caller holds mu: mark seq done, or remember it until it is published. */
static void mark_done(struct checkpoint *c, uint64_t seq)
{
    if (seq < c->next_seq) {
        if (seq >= c->next_seq - c->count)
            c->ring[seq & (c->cap - 1)].done = true;
        return;
    }
    if (c->n_early == c->cap_early) {
        size_t cap = c->cap_early ? c->cap_early * 2 : 64;
        uint64_t *e = realloc(c->early, cap * sizeof(*e));
        if (!e) {
            sl_log(c->inst, SL_LOG_ERROR, "out of memory tracking lines for the checkpoint");
            abort();
        }
        c->early = e;
        c->cap_early = cap;
    }
    c->early[c->n_early++] = seq;
}

/* Move the reader's pending lines into the ring (reader thread). */
static void publish(struct checkpoint *c)
{
    if (!c->n_local)
        return;
    pthread_mutex_lock(&c->mu);
    while (c->cap - c->count < c->n_local)
        grow(c);
    for (size_t i = 0; i < c->n_local; i++) {
        c->ring[c->local[i].seq & (c->cap - 1)] = c->local[i];
        c->count++;
        c->next_seq++;
    }
    c->head = (c->next_seq - c->count) & (c->cap - 1);
    c->n_local = 0;
    size_t kept = 0;
    for (size_t i = 0; i < c->n_early; i++) {
        uint64_t seq = c->early[i];
        if (seq < c->next_seq)
            mark_done(c, seq);
        else
            c->early[kept++] = seq;
    }
    c->n_early = kept;
    advance(c);
    pthread_mutex_unlock(&c->mu);
}

uint64_t checkpoint_push(struct checkpoint *c, int64_t end, int64_t line_no)
{
    uint64_t seq = c->local_seq++;
    c->local[c->n_local++] = (struct checkpoint_line){seq, end, line_no, c->cur_file, false};
    if (c->n_local == CHECKPOINT_LOCAL)
        publish(c);
    return seq;
}

void checkpoint_idle(struct checkpoint *c)
{
    publish(c);
}

/* Caller holds mu. */
static void advance(struct checkpoint *c)
{
    while (c->count && c->ring[c->head].done) {
        const struct checkpoint_line *l = &c->ring[c->head];
        c->done.dev = c->files[l->file % CHECKPOINT_FILES].dev;
        c->done.ino = c->files[l->file % CHECKPOINT_FILES].ino;
        c->done.offset = l->end;
        c->done.line_no = l->line_no;
        c->done_file = l->file;
        c->have_done = true;
        c->written_current = false;
        c->head = (c->head + 1) & (c->cap - 1);
        c->count--;
    }
    if (!c->count && c->done_file != c->cur_file) {
        /* Everything of a rotated (or truncated) file is done: the new one is
         * at its start. */
        c->done_file = c->cur_file;
        c->done.dev = c->files[c->cur_file % CHECKPOINT_FILES].dev;
        c->done.ino = c->files[c->cur_file % CHECKPOINT_FILES].ino;
        c->done.offset = 0;
        c->done.line_no = 0;
        c->written_current = false;
    }
}

void checkpoint_done(struct checkpoint *c, const struct sl_delivery *d, size_t n)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        mark_done(c, d[i].cookie);
    advance(c);
    bool due = !c->written_current && now_ms() - c->last_write_ms >= c->interval_ms;
    pthread_mutex_unlock(&c->mu);
    if (due)
        checkpoint_write(c);
}

int checkpoint_write(struct checkpoint *c)
{
    /* One writer at a time, so checkpoints reach the file in order. */
    pthread_mutex_lock(&c->write_mu);
    pthread_mutex_lock(&c->mu);
    if (!c->have_done || c->written_current) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->write_mu);
        return 0;
    }
    struct checkpoint_pos p = c->done;
    c->written_current = true;
    c->last_write_ms = now_ms();
    pthread_mutex_unlock(&c->mu);
    /* Outside mu: output threads keep marking lines done meanwhile. */
    char text[200];
    int len = snprintf(text, sizeof(text), STATE_FORMAT, (uintmax_t)p.dev, (uintmax_t)p.ino,
                       p.offset, p.line_no);
    int fd = open(c->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(c->tmp_path, c->path) == 0 && fsync_dir_of(c->path) == 0;
    pthread_mutex_lock(&c->mu);
    if (!ok) {
        if (!c->write_failing)
            sl_log(c->inst, SL_LOG_ERROR, "state_file %s: cannot write: %s (retrying)", c->path,
                   strerror(errno));
        c->write_failing = true;
        c->written_current = false;
    } else {
        c->write_failing = false;
    }
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->write_mu);
    return ok ? 0 : -1;
}
