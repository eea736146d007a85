/* utf8: RFC 3629 validation, decoding and encoding (see utf8.h). */
#include "utf8.h"

#include <string.h>

int utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* plain ASCII runs are most of any text: skip them 8 bytes at a time */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        size_t k = utf8_seq_len(u + i, len - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t utf8_decode(const char *s, size_t avail, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len = utf8_seq_len(u, avail);
    switch (len) {
    case 1: *cp = u[0]; break;
    case 2: *cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F); break;
    case 3: *cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F); break;
    case 4:
        *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
              (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
        break;
    default: break;
    }
    return len;
}

size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
