/* wh_sql: a growing SQL text buffer with quoted identifiers, literals and
 * COPY text escaping, and the field encoders of PostgreSQL's binary COPY
 * format, for the warehouse targets. */
#ifndef HOOKPIPE_WH_SQL_H
#define HOOKPIPE_WH_SQL_H

#include <stddef.h>
#include <stdint.h>

/* Zero-initialise ({0}); after an allocation failure `oom` is set and
 * further appends do nothing. wh_sql_free releases the text. */
typedef struct wh_sql {
    char *p;           /* NUL-terminated text, or NULL while empty */
    size_t len, cap;
    int oom;
} wh_sql_t;

void wh_sql_free(wh_sql_t *s);
void wh_sql_clear(wh_sql_t *s);
void wh_sql_add(wh_sql_t *s, const char *text);
void wh_sql_addn(wh_sql_t *s, const char *text, size_t n);
void wh_sql_addf(wh_sql_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The decimal text of v. */
void wh_sql_int(wh_sql_t *s, long long v);

/* "name" with embedded '"' doubled: any byte string is one identifier. */
void wh_sql_ident(wh_sql_t *s, const char *name);

/* "a"."b" (PostgreSQL) — or, with schema NULL, just "b". */
void wh_sql_qualified(wh_sql_t *s, const char *schema, const char *name);

/* 'text' with embedded quotes doubled (text must hold no NUL). */
void wh_sql_literal(wh_sql_t *s, const char *text);

/* text[0..n) escaped for COPY ... FROM STDIN text format. */
void wh_sql_copy_text(wh_sql_t *s, const char *text, size_t n);

/* COPY ... FROM STDIN (FORMAT binary): the stream's header and trailer, a
 * tuple's field count, and its fields, each its length word and then the
 * type's binary form (big-endian; what the server's *_recv functions read).
 * Appends nothing when the function returns -1. */
void wh_sql_bin_header(wh_sql_t *s);
void wh_sql_bin_trailer(wh_sql_t *s);
void wh_sql_bin_tuple(wh_sql_t *s, uint16_t nfields);
void wh_sql_bin_null(wh_sql_t *s);
void wh_sql_bin_int8(wh_sql_t *s, int64_t v);
void wh_sql_bin_float8(wh_sql_t *s, double v);
void wh_sql_bin_bool(wh_sql_t *s, int v);
/* The bytes as they are: the server checks them against its encoding and
 * refuses NUL, as it does in text format. -1 if n >= WH_SQL_BIN_FIELD_MAX
 * (PostgreSQL's limit on a field). */
#define WH_SQL_BIN_FIELD_MAX 0x40000000u
int wh_sql_bin_text(wh_sql_t *s, const char *text, size_t n);
/* µs since the Unix epoch as timestamptz (µs since 2000-01-01 UTC); -1 if
 * that is INT64_MIN (-infinity) or below. The server checks its own range
 * (4713 BC to 294276 AD) and refuses what is beyond it, as in text. */
int wh_sql_bin_timestamptz(wh_sql_t *s, int64_t unix_us);
/* A JSON number lexeme (lex[0..n), RFC 8259 syntax) as numeric, with the
 * value and display scale numeric_in gives the same text: scale = fraction
 * digits minus exponent, at least 0 ("1.50" 2, "1.5e3" 0, "100e-2" 2); a
 * zero is positive. -1 if the lexeme is not such a number, or its weight
 * or scale do not fit the format (the server refuses those in text too:
 * "value overflows numeric format"). */
int wh_sql_bin_numeric(wh_sql_t *s, const char *lex, size_t n);

#endif
