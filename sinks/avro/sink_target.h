/* sink_target: the interface of the Avro pipeline's outputs (kafka-avro:
 * sink_kafka_avro.h, avro-files: sink_files.h), so that the pipeline
 * (avro_pipeline.h) drives them all the same way.
 *
 * Life of a target, all calls from the consumer's one thread:
 *   open(topic, schema)   before the first record of a topic, and again each
 *                         time its schema changes: later writes of that topic
 *                         use this schema (a file target rolls its files);
 *   write(rec)            hands over one converted record; may only buffer;
 *                         SINK_TARGET_REFUSED: it can never take this record (e.g.
 *                         larger than its output allows): the pipeline
 *                         dead-letters it with errstr as the reason;
 *   poll()                time-driven work (roll aged files, serve delivery
 *                         reports); call often;
 *   pending(topic, part)  the lowest source offset written but not yet
 *                         durable, or -1 when everything written is durable:
 *                         the consumer commits at most this offset;
 *   flush()               makes every record written so far durable (after
 *                         0, pending() is -1 everywhere): before a partition
 *                         is released and at shutdown;
 *   close(topic)          forgets a topic (after a flush);
 *   destroy()             frees the target; it does not flush.
 * Any -1 (SINK_TARGET_FAILED) from open, write, poll or flush is fatal for
 * the target: the pipeline fails (sink_pipeline.h), the consumer stops
 * without committing further and the records are consumed again after a
 * restart (at least once, never lost). */
#ifndef HOOKPIPE_SINK_TARGET_H
#define HOOKPIPE_SINK_TARGET_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* A schema version of one topic. Borrowed for the call: a target that keeps
 * it copies what it needs. */
typedef struct sink_schema {
    int id;                 /* registry id (Confluent wire format) */
    const char *text;       /* Avro schema JSON as registered, with defaults */
    size_t len;
} sink_schema_t;

/* One converted record; every pointer is borrowed for the call. */
typedef struct sink_rec {
    const char *topic;          /* source topic, e.g. webhooks.stripe */
    const char *integration;    /* the topic without its prefix */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;       /* source message timestamp, -1 if none */
    const void *key;            /* source key, NULL if none */
    size_t key_len;
    const rd_kafka_headers_t *headers; /* source headers, NULL if none */
    const sink_schema_t *schema; /* the schema of the last open() of topic */
    const void *avro;           /* Avro binary encoding of the record */
    size_t avro_len;
} sink_rec_t;

typedef struct sink_target sink_target_t;

/* What write did with a record. */
typedef enum {
    SINK_TARGET_FAILED = -1,  /* fatal, reason in errstr */
    SINK_TARGET_OK = 0,       /* taken (durable once pending() passes it) */
    SINK_TARGET_REFUSED = 1   /* can never be taken here, reason in errstr */
} sink_target_rc_t;

typedef struct sink_target_ops {
    const char *name;
    int (*open)(sink_target_t *t, const char *topic, const char *integration,
                const sink_schema_t *schema, char *errstr, size_t errstr_size);
    sink_target_rc_t (*write)(sink_target_t *t, const sink_rec_t *rec, char *errstr,
                              size_t errstr_size);
    int (*poll)(sink_target_t *t, char *errstr, size_t errstr_size);
    int64_t (*pending)(sink_target_t *t, const char *topic, int32_t partition);
    int (*flush)(sink_target_t *t, char *errstr, size_t errstr_size);
    void (*close)(sink_target_t *t, const char *topic);
    void (*destroy)(sink_target_t *t);
} sink_target_ops_t;

/* Every target's struct starts with this member. */
struct sink_target {
    const sink_target_ops_t *ops;
};

#endif
