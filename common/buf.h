/* buf: a growing byte/string builder (append bytes, text, printf), the one
 * way hookpipe builds a response, a SQL statement or a JSON text.
 *
 * A zero-initialised buf_t (or BUF_INIT) is an empty builder. The bytes are
 * b->p[0 .. b->len), always followed by a NUL once anything was allocated, so
 * b->p is a C string when no NUL was appended. buf_str() is "" for an empty
 * builder.
 *
 * Errors: only out of memory (or a size that would overflow). It is sticky:
 * the failing call returns -1 and sets b->oom, every later append returns -1
 * at once and leaves the contents as they were, so a run of appends can be
 * checked once at the end (`if (b.oom)`). Never aborts. buf_reset() clears it.
 *
 * Ownership: the builder owns b->p until buf_detach() hands it over or
 * buf_free() frees it. Not thread-safe; a buf_t belongs to one thread at a
 * time. */
#ifndef HOOKPIPE_BUF_H
#define HOOKPIPE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *p;        /* NULL until the first allocation */
    size_t len;     /* bytes in use, not counting the trailing NUL */
    size_t cap;     /* bytes allocated */
    int oom;        /* an append failed: see above */
} buf_t;

#define BUF_INIT {NULL, 0, 0, 0}

/* Makes room for n more bytes (and the NUL) without changing the contents.
 * 0, or -1 on out of memory (sticky). */
int buf_reserve(buf_t *b, size_t n);

/* Appends n bytes (data may be NULL when n is 0). 0 or -1 (sticky). */
int buf_append(buf_t *b, const void *data, size_t n);

/* Appends the C string s. 0 or -1 (sticky). */
int buf_puts(buf_t *b, const char *s);

/* Appends one byte. 0 or -1 (sticky). */
int buf_putc(buf_t *b, char c);

/* Appends printf-formatted text. 0, or -1 on out of memory or a format
 * error (sticky). */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Shortens the contents to len bytes (len <= b->len). */
void buf_truncate(buf_t *b, size_t len);

/* Empties the builder and clears the error; keeps the memory for reuse. */
void buf_reset(buf_t *b);

/* The contents as a C string, borrowed until the next call on b; "" when
 * nothing was allocated. */
const char *buf_str(const buf_t *b);

/* Hands the contents over: a malloc'd NUL-terminated string the caller
 * frees (an empty one is allocated if need be), its length in *len (len may
 * be NULL). Returns NULL if an append had failed or on out of memory. The
 * builder is empty and error-free afterwards either way. */
char *buf_detach(buf_t *b, size_t *len);

/* Frees the memory and empties the builder; buf_free on an empty builder is
 * a no-op. */
void buf_free(buf_t *b);

#endif
