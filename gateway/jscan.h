/* jscan: validates raw JSON bytes without building a tree, finds the records
 * of a webhook body and the raw values of their top-level members, and builds
 * Kafka keys from them. Nothing is re-serialised: callers publish the exact
 * bytes of each record span.
 *
 * Grammar: RFC 8259, strictly.
 *   - UTF-8 only, strictly: overlong forms, surrogates (U+D800..U+DFFF encoded
 *     directly), code points above U+10FFFF and truncated sequences are
 *     refused (JSCAN_ERR_UTF8). A byte-order mark is refused (syntax).
 *   - A raw NUL byte anywhere is refused (JSCAN_ERR_NUL). The escape \u0000
 *     is valid JSON and accepted.
 *   - A \u escape that is a lone surrogate (a high one not followed by a
 *     \u low one, or a low one alone) is refused (JSCAN_ERR_SYNTAX): it
 *     cannot become UTF-8 and jansson-based consumers refuse it too.
 *   - Numbers are checked against the grammar only; any size or precision
 *     passes through untouched.
 *   - Nesting: each object or array is one level; a depth above max_depth is
 *     JSCAN_ERR_DEPTH. The scanner keeps one bit per level (no recursion), so
 *     hostile nesting costs max_depth/8 bytes at most.
 *
 * Body shape (jscan_body): the top level must be one object (one record) or
 * an array whose every element is an object (one record each). An empty
 * array is accepted and yields zero records: a provider that batches may post
 * an empty batch, and refusing it would only make it retry forever.
 *
 * Member lookup (jscan_members) compares member names after decoding their
 * escapes ("\u0069d" is "id"). When a name occurs more than once, the last
 * occurrence wins, as in jansson. The record still passes through unchanged;
 * the sink refuses a record with duplicate members (to its dead-letter topic
 * or the warehouse's _sdc_rejected), so nothing is lost either way.
 *
 * Thread use: every function is reentrant; none keeps state. */
#ifndef HOOKPIPE_JSCAN_H
#define HOOKPIPE_JSCAN_H

#include <stddef.h>

typedef enum {
    JSCAN_OK = 0,
    JSCAN_ERR_SYNTAX,   /* malformed JSON */
    JSCAN_ERR_UTF8,     /* invalid UTF-8 */
    JSCAN_ERR_NUL,      /* a raw NUL byte */
    JSCAN_ERR_DEPTH,    /* nesting deeper than max_depth */
    JSCAN_ERR_EMPTY,    /* nothing but whitespace */
    JSCAN_ERR_TOP,      /* top level not an object or an array of objects */
    JSCAN_ERR_RECORDS,  /* more than max_records elements */
    JSCAN_ERR_NOMEM
} jscan_err_t;

/* A byte range of the scanned buffer. */
typedef struct jscan_span {
    size_t off, len;
} jscan_span_t;

typedef struct jscan_result {
    jscan_err_t err;
    size_t err_off;        /* byte offset where the error was detected */
    const char *err_msg;   /* static text, e.g. "expected ':'" */
    int is_array;          /* the body was an array */
    jscan_span_t *records; /* nrecords spans, owned: jscan_result_free() */
    size_t nrecords;
} jscan_result_t;

/* Validates buf[0..len) as JSON (jscan_validate: any top-level value).
 * Returns the error code, also stored in res->err with its offset and
 * message. res needs no initialisation; jscan_validate leaves no records. */
jscan_err_t jscan_validate(const char *buf, size_t len, int max_depth, jscan_result_t *res);

/* Validates a webhook body and collects its record spans (see the top of the
 * file). max_records bounds the array length (0 = no bound). On success the
 * caller owns res->records and must call jscan_result_free(); on error
 * res->records is NULL. */
jscan_err_t jscan_body(const char *buf, size_t len, int max_depth, size_t max_records,
                       jscan_result_t *res);

/* Frees the record spans; the result may be reused afterwards. */
void jscan_result_free(jscan_result_t *res);

/* A short human reason for an error code, e.g. "malformed JSON". */
const char *jscan_strerror(jscan_err_t err);

/* The value types of jscan_members. */
typedef enum {
    JSCAN_MISSING = 0, JSCAN_STRING, JSCAN_NUMBER, JSCAN_TRUE, JSCAN_FALSE,
    JSCAN_NULL, JSCAN_OBJECT, JSCAN_ARRAY
} jscan_type_t;

typedef struct jscan_member {
    jscan_type_t type;    /* JSCAN_MISSING if the object has no such member */
    jscan_span_t value;   /* raw bytes of the value, quotes included for strings */
} jscan_member_t;

/* For an object that jscan_body/jscan_validate accepted (obj points at its
 * '{'), finds the top-level members named names[0..n) in one pass; out[i]
 * describes the last occurrence of names[i]. Spans are relative to obj.
 * Behaviour is undefined for unvalidated input. */
void jscan_members(const char *obj, size_t len, const char *const *names, size_t n,
                   jscan_member_t *out);

/* A validated string member is decoded with jlex_string_decode (jlex.h). */

typedef enum { JSCAN_KEY_OK = 0, JSCAN_KEY_REJECT, JSCAN_KEY_NOMEM } jscan_key_rc_t;

/* Builds the Kafka key of a validated object from its primary-key fields.
 *   one field:  a string's decoded UTF-8 content, or a number's or boolean's
 *               literal text;
 *   several:    a canonical JSON array of the values, in field order, with no
 *               whitespace: strings re-encoded with minimal escaping (only '"',
 *               '\\' and control characters are escaped, as \" \\ \b \f \n \r
 *               \t or \u00XX; everything else as raw UTF-8), numbers and
 *               booleans as their literal text. E.g. ["a\"b",12,true].
 * A field that is missing, null, an object or an array gives JSCAN_KEY_REJECT
 * with a static reason in *reason (e.g. "primary key field is null") and the
 * index of the field in *bad_field. On JSCAN_KEY_OK the caller owns *key
 * (malloc'd, *key_len bytes, also NUL-terminated for convenience). */
jscan_key_rc_t jscan_key(const char *obj, size_t len, const char *const *fields, size_t n,
                         char **key, size_t *key_len, const char **reason,
                         size_t *bad_field);

#endif
