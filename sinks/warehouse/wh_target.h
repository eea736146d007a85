/* wh_target: the `postgres` and `sqlite` targets of hookpipe-sink — the
 * sink target interface (sink_target.h) over wh_sink (batches by size and
 * time, loaded by pg_loader or sqlite_loader with the offsets in the same
 * transaction).
 *
 * The warehouse lays out the JSON itself (exact numbers, original names,
 * its own collision rules), so records reach it through
 * wh_target_write_json with the source message's value and the
 * integration's primary-key fields; ops->write (Avro only) refuses with -1.
 * The consumer's part:
 *   - for a target where wh_target_is() is 1, call wh_target_write_json
 *     instead of ops->write (no Avro conversion is needed for it);
 *   - on partition assignment, wh_target_assigned gives the offset to start
 *     from (stored with the rows); 1 means none is stored;
 *   - pending/flush/close/poll as for every target (close forgets what is
 *     buffered for a topic that went to another consumer).
 * Loading skips messages below the offsets stored with the rows, so even a
 * consumer that starts from Kafka's committed offsets loads nothing twice.
 *
 * All calls from one thread. */
#ifndef HOOKPIPE_WH_TARGET_H
#define HOOKPIPE_WH_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "sink_target.h"
#include "wh_sink.h"

/* A target over a new wh_sink (conf copied). NULL with errstr. Free it with
 * its ops->destroy. */
sink_target_t *wh_target_new(const wh_sink_conf_t *conf, char *errstr, size_t errstr_size);

/* 1 if t was made by wh_target_new. */
int wh_target_is(const sink_target_t *t);

/* Hands over one record as JSON: rec's topic, integration, partition,
 * offset, key and headers, plus the source value and the primary-key field
 * names (npk 0: none); all borrowed for the call. 0, or -1 with errstr (a
 * batch could not be loaded and the database is not coming back before the
 * stop flag). */
int wh_target_write_json(sink_target_t *t, const sink_rec_t *rec, const void *value,
                         size_t value_len, const char *const *pk, size_t npk, char *errstr,
                         size_t errstr_size);

/* The next offset of a newly assigned partition as stored with the rows: 0
 * and *next, 1 if none is stored, -1 with errstr. */
int wh_target_assigned(sink_target_t *t, const char *topic, int32_t partition, int64_t *next,
                       char *errstr, size_t errstr_size);

#endif
