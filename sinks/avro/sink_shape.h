/* sink_shape: the inferred schema of one integration (its "shape"): a tree
 * of records whose fields have a set of types, checked against each parsed
 * record on a fast path, evolved on a slow path, and written out as Avro
 * schema JSON.
 *
 * Types: null, boolean, long, double, string, exact decimal (sink_num.h),
 * record (a JSON object) and array. A value whose type a field has not seen
 * adds a union branch; a new member adds a field; an empty array gives its
 * items the null branch (an array of no known item type is written as an
 * array of null, and must stay readable when items appear).
 *
 * Schema layout (names in sink_name.h, system fields in sink_record.h):
 *   {"type":"record","name":"data","namespace":"hookpipe.<integration>",
 *    "fields":[<system fields>, <payload fields in order of first appearance>]}
 *   payload field: {"name":N,"type":T,"default":null} plus
 *     "hookpipe.json_name":"<original JSON name>" when it differs from N.
 *   T: "null" for a field only ever null, else a union in the fixed order
 *     null, boolean, long, double, decimal, string, record, array (of the
 *     branches seen); array items: the single type, or a union in that order.
 *     Why fixed: the Avro specification has a reader take the FIRST branch of
 *     its union that matches the writer's, promotions included, so with
 *     double before long a long would be read back as a double (rounded
 *     beyond 2^53). Readers resolve branches by type, so inserting a branch
 *     before others keeps every version readable.
 *   decimal: the fixed "decimal_76_38" (sink_num.h), defined where it first
 *     appears in the text and referred to by name after that.
 *   nested records are named <parent>__<field> (plus _2, _3 ... if taken),
 *   all in the root's namespace.
 *
 * Backward compatibility by construction: a new version only adds union
 * branches, appends fields (always with default null), and never renames or
 * removes anything, so a reader with the new schema reads data written with
 * any earlier one.
 *
 * A shape is used by one thread at a time (the fast path writes stamps). */
#ifndef HOOKPIPE_SINK_SHAPE_H
#define HOOKPIPE_SINK_SHAPE_H

#include <avro.h>
#include <stddef.h>

#include "sink_json.h"
#include "sink_record.h"

typedef enum {
    SINK_OK = 0,          /* the record fits the current schema */
    SINK_NEW_VERSION = 1, /* a new schema version was made for the record */
    SINK_REJECT = -1,     /* the record cannot be converted; reason in errstr */
    SINK_FAIL = -2        /* out of memory or an avro-c error; reason in errstr */
} sink_rc_t;

/* "ok", "new_version", "reject", "fail". */
const char *sink_rc_name(int rc);

typedef struct sink_limits {
    size_t max_depth;   /* nesting of objects and arrays, the record is 1 (15:
                           each level nests the schema JSON up to 4 deeper, and
                           the registry refuses schema JSON deeper than 64) */
    size_t max_fields;  /* fields in the whole schema, system ones excluded (2000) */
    size_t max_name;    /* bytes of one JSON member name, at most 512 (255) */
    size_t max_nodes;   /* JSON values in one record (1048576) */
    size_t max_schema_bytes;  /* schema text (524288; the registry takes 1 MiB) */
    size_t max_schema_types;  /* type nodes in the schema, unions and their
                                 branches each count (10000; the registry
                                 takes 20000) */
} sink_limits_t;

/* Fills zero members of *lim with the defaults above. */
void sink_limits_defaults(sink_limits_t *lim);

typedef struct sink_shape sink_shape_t;

/* An empty shape: system fields only. `integration` is the integration
 * name (namespace "hookpipe.<name mapped by sink_name>"); has_primary_key 0
 * adds __sdc_primary_key. lim may be NULL (defaults); it is copied. NULL on
 * out of memory with errstr. */
sink_shape_t *sink_shape_new(const char *integration, int has_primary_key,
                             const sink_limits_t *lim, char *errstr, size_t errstr_size);

/* A shape from schema text this module wrote (sink_shape_schema_json), as
 * kept by the registry: how a restarted sink continues from the latest
 * registered version instead of inferring afresh (a fresh start could drop a
 * branch old data needs). Text of any other layout is refused with a reason.
 * *has_primary_key tells whether the text lacks __sdc_primary_key. lim may
 * be NULL. NULL with errstr on error. */
sink_shape_t *sink_shape_from_json(const char *text, const sink_limits_t *lim,
                                   int *has_primary_key, char *errstr, size_t errstr_size);

/* sink_shape_destroy(NULL) is a no-op. */
void sink_shape_destroy(sink_shape_t *s);

/* Fast path: 1 if `root` (a parsed record) can be written with the shape
 * as it is, else 0 (something new, a duplicate key, a value that cannot be
 * represented, not an object: sink_shape_evolve tells which). Allocates
 * nothing and leaves the schema as it is. */
int sink_shape_matches(sink_shape_t *s, const sink_json_node_t *root);

/* Slow path: merges `root` into a copy of s. SINK_NEW_VERSION with *out the
 * evolved copy (caller owns it; s is unchanged), SINK_OK with *out NULL if
 * nothing had to change, SINK_REJECT with the reason (name collision,
 * duplicate key, a limit, an unrepresentable number, not an object), or
 * SINK_FAIL (out of memory). */
int sink_shape_evolve(const sink_shape_t *s, const sink_json_node_t *root,
                      sink_shape_t **out, char *errstr, size_t errstr_size);

/* The Avro schema JSON of the shape (layout above); malloc'd, the caller
 * frees it. NULL on out of memory. Deterministic: equal shapes give equal
 * text. */
char *sink_shape_schema_json(const sink_shape_t *s);

/* Fields in the shape, all records, system fields excluded. */
size_t sink_shape_field_count(const sink_shape_t *s);

/* Type nodes of the shape's schema (as max_schema_types counts them). */
size_t sink_shape_type_count(const sink_shape_t *s);

/* The limits in force (defaults filled in). */
const sink_limits_t *sink_shape_limits(const sink_shape_t *s);

/* Writes `root` and the system fields into `rec`, a generic value of the
 * schema parsed from sink_shape_schema_json(s). `root` must match the shape
 * (sink_shape_matches, or the shape sink_shape_evolve returned for it).
 * SINK_OK, SINK_REJECT (no message key while __sdc_primary_key is needed, or
 * a key that is not UTF-8) or SINK_FAIL (avro-c error) with errstr. */
int sink_shape_fill(sink_shape_t *s, const sink_json_node_t *root, const sink_sys_t *sys,
                    avro_value_t *rec, char *errstr, size_t errstr_size);

#endif
