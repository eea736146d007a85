/* wh_sql: SQL text for the warehouse targets — quoted identifiers,
 * literals, COPY text escaping — and the field encoders of PostgreSQL's
 * binary COPY format, appended to a buf_t (common/buf.h: its errors are
 * sticky, so a statement is checked once, `if (b.oom)`). */
#ifndef HOOKPIPE_WH_SQL_H
#define HOOKPIPE_WH_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The decimal text of v. */
void wh_sql_int(buf_t *s, long long v);

/* "name" with embedded '"' doubled: any byte string is one identifier. */
void wh_sql_ident(buf_t *s, const char *name);

/* "a"."b" (PostgreSQL) — or, with schema NULL, just "b". */
void wh_sql_qualified(buf_t *s, const char *schema, const char *name);

/* 'text' with embedded quotes doubled (text must hold no NUL). */
void wh_sql_literal(buf_t *s, const char *text);

/* text[0..n) escaped for COPY ... FROM STDIN text format. */
void wh_sql_copy_text(buf_t *s, const char *text, size_t n);

/* COPY ... FROM STDIN (FORMAT binary): the stream's header and trailer, a
 * tuple's field count, and its fields, each its length word and then the
 * type's binary form (big-endian; what the server's *_recv functions read).
 * Appends nothing when the function returns -1. */
void wh_sql_bin_header(buf_t *s);
void wh_sql_bin_trailer(buf_t *s);
void wh_sql_bin_tuple(buf_t *s, uint16_t nfields);
void wh_sql_bin_null(buf_t *s);
void wh_sql_bin_int8(buf_t *s, int64_t v);
void wh_sql_bin_float8(buf_t *s, double v);
void wh_sql_bin_bool(buf_t *s, int v);
/* The bytes as they are: the server checks them against its encoding and
 * refuses NUL, as it does in text format. -1 if n >= WH_SQL_BIN_FIELD_MAX
 * (PostgreSQL's limit on a field). */
#define WH_SQL_BIN_FIELD_MAX 0x40000000u
int wh_sql_bin_text(buf_t *s, const char *text, size_t n);
/* µs since the Unix epoch as timestamptz (µs since 2000-01-01 UTC); -1 if
 * that is INT64_MIN (-infinity) or below. The server checks its own range
 * (4713 BC to 294276 AD) and refuses what is beyond it, as in text. */
int wh_sql_bin_timestamptz(buf_t *s, int64_t unix_us);
/* A JSON number lexeme (lex[0..n), RFC 8259 syntax) as numeric, with the
 * value and display scale numeric_in gives the same text: scale = fraction
 * digits minus exponent, at least 0 ("1.50" 2, "1.5e3" 0, "100e-2" 2); a
 * zero is positive. -1 if the lexeme is not such a number, or its weight
 * or scale do not fit the format (the server refuses those in text too:
 * "value overflows numeric format"). */
int wh_sql_bin_numeric(buf_t *s, const char *lex, size_t n);

#endif
