/* rfc3339: µs since the epoch <-> RFC 3339 UTC text, without gmtime. */
#include "rfc3339.h"

#include <stdio.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil, exact for every int64 year in range). */
static int64_t rfc3339_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: the date of a day count since 1970-01-01. */
static void rfc3339_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

size_t rfc3339_format(int64_t us, rfc3339_form_t form, char *out, size_t size) {
    /* floor division, so instants before 1970 count down from the next second */
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    int mo, d;
    rfc3339_civil_from_days(days, &y, &mo, &d);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), se = (int)(sod % 60);
    long long yy = (long long)y;
    int n;
    switch (form) {
    case RFC3339_MILLIS:
        n = snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", yy, mo, d, h, mi, se,
                     (int)(frac / 1000));
        break;
    case RFC3339_SQL_MICROS:
        n = snprintf(out, size, "%04lld-%02d-%02d %02d:%02d:%02d.%06d+00:00", yy, mo, d, h, mi,
                     se, (int)frac);
        break;
    case RFC3339_BASIC_MILLIS:
        n = snprintf(out, size, "%04lld%02d%02dT%02d%02d%02d%03dZ", yy, mo, d, h, mi, se,
                     (int)(frac / 1000));
        break;
    case RFC3339_MICROS:
    default:
        n = snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", yy, mo, d, h, mi, se,
                     (int)frac);
        break;
    }
    return n < 0 ? 0 : (size_t)n;
}

int64_t rfc3339_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* n decimal digits (no sign, no space) to *out. 0, or -1. */
static int rfc3339_digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int rfc3339_parse(const char *s, size_t len, int64_t *us) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, frac = 0, nfrac = 0;
    if (!s || len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    if (rfc3339_digits(s, 4, &y) || rfc3339_digits(s + 5, 2, &mo) ||
        rfc3339_digits(s + 8, 2, &d) || rfc3339_digits(s + 11, 2, &h) ||
        rfc3339_digits(s + 14, 2, &mi) || rfc3339_digits(s + 17, 2, &se))
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
    int64_t secs = rfc3339_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *us = secs * 1000000 + frac;
    return 0;
}
