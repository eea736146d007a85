/* hex: bytes as hexadecimal text and back, the one table every module uses
 * (token hashes, key ids, UUIDs, JSON \u escapes). Reentrant. */
#ifndef HOOKPIPE_HEX_H
#define HOOKPIPE_HEX_H

#include <stddef.h>

/* "0123456789abcdef": the digit of a nibble, for formatters that interleave
 * hex with other text (UUIDs, "\u00XX"). */
extern const char hex_digits[17];

/* Writes the 2n lowercase hex digits of in[0 .. n) to out and a NUL (out
 * holds 2n + 1 bytes). */
void hex_encode(const void *in, size_t n, char *out);

typedef enum {
    HEX_ANY_CASE = 0,   /* 0-9, a-f, A-F */
    HEX_LOWER           /* 0-9, a-f only (our own canonical output) */
} hex_case_t;

/* The value 0..15 of one hex digit, or -1 if c is not one (in `accept`). */
int hex_digit_value(int c, hex_case_t accept);

/* Decodes exactly in_len hex digits (an even number) into in_len / 2 bytes
 * at out. Returns the number of bytes, or -1 if in_len is odd, a character
 * is not a hex digit (in `accept`) or the bytes would exceed out_size. out
 * may be NULL (with out_size the largest acceptable size) to only check. */
int hex_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size,
               hex_case_t accept);

#endif
