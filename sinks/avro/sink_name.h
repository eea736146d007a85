/* sink_name: the deterministic mapping from JSON member names to Avro names
 * ([A-Za-z_][A-Za-z0-9_]*), applied character by character:
 *   - ASCII letters, digits and '_' are kept;
 *   - any other ASCII character (space, '-', '.', '$', control...) becomes '_';
 *   - a non-ASCII code point becomes "_u" and its code point in upper-case
 *     hex, at least 4 digits ("café" -> "caf_u00E9", "名" -> "_u540D");
 *   - a result that is empty or starts with a digit gets a leading '_'.
 * Different JSON names may map to one Avro name ("a-b", "a.b", "a_b"); the
 * schema model rejects a record that would make two of them share a field.
 * Pure functions; thread-safe. */
#ifndef HOOKPIPE_SINK_NAME_H
#define HOOKPIPE_SINK_NAME_H

#include <stddef.h>

/* Maps json[0..len) (valid UTF-8, may hold NUL) into out (NUL-terminated).
 * Returns the Avro name's length, or -1 if it needs out_size bytes or more. */
long sink_name_map(const char *json, size_t len, char *out, size_t out_size);

/* 1 if s is a valid Avro name, else 0. */
int sink_name_valid(const char *s);

#endif
