/* Unit tests for wh_layout and wh_batch: Stitch names, types, flattening, subtables, rejections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wh_batch.h"
#include "wh_layout.h"
#include "harness.h"

static void test_segments(void) {
    static const struct {
        const char *json;
        size_t len;   /* 0: strlen */
        const char *want;
    } cases[] = {
        {"plain", 0, "plain"},
        {"CamelCase", 0, "CamelCase"},
        {"a b", 0, "a_b"},
        {"a-b.c", 0, "a_b_c"},
        {"x\"; DROP TABLE y; --", 0, "x_DROP_TABLE_y___"},
        {"\"quoted\"", 0, "quoted"},
        {"back\\slash", 0, "backslash"},
        {"caf\xc3\xa9", 0, "caf\xc3\xa9"},
        {"\xe5\x90\x8d", 0, "\xe5\x90\x8d"},
        {"nul\0byte", 8, "nulbyte"},
        {"tab\there\n", 0, "tabhere"},
        {"$%&()*+,/:;<=>?@[]^`{|}~'", 0, ""},
        {"", 0, ""},
        {"123", 0, "123"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].json);
        long n = wh_name_segment(cases[i].json, len, out, sizeof(out));
        CHECK_INT(n, (long)strlen(cases[i].want));
        CHECK_STR(out, cases[i].want);
    }
    char small[4];
    CHECK_INT(wh_name_segment("abcdef", 6, small, sizeof(small)), -1);
}

static void test_reserved(void) {
    static const struct {
        const char *seg;
        int want;
    } cases[] = {
        {"_sdc", 1}, {"_sdc_sequence", 1}, {"_SDC_x", 1}, {"_rjm", 1}, {"_RJMfoo", 1},
        {"a__bi", 1}, {"a__it", 1}, {"a__do", 1}, {"a__de", 1}, {"a__bo", 1},
        {"a__st", 1}, {"a__ti", 1}, {"A__ST", 1}, {"__st", 1},
        {"sdc", 0}, {"a_sdc", 0}, {"a_st", 0}, {"a__s", 0}, {"a__str", 0}, {"st", 0},
        {"__sdc_primary_key", 0}, {"value", 0}, {"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (wh_name_reserved(cases[i].seg) != cases[i].want)
            HARNESS_FAIL("wh_name_reserved(\"%s\") != %d", cases[i].seg, cases[i].want);
}

static void test_types(void) {
    for (int t = 0; t < WH_NTYPES; t++) {
        CHECK_INT(wh_type_from_pg(wh_type_pg((wh_type_t)t)), t);
        CHECK_INT(wh_type_from_sqlite(wh_type_sqlite((wh_type_t)t)), t);
    }
    CHECK_INT(wh_type_from_pg("integer"), -1);
    CHECK_INT(wh_type_from_sqlite("BLOB"), -1);
    CHECK_STR(wh_type_suffix(WH_TEXT), "st");
    CHECK_STR(wh_type_suffix(WH_NUMERIC), "de");
    char buf[64];
    wh_format_time(1795724077123456LL, buf);
    CHECK_STR(buf, "2026-11-26 20:14:37.123456+00:00");
    wh_format_time(-1, buf);
    CHECK_STR(buf, "1969-12-31 23:59:59.999999+00:00");
}

/* appends the live rows of every table as text, system columns left out */
static void dump(wh_batch_t *b, wh_layout_t *l, char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    for (size_t t = 0; t < wh_layout_ntables(l); t++) {
        wh_table_t *tab = wh_layout_table(l, t);
        const wh_cell_t *by_col[512];
        for (size_t r = 0; r < wh_batch_nrows(b, t); r++) {
            const wh_row_t *row = wh_batch_row(b, t, r);
            if (!wh_batch_row_live(b, row))
                continue;
            wh_batch_row_values(b, t, row, by_col, tab->ncols);
            n += (size_t)snprintf(out + n, size - n, "%s:", tab->name);
            for (size_t c = 0; c < tab->ncols && n < size; c++) {
                const wh_cell_t *v = by_col[c];
                const char *cn = tab->cols[c].name;
                if (!v || strcmp(cn, WH_COL_SEQUENCE) == 0 || strcmp(cn, WH_COL_RECEIVED_AT) == 0 ||
                    strcmp(cn, WH_COL_BATCHED_AT) == 0)
                    continue;
                n += (size_t)snprintf(out + n, size - n, " %s(%s)=", cn,
                                      wh_type_suffix(tab->cols[c].type));
                char d[40];
                if (v->type == WH_BIGINT || v->type == WH_BOOLEAN)
                    n += (size_t)snprintf(out + n, size - n, "%lld", (long long)v->i);
                else if (v->type == WH_DOUBLE && !v->s)
                    /* a payload double has no text: the loaders print it */
                    n += (size_t)snprintf(out + n, size - n, "%s", (wh_format_double(v->d, d), d));
                else
                    n += (size_t)snprintf(out + n, size - n, "%.*s", (int)v->len, v->s);
            }
            n += (size_t)snprintf(out + n, size - n, "\n");
        }
    }
    for (size_t i = 0; i < wh_batch_nrejects(b) && n < size; i++) {
        const wh_reject_t *rj = wh_batch_reject_at(b, i);
        n += (size_t)snprintf(out + n, size - n, "REJECT %s: %s\n", rj->table, rj->reason);
    }
}

typedef struct {
    const char *name;
    const char *pk;            /* NULL: no primary key */
    const char *records[4];    /* one batch; a key "k<N>" is given for each */
    const char *want;
} layout_case_t;

static const layout_case_t layout_cases[] = {
    {"scalars", "id", {"{\"id\":1,\"s\":\"x\",\"b\":true,\"d\":1.5,\"n\":123456789012345678901234,\"z\":null}"},
     "data: id(bi)=1 s(st)=x b(bo)=1 d(do)=1.5 n(de)=123456789012345678901234\n"},
    {"flatten", "id", {"{\"id\":\"a\",\"a\":{\"b\":{\"c\":1},\"d\":2},\"e\":{}}"},
     "data: id(st)=a a__b__c(bi)=1 a__d(bi)=2\n"},
    {"subtables", "id", {"{\"id\":7,\"items\":[{\"x\":1},{\"x\":2,\"sub\":[3,4]}],\"tags\":[\"p\",null]}"},
     "data: id(bi)=7\n"
     "data__items: _sdc_source_key_id(bi)=7 _sdc_level_0_id(bi)=0 x(bi)=1\n"
     "data__items: _sdc_source_key_id(bi)=7 _sdc_level_0_id(bi)=1 x(bi)=2\n"
     "data__items__sub: _sdc_source_key_id(bi)=7 _sdc_level_0_id(bi)=1 _sdc_level_1_id(bi)=0 value(bi)=3\n"
     "data__items__sub: _sdc_source_key_id(bi)=7 _sdc_level_0_id(bi)=1 _sdc_level_1_id(bi)=1 value(bi)=4\n"
     "data__tags: _sdc_source_key_id(bi)=7 _sdc_level_0_id(bi)=0 value(st)=p\n"
     "data__tags: _sdc_source_key_id(bi)=7 _sdc_level_0_id(bi)=1\n"},
    {"array of arrays", "id", {"{\"id\":1,\"m\":[[1],[]]}"},
     "data: id(bi)=1\n"
     "data__m: _sdc_source_key_id(bi)=1 _sdc_level_0_id(bi)=0\n"
     "data__m: _sdc_source_key_id(bi)=1 _sdc_level_0_id(bi)=1\n"
     "data__m__value: _sdc_source_key_id(bi)=1 _sdc_level_0_id(bi)=0 _sdc_level_1_id(bi)=0 value(bi)=1\n"},
    {"nested object array", "id", {"{\"id\":1,\"o\":{\"l\":[true]}}"},
     "data: id(bi)=1\ndata__o__l: _sdc_source_key_id(bi)=1 _sdc_level_0_id(bi)=0 value(bo)=1\n"},
    {"type split keeps the original", "id",
     {"{\"id\":1,\"a\":1}", "{\"id\":2,\"a\":\"x\"}", "{\"id\":3,\"a\":2.5}", "{\"id\":4,\"a\":false}"},
     "data: id(bi)=1 a(bi)=1\ndata: id(bi)=2 a__st(st)=x\ndata: id(bi)=3 a__do(do)=2.5\n"
     "data: id(bi)=4 a__bo(bo)=0\n"},
    {"exact decimals", "id", {"{\"id\":1,\"a\":0.10000000000000000001,\"b\":0.1,\"c\":0.30000000000000004,\"d\":1e300}"},
     "data: id(bi)=1 a(de)=0.10000000000000000001 b(do)=0.1 c(do)=0.30000000000000004 d(do)=1e+300\n"},
    {"reserved names", "id", {"{\"id\":1,\"_sdc_sequence\":5,\"x__st\":1,\"_rjm\":2,\"ok\":3}"},
     "data: id(bi)=1 ok(bi)=3\nREJECT data: reserved column name: _sdc_sequence (and 2 more)\n"},
    {"collision", "id", {"{\"id\":1,\"a b\":1,\"a_b\":2,\"c\":3}"},
     "data: id(bi)=1 a_b(bi)=1 c(bi)=3\nREJECT data: Field collision on column a_b\n"},
    {"flattening collision", "id", {"{\"id\":1,\"a\":{\"b\":1},\"a__b\":2}"},
     "data: id(bi)=1 a__b(bi)=1\nREJECT data: Field collision on column a__b\n"},
    {"duplicate member", "id", {"{\"id\":1,\"a\":1,\"a\":\"x\"}"},
     "data: id(bi)=1 a(bi)=1\nREJECT data: Field collision on column a\n"},
    {"key name collision", "id", {"{\"id\":1,\"i.d\":2,\"\\\"id\\\"\":3}"},
     "data: id(bi)=1 i_d(bi)=2\nREJECT data: Field collision on column id\n"},
    {"hostile names stay data", "id",
     {"{\"id\":1,\"x\\\"; DROP TABLE data; --\":1,\"\\\"\":2,\"caf\\u00e9\":3}"},
     "data: id(bi)=1 x_DROP_TABLE_data___(bi)=1 caf\xc3\xa9(bi)=3\nREJECT data: empty column name\n"},
    {"column 59 ok, 60 rejected", "id",
     {"{\"id\":1,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1,"
      "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":2}"},
     "data: id(bi)=1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(bi)=1\n"
     "REJECT data: column name too long: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"},
    {"table 63 ok, 64 rejected", "id",
     {"{\"id\":1,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":[1],"
      "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":[2]}"},
     "data: id(bi)=1\n"
     "data__aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: _sdc_source_key_id(bi)=1 "
     "_sdc_level_0_id(bi)=0 value(bi)=1\n"
     "REJECT data__bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb: table name too long: "
     "data__bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"},
    {"out of range", "id", {"{\"id\":1,\"big\":1e400,\"nul\":\"a\\u0000b\",\"ok\":1}"},
     "data: id(bi)=1 ok(bi)=1\nREJECT data: value out of range for column big (and 1 more)\n"},
    {"key missing, null, object", "id", {"{\"x\":1}", "{\"id\":null}", "{\"id\":{}}", "{\"id\":1,\"id\":2}"},
     "REJECT data: primary key missing or null\nREJECT data: primary key missing or null\n"
     "REJECT data: primary key is not a scalar\nREJECT data: duplicate primary-key field\n"},
    {"key type change", "id", {"{\"id\":1}", "{\"id\":\"1\"}"},
     "data: id(bi)=1\nREJECT data: primary key value has another type than the key column\n"},
    {"not objects", "id", {"[1]", "{\"id\":1", "\"s\""},
     "REJECT data: record is not a JSON object\nREJECT data: invalid JSON: expected ',' or '}' at byte 7\n"
     "REJECT data: record is not a JSON object\n"},
    {"latest per key wins in a batch", "id", {"{\"id\":1,\"v\":1}", "{\"id\":1,\"v\":2}", "{\"id\":2,\"v\":3}",
                                              "{\"id\":1,\"v\":4}"},
     "data: id(bi)=2 v(bi)=3\ndata: id(bi)=1 v(bi)=4\n"},
    {"no primary key", NULL, {"{\"a\":1,\"l\":[1]}", "{\"a\":2}"},
     "data: __sdc_primary_key(st)=k0 a(bi)=1\ndata: __sdc_primary_key(st)=k1 a(bi)=2\n"
     "data__l: _sdc_source_key___sdc_primary_key(st)=k0 _sdc_level_0_id(bi)=0 value(bi)=1\n"},
};

static void run_case(const layout_case_t *c, int repeat_key) {
    char err[256] = "";
    const char *pk = c->pk;
    wh_layout_t *l = wh_layout_new("it", pk ? &pk : NULL, pk ? 1 : 0, err, sizeof(err));
    CHECK(l != NULL);
    if (!l)
        return;
    wh_batch_t *b = wh_batch_new(l, 1000);
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    for (int i = 0; i < 4 && c->records[i]; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", repeat_key ? 0 : i);
        wh_msg_t m = {.topic = "webhooks.it", .partition = i % 2, .offset = 10 + i,
                      .value = c->records[i], .value_len = strlen(c->records[i])};
        m.sys.sequence = 100 + i;
        m.sys.received_at = 2000;
        m.sys.key = key;
        m.sys.key_len = strlen(key);
        CHECK_INT(wh_batch_add(b, p, &m), 0);
    }
    char out[8192];
    dump(b, l, out, sizeof(out));
    if (strcmp(out, c->want) != 0)
        HARNESS_FAIL("case \"%s\":\n--- got\n%s--- want\n%s", c->name, out, c->want);
    sink_json_parser_destroy(p);
    wh_batch_destroy(b);
    wh_layout_destroy(l);
}

/* the case laid out from trees parsed once and kept (sink_json_parse_keep),
   twice, each time over a fresh layout, as the loader does after a schema
   change: the same rows as parsing each message anew */
static void run_case_kept(const layout_case_t *c) {
    char err[256] = "", key[4][16];
    const char *pk = c->pk;
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    const sink_json_node_t *roots[4] = {NULL};
    wh_msg_t m[4];
    int n = 0;
    for (; n < 4 && c->records[n]; n++) {
        snprintf(key[n], sizeof(key[n]), "k%d", n);
        m[n] = (wh_msg_t){.topic = "webhooks.it", .partition = n % 2, .offset = 10 + n,
                          .value = c->records[n], .value_len = strlen(c->records[n])};
        m[n].sys.sequence = 100 + n;
        m[n].sys.received_at = 2000;
        m[n].sys.key = key[n];
        m[n].sys.key_len = strlen(key[n]);
    }
    /* the parser's reset keeps its memory: a second batch parses into it */
    for (int batch = 0; batch < 2; batch++) {
        sink_json_parser_reset(p);
        char why[4][256];
        for (int i = 0; i < n; i++)
            if (sink_json_parse_keep(p, m[i].value, m[i].value_len, &roots[i], why[i],
                                     sizeof(why[i])) < 0)
                roots[i] = NULL;
        for (int round = 0; round < 2; round++) {
            wh_layout_t *l = wh_layout_new("it", pk ? &pk : NULL, pk ? 1 : 0, err, sizeof(err));
            wh_batch_t *b = l ? wh_batch_new(l, 1000) : NULL;
            CHECK(b != NULL);
            if (!b) {
                wh_layout_destroy(l);
                break;
            }
            for (int i = 0; i < n; i++)
                CHECK_INT(wh_batch_add_parsed(b, &m[i], roots[i], why[i]), 0);
            char out[8192];
            dump(b, l, out, sizeof(out));
            if (strcmp(out, c->want) != 0)
                HARNESS_FAIL("case \"%s\" from kept trees (batch %d, round %d):\n--- got\n%s"
                             "--- want\n%s", c->name, batch, round, out, c->want);
            wh_batch_destroy(b);
            wh_layout_destroy(l);
        }
    }
    sink_json_parser_destroy(p);
}

static void test_layout_cases(void) {
    for (size_t i = 0; i < sizeof(layout_cases) / sizeof(layout_cases[0]); i++) {
        run_case(&layout_cases[i], 0);
        run_case_kept(&layout_cases[i]);
    }
}

static void test_nopk_replay(void) {
    /* the same message key twice (a replay) is one row */
    static const layout_case_t c = {"replay", NULL, {"{\"a\":1}", "{\"a\":1}", "{\"a\":2}"},
                                    "data: __sdc_primary_key(st)=k0 a(bi)=1\n"};
    run_case(&c, 1);
}

static void test_offsets_and_catalog(void) {
    char err[256];
    const char *pk = "id";
    wh_layout_t *l = wh_layout_new("it", &pk, 1, err, sizeof(err));
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    /* a column that exists in the warehouse with another type than the
       first value seen: the value goes to the suffixed column */
    CHECK_INT(wh_layout_load_column(l, "data", "id", WH_BIGINT), 0);
    CHECK_INT(wh_layout_load_column(l, "data", "_sdc_sequence", WH_BIGINT), 0);
    CHECK_INT(wh_layout_load_column(l, "data", "_sdc_received_at", WH_TIMESTAMP), 0);
    CHECK_INT(wh_layout_load_column(l, "data", "_sdc_batched_at", WH_TIMESTAMP), 0);
    CHECK_INT(wh_layout_load_column(l, "data", "_sdc_table_version", WH_BIGINT), 0);
    CHECK_INT(wh_layout_load_column(l, "data", "a", WH_TEXT), 0);
    CHECK_INT(wh_layout_pending(l), 0);
    wh_batch_t *b = wh_batch_new(l, 1);
    const char *recs[] = {"{\"id\":1,\"a\":5}", "{\"id\":2,\"a\":\"s\"}", "{\"id\":3}"};
    for (int i = 0; i < 3; i++) {
        wh_msg_t m = {.topic = i == 2 ? "t2" : "t1", .partition = 3, .offset = 40 - i,
                      .value = recs[i], .value_len = strlen(recs[i])};
        CHECK_INT(wh_batch_add(b, p, &m), 0);
    }
    CHECK_INT(wh_layout_pending(l), 1);
    wh_table_t *t = wh_layout_find_table(l, "data");
    wh_column_t *c = wh_table_find(t, "a__bi", NULL);
    CHECK(c && c->pending && c->type == WH_BIGINT);
    CHECK(!wh_table_find(t, "a", NULL)->pending);
    CHECK_INT(wh_batch_noffsets(b), 2);
    CHECK_STR(wh_batch_offset_at(b, 0)->topic, "t1");
    CHECK_INT(wh_batch_offset_at(b, 0)->next, 41);
    CHECK_INT(wh_batch_offset_at(b, 1)->next, 39);
    CHECK_INT(wh_batch_nkept(b), 3);
    wh_layout_clear_pending(l);
    CHECK_INT(wh_layout_pending(l), 0);
    wh_batch_destroy(b);
    /* subtable read back: level from its _sdc_level_N_id columns */
    wh_layout_reset(l);
    CHECK_INT(wh_layout_load_column(l, "data__x", "_sdc_level_1_id", WH_BIGINT), 0);
    CHECK_INT(wh_layout_find_table(l, "data__x")->level, 2);
    sink_json_parser_destroy(p);
    wh_layout_destroy(l);
    wh_batch_destroy(NULL);
    wh_layout_destroy(NULL);
}

static void test_bad_keys(void) {
    char err[256];
    const char *bad[] = {"_sdc_x", "a__st", "!!", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        wh_layout_t *l = wh_layout_new("it", &bad[i], 1, err, sizeof(err));
        if (l)
            HARNESS_FAIL("key \"%s\" accepted", bad[i]);
        wh_layout_destroy(l);
        CHECK(err[0] != '\0');
    }
    const char *two[] = {"a-b", "a_b"};
    CHECK(wh_layout_new("it", two, 2, err, sizeof(err)) == NULL);
    const char *ok[] = {"order id", "line"};
    wh_layout_t *l = wh_layout_new("it", ok, 2, err, sizeof(err));
    CHECK(l != NULL);
    CHECK_STR(wh_layout_key(l, 0), "order_id");
    CHECK_INT(wh_layout_nkeys(l), 2);
    wh_layout_destroy(l);
}

static void test_many_records(void) {
    /* enough distinct keys to grow the key hash several times, with updates */
    char err[256];
    const char *pk = "id";
    wh_layout_t *l = wh_layout_new("it", &pk, 1, err, sizeof(err));
    wh_batch_t *b = wh_batch_new(l, 1);
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    for (int i = 0; i < 5000; i++) {
        char rec[64];
        int n = snprintf(rec, sizeof(rec), "{\"id\":%d,\"v\":%d}", i % 3000, i);
        wh_msg_t m = {.topic = "t", .partition = 0, .offset = i, .value = rec, .value_len = (size_t)n};
        m.sys.sequence = i;
        CHECK_INT(wh_batch_add(b, p, &m), 0);
    }
    CHECK_INT(wh_batch_nkept(b), 3000);
    CHECK_INT(wh_batch_live_rows(b, 0), 3000);
    sink_json_parser_destroy(p);
    wh_batch_destroy(b);
    wh_layout_destroy(l);
}

static void test_column_cap(void) {
    /* a table stops growing at WH_TABLE_COLUMNS_MAX: later fields rejected */
    char err[256];
    const char *pk = "id";
    wh_layout_t *l = wh_layout_new("it", &pk, 1, err, sizeof(err));
    wh_batch_t *b = wh_batch_new(l, 1);
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    size_t cap = 16 * 2000;
    char *rec = malloc(cap);
    size_t n = (size_t)snprintf(rec, cap, "{\"id\":1");
    for (int i = 0; i < 1600; i++)
        n += (size_t)snprintf(rec + n, cap - n, ",\"f%d\":%d", i, i);
    n += (size_t)snprintf(rec + n, cap - n, "}");
    wh_msg_t m = {.topic = "t", .partition = 0, .offset = 0, .value = rec, .value_len = n};
    CHECK_INT(wh_batch_add(b, p, &m), 0);
    CHECK_INT(wh_layout_find_table(l, "data")->ncols, WH_TABLE_COLUMNS_MAX);
    CHECK_INT(wh_batch_nrejects(b), 1);
    CHECK_STR(wh_batch_reject_at(b, 0)->reason, "too many columns in the table for f1495 (and 104 more)");
    free(rec);
    sink_json_parser_destroy(p);
    wh_batch_destroy(b);
    wh_layout_destroy(l);
}

int main(void) {
    TEST(test_segments);
    TEST(test_reserved);
    TEST(test_types);
    TEST(test_layout_cases);
    TEST(test_nopk_replay);
    TEST(test_offsets_and_catalog);
    TEST(test_bad_keys);
    TEST(test_many_records);
    TEST(test_column_cap);
    return test_done();
}
