/* sr_compat: Avro schema compatibility by Avro's schema-resolution rules, and
 * the seven Confluent compatibility levels built on it.
 *
 * A check never modifies the schemas and allocates only for the reasons it
 * reports; it may run on any thread. */
#ifndef HOOKPIPE_SR_COMPAT_H
#define HOOKPIPE_SR_COMPAT_H

#include <jansson.h>

#include "sr_avro.h"

typedef enum {
    SR_COMPAT_NONE, SR_COMPAT_BACKWARD, SR_COMPAT_BACKWARD_TRANSITIVE, SR_COMPAT_FORWARD,
    SR_COMPAT_FORWARD_TRANSITIVE, SR_COMPAT_FULL, SR_COMPAT_FULL_TRANSITIVE
} sr_compat_level_t;

/* "BACKWARD" -> SR_COMPAT_BACKWARD (case-insensitive); -1 if unknown. */
int sr_compat_level_parse(const char *name);
const char *sr_compat_level_name(sr_compat_level_t level);

/* 1 if data written with `writer` can be read with `reader`, else 0. When
 * `reasons` (a JSON array) is given, one string per incompatibility is
 * appended, of the form
 *   "TYPE_MISMATCH at /fields/2/type: reader long, writer string"
 * with Avro's incompatibility names: NAME_MISMATCH, FIXED_SIZE_MISMATCH,
 * MISSING_ENUM_SYMBOLS, READER_FIELD_MISSING_DEFAULT_VALUE, TYPE_MISMATCH,
 * MISSING_UNION_BRANCH. Paths are JSON pointers into the reader schema. */
int sr_compat_can_read(const sr_avro_t *reader, const sr_avro_t *writer, json_t *reasons);

/* Checks `candidate` against `existing` (n schemas, oldest first) under
 * `level`: BACKWARD means the candidate reads the latest, FORWARD the latest
 * reads the candidate, FULL both; *_TRANSITIVE against all of them. Returns
 * 1 if compatible. Reasons as above, each prefixed with
 * "version V (BACKWARD): " from `versions` (n entries; may be NULL). */
int sr_compat_check(sr_compat_level_t level, const sr_avro_t *candidate,
                    const sr_avro_t *const *existing, const int *versions, size_t n,
                    json_t *reasons);

#endif
