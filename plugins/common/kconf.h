/* kconf.h - librdkafka configuration and logging shared by in_kafka and out_kafka. */
#ifndef SLUICE_KCONF_H
#define SLUICE_KCONF_H

#include <librdkafka/rdkafka.h>
#include <sluice/sluice.h>

/* First member of every per-handle state handed to librdkafka as opaque, so the
 * shared callbacks can find the instance to log under (NULL: log nothing) and
 * the worker whose connection they report for /readyz. */
struct kbase {
    const struct sl_instance *inst;
    unsigned worker;
};

/* A config from `defaults` (NULL-terminated key, value pairs), then brokers,
 * then the `properties` list ("key=value"). Logs the bad setting with the
 * instance's file:line and returns NULL on error. The caller owns the result. */
rd_kafka_conf_t *kconf_new(const struct sl_instance *inst, const char *const *defaults);

/* Whether librdkafka accepts conf as a whole for a client of this type: some
 * settings only clash when a client is made (acks=1 with the idempotent
 * producer). Makes one with no brokers, so nothing connects, and destroys it;
 * reports a clash with sl_instance_error and returns -1. Init (main thread). */
int kconf_check(const struct sl_instance *inst, const rd_kafka_conf_t *conf, rd_kafka_type_t type);

/* Routes librdkafka logs and errors to sl_log, and its broker states to
 * /readyz: the worker is ready while a broker is up (the statistics, every
 * statistics.interval.ms, 5 s unless the properties say otherwise), not
 * ready from "all brokers down" (error_cb) until one is up again. opaque
 * must start with kbase. */
void kconf_set_logging(rd_kafka_conf_t *conf);

/* How many brokers librdkafka's statistics JSON shows connected ("state":
 * "UP"): bootstrap, learned and logical ones (a consumer's group
 * coordinator has a connection of its own); its internal broker does not
 * count. */
int kconf_brokers_up(const char *stats_json);

#endif
