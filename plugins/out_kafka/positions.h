/* positions.h - where the Kafka output's read-back starts after a crash:
 * per partition of its topic, an offset below which every message this
 * output wrote has been heard of by the handlers (dedup recorded its key).
 *
 * Each worker keeps a row: the offset from which its unheard messages may
 * lie (INT64_MAX while it has none). Delivery reports come in order per
 * partition, so a busy worker's row is past its last report that has been
 * heard; a worker that goes busy starts its row at the highest offset any
 * worker has heard, since what it now produces lands after that. The start
 * written to the state file is the least of every row and that highest
 * offset, read first. */
#ifndef SLUICE_OUT_KAFKA_POSITIONS_H
#define SLUICE_OUT_KAFKA_POSITIONS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sluice/sluice.h>

struct positions {
    const struct sl_instance *inst;
    const char *path; /* the state file */
    const char *topic;
    int32_t n_parts;
    unsigned n_workers;
    _Atomic int64_t *heard; /* [p]: past the highest offset heard of, any worker */
    _Atomic int64_t *row;   /* [w * n_parts + p] */
    int64_t *reported;      /* [w * n_parts + p]: past the last report, heard or not */
    bool *busy;             /* [w] */
    pthread_mutex_t write_mu;
    _Atomic int64_t next_write_ms;
    bool write_failing;
    int64_t *written; /* [p]: what the file holds (write_mu) */
};

/* The state file's contents: per partition, the start of the read-back
 * (-1: the partition is not in the file). */
struct positions_file {
    char topic[256];
    int32_t n_parts;
    int64_t *start;
};

int positions_init(struct positions *ps, const struct sl_instance *inst, const char *path,
                   const char *topic, unsigned n_workers);
/* The topic has n_parts partitions, everything up to end[p] heard of (the
 * read-back is done): every worker idle. Main thread, before the workers. */
int positions_start(struct positions *ps, int32_t n_parts, const int64_t *end);
void positions_free(struct positions *ps);

/* Worker w's delivery report: offset written to partition. */
static inline void positions_reported(struct positions *ps, unsigned w, int32_t partition,
                                      int64_t offset)
{
    if (partition >= 0 && partition < ps->n_parts) {
        int64_t *r = &ps->reported[(size_t)w * (size_t)ps->n_parts + (size_t)partition];
        if (offset + 1 > *r)
            *r = offset + 1;
    }
}

/* Worker w, at the start of a call from the engine, when every report of
 * its earlier calls has been heard: busy when it produces now or has
 * messages out. Writes the state file when its time has come. */
void positions_heard(struct positions *ps, unsigned w, bool busy);

/* Write the state file now (atomically: FILE.tmp, rename); sync it when
 * asked (at the end). Returns 0, or -1 with errno set. */
int positions_write(struct positions *ps, bool sync);

/* Read a state file. Returns 1 and fills *f, 0 when there is none, -1 when
 * it cannot be read or is not one (why in err). The caller frees f->start. */
int positions_read(const char *path, struct positions_file *f, char *err, size_t errlen);

#endif
