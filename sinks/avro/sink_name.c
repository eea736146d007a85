/* sink_name: JSON member name -> Avro name (see sink_name.h). */
#include "sink_name.h"

#include <stdio.h>

static int is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

/* Decodes one UTF-8 sequence (input already validated); returns its length. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp) {
    if (s[0] < 0xe0 && n >= 2) {
        *cp = ((unsigned)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if (s[0] < 0xf0 && n >= 3) {
        *cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        return 3;
    }
    if (n >= 4) {
        *cp = ((unsigned)(s[0] & 0x07) << 18) | ((unsigned)(s[1] & 0x3f) << 12) |
              ((unsigned)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        return 4;
    }
    *cp = s[0];
    return 1;
}

long sink_name_map(const char *json, size_t len, char *out, size_t out_size) {
    const unsigned char *s = (const unsigned char *)json;
    size_t w = 0, i = 0;
    if (out_size == 0)
        return -1;
    if (len == 0 || is_digit(s[0])) {
        if (w + 1 >= out_size)
            return -1;
        out[w++] = '_';
    }
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (w + 1 >= out_size)
                return -1;
            out[w++] = is_alpha(c) || is_digit(c) ? (char)c : '_';
            i++;
            continue;
        }
        unsigned cp;
        i += utf8_decode(s + i, len - i, &cp);
        char hex[16];
        int n = snprintf(hex, sizeof(hex), "_u%04X", cp);
        if (w + (size_t)n >= out_size)
            return -1;
        for (int k = 0; k < n; k++)
            out[w++] = hex[k];
    }
    out[w] = '\0';
    return (long)w;
}

int sink_name_valid(const char *s) {
    if (!is_alpha((unsigned char)s[0]))
        return 0;
    for (s++; *s; s++)
        if (!is_alpha((unsigned char)*s) && !is_digit((unsigned char)*s))
            return 0;
    return 1;
}
