/* kafka_offsets - print a consumer group's committed offsets and the high watermarks.
 *
 *   kafka_offsets BROKERS GROUP TOPIC
 *
 * One line per partition: "PARTITION COMMITTED HIGH" (COMMITTED is -1 when the
 * group has none), then "total LAG" where LAG sums HIGH - max(COMMITTED, 0).
 * GROUP "-" skips the group: "total" is then the number of messages.
 * Exit 0 on success, 1 on error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

int main(int argc, char **argv)
{
    char errstr[256];
    if (argc != 4) {
        fprintf(stderr, "usage: %s BROKERS GROUP TOPIC\n", argv[0]);
        return 1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", strcmp(argv[2], "-") ? argv[2] : "kafka-offsets",
                          errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr))) {
        fprintf(stderr, "kafka_offsets: %s\n", errstr);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_offsets: %s\n", errstr);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[3], NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "kafka_offsets: metadata for %s: %s\n", argv[3],
                rd_kafka_err2str(err ? err : md->topics[0].err));
        return 1;
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, argv[3], md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);

    bool no_group = strcmp(argv[2], "-") == 0;
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    err = no_group ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_committed(rk, parts, 10000);
    if (err) {
        fprintf(stderr, "kafka_offsets: committed: %s\n", rd_kafka_err2str(err));
        return 1;
    }
    long long lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, argv[3], p->partition, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "kafka_offsets: watermarks of %d: %s\n", p->partition,
                    rd_kafka_err2str(err));
            return 1;
        }
        int64_t c = p->offset >= 0 ? p->offset : -1;
        printf("%d %lld %lld\n", p->partition, (long long)c, (long long)hi);
        lag += hi - (c > 0 ? c : 0);
    }
    printf("total %lld\n", lag);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return 0;
}
