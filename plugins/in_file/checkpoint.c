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

/* Version 2: a header line, then one line per file. Version 1 (one file,
 * on the header line) is still read. */
#define STATE_HEADER "sluice-file-checkpoint 2\n"
#define ENTRY_FORMAT "dev=%ju ino=%ju offset=%" PRId64 " line=%" PRId64 "\n"
#define ENTRY_SCAN   "dev=%ju ino=%ju offset=%" SCNd64 " line=%" SCNd64

static void publish(struct checkpoint *c);
static void advance(struct checkpoint *c);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void free_tracker(struct checkpoint *c)
{
    pthread_mutex_destroy(&c->mu);
    free(c->ring);
    free(c->early);
    free(c);
}

/* Parse the state file into s->saved. Damage or a foreign file is logged
 * and read as no entries. */
static void read_state(struct checkpoint_store *s)
{
    FILE *f = fopen(s->path, "r");
    if (!f) {
        if (errno != ENOENT)
            sl_log(s->inst, SL_LOG_WARN, "state_file %s: cannot read (%s); reading from the start",
                   s->path, strerror(errno));
        return;
    }
    int version = 0;
    if (fscanf(f, "sluice-file-checkpoint %d ", &version) != 1 || version < 1 || version > 2)
        version = 0;
    size_t cap = 0;
    bool bad = !version;
    while (!bad) {
        uintmax_t dev, ino;
        struct checkpoint_pos p;
        int got = fscanf(f, ENTRY_SCAN " ", &dev, &ino, &p.offset, &p.line_no);
        if (got == EOF && (version == 2 || s->n_saved))
            break; /* version 2 may hold no entry: every file was dropped */
        if (got != 4 || p.offset < 0 || p.line_no < 0) {
            bad = true;
            break;
        }
        p.dev = (dev_t)dev;
        p.ino = (ino_t)ino;
        if (s->n_saved == cap) {
            cap = cap ? cap * 2 : 8;
            struct checkpoint_pos *v = realloc(s->saved, cap * sizeof(*v));
            bool *c = realloc(s->claimed, cap * sizeof(*c));
            if (v)
                s->saved = v;
            if (c)
                s->claimed = c;
            if (!v || !c) {
                bad = true;
                break;
            }
        }
        s->claimed[s->n_saved] = false;
        s->saved[s->n_saved++] = p;
        if (version == 1)
            break;
    }
    fclose(f);
    if (bad) {
        sl_log(s->inst, SL_LOG_WARN, "state_file %s: not a checkpoint; reading from the start",
               s->path);
        s->n_saved = 0;
    }
}

struct checkpoint_store *checkpoint_store_new(const struct sl_instance *inst, const char *path,
                                              int interval_ms, bool plain)
{
    struct checkpoint_store *s = calloc(1, sizeof(*s));
    size_t n = strlen(path);
    if (!s)
        goto out_of_memory;
    s->inst = inst;
    s->interval_ms = interval_ms;
    s->plain = plain;
    s->path = strdup(path);
    s->tmp_path = malloc(n + 5);
    if (!s->path || !s->tmp_path)
        goto out_of_memory;
    memcpy(s->tmp_path, path, n);
    memcpy(s->tmp_path + n, ".tmp", 5);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    atomic_init(&s->changed, false);
    s->last_write_ms = now_ms();
    read_state(s);
    return s;
out_of_memory:
    sl_instance_error(inst, "out of memory");
    if (s) {
        free(s->path);
        free(s->tmp_path);
        free(s);
    }
    return NULL;
}

void checkpoint_store_free(struct checkpoint_store *s)
{
    if (!s)
        return;
    /* the reader has stopped: every line it emitted is known */
    for (size_t i = 0; i < s->n_trackers; i++)
        publish(s->trackers[i]);
    checkpoint_write(s);
    for (size_t i = 0; i < s->n_trackers; i++)
        free_tracker(s->trackers[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->write_mu);
    free(s->trackers);
    free(s->saved);
    free(s->claimed);
    free(s->path);
    free(s->tmp_path);
    free(s);
}

/* Where to start the file: its saved position, claimed, or its start. */
static struct checkpoint_pos resume_at(struct checkpoint_store *s, const char *label, dev_t dev,
                                       ino_t ino, off_t size)
{
    struct checkpoint_pos start = {dev, ino, 0, 0};
    for (size_t i = 0; i < s->n_saved; i++) {
        const struct checkpoint_pos *p = &s->saved[i];
        if (p->dev != dev || p->ino != ino)
            continue;
        s->claimed[i] = true;
        if (p->offset > size) {
            sl_log(s->inst, SL_LOG_INFO,
                   "%s: shorter (%lld bytes) than the saved offset %" PRId64
                   " (truncated): reading from the start",
                   label, (long long)size, p->offset);
            return start;
        }
        sl_log(s->inst, SL_LOG_INFO, "%s: resuming at byte %" PRId64 " (after line %" PRId64 ")",
               label, p->offset, p->line_no);
        return *p;
    }
    if (s->plain && s->n_saved)
        sl_log(s->inst, SL_LOG_INFO,
               "%s: the state file is for another file (inode %ju, this one is %ju): reading "
               "from the start",
               label, (uintmax_t)s->saved[0].ino, (uintmax_t)ino);
    return start;
}

struct checkpoint *checkpoint_add(struct checkpoint_store *s, const char *label, dev_t dev,
                                  ino_t ino, off_t size, struct checkpoint_pos *at)
{
    /* aligned: the reader's fields are on cache lines of their own */
    struct checkpoint *c = aligned_alloc(_Alignof(struct checkpoint), sizeof(*c));
    if (c) {
        memset(c, 0, sizeof(*c));
        c->cap = 1024;
        c->ring = malloc(c->cap * sizeof(*c->ring));
    }
    pthread_mutex_lock(&s->mu);
    if (c && c->ring && s->n_trackers == s->cap_trackers) {
        size_t cap = s->cap_trackers ? s->cap_trackers * 2 : 8;
        struct checkpoint **t = realloc(s->trackers, cap * sizeof(*t));
        if (t) {
            s->trackers = t;
            s->cap_trackers = cap;
        }
    }
    if (!c || !c->ring || s->n_trackers == s->cap_trackers ||
        s->n_trackers >= (1u << (64 - CHECKPOINT_SEQ_BITS)) - 1) {
        pthread_mutex_unlock(&s->mu);
        sl_log(s->inst, SL_LOG_ERROR, "%s: out of memory for its checkpoint", label);
        if (c)
            free(c->ring);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->store = s;
    c->id = (uint32_t)s->n_trackers;
    c->files[0].dev = dev;
    c->files[0].ino = ino;
    c->done = resume_at(s, label, dev, ino, size);
    c->have_done = c->done.offset > 0;
    s->trackers[s->n_trackers++] = c;
    pthread_mutex_unlock(&s->mu);
    *at = c->done;
    return c;
}

size_t checkpoint_unclaimed(struct checkpoint_store *s)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_saved; i++)
        n += !s->claimed[i];
    if (n)
        atomic_store(&s->changed, true); /* the next write leaves them out */
    pthread_mutex_unlock(&s->mu);
    return n;
}

void checkpoint_drop(struct checkpoint *c)
{
    publish(c); /* its last lines */
    pthread_mutex_lock(&c->mu);
    c->dropped = true;
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->store->changed, true);
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
        atomic_store(&c->store->changed, true);
    }
    pthread_mutex_unlock(&c->mu);
}

static void grow(struct checkpoint *c)
{
    size_t cap = c->cap * 2;
    struct checkpoint_line *ring = malloc(cap * sizeof(*ring));
    if (!ring) {
        sl_log(c->store->inst, SL_LOG_ERROR, "out of memory tracking lines for the checkpoint");
        abort();
    }
    uint64_t seq = c->next_seq - c->count; /* the oldest's */
    for (size_t i = 0; i < c->count; i++, seq++)
        ring[seq & (cap - 1)] = c->ring[seq & (c->cap - 1)];
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
            sl_log(c->store->inst, SL_LOG_ERROR, "out of memory tracking lines for the checkpoint");
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
    /* local[] holds consecutive seqs from next_seq: at most two copies
     * (the second where the ring wraps) */
    size_t at = c->next_seq & (c->cap - 1), first = c->cap - at;
    if (first > c->n_local)
        first = c->n_local;
    memcpy(&c->ring[at], c->local, first * sizeof(c->local[0]));
    memcpy(c->ring, c->local + first, (c->n_local - first) * sizeof(c->local[0]));
    c->count += c->n_local;
    c->next_seq += c->n_local;
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

void checkpoint_idle(struct checkpoint *c)
{
    publish(c);
}

/* The done prefix now ends with line l. Caller holds c->mu. */
static void done_through(struct checkpoint *c, const struct checkpoint_line *l)
{
    c->done.dev = c->files[l->file % CHECKPOINT_FILES].dev;
    c->done.ino = c->files[l->file % CHECKPOINT_FILES].ino;
    c->done.offset = l->end;
    c->done.line_no = l->line_no;
    c->done_file = l->file;
    c->have_done = true;
}

/* Caller holds c->mu. */
static void advance(struct checkpoint *c)
{
    const struct checkpoint_line *last = NULL;
    while (c->count && c->ring[c->head].done) {
        last = &c->ring[c->head];
        c->head = (c->head + 1) & (c->cap - 1);
        c->count--;
    }
    bool moved = last != NULL;
    if (last)
        done_through(c, last); /* the entry stays readable: only a publish overwrites it */
    if (!c->count && c->done_file != c->cur_file) {
        /* Everything of a rotated (or truncated) file is done: the new one is
         * at its start. */
        c->done_file = c->cur_file;
        c->done.dev = c->files[c->cur_file % CHECKPOINT_FILES].dev;
        c->done.ino = c->files[c->cur_file % CHECKPOINT_FILES].ino;
        c->done.offset = 0;
        c->done.line_no = 0;
        moved = true;
    }
    if (moved)
        atomic_store(&c->store->changed, true);
}

#define SEQ_MASK ((UINT64_C(1) << CHECKPOINT_SEQ_BITS) - 1)

/* Caller holds c->mu. The usual case: `run` lines delivered in the order
 * they were read, starting at the oldest one pending. They leave the ring at
 * once, and only the last one is read: the delivering thread does not touch
 * (and pull over from the reader's core) the entry of every line. Returns
 * false, changing nothing, when the run is not that. */
static bool take_in_order(struct checkpoint *c, uint64_t first, size_t run)
{
    if (!c->count || first != c->next_seq - c->count || run > c->count)
        return false;
    done_through(c, &c->ring[(first + run - 1) & (c->cap - 1)]);
    c->head = (c->head + run) & (c->cap - 1);
    c->count -= run;
    atomic_store(&c->store->changed, true);
    return true;
}

void checkpoint_done(struct checkpoint_store *s, const struct sl_delivery *d, size_t n)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n;) {
        uint64_t id = d[i].cookie >> CHECKPOINT_SEQ_BITS;
        if (id >= s->n_trackers) {
            i++; /* not ours: cannot happen */
            continue;
        }
        /* One lock per run of the same file's lines. */
        struct checkpoint *c = s->trackers[id];
        size_t run = 1;
        while (i + run < n && d[i + run].cookie == d[i].cookie + run)
            run++;
        pthread_mutex_lock(&c->mu);
        if (!take_in_order(c, d[i].cookie & SEQ_MASK, run)) {
            for (; i < n && d[i].cookie >> CHECKPOINT_SEQ_BITS == id; i++)
                mark_done(c, d[i].cookie & SEQ_MASK);
            run = 0;
        }
        i += run;
        advance(c);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&s->mu);
    checkpoint_tick(s);
}

void checkpoint_tick(struct checkpoint_store *s)
{
    pthread_mutex_lock(&s->mu);
    bool due = atomic_load(&s->changed) && now_ms() - s->last_write_ms >= s->interval_ms;
    pthread_mutex_unlock(&s->mu);
    if (due)
        checkpoint_write(s);
}

/* The entries to write, as text in a malloc'd buffer (*len bytes); NULL
 * when out of memory. Caller holds s->mu. */
static char *state_text(struct checkpoint_store *s, size_t *len)
{
    size_t cap = sizeof(STATE_HEADER) + (s->n_trackers + 1) * 128;
    char *text = malloc(cap);
    if (!text)
        return NULL;
    size_t n = (size_t)snprintf(text, cap, "%s", STATE_HEADER);
    for (size_t i = 0; i < s->n_trackers; i++) {
        struct checkpoint *c = s->trackers[i];
        pthread_mutex_lock(&c->mu);
        /* A dropped file whose lines are all done is gone from the state,
         * and needs its ring no more (no delivery for it can come). */
        bool gone = c->dropped && !c->count && !c->n_early;
        bool keep = c->have_done && !gone;
        if (gone && c->ring) {
            free(c->ring);
            c->ring = NULL;
        }
        struct checkpoint_pos p = c->done;
        pthread_mutex_unlock(&c->mu);
        if (keep)
            n += (size_t)snprintf(text + n, cap - n, ENTRY_FORMAT, (uintmax_t)p.dev,
                                  (uintmax_t)p.ino, p.offset, p.line_no);
    }
    *len = n;
    return text;
}

int checkpoint_write(struct checkpoint_store *s)
{
    /* One writer at a time, so states reach the file in order. */
    pthread_mutex_lock(&s->write_mu);
    pthread_mutex_lock(&s->mu);
    if (!atomic_exchange(&s->changed, false)) {
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_unlock(&s->write_mu);
        return 0;
    }
    size_t len = 0;
    char *text = state_text(s, &len);
    s->last_write_ms = now_ms();
    pthread_mutex_unlock(&s->mu);
    /* Outside mu: output threads keep marking lines done meanwhile. */
    bool ok = text && replace_file(s->path, s->tmp_path, text, len, true) == 0;
    int err = errno;
    free(text);
    errno = err;
    pthread_mutex_lock(&s->mu);
    if (!ok) {
        if (!s->write_failing)
            sl_log(s->inst, SL_LOG_ERROR, "state_file %s: cannot write: %s (retrying)", s->path,
                   strerror(errno));
        s->write_failing = true;
        atomic_store(&s->changed, true);
    } else {
        s->write_failing = false;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->write_mu);
    return ok ? 0 : -1;
}
