/* sr_state: the registry's state as a deterministic fold of the `_schemas`
 * log, in Confluent's record format. Pure: no I/O, no locking (the caller
 * serialises writers and readers, see sr_store.h).
 *
 * Records (key JSON -> value JSON):
 *   {"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
 *       -> {"subject":S,"version":V,"id":ID,"schema":TEXT,"deleted":B}
 *       -> null (tombstone): version V of S is permanently deleted
 *   {"keytype":"CONFIG","subject":S|null,"magic":0}
 *       -> {"compatibilityLevel":LEVEL} | null (back to the default)
 *   {"keytype":"DELETE_SUBJECT","subject":S,"magic":0}
 *       -> {"subject":S,"version":V}: versions <= V soft-deleted
 *   {"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}
 *       -> {"subject":S,"version":V}: soft-deleted versions <= V removed
 *   NOOP, MODE and unknown key types are ignored.
 *
 * Race rule: a SCHEMA record claims a (subject, version) slot and an id for
 * a schema (identified by its Parsing Canonical Form). It is applied only if
 * none of its claims is held by a different schema: the slot is empty or
 * holds the same schema, the id is free or is this schema's, the schema has
 * no other id, and the schema is not live under another version of the
 * subject. Otherwise it LOSES and changes nothing. Since every replica folds
 * the same log in the same order, the first claim in the log wins everywhere,
 * so one id never names two schemas and one version never two schemas. An id
 * is held while some version (live or soft-deleted) refers to it. */
#ifndef HOOKPIPE_SR_STATE_H
#define HOOKPIPE_SR_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "sr_avro.h"
#include "sr_compat.h"

typedef struct sr_schema {
    int id;
    char *text;             /* the registered schema text */
    sr_avro_t *avro;
    char *id_body;          /* cached response of GET /schemas/ids/{id} */
    size_t id_body_len;
    int refs;               /* versions referring to this schema */
} sr_schema_t;

typedef struct sr_version {
    int version;
    sr_schema_t *schema;
    int deleted;            /* soft-deleted */
} sr_version_t;

typedef struct sr_subject {
    char *name;
    sr_version_t *versions; /* ascending version numbers */
    size_t nversions, cap;
    int level;              /* subject compatibility level, -1 if unset */
    int max_version;        /* highest version ever applied */
} sr_subject_t;

typedef enum {
    SR_APPLY_WON,           /* the record changed the state */
    SR_APPLY_SAME,          /* consistent with the state; nothing to change */
    SR_APPLY_LOST,          /* a claim was held by another schema: ignored */
    SR_APPLY_IGNORED        /* not ours to apply (other key type, malformed) */
} sr_apply_t;

typedef struct sr_state sr_state_t;

/* `default_level` is used while no global CONFIG record is in force.
 * NULL on out of memory. Caller owns it (sr_state_destroy). */
sr_state_t *sr_state_new(sr_compat_level_t default_level);
void sr_state_destroy(sr_state_t *st);

/* Folds one record. `value` NULL means a tombstone. */
sr_apply_t sr_state_apply(sr_state_t *st, const void *key, size_t key_len,
                          const void *value, size_t value_len);

/* Lookups; results are borrowed until the next sr_state_apply. */
sr_subject_t *sr_state_subject(const sr_state_t *st, const char *name);
sr_schema_t *sr_state_schema_by_id(const sr_state_t *st, int id);
sr_schema_t *sr_state_schema_by_canonical(const sr_state_t *st, const sr_avro_t *avro);
sr_version_t *sr_state_version(const sr_subject_t *sub, int version);
/* Highest live version (include_deleted: any version); NULL if none. */
sr_version_t *sr_state_latest(const sr_subject_t *sub, int include_deleted);
/* Number of live versions. */
size_t sr_state_live(const sr_subject_t *sub);

/* All subjects, in no particular order: *out is borrowed. */
size_t sr_state_subjects(const sr_state_t *st, sr_subject_t *const **out);

/* Effective level of a subject (its own, else the global one). */
sr_compat_level_t sr_state_level(const sr_state_t *st, const char *subject);
/* The global level and whether a CONFIG record set it. */
sr_compat_level_t sr_state_global_level(const sr_state_t *st);

/* Calls fn for every SCHEMA key whose last record lost (its writer may
 * have died before superseding it): compaction keeps only the last record
 * of a key, so someone must write a record there that folds consistently.
 * loser_text is NULL when the slot holds the winner (write the winner's
 * record again); otherwise the slot is free and loser_text is the losing
 * schema (write it there as a soft-deleted version under a free id). Any
 * later record under the key that is not lost clears the mark. */
void sr_state_each_dirty(const sr_state_t *st,
                         void (*fn)(void *arg, const char *subject, int version,
                                    const char *loser_text),
                         void *arg);

/* Highest id ever applied (0 if none): proposals claim above it. */
int sr_state_max_id(const sr_state_t *st);

/* Record builders: malloc'd NUL-terminated JSON the caller frees; NULL on
 * out of memory. */
char *sr_state_schema_key(const char *subject, int version);
char *sr_state_schema_value(const char *subject, int version, int id, const char *text,
                            int deleted);
char *sr_state_config_key(const char *subject /* NULL = global */);
char *sr_state_config_value(sr_compat_level_t level);

#endif
