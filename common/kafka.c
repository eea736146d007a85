/* kafka: librdkafka configuration pass-through and topic creation. */
#include "kafka.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "errstr.h"
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

const char *kafka_cfg_get(const cfg_t *cfg, const char *prop) {
    const char *found = NULL;
    for (size_t i = 0; cfg && i < cfg_kafka_count(cfg); i++) {
        const char *name, *value;
        cfg_kafka_get(cfg, i, &name, &value);
        if (strcmp(name, prop) == 0)
            found = value;
    }
    return found;
}

int kafka_conf_default(rd_kafka_conf_t *conf, const cfg_t *cfg, const char *prop,
                       const char *value, char *errstr, size_t errstr_size) {
    if (kafka_cfg_get(cfg, prop))
        return 0;
    return kafka_conf_set(conf, prop, value, errstr, errstr_size);
}

int kafka_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                           size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (!rkt)
        return errstr_fmt(-1, errstr, errstr_size, "%s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (err) {
        errstr_fmt(-1, errstr, errstr_size, "cannot get metadata of %s: %s", topic,
                   rd_kafka_err2str(err));
        goto out;
    }
    if (md->topic_cnt != 1) {
        errstr_fmt(-1, errstr, errstr_size, "metadata of %s: %d topics in the answer", topic,
                   md->topic_cnt);
        goto out;
    }
    err = md->topics[0].err;
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        n = 0;
    else if (err && err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        errstr_fmt(-1, errstr, errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
    else
        n = md->topics[0].partition_cnt;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
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

/* DescribeConfigs (alter 0) or AlterConfigs (alter 1) of the one topic
 * resource cr, waited for: the result event (destroy it) with its resource
 * in *res, or NULL with errstr; *rerr is then the resource's own error
 * (RD_KAFKA_RESP_ERR_NO_ERROR if the call itself failed). */
static rd_kafka_event_t *kafka_configs_call(rd_kafka_t *rk, int alter,
                                            rd_kafka_ConfigResource_t *cr, const char *topic,
                                            int timeout_ms, const rd_kafka_ConfigResource_t **res,
                                            rd_kafka_resp_err_t *rerr, char *errstr,
                                            size_t errstr_size) {
    const char *what = alter ? "alter configs" : "describe configs";
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(
        rk, alter ? RD_KAFKA_ADMIN_OP_ALTERCONFIGS : RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    *rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    if (alter)
        rd_kafka_AlterConfigs(rk, &cr, 1, opts, q);
    else
        rd_kafka_DescribeConfigs(rk, &cr, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    *res = NULL;
    size_t n = 0;
    const rd_kafka_ConfigResource_t **rs = NULL;
    if (ev && !rd_kafka_event_error(ev))
        rs = alter ? rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev),
                                                            &n)
                   : rd_kafka_DescribeConfigs_result_resources(
                         rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (!ev) {
        snprintf(errstr, errstr_size, "%s: %s: no answer from Kafka within %d ms", topic, what,
                 timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "%s: %s: %s", topic, what,
                 rd_kafka_event_error_string(ev));
    } else if (n != 1) {
        snprintf(errstr, errstr_size, "%s: %s: %zu resources", topic, what, n);
    } else if ((*rerr = rd_kafka_ConfigResource_error(rs[0]))) {
        const char *m = rd_kafka_ConfigResource_error_string(rs[0]);
        snprintf(errstr, errstr_size, "%s: %s: %s", topic, what,
                 m ? m : rd_kafka_err2str(*rerr));
    } else {
        *res = rs[0];
    }
    if (ev && !*res) {
        rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return ev;
}

/* DescribeConfigs of one topic: the result event (destroy it) and its one
 * resource in *res, or NULL with errstr; *missing is set if the topic does
 * not exist. */
static rd_kafka_event_t *kafka_topic_describe(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                              const rd_kafka_ConfigResource_t **res,
                                              int *missing, char *errstr, size_t errstr_size) {
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_resp_err_t err;
    rd_kafka_event_t *ev =
        kafka_configs_call(rk, 0, cr, topic, timeout_ms, res, &err, errstr, errstr_size);
    *missing = err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    rd_kafka_ConfigResource_destroy(cr);
    return ev;
}

static long long kafka_entries_max_message_bytes(const rd_kafka_ConfigResource_t *res) {
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(res, &n);
    for (size_t i = 0; i < n; i++) {
        const char *v = rd_kafka_ConfigEntry_value(es[i]);
        if (strcmp(rd_kafka_ConfigEntry_name(es[i]), "max.message.bytes") == 0 && v)
            return atoll(v);
    }
    return -1;
}

long long kafka_topic_max_message_bytes(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                        char *errstr, size_t errstr_size) {
    const rd_kafka_ConfigResource_t *res = NULL;
    int missing = 0;
    rd_kafka_event_t *ev =
        kafka_topic_describe(rk, topic, timeout_ms, &res, &missing, errstr, errstr_size);
    if (!ev)
        return missing ? 0 : -1;
    long long v = kafka_entries_max_message_bytes(res);
    rd_kafka_event_destroy(ev);
    if (v <= 0)
        snprintf(errstr, errstr_size, "%s: no max.message.bytes in its configuration", topic);
    return v > 0 ? v : -1;
}

long long kafka_topic_raise_max_message_bytes(rd_kafka_t *rk, const char *topic, long long want,
                                              int timeout_ms, char *errstr, size_t errstr_size) {
    const rd_kafka_ConfigResource_t *res = NULL;
    int missing = 0;
    long long rc = -1;
    rd_kafka_event_t *ev =
        kafka_topic_describe(rk, topic, timeout_ms, &res, &missing, errstr, errstr_size);
    if (!ev) {
        if (missing)
            snprintf(errstr, errstr_size, "%s: no such topic", topic);
        return -1;
    }
    long long cur = kafka_entries_max_message_bytes(res);
    if (cur >= want) {
        rd_kafka_event_destroy(ev);
        return cur;
    }
    char v[32];
    snprintf(v, sizeof(v), "%lld", want);
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(res, &n);
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_ConfigEntry_name(es[i]);
        const char *val = rd_kafka_ConfigEntry_value(es[i]);
        /* the legacy call replaces the topic's whole set: keep its own ones */
        if (rd_kafka_ConfigEntry_source(es[i]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG &&
            strcmp(name, "max.message.bytes") != 0 && val && !rd_kafka_ConfigEntry_is_sensitive(es[i]))
            rd_kafka_ConfigResource_set_config(cr, name, val);
    }
    rd_kafka_ConfigResource_set_config(cr, "max.message.bytes", v);
    rd_kafka_event_destroy(ev);
    const rd_kafka_ConfigResource_t *altered = NULL;
    rd_kafka_resp_err_t err;
    if ((ev = kafka_configs_call(rk, 1, cr, topic, timeout_ms, &altered, &err, errstr,
                                 errstr_size))) {
        rd_kafka_event_destroy(ev);
        rc = want;
    }
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}
