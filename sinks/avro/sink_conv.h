/* sink_conv: JSON record -> Avro for one integration: parse (sink_json),
 * check or evolve the inferred schema (sink_shape), fill a generic avro-c
 * value of the current version, and encode it (Confluent wire format or
 * bare Avro binary).
 *
 * Versions: before the first accepted record there is no schema (version
 * 0). A record that needs a change makes version n+1: its schema text comes
 * from our own generator (defaults, logicalTypes and original names kept),
 * and avro-c's schema is parsed from that text. The consumer registers the
 * text under <topic>-value before writing records of that version.
 *
 * Steady state (records of a known shape) allocates nothing in the parser
 * or the schema check; the schema, value class and value are reused.
 *
 * A converter is used by one thread at a time. */
#ifndef HOOKPIPE_SINK_CONV_H
#define HOOKPIPE_SINK_CONV_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "sink_shape.h"
#include "sink_record.h"

typedef struct sink_conv sink_conv_t;

/* A converter for `integration` (see sink_shape_new). lim may be NULL.
 * NULL on error with errstr. */
sink_conv_t *sink_conv_new(const char *integration, int has_primary_key,
                           const sink_limits_t *lim, char *errstr, size_t errstr_size);

/* sink_conv_destroy(NULL) is a no-op. */
void sink_conv_destroy(sink_conv_t *c);

/* Makes `schema_text` (a version this converter or an earlier run made,
 * e.g. the latest one registered under <topic>-value) the current version,
 * so that evolution continues from it. 0, or -1 with errstr (text of another
 * layout, or a primary-key setting that differs from the converter's). */
int sink_conv_load(sink_conv_t *c, const char *schema_text, char *errstr, size_t errstr_size);

/* Converts one record (json[0..len), the Kafka message value) with its
 * system fields. Returns
 *   SINK_OK           the value (sink_conv_value) holds the record;
 *   SINK_NEW_VERSION  a new schema version was made first, then as SINK_OK;
 *   SINK_REJECT       invalid JSON, not an object, a name collision, a
 *                     duplicate key, a limit, a number that cannot be kept
 *                     exactly, no usable key: reason in errstr; the schema
 *                     is unchanged and the value is unspecified;
 *   SINK_FAIL         out of memory or avro-c error, reason in errstr. */
int sink_conv_record(sink_conv_t *c, const char *json, size_t len, const sink_sys_t *sys,
                     char *errstr, size_t errstr_size);

/* Current version number (0 before the first accepted record). */
int sink_conv_version(const sink_conv_t *c);

/* Current schema text, NUL-terminated; borrowed until the next version or
 * destroy. NULL at version 0. */
const char *sink_conv_schema_text(const sink_conv_t *c);

/* avro-c schema of the current version; borrowed like the text. */
avro_schema_t sink_conv_schema(const sink_conv_t *c);

/* The value the last accepted record was written into; borrowed until the
 * next call on c. */
avro_value_t *sink_conv_value(sink_conv_t *c);

/* The shape (for inspection); borrowed, replaced at each new version. */
const sink_shape_t *sink_conv_shape(const sink_conv_t *c);

/* Encodes the current value. schema_id >= 0: Confluent wire format (byte 0,
 * schema id as 4 bytes big-endian, Avro binary); schema_id < 0: Avro binary
 * only. *out is borrowed until the next encode or destroy. 0, or -1 with
 * errstr. */
int sink_conv_encode(sink_conv_t *c, int32_t schema_id, const void **out, size_t *out_len,
                     char *errstr, size_t errstr_size);

#endif
