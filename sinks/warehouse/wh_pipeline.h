/* wh_pipeline: the warehouse pipeline of hookpipe-sink (the `postgres` and
 * `sqlite` targets) behind the pipeline interface (sink_pipeline.h), over
 * wh_sink (batches by size and time, loaded by pg_loader or sqlite_loader
 * with the offsets in the same transaction).
 *
 * The warehouse lays out the JSON itself (exact numbers, original names,
 * its own collision rules): no Avro, no registry, no dead-letter topic.
 * Every message is taken (SINK_PIPE_WRITTEN), one with no value or invalid
 * JSON too: it lands in the integration's _sdc_rejected table, with its
 * offset stored with the rows, so a restart neither loses nor repeats its
 * rejection. The system fields are the message's (msg->sys); the primary
 * key is msg->pk.
 *
 * assigned answers the next offset stored with the rows
 * (SINK_PIPE_START_STORED) or SINK_PIPE_START_NONE, and loading skips
 * messages below the stored offsets, so even a consumer that starts from
 * Kafka's committed offsets loads nothing twice. revoked forgets what is
 * buffered for the topic (it went to another consumer, which reads it
 * again from the stored offset). flush leaves the records of held
 * integrations pending (wh_sink.h).
 *
 * All calls from one thread, but stats (any thread). */
#ifndef HOOKPIPE_WH_PIPELINE_H
#define HOOKPIPE_WH_PIPELINE_H

#include <stddef.h>

#include "sink_pipeline.h"
#include "wh_sink.h"

/* The pipeline over a new wh_sink (conf copied; its stop flag is what
 * loading waits for). Destroy it through its ops. NULL with errstr. */
sink_pipeline_t *wh_pipeline_new(const wh_sink_conf_t *conf, char *errstr, size_t errstr_size);

#endif
