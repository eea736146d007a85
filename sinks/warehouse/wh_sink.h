/* wh_sink: batching in front of a warehouse loader (pg_loader or
 * sqlite_loader), shaped like the sink's pipeline interface (sink_pipeline.h)
 * so that the warehouse pipeline (wh_pipeline) is a thin adapter over it.
 *
 *   write    copies one message into its integration's batch; a batch that
 *            reaches batch_max_records or batch_max_bytes is loaded at once,
 *            and every batch when all of them hold 4 x batch_max_bytes;
 *   poll     loads every batch older than batch_max_ms (call often: this is
 *            what makes rows visible within batch_max_ms of consumption);
 *   pending  the lowest offset of a partition that is buffered and not yet
 *            committed in the warehouse, or -1;
 *   flush    loads every batch (but those of held integrations, below);
 *   offset   the next offset of a partition as stored with the rows: the
 *            consumer seeks there on assignment (exactly once, without
 *            relying on Kafka's committed offsets).
 * Loading waits out an unreachable database with backoff (until the stop
 * flag is set); a -1 from write/poll/flush means nothing of the failed
 * batch was committed, and the batch is kept for the next try.
 *
 * Held integrations: when the loader refuses an integration's batch for a
 * reason of that integration alone (its _sdc_rejected table is not ours,
 * the server keeps refusing its statements...), the error is logged with
 * the reason and the integration is held: its records stay buffered (so
 * `pending` keeps every commit below them) and are tried again after
 * hold_ms, doubling up to 60 s, while the other integrations load on.
 * flush then returns 0 with the held records still pending. A held
 * integration buffers at most 20 x batch_max_records records or
 * 4 x batch_max_bytes; beyond that write/poll/flush return -1 (nothing is
 * committed past them, so a restart reads them again).
 *
 * Used by one thread at a time. */
#ifndef HOOKPIPE_WH_SINK_H
#define HOOKPIPE_WH_SINK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "wh_batch.h"
#include "wh_loader.h"

typedef enum { WH_SINK_POSTGRES = 0, WH_SINK_SQLITE } wh_sink_kind_t;

typedef struct wh_sink_conf {
    wh_sink_kind_t kind;
    const char *location;            /* postgresql:// URL, or SQLite file path */
    const char *group;               /* consumer group the offsets belong to */
    size_t batch_max_records;        /* 0: 5000 */
    size_t batch_max_bytes;          /* 0: 16 MiB of payload */
    int batch_max_ms;                /* 0: 500 */
    int hold_ms;                     /* 0: 1000; first retry of a held integration */
    volatile sig_atomic_t *stop;     /* borrowed; NULL: never stop waiting */
} wh_sink_conf_t;

typedef struct wh_sink wh_sink_t;

/* A sink over a new loader (conf and its strings are copied). NULL with
 * errstr on out of memory or an unusable SQLite file. */
wh_sink_t *wh_sink_new(const wh_sink_conf_t *conf, char *errstr, size_t errstr_size);

/* Frees everything without loading what is buffered; NULL is a no-op. */
void wh_sink_destroy(wh_sink_t *s);

/* Stored next offset (wh_loader_offset): WH_OK and *next, WH_NONE if none,
 * WH_FAIL with errstr. */
wh_rc_t wh_sink_offset(wh_sink_t *s, const char *topic, int32_t partition, int64_t *next,
                       char *errstr, size_t errstr_size);

/* Buffers msg (copied) for integration `in` (copied on first use). 0, or -1
 * with errstr when a full batch could not be loaded. */
int wh_sink_write(wh_sink_t *s, const wh_integration_t *in, const wh_msg_t *msg, char *errstr,
                  size_t errstr_size);

/* Loads batches older than batch_max_ms. 0 or -1 with errstr. */
int wh_sink_poll(wh_sink_t *s, char *errstr, size_t errstr_size);

/* Lowest buffered offset of topic/partition, -1 if none. */
int64_t wh_sink_pending(const wh_sink_t *s, const char *topic, int32_t partition);

/* Loads everything buffered. 0 or -1 with errstr. */
int wh_sink_flush(wh_sink_t *s, char *errstr, size_t errstr_size);

/* Fills *m from a consumed Kafka message's parts (all borrowed: m points
 * into them; timestamp_ms -1 when it has none): the system fields by the
 * rule of sink_record.h, the same as the Avro pipeline's. */
void wh_msg_from_kafka(wh_msg_t *m, const char *topic, int32_t partition, int64_t offset,
                       int64_t timestamp_ms, const void *key, size_t key_len, const void *value,
                       size_t value_len, const rd_kafka_headers_t *headers);

/* Drops what is buffered for topic without loading it (the partition went
 * to another consumer, which will read it again from the stored offset). */
void wh_sink_forget(wh_sink_t *s, const char *topic);

#endif
