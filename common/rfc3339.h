/* rfc3339: the one text form of an instant — µs since the epoch to RFC 3339
 * UTC text and back (log lines, integration timestamps, event headers, SQL
 * literals, file names all format through here). */
#ifndef HOOKPIPE_RFC3339_H
#define HOOKPIPE_RFC3339_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that hold any form of any int64 instant, NUL included. */
#define RFC3339_MAX 40
/* Length of RFC3339_MICROS text for the years 0000..9999. */
#define RFC3339_MICROS_LEN 27

/* The forms. All are UTC; the fraction is truncated, never rounded, so the
 * text never names a later instant than the one given. */
typedef enum rfc3339_form {
    RFC3339_MICROS,       /* 2026-11-26T20:14:37.123456Z    event headers, integrations */
    RFC3339_MILLIS,       /* 2026-11-26T20:14:37.123Z       log lines */
    RFC3339_SQL_MICROS,   /* 2026-11-26 20:14:37.123456+00:00  SQL timestamptz literals
                             (RFC 3339 5.6 allows the space) */
    RFC3339_BASIC_MILLIS  /* 20261126T201437123Z            file names: no ':' (ISO 8601
                             basic format, not RFC 3339 proper) */
} rfc3339_form_t;

/* Formats us (µs since 1970-01-01T00:00:00Z, proleptic Gregorian, no leap
 * seconds; any int64) into out like snprintf: NUL-terminated, truncated to
 * size, and returns the length the whole text needs. A size of RFC3339_MAX
 * never truncates. Years outside 0000..9999 are not RFC 3339: they print
 * with more digits or a '-', so the text still names the instant. Pure and
 * thread-safe (no gmtime, no locale). */
size_t rfc3339_format(int64_t us, rfc3339_form_t form, char *out, size_t size);

/* The wall clock (CLOCK_REALTIME) in µs since the epoch. */
int64_t rfc3339_now_us(void);

/* Parses RFC 3339 UTC text of exactly len bytes (need not be NUL-terminated)
 * into *us: "YYYY-MM-DDTHH:MM:SS[.f]Z", 'T' and 'Z' in either case, or the
 * offset "+00:00" / "-00:00" for Z; 1 to 9 fraction digits, beyond µs
 * truncated; second 60 (a leap second) reads as the next minute's :00.
 * Any other offset, a space for 'T', a missing zone or a date that does not
 * exist is malformed. 0, or -1 (malformed; *us untouched). */
int rfc3339_parse(const char *s, size_t len, int64_t *us);

#endif
