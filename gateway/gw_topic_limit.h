/* gw_topic_limit: the max.message.bytes of the topics the gateway produces
 * to, so that a body holding a record a topic cannot take is answered 413
 * before any of its records is produced (all or nothing for an array),
 * rather than after the broker refused one batch of it while others were
 * stored.
 *
 * A topic's value is read with DescribeConfigs on the caller's thread
 * (bounded by GW_TOPIC_LIMIT_TIMEOUT_MS) and kept GW_TOPIC_LIMIT_TTL_MS, a
 * failure too (then "unknown"), so at most one look-up per topic per TTL.
 * The gateway asks only for bodies holding a record larger than
 * GW_TOPIC_LIMIT_FLOOR, which any topic with Kafka's default limit takes:
 * ordinary traffic never waits for it. A topic lowered within the TTL is
 * still caught by the broker (a 413 from the delivery report). Thread-safe. */
#ifndef HOOKPIPE_GW_TOPIC_LIMIT_H
#define HOOKPIPE_GW_TOPIC_LIMIT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define GW_TOPIC_LIMIT_FLOOR      1000000   /* < Kafka's default 1,048,588 */
#define GW_TOPIC_LIMIT_TTL_MS     30000
#define GW_TOPIC_LIMIT_TIMEOUT_MS 2000
/* key UUID, hookpipe-* headers and record-batch framing of one record */
#define GW_TOPIC_LIMIT_OVERHEAD   2048

/* The topic's max.message.bytes, or -1 if it could not be read. */
long long gw_topic_limit(rd_kafka_t *rk, const char *topic);

/* Forgets every cached value (tests; shutdown). */
void gw_topic_limit_reset(void);

#endif
