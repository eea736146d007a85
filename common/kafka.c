/* kafka: librdkafka configuration pass-through and topic creation. */
#include "kafka.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    log_level_t l = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : level <= 6 ? LOG_INFO : LOG_DEBUG;
    log_msg(l, "kafka %s: %s", fac, buf);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                   char *errstr, size_t errstr_size) {
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka.%s: %s", name, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const cfg_t *cfg, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    for (size_t i = 0; cfg && i < cfg_kafka_count(cfg); i++) {
        const char *name, *value;
        cfg_kafka_get(cfg, i, &name, &value);
        if (kafka_conf_set(conf, name, value, errstr, errstr_size) < 0) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

int kafka_topic_ensure(rd_kafka_t *rk, const char *topic, int partitions,
                       int replication_factor, const char *const *configs,
                       int timeout_ms, char *errstr, size_t errstr_size) {
    int rc = -1;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;

    nt = rd_kafka_NewTopic_new(topic, partitions, replication_factor, errstr, errstr_size);
    if (!nt)
        goto out;
    for (size_t i = 0; configs && configs[i]; i += 2) {
        if (rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1])) {
            snprintf(errstr, errstr_size, "%s: bad topic config %s", topic, configs[i]);
            goto out;
        }
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        snprintf(errstr, errstr_size, "%s: no answer from Kafka within %d ms", topic, timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "%s: %s", topic, rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    rd_kafka_resp_err_t err = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char *msg = rd_kafka_topic_result_error_string(res[0]);
        snprintf(errstr, errstr_size, "%s: %s", topic, msg ? msg : rd_kafka_err2str(err));
        goto out;
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}
