/* sink_dlq: the dead-letter producer. A message a pipeline cannot take goes,
 * unchanged (key, value, headers), to <topic>.rejected with the header
 * hookpipe-reject-reason added. The topic is looked up once per source
 * topic and created only when missing (hookpipectl creates it with the
 * integration, so no admin right is needed normally), with one partition
 * and the source topic's max.message.bytes plus the headers' headroom.
 *
 * Delivery is tracked per source offset (sink_kprod): the consumer commits
 * a partition at most at sink_dlq_pending, and a failed delivery fails the
 * producer for good (sink_dlq_poll/flush return -1: the consumer stops
 * without committing further).
 *
 * Not thread-safe: one thread drives all calls. */
#ifndef HOOKPIPE_SINK_DLQ_H
#define HOOKPIPE_SINK_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "sink_pipeline.h"

typedef struct sink_dlq sink_dlq_t;

/* A dead-letter producer with the "kafka.*" properties of cfg (read during
 * the call only). NULL with errstr. */
sink_dlq_t *sink_dlq_new(const cfg_t *cfg, char *errstr, size_t errstr_size);

/* Sends msg (borrowed for the call) to <msg->topic>.rejected with `reason`.
 * 0 once queued; -1 with errstr (the topic could not be found or made, or
 * the producer has failed): fatal. */
int sink_dlq_send(sink_dlq_t *d, const sink_msg_t *msg, const char *reason, char *errstr,
                  size_t errstr_size);

/* Serves delivery reports without blocking. -1 with errstr once a delivery
 * has failed. */
int sink_dlq_poll(sink_dlq_t *d, char *errstr, size_t errstr_size);

/* Serves delivery reports for up to timeout_ms (a pause that keeps the
 * producer going, e.g. while waiting for the registry). */
void sink_dlq_wait(sink_dlq_t *d, int timeout_ms);

/* The lowest offset of src_topic/src_partition sent but not acknowledged,
 * or -1. */
int64_t sink_dlq_pending(const sink_dlq_t *d, const char *src_topic, int32_t src_partition);

/* Waits until everything sent is acknowledged (up to two minutes). 0, or -1
 * with errstr. */
int sink_dlq_flush(sink_dlq_t *d, char *errstr, size_t errstr_size);

/* Forgets the delivery tracking of src_topic (nothing of it in flight). */
void sink_dlq_forget(sink_dlq_t *d, const char *src_topic);

/* Frees the producer (pending messages are purged). NULL is a no-op. */
void sink_dlq_destroy(sink_dlq_t *d);

#endif
