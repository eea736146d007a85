/* sink_sys: header parsers for the system fields. */
#include "sink_sys.h"

static int digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int sink_sys_parse_time(const char *s, size_t len, int64_t *us) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, frac = 0, nfrac = 0;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    size_t p = 19;
    if (p < len && s[p] == '.') {
        p++;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            if (nfrac < 6)
                frac = frac * 10 + (s[p] - '0');
            nfrac++;
            p++;
        }
        if (nfrac == 0 || nfrac > 9)
            return -1;
        for (int k = nfrac; k < 6; k++)
            frac *= 10;
    }
    if (!((len - p == 1 && (s[p] == 'Z' || s[p] == 'z')) ||
          (len - p == 6 && (s[p] == '+' || s[p] == '-') && s[p + 1] == '0' && s[p + 2] == '0' &&
           s[p + 3] == ':' && s[p + 4] == '0' && s[p + 5] == '0')))
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *us = secs * 1000000 + frac;
    return 0;
}

int sink_sys_parse_sequence(const char *s, size_t len, int64_t *out) {
    size_t p = 0;
    int neg = 0;
    uint64_t v = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        p = 1;
    }
    if (p == len || len - p > 19)
        return -1;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < len; p++) {
        if (s[p] < '0' || s[p] > '9')
            return -1;
        uint64_t dig = (uint64_t)(s[p] - '0');
        if (v > (limit - dig) / 10)
            return -1;
        v = v * 10 + dig;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}
