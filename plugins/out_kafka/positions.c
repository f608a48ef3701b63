/* positions.c - the Kafka output's read-back start: kept per worker, written
 * to the state file every WRITE_EVERY_MS and at the end (positions.h). */
#include "positions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsync_dir.h"
#include "monotime.h"

#define FILE_MAGIC "sluice kafka read-back 1"
/* A kill loses at most this much of the file's progress: that much more to
 * read back at the next start, nothing else. */
#define WRITE_EVERY_MS 100

int positions_init(struct positions *ps, const struct sl_instance *inst, const char *path,
                   const char *topic, unsigned n_workers)
{
    memset(ps, 0, sizeof(*ps));
    ps->inst = inst;
    ps->path = path;
    ps->topic = topic;
    ps->n_workers = n_workers;
    ps->busy = calloc(n_workers, sizeof(*ps->busy));
    pthread_mutex_init(&ps->write_mu, NULL);
    return ps->busy ? 0 : -1;
}

int positions_start(struct positions *ps, int32_t n_parts, const int64_t *end)
{
    size_t cells = (size_t)ps->n_workers * (size_t)n_parts;
    ps->heard = calloc((size_t)n_parts ? (size_t)n_parts : 1, sizeof(*ps->heard));
    ps->row = calloc(cells ? cells : 1, sizeof(*ps->row));
    ps->reported = calloc(cells ? cells : 1, sizeof(*ps->reported));
    ps->written = calloc((size_t)n_parts ? (size_t)n_parts : 1, sizeof(*ps->written));
    if (!ps->heard || !ps->row || !ps->reported || !ps->written)
        return -1;
    ps->n_parts = n_parts;
    for (int32_t p = 0; p < n_parts; p++)
        atomic_init(&ps->heard[p], end[p]);
    for (size_t i = 0; i < cells; i++) {
        atomic_init(&ps->row[i], INT64_MAX);
        ps->reported[i] = end[i % (size_t)n_parts];
    }
    return 0;
}

void positions_free(struct positions *ps)
{
    free(ps->heard);
    free(ps->row);
    free(ps->reported);
    free(ps->written);
    free(ps->busy);
    pthread_mutex_destroy(&ps->write_mu);
}

static void raise_to(_Atomic int64_t *v, int64_t to)
{
    int64_t cur = atomic_load(v);
    while (cur < to && !atomic_compare_exchange_weak(v, &cur, to))
        ;
}

void positions_heard(struct positions *ps, unsigned w, bool busy)
{
    if (!ps->heard)
        return; /* not started: --check, or the read-back failed */
    int32_t n = ps->n_parts;
    _Atomic int64_t *row = ps->row + (size_t)w * (size_t)n;
    const int64_t *reported = ps->reported + (size_t)w * (size_t)n;
    for (int32_t p = 0; p < n; p++)
        raise_to(&ps->heard[p], reported[p]);
    if (!busy) {
        if (ps->busy[w])
            for (int32_t p = 0; p < n; p++)
                atomic_store(&row[p], INT64_MAX);
    } else if (!ps->busy[w]) {
        /* What it produces from now on lands past what anyone heard of. */
        for (int32_t p = 0; p < n; p++)
            atomic_store(&row[p], atomic_load(&ps->heard[p]));
    } else {
        for (int32_t p = 0; p < n; p++)
            if (reported[p] > atomic_load_explicit(&row[p], memory_order_relaxed))
                atomic_store(&row[p], reported[p]);
    }
    ps->busy[w] = busy;
    int64_t now = monotime_ms();
    if (now < atomic_load_explicit(&ps->next_write_ms, memory_order_relaxed) ||
        pthread_mutex_trylock(&ps->write_mu) != 0)
        return;
    atomic_store(&ps->next_write_ms, now + WRITE_EVERY_MS);
    int rc = positions_write(ps, false), err = errno;
    bool was_failing = ps->write_failing;
    ps->write_failing = rc < 0;
    pthread_mutex_unlock(&ps->write_mu);
    if (rc < 0 && !was_failing)
        sl_log(ps->inst, SL_LOG_ERROR, "kafka: state_file %s: cannot write: %s (retrying)",
               ps->path, strerror(err));
    else if (rc == 0 && was_failing)
        sl_log(ps->inst, SL_LOG_INFO, "kafka: state_file %s: writing again", ps->path);
}

/* The read-back start of each partition, into start[]. True when it differs
 * from what the file holds. */
static bool starts(struct positions *ps, int64_t *start)
{
    bool changed = false;
    /* The highest heard first: a worker going busy after this read starts
     * its row at or past it. */
    for (int32_t p = 0; p < ps->n_parts; p++) {
        start[p] = atomic_load(&ps->heard[p]);
        for (unsigned w = 0; w < ps->n_workers; w++) {
            int64_t r = atomic_load(&ps->row[(size_t)w * (size_t)ps->n_parts + (size_t)p]);
            if (r < start[p])
                start[p] = r;
        }
        changed |= start[p] != ps->written[p];
    }
    return changed;
}

int positions_write(struct positions *ps, bool sync)
{
    int64_t *start = malloc(((size_t)ps->n_parts + 1) * sizeof(*start));
    if (!start)
        return -1;
    if (!starts(ps, start) && !sync) {
        free(start);
        return 0; /* the file says so already */
    }
    /* a line per partition: "P START", two numbers of at most 20 digits */
    size_t cap = sizeof(FILE_MAGIC) + strlen(ps->topic) + 16 + (size_t)ps->n_parts * 44;
    char tmp[4200], *text = malloc(cap);
    int rc = -1;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", ps->path) >= sizeof(tmp))
        errno = ENAMETOOLONG;
    else if (text) {
        size_t n = (size_t)snprintf(text, cap, FILE_MAGIC "\ntopic %s\n", ps->topic);
        for (int32_t p = 0; p < ps->n_parts; p++)
            n += (size_t)snprintf(text + n, cap - n, "%" PRId32 " %" PRId64 "\n", p, start[p]);
        rc = replace_file(ps->path, tmp, text, n, sync);
    }
    if (rc == 0)
        memcpy(ps->written, start, (size_t)ps->n_parts * sizeof(*start));
    int err = errno;
    free(text);
    free(start);
    errno = err;
    return rc;
}

int positions_read(const char *path, struct positions_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    FILE *in = fopen(path, "r");
    if (!in) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    char line[512];
    int rc = -1;
    if (!fgets(line, sizeof(line), in) || strcmp(line, FILE_MAGIC "\n") != 0) {
        snprintf(err, errlen, "not a Kafka output state file (first line)");
        goto out;
    }
    if (!fgets(line, sizeof(line), in) || sscanf(line, "topic %255s", f->topic) != 1) {
        snprintf(err, errlen, "no topic line");
        goto out;
    }
    int32_t p;
    int64_t start;
    while (fgets(line, sizeof(line), in)) {
        if (sscanf(line, "%" SCNd32 " %" SCNd64, &p, &start) != 2 || p < 0 || p > 1000000 ||
            start < 0) {
            snprintf(err, errlen, "bad line \"%.60s\"", line);
            goto out;
        }
        if (p >= f->n_parts) {
            int64_t *s = realloc(f->start, ((size_t)p + 1) * sizeof(*s));
            if (!s) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            for (int32_t i = f->n_parts; i <= p; i++)
                s[i] = -1;
            f->start = s;
            f->n_parts = p + 1;
        }
        f->start[p] = start;
    }
    rc = 1;
out:
    fclose(in);
    if (rc < 0) {
        free(f->start);
        f->start = NULL;
    }
    return rc;
}
