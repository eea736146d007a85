/* sr_avro: Avro schemas parsed from their JSON text into our own model, their
 * Parsing Canonical Form and CRC-64-AVRO fingerprint.
 *
 * We do not use avro-c's model: its JSON writer drops "default" and
 * "logicalType" and its resolvers are unreliable (see DESIGN.md). The parser
 * here follows the Avro 1.11 specification: names and namespaces, aliases,
 * named-type references (recursive types included), unions, defaults checked
 * against their type (a union's default against its first branch).
 *
 * Hostile input is bounded: text length, nesting depth and node count have
 * limits below, and every failure is an error message, never an abort.
 * A parsed schema is immutable and may be read from any thread. */
#ifndef HOOKPIPE_SR_AVRO_H
#define HOOKPIPE_SR_AVRO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SR_AVRO_MAX_TEXT  (1 << 20)  /* bytes of schema JSON */
#define SR_AVRO_MAX_DEPTH 64         /* nesting of schema JSON */
#define SR_AVRO_MAX_NODES 20000      /* types in one schema */

typedef enum {
    SR_AVRO_NULL, SR_AVRO_BOOLEAN, SR_AVRO_INT, SR_AVRO_LONG, SR_AVRO_FLOAT,
    SR_AVRO_DOUBLE, SR_AVRO_BYTES, SR_AVRO_STRING, SR_AVRO_RECORD, SR_AVRO_ENUM,
    SR_AVRO_ARRAY, SR_AVRO_MAP, SR_AVRO_UNION, SR_AVRO_FIXED
} sr_avro_type_t;

typedef struct sr_avro_node sr_avro_node_t;

typedef struct sr_avro_field {
    char *name;
    sr_avro_node_t *type;
    json_t *def;             /* the default value, NULL if the field has none */
    char **aliases;
    size_t naliases;
} sr_avro_field_t;

struct sr_avro_node {
    sr_avro_type_t type;
    char *fullname;          /* record, enum, fixed */
    char **aliases;          /* record, enum, fixed: full names */
    size_t naliases;
    sr_avro_field_t *fields; /* record */
    size_t nfields;
    char **symbols;          /* enum */
    size_t nsymbols;
    char *enum_default;      /* enum: NULL if none */
    long long size;          /* fixed */
    sr_avro_node_t *items;   /* array items, map values */
    sr_avro_node_t **branches; /* union */
    size_t nbranches;
    unsigned mark;           /* scratch for graph walks during parsing */
};

typedef struct sr_avro {
    sr_avro_node_t *root;
    sr_avro_node_t **nodes;  /* every node, owned */
    size_t nnodes, cap;
    char *canonical;         /* Parsing Canonical Form, NUL-terminated */
    size_t canonical_len;
    uint64_t fingerprint;    /* CRC-64-AVRO of the canonical form */
} sr_avro_t;

/* Parses `len` bytes of schema JSON. Returns the schema (caller owns it:
 * sr_avro_destroy) or NULL with a message in errstr. */
sr_avro_t *sr_avro_parse(const char *text, size_t len, char *errstr, size_t errstr_size);

/* sr_avro_destroy(NULL) is a no-op. */
void sr_avro_destroy(sr_avro_t *schema);

/* The short name of a named type (after the last '.'). */
const char *sr_avro_short_name(const char *fullname);

/* Name of a type for messages: "int", "record", ... */
const char *sr_avro_type_name(sr_avro_type_t type);

/* CRC-64-AVRO (Rabin) fingerprint of any bytes. */
uint64_t sr_avro_crc64(const void *buf, size_t len);

#endif
