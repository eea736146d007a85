/* gw_producer: the gateway's idempotent Kafka producer and its delivery
 * reports.
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
 * Delivery reports: the producer has no thread of its own for them. Its
 * fd (gw_producer_fd) turns readable when reports wait; the owner's event
 * loop then calls gw_producer_serve, which calls dr(msg_opaque, err) once
 * per produced message, on that thread. dr must not block. */
#ifndef HOOKPIPE_GW_PRODUCER_H
#define HOOKPIPE_GW_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "cfg.h"

#define GW_PRODUCER_MESSAGE_MAX "1000000000"

typedef void (*gw_producer_dr_fn)(void *msg_opaque, rd_kafka_resp_err_t err);

typedef struct gw_producer gw_producer_t;

/* NULL with errstr when a property is refused. cfg is only read here. */
gw_producer_t *gw_producer_new(const cfg_t *cfg, int ack_timeout_ms, gw_producer_dr_fn dr,
                               char *errstr, size_t errstr_size);

/* A file descriptor, owned by p, readable while delivery reports wait:
 * for the caller's epoll (level-triggered). */
int gw_producer_fd(gw_producer_t *p);

/* Serves the delivery reports waiting now (calls dr), without blocking.
 * Safe from any thread, and concurrently with gw_producer_flush. */
void gw_producer_serve(gw_producer_t *p);

/* The librdkafka handle, borrowed, for rd_kafka_producev(). */
rd_kafka_t *gw_producer_rk(gw_producer_t *p);

/* Messages waiting in librdkafka's queue (sent or not, not yet reported). */
long long gw_producer_queue_len(gw_producer_t *p);

/* Waits up to timeout_ms for every queued message's delivery report
 * (served here, on the caller's thread), then purges what is left, whose
 * failed reports are served too. Returns the messages that were left. */
long long gw_producer_flush(gw_producer_t *p, int timeout_ms);

/* Frees the producer. NULL is a no-op. */
void gw_producer_destroy(gw_producer_t *p);

#endif
