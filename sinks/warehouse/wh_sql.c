/* wh_sql: SQL text building for the warehouse targets (see wh_sql.h). */
#include "wh_sql.h"

#include <stdint.h>
#include <string.h>

#include "buf.h"

/* buf_append with the common case, room enough, inline: every field of a
   COPY stream comes here */
static inline void wh_sql_put(buf_t *s, const void *data, size_t n) {
    if (!s->oom && s->p && n < s->cap - s->len) {
        memcpy(s->p + s->len, data, n);
        s->len += n;
        s->p[s->len] = '\0';
    } else {
        buf_append(s, data, n);
    }
}

void wh_sql_int(buf_t *s, long long v) {
    char tmp[24];
    size_t k = sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--k] = '-';
    wh_sql_put(s, tmp + k, sizeof(tmp) - k);
}

static void wh_sql_quoted(buf_t *s, const char *text, char q) {
    wh_sql_put(s, &q, 1);
    for (const char *p = text; *p; p++) {
        const char *e = strchr(p, q);
        if (!e) {
            buf_puts(s, p);
            break;
        }
        wh_sql_put(s, p, (size_t)(e - p) + 1);
        wh_sql_put(s, &q, 1);
        p = e;
    }
    wh_sql_put(s, &q, 1);
}

void wh_sql_ident(buf_t *s, const char *name) { wh_sql_quoted(s, name, '"'); }

void wh_sql_literal(buf_t *s, const char *text) { wh_sql_quoted(s, text, '\''); }

void wh_sql_qualified(buf_t *s, const char *schema, const char *name) {
    if (schema) {
        wh_sql_ident(s, schema);
        buf_putc(s, '.');
    }
    wh_sql_ident(s, name);
}

/* 1 if the 8 bytes of w hold one of \\ \n \r \t (the bytes COPY text
   escapes): the classic "has a zero byte" test on w XOR each of them */
#define WH_ONES 0x0101010101010101ULL
#define WH_HIGHS 0x8080808080808080ULL
static int wh_sql_copy_special8(uint64_t w) {
    uint64_t a = w ^ (WH_ONES * '\\'), b = w ^ (WH_ONES * '\n'), c = w ^ (WH_ONES * '\r'),
             d = w ^ (WH_ONES * '\t');
    return (((a - WH_ONES) & ~a) | ((b - WH_ONES) & ~b) | ((c - WH_ONES) & ~c) |
            ((d - WH_ONES) & ~d)) & WH_HIGHS ? 1 : 0;
}

void wh_sql_copy_text(buf_t *s, const char *text, size_t n) {
    size_t start = 0, i = 0;
    for (;;) {
        /* skip 8 plain bytes at a time: payload text rarely needs escapes */
        uint64_t w;
        while (i + 8 <= n && (memcpy(&w, text + i, 8), !wh_sql_copy_special8(w)))
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
        wh_sql_put(s, text + start, i - start);
        wh_sql_put(s, esc, 2);
        start = ++i;
    }
    wh_sql_put(s, text + start, n - start);
}

/* ---- COPY binary format ---- */

static void wh_sql_put16(buf_t *s, uint16_t v) {
    char b[2] = {(char)(v >> 8), (char)v};
    wh_sql_put(s, b, 2);
}

static void wh_sql_put32(buf_t *s, uint32_t v) {
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    wh_sql_put(s, b, 4);
}

static void wh_sql_put64(buf_t *s, uint64_t v) {
    char b[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (char)v;
    wh_sql_put(s, b, 8);
}

void wh_sql_bin_header(buf_t *s) {
    /* signature, flags (no OIDs), header extension length */
    wh_sql_put(s, "PGCOPY\n\377\r\n\0", 11);
    wh_sql_put32(s, 0);
    wh_sql_put32(s, 0);
}

void wh_sql_bin_trailer(buf_t *s) { wh_sql_put16(s, 0xffff); }

void wh_sql_bin_tuple(buf_t *s, uint16_t nfields) { wh_sql_put16(s, nfields); }

void wh_sql_bin_null(buf_t *s) { wh_sql_put32(s, 0xffffffffu); }

void wh_sql_bin_int8(buf_t *s, int64_t v) {
    wh_sql_put32(s, 8);
    wh_sql_put64(s, (uint64_t)v);
}

void wh_sql_bin_float8(buf_t *s, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    wh_sql_put32(s, 8);
    wh_sql_put64(s, u);
}

void wh_sql_bin_bool(buf_t *s, int v) {
    wh_sql_put32(s, 1);
    wh_sql_put(s, v ? "\1" : "\0", 1);
}

int wh_sql_bin_text(buf_t *s, const char *text, size_t n) {
    if (n >= WH_SQL_BIN_FIELD_MAX)
        return -1;
    wh_sql_put32(s, (uint32_t)n);
    wh_sql_put(s, text, n);
    return 0;
}

/* 2000-01-01 00:00:00 UTC in µs since the Unix epoch */
#define WH_PG_EPOCH_US 946684800000000LL

int wh_sql_bin_timestamptz(buf_t *s, int64_t unix_us) {
    /* INT64_MIN would be -infinity */
    if (unix_us <= INT64_MIN + WH_PG_EPOCH_US)
        return -1;
    wh_sql_bin_int8(s, unix_us - WH_PG_EPOCH_US);
    return 0;
}

/* numeric's binary form: base-10000 digits, most significant first; the
   weight is the power of 10000 of the first; sign and display scale */
#define WH_NUMERIC_POS 0x0000
#define WH_NUMERIC_NEG 0x4000
#define WH_NUMERIC_DSCALE_MAX 0x3fff
/* numeric_in refuses exponents from INT_MAX / 2 on; a bound well below
   keeps the arithmetic here in range (the weight and scale checks below
   refuse far smaller ones anyway) */
#define WH_NUMERIC_EXP_MAX 100000000

int wh_sql_bin_numeric(buf_t *s, const char *lex, size_t n) {
    size_t i = 0;
    int neg = i < n && lex[i] == '-';
    i += (size_t)neg;
    /* the digits, the point after the integer ones */
    size_t int_start = i;
    while (i < n && lex[i] >= '0' && lex[i] <= '9')
        i++;
    size_t int_end = i, frac_start = i, frac_end = i;
    if (int_end == int_start)
        return -1;
    if (i < n && lex[i] == '.') {
        frac_start = ++i;
        while (i < n && lex[i] >= '0' && lex[i] <= '9')
            i++;
        frac_end = i;
        if (frac_end == frac_start)
            return -1;
    }
    long long exp = 0;
    if (i < n && (lex[i] == 'e' || lex[i] == 'E')) {
        i++;
        int eneg = i < n && lex[i] == '-';
        if (i < n && (lex[i] == '-' || lex[i] == '+'))
            i++;
        if (i == n)
            return -1;
        for (; i < n && lex[i] >= '0' && lex[i] <= '9'; i++)
            if ((exp = exp * 10 + (lex[i] - '0')) > WH_NUMERIC_EXP_MAX)
                return -1;
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return -1;
    long long dscale = (long long)(frac_end - frac_start) - exp;
    if (dscale < 0)
        dscale = 0;
    if (dscale > WH_NUMERIC_DSCALE_MAX)
        return -1;
    /* digit k of the lexeme's digits (integer then fraction ones) stands
       for 10^(nint - 1 - k + exp); find the first and last non-zero one */
    size_t nint = int_end - int_start, ndig = nint + (frac_end - frac_start);
#define WH_DIGIT(k) ((k) < nint ? lex[int_start + (k)] : lex[frac_start + (k) - nint])
    size_t first = 0, last = ndig;
    while (first < ndig && WH_DIGIT(first) == '0')
        first++;
    if (first == ndig) {
        /* zero: no digits, positive, the scale as given */
        wh_sql_put32(s, 8);
        wh_sql_put16(s, 0);
        wh_sql_put16(s, 0);
        wh_sql_put16(s, WH_NUMERIC_POS);
        wh_sql_put16(s, (uint16_t)dscale);
        return 0;
    }
    while (WH_DIGIT(last - 1) == '0')
        last--;
    /* powers of ten of the first and last non-zero digit, and their groups
       of four (floor division: group g holds 10^(4g) .. 10^(4g+3)) */
    long long p_hi = (long long)nint - 1 - (long long)first + exp;
    long long p_lo = (long long)nint - 1 - (long long)(last - 1) + exp;
    long long g_hi = p_hi >= 0 ? p_hi / 4 : -((-p_hi + 3) / 4);
    long long g_lo = p_lo >= 0 ? p_lo / 4 : -((-p_lo + 3) / 4);
    long long ngroups = g_hi - g_lo + 1;
    if (g_hi > INT16_MAX || g_hi < INT16_MIN || ngroups > INT16_MAX)
        return -1;
    wh_sql_put32(s, (uint32_t)(8 + 2 * ngroups));
    wh_sql_put16(s, (uint16_t)ngroups);
    wh_sql_put16(s, (uint16_t)(int16_t)g_hi);
    wh_sql_put16(s, neg ? WH_NUMERIC_NEG : WH_NUMERIC_POS);
    wh_sql_put16(s, (uint16_t)dscale);
    for (long long g = g_hi; g >= g_lo; g--) {
        unsigned v = 0;
        for (long long p = 4 * g + 3; p >= 4 * g; p--) {
            /* the lexeme digit standing for 10^p, if any */
            long long k = (long long)nint - 1 + exp - p;
            v = v * 10 + (k >= (long long)first && k < (long long)last
                              ? (unsigned)(WH_DIGIT((size_t)k) - '0') : 0);
        }
        wh_sql_put16(s, (uint16_t)v);
    }
#undef WH_DIGIT
    return 0;
}
