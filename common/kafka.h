/* kafka: librdkafka set-up shared by the services and hookpipectl. */
#ifndef HOOKPIPE_KAFKA_H
#define HOOKPIPE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "cfg.h"

/* A new librdkafka configuration carrying every "kafka.*" property of cfg
 * (so SASL/SSL clusters work by configuration alone), with librdkafka's log
 * routed to our log. Returns NULL with a "prop: reason" message in errstr if
 * a property is refused. The caller owns the result (rd_kafka_conf_destroy,
 * or hand it to rd_kafka_new). */
rd_kafka_conf_t *kafka_conf_new(const cfg_t *cfg, char *errstr, size_t errstr_size);

/* Sets one property; on failure writes "name=value: reason" to errstr and
 * returns -1. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                   char *errstr, size_t errstr_size);

/* Creates `topic` unless it exists. `configs` is a NULL-terminated list of
 * name, value pairs (may be NULL). replication_factor -1 = broker default.
 * Returns 0 if the topic exists afterwards (created now or before), -1 with
 * errstr otherwise. Blocks up to timeout_ms. */
int kafka_topic_ensure(rd_kafka_t *rk, const char *topic, int partitions,
                       int replication_factor, const char *const *configs,
                       int timeout_ms, char *errstr, size_t errstr_size);

#endif
