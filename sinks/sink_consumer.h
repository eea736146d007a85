/* sink_consumer: the hookpipe-sink consumer loop. One Kafka consumer group
 * per target, subscribed by the regex ^<prefix>[a-z0-9_]+$ (integration
 * names are [a-z0-9_], so <topic>.rejected and <topic>.avro never match),
 * so a new integration is picked up without a restart.
 *
 * Per record: JSON -> Avro by the integration's converter (sink_conv); a
 * new schema version is registered under <topic>-value (through the
 * register callback) and opened in the target before the record is written;
 * a record that cannot be converted goes to <topic>.rejected with the
 * original key, value and headers plus hookpipe-reject-reason.
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

/* Result of registering a schema. */
typedef enum {
    SINK_REG_OK = 0,     /* *id is the schema's id under the subject */
    SINK_REG_REFUSED,    /* permanently refused (incompatible, invalid) */
    SINK_REG_RETRY       /* transient (registry unreachable): try again later */
} sink_reg_rc_t;

/* Registers `schema` (NUL-terminated Avro JSON) under `subject`; returns a
 * sink_reg_rc_t, with a reason in errstr unless SINK_REG_OK. */
typedef int (*sink_register_fn)(void *opaque, const char *subject, const char *schema,
                                int *id, char *errstr, size_t errstr_size);

typedef struct sink_consumer_conf {
    const char *group_id;         /* consumer group */
    const char *topic_prefix;     /* e.g. "webhooks." */
    long long batch_max_records;  /* commit at least every this many records */
    long long batch_max_ms;       /* ... and at least this often */
    sink_register_fn reg;         /* schema registration */
    void *reg_opaque;
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

/* Frees everything; does not flush. NULL is a no-op. */
void sink_consumer_destroy(sink_consumer_t *c);

#endif
