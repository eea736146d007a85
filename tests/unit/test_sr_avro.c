/* Unit tests for schema-registry/sr_avro: canonical form, fingerprints
 * (expected values computed with fastavro) and hostile schema JSON. */
#include <stdlib.h>

#include "sr_avro.h"
#include "harness.h"

/* fingerprint as Avro writes it: the 8 bytes little-endian, in hex */
static void fp_hex(uint64_t fp, char out[17]) {
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)((fp >> (8 * i)) & 0xff));
}

static void test_canonical(void) {
    static const struct { const char *in, *pcf, *fp; } cases[] = {
        {"\"int\"", "\"int\"", "8f5c393f1ad57572"},
        {"{\"type\":\"long\"}", "\"long\"", "b71df49344e154d0"},
        {"{\"type\":\"string\",\"logicalType\":\"uuid\"}", "\"string\"", "c70345637248018f"},
        {" [ \"null\" , \"string\" ] ", "[\"null\",\"string\"]", "9dc47eb71ef24598"},
        {"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"doc\":\"d\",\"fields\":["
         "{\"name\":\"x\",\"type\":\"int\",\"default\":1,\"doc\":\"q\"},"
         "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}},"
         "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"c.F\",\"size\":4}},"
         "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"E\"}},"
         "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"c.F\",\"default\":[]}, \"aliases\":[\"y\"]}]}",
         "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
         "{\"name\":\"e\",\"type\":{\"name\":\"a.b.E\",\"type\":\"enum\",\"symbols\":[\"A\",\"B\"]}},"
         "{\"name\":\"f\",\"type\":{\"name\":\"c.F\",\"type\":\"fixed\",\"size\":4}},"
         "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"a.b.E\"}},"
         "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"c.F\"}}]}",
         "ba43c3659471c39e"},
        {"{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},"
         "{\"name\":\"next\",\"type\":[\"null\",\"Node\"],\"default\":null}]}",
         "{\"name\":\"Node\",\"type\":\"record\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},"
         "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}",
         "b423b985d4eb5ffb"},
        {"{\"type\":\"record\",\"name\":\"Outer\",\"namespace\":\"ns\",\"fields\":["
         "{\"name\":\"i\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":[{\"name\":\"z\","
         "\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":4}}]}},"
         "{\"name\":\"j\",\"type\":\"Inner\"},{\"name\":\"k\",\"type\":{\"type\":\"record\","
         "\"name\":\"x.Other\",\"fields\":[{\"name\":\"q\",\"type\":\"Other\"}]}}]}",
         "{\"name\":\"ns.Outer\",\"type\":\"record\",\"fields\":[{\"name\":\"i\",\"type\":{\"name\":"
         "\"ns.Inner\",\"type\":\"record\",\"fields\":[{\"name\":\"z\",\"type\":\"bytes\"}]}},"
         "{\"name\":\"j\",\"type\":\"ns.Inner\"},{\"name\":\"k\",\"type\":{\"name\":\"x.Other\","
         "\"type\":\"record\",\"fields\":[{\"name\":\"q\",\"type\":\"x.Other\"}]}}]}",
         "962d21e1e0178e8d"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "", hex[17];
        sr_avro_t *s = sr_avro_parse(cases[i].in, strlen(cases[i].in), err, sizeof(err));
        CHECK_STR(err, "");
        if (!s)
            continue;
        CHECK_STR(s->canonical, cases[i].pcf);
        fp_hex(s->fingerprint, hex);
        CHECK_STR(hex, cases[i].fp);
        sr_avro_destroy(s);
    }
}

static void test_defaults_kept(void) {
    const char *in = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                     "[\"null\",\"int\"],\"default\":null},{\"name\":\"e\",\"type\":{\"type\":"
                     "\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"],\"default\":\"Y\"}}]}";
    char err[256] = "";
    sr_avro_t *s = sr_avro_parse(in, strlen(in), err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(s->root->fields[0].def != NULL && json_is_null(s->root->fields[0].def));
    CHECK(s->root->fields[1].def == NULL);
    CHECK_STR(s->root->fields[1].type->enum_default, "Y");
    sr_avro_destroy(s);
}

static void test_hostile(void) {
    static const struct { const char *in, *err; } cases[] = {
        {"", "invalid JSON at line 1 column 0: unexpected token near end of file"},
        {"{", "invalid JSON"},
        {"\"nope\"", "unknown type \"nope\""},
        {"42", "a schema is a string, an object or an array"},
        {"{}", "schema object has no \"type\""},
        {"{\"type\":\"record\",\"fields\":[]}", "record needs a string \"name\""},
        {"{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}", "invalid name \"1R\""},
        {"{\"type\":\"record\",\"name\":\"R\"}", "record \"R\" needs a \"fields\" array"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
         "{\"name\":\"a\",\"type\":\"int\"}]}", "field \"a\" appears twice in \"R\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a-b\",\"type\":\"int\"}]}",
         "invalid field name \"a-b\" in \"R\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\"}]}",
         "field \"a\" of \"R\" has no \"type\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"default\":\"x\"}]}", "default of field \"a\" in \"R\" is not a valid int"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\","
         "\"int\"],\"default\":1}]}", "default of field \"a\" in \"R\" is not a valid union"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"default\":4294967296}]}", "default of field \"a\" in \"R\" is not a valid int"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
         "symbol \"A\" appears twice in enum \"E\""},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}",
         "default of enum \"E\" is not one of its symbols"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"9\"]}", "invalid symbol 0 in enum \"E\""},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
         "fixed \"F\" needs a non-negative integer \"size\""},
        {"{\"type\":\"fixed\",\"name\":\"F\"}", "fixed \"F\" needs a non-negative integer \"size\""},
        {"{\"type\":\"array\"}", "array needs \"items\""},
        {"{\"type\":\"map\",\"items\":\"int\"}", "map needs \"values\""},
        {"[\"int\",\"int\"]", "union contains int twice"},
        {"[\"null\",[\"int\"]]", "a union cannot directly contain a union"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":"
         "\"record\",\"name\":\"R\",\"fields\":[]}}]}", "type \"R\" is defined twice"},
        {"{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}",
         "a named type cannot be called \"int\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[],\"fields\":[]}", "invalid JSON"},
        {"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a..b\",\"fields\":[]}",
         "invalid namespace \"a..b\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"aliases\":\"x\",\"fields\":[]}",
         "\"aliases\" must be an array of names"},
        {"\"int\" \"long\"", "invalid JSON"},
        {"{\"type\":\"string\\u0000x\"}", "invalid JSON at line 1 column 23: \\u0000 is not allowed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        sr_avro_t *s = sr_avro_parse(cases[i].in, strlen(cases[i].in), err, sizeof(err));
        CHECK(s == NULL);
        sr_avro_destroy(s);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            HARNESS_FAIL("case %zu: error \"%s\", want prefix \"%s\"", i, err, cases[i].err);
    }
}

/* nesting, size and count limits answer with an error, never a crash */
static void test_limits(void) {
    char err[256];
    size_t n = 100000;
    char *deep = malloc(2 * n + 8);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < n; i++)
        deep[k++] = ']';
    sr_avro_t *s = sr_avro_parse(deep, k, err, sizeof(err));
    CHECK(s == NULL);
    k = 0;
    for (int i = 0; i < 70; i++)
        k += (size_t)sprintf(deep + k, "{\"type\":\"array\",\"items\":");
    k += (size_t)sprintf(deep + k, "\"int\"");
    for (int i = 0; i < 70; i++)
        deep[k++] = '}';
    s = sr_avro_parse(deep, k, err, sizeof(err));
    CHECK(s == NULL);
    CHECK_STR(err, "schema nesting deeper than 64");
    free(deep);

    size_t cap = 30000 * 40 + 100;
    char *wide = malloc(cap);
    k = (size_t)sprintf(wide, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[");
    for (int i = 0; i < 30000; i++)
        k += (size_t)sprintf(wide + k, "%s{\"name\":\"f%d\",\"type\":\"int\"}", i ? "," : "", i);
    k += (size_t)sprintf(wide + k, "]}");
    s = sr_avro_parse(wide, k, err, sizeof(err));
    CHECK(s == NULL);
    CHECK_STR(err, "schema has more than 20000 types");
    free(wide);
}

int main(void) {
    TEST(test_canonical);
    TEST(test_defaults_kept);
    TEST(test_hostile);
    TEST(test_limits);
    return test_done();
}
