/* Unit tests for schema-registry/sr_compat: one table row per Avro
 * resolution rule (reader, writer, verdict, first reason), then the levels. */
#include <stdlib.h>

#include "sr_compat.h"
#include "harness.h"

#define REC(fields) "{\"type\":\"record\",\"name\":\"R\",\"fields\":[" fields "]}"
#define F(name, type) "{\"name\":\"" name "\",\"type\":" type "}"
#define FD(name, type, def) "{\"name\":\"" name "\",\"type\":" type ",\"default\":" def "}"
#define ENUM(syms) "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[" syms "]}"

static sr_avro_t *parse(const char *text) {
    char err[256] = "";
    sr_avro_t *s = sr_avro_parse(text, strlen(text), err, sizeof(err));
    if (!s)
        HARNESS_FAIL("cannot parse %s: %s", text, err);
    return s;
}

static void test_rules(void) {
    static const struct {
        const char *rule, *reader, *writer;
        int ok;
        const char *reason;   /* first reason, "" when compatible */
    } cases[] = {
        {"same primitive", "\"int\"", "\"int\"", 1, ""},
        {"int->long", "\"long\"", "\"int\"", 1, ""},
        {"int->float", "\"float\"", "\"int\"", 1, ""},
        {"int->double", "\"double\"", "\"int\"", 1, ""},
        {"long->float", "\"float\"", "\"long\"", 1, ""},
        {"long->double", "\"double\"", "\"long\"", 1, ""},
        {"float->double", "\"double\"", "\"float\"", 1, ""},
        {"long->int narrows", "\"int\"", "\"long\"", 0,
         "TYPE_MISMATCH at /: reader int, writer long"},
        {"double->float narrows", "\"float\"", "\"double\"", 0,
         "TYPE_MISMATCH at /: reader float, writer double"},
        {"string->bytes", "\"bytes\"", "\"string\"", 1, ""},
        {"bytes->string", "\"string\"", "\"bytes\"", 1, ""},
        {"string->int", "\"int\"", "\"string\"", 0, "TYPE_MISMATCH at /: reader int, writer string"},
        {"field added with default", REC(F("a", "\"int\"") "," FD("b", "\"string\"", "\"x\"")),
         REC(F("a", "\"int\"")), 1, ""},
        {"field added without default", REC(F("a", "\"int\"") "," F("b", "\"string\"")),
         REC(F("a", "\"int\"")), 0,
         "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: field 'b' has no default value and "
         "is missing in the writer schema"},
        {"field removed (writer has more)", REC(F("a", "\"int\"")),
         REC(F("a", "\"int\"") "," F("b", "\"string\"")), 1, ""},
        {"field type promoted", REC(F("a", "\"long\"")), REC(F("a", "\"int\"")), 1, ""},
        {"field type narrowed", REC(F("a", "\"int\"")), REC(F("a", "\"long\"")), 0,
         "TYPE_MISMATCH at /fields/0/type: reader int, writer long"},
        {"field renamed with alias",
         REC("{\"name\":\"b\",\"type\":\"int\",\"aliases\":[\"a\"]}"), REC(F("a", "\"int\"")), 1, ""},
        {"record renamed", "{\"type\":\"record\",\"name\":\"S\",\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}", 0, "NAME_MISMATCH at /: reader S, writer R"},
        {"record renamed with alias",
         "{\"type\":\"record\",\"name\":\"S\",\"aliases\":[\"R\"],\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}", 1, ""},
        {"namespace change keeps the name",
         "{\"type\":\"record\",\"name\":\"a.R\",\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"b.R\",\"fields\":[]}", 1, ""},
        {"enum symbol added", ENUM("\"A\",\"B\",\"C\""), ENUM("\"A\",\"B\""), 1, ""},
        {"enum symbol removed", ENUM("\"A\""), ENUM("\"A\",\"B\""), 0,
         "MISSING_ENUM_SYMBOLS at /: reader E lacks symbol 'B'"},
        {"enum symbol removed, reader default",
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"A\"}",
         ENUM("\"A\",\"B\""), 1, ""},
        {"enum renamed", "{\"type\":\"enum\",\"name\":\"X\",\"symbols\":[\"A\"]}", ENUM("\"A\""), 0,
         "NAME_MISMATCH at /: reader X, writer E"},
        {"fixed same", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
         "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", 1, ""},
        {"fixed size change", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}",
         "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", 0,
         "FIXED_SIZE_MISMATCH at /: reader F size 8, writer size 4"},
        {"fixed renamed", "{\"type\":\"fixed\",\"name\":\"G\",\"size\":4}",
         "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", 0, "NAME_MISMATCH at /: reader G, writer F"},
        {"array items promoted", "{\"type\":\"array\",\"items\":\"long\"}",
         "{\"type\":\"array\",\"items\":\"int\"}", 1, ""},
        {"array items mismatch", "{\"type\":\"array\",\"items\":\"int\"}",
         "{\"type\":\"array\",\"items\":\"string\"}", 0,
         "TYPE_MISMATCH at /items: reader int, writer string"},
        {"map values mismatch", "{\"type\":\"map\",\"values\":\"boolean\"}",
         "{\"type\":\"map\",\"values\":\"string\"}", 0,
         "TYPE_MISMATCH at /values: reader boolean, writer string"},
        {"array vs map", "{\"type\":\"array\",\"items\":\"int\"}",
         "{\"type\":\"map\",\"values\":\"int\"}", 0, "TYPE_MISMATCH at /: reader array, writer map"},
        {"reader union has writer type", "[\"null\",\"string\"]", "\"string\"", 1, ""},
        {"reader union promotes writer", "[\"null\",\"double\"]", "\"int\"", 1, ""},
        {"reader union lacks writer", "[\"null\",\"string\"]", "\"int\"", 0,
         "MISSING_UNION_BRANCH at /: reader union has no branch for writer int"},
        {"writer union, reader plain, all readable", "\"long\"", "[\"int\",\"long\"]", 1, ""},
        {"writer union, reader plain, one not", "\"string\"", "[\"null\",\"string\"]", 0,
         "TYPE_MISMATCH at /: reader string, writer null"},
        {"union widened", "[\"null\",\"string\",\"long\"]", "[\"null\",\"string\"]", 1, ""},
        {"union narrowed", "[\"null\",\"string\"]", "[\"null\",\"string\",\"long\"]", 0,
         "MISSING_UNION_BRANCH at /: reader union lacks a branch for writer branch 2 (long)"},
        {"field made optional", REC(FD("a", "[\"null\",\"int\"]", "null")), REC(F("a", "\"int\"")), 1, ""},
        {"nested record field missing",
         REC(F("n", "{\"type\":\"record\",\"name\":\"N\",\"fields\":[" F("x", "\"int\"") "," F("y", "\"int\"") "]}")),
         REC(F("n", "{\"type\":\"record\",\"name\":\"N\",\"fields\":[" F("x", "\"int\"") "]}")), 0,
         "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0/type/fields/1: field 'y' has no default"},
        {"array of records evolves",
         REC(F("l", "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"I\",\"fields\":[" FD("x", "\"int\"", "0") "]}}")),
         REC(F("l", "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"I\",\"fields\":[]}}")), 1, ""},
        {"recursive type", "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" F("v", "\"long\"") ","
         FD("next", "[\"null\",\"L\"]", "null") "]}",
         "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" F("v", "\"int\"") ","
         FD("next", "[\"null\",\"L\"]", "null") "]}", 1, ""},
        {"recursive type broken", "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" F("v", "\"int\"") ","
         FD("next", "[\"null\",\"L\"]", "null") "]}",
         "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" F("v", "\"long\"") ","
         FD("next", "[\"null\",\"L\"]", "null") "]}", 0,
         "TYPE_MISMATCH at /fields/0/type: reader int, writer long"},
        {"logicalType ignored", "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}", "\"long\"", 1, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sr_avro_t *r = parse(cases[i].reader), *w = parse(cases[i].writer);
        if (!r || !w) {
            sr_avro_destroy(r);
            sr_avro_destroy(w);
            continue;
        }
        json_t *reasons = json_array();
        int ok = sr_compat_can_read(r, w, reasons);
        const char *first = json_string_value(json_array_get(reasons, 0));
        if (ok != cases[i].ok)
            HARNESS_FAIL("%s: verdict %d, want %d", cases[i].rule, ok, cases[i].ok);
        if (strncmp(first ? first : "", cases[i].reason, strlen(cases[i].reason)) != 0 ||
            (!cases[i].reason[0] && first))
            HARNESS_FAIL("%s: reason \"%s\", want \"%s\"", cases[i].rule, first ? first : "",
                         cases[i].reason);
        CHECK_INT(sr_compat_can_read(r, w, NULL), cases[i].ok);
        json_decref(reasons);
        sr_avro_destroy(r);
        sr_avro_destroy(w);
    }
}

static void test_levels(void) {
    /* v1 {a string}, v2 {}, v3 {a int = 0}: each step is compatible both
     * ways, but v3 and v1 disagree on a's type */
    const char *v1 = REC(F("a", "\"string\""));
    const char *v2 = REC("");
    const char *v3 = REC(FD("a", "\"int\"", "0"));
    const char *bad = "\"string\"";
    sr_avro_t *s1 = parse(v1), *s2 = parse(v2), *s3 = parse(v3), *sb = parse(bad);
    const sr_avro_t *hist[] = {s1, s2};
    const int vers[] = {1, 2};
    static const struct { const char *level; int with_v3, with_bad; } cases[] = {
        {"NONE", 1, 1},
        {"BACKWARD", 1, 0},
        {"BACKWARD_TRANSITIVE", 0, 0},
        {"FORWARD", 1, 0},
        {"FORWARD_TRANSITIVE", 0, 0},
        {"FULL", 1, 0},
        {"FULL_TRANSITIVE", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int level = sr_compat_level_parse(cases[i].level);
        CHECK(level >= 0);
        CHECK_STR(sr_compat_level_name((sr_compat_level_t)level), cases[i].level);
        json_t *reasons = json_array();
        int got = sr_compat_check((sr_compat_level_t)level, s3, hist, vers, 2, reasons);
        if (got != cases[i].with_v3)
            HARNESS_FAIL("%s v3: %d, want %d", cases[i].level, got, cases[i].with_v3);
        if (!got && (json_array_size(reasons) == 0 ||
                     strncmp(json_string_value(json_array_get(reasons, 0)),
                             "version 1 (", 11) != 0))
            HARNESS_FAIL("%s: reason %s", cases[i].level,
                         json_string_value(json_array_get(reasons, 0)));
        got = sr_compat_check((sr_compat_level_t)level, sb, hist, vers, 2, NULL);
        if (got != cases[i].with_bad)
            HARNESS_FAIL("%s bad: %d, want %d", cases[i].level, got, cases[i].with_bad);
        json_decref(reasons);
    }
    CHECK_INT(sr_compat_level_parse("backward"), SR_COMPAT_BACKWARD);
    CHECK_INT(sr_compat_level_parse("SIDEWAYS"), -1);
    CHECK_INT(sr_compat_check(SR_COMPAT_FULL_TRANSITIVE, sb, hist, vers, 0, NULL), 1);
    sr_avro_destroy(s1);
    sr_avro_destroy(s2);
    sr_avro_destroy(s3);
    sr_avro_destroy(sb);
}

int main(void) {
    TEST(test_rules);
    TEST(test_levels);
    return test_done();
}
