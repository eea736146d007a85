/* Unit tests for common/jscan: grammar, error offsets, hostile inputs, member
 * lookup and Kafka key building. */
#include <stdlib.h>
#include <time.h>

#include "jlex.h"
#include "jscan.h"
#include "harness.h"

#define S(lit) lit, sizeof(lit) - 1

typedef struct {
    const char *in;
    size_t len;
    jscan_err_t err;
    size_t off;
} vcase_t;

static void test_validate_table(void) {
    static const vcase_t cases[] = {
        {S("{}"), JSCAN_OK, 0},
        {S(" [ ] "), JSCAN_OK, 0},
        {S("0"), JSCAN_OK, 0},
        {S("-0.5e+10"), JSCAN_OK, 0},
        {S("123456789012345678901234567890"), JSCAN_OK, 0},
        {S("0.1000000000000000055511151231257827"), JSCAN_OK, 0},
        {S("1E400"), JSCAN_OK, 0},
        {S("\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\""), JSCAN_OK, 0},
        {S("\"\\u0000\""), JSCAN_OK, 0},
        {S("\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""), JSCAN_OK, 0},
        {S("{\"a\":[1,true,false,null,{\"b\":\"c\"}]}"), JSCAN_OK, 0},
        {S(""), JSCAN_ERR_EMPTY, 0},
        {S(" \n\t\r "), JSCAN_ERR_EMPTY, 5},
        {S("{\"a\":}"), JSCAN_ERR_SYNTAX, 5},
        {S("{\"a\" 1}"), JSCAN_ERR_SYNTAX, 5},
        {S("{\"a\":1,}"), JSCAN_ERR_SYNTAX, 7},
        {S("[1,]"), JSCAN_ERR_SYNTAX, 3},
        {S("[1 2]"), JSCAN_ERR_SYNTAX, 3},
        {S("{a:1}"), JSCAN_ERR_SYNTAX, 1},
        {S("{\"a\":1"), JSCAN_ERR_SYNTAX, 6},
        {S("{\"a\":1}}"), JSCAN_ERR_SYNTAX, 7},
        {S("{} {}"), JSCAN_ERR_SYNTAX, 3},
        {S("01"), JSCAN_ERR_SYNTAX, 1},
        {S("-"), JSCAN_ERR_SYNTAX, 1},
        {S("1."), JSCAN_ERR_SYNTAX, 2},
        {S("1.e5"), JSCAN_ERR_SYNTAX, 2},
        {S("1e"), JSCAN_ERR_SYNTAX, 2},
        {S("+1"), JSCAN_ERR_SYNTAX, 0},
        {S(".5"), JSCAN_ERR_SYNTAX, 0},
        {S("NaN"), JSCAN_ERR_SYNTAX, 0},
        {S("tru"), JSCAN_ERR_SYNTAX, 3},
        {S("trUe"), JSCAN_ERR_SYNTAX, 2},
        {S("nul"), JSCAN_ERR_SYNTAX, 3},
        {S("\"abc"), JSCAN_ERR_SYNTAX, 4},
        {S("\"a\\"), JSCAN_ERR_SYNTAX, 3},
        {S("\"a\\u12"), JSCAN_ERR_SYNTAX, 6},
        {S("\"a\\u12\""), JSCAN_ERR_SYNTAX, 6},
        {S("\"\\x\""), JSCAN_ERR_SYNTAX, 2},
        {S("\"\\ud83d\""), JSCAN_ERR_SYNTAX, 1},
        {S("\"\\ud83d\\n\""), JSCAN_ERR_SYNTAX, 1},
        {S("\"\\ud83d\\u0041\""), JSCAN_ERR_SYNTAX, 1},
        {S("\"\\ude00\""), JSCAN_ERR_SYNTAX, 1},
        {S("\"\\ud83d"), JSCAN_ERR_SYNTAX, 7},
        {S("\"\\ud83d\\"), JSCAN_ERR_SYNTAX, 8},
        {S("\"\\ud83d\\ude0"), JSCAN_ERR_SYNTAX, 12},
        {S("\"a\tb\""), JSCAN_ERR_SYNTAX, 2},
        {S("\"a\nb\""), JSCAN_ERR_SYNTAX, 2},
        {S("'a'"), JSCAN_ERR_SYNTAX, 0},
        {S("\xef\xbb\xbf{}"), JSCAN_ERR_SYNTAX, 0},
        {S("{\"a\":1}\x00"), JSCAN_ERR_NUL, 7},
        {S("\"a\x00\""), JSCAN_ERR_NUL, 2},
        {S("\x00"), JSCAN_ERR_NUL, 0},
        {S("\"\xff\""), JSCAN_ERR_UTF8, 1},
        {S("\"ab\xc3\""), JSCAN_ERR_UTF8, 3},
        {S("\"\xc0\xaf\""), JSCAN_ERR_UTF8, 1},          /* overlong '/' */
        {S("\"\xe0\x80\xaf\""), JSCAN_ERR_UTF8, 1},      /* overlong */
        {S("\"\xf0\x80\x80\xaf\""), JSCAN_ERR_UTF8, 1},  /* overlong */
        {S("\"\xed\xa0\x80\""), JSCAN_ERR_UTF8, 1},      /* surrogate D800 */
        {S("\"\xf4\x90\x80\x80\""), JSCAN_ERR_UTF8, 1},  /* above U+10FFFF */
        {S("\"\x80\""), JSCAN_ERR_UTF8, 1},              /* lone continuation */
        {S("\"\xe2\x82"), JSCAN_ERR_UTF8, 1},            /* truncated at end */
        {S("{\"a\":1}\xff"), JSCAN_ERR_UTF8, 7},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        jscan_result_t r;
        jscan_err_t e = jscan_validate(cases[k].in, cases[k].len, 64, &r);
        if (e != cases[k].err || (e && r.err_off != cases[k].off))
            HARNESS_FAIL("case %zu: err %d at %zu (%s), want %d at %zu", k, e, r.err_off,
                         e ? r.err_msg : "-", cases[k].err, cases[k].off);
        CHECK_INT(r.err, e);
    }
}

typedef struct {
    const char *in;
    jscan_err_t err;
    size_t off, nrecords;
} bcase_t;

static void test_body_table(void) {
    static const bcase_t cases[] = {
        {"{\"a\":1}", JSCAN_OK, 0, 1},
        {" [ {\"a\":1} , {} ] ", JSCAN_OK, 0, 2},
        {"[]", JSCAN_OK, 0, 0},
        {"[{}]", JSCAN_OK, 0, 1},
        {"[{\"x\":[{},{}]}]", JSCAN_OK, 0, 1},
        {"1", JSCAN_ERR_TOP, 0, 0},
        {" \"s\"", JSCAN_ERR_TOP, 1, 0},
        {"null", JSCAN_ERR_TOP, 0, 0},
        {"[1]", JSCAN_ERR_TOP, 1, 0},
        {"[{}, []]", JSCAN_ERR_TOP, 5, 0},
        {"[{}, \"x\"]", JSCAN_ERR_TOP, 5, 0},
        {"x", JSCAN_ERR_SYNTAX, 0, 0},
        {"[{}, x]", JSCAN_ERR_SYNTAX, 5, 0},
        {"[{},{},{}]", JSCAN_ERR_RECORDS, 7, 0},
        {"{\"a\":[[[[1]]]]}", JSCAN_ERR_DEPTH, 8, 0},
        {"[{\"a\":[[[1]]]}]", JSCAN_ERR_DEPTH, 8, 0},
        {"{\"a\":[[[1]]]}", JSCAN_OK, 0, 1},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        jscan_result_t r;
        jscan_err_t e = jscan_body(cases[k].in, strlen(cases[k].in), 4, 2, &r);
        if (e != cases[k].err || (e && r.err_off != cases[k].off) ||
            (!e && r.nrecords != cases[k].nrecords))
            HARNESS_FAIL("case %zu '%s': err %d at %zu (%s) n=%zu, want %d at %zu n=%zu", k,
                         cases[k].in, e, r.err_off, e ? r.err_msg : "-", r.nrecords,
                         cases[k].err, cases[k].off, cases[k].nrecords);
        jscan_result_free(&r);
    }
}

static void test_record_spans(void) {
    const char *in = " [ {\"a\" : 1 } ,{\"b\":[{}]},\n{}] ";
    jscan_result_t r;
    CHECK_INT(jscan_body(in, strlen(in), 64, 0, &r), JSCAN_OK);
    CHECK_INT(r.nrecords, 3);
    CHECK_INT(r.is_array, 1);
    CHECK_MEM(in + r.records[0].off, r.records[0].len, "{\"a\" : 1 }", 10);
    CHECK_MEM(in + r.records[1].off, r.records[1].len, "{\"b\":[{}]}", 10);
    CHECK_MEM(in + r.records[2].off, r.records[2].len, "{}", 2);
    jscan_result_free(&r);
    in = "\n{\"n\": 123456789012345678901234567890, \"d\": 0.1000000000000000055511151231257827}\n";
    CHECK_INT(jscan_body(in, strlen(in), 64, 0, &r), JSCAN_OK);
    CHECK_INT(r.nrecords, 1);
    CHECK_INT(r.is_array, 0);
    CHECK_MEM(in + r.records[0].off, r.records[0].len, in + 1, strlen(in) - 2);
    jscan_result_free(&r);
}

static void test_deep_nesting(void) {
    size_t n = 100000;
    char *buf = malloc(2 * n + 16);
    for (size_t k = 0; k < n; k++) {
        buf[k] = '[';
        buf[n + k] = ']';
    }
    jscan_result_t r;
    CHECK_INT(jscan_validate(buf, 2 * n, 64, &r), JSCAN_ERR_DEPTH);
    CHECK_INT(r.err_off, 64);
    CHECK_INT(jscan_validate(buf, 2 * n, 100000, &r), JSCAN_OK);
    CHECK_INT(jscan_validate(buf, 2 * n - 1, 100000, &r), JSCAN_ERR_SYNTAX);
    CHECK_INT(r.err_off, 2 * n - 1);
    /* objects inside arrays, alternating levels */
    size_t o = 0;
    buf[o++] = '{';
    for (size_t k = 0; k < 1000; k++) {
        memcpy(buf + o, "\"a\":[{", 6);
        o += 6;
    }
    CHECK_INT(jscan_body(buf, o, 128, 0, &r), JSCAN_ERR_DEPTH);
    CHECK_INT(r.err_off, 1 + 63 * 6 + 5);
    CHECK_INT(jscan_body(buf, o, 4000, 0, &r), JSCAN_ERR_SYNTAX);
    CHECK_INT(r.err_off, o);
    free(buf);
}

static void test_many_tiny_elements(void) {
    size_t n = 10000, o = 0;
    char *buf = malloc(n * 8 + 2);
    buf[o++] = '[';
    for (size_t k = 0; k < n; k++)
        o += (size_t)sprintf(buf + o, "%s{\"i\":%zu}", k ? "," : "", k % 10);
    buf[o++] = ']';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    jscan_result_t r;
    CHECK_INT(jscan_body(buf, o, 64, 10000, &r), JSCAN_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(r.nrecords, n);
    CHECK_MEM(buf + r.records[9999].off, r.records[9999].len, "{\"i\":9}", 7);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms < 50);
    jscan_result_free(&r);
    CHECK_INT(jscan_body(buf, o, 64, 9999, &r), JSCAN_ERR_RECORDS);
    free(buf);
}

static void test_members(void) {
    const char *obj = "{\"id\":1,\"n\\u0061me\":\"x\",\"o\":{\"id\":2},\"id\":\"last\",\"a\":[1,\"]\"],\"z\":null}";
    const char *names[] = {"id", "name", "a", "z", "nope", "o"};
    jscan_member_t m[6];
    jscan_members(obj, strlen(obj), names, 6, m);
    CHECK_INT(m[0].type, JSCAN_STRING);
    CHECK_MEM(obj + m[0].value.off, m[0].value.len, "\"last\"", 6);
    CHECK_INT(m[1].type, JSCAN_STRING);
    CHECK_MEM(obj + m[1].value.off, m[1].value.len, "\"x\"", 3);
    CHECK_INT(m[2].type, JSCAN_ARRAY);
    CHECK_MEM(obj + m[2].value.off, m[2].value.len, "[1,\"]\"]", 7);
    CHECK_INT(m[3].type, JSCAN_NULL);
    CHECK_INT(m[4].type, JSCAN_MISSING);
    CHECK_INT(m[5].type, JSCAN_OBJECT);
}

typedef struct {
    const char *obj;
    const char *fields[3];
    size_t n;
    jscan_key_rc_t rc;
    const char *key;
    size_t key_len;
} kcase_t;

static void test_keys(void) {
    static const kcase_t cases[] = {
        {"{\"id\":\"abc\"}", {"id"}, 1, JSCAN_KEY_OK, S("abc")},
        {"{\"id\":\"a\\\"b\\u00e9\\ud83d\\ude00\"}", {"id"}, 1, JSCAN_KEY_OK,
         S("a\"b\xc3\xa9\xf0\x9f\x98\x80")},
        {"{\"id\":\"a\\u0000b\"}", {"id"}, 1, JSCAN_KEY_OK, S("a\0b")},
        {"{\"id\" : 123456789012345678901234567890 }", {"id"}, 1, JSCAN_KEY_OK,
         S("123456789012345678901234567890")},
        {"{\"id\":-1.50e3}", {"id"}, 1, JSCAN_KEY_OK, S("-1.50e3")},
        {"{\"id\":true}", {"id"}, 1, JSCAN_KEY_OK, S("true")},
        {"{\"id\":\"\"}", {"id"}, 1, JSCAN_KEY_OK, S("")},
        {"{\"id\":1,\"id\":2}", {"id"}, 1, JSCAN_KEY_OK, S("2")},
        {"{\"a\":\"x\\ny\\\"\\/\\u0001\\u00e9\",\"b\":12,\"c\":false}", {"a", "b", "c"}, 3,
         JSCAN_KEY_OK, S("[\"x\\ny\\\"/\\u0001\xc3\xa9\",12,false]")},
        {"{\"b\":1.0,\"a\":\"k\"}", {"a", "b"}, 2, JSCAN_KEY_OK, S("[\"k\",1.0]")},
        {"{\"x\":1}", {"id"}, 1, JSCAN_KEY_REJECT, S("primary key field is missing")},
        {"{\"id\":null}", {"id"}, 1, JSCAN_KEY_REJECT, S("primary key field is null")},
        {"{\"id\":{}}", {"id"}, 1, JSCAN_KEY_REJECT, S("primary key field is an object")},
        {"{\"id\":[1]}", {"id"}, 1, JSCAN_KEY_REJECT, S("primary key field is an array")},
        {"{\"a\":1,\"b\":null}", {"a", "b"}, 2, JSCAN_KEY_REJECT, S("primary key field is null")},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const kcase_t *c = &cases[k];
        jscan_result_t r;
        CHECK_INT(jscan_validate(c->obj, strlen(c->obj), 8, &r), JSCAN_OK);
        char *key = NULL;
        size_t klen = 0, bad = 99;
        const char *why = NULL;
        jscan_key_rc_t rc = jscan_key(c->obj, strlen(c->obj), c->fields, c->n, &key, &klen,
                                      &why, &bad);
        if (rc != c->rc)
            HARNESS_FAIL("case %zu: rc %d, want %d", k, rc, c->rc);
        else if (rc == JSCAN_KEY_OK)
            CHECK_MEM(key, klen, c->key, c->key_len);
        else
            CHECK_STR(why, c->key);
        free(key);
    }
}

static void test_decode(void) {
    const char *s = "\"a\\tb\\u00e9\\/\"";
    char out[32];
    size_t n = jlex_string_decode(s, strlen(s), out);
    CHECK_MEM(out, n, "a\tb\xc3\xa9/", 6);
}

/* Paths that allocate: long escaped member names, many fields at once. */
static void test_large_lookups(void) {
    char name[101], obj[2048];
    memset(name, 'k', 100);
    name[100] = '\0';
    size_t o = 0;
    o += (size_t)sprintf(obj + o, "{\"");
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(obj + o, "\\u006b");
    o += (size_t)sprintf(obj + o, "\":1");
    const char *fields[20];
    char fnames[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(fnames[i], sizeof(fnames[i]), "f%d", i);
        fields[i] = fnames[i];
        o += (size_t)sprintf(obj + o, ",\"f%d\":%d", i, i);
    }
    obj[o++] = '}';
    jscan_result_t r;
    CHECK_INT(jscan_validate(obj, o, 8, &r), JSCAN_OK);
    const char *names[] = {name};
    jscan_member_t m;
    jscan_members(obj, o, names, 1, &m);
    CHECK_INT(m.type, JSCAN_NUMBER);
    CHECK_MEM(obj + m.value.off, m.value.len, "1", 1);
    char *key = NULL;
    size_t klen = 0, bad = 0;
    const char *why = NULL;
    CHECK_INT(jscan_key(obj, o, fields, 20, &key, &klen, &why, &bad), JSCAN_KEY_OK);
    CHECK_STR(key, "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19]");
    free(key);
}

int main(void) {
    TEST(test_validate_table);
    TEST(test_body_table);
    TEST(test_record_spans);
    TEST(test_deep_nesting);
    TEST(test_many_tiny_elements);
    TEST(test_members);
    TEST(test_keys);
    TEST(test_decode);
    TEST(test_large_lookups);
    return test_done();
}
