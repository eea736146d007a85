/* utf8: UTF-8 validation, decoding and encoding, the one implementation the
 * gateway's JSON scanner, the sink's JSON parser and the name rules use.
 * Valid means RFC 3629: no overlong forms, no UTF-16 surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
 *
 * utf8_seq_len is inline: both JSON readers call it per non-ASCII sequence
 * on their hot paths. Every function is reentrant. */
#ifndef HOOKPIPE_UTF8_H
#define HOOKPIPE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_MAX 4   /* bytes of the longest sequence */

/* The length (1..4) of the valid UTF-8 sequence starting at p (avail > 0
 * bytes readable), or 0 if it is not one (continuation byte first, overlong,
 * surrogate, above U+10FFFF, truncated). */
static inline size_t utf8_seq_len(const unsigned char *p, size_t avail) {
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* overlong */
        else if (c == 0xED)
            hi = 0x9F;          /* surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;          /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;          /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* 1 if s[0 .. len) is valid UTF-8 (NUL bytes included), else 0. */
int utf8_valid(const char *s, size_t len);

/* Decodes the valid sequence at s (avail > 0 bytes): its length, with the
 * code point in *cp, or 0 if it is not valid UTF-8 (then *cp is untouched). */
size_t utf8_decode(const char *s, size_t avail, uint32_t *cp);

/* Writes code point cp (<= U+10FFFF, not a surrogate) as UTF-8 at out (room
 * for UTF8_MAX bytes) and returns the bytes written (1..4). */
size_t utf8_encode(uint32_t cp, char *out);

#endif
