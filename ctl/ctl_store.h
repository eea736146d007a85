/* ctl_store: hookpipectl's access to Kafka — the integrations topic (read to
 * the end, write a record or a tombstone and wait for the acknowledgement)
 * and topic creation.
 *
 * Not thread-safe: one store per thread. Every call blocks for at most the
 * timeout given to ctl_store_new() per step. */
#ifndef HOOKPIPE_CTL_STORE_H
#define HOOKPIPE_CTL_STORE_H

#include <stddef.h>

#include "cfg.h"
#include "integ.h"

/* Writes to one integration are serialised with Kafka transactions: the
 * transactional id is this prefix + the integration's name (-X
 * transactional.id=... replaces it for all). Kafka lets one producer per id
 * make progress: a newer one fences the older, whose write then fails and
 * changes nothing. */
#define CTL_STORE_TXN_PREFIX "hookpipectl."

/* Returned when another hookpipectl took the same lock meanwhile: nothing
 * was written; lock, read and try again. */
#define CTL_STORE_CONFLICT (-2)

typedef struct ctl_store ctl_store_t;

/* The current integrations: the last value per key, tombstones applied,
 * sorted by name. Owned by the caller (ctl_state_destroy). */
typedef struct ctl_state {
    integ_t **items;
    size_t n;
    size_t unreadable;          /* current values that failed to parse (skipped) */
    char first_error[320];      /* why the first of them failed, for a warning */
} ctl_state_t;

/* Connects lazily: creating the store only builds the librdkafka
 * configuration from cfg's "kafka.*" properties (cfg is borrowed and must
 * outlive the store). NULL with errstr if a property is refused. */
ctl_store_t *ctl_store_new(const cfg_t *cfg, int timeout_ms, int verbose, char *errstr,
                           size_t errstr_size);

/* ctl_store_destroy(NULL) is a no-op. */
void ctl_store_destroy(ctl_store_t *st);

/* Creates `topic` unless it exists (configs: NULL-terminated name, value
 * pairs, or NULL), then reports its partition count in *partitions_out
 * (may differ from `partitions` if the topic existed before). 0 or -1. */
int ctl_store_topic_ensure(ctl_store_t *st, const char *topic, int partitions,
                           int replication_factor, const char *const *configs,
                           int *partitions_out, char *errstr, size_t errstr_size);

/* Makes `topic` (existing) take messages of `want` bytes: reads its
 * effective max.message.bytes and, when smaller, raises it to `want`
 * (kafka_topic_raise_max_message_bytes: AlterConfigs keeping its other
 * settings; never lowered). *before_out gets the value found. Returns the
 * value it has afterwards, or -1 with errstr (e.g. no ALTER_CONFIGS right). */
long long ctl_store_topic_size(ctl_store_t *st, const char *topic, long long want,
                               long long *before_out, char *errstr, size_t errstr_size);

/* Reads INTEG_TOPIC from the beginning to its current end. A topic that
 * does not exist yet gives an empty state. 0 with *out set, or -1. */
int ctl_store_read(ctl_store_t *st, ctl_state_t **out, char *errstr, size_t errstr_size);

/* Takes the write lock for integration `name`: a new transactional
 * producer, whose initialisation fences any other hookpipectl between its
 * read and its write of the same integration. Call it before the
 * ctl_store_read() whose result will be changed and written back.
 * 0, -1 or CTL_STORE_CONFLICT, with errstr. */
int ctl_store_lock(ctl_store_t *st, const char *name, char *errstr, size_t errstr_size);

/* Writes `in` (key = in->name) in a transaction of the idempotent acks=all
 * producer locked for that name and waits for the commit. Releases the lock
 * on failure. 0, -1, or CTL_STORE_CONFLICT (nothing written), with errstr. */
int ctl_store_put(ctl_store_t *st, const integ_t *in, char *errstr, size_t errstr_size);

/* Writes a tombstone for `name`, as ctl_store_put() writes a record. 0 or -1. */
int ctl_store_delete(ctl_store_t *st, const char *name, char *errstr, size_t errstr_size);

/* The integration called `name`, borrowed from the state; NULL if none. */
integ_t *ctl_state_find(const ctl_state_t *state, const char *name);

/* ctl_state_destroy(NULL) is a no-op. */
void ctl_state_destroy(ctl_state_t *state);

#endif
