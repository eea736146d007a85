/* wh_sql: SQL text building for the warehouse targets (see wh_sql.h). */
#include "wh_sql.h"

#include <stdarg.h>
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

void wh_sql_copy_text(wh_sql_t *s, const char *text, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (text[i]) {
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: continue;
        }
        wh_sql_addn(s, text + start, i - start);
        wh_sql_add(s, esc);
        start = i + 1;
    }
    wh_sql_addn(s, text + start, n - start);
}
