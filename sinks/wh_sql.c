/* wh_sql: SQL text building for the warehouse targets (see wh_sql.h). */
#include "wh_sql.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wh_sql_free(wh_sql_t *s) {
    free(s->p);
    memset(s, 0, sizeof(*s));
}

void wh_sql_clear(wh_sql_t *s) {
    s->len = 0;
    if (s->p)
        s->p[0] = '\0';
}

static int reserve(wh_sql_t *s, size_t n) {
    if (s->oom)
        return -1;
    if (s->len + n + 1 <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + n + 1)
        cap *= 2;
    char *np = realloc(s->p, cap);
    if (!np) {
        s->oom = 1;
        return -1;
    }
    s->p = np;
    s->cap = cap;
    return 0;
}

void wh_sql_addn(wh_sql_t *s, const char *text, size_t n) {
    if (reserve(s, n) < 0)
        return;
    memcpy(s->p + s->len, text, n);
    s->len += n;
    s->p[s->len] = '\0';
}

void wh_sql_add(wh_sql_t *s, const char *text) { wh_sql_addn(s, text, strlen(text)); }

void wh_sql_addf(wh_sql_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(s, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void wh_sql_int(wh_sql_t *s, long long v) {
    char tmp[24];
    size_t k = sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--k] = '-';
    wh_sql_addn(s, tmp + k, sizeof(tmp) - k);
}

static void quoted(wh_sql_t *s, const char *text, char q) {
    wh_sql_addn(s, &q, 1);
    for (const char *p = text; *p; p++) {
        const char *e = strchr(p, q);
        if (!e) {
            wh_sql_add(s, p);
            break;
        }
        wh_sql_addn(s, p, (size_t)(e - p) + 1);
        wh_sql_addn(s, &q, 1);
        p = e;
    }
    wh_sql_addn(s, &q, 1);
}

void wh_sql_ident(wh_sql_t *s, const char *name) { quoted(s, name, '"'); }

void wh_sql_literal(wh_sql_t *s, const char *text) { quoted(s, text, '\''); }

void wh_sql_qualified(wh_sql_t *s, const char *schema, const char *name) {
    if (schema) {
        wh_sql_ident(s, schema);
        wh_sql_add(s, ".");
    }
    wh_sql_ident(s, name);
}

/* 1 if the 8 bytes of w hold one of \\ \n \r \t (the bytes COPY text
   escapes): the classic "has a zero byte" test on w XOR each of them */
#define WH_ONES 0x0101010101010101ULL
#define WH_HIGHS 0x8080808080808080ULL
static int copy_special8(uint64_t w) {
    uint64_t a = w ^ (WH_ONES * '\\'), b = w ^ (WH_ONES * '\n'), c = w ^ (WH_ONES * '\r'),
             d = w ^ (WH_ONES * '\t');
    return (((a - WH_ONES) & ~a) | ((b - WH_ONES) & ~b) | ((c - WH_ONES) & ~c) |
            ((d - WH_ONES) & ~d)) & WH_HIGHS ? 1 : 0;
}

void wh_sql_copy_text(wh_sql_t *s, const char *text, size_t n) {
    size_t start = 0, i = 0;
    for (;;) {
        /* skip 8 plain bytes at a time: payload text rarely needs escapes */
        uint64_t w;
        while (i + 8 <= n && (memcpy(&w, text + i, 8), !copy_special8(w)))
            i += 8;
        if (i >= n)
            break;
        const char *esc = NULL;
        switch (text[i]) {
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: i++; continue;
        }
        wh_sql_addn(s, text + start, i - start);
        wh_sql_add(s, esc);
        start = ++i;
    }
    wh_sql_addn(s, text + start, n - start);
}
