/* sink_consumer: the hookpipe-sink consumer loop. One Kafka consumer group
 * per target, subscribed by the regex ^<prefix>[a-z0-9_]+$ (integration
 * names are [a-z0-9_], so <topic>.rejected and <topic>.avro never match),
 * so a new integration is picked up without a restart.
 *
 * Every message goes to the pipeline (sink_pipeline.h) with its
 * integration's context: the name (the topic without the prefix), the
 * primary-key field names from hookpipe.integrations (read at start and
 * again when a topic of an integration not seen yet appears), and the
 * record's system fields. A newly assigned partition starts where the
 * pipeline says (an offset stored with its output), else at the group's
 * committed offset, on the eager and the cooperative path alike.
 *
 * Offsets: auto commit is off. The committed offset of a partition is the
 * lowest of (next offset to process, the pipeline's lowest pending offset,
 * the dead-letter producer's lowest unacknowledged offset), so nothing is
 * committed before it is durable. Commits happen every batch_max_records
 * records or batch_max_ms, on revoke (after a pipeline flush) and at
 * shutdown. A failure of the pipeline or the dead-letter producer stops the
 * loop without committing further: the records are consumed again after a
 * restart (at least once, never lost).
 *
 * Not thread-safe: sink_consumer_run drives everything on its thread (but
 * sink_consumer_stats). */
#ifndef HOOKPIPE_SINK_CONSUMER_H
#define HOOKPIPE_SINK_CONSUMER_H

#include <signal.h>
#include <stddef.h>

#include "cfg.h"
#include "sink_dlq.h"
#include "sink_pipeline.h"

typedef struct sink_consumer_conf {
    const char *group_id;         /* consumer group */
    const char *topic_prefix;     /* e.g. "webhooks." */
    long long batch_max_records;  /* commit at least every this many records */
    long long batch_max_ms;       /* ... and at least this often */
    sink_pipeline_t *pipeline;    /* borrowed; must outlive the consumer */
    sink_dlq_t *dlq;              /* the pipeline's dead-letter producer, borrowed
                                     (must outlive the consumer); NULL: the
                                     pipeline never dead-letters */
} sink_consumer_conf_t;

typedef struct sink_consumer sink_consumer_t;

/* Creates the consumer from the "kafka.*" properties of cfg (read during
 * the call only) and subscribes. conf is copied. NULL with errstr. */
sink_consumer_t *sink_consumer_new(const cfg_t *cfg, const sink_consumer_conf_t *conf,
                                   char *errstr, size_t errstr_size);

/* Consumes until *stop becomes non-zero (then flushes the pipeline, commits
 * and leaves the group: 0) or a fatal error (-1 with errstr, nothing more
 * committed). */
int sink_consumer_run(sink_consumer_t *c, volatile sig_atomic_t *stop, char *errstr,
                      size_t errstr_size);

/* Counters since start, for GET /metrics. */
typedef struct sink_consumer_stats {
    unsigned long long consumed;   /* messages taken from the event topics */
    unsigned long long written;    /* records handed to the pipeline's output */
    unsigned long long rejected;   /* records sent to <topic>.rejected */
    unsigned long long versions;   /* schema versions registered (pipeline) */
    unsigned long long commits;    /* successful offset commits */
    unsigned long long commit_errors;
    unsigned long long assigned;   /* partitions assigned now */
} sink_consumer_stats_t;

/* Reads the counters; safe from any thread while the consumer lives. */
void sink_consumer_stats(const sink_consumer_t *c, sink_consumer_stats_t *out);

/* Frees everything; does not flush. NULL is a no-op. */
void sink_consumer_destroy(sink_consumer_t *c);

#endif
