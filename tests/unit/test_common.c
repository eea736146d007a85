/* Unit tests for the utility layer in common/: net_addr, rfc3339, event. */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "event.h"
#include "harness.h"
#include "net_addr.h"
#include "rfc3339.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_net_addr(void) {
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[256];
    CHECK_INT(net_addr_parse("127.0.0.1:80", &ss, &sl, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(net_addr_parse("[::1]:80", &ss, &sl, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK_INT(net_addr_parse(":8080", &ss, &sl, err, sizeof(err)), -1);
    CHECK_INT(net_addr_parse("127.0.0.1:http", &ss, &sl, err, sizeof(err)), -1);
}

static void test_rfc3339_format(void) {
    static const struct {
        int64_t us;
        rfc3339_form_t form;
        const char *want;
    } cases[] = {
        {1795724077123456LL, RFC3339_MICROS, "2026-11-26T20:14:37.123456Z"},
        {1795724077123456LL, RFC3339_MILLIS, "2026-11-26T20:14:37.123Z"},
        {1795724077123456LL, RFC3339_SQL_MICROS, "2026-11-26 20:14:37.123456+00:00"},
        {1795724077123456LL, RFC3339_BASIC_MILLIS, "20261126T201437123Z"},
        {1795724077999999LL, RFC3339_MILLIS, "2026-11-26T20:14:37.999Z"}, /* truncated */
        {0, RFC3339_MICROS, "1970-01-01T00:00:00.000000Z"},
        {-1, RFC3339_MICROS, "1969-12-31T23:59:59.999999Z"},
        {-500000, RFC3339_SQL_MICROS, "1969-12-31 23:59:59.500000+00:00"},
        {951868799000000LL, RFC3339_MICROS, "2000-02-29T23:59:59.000000Z"},
        {951868800000000LL, RFC3339_MICROS, "2000-03-01T00:00:00.000000Z"},
        {-62167219200000000LL, RFC3339_MICROS, "0000-01-01T00:00:00.000000Z"},
        {253402300799999999LL, RFC3339_MICROS, "9999-12-31T23:59:59.999999Z"},
        {INT64_MAX, RFC3339_MICROS, "294247-01-10T04:00:54.775807Z"},
        {INT64_MIN, RFC3339_SQL_MICROS, "-290308-12-21 19:59:05.224192+00:00"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char out[RFC3339_MAX];
        size_t n = rfc3339_format(cases[i].us, cases[i].form, out, sizeof(out));
        CHECK_STR(out, cases[i].want);
        CHECK_INT(n, strlen(cases[i].want));
    }
    /* snprintf rules: truncated, terminated, the needed length returned */
    char small[8];
    CHECK_INT(rfc3339_format(0, RFC3339_MICROS, small, sizeof(small)), RFC3339_MICROS_LEN);
    CHECK_STR(small, "1970-01");
    CHECK_INT(rfc3339_format(0, RFC3339_MICROS, NULL, 0), RFC3339_MICROS_LEN);
}

/* The same text as gmtime_r, which the copies this module replaced used,
 * over four centuries either side of 1970 and at every day boundary. */
static void test_rfc3339_matches_gmtime(void) {
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t us = (int64_t)(x % (2 * 12622780800000000ULL)) - 12622780800000000LL;
        if (i % 4 == 0)
            us -= us % 86400000000LL; /* midnight */
        int64_t secs = us / 1000000, frac = us % 1000000;
        if (frac < 0)
            frac += 1000000, secs--;
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[64], got[RFC3339_MAX];
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
        rfc3339_format(us, RFC3339_MICROS, got, sizeof(got));
        if (strcmp(got, want) != 0) {
            HARNESS_FAIL("%lld: %s, want %s", (long long)us, got, want);
            return;
        }
        int64_t back = 0;
        if (rfc3339_parse(got, strlen(got), &back) != 0 || back != us) {
            HARNESS_FAIL("%s: parsed back as %lld, want %lld", got, (long long)back,
                         (long long)us);
            return;
        }
    }
}

static void test_rfc3339_parse(void) {
    static const struct {
        const char *in;
        size_t len; /* 0: strlen */
        int rc;
        int64_t us;
    } cases[] = {
        {"2026-11-26T20:14:37.123456Z", 0, 0, 1795724077123456LL},
        {"2026-11-26T20:14:37.123456+00:00", 0, 0, 1795724077123456LL},
        {"2026-11-26T20:14:37.123456-00:00", 0, 0, 1795724077123456LL},
        {"2026-11-26t20:14:37.123456z", 0, 0, 1795724077123456LL},
        {"2026-11-26T20:14:37.123456789Z", 0, 0, 1795724077123456LL},
        {"2026-11-26T20:14:37.1Z", 0, 0, 1795724077100000LL},
        {"1970-01-01T00:00:00Z", 0, 0, 0},
        {"1969-12-31T23:59:59.5Z", 0, 0, -500000},
        {"2000-02-29T23:59:59Z", 0, 0, 951868799000000LL},
        {"2026-11-26T23:59:60Z", 0, 0, 1795737600000000LL}, /* leap second */
        {"0000-01-01T00:00:00Z", 0, 0, -62167219200000000LL},
        {"9999-12-31T23:59:59.999999Z", 0, 0, 253402300799999999LL},
        /* a header value is not NUL-terminated: len ends it */
        {"2026-11-26T20:14:37.123456Zgarbage", 27, 0, 1795724077123456LL},
        /* malformed */
        {"2026-02-29T00:00:00Z", 0, -1, 0},
        {"1900-02-29T00:00:00Z", 0, -1, 0},
        {"2026-04-31T00:00:00Z", 0, -1, 0},
        {"2026-00-10T00:00:00Z", 0, -1, 0},
        {"2026-11-00T00:00:00Z", 0, -1, 0},
        {"2026-11-26 20:14:37Z", 0, -1, 0},
        {"2026-11-26T20:14:37", 0, -1, 0},
        {"2026-11-26T20:14:37+01:00", 0, -1, 0},
        {"2026-11-26T20:14:37+00:0", 0, -1, 0},
        {"2026-11-26T20:14:37+0000", 0, -1, 0},
        {"2026-11-26T20:14:37.Z", 0, -1, 0},
        {"2026-11-26T20:14:37.1234567890Z", 0, -1, 0},
        {"2026-11-26T20:14:37,123Z", 0, -1, 0},
        {"2026-13-26T20:14:37Z", 0, -1, 0},
        {"2026-11-26T24:14:37Z", 0, -1, 0},
        {"2026-11-26T20:60:37Z", 0, -1, 0},
        {"2026-11-26T20:14:61Z", 0, -1, 0},
        {"2026-11-26T20:14:37ZZ", 0, -1, 0},
        {"2026-11-26T20:14:37Z ", 0, -1, 0},
        {" 2026-11-26T20:14:37Z", 0, -1, 0},
        {"+026-11-26T20:14:37Z", 0, -1, 0},
        {"-026-11-26T20:14:37Z", 0, -1, 0},
        {"2026-+1-26T20:14:37Z", 0, -1, 0},
        {"2026-11-2 T20:14:37Z", 0, -1, 0},
        {"20261126T201437Z", 0, -1, 0},
        {"2026-11-26T20:14:37\0Z", 21, -1, 0},
        {"2026-11-26T20:14:37.123456Z", 26, -1, 0}, /* cut before the zone */
        {"2026-11-26T20:14:3", 0, -1, 0},
        {"T", 0, -1, 0},
        {"", 0, -1, 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        int64_t us = 42;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        int rc = rfc3339_parse(cases[i].in, len, &us);
        if (rc != cases[i].rc || (rc == 0 && us != cases[i].us) || (rc != 0 && us != 42))
            HARNESS_FAIL("\"%.*s\": rc %d us %lld, want %d %lld", (int)len, cases[i].in, rc,
                         (long long)us, cases[i].rc, (long long)cases[i].us);
    }
    CHECK_INT(rfc3339_parse(NULL, 0, &(int64_t){0}), -1);
    /* every proper prefix of a valid text is malformed (no zone) */
    const char *full = "2026-11-26T20:14:37.123456Z";
    for (size_t n = 0; n < strlen(full); n++)
        if (rfc3339_parse(full, n, &(int64_t){0}) != -1)
            HARNESS_FAIL("prefix of %zu bytes parsed", n);
    CHECK(rfc3339_now_us() > 1764547200000000LL); /* after 2025-12-01 */
}

static void test_event_received_at(void) {
    char out[EVENT_RECEIVED_AT_MAX];
    CHECK_INT(event_received_at_format(1795724077123456LL, out, sizeof(out)), RFC3339_MICROS_LEN);
    CHECK_STR(out, "2026-11-26T20:14:37.123456Z");
    int64_t us = 0;
    CHECK_INT(event_received_at_parse(out, strlen(out), &us), 0);
    CHECK_INT(us, 1795724077123456LL);
    CHECK_INT(event_received_at_parse("yesterday", 9, &us), -1);
    CHECK_STR(EVENT_HDR_RECEIVED_AT, "hookpipe-received-at");
    CHECK_STR(EVENT_HDR_SEQUENCE, "hookpipe-sequence");
}

static void test_event_sequence(void) {
    static const struct {
        const char *in;
        int rc;
        int64_t v;
    } cases[] = {
        {"1795724077123456789", 0, 1795724077123456789LL},
        {"0", 0, 0},
        {"-0", 0, 0},
        {"-5", 0, -5},
        {"007", 0, 7},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", -1, 0},
        {"-9223372036854775809", -1, 0},
        {"99999999999999999999", -1, 0},
        {"00000000000000000001", -1, 0}, /* 20 digits */
        {"", -1, 0},
        {"-", -1, 0},
        {"--1", -1, 0},
        {"+1", -1, 0},
        {"12a", -1, 0},
        {" 1", -1, 0},
        {"1 ", -1, 0},
        {"1.0", -1, 0},
        {"0x10", -1, 0},
        {"1e9", -1, 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        int64_t v = 42;
        int rc = event_sequence_parse(cases[i].in, strlen(cases[i].in), &v);
        if (rc != cases[i].rc || (rc == 0 && v != cases[i].v) || (rc != 0 && v != 42))
            HARNESS_FAIL("\"%s\": rc %d v %lld, want %d %lld", cases[i].in, rc, (long long)v,
                         cases[i].rc, (long long)cases[i].v);
    }
    CHECK_INT(event_sequence_parse("12\0" "3", 4, &(int64_t){0}), -1);
    CHECK_INT(event_sequence_parse("123", 2, &(int64_t){0}), 0);
    CHECK_INT(event_sequence_parse(NULL, 0, &(int64_t){0}), -1);
    static const int64_t round[] = {0, 1, -1, 1795724077123456789LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < N_ELEMS(round); i++) {
        char out[EVENT_SEQUENCE_MAX];
        size_t n = event_sequence_format(round[i], out);
        int64_t v = 0;
        CHECK_INT(n, strlen(out));
        CHECK_INT(event_sequence_parse(out, n, &v), 0);
        CHECK_INT(v, round[i]);
    }
}

int main(void) {
    TEST(test_net_addr);
    TEST(test_rfc3339_format);
    TEST(test_rfc3339_matches_gmtime);
    TEST(test_rfc3339_parse);
    TEST(test_event_received_at);
    TEST(test_event_sequence);
    return test_done();
}
