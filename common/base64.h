/* base64: RFC 4648 base64 for signing secrets, signatures and sealed
 * values. Reentrant. */
#ifndef HOOKPIPE_BASE64_H
#define HOOKPIPE_BASE64_H

#include <stddef.h>

/* Characters base64_encode writes for n bytes, without the NUL. */
#define BASE64_ENCODED_LEN(n) (4 * (((n) + 2) / 3))

/* Writes the padded standard-alphabet base64 of in[0 .. n) and a NUL to out
 * (BASE64_ENCODED_LEN(n) + 1 bytes). Returns the characters written. */
size_t base64_encode(const void *in, size_t n, char *out);

/* Decodes base64 in either alphabet (standard "+/" or URL-safe "-_"), with
 * or without '=' padding. Returns the number of bytes written to out, or -1
 * if a character is not base64, the length is impossible, or the bytes
 * would exceed out_size. */
int base64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size);

#endif
