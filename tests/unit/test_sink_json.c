/* Unit tests for the sink's JSON parser, number classes, name mapping and
 * system-field parsers, with hostile inputs. */
#include <stdint.h>
#include <stdlib.h>

#include "jscan.h"
#include "sink_json.h"
#include "sink_name.h"
#include "sink_num.h"
#include "event.h"
#include "harness.h"
#include "utf8.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int parse(sink_json_parser_t *p, const char *s, size_t len, const sink_json_node_t **root,
                 char *err, size_t errsz) {
    return sink_json_parse(p, s, len, root, err, errsz);
}

static void test_parse_valid(void) {
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    const sink_json_node_t *r;
    char err[128];
    const char doc[] = " {\"a\" : [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
                       "\"b\":{}, \"\":[] } ";
    CHECK_INT(parse(p, doc, sizeof(doc) - 1, &r, err, sizeof(err)), 0);
    CHECK_INT(r->type, SINK_JSON_OBJECT);
    CHECK_INT(r->len, 3);
    const sink_json_node_t *a = r->child;
    CHECK_STR(a->key, "a");
    CHECK_INT(a->len, 6);
    const sink_json_node_t *e = a->child;
    CHECK_INT(e->num, SINK_NUM_LONG);
    CHECK_INT(e->v.i, 1);
    e = e->next;
    CHECK_INT(e->num, SINK_NUM_DOUBLE);
    CHECK(e->v.d == -2500.0);
    CHECK_INT(e->next->type, SINK_JSON_TRUE);
    CHECK_INT(e->next->next->type, SINK_JSON_FALSE);
    CHECK_INT(e->next->next->next->type, SINK_JSON_NULL);
    e = e->next->next->next->next;
    CHECK_MEM(e->str, e->len, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8);
    CHECK_STR(a->next->key, "b");
    CHECK_INT(a->next->type, SINK_JSON_OBJECT);
    CHECK_INT(a->next->next->key_len, 0);
    CHECK_INT(a->next->next->type, SINK_JSON_ARRAY);
    /* NUL escapes are kept inside strings and names, lengths explicit */
    const char nul[] = "{\"k\\u0000y\":\"a\\u0000b\"}";
    CHECK_INT(parse(p, nul, sizeof(nul) - 1, &r, err, sizeof(err)), 0);
    CHECK_MEM(r->child->key, r->child->key_len, "k\0y", 3);
    CHECK_MEM(r->child->str, r->child->len, "a\0b", 3);
    /* not NUL-terminated input: the parser must stop at len */
    char *exact = malloc(4);
    memcpy(exact, "1234", 4);
    CHECK_INT(parse(p, exact, 4, &r, err, sizeof(err)), 0);
    CHECK_INT(r->v.i, 1234);
    free(exact);
    sink_json_parser_destroy(p);
    sink_json_parser_destroy(NULL);
}

static void test_parse_errors(void) {
    static const struct { const char *in; size_t len; const char *err; } cases[] = {
        {"", 0, "unexpected end of input at byte 0"},
        {"{", 1, "expected a member name at byte 1"},
        {"{\"a\":1,}", 8, "expected a member name at byte 7"},
        {"[1,]", 4, "unexpected character at byte 3"},
        {"[1 2]", 5, "expected ',' or ']' at byte 3"},
        {"{\"a\" 1}", 7, "expected ':' at byte 5"},
        {"01", 2, "trailing characters after the JSON value at byte 1"},
        {"1.", 2, "invalid number at byte 0"},
        {"-", 1, "invalid number at byte 0"},
        {"1e", 2, "invalid number at byte 0"},
        {"nul", 3, "invalid literal at byte 0"},
        {"\"abc", 4, "unterminated string at byte 0"},
        {"\"a\\x\"", 5, "invalid escape at byte 2"},
        {"\"\\u12g4\"", 8, "invalid \\u escape at byte 1"},
        {"\"\\ud800\"", 8, "lone surrogate escape at byte 1"},
        {"\"\\udc00\"", 8, "lone surrogate escape at byte 1"},
        {"\"\\ud800\\u0041\"", 14, "lone surrogate escape at byte 1"},
        {"\"a\tb\"", 5, "control character in string at byte 2"},
        {"\"a\0b\"", 5, "control character in string at byte 2"},
        {"\"\xc0\xaf\"", 4, "invalid UTF-8 in string at byte 1"},
        {"\"\xed\xa0\x80\"", 5, "invalid UTF-8 in string at byte 1"},
        {"\"\xf4\x90\x80\x80\"", 6, "invalid UTF-8 in string at byte 1"},
        {"\"\xe2\x82\"", 4, "invalid UTF-8 in string at byte 1"},
        {"\"\xff\"", 3, "invalid UTF-8 in string at byte 1"},
        {"{\"\x80\":1}", 7, "invalid UTF-8 in string at byte 2"},
        {"\xef\xbb\xbf{}", 5, "unexpected character at byte 0"},
        {"{} x", 4, "trailing characters after the JSON value at byte 3"},
    };
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const sink_json_node_t *r;
        char err[128] = "";
        CHECK_INT(parse(p, cases[i].in, cases[i].len, &r, err, sizeof(err)), -1);
        CHECK_STR(err, cases[i].err);
    }
    sink_json_parser_destroy(p);
}

static void test_hostile_sizes(void) {
    char err[128];
    const sink_json_node_t *r;
    sink_json_parser_t *p = sink_json_parser_new(64, 100000);
    /* nesting far beyond the limit: refused at the limit, no deep recursion */
    size_t n = 1000000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    CHECK_INT(parse(p, deep, 2 * n, &r, err, sizeof(err)), -2);
    CHECK_STR(err, "nesting deeper than 64 at byte 64");
    CHECK_INT(parse(p, deep + n - 64, 128, &r, err, sizeof(err)), 0);
    free(deep);
    /* huge arrays: refused past max_nodes, accepted below */
    size_t items = 200000;
    char *arr = malloc(2 * items + 2);
    arr[0] = '[';
    for (size_t i = 0; i < items; i++) {
        arr[1 + 2 * i] = '0';
        arr[2 + 2 * i] = ',';
    }
    arr[2 * items] = ']';
    CHECK_INT(parse(p, arr, 2 * items + 1, &r, err, sizeof(err)), -2);
    CHECK_STR(err, "more than 100000 values at byte 199999");
    /* 99999 items + the array itself: exactly at the limit */
    size_t ok_items = 99999;
    arr[2 * ok_items] = ']';
    CHECK_INT(parse(p, arr, 2 * ok_items + 1, &r, err, sizeof(err)), 0);
    CHECK_INT(r->len, ok_items);
    free(arr);
    /* a very long string and name */
    size_t sl = 3u << 20;
    char *s = malloc(sl + 8);
    memcpy(s, "{\"", 2);
    memset(s + 2, 'k', sl);
    memcpy(s + 2 + sl, "\":1}", 4);
    CHECK_INT(parse(p, s, sl + 6, &r, err, sizeof(err)), 0);
    CHECK_INT(r->child->key_len, sl);
    free(s);
    sink_json_parser_destroy(p);
}

static void test_num_classify(void) {
    static const struct { const char *lex; int kind; } cases[] = {
        {"0", SINK_NUM_LONG},
        {"-0", SINK_NUM_LONG},
        {"9223372036854775807", SINK_NUM_LONG},
        {"-9223372036854775808", SINK_NUM_LONG},
        {"9223372036854775808", SINK_NUM_DECIMAL},
        {"-9223372036854775809", SINK_NUM_DECIMAL},
        {"12345678901234567890123456789012345678", SINK_NUM_DECIMAL},
        {"123456789012345678901234567890123456789", SINK_NUM_BAD},
        {"1.5", SINK_NUM_DOUBLE},
        {"0.1", SINK_NUM_DOUBLE},
        {"-0.0", SINK_NUM_DOUBLE},
        {"1E2", SINK_NUM_DOUBLE},
        {"1e300", SINK_NUM_DOUBLE},
        {"-1.5e-3", SINK_NUM_DOUBLE},
        {"3.141592653589793", SINK_NUM_DOUBLE},
        {"0.30000000000000004", SINK_NUM_DOUBLE},
        {"1e-310", SINK_NUM_DOUBLE},
        {"1.0000000000000001", SINK_NUM_DECIMAL},
        {"9007199254740993.0", SINK_NUM_DECIMAL},
        {"0.3000000000000000444", SINK_NUM_DECIMAL},
        {"0.10000000000000000000000000000000000001", SINK_NUM_DECIMAL},
        {"0.100000000000000000000000000000000000001", SINK_NUM_BAD},
        {"123456789012345678901234567890.5", SINK_NUM_DECIMAL},
        {"1e38", SINK_NUM_DOUBLE},
        {"1.00000000000000000000e37", SINK_NUM_DOUBLE},
        {"1e400", SINK_NUM_BAD},
        {"-1e400", SINK_NUM_BAD},
        {"1e-400", SINK_NUM_BAD},
        {"1e999999999999999999999", SINK_NUM_BAD},
        {"2.5000000000000000000000000000000000000000000000000000000000000000000000000000000000", SINK_NUM_DOUBLE},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        int64_t iv = 0;
        double dv = 0;
        int k = sink_num_classify(cases[i].lex, strlen(cases[i].lex), &iv, &dv);
        if (k != cases[i].kind)
            HARNESS_FAIL("%s: kind %d, want %d", cases[i].lex, k, cases[i].kind);
    }
    int64_t iv;
    double dv;
    CHECK_INT(sink_num_classify("-9223372036854775808", 20, &iv, &dv), SINK_NUM_LONG);
    CHECK(iv == INT64_MIN);
    CHECK_INT(sink_num_classify("0.30000000000000004", 19, &iv, &dv), SINK_NUM_DOUBLE);
    CHECK(dv == 0.1 + 0.2);
}

static void test_num_decimal_bytes(void) {
    static const struct { const char *lex; const char *bytes; size_t len; } cases[] = {
        {"0", "\x00", 1},
        {"0.0", "\x00", 1},
        {"1e-38", "\x01", 1},
        {"-1e-38", "\xff", 1},
        {"1.27e-36", "\x7f", 1},
        {"1.28e-36", "\x00\x80", 2},
        {"-1.28e-36", "\x80", 1},
        {"-1.29e-36", "\xff\x7f", 2},
        {"2.56E-36", "\x01\x00", 2},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        unsigned char out[SINK_DECIMAL_MAX_BYTES];
        size_t len = 0;
        CHECK_INT(sink_num_decimal_bytes(cases[i].lex, strlen(cases[i].lex), out, &len), 0);
        CHECK_MEM(out, len, cases[i].bytes, cases[i].len);
    }
    /* 1 = 10^38 unscaled = 0x4B3B4CA85A86C47A098A224000000000 (16 bytes, top bit 0) */
    unsigned char out[SINK_DECIMAL_MAX_BYTES];
    size_t len;
    CHECK_INT(sink_num_decimal_bytes("1", 1, out, &len), 0);
    CHECK_MEM(out, len, "\x4b\x3b\x4c\xa8\x5a\x86\xc4\x7a\x09\x8a\x22\x40\x00\x00\x00\x00", 16);
    /* the largest and smallest values fit in 32 bytes */
    const char *max = "99999999999999999999999999999999999999.99999999999999999999999999999999999999";
    CHECK_INT(sink_num_decimal_bytes(max, strlen(max), out, &len), 0);
    CHECK_INT(len, 32);
    CHECK_INT(out[0], 0x00 + 0x16);
    CHECK_INT(sink_num_decimal_bytes(max, strlen(max) - 1, out, &len), 0);
    unsigned char fixed[SINK_DECIMAL_FIXED_SIZE];
    CHECK_INT(sink_num_decimal_fixed("-1e-38", 6, fixed), 0);
    CHECK_MEM(fixed, 32, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                         "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 32);
    CHECK_INT(sink_num_decimal_fixed("1.28e-36", 8, fixed), 0);
    CHECK_MEM(fixed + 29, 3, "\x00\x00\x80", 3);
    CHECK_INT(sink_num_decimal_fixed(max, strlen(max), fixed), 0);
    CHECK_INT(fixed[0], 0x16);
    CHECK_INT(sink_num_decimal_fixed("1e39", 4, fixed), -1);
    const char *over = "100000000000000000000000000000000000000";
    CHECK_INT(sink_num_decimal_bytes(over, strlen(over), out, &len), -1);
    CHECK_INT(sink_num_decimal_bytes("1e-39", 5, out, &len), -1);
}

static void test_name_map(void) {
    static const struct { const char *in; size_t len; const char *out; } cases[] = {
        {"id", 2, "id"},
        {"first name", 10, "first_name"},
        {"e-mail", 6, "e_mail"},
        {"a.b", 3, "a_b"},
        {"$ref", 4, "_ref"},
        {"2fa", 3, "_2fa"},
        {"", 0, "_"},
        {"_x9", 3, "_x9"},
        {"caf\xc3\xa9", 5, "caf_u00E9"},
        {"\xe5\x90\x8d\xe5\x89\x8d", 6, "_u540D_u524D"},
        {"\xf0\x9f\x98\x80", 4, "_u1F600"},
        {"k\0y", 3, "k_y"},
        {"A B", 3, "A_B"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char out[64];
        long n = sink_name_map(cases[i].in, cases[i].len, out, sizeof(out));
        CHECK_INT(n, strlen(cases[i].out));
        CHECK_STR(out, cases[i].out);
        CHECK_INT(sink_name_valid(out), 1);
    }
    char small[4];
    CHECK_INT(sink_name_map("abcd", 4, small, sizeof(small)), -1);
    CHECK_INT(sink_name_map("abc", 3, small, sizeof(small)), 3);
    CHECK_INT(sink_name_valid("1a"), 0);
    CHECK_INT(sink_name_valid("a-b"), 0);
    CHECK_INT(sink_name_valid(""), 0);
}

static void test_sys_parse(void) {
    static const struct { const char *in; int rc; int64_t us; } times[] = {
        {"2026-11-26T20:14:37.123456Z", 0, 1795724077123456LL},
        {"2026-11-26T20:14:37.123456+00:00", 0, 1795724077123456LL},
        {"2026-11-26T20:14:37.123456789Z", 0, 1795724077123456LL},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"1969-12-31T23:59:59.5Z", 0, -500000},
        {"2000-02-29T23:59:59Z", 0, 951868799000000LL},
        {"2026-02-29T00:00:00Z", -1, 0},
        {"2026-11-26 20:14:37Z", -1, 0},
        {"2026-11-26T20:14:37", -1, 0},
        {"2026-11-26T20:14:37+01:00", -1, 0},
        {"2026-11-26T20:14:37.Z", -1, 0},
        {"2026-13-26T20:14:37Z", -1, 0},
        {"2026-11-26T24:14:37Z", -1, 0},
        {"", -1, 0},
    };
    for (size_t i = 0; i < N_ELEMS(times); i++) {
        int64_t us = 0;
        int rc = event_received_at_parse(times[i].in, strlen(times[i].in), &us);
        if (rc != times[i].rc || (rc == 0 && us != times[i].us))
            HARNESS_FAIL("%s: rc %d us %lld, want %d %lld", times[i].in, rc, (long long)us,
                         times[i].rc, (long long)times[i].us);
    }
    static const struct { const char *in; int rc; int64_t v; } seqs[] = {
        {"1795724077123456789", 0, 1795724077123456789LL},
        {"0", 0, 0},
        {"-5", 0, -5},
        {"9223372036854775807", 0, INT64_MAX},
        {"9223372036854775808", -1, 0},
        {"", -1, 0},
        {"-", -1, 0},
        {"12a", -1, 0},
        {" 1", -1, 0},
    };
    for (size_t i = 0; i < N_ELEMS(seqs); i++) {
        int64_t v = 0;
        int rc = event_sequence_parse(seqs[i].in, strlen(seqs[i].in), &v);
        if (rc != seqs[i].rc || (rc == 0 && v != seqs[i].v))
            HARNESS_FAIL("%s: rc %d v %lld", seqs[i].in, rc, (long long)v);
    }
}

static void test_utf8_valid(void) {
    CHECK_INT(utf8_valid("abc\xc3\xa9", 5), 1);
    CHECK_INT(utf8_valid("\xc3", 1), 0);
    CHECK_INT(utf8_valid("\xed\xbf\xbf", 3), 0);
    CHECK_INT(utf8_valid("", 0), 1);
}

/* The gateway's scanner and the sink's parser share their lexical rules
 * (jlex.h, utf8.h): whatever one accepts the other accepts. */
static void test_agrees_with_jscan(void) {
    static const char *const docs[] = {
        "{\"a\":\"x\\u00e9\"}", "{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\ud83d\"}",
        "{\"a\":\"\\ude00\"}", "{\"a\":\"\\ud83d\\u0041\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12zz\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\/\\b\\f\\n\\r\\t\"}",
        "{\"a\":\"\xc3\xa9\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\x01\"}",
        "{\"a\":-0.5e+3}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":-}",
        "{\"a\":.5}", "{\"a\":1E-0}", "{\"a\":\"\\u0000\"}", "{\"a\":\"abc",
    };
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        const sink_json_node_t *root;
        char err[128];
        jscan_result_t res;
        memset(&res, 0, sizeof(res));
        int sink_ok = sink_json_parse(p, docs[i], strlen(docs[i]), &root, err, sizeof(err)) == 0;
        int gw_ok = jscan_validate(docs[i], strlen(docs[i]), 64, &res) == JSCAN_OK;
        if (sink_ok != gw_ok)
            HARNESS_FAIL("%s: sink %d, gateway %d", docs[i], sink_ok, gw_ok);
    }
    sink_json_parser_destroy(p);
}

int main(void) {
    TEST(test_parse_valid);
    TEST(test_parse_errors);
    TEST(test_hostile_sizes);
    TEST(test_num_classify);
    TEST(test_num_decimal_bytes);
    TEST(test_name_map);
    TEST(test_sys_parse);
    TEST(test_utf8_valid);
    TEST(test_agrees_with_jscan);
    return test_done();
}
