/* readback.c - the Kafka output's recover(): read back, from the start its
 * state file names to the end of each partition, what it wrote that the
 * handlers may not have heard of (a kill -9 between the broker's append and
 * dedup's key log), and hand every recovery mark found to sl_recovered().
 * Then the positions start at the end, and the state file says so. */
#include "readback.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kconf.h"
#include "monotime.h"

struct readback {
    const struct sl_instance *inst;
    rd_kafka_t *rk;
    /* Give up when the broker has not answered (or no message came) for
     * stall_ms: starting without the read-back could write twice what a
     * crash left. */
    int stall_ms;
    int64_t stall_at;
    uint64_t messages, marks;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct readback *rb = rd_kafka_opaque(rk);
    /* CONFWARN: the output's producer settings, which a consumer ignores */
    if (level <= 4 && strcmp(fac, "CONFWARN") != 0)
        sl_log(rb->inst, SL_LOG_WARN, "kafka read-back: librdkafka %s: %s", fac, buf);
}

static rd_kafka_t *consumer_new(struct readback *rb)
{
    static const char *const defaults[] = {
        "group.id",
        "sluice-readback", /* assign() only: never joins, never commits */
        "enable.auto.commit",
        "false",
        "enable.partition.eof",
        "true",
        "isolation.level",
        "read_uncommitted",
        "auto.offset.reset",
        "earliest",
        NULL};
    rd_kafka_conf_t *conf = kconf_new(rb->inst, defaults);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque(conf, rb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        sl_log(rb->inst, SL_LOG_ERROR, "kafka read-back: cannot create a consumer: %s", err);
    return rk;
}

static int remaining_ms(const struct readback *rb)
{
    int64_t left = rb->stall_at - monotime_ms();
    return left > 0 ? (int)left : 0;
}

/* How long one request to the broker may wait: what is left, 5 s at most. */
static int request_ms(const struct readback *rb)
{
    int left = remaining_ms(rb);
    return left < 5000 ? left : 5000;
}

/* The topic's partition count (0: the topic does not exist yet). */
static int partition_count(struct readback *rb, const char *topic, int32_t *n)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rb->rk, topic, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (rkt && remaining_ms(rb) > 0) {
        const struct rd_kafka_metadata *md;
        err = rd_kafka_metadata(rb->rk, 0, rkt, &md, request_ms(rb));
        if (err)
            continue;
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        *n = err ? 0 : md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        if (!err || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
            rd_kafka_topic_destroy(rkt);
            return 0;
        }
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    sl_log(rb->inst, SL_LOG_ERROR, "kafka read-back: cannot learn the partitions of %s: %s", topic,
           rd_kafka_err2str(err));
    return -1;
}

static int watermarks(struct readback *rb, const char *topic, int32_t p, int64_t *lo, int64_t *hi)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (remaining_ms(rb) > 0) {
        err = rd_kafka_query_watermark_offsets(rb->rk, topic, p, lo, hi, request_ms(rb));
        if (!err)
            return 0;
    }
    sl_log(rb->inst, SL_LOG_ERROR, "kafka read-back: cannot learn where %s [%" PRId32 "] ends: %s",
           topic, p, rd_kafka_err2str(err));
    return -1;
}

static void take_marks(struct readback *rb, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    const char *name;
    const void *value;
    size_t size;
    size_t plen = strlen(SL_MARK_PREFIX);
    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &value, &size); i++)
        if (strncmp(name, SL_MARK_PREFIX, plen) == 0 && value) {
            sl_recovered(rb->inst, name, value, size);
            rb->marks++;
        }
}

/* Consume [from[p], hi[p]) of every partition where it is not empty. */
static int read_ranges(struct readback *rb, const char *topic, int32_t n, const int64_t *from,
                       const int64_t *hi)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n ? n : 1);
    int32_t left = 0;
    for (int32_t p = 0; p < n; p++)
        if (from[p] < hi[p]) {
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = from[p];
            left++;
        }
    bool *done = calloc((size_t)n ? (size_t)n : 1, sizeof(*done));
    int rc = 0;
    if (!done || (left && rd_kafka_assign(rb->rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        sl_log(rb->inst, SL_LOG_ERROR, "kafka read-back: cannot assign the partitions of %s",
               topic);
        rc = -1;
        left = 0;
    }
    rb->stall_at = monotime_ms() + rb->stall_ms;
    while (left > 0) {
        if (remaining_ms(rb) == 0) {
            sl_log(rb->inst, SL_LOG_ERROR,
                   "kafka read-back: nothing came from %s for %d s (%" PRId32
                   " partitions left to read)",
                   topic, rb->stall_ms / 1000, left);
            rc = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rb->rk, 200);
        if (!m)
            continue;
        int32_t p = m->partition;
        bool ours = m->rkt && strcmp(rd_kafka_topic_name(m->rkt), topic) == 0 && p >= 0 && p < n;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (ours && !done[p]) {
                done[p] = true;
                left--;
            }
        } else if (m->err) {
            sl_log(rb->inst, SL_LOG_WARN, "kafka read-back: %s", rd_kafka_message_errstr(m));
        } else if (ours) {
            rb->stall_at = monotime_ms() + rb->stall_ms;
            rb->messages++;
            take_marks(rb, m);
            if (!done[p] && m->offset + 1 >= hi[p]) {
                done[p] = true;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(done);
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int readback_recover(const struct sl_instance *inst, struct positions *ps, int timeout_s)
{
    char why[300];
    struct positions_file f;
    int have = positions_read(ps->path, &f, why, sizeof(why));
    if (have < 0)
        sl_log(inst, SL_LOG_WARN,
               "kafka: state_file %s: %s; nothing read back (what a crash left in flight may be "
               "sent again)",
               ps->path, why);
    else if (have > 0 && strcmp(f.topic, ps->topic) != 0) {
        sl_log(inst, SL_LOG_WARN, "kafka: state_file %s is for topic %s, not %s: nothing read back",
               ps->path, f.topic, ps->topic);
        have = 0;
    }
    struct readback rb = {.inst = inst, .stall_ms = timeout_s * 1000};
    rb.stall_at = monotime_ms() + rb.stall_ms;
    int32_t n = 0;
    int64_t *lo = NULL, *hi = NULL, *from = NULL;
    int rc = -1;
    if (!(rb.rk = consumer_new(&rb)) || partition_count(&rb, ps->topic, &n) < 0)
        goto out;
    lo = calloc((size_t)n + 1, sizeof(*lo));
    hi = calloc((size_t)n + 1, sizeof(*hi));
    from = calloc((size_t)n + 1, sizeof(*from));
    if (!lo || !hi || !from)
        goto out;
    for (int32_t p = 0; p < n; p++) {
        if (watermarks(&rb, ps->topic, p, &lo[p], &hi[p]) < 0)
            goto out;
        /* A partition the file does not know came after it was written:
         * all of it is newer. Without a file, nothing is read back. */
        int64_t start = have <= 0 ? hi[p] : p < f.n_parts && f.start[p] >= 0 ? f.start[p] : lo[p];
        from[p] = start > lo[p] ? start : lo[p];
    }
    if (read_ranges(&rb, ps->topic, n, from, hi) < 0)
        goto out;
    if (have > 0)
        sl_log(inst, SL_LOG_INFO,
               "kafka: read back %" PRIu64 " messages of %s written before the restart: %" PRIu64
               " recovery marks",
               rb.messages, ps->topic, rb.marks);
    if (positions_start(ps, n, hi) < 0) {
        sl_log(inst, SL_LOG_ERROR, "kafka: out of memory");
        goto out;
    }
    if (positions_write(ps, true) < 0) {
        sl_log(inst, SL_LOG_ERROR, "kafka: state_file %s: cannot write: %s", ps->path,
               strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (rb.rk) {
        rd_kafka_consumer_close(rb.rk);
        rd_kafka_destroy(rb.rk);
    }
    free(lo);
    free(hi);
    free(from);
    free(f.start);
    return rc;
}
