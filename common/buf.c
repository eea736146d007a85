/* buf: the growing byte/string builder (see buf.h). */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST_CAP 256

int buf_reserve(buf_t *b, size_t n) {
    if (b->oom)
        return -1;
    if (n < b->cap - b->len)       /* room for n bytes and the NUL */
        return 0;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    if (!b->p)
        p[0] = '\0';
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *data, size_t n) {
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_puts(buf_t *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_putc(buf_t *b, char c) { return buf_append(b, &c, 1); }

int buf_vprintf(buf_t *b, const char *fmt, va_list ap) {
    if (b->oom)
        return -1;
    va_list ap2;
    va_copy(ap2, ap);
    /* try in the room there is first: most texts fit and format once */
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        b->oom = 1;
        if (b->p)
            b->p[b->len] = '\0';
        return -1;
    }
    if ((size_t)n >= room || !b->p) {
        if (buf_reserve(b, (size_t)n) < 0) {
            va_end(ap2);
            if (b->p)
                b->p[b->len] = '\0';
            return -1;
        }
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_truncate(buf_t *b, size_t len) {
    if (len < b->len) {
        b->len = len;
        b->p[len] = '\0';
    }
}

void buf_reset(buf_t *b) {
    b->len = 0;
    b->oom = 0;
    if (b->p)
        b->p[0] = '\0';
}

const char *buf_str(const buf_t *b) { return b->p ? b->p : ""; }

char *buf_detach(buf_t *b, size_t *len) {
    char *p = b->oom ? NULL : b->p;
    size_t n = b->len;
    if (b->oom)
        free(b->p);
    else if (!p && (p = malloc(1)))
        p[0] = '\0';
    *b = (buf_t)BUF_INIT;
    if (len)
        *len = p ? n : 0;
    return p;
}

void buf_free(buf_t *b) {
    free(b->p);
    *b = (buf_t)BUF_INIT;
}
