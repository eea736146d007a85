/* sink_json: a strict JSON parser for event payloads that keeps what a
 * provider sent exactly: numbers are classified (sink_num) with their lexeme
 * kept, strings are validated UTF-8, key order and duplicate keys are kept
 * for the caller to judge.
 *
 * Why our own parser rather than jansson: jansson refuses integers beyond
 * int64 (or reads them as doubles, losing digits) and reads every decimal as
 * a double, and it allocates every node and a hash table per object. This
 * parser builds the tree in an arena that is reused from one record to the
 * next, so a steady stream of records parses without calling malloc.
 *
 * Strings and numbers follow jlex.h and utf8.h, the rules the gateway's
 * scanner applies too. Strict RFC 8259: one value, optional surrounding whitespace; invalid UTF-8,
 * unescaped control characters, lone surrogate escapes, leading zeros,
 * trailing commas and trailing garbage are errors. "\u0000" is allowed and
 * yields a NUL byte inside the string (lengths are explicit).
 *
 * Memory: the arena (arena.h) grows with the largest document, from a first
 * 64 KiB chunk; each parse starts by keeping at most 1 MiB of it.
 * A parser is used by one thread at a time. */
#ifndef HOOKPIPE_SINK_JSON_H
#define HOOKPIPE_SINK_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "sink_num.h"

typedef enum {
    SINK_JSON_NULL = 0,
    SINK_JSON_FALSE,
    SINK_JSON_TRUE,
    SINK_JSON_NUMBER,
    SINK_JSON_STRING,
    SINK_JSON_ARRAY,
    SINK_JSON_OBJECT
} sink_json_type_t;

typedef struct sink_json_node sink_json_node_t;
struct sink_json_node {
    uint8_t type;            /* sink_json_type_t */
    uint8_t num;             /* sink_num_kind_t, for SINK_JSON_NUMBER */
    uint32_t len;            /* string bytes, number lexeme bytes, or children */
    uint32_t key_len;        /* member name bytes, when inside an object */
    const char *str;         /* string (NUL-terminated after len bytes; may hold
                                NUL), or the number lexeme; NULL otherwise */
    const char *key;         /* member name (NUL-terminated), or NULL */
    sink_json_node_t *child; /* first element / member */
    sink_json_node_t *next;  /* next sibling */
    union {
        int64_t i;           /* SINK_NUM_LONG */
        double d;            /* SINK_NUM_DOUBLE */
    } v;
};

typedef struct sink_json_parser sink_json_parser_t;

#define SINK_JSON_DEFAULT_MAX_DEPTH 64
#define SINK_JSON_DEFAULT_MAX_NODES (1u << 20)

/* A parser with its arena. max_depth bounds nesting of arrays/objects (the
 * root is depth 1), max_nodes the values in one document (each costs ~56
 * bytes of arena). 0 picks the defaults. NULL on out of memory. */
sink_json_parser_t *sink_json_parser_new(size_t max_depth, size_t max_nodes);

/* Frees the parser and every tree it made; NULL is a no-op. */
void sink_json_parser_destroy(sink_json_parser_t *p);

/* Parses buf[0..len) (no NUL needed). On success returns 0 and *root; the
 * tree is owned by the parser and lives until the next parse or destroy (it
 * does not point into buf). On error returns -1 (not valid JSON) or -2 (a
 * limit: nesting, value count, or out of memory; the text may be valid),
 * with a reason and byte offset in errstr ("invalid UTF-8 in string at byte
 * 17", "nesting deeper than 64 at byte 64"). */
int sink_json_parse(sink_json_parser_t *p, const char *buf, size_t len,
                    const sink_json_node_t **root, char *errstr, size_t errstr_size);

/* As sink_json_parse, but the trees of earlier sink_json_parse_keep calls
 * stay valid too: every tree lives until sink_json_parser_reset,
 * sink_json_parse or destroy (max_nodes bounds each document). For a
 * batch whose documents are read more than once (the warehouse loader). */
int sink_json_parse_keep(sink_json_parser_t *p, const char *buf, size_t len,
                         const sink_json_node_t **root, char *errstr, size_t errstr_size);

/* Forgets every tree, keeping the arena's memory for the next ones (a
 * steady stream of batches does not allocate). */
void sink_json_parser_reset(sink_json_parser_t *p);

#endif
