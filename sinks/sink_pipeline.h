/* sink_pipeline: the one interface between the consumer (sink_consumer) and
 * what it feeds: the Avro pipeline (sinks/avro/avro_pipeline.h: JSON ->
 * Avro -> kafka-avro or avro-files) and the warehouse pipeline
 * (sinks/warehouse/wh_pipeline.h: JSON -> Stitch layout -> PostgreSQL or
 * SQLite). The consumer knows nothing else of either.
 *
 * Life of a pipeline, every call from the consumer's one thread (but stats):
 *   assigned(topic, part)  a partition was given to this consumer: the
 *                          offset to start it from if the pipeline keeps
 *                          its own (SINK_PIPE_START_STORED, *next), else
 *                          SINK_PIPE_START_NONE (the group's committed
 *                          offset, or the reset policy, applies);
 *   write(msg)             hands over one consumed message, in offset order
 *                          per partition; may only buffer (see pending);
 *   poll()                 time-driven work (load aged batches, roll aged
 *                          files, serve delivery reports); call often;
 *   pending(topic, part)   the lowest offset handed over but not yet
 *                          durable, or -1 when everything is: the consumer
 *                          commits at most this offset;
 *   flush()                makes everything handed over durable (after 0,
 *                          pending() is -1 everywhere, but for records a
 *                          pipeline documents it holds back): before
 *                          partitions are released and at shutdown;
 *   revoked(topic)         no partition of topic is assigned any more
 *                          (after a flush): forget its per-topic state;
 *   stats()                counters; any thread, any time;
 *   destroy()              frees the pipeline; it does not flush.
 *
 * Failures: SINK_PIPE_FAILED from write, SINK_PIPE_START_FAILED from
 * assigned and -1 from poll or flush are fatal: the consumer stops without
 * committing further, and the records are consumed again after a restart
 * (at least once, never lost). */
#ifndef HOOKPIPE_SINK_PIPELINE_H
#define HOOKPIPE_SINK_PIPELINE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "sink_record.h"

/* One consumed message with the consumer's context for its integration;
 * everything is borrowed for the call (a pipeline copies what it keeps). */
typedef struct sink_msg {
    const char *topic;                  /* source topic, e.g. webhooks.stripe */
    const char *integration;            /* the topic without its prefix */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;               /* Kafka timestamp, -1 if none */
    const void *key;                    /* NULL if none */
    size_t key_len;
    const void *value;                  /* the JSON bytes; NULL: no value */
    size_t value_len;
    const rd_kafka_headers_t *headers;  /* NULL if none */
    const char *const *pk;              /* primary-key field names from
                                           hookpipe.integrations */
    size_t npk;                         /* 0: no primary key */
    const sink_sys_t *sys;              /* the record's system fields (sink_record.h) */
} sink_msg_t;

/* What became of a written message. */
typedef enum {
    SINK_PIPE_WRITTEN = 0, /* handed to the output (durable once pending() passes it) */
    SINK_PIPE_REJECTED,    /* cannot be converted or output: sent to the dead-letter
                              topic instead (durable once the dead-letter producer's
                              pending() passes it) */
    SINK_PIPE_STOPPED,     /* the stop flag was set while waiting (e.g. for the
                              registry): not taken; the consumer stops before it */
    SINK_PIPE_FAILED       /* fatal, reason in errstr */
} sink_pipe_rc_t;

/* Where a newly assigned partition starts. */
typedef enum {
    SINK_PIPE_START_STORED = 0, /* at *next, stored by the pipeline with its output */
    SINK_PIPE_START_NONE,       /* none stored: the group's committed offset */
    SINK_PIPE_START_FAILED      /* fatal, reason in errstr */
} sink_pipe_start_t;

/* Counters since the pipeline was made. */
typedef struct sink_pipeline_stats {
    unsigned long long versions;  /* schema versions registered */
} sink_pipeline_stats_t;

typedef struct sink_pipeline sink_pipeline_t;

typedef struct sink_pipeline_ops {
    const char *name;
    sink_pipe_start_t (*assigned)(sink_pipeline_t *p, const char *topic, int32_t partition,
                                  int64_t *next, char *errstr, size_t errstr_size);
    sink_pipe_rc_t (*write)(sink_pipeline_t *p, const sink_msg_t *msg, char *errstr,
                            size_t errstr_size);
    int (*poll)(sink_pipeline_t *p, char *errstr, size_t errstr_size);
    int64_t (*pending)(sink_pipeline_t *p, const char *topic, int32_t partition);
    int (*flush)(sink_pipeline_t *p, char *errstr, size_t errstr_size);
    void (*revoked)(sink_pipeline_t *p, const char *topic);
    void (*stats)(const sink_pipeline_t *p, sink_pipeline_stats_t *out);
    void (*destroy)(sink_pipeline_t *p);
} sink_pipeline_ops_t;

/* Every pipeline's struct starts with this member. */
struct sink_pipeline {
    const sink_pipeline_ops_t *ops;
};

#endif
