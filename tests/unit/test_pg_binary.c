/* Unit tests for the binary COPY field encoders of sinks/wh_sql (what pg_loader sends PostgreSQL); expected bytes are the server's own *_send output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wh_sql.h"
#include "harness.h"

/* s as lowercase hex, into out (static, reused) */
static const char *hex(const buf_t *s) {
    static char out[1024];
    size_t n = 0;
    for (size_t i = 0; i < s->len && n + 3 < sizeof(out); i++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%02x", (unsigned char)s->p[i]);
    out[n] = '\0';
    return out;
}

/* the field's data after its length word, as hex; the length word must
   match the data */
static const char *field_data(const buf_t *s) {
    static char out[1024];
    if (s->len < 4) {
        snprintf(out, sizeof(out), "(short: %zu bytes)", s->len);
        return out;
    }
    const unsigned char *p = (const unsigned char *)s->p;
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (len != s->len - 4) {
        snprintf(out, sizeof(out), "(length word %u, %zu bytes follow)", len, s->len - 4);
        return out;
    }
    buf_t rest = {.p = s->p + 4, .len = s->len - 4};
    snprintf(out, sizeof(out), "%s", hex(&rest));
    return out;
}

static void test_numeric(void) {
    /* numeric_send('<lexeme>'::numeric) of PostgreSQL 15: ndigits, weight,
       sign, dscale, base-10000 digits */
    static const struct {
        const char *lex, *want;
    } cases[] = {
        {"0", "0000000000000000"},
        {"-0.00", "0000000000000002"},
        {"0.0e5", "0000000000000000"},
        {"0.000e-3", "0000000000000006"},
        {"1", "00010000000000000001"},
        {"-1", "00010000400000000001"},
        {"5e0", "00010000000000000005"},
        {"12345", "000200010000000000010929"},
        {"1.5", "000200000000000100011388"},
        {"0.0001", "0001ffff000000040001"},
        {"0.00001", "0001fffe0000000503e8"},
        {"1.5e3", "000100000000000005dc"},
        {"1.5E+3", "000100000000000005dc"},
        {"100e-2", "00010000000000020001"},
        {"1.50e1", "0001000000000001000f"},
        {"1E+20", "00010005000000000001"},
        {"-123456789012345678901234567890.5",
         "0009000740000001000c0d801ed204d2162e23340d801ed21388"},
        {"0.10000000000000000001", "0005ffff0000001403e80000000000000001"},
        {"99999999999999999999999999999999999999",
         "000a0009000000000063270f270f270f270f270f270f270f270f270f"},
        {"0.00000000000000000000000000000000000001", "0001fff6000000260064"},
        {"1e-38", "0001fff6000000260064"},
        {"12345678.87654321", "000400010000000804d2162e223d10e1"},
        {"1.000000000000000000000000000000000000001",
         "000b0000000000270001000000000000000000000000000000000000000a"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t s = {0};
        CHECK_INT(wh_sql_bin_numeric(&s, cases[i].lex, strlen(cases[i].lex)), 0);
        if (strcmp(field_data(&s), cases[i].want) != 0)
            HARNESS_FAIL("numeric %s: %s, want %s", cases[i].lex, field_data(&s), cases[i].want);
        buf_free(&s);
    }
    /* not a number, or beyond what numeric_in takes: nothing appended */
    static const char *const bad[] = {"", "-", "1.", ".5", "1e", "1e+", "1x", "+1", "0x10",
                                      "1.5.5", "--1", "1e131072", "1e-16384",
                                      "1e99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_t s = {0};
        if (wh_sql_bin_numeric(&s, bad[i], strlen(bad[i])) != -1 || s.len != 0)
            HARNESS_FAIL("numeric \"%s\" accepted (%zu bytes)", bad[i], s.len);
        buf_free(&s);
    }
    /* exponents up to numeric_in's limit, and scales up to the format's */
    buf_t s = {0};
    CHECK_INT(wh_sql_bin_numeric(&s, "1e1000", 6), 0);
    CHECK_INT(wh_sql_bin_numeric(&s, "1e-1000", 7), 0);
    /* weight 32767 (10^131068) is the format's largest, scale 16383 its
       largest: numeric_send('1e131071'::numeric), '1e-16383' */
    buf_reset(&s);
    CHECK_INT(wh_sql_bin_numeric(&s, "1e131071", 8), 0);
    CHECK_STR(field_data(&s), "00017fff0000000003e8");
    buf_reset(&s);
    CHECK_INT(wh_sql_bin_numeric(&s, "1e-16383", 8), 0);
    CHECK_STR(field_data(&s), "0001f00000003fff000a");
    char many[20000] = "0.";
    memset(many + 2, '0', 16383);
    many[2 + 16383] = '\0';
    CHECK_INT(wh_sql_bin_numeric(&s, many, strlen(many)), 0);
    many[2 + 16383] = '0';
    many[2 + 16384] = '\0';
    size_t before = s.len;
    CHECK_INT(wh_sql_bin_numeric(&s, many, strlen(many)), -1);
    CHECK_INT(s.len, before);
    buf_free(&s);
}

static void test_scalars(void) {
    static const struct {
        int kind;   /* 0 int8, 1 float8, 2 bool, 3 timestamptz */
        int64_t i;
        double d;
        const char *want;
    } cases[] = {
        {0, INT64_MIN, 0, "8000000000000000"},
        {0, INT64_MAX, 0, "7fffffffffffffff"},
        {0, 0, 0, "0000000000000000"},
        {0, -1, 0, "ffffffffffffffff"},
        {1, 0, -0.0, "8000000000000000"},
        {1, 0, 1.5, "3ff8000000000000"},
        {1, 0, 5e-324, "0000000000000001"},
        {2, 1, 0, "01"},
        {2, 0, 0, "00"},
        /* timestamptz_send('2026-11-26 20:14:37.00001+00'), '1970-01-01
           00:00:00+00', '1999-12-31 23:59:59.999999+00' */
        {3, 1795724077000010LL, 0, "000304325c81854a"},
        {3, 0, 0, "fffca2fec4c82000"},
        {3, 946684799999999LL, 0, "ffffffffffffffff"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t s = {0};
        switch (cases[i].kind) {
        case 0: wh_sql_bin_int8(&s, cases[i].i); break;
        case 1: wh_sql_bin_float8(&s, cases[i].d); break;
        case 2: wh_sql_bin_bool(&s, (int)cases[i].i); break;
        default: CHECK_INT(wh_sql_bin_timestamptz(&s, cases[i].i), 0);
        }
        if (strcmp(field_data(&s), cases[i].want) != 0)
            HARNESS_FAIL("case %zu: %s, want %s", i, field_data(&s), cases[i].want);
        buf_free(&s);
    }
    /* -infinity (INT64_MIN) and below are never sent */
    buf_t s = {0};
    CHECK_INT(wh_sql_bin_timestamptz(&s, INT64_MIN), -1);
    CHECK_INT(wh_sql_bin_timestamptz(&s, INT64_MIN + 946684800000000LL), -1);
    CHECK_INT(s.len, 0);
    CHECK_INT(wh_sql_bin_timestamptz(&s, INT64_MIN + 946684800000001LL), 0);
    CHECK_STR(field_data(&s), "8000000000000001");
    buf_free(&s);
}

static void test_text(void) {
    static const struct {
        const char *text;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"a", 1, "61"},
        {"tab\t\\n", 6, "746162095c6e"},
        {"caf\xc3\xa9 \xe5\x90\x8d \xf0\x9f\x98\x80", 14, "636166c3a920e5908d20f09f9880"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t s = {0};
        CHECK_INT(wh_sql_bin_text(&s, cases[i].text, cases[i].len), 0);
        if (strcmp(field_data(&s), cases[i].want) != 0)
            HARNESS_FAIL("text %zu: %s, want %s", i, field_data(&s), cases[i].want);
        buf_free(&s);
    }
    buf_t s = {0};
    CHECK_INT(wh_sql_bin_text(&s, "", WH_SQL_BIN_FIELD_MAX), -1);
    CHECK_INT(s.len, 0);
    buf_free(&s);
}

static void test_stream(void) {
    buf_t s = {0};
    wh_sql_bin_header(&s);
    wh_sql_bin_tuple(&s, 2);
    wh_sql_bin_null(&s);
    wh_sql_bin_bool(&s, 1);
    wh_sql_bin_trailer(&s);
    CHECK_STR(hex(&s), "5047434f50590aff0d0a00" "00000000" "00000000"
                       "0002" "ffffffff" "0000000101" "ffff");
    buf_free(&s);
}

int main(void) {
    TEST(test_numeric);
    TEST(test_scalars);
    TEST(test_text);
    TEST(test_stream);
    return test_done();
}
