/* sink_kafka_avro: the `kafka-avro` output of the Avro pipeline. Each
 * record goes to <topic>.avro (created, with the source topic's partition
 * count and twice its max.message.bytes — Avro can outgrow its JSON —, when
 * missing), to the same partition number as its source (so the
 * key-to-partition mapping and the order per key are kept), with the source
 * key and headers, and the value in the Confluent wire format: byte 0, the
 * schema id as 4 bytes big-endian, the Avro binary. Durable = acknowledged
 * by Kafka. A record larger than the output topic's max.message.bytes (read
 * when it is opened) is refused before it is queued (SINK_TARGET_REFUSED):
 * it goes to the dead-letter topic, as a record the broker refused would
 * fail the producer for good.
 *
 * Its producer is a tracking producer (sink_kprod.h) of its own.
 *
 * Not thread-safe: one thread drives all calls. */
#ifndef HOOKPIPE_SINK_KAFKA_AVRO_H
#define HOOKPIPE_SINK_KAFKA_AVRO_H

#include <stddef.h>

#include "cfg.h"
#include "sink_target.h"

/* The kafka-avro target. Returns it (destroy through its ops) or NULL with
 * errstr. cfg is read during the call only. */
sink_target_t *sink_kafka_avro_new(const cfg_t *cfg, char *errstr, size_t errstr_size);

#endif
