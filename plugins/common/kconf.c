/* kconf.c - librdkafka configuration from options, and log routing. */
#include "kconf.h"

#include <stdio.h>
#include <string.h>

static int set_one(const struct sl_instance *inst, rd_kafka_conf_t *conf, const char *key,
                   const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        sl_instance_error(inst, "kafka property %s: %s", key, errstr);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kconf_new(const struct sl_instance *inst, const char *const *defaults)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* the statistics tell /readyz whether a broker is connected */
    if (set_one(inst, conf, "statistics.interval.ms", "5000") != 0)
        goto out_destroy;
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        if (set_one(inst, conf, defaults[i], defaults[i + 1]) != 0)
            goto out_destroy;
    if (set_one(inst, conf, "bootstrap.servers", sl_opt_str(inst, "brokers")) != 0)
        goto out_destroy;
    size_t n = sl_opt_list_len(inst, "properties");
    for (size_t i = 0; i < n; i++) {
        const char *kv = sl_opt_list_item(inst, "properties", i);
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            sl_instance_error(inst, "properties: \"%s\" is not \"key=value\"", kv);
            goto out_destroy;
        }
        char key[256];
        size_t klen = (size_t)(eq - kv);
        if (klen >= sizeof(key))
            klen = sizeof(key) - 1;
        memcpy(key, kv, klen);
        key[klen] = '\0';
        if (set_one(inst, conf, key, eq + 1) != 0)
            goto out_destroy;
    }
    return conf;

out_destroy:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kconf_check(const struct sl_instance *inst, const rd_kafka_conf_t *conf, rd_kafka_type_t type)
{
    char errstr[512];
    rd_kafka_conf_t *trial = rd_kafka_conf_dup(conf);
    /* no brokers: nothing connects; no logs: "no brokers" is expected here */
    if (rd_kafka_conf_set(trial, "bootstrap.servers", "", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(trial, "log_level", "0", errstr, sizeof(errstr))) {
        rd_kafka_conf_destroy(trial);
        sl_instance_error(inst, "librdkafka: %s", errstr);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(type, trial, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(trial);
        sl_instance_error(inst, "librdkafka: %s", errstr);
        return -1;
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct kbase *b = rd_kafka_opaque(rk);
    if (strcmp(fac, "FAIL") == 0 || strcmp(fac, "ERROR") == 0 || strcmp(fac, "FATAL") == 0)
        return; /* the same event reaches error_cb, which logs it */
    int l = level <= 3   ? SL_LOG_ERROR
            : level == 4 ? SL_LOG_WARN
            : level <= 6 ? SL_LOG_INFO
                         : SL_LOG_DEBUG;
    if (b && sl_log_enabled(l))
        sl_log(b->inst, l, "librdkafka %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    const struct kbase *b = opaque;
    int fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    char fbuf[512];
    if (fatal) {
        rd_kafka_fatal_error(rk, fbuf, sizeof(fbuf));
        reason = fbuf;
    }
    if (!b || !b->inst)
        return;
    sl_log(b->inst, fatal ? SL_LOG_ERROR : SL_LOG_WARN, "kafka%s: %s", fatal ? " fatal" : "",
           reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        char why[300];
        snprintf(why, sizeof(why), "kafka: %.280s", reason); /* a reason may be longer */
        sl_instance_set_ready(b->inst, b->worker, false, why);
    }
}

/* The string value after `key` at p ("key":"value"), copied into out; NULL
 * when there is none before the end. Returns just past the value. */
static const char *string_after(const char *p, const char *key, char *out, size_t n)
{
    p = strstr(p, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t i = 0;
    while (*p && *p != '"') {
        if (i + 1 < n)
            out[i++] = *p;
        p++;
    }
    out[i] = '\0';
    return p;
}

int kconf_brokers_up(const char *stats_json)
{
    /* each broker object says "source":"...", then "state":"..." */
    const char *p = stats_json;
    char source[32], state[32];
    int up = 0;
    while ((p = string_after(p, "\"source\":\"", source, sizeof(source))) &&
           (p = string_after(p, "\"state\":\"", state, sizeof(state))))
        if (strcmp(state, "UP") == 0 && strcmp(source, "internal") != 0)
            up++;
    return up;
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    const struct kbase *b = opaque;
    if (b && b->inst) {
        bool up = kconf_brokers_up(json) > 0;
        sl_instance_set_ready(b->inst, b->worker, up, up ? NULL : "kafka: no broker connected");
    }
    return 0; /* librdkafka frees json */
}

void kconf_set_logging(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
}
