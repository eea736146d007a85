/* event: the text forms of the hookpipe-received-at and hookpipe-sequence headers. */
#include "event.h"

#include <stdio.h>

#include "rfc3339.h"

_Static_assert(EVENT_RECEIVED_AT_MAX >= RFC3339_MAX, "received-at buffer too small");

size_t event_received_at_format(int64_t us, char *out, size_t size) {
    return rfc3339_format(us, RFC3339_MICROS, out, size);
}

int event_received_at_parse(const char *s, size_t len, int64_t *us) {
    return rfc3339_parse(s, len, us);
}

size_t event_sequence_format(int64_t seq, char out[EVENT_SEQUENCE_MAX]) {
    int n = snprintf(out, EVENT_SEQUENCE_MAX, "%lld", (long long)seq);
    return n < 0 ? 0 : (size_t)n;
}

int event_sequence_parse(const char *s, size_t len, int64_t *seq) {
    size_t p = 0;
    int neg = 0;
    uint64_t v = 0;
    if (!s)
        return -1;
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
    *seq = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}
