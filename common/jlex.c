/* jlex: JSON string escapes and decoding (see jlex.h). */
#include "jlex.h"

#include "hex.h"
#include "utf8.h"

/* Four hex digits at s[0..4) of avail bytes: the code unit, or -1 with
 * *bad the offset of the first non-hex byte (avail if the input ends). */
static long jlex_hex4(const unsigned char *s, size_t avail, size_t *bad) {
    if (avail >= 4) {
        /* the common case: four digits, no bound to check per digit */
        int a = hex_digit_value(s[0], HEX_ANY_CASE), b = hex_digit_value(s[1], HEX_ANY_CASE);
        int c = hex_digit_value(s[2], HEX_ANY_CASE), d = hex_digit_value(s[3], HEX_ANY_CASE);
        if ((a | b | c | d) >= 0)
            return (long)(a << 12 | b << 8 | c << 4 | d);
    }
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = k < avail ? hex_digit_value(s[k], HEX_ANY_CASE) : -1;
        if (h < 0) {
            *bad = k < avail ? k : avail;
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

jlex_u_rc_t jlex_u_escape(const char *s, size_t avail, uint32_t *cp, size_t *used, size_t *at) {
    const unsigned char *b = (const unsigned char *)s;
    size_t bad;
    long hi = jlex_hex4(b + 2, avail - 2, &bad);
    if (hi < 0) {
        *at = 2 + bad;
        return *at >= avail ? JLEX_U_TRUNCATED : JLEX_U_BAD_HEX;
    }
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        *at = 0;
        return JLEX_U_LONE_LOW;
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (uint32_t)hi;
        *used = 6;
        return JLEX_U_OK;
    }
    /* a high surrogate: its low half must follow as the next escape */
    if (avail <= 6 || (b[6] == '\\' && avail <= 7)) {
        *at = avail;
        return JLEX_U_TRUNCATED;
    }
    if (b[6] != '\\' || b[7] != 'u') {
        *at = 0;
        return JLEX_U_LONE_HIGH;
    }
    long lo = jlex_hex4(b + 8, avail - 8, &bad);
    if (lo < 0) {
        *at = 8 + bad;
        return *at >= avail ? JLEX_U_TRUNCATED : JLEX_U_BAD_HEX;
    }
    if (lo < 0xDC00 || lo > 0xDFFF) {
        *at = 0;
        return JLEX_U_LONE_HIGH;
    }
    *cp = 0x10000 + ((uint32_t)(hi - 0xD800) << 10) + (uint32_t)(lo - 0xDC00);
    *used = 12;
    return JLEX_U_OK;
}

size_t jlex_string_decode(const char *s, size_t len, char *out) {
    size_t o = 0, i = 1, end = len - 1;
    while (i < end) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        int c = jlex_escape_char((unsigned char)s[i + 1]);
        if (c >= 0) {
            out[o++] = (char)c;
            i += 2;
            continue;
        }
        uint32_t cp = 0;
        size_t used = 6, at;
        /* validated: only a \u escape is left */
        jlex_u_escape(s + i, end - i, &cp, &used, &at);
        o += utf8_encode(cp, out + o);
        i += used;
    }
    return o;
}
