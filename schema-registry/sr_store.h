/* sr_store: the registry state kept in the compacted single-partition
 * `_schemas` topic. A follower thread (ktable.h) replays the topic from the
 * beginning and follows it, folding each record into an sr_state_t; writes produce a
 * record (acks=all, idempotent) and return only once this replica has read
 * the record back and applied it, so an acknowledged write is in the log
 * and visible here. There is no leader: see sr_state.h for the rule that
 * makes racing replicas agree, and sr_store_register for the retry.
 *
 * Threads: readers take sr_store_rdlock() around any use of the state (the
 * state and everything borrowed from it stay valid until sr_store_unlock());
 * writers are serialised inside the store. All functions are thread-safe. */
#ifndef HOOKPIPE_SR_STORE_H
#define HOOKPIPE_SR_STORE_H

#include <jansson.h>

#include "cfg.h"
#include "sr_avro.h"
#include "sr_err.h"
#include "sr_state.h"

typedef struct sr_store sr_store_t;

/* Connects with the "kafka.*" properties of cfg and starts a thread that
 * creates `topic` (compacted, one partition) if missing, retrying until
 * Kafka answers, then replays it. Returns NULL with errstr on failure
 * (bad Kafka properties, no memory). `topic` and `cfg` are copied/used only during the
 * call. Caller owns the store (sr_store_destroy). */
sr_store_t *sr_store_new(const cfg_t *cfg, const char *topic, sr_compat_level_t default_level,
                         int timeout_ms, char *errstr, size_t errstr_size);

/* Stops the threads, flushes and frees; sr_store_destroy(NULL) is a no-op. */
void sr_store_destroy(sr_store_t *st);

/* 1 once the replay has reached the end of the topic as it was at start. */
int sr_store_ready(sr_store_t *st);

/* Read access to the state; pair with sr_store_unlock(). */
const sr_state_t *sr_store_rdlock(sr_store_t *st);
void sr_store_unlock(sr_store_t *st);

/* Registers `avro` (parsed from `text`; both borrowed) under `subject`:
 * catches up with the log, returns the existing id/version if the subject
 * already has this schema live, else checks compatibility at the subject's
 * level and proposes a record claiming the next version and an id (the
 * schema's existing id, else one above the highest). If another replica's
 * record won a claim first, repairs the contested key (re-writes the
 * winner's record under it, so that compaction keeps the winner) and tries
 * again with fresh numbers. On SR_ERR_INCOMPATIBLE the reasons are appended
 * to `reasons` (may be NULL). msg receives detail for an error. */
sr_err_t sr_store_register(sr_store_t *st, const char *subject, const char *text,
                           const sr_avro_t *avro, int *id, int *version, json_t *reasons,
                           char *msg, size_t msg_size);

/* Other writes: take the write lock and catch up (sr_store_write_begin),
 * inspect the state under sr_store_rdlock as needed, sr_store_put records,
 * then sr_store_write_end. `value` NULL writes a tombstone. */
sr_err_t sr_store_write_begin(sr_store_t *st);
sr_err_t sr_store_put(sr_store_t *st, const char *key, const char *value);
void sr_store_write_end(sr_store_t *st);

#endif
