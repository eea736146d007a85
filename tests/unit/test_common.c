/* Unit tests for the utility layer in common/: net_addr, rfc3339, event,
 * buf, arena, hex, base64, the kafka.* defaults, the client-id rule, the
 * main() prologue and the compacted-topic reader (against librdkafka's mock
 * cluster). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "arena.h"
#include "base64.h"
#include "buf.h"
#include "cfg.h"
#include "event.h"
#include "harness.h"
#include "hex.h"
#include "integ.h"
#include "kafka.h"
#include "ktable.h"
#include "net_addr.h"
#include "prog.h"
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

static void test_buf_basics(void) {
    buf_t b = BUF_INIT;
    CHECK_STR(buf_str(&b), "");
    CHECK_INT(buf_append(&b, NULL, 0), 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(buf_puts(&b, "abc"), 0);
    CHECK_INT(buf_putc(&b, '-'), 0);
    CHECK_INT(buf_printf(&b, "%d:%s", 42, "x"), 0);
    CHECK_STR(buf_str(&b), "abc-42:x");
    CHECK_INT(b.len, 8);
    /* embedded NUL bytes are kept; the length counts them */
    CHECK_INT(buf_append(&b, "\0z", 2), 0);
    CHECK_MEM(b.p, b.len, "abc-42:x\0z", 10);
    buf_truncate(&b, 3);
    CHECK_STR(buf_str(&b), "abc");
    buf_truncate(&b, 100);              /* longer than the contents: nothing */
    CHECK_INT(b.len, 3);
    buf_reset(&b);
    CHECK_STR(buf_str(&b), "");
    CHECK(b.cap > 0);                   /* memory kept for reuse */
    buf_free(&b);
    CHECK(b.p == NULL);
    buf_free(&b);                       /* twice: a no-op */
}

static void test_buf_growth(void) {
    /* printf across the first capacity, many times over: every byte right */
    buf_t b = BUF_INIT;
    char want[64];
    size_t total = 0;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(want, sizeof(want), "<%d|%s>", i, i % 7 ? "xyz" : "");
        CHECK_INT(buf_printf(&b, "<%d|%s>", i, i % 7 ? "xyz" : ""), 0);
        total += (size_t)n;
        CHECK_MEM(b.p + total - (size_t)n, n, want, n);
    }
    CHECK_INT(b.len, total);
    CHECK_INT(strlen(b.p), total);
    /* a single append far larger than the capacity */
    char *big = malloc(1 << 20);
    memset(big, 'q', 1 << 20);
    CHECK_INT(buf_reserve(&b, 0), 0);
    CHECK_INT(buf_append(&b, big, 1 << 20), 0);
    CHECK_INT(b.len, total + (1 << 20));
    CHECK(b.p[b.len] == '\0');
    free(big);
    buf_free(&b);
}

static void test_buf_detach(void) {
    buf_t b = BUF_INIT;
    size_t len = 99;
    char *s = buf_detach(&b, &len);     /* nothing appended: an empty string */
    CHECK_STR(s, "");
    CHECK_INT(len, 0);
    free(s);
    buf_puts(&b, "hello");
    s = buf_detach(&b, &len);
    CHECK_STR(s, "hello");
    CHECK_INT(len, 5);
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
    free(s);
    s = buf_detach(&b, NULL);
    CHECK_STR(s, "");
    free(s);
}

static void test_buf_oom_sticky(void) {
    /* an impossible size fails as out of memory, never aborts, and sticks */
    buf_t b = BUF_INIT;
    CHECK_INT(buf_puts(&b, "keep"), 0);
    CHECK_INT(buf_reserve(&b, SIZE_MAX - 2), -1);
    CHECK_INT(b.oom, 1);
    CHECK_INT(buf_puts(&b, "more"), -1);
    CHECK_INT(buf_printf(&b, "%s", "more"), -1);
    CHECK_STR(buf_str(&b), "keep");     /* contents as they were */
    size_t len = 7;
    CHECK(buf_detach(&b, &len) == NULL);
    CHECK_INT(len, 0);
    CHECK_INT(b.oom, 0);                /* detach leaves it usable */
    CHECK_INT(buf_puts(&b, "again"), 0);
    CHECK_INT(buf_append(&b, "x", SIZE_MAX), -1);
    buf_reset(&b);
    CHECK_INT(b.oom, 0);
    CHECK_INT(buf_puts(&b, "ok"), 0);
    CHECK_STR(buf_str(&b), "ok");
    buf_free(&b);
}

static void test_arena(void) {
    arena_t a = {0};
    arena_init(&a, 64, 256, 512);
    void *ptrs[400];
    for (size_t i = 0; i < 400; i++) {
        size_t n = (i * 37) % 90;       /* 0..89 bytes, some 0 */
        unsigned char *p = arena_alloc(&a, n);
        CHECK(p != NULL);
        CHECK_INT((uintptr_t)p % ARENA_ALIGN, 0);
        memset(p, (int)(i & 0xff), n);
        ptrs[i] = p;
    }
    /* nothing overlapped: every block still holds its own byte */
    for (size_t i = 0; i < 400; i++) {
        size_t n = (i * 37) % 90;
        for (size_t k = 0; k < n; k++)
            if (((unsigned char *)ptrs[i])[k] != (unsigned char)(i & 0xff)) {
                CHECK_INT(((unsigned char *)ptrs[i])[k], i & 0xff);
                break;
            }
    }
    /* 0-byte allocations are distinct pointers */
    void *z1 = arena_alloc(&a, 0), *z2 = arena_alloc(&a, 0);
    CHECK(z1 && z2 && z1 != z2);
    /* a block larger than chunk_max gets a chunk of its own */
    char *big = arena_alloc(&a, 10000);
    CHECK(big != NULL);
    memset(big, 1, 10000);
    size_t before = a.total;
    CHECK(before > 512);
    arena_reset(&a);
    CHECK(a.total <= 512 + 64);         /* kept at most keep_max (head always) */
    CHECK(a.head != NULL);
    char *s = arena_strndup(&a, "abc\0def", 7);
    CHECK_MEM(s, 8, "abc\0def", 8);
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);          /* overflow: NULL, no abort */
    CHECK(arena_alloc(&a, SIZE_MAX - 8) == NULL);
    CHECK(arena_strndup(&a, "x", SIZE_MAX) == NULL);
    CHECK(arena_alloc(&a, 8) != NULL);                 /* still usable */
    arena_free(&a);
    CHECK(a.head == NULL && a.total == 0);
    arena_free(&a);
    CHECK(arena_alloc(&a, 5) != NULL);                 /* reusable after free */
    arena_free(&a);
}

static void test_arena_reuse(void) {
    /* after a reset the kept chunks are reused, not reallocated */
    arena_t a = {0};
    arena_init(&a, 128, 128, 1 << 20);
    for (int i = 0; i < 50; i++)
        CHECK(arena_alloc(&a, 100) != NULL);
    size_t total = a.total;
    for (int round = 0; round < 3; round++) {
        arena_reset(&a);
        for (int i = 0; i < 50; i++)
            CHECK(arena_alloc(&a, 100) != NULL);
        CHECK_INT(a.total, total);
    }
    arena_free(&a);
}

static void test_hex(void) {
    char out[9];
    hex_encode("\x00\x9f\xff\x10", 4, out);
    CHECK_STR(out, "009fff10");
    hex_encode("", 0, out);
    CHECK_STR(out, "");
    static const struct {
        const char *in;
        hex_case_t accept;
        int want;               /* bytes, or -1 */
        const char *bytes;
    } cases[] = {
        {"", HEX_ANY_CASE, 0, ""},
        {"00ff", HEX_ANY_CASE, 2, "\x00\xff"},
        {"00FF", HEX_ANY_CASE, 2, "\x00\xff"},
        {"00FF", HEX_LOWER, -1, NULL},
        {"aB", HEX_ANY_CASE, 1, "\xab"},
        {"0", HEX_ANY_CASE, -1, NULL},          /* odd */
        {"0g", HEX_ANY_CASE, -1, NULL},
        {"0 ", HEX_ANY_CASE, -1, NULL},
        {"\xc3\xa9", HEX_ANY_CASE, -1, NULL},   /* non-ASCII */
        {"0123456789abcdef01", HEX_ANY_CASE, -1, NULL},  /* too long for out */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char b[8];
        int n = hex_decode(cases[i].in, strlen(cases[i].in), b, sizeof(b), cases[i].accept);
        CHECK_INT(n, cases[i].want);
        if (n > 0)
            CHECK_MEM(b, n, cases[i].bytes, n);
    }
    CHECK_INT(hex_decode("abcd", 4, NULL, 2, HEX_LOWER), 2);   /* check only */
    CHECK_INT(hex_digit_value('F', HEX_ANY_CASE), 15);
    CHECK_INT(hex_digit_value('F', HEX_LOWER), -1);
    CHECK_INT(hex_digit_value(-1, HEX_ANY_CASE), -1);
    CHECK_INT(hex_digits[10], 'a');
}

static void test_base64(void) {
    static const struct {
        const char *raw;
        const char *enc;
    } rfc[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},        {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        char enc[16];
        unsigned char dec[16];
        size_t n = strlen(rfc[i].raw);
        CHECK_INT(base64_encode(rfc[i].raw, n, enc), BASE64_ENCODED_LEN(n));
        CHECK_STR(enc, rfc[i].enc);
        CHECK_INT(base64_decode(rfc[i].enc, strlen(rfc[i].enc), dec, sizeof(dec)), n);
        CHECK_MEM(dec, n, rfc[i].raw, n);
    }
    static const struct {
        const char *in;
        int want;
    } odd[] = {
        {"Zm9vYmE", 5},         /* unpadded */
        {"-_-_", 3},            /* URL alphabet */
        {"+/+/", 3},
        {"Z", -1},              /* impossible length */
        {"Zm9v!A==", -1},
        {"Zm 9v", -1},
        {"Zm9vYmFyYmF6cXV4", -1},   /* more than out_size (8) */
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        unsigned char dec[8];
        CHECK_INT(base64_decode(odd[i].in, strlen(odd[i].in), dec, sizeof(dec)), odd[i].want);
    }
    /* every byte value round-trips */
    unsigned char all[256], back[256];
    char enc[BASE64_ENCODED_LEN(256) + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    base64_encode(all, 256, enc);
    CHECK_INT(base64_decode(enc, strlen(enc), back, sizeof(back)), 256);
    CHECK_MEM(back, 256, all, 256);
}

static void test_kafka_default(void) {
    static const cfg_opt_t table[] = {{"x", CFG_STR, NULL, 0, -1, 0, "x"}};
    char *argv[] = {"t", "-X", "linger.ms=7", "--kafka.acks=1", NULL};
    char err[256];
    cfg_t *cfg = cfg_new("t", "", table, 1, "HOOKPIPE_TEST_COMMON");
    CHECK_INT(cfg_load(cfg, 4, argv, err, sizeof(err)), 0);
    CHECK_STR(kafka_cfg_get(cfg, "linger.ms"), "7");
    CHECK_STR(kafka_cfg_get(cfg, "acks"), "1");
    CHECK(kafka_cfg_get(cfg, "client.id") == NULL);
    CHECK(kafka_cfg_get(NULL, "acks") == NULL);
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, err, sizeof(err));
    CHECK(conf != NULL);
    /* the user's value wins; an unset property gets ours */
    CHECK_INT(kafka_conf_default(conf, cfg, "linger.ms", "100", err, sizeof(err)), 0);
    CHECK_INT(kafka_conf_default(conf, cfg, "client.id", "ours", err, sizeof(err)), 0);
    char v[64];
    size_t vs = sizeof(v);
    CHECK_INT(rd_kafka_conf_get(conf, "linger.ms", v, &vs), RD_KAFKA_CONF_OK);
    CHECK_STR(v, "7");
    vs = sizeof(v);
    CHECK_INT(rd_kafka_conf_get(conf, "client.id", v, &vs), RD_KAFKA_CONF_OK);
    CHECK_STR(v, "ours");
    /* a bad default is an error with the property's name */
    CHECK_INT(kafka_conf_default(conf, cfg, "no.such.property", "1", err, sizeof(err)), -1);
    CHECK(strstr(err, "kafka.no.such.property") != NULL);
    rd_kafka_conf_destroy(conf);
    cfg_destroy(cfg);
}

static void test_client_id(void) {
    static const struct {
        const char *id;
        int ok;
    } cases[] = {
        {"48213977", 1}, {"a-b.c_d~E", 1}, {"", 0}, {"a/b", 0}, {"a b", 0}, {"a%20", 0},
        {"\xc3\xa9", 0}, {"a?b", 0},
        {"1234567890123456789012345678901234567890123456789012345678901234", 1},   /* 64 */
        {"12345678901234567890123456789012345678901234567890123456789012345", 0},  /* 65 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (integ_client_id_ok(cases[i].id) != cases[i].ok)
            HARNESS_FAIL("integ_client_id_ok(\"%s\") != %d", cases[i].id, cases[i].ok);
    for (int i = 0; i < 50; i++) {
        char id[9];
        CHECK_INT(integ_client_id_new(id), 0);
        CHECK_INT(strlen(id), 8);
        CHECK(id[0] >= '1' && id[0] <= '9');
        CHECK(integ_client_id_ok(id));
        CHECK_INT(strspn(id, "0123456789"), 8);
    }
}

static void test_prog_load(void) {
    static const cfg_opt_t table[] = {{"log.level", CFG_STR, "info", 0, -1, 0, "level"}};
    static const struct {
        int argc;
        char *argv[4];
        prog_rc_t want;
    } cases[] = {
        {1, {"p"}, PROG_RUN},
        {2, {"p", "--help"}, PROG_HELP},
        {2, {"p", "stray"}, PROG_USAGE},
        {2, {"p", "--no-such-option=1"}, PROG_USAGE},
        {3, {"p", "--log.level", "debug"}, PROG_RUN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg_t *cfg = cfg_new("test-prog", NULL, table, 1, "HOOKPIPE_TEST_PROG");
        FILE *saved = stdout;
        stdout = fopen("/dev/null", "w");       /* --help prints */
        prog_rc_t rc = prog_load(cfg, cases[i].argc, (char **)cases[i].argv);
        fclose(stdout);
        stdout = saved;
        if (rc != cases[i].want)
            HARNESS_FAIL("case %zu: prog_load == %d, want %d", i, rc, cases[i].want);
        cfg_destroy(cfg);
    }
    cfg_t *cfg = cfg_new("test-prog", NULL, table, 1, "HOOKPIPE_TEST_PROG");
    char *bad[] = {"p", "--log.level=loud", NULL};
    log_level_t level = LOG_ERROR;
    CHECK_INT(prog_load(cfg, 2, bad), PROG_RUN);
    CHECK_INT(prog_log_level(cfg, "log.level", &level), PROG_USAGE);
    CHECK_INT(cfg_set(cfg, "log.level", "warn", NULL, 0), 0);
    CHECK_INT(prog_log_level(cfg, "log.level", &level), PROG_RUN);
    CHECK_INT(level, LOG_WARN);
    CHECK_STR(cfg_progname(cfg), "test-prog");
    cfg_destroy(cfg);
    CHECK_INT(prog_stopping(), 0);
    CHECK(prog_stop_flag() != NULL);
}

/* ---- ktable against the mock cluster ---- */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static cfg_t *mock_cfg;

static int mock_setup(void) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!mock_rk || !(mock = rd_kafka_mock_cluster_new(mock_rk, 1))) {
        fprintf(stderr, "no mock cluster: %s\n", err);
        return -1;
    }
    mock_cfg = cfg_new("test", NULL, NULL, 0, "HPTEST");
    if (!mock_cfg || cfg_set(mock_cfg, "kafka.bootstrap.servers",
                             rd_kafka_mock_cluster_bootstraps(mock), err, sizeof(err)) < 0 ||
        cfg_set(mock_cfg, "kafka.log_level", "0", err, sizeof(err)) < 0) {
        fprintf(stderr, "cfg: %s\n", err);
        return -1;
    }
    return 0;
}

static void mock_teardown(void) {
    cfg_destroy(mock_cfg);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
}

/* Writes records (value NULL: tombstone; key NULL: no key) to `topic`. */
static void mock_produce(const char *topic, int32_t partition, const char *const *kv, size_t n) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    CHECK(rk != NULL);
    if (!rk)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        CHECK_INT(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                    RD_KAFKA_V_KEY(k, k ? strlen(k) : 0),
                                    RD_KAFKA_V_VALUE((void *)v, v ? strlen(v) : 0),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  0);
    }
    CHECK_INT(rd_kafka_flush(rk, 10000), 0);
    rd_kafka_destroy(rk);
}

/* What a callback saw: "key=value" or "key-" (tombstone), ';'-separated. */
typedef struct {
    pthread_mutex_t mu;
    buf_t seen;
    int stop_after;         /* > 0: stop at that many records */
    int count;
} seen_t;

static int seen_cb(void *opaque, const ktable_rec_t *rec) {
    seen_t *s = opaque;
    pthread_mutex_lock(&s->mu);
    buf_printf(&s->seen, "%.*s%s%.*s;", (int)rec->key_len, rec->key, rec->value ? "=" : "-",
               (int)rec->value_len, rec->value ? rec->value : "");
    int stop = ++s->count == s->stop_after;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static ktable_err_t read_all(const char *topic, int grace, seen_t *s, char *err, size_t errsz) {
    rd_kafka_conf_t *conf = ktable_conf_new(mock_cfg, "test-ktable", err, errsz);
    CHECK(conf != NULL);
    char why[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    CHECK(rk != NULL);
    ktable_read_opts_t o = {.request_ms = 5000, .stall_ms = 5000, .eof_grace_ms = grace};
    ktable_err_t rc = ktable_read(rk, topic, &o, seen_cb, s, err, errsz);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static void test_ktable_read(void) {
    char err[512] = "";
    seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* a topic that does not exist: nothing (the mock cluster creates a
     * topic it is asked about, so it may also be there, empty) */
    ktable_err_t rc = read_all("kt.none", 2000, &s, err, sizeof(err));
    CHECK(rc == KTABLE_ENOTOPIC || rc == KTABLE_OK);
    CHECK_INT(s.count, 0);
    /* an empty topic: done at once */
    CHECK_INT(rd_kafka_mock_topic_create(mock, "kt.empty", 1, 1), 0);
    CHECK_INT(read_all("kt.empty", 2000, &s, err, sizeof(err)), KTABLE_OK);
    CHECK_INT(s.count, 0);
    /* records in log order, tombstones as such, keyless ones skipped,
     * every partition read */
    CHECK_INT(rd_kafka_mock_topic_create(mock, "kt.a", 2, 1), 0);
    static const char *const p0[] = {"a", "1", "b", "2", NULL, "nokey", "a", NULL, "c", ""};
    static const char *const p1[] = {"z", "9"};
    mock_produce("kt.a", 0, p0, 5);
    mock_produce("kt.a", 1, p1, 1);
    for (int grace = 0; grace <= 2000; grace += 2000) {
        buf_reset(&s.seen);
        s.count = 0;
        CHECK_INT(read_all("kt.a", grace, &s, err, sizeof(err)), KTABLE_OK);
        /* partitions interleave; within one the order holds */
        CHECK(strstr(buf_str(&s.seen), "a=1;b=2;a-;c=;") != NULL);
        CHECK(strstr(buf_str(&s.seen), "z=9;") != NULL);
        CHECK_INT(s.count, 5);
    }
    /* the callback can stop the read */
    buf_reset(&s.seen);
    s.count = 0;
    s.stop_after = 2;
    CHECK_INT(read_all("kt.a", 2000, &s, err, sizeof(err)), KTABLE_ESTOPPED);
    CHECK_INT(s.count, 2);
    buf_free(&s.seen);
}

static void test_ktable_read_unreachable(void) {
    /* nobody listens: the metadata request fails within its bound */
    char err[512] = "";
    cfg_t *cfg = cfg_new("test", NULL, NULL, 0, "HPTEST");
    CHECK_INT(cfg_set(cfg, "kafka.bootstrap.servers", "127.0.0.1:1", err, sizeof(err)), 0);
    CHECK_INT(cfg_set(cfg, "kafka.log_level", "0", err, sizeof(err)), 0);
    rd_kafka_conf_t *conf = ktable_conf_new(cfg, "g", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ktable_read_opts_t o = {.request_ms = 300, .stall_ms = 300};
    CHECK_INT(ktable_read(rk, "kt.a", &o, seen_cb, &s, err, sizeof(err)), KTABLE_EKAFKA);
    CHECK(strstr(err, "kt.a") != NULL);
    rd_kafka_destroy(rk);
    cfg_destroy(cfg);
}

static void test_ktable_follow(void) {
    char err[512] = "";
    seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    CHECK_INT(rd_kafka_mock_topic_create(mock, "kt.f", 1, 1), 0);
    static const char *const first[] = {"k1", "v1", "k2", "v2", "k1", NULL};
    mock_produce("kt.f", 0, first, 3);
    for (int mode = 0; mode < 2; mode++) {
        buf_reset(&s.seen);
        s.count = 0;
        ktable_follow_opts_t o = {.topic = "kt.f", .cb = seen_cb, .opaque = &s,
                                  .retry_ms = 200, .request_ms = 2000,
                                  .ready = mode ? KTABLE_READY_AT_EOF : KTABLE_READY_AT_END};
        ktable_t *kt = ktable_follow(ktable_conf_new(mock_cfg, "test-follow", err, sizeof(err)),
                                     &o, err, sizeof(err));
        CHECK(kt != NULL);
        if (!kt)
            return;
        for (int i = 0; i < 100 && !ktable_caught_up(kt); i++)
            prog_sleep_ms(50);
        CHECK_INT(ktable_caught_up(kt), 1);
        CHECK_INT(ktable_kafka_ok(kt), 1);
        CHECK(ktable_position(kt) >= 3);
        pthread_mutex_lock(&s.mu);
        /* the second round also reads what the first one added */
        CHECK_STR(buf_str(&s.seen), mode ? "k1=v1;k2=v2;k1-;k3=v3;" : "k1=v1;k2=v2;k1-;");
        pthread_mutex_unlock(&s.mu);
        /* followed live: a sync sees what was written before it */
        static const char *const more[2][2] = {{"k3", "v3"}, {"k4", "v4"}};
        mock_produce("kt.f", 0, more[mode], 1);
        CHECK_INT(ktable_sync(kt, 5000, err, sizeof(err)), KTABLE_OK);
        pthread_mutex_lock(&s.mu);
        CHECK(strstr(buf_str(&s.seen), mode ? "k4=v4;" : "k3=v3;") != NULL);
        pthread_mutex_unlock(&s.mu);
        /* waiting for an offset never written times out */
        CHECK_INT(ktable_wait(kt, 1000000, 200), KTABLE_ETIMEOUT);
        ktable_destroy(kt);
    }
    buf_free(&s.seen);
    ktable_destroy(NULL);
}

static void test_ktable_follow_unreachable(void) {
    /* nobody listens: never caught up, the probe says so, a sync fails
     * within its bound and destroy does not hang */
    char err[512] = "";
    cfg_t *cfg = cfg_new("test", NULL, NULL, 0, "HPTEST");
    CHECK_INT(cfg_set(cfg, "kafka.bootstrap.servers", "127.0.0.1:1", err, sizeof(err)), 0);
    CHECK_INT(cfg_set(cfg, "kafka.log_level", "0", err, sizeof(err)), 0);
    seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ktable_follow_opts_t o = {.topic = "kt.f", .cb = seen_cb, .opaque = &s, .create = 1,
                              .retry_ms = 100, .request_ms = 200, .probe_ms = 100};
    ktable_t *kt = ktable_follow(ktable_conf_new(cfg, "g", err, sizeof(err)), &o, err,
                                 sizeof(err));
    CHECK(kt != NULL);
    if (!kt)
        return;
    prog_sleep_ms(500);
    CHECK_INT(ktable_caught_up(kt), 0);
    CHECK_INT(ktable_kafka_ok(kt), 0);
    CHECK_INT(ktable_wait(kt, 1, 100), KTABLE_ETIMEOUT);
    CHECK(ktable_sync(kt, 200, err, sizeof(err)) != KTABLE_OK);
    ktable_destroy(kt);
    cfg_destroy(cfg);
}

int main(void) {
    TEST(test_net_addr);
    TEST(test_rfc3339_format);
    TEST(test_rfc3339_matches_gmtime);
    TEST(test_rfc3339_parse);
    TEST(test_event_received_at);
    TEST(test_event_sequence);
    TEST(test_buf_basics);
    TEST(test_buf_growth);
    TEST(test_buf_detach);
    TEST(test_buf_oom_sticky);
    TEST(test_arena);
    TEST(test_arena_reuse);
    TEST(test_hex);
    TEST(test_base64);
    TEST(test_kafka_default);
    TEST(test_client_id);
    TEST(test_prog_load);
    if (mock_setup() < 0)
        return 1;
    TEST(test_ktable_read);
    TEST(test_ktable_read_unreachable);
    TEST(test_ktable_follow);
    TEST(test_ktable_follow_unreachable);
    mock_teardown();
    return test_done();
}
