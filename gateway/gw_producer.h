/* gw_producer: the gateway's idempotent Kafka producer and the thread that
 * serves its delivery reports.
 *
 * Settings: every kafka.* property of the configuration, then forced
 * enable.idempotence=true, acks=all and message.timeout.ms=ack_timeout_ms
 * (so every message gets its delivery report by then), and, unless given,
 * partitioner=murmur2_random (the partition Java clients pick for a key),
 * linger.ms=1 and message.max.bytes=GW_PRODUCER_MESSAGE_MAX, librdkafka's
 * largest: the size check is the topic's max.message.bytes, on the broker
 * (hookpipectl sizes it for the integration's body limit), whose refusal is
 * a MSG_SIZE_TOO_LARGE delivery report for that record alone. batch.size
 * (default 1,000,000) still bounds batches: a larger record travels in a
 * batch of its own. message.max.bytes bounds nothing else on a producer
 * (fetch.max.bytes and receive.message.max.bytes are consumer settings).
 *
 * Delivery reports call dr(msg_opaque, err) on the poll thread, once per
 * produced message; tick(tick_opaque) runs on the same thread at least every
 * 50 ms (the caller's timers). Callbacks must not block. */
#ifndef HOOKPIPE_GW_PRODUCER_H
#define HOOKPIPE_GW_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "cfg.h"

#define GW_PRODUCER_MESSAGE_MAX "1000000000"

typedef void (*gw_producer_dr_fn)(void *msg_opaque, rd_kafka_resp_err_t err);
typedef void (*gw_producer_tick_fn)(void *tick_opaque);

typedef struct gw_producer gw_producer_t;

/* NULL with errstr when a property is refused. cfg is only read here. */
gw_producer_t *gw_producer_new(const cfg_t *cfg, int ack_timeout_ms, gw_producer_dr_fn dr,
                               char *errstr, size_t errstr_size);

/* Starts the poll thread. 0 or -1 with errstr. */
int gw_producer_start(gw_producer_t *p, gw_producer_tick_fn tick, void *tick_opaque,
                      char *errstr, size_t errstr_size);

/* The librdkafka handle, borrowed, for rd_kafka_producev(). */
rd_kafka_t *gw_producer_rk(gw_producer_t *p);

/* Messages waiting in librdkafka's queue (sent or not, not yet reported). */
long long gw_producer_queue_len(gw_producer_t *p);

/* Stops the poll thread, then waits up to timeout_ms for every queued
 * message's delivery report (served here). Returns the messages left. */
long long gw_producer_flush(gw_producer_t *p, int timeout_ms);

/* Stops the poll thread if running and frees the producer. NULL is a no-op. */
void gw_producer_destroy(gw_producer_t *p);

#endif
