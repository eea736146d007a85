/* sink_kprod: the tracking producer, used by whatever produces records on
 * behalf of consumed ones (the kafka-avro output, the dead letters of
 * sink_dlq): an idempotent acks=all producer that remembers, per source
 * topic and partition, which source offsets it has produced and which Kafka
 * has acknowledged, so that a consumer commits only acknowledged records.
 * A delivery that fails (after the producer's own retries) makes the
 * producer failed for good: the consumer must stop without committing.
 *
 * Not thread-safe: one thread drives all calls (delivery reports run inside
 * them). */
#ifndef HOOKPIPE_SINK_KPROD_H
#define HOOKPIPE_SINK_KPROD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

typedef struct sink_kprod sink_kprod_t;

/* What sink_kprod_produce did. */
typedef enum {
    SINK_KPROD_FAILED = -1,   /* the producer has failed, or another permanent error */
    SINK_KPROD_OK = 0,        /* queued */
    SINK_KPROD_TOO_LARGE = 1  /* larger than message.max.bytes: can never be produced,
                                 the caller routes the record elsewhere */
} sink_kprod_rc_t;

/* A producer with the "kafka.*" properties of cfg (may be NULL), then
 * enable.idempotence=true and acks=all forced. message_max_bytes (> 0) is
 * its message.max.bytes unless cfg sets kafka.message.max.bytes. NULL with
 * errstr. */
sink_kprod_t *sink_kprod_new(const cfg_t *cfg, long long message_max_bytes, char *errstr,
                             size_t errstr_size);

/* Produces one message for the source record (src_topic, src_partition,
 * src_offset). partition may be RD_KAFKA_PARTITION_UA. `headers` is taken
 * over in every case (may be NULL). Waits while the local queue is full.
 * A sink_kprod_rc_t, with errstr unless SINK_KPROD_OK. */
sink_kprod_rc_t sink_kprod_produce(sink_kprod_t *kp, const char *topic, int32_t partition,
                                   const void *key, size_t key_len, const void *value,
                                   size_t len, rd_kafka_headers_t *headers,
                                   const char *src_topic, int32_t src_partition,
                                   int64_t src_offset, char *errstr, size_t errstr_size);

/* Serves delivery reports without blocking. -1 with errstr once any
 * delivery has failed. */
int sink_kprod_poll(sink_kprod_t *kp, char *errstr, size_t errstr_size);

/* Waits until every message is acknowledged (or timeout_ms passes: -1).
 * 0 when all were delivered, else -1 with errstr. */
int sink_kprod_flush(sink_kprod_t *kp, int timeout_ms, char *errstr, size_t errstr_size);

/* The lowest source offset of src_topic/src_partition produced but not yet
 * acknowledged, or -1 if none. */
int64_t sink_kprod_pending(const sink_kprod_t *kp, const char *src_topic, int32_t src_partition);

/* Forgets the tracking of src_topic (nothing of it may be in flight). */
void sink_kprod_forget(sink_kprod_t *kp, const char *src_topic);

/* The librdkafka handle, borrowed (for metadata and admin calls:
 * kafka_topic_partitions, kafka_topic_ensure). */
rd_kafka_t *sink_kprod_rk(sink_kprod_t *kp);

/* Frees the producer (pending messages are purged). NULL is a no-op. */
void sink_kprod_destroy(sink_kprod_t *kp);

#endif
