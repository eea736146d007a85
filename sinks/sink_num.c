/* sink_num: JSON number lexeme -> long, double or exact Avro decimal. */
#include "sink_num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More significant digits than this can never be a decimal(76, 38). */
#define CANON_MAX_DIGITS (SINK_DECIMAL_PRECISION + 1)
#define EXP_SATURATE 1000000000LL

/* A number as (-1)^neg * digits * 10^x, digits without leading or trailing
 * zeros (nd == 0 means zero). `over` when there were more than
 * CANON_MAX_DIGITS significant digits (digits then holds a prefix). */
typedef struct canon {
    int neg, over;
    int nd;
    char d[CANON_MAX_DIGITS];
    long long x;
} canon_t;

static void canon_push(canon_t *c, char ch) {
    if (c->nd < CANON_MAX_DIGITS)
        c->d[c->nd++] = ch;
    else
        c->over = 1;
}

static void canon_parse(const char *s, size_t len, canon_t *c) {
    size_t p = 0;
    long long zeros = 0, frac = 0, e = 0;
    int nonzero = 0, in_frac = 0, eneg = 0;

    memset(c, 0, sizeof(*c));
    if (p < len && s[p] == '-') {
        c->neg = 1;
        p++;
    }
    for (; p < len && !c->over; p++) {
        char ch = s[p];
        if (ch == '.') {
            in_frac = 1;
            continue;
        }
        if (ch == 'e' || ch == 'E')
            break;
        if (in_frac)
            frac++;
        if (ch == '0') {
            /* zeros are significant only when a non-zero digit follows */
            if (nonzero)
                zeros++;
            continue;
        }
        nonzero = 1;
        if (zeros > CANON_MAX_DIGITS) {
            c->over = 1;
            break;
        }
        for (; zeros > 0; zeros--)
            canon_push(c, '0');
        canon_push(c, ch);
    }
    if (c->over)
        return;
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            eneg = s[p++] == '-';
        for (; p < len; p++)
            if (e < EXP_SATURATE)
                e = e * 10 + (s[p] - '0');
        if (eneg)
            e = -e;
    }
    c->x = zeros - frac + e;
}

static int canon_equal(const canon_t *a, const canon_t *b) {
    return a->neg == b->neg && a->nd == b->nd && a->x == b->x && !a->over && !b->over &&
           memcmp(a->d, b->d, (size_t)a->nd) == 0;
}

/* Fits decimal(SINK_DECIMAL_PRECISION, SINK_DECIMAL_SCALE)? */
static int canon_decimal_ok(const canon_t *c) {
    long long frac = c->x < 0 ? -c->x : 0;
    long long intd = c->nd + c->x > 0 ? c->nd + c->x : 0;
    return !c->over && frac <= SINK_DECIMAL_SCALE &&
           intd <= SINK_DECIMAL_PRECISION - SINK_DECIMAL_SCALE;
}

static double lex_strtod(const char *lex, size_t len) {
    char tmp[128];
    if (len < sizeof(tmp)) {
        memcpy(tmp, lex, len);
        tmp[len] = '\0';
        return strtod(tmp, NULL);
    }
    char *heap = malloc(len + 1);
    if (!heap)
        return NAN;
    memcpy(heap, lex, len);
    heap[len] = '\0';
    double d = strtod(heap, NULL);
    free(heap);
    return d;
}

sink_num_kind_t sink_num_classify(const char *lex, size_t len, int64_t *i, double *d) {
    size_t p = 0;
    int neg = 0, integral = 1;

    if (len > 0 && lex[0] == '-') {
        neg = 1;
        p = 1;
    }
    for (size_t q = p; q < len; q++)
        if (lex[q] == '.' || lex[q] == 'e' || lex[q] == 'E') {
            integral = 0;
            break;
        }
    if (integral) {
        uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = len - p <= 19;
        for (; fits && p < len; p++) {
            uint64_t dig = (uint64_t)(lex[p] - '0');
            if (v > (limit - dig) / 10)
                fits = 0;
            else
                v = v * 10 + dig;
        }
        if (fits) {
            *i = neg ? (int64_t)(0 - v) : (int64_t)v;
            return SINK_NUM_LONG;
        }
    }

    canon_t c;
    canon_parse(lex, len, &c);
    if (!integral && !c.over) {
        long long e10 = c.nd + c.x - 1;
        if (c.nd == 0) {
            *d = neg ? -0.0 : 0.0;
            return SINK_NUM_DOUBLE;
        }
        /* DBL_DIG: any decimal of 15 significant digits in the normal range
         * survives decimal -> double -> decimal */
        if (c.nd <= 15 && e10 >= -307 && e10 <= 308) {
            *d = lex_strtod(lex, len);
            return SINK_NUM_DOUBLE;
        }
        /* 16-17 digits, or a subnormal: keep the double only if printing it
         * with the lexeme's digit count gives the lexeme's value back */
        if (c.nd <= 17) {
            double v = lex_strtod(lex, len);
            if (isfinite(v) && v != 0) {
                char back[64];
                canon_t cb;
                int n = snprintf(back, sizeof(back), "%.*e", c.nd - 1, v);
                canon_parse(back, (size_t)n, &cb);
                if (canon_equal(&c, &cb)) {
                    *d = v;
                    return SINK_NUM_DOUBLE;
                }
            }
        }
    }
    return canon_decimal_ok(&c) ? SINK_NUM_DECIMAL : SINK_NUM_BAD;
}

int sink_num_decimal_bytes(const char *lex, size_t len,
                           unsigned char out[SINK_DECIMAL_MAX_BYTES], size_t *out_len) {
    canon_t c;
    unsigned char mag[SINK_DECIMAL_MAX_BYTES];
    canon_parse(lex, len, &c);
    if (!canon_decimal_ok(&c))
        return -1;
    memset(mag, 0, sizeof(mag));
    long long total = c.nd + c.x + SINK_DECIMAL_SCALE;
    for (long long k = 0; k < total; k++) {
        unsigned carry = k < c.nd ? (unsigned)(c.d[k] - '0') : 0;
        for (int b = SINK_DECIMAL_MAX_BYTES - 1; b >= 0; b--) {
            unsigned v = mag[b] * 10u + carry;
            mag[b] = (unsigned char)(v & 0xff);
            carry = v >> 8;
        }
    }
    if (c.neg) {
        unsigned carry = 1;
        for (int b = SINK_DECIMAL_MAX_BYTES - 1; b >= 0; b--) {
            unsigned v = (unsigned)(unsigned char)~mag[b] + carry;
            mag[b] = (unsigned char)(v & 0xff);
            carry = v >> 8;
        }
    }
    int start = 0;
    while (start < SINK_DECIMAL_MAX_BYTES - 1 &&
           ((mag[start] == 0x00 && !(mag[start + 1] & 0x80)) ||
            (mag[start] == 0xff && (mag[start + 1] & 0x80))))
        start++;
    *out_len = (size_t)(SINK_DECIMAL_MAX_BYTES - start);
    memcpy(out, mag + start, *out_len);
    return 0;
}

int sink_num_decimal_fixed(const char *lex, size_t len, unsigned char out[SINK_DECIMAL_FIXED_SIZE]) {
    unsigned char min[SINK_DECIMAL_MAX_BYTES];
    size_t n;
    if (sink_num_decimal_bytes(lex, len, min, &n) < 0 || n > SINK_DECIMAL_FIXED_SIZE)
        return -1;
    memset(out, min[0] & 0x80 ? 0xff : 0x00, SINK_DECIMAL_FIXED_SIZE - n);
    memcpy(out + SINK_DECIMAL_FIXED_SIZE - n, min, n);
    return 0;
}
