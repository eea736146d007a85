/* hex: hexadecimal encoding and decoding (see hex.h). */
#include "hex.h"

#include <limits.h>

const char hex_digits[17] = "0123456789abcdef";

void hex_encode(const void *in, size_t n, char *out) {
    const unsigned char *b = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[b[i] >> 4];
        out[2 * i + 1] = hex_digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int hex_digit_value(int c, hex_case_t accept) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (accept == HEX_ANY_CASE && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size,
               hex_case_t accept) {
    if (in_len % 2 || in_len / 2 > out_size || in_len / 2 > INT_MAX)
        return -1;
    for (size_t i = 0; i < in_len; i += 2) {
        int hi = hex_digit_value((unsigned char)in[i], accept);
        int lo = hex_digit_value((unsigned char)in[i + 1], accept);
        if (hi < 0 || lo < 0)
            return -1;
        if (out)
            out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(in_len / 2);
}
