/* base64: RFC 4648 encoding and lenient decoding (see base64.h). */
#include "base64.h"

#include <limits.h>

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const void *in, size_t n, char *out) {
    const unsigned char *b = in;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];
        out[o++] = base64_alphabet[v >> 18];
        out[o++] = base64_alphabet[(v >> 12) & 63];
        out[o++] = base64_alphabet[(v >> 6) & 63];
        out[o++] = base64_alphabet[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0);
        out[o++] = base64_alphabet[v >> 18];
        out[o++] = base64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? base64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int base64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int base64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size) {
    while (in_len > 0 && in[in_len - 1] == '=')
        in_len--;
    if (in_len % 4 == 1 || in_len / 4 * 3 > INT_MAX)
        return -1;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in_len; i++) {
        int v = base64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= out_size)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return (int)n;
}
