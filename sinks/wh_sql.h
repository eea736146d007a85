/* wh_sql: a growing SQL text buffer with quoted identifiers, literals and
 * COPY text escaping, for the warehouse targets. */
#ifndef HOOKPIPE_WH_SQL_H
#define HOOKPIPE_WH_SQL_H

#include <stddef.h>

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

#endif
