/* sink_consumer: the hookpipe-sink consumer loop. One Kafka consumer group
 * per target, subscribed by the regex ^<prefix>[a-z0-9_]+$ (integration
 * names are [a-z0-9_], so <topic>.rejected and <topic>.avro never match),
 * so a new integration is picked up without a restart.
 *
 * Per record: JSON -> Avro by the integration's converter (sink_conv). The
 * converter of an integration starts from the latest version registered
 * under <topic>-value (so a restarted sink, or another target's sink,
 * continues the same evolution); a new version is registered there and
 * opened in the target before the record is written. A version the
 * registry refuses (another sink registered a newer one meanwhile) makes
 * the converter reload the latest and convert the record again;
 * a record that cannot be converted goes to <topic>.rejected with the
 * original key, value and headers plus hookpipe-reject-reason.
 *
 * A warehouse target (wh_target_is) gets instead the message's JSON value
 * and the integration's primary-key field names through
 * wh_target_write_json: no conversion, no registry (conf->registry may be
 * all NULL); every message goes there, one with no value or invalid JSON
 * too (it lands in _sdc_rejected with its offset stored with the rows, not
 * in <topic>.rejected). The field names come from hookpipe.integrations,
 * read at start and again when a topic of an integration not seen yet
 * appears. A newly
 * assigned partition starts at the offset stored with the rows
 * (wh_target_assigned), on the eager and the cooperative path alike.
 *
 * Offsets: auto commit is off. The committed offset of a partition is the
 * lowest of (next offset to process, the target's lowest pending offset,
 * the dead-letter producer's lowest unacknowledged offset), so nothing is
 * committed before it is durable. Commits happen every batch_max_records
 * records or batch_max_ms, on revoke (after a target flush) and at
 * shutdown. A failure of the target or the dead-letter producer stops the
 * loop without committing further: the records are consumed again after a
 * restart (at least once, never lost).
 *
 * Not thread-safe: sink_consumer_run drives everything on its thread. */
#ifndef HOOKPIPE_SINK_CONSUMER_H
#define HOOKPIPE_SINK_CONSUMER_H

#include <signal.h>
#include <stddef.h>

#include "cfg.h"
#include "sink_target.h"

/* Result of a registry call. */
typedef enum {
    SINK_REG_OK = 0,     /* done */
    SINK_REG_REFUSED,    /* permanently refused (incompatible, invalid) */
    SINK_REG_RETRY,      /* transient (registry unreachable): try again later */
    SINK_REG_NOT_FOUND   /* latest: the subject has no version yet */
} sink_reg_rc_t;

/* The schema registry as the consumer uses it. Both calls return a
 * sink_reg_rc_t, with a reason in errstr unless SINK_REG_OK.
 *   register_schema  registers `schema` (NUL-terminated Avro JSON) under
 *                    `subject`: *id is its id (new or existing);
 *   latest           the latest version under `subject`: *id and *schema
 *                    (malloc'd, the caller frees it). */
typedef struct sink_registry {
    int (*register_schema)(void *opaque, const char *subject, const char *schema, int *id,
                           char *errstr, size_t errstr_size);
    int (*latest)(void *opaque, const char *subject, int *id, char **schema, char *errstr,
                  size_t errstr_size);
    void *opaque;
} sink_registry_t;

typedef struct sink_consumer_conf {
    const char *group_id;         /* consumer group */
    const char *topic_prefix;     /* e.g. "webhooks." */
    long long batch_max_records;  /* commit at least every this many records */
    long long batch_max_ms;       /* ... and at least this often */
    sink_registry_t registry;     /* copied; opaque is borrowed; unused (may be
                                     all NULL) for a warehouse target */
} sink_consumer_conf_t;

typedef struct sink_consumer sink_consumer_t;

/* Creates the consumer and the dead-letter producer from the "kafka.*"
 * properties of cfg (read during the call only) and subscribes. `target` is
 * borrowed and must outlive the consumer. NULL with errstr. */
sink_consumer_t *sink_consumer_new(const cfg_t *cfg, const sink_consumer_conf_t *conf,
                                   sink_target_t *target, char *errstr, size_t errstr_size);

/* Consumes until *stop becomes non-zero (then flushes the target, commits
 * and leaves the group: 0) or a fatal error (-1 with errstr, nothing more
 * committed). */
int sink_consumer_run(sink_consumer_t *c, volatile sig_atomic_t *stop, char *errstr,
                      size_t errstr_size);

/* Counters since start, for GET /metrics. */
typedef struct sink_consumer_stats {
    unsigned long long consumed;   /* messages taken from the event topics */
    unsigned long long written;    /* records handed to the target */
    unsigned long long rejected;   /* records sent to <topic>.rejected */
    unsigned long long versions;   /* schema versions registered */
    unsigned long long commits;    /* successful offset commits */
    unsigned long long commit_errors;
    unsigned long long assigned;   /* partitions assigned now */
} sink_consumer_stats_t;

/* Reads the counters; safe from any thread while the consumer lives. */
void sink_consumer_stats(const sink_consumer_t *c, sink_consumer_stats_t *out);

/* Frees everything; does not flush. NULL is a no-op. */
void sink_consumer_destroy(sink_consumer_t *c);

#endif
