/* errstr: the one way modules report an error's reason to their caller.
 *
 * Functions that can fail take a caller-owned buffer `char *errstr, size_t
 * errstr_size` and, on failure, write a one-line, human-readable reason into
 * it. errstr_fmt formats that reason and hands back the caller's return
 * code, so a failure path reads
 *
 *     return errstr_fmt(-1, errstr, errstr_size, "no such topic %s", name);
 *
 * errstr may be NULL or errstr_size 0 (the reason is then dropped); otherwise
 * the text is always NUL-terminated, truncated to fit. */
#ifndef HOOKPIPE_ERRSTR_H
#define HOOKPIPE_ERRSTR_H

#include <stddef.h>

/* Formats fmt into errstr (printf rules) and returns rc. */
int errstr_fmt(int rc, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
