/* jlex: the lexical rules of JSON strings and numbers (RFC 8259 sections 6
 * and 7) shared by the gateway's scanner (gateway/jscan) and the sink's
 * parser (sinks/sink_json): which escapes exist, how a \u escape (or a
 * surrogate pair of them) becomes a code point, what a number looks like,
 * and the decoding of a validated string. UTF-8 itself is
 * utf8.h. Every function is reentrant and allocates nothing. */
#ifndef HOOKPIPE_JLEX_H
#define HOOKPIPE_JLEX_H

#include <stddef.h>
#include <stdint.h>

/* The byte a one-character escape "\c" stands for ('"', '\\', '/', b, f,
 * n, r, t), or -1 if c is 'u' or not an escape. */
static inline int jlex_escape_char(int c) {
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return -1;
    }
}

typedef enum {
    JLEX_U_OK = 0,
    JLEX_U_TRUNCATED,   /* the input ends inside the escape (or its pair) */
    JLEX_U_BAD_HEX,     /* a byte where a hex digit must be */
    JLEX_U_LONE_LOW,    /* \uDC00..\uDFFF first */
    JLEX_U_LONE_HIGH    /* \uD800..\uDBFF not followed by a \uDC00..\uDFFF escape */
} jlex_u_rc_t;

/* Decodes the \u escape at s (s[0] == '\\', s[1] == 'u'; avail bytes
 * readable), a high surrogate taking the low one after it. JLEX_U_OK with
 * the code point in *cp and the bytes used (6 or 12) in *used. Otherwise
 * *at is the offset from s of the problem: the first bad byte
 * (JLEX_U_BAD_HEX), avail (JLEX_U_TRUNCATED) or 0 (the surrogates). An
 * offset of 6 or more means the first escape was a valid high surrogate
 * and its pair is what is wrong. */
jlex_u_rc_t jlex_u_escape(const char *s, size_t avail, uint32_t *cp, size_t *used, size_t *at);

typedef enum {
    JLEX_NUM_OK = 0,
    JLEX_NUM_DIGIT,         /* no digit where the integer part starts */
    JLEX_NUM_FRACTION,      /* no digit after '.' */
    JLEX_NUM_EXPONENT       /* no digit in the exponent */
} jlex_num_rc_t;

#define JLEX_IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

/* Lexes the JSON number at s[0 .. avail): -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?. JLEX_NUM_OK with *end the offset just after it (the
 * caller judges what follows), else the rule broken with *end the offset
 * of the offending byte (avail if the input ended). Leading zeros end the
 * number after the "0" (the caller sees the next digit as trailing text).
 * Inline: numbers are a hot path of both JSON readers. */
static inline jlex_num_rc_t jlex_number(const char *s, size_t avail, size_t *end) {
    const unsigned char *b = (const unsigned char *)s;
    size_t i = 0;
    if (i < avail && b[i] == '-')
        i++;
    if (i < avail && b[i] == '0') {
        i++;
    } else if (i < avail && JLEX_IS_DIGIT(b[i])) {
        while (i < avail && JLEX_IS_DIGIT(b[i]))
            i++;
    } else {
        *end = i;
        return JLEX_NUM_DIGIT;
    }
    if (i < avail && b[i] == '.') {
        i++;
        if (i >= avail || !JLEX_IS_DIGIT(b[i])) {
            *end = i;
            return JLEX_NUM_FRACTION;
        }
        while (i < avail && JLEX_IS_DIGIT(b[i]))
            i++;
    }
    if (i < avail && (b[i] == 'e' || b[i] == 'E')) {
        i++;
        if (i < avail && (b[i] == '+' || b[i] == '-'))
            i++;
        if (i >= avail || !JLEX_IS_DIGIT(b[i])) {
            *end = i;
            return JLEX_NUM_EXPONENT;
        }
        while (i < avail && JLEX_IS_DIGIT(b[i]))
            i++;
    }
    *end = i;
    return JLEX_NUM_OK;
}

/* Decodes the JSON string literal s[0 .. len) — quotes included, already
 * validated — into out (room for len bytes suffices: decoding never
 * grows) and returns the bytes written. Not NUL-terminated; may hold NULs
 * ("\u0000"). */
size_t jlex_string_decode(const char *s, size_t len, char *out);

#endif
