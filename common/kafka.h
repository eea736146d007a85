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

/* Sets one property; on failure writes "kafka.<name>: reason" to errstr and
 * returns -1. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                   char *errstr, size_t errstr_size);

/* The value the configuration gives the librdkafka property `prop` (a
 * "kafka.<prop>" key, from any source), or NULL if the user did not set it.
 * Borrowed from cfg. cfg may be NULL (then NULL). */
const char *kafka_cfg_get(const cfg_t *cfg, const char *prop);

/* Our default for a property the user may override: sets `prop` to `value`
 * on conf unless the configuration sets kafka.<prop> (which kafka_conf_new
 * already applied). 0, or -1 with "kafka.<prop>: reason" in errstr. */
int kafka_conf_default(rd_kafka_conf_t *conf, const cfg_t *cfg, const char *prop,
                       const char *value, char *errstr, size_t errstr_size);

/* The partition count of `topic` from the cluster's metadata: > 0, 0 if
 * the topic does not exist, -1 with errstr when Kafka does not answer
 * within timeout_ms or refuses. A topic whose leader is not elected yet
 * counts as existing. */
int kafka_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                           size_t errstr_size);

/* Creates `topic` unless it exists. `configs` is a NULL-terminated list of
 * name, value pairs (may be NULL). replication_factor -1 = broker default.
 * Returns 0 if the topic exists afterwards (created now or before), -1 with
 * errstr otherwise. Blocks up to timeout_ms. */
int kafka_topic_ensure(rd_kafka_t *rk, const char *topic, int partitions,
                       int replication_factor, const char *const *configs,
                       int timeout_ms, char *errstr, size_t errstr_size);

/* The topic's effective max.message.bytes (its own setting, else the
 * broker's message.max.bytes), read with DescribeConfigs. > 0, 0 if the
 * topic does not exist, -1 with errstr. Blocks up to timeout_ms. */
long long kafka_topic_max_message_bytes(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                        char *errstr, size_t errstr_size);

/* Raises the topic's max.message.bytes to at least `want`: nothing if it is
 * that large already, else AlterConfigs with every dynamic topic setting
 * described just before carried over (librdkafka 2.0.2 has no
 * IncrementalAlterConfigs; the legacy call replaces the whole set, so a
 * setting changed by someone else between the two calls would be undone).
 * Returns the value the topic has afterwards (>= want), or -1 with errstr.
 * Never lowers it. */
long long kafka_topic_raise_max_message_bytes(rd_kafka_t *rk, const char *topic, long long want,
                                              int timeout_ms, char *errstr, size_t errstr_size);

#endif
