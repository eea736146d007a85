/* Unit tests for schema inference and evolution: tables of JSON sequences
 * with the expected schema after each record, backward compatibility of every
 * version with all earlier ones (structurally, and by decoding old data and
 * reading it with the newest schema), rejects, system fields. */
#include <avro.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "sink_conv.h"
#include "harness.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_STEPS 8
#define MAX_TEXT 8192

/* Tables are written with ' for " to stay readable; q() converts. */
static const char *q(const char *s, char *buf, size_t size) {
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    buf[i] = '\0';
    return buf;
}

#define PREFIX                                                                           \
    "{'type':'record','name':'data','namespace':'hookpipe.t','fields':["                 \
    "{'name':'_sdc_received_at','type':{'type':'long','logicalType':'timestamp-micros'}}," \
    "{'name':'_sdc_sequence','type':'long'},"                                            \
    "{'name':'_sdc_batched_at','type':{'type':'long','logicalType':'timestamp-micros'}}," \
    "{'name':'_sdc_table_version','type':['null','long'],'default':null}"
#define OPT(n, t) "{'name':'" n "','type':" t ",'default':null}"
#define OPTJ(n, t, j) "{'name':'" n "','type':" t ",'default':null,'hookpipe.json_name':'" j "'}"
#define DEC "{'type':'fixed','name':'decimal_76_38','size':32,'logicalType':'decimal','precision':76,'scale':38}"
#define DECREF "'decimal_76_38'"
#define REC(n, f) "{'type':'record','name':'" n "','fields':[" f "]}"
#define ARR(i) "{'type':'array','items':" i "}"

typedef struct step {
    const char *json;
    int rc;
    const char *fields;  /* payload fields after the step; NULL: as before */
} step_t;

typedef struct evo_case {
    const char *name;
    step_t steps[MAX_STEPS];
} evo_case_t;

static const evo_case_t evo_cases[] = {
    {"field added", {
        {"{'a':1}", SINK_NEW_VERSION, OPT("a", "['null','long']")},
        {"{'a':2,'b':'x'}", SINK_NEW_VERSION,
         OPT("a", "['null','long']") "," OPT("b", "['null','string']")},
        {"{'b':'y'}", SINK_OK, NULL},
        {"{}", SINK_OK, NULL},
        {"{'b':null,'a':3}", SINK_OK, NULL},
    }},
    {"int then string", {
        {"{'v':1}", SINK_NEW_VERSION, OPT("v", "['null','long']")},
        {"{'v':'x'}", SINK_NEW_VERSION, OPT("v", "['null','long','string']")},
        {"{'v':2}", SINK_OK, NULL},
        {"{'v':1.5}", SINK_NEW_VERSION, OPT("v", "['null','long','double','string']")},
        {"{'v':true}", SINK_NEW_VERSION, OPT("v", "['null','boolean','long','double','string']")},
    }},
    {"nested object grows", {
        {"{'c':{'a':1}}", SINK_NEW_VERSION, OPT("c", "['null'," REC("data__c", OPT("a", "['null','long']")) "]")},
        {"{'c':{'a':1,'b':true}}", SINK_NEW_VERSION,
         OPT("c", "['null'," REC("data__c", OPT("a", "['null','long']") "," OPT("b", "['null','boolean']")) "]")},
        {"{'c':null}", SINK_OK, NULL},
        {"{'c':{}}", SINK_OK, NULL},
        {"{'c':{'d':{'e':'x'}}}", SINK_NEW_VERSION,
         OPT("c", "['null'," REC("data__c", OPT("a", "['null','long']") "," OPT("b", "['null','boolean']") ","
             OPT("d", "['null'," REC("data__c__d", OPT("e", "['null','string']")) "]")) "]")},
    }},
    {"arrays of mixed items", {
        {"{'xs':[1,2]}", SINK_NEW_VERSION, OPT("xs", "['null'," ARR("'long'") "]")},
        {"{'xs':['a',3]}", SINK_NEW_VERSION, OPT("xs", "['null'," ARR("['long','string']") "]")},
        {"{'xs':[{'k':1}]}", SINK_NEW_VERSION,
         OPT("xs", "['null'," ARR("['long','string'," REC("data__xs", OPT("k", "['null','long']")) "]") "]")},
        {"{'xs':[]}", SINK_OK, NULL},
        {"{'xs':[[1],null]}", SINK_NEW_VERSION,
         OPT("xs", "['null'," ARR("['null','long','string'," REC("data__xs", OPT("k", "['null','long']")) ","
             ARR("'long'") "]") "]")},
        {"{'xs':[2.5]}", SINK_NEW_VERSION,
         OPT("xs", "['null'," ARR("['null','long','double','string'," REC("data__xs", OPT("k", "['null','long']")) ","
             ARR("'long'") "]") "]")},
    }},
    {"empty array then items", {
        {"{'e':[]}", SINK_NEW_VERSION, OPT("e", "['null'," ARR("'null'") "]")},
        {"{'e':[]}", SINK_OK, NULL},
        {"{'e':[1]}", SINK_NEW_VERSION, OPT("e", "['null'," ARR("['null','long']") "]")},
    }},
    {"null then value", {
        {"{'n':null}", SINK_NEW_VERSION, "{'name':'n','type':'null','default':null}"},
        {"{'n':null}", SINK_OK, NULL},
        {"{'n':5}", SINK_NEW_VERSION, OPT("n", "['null','long']")},
    }},
    {"big ints", {
        {"{'b':9223372036854775807}", SINK_NEW_VERSION, OPT("b", "['null','long']")},
        {"{'b':-9223372036854775808}", SINK_OK, NULL},
        {"{'b':9223372036854775808}", SINK_NEW_VERSION, OPT("b", "['null','long'," DEC "]")},
        {"{'b':-123456789012345678901234567890}", SINK_OK, NULL},
        {"{'b':123456789012345678901234567890123456789}", SINK_REJECT, NULL},
    }},
    {"precise decimals", {
        {"{'p':0.1}", SINK_NEW_VERSION, OPT("p", "['null','double']")},
        {"{'p':0.12345678901234567890}", SINK_NEW_VERSION, OPT("p", "['null','double'," DEC "]")},
        {"{'p':123.456}", SINK_OK, NULL},
        {"{'p':-0.00000000000000000000000000000000000001}", SINK_OK, NULL},
        {"{'p':1.000000000000000000000000000000000000001}", SINK_REJECT, NULL},
        {"{'p':1e-39}", SINK_OK, NULL},
    }},
    {"name mapping", {
        {"{'first name':1,'e-mail':'x','2fa':true,'':null,'ok_1':2}", SINK_NEW_VERSION,
         OPTJ("first_name", "['null','long']", "first name") "," OPTJ("e_mail", "['null','string']", "e-mail")
         "," OPTJ("_2fa", "['null','boolean']", "2fa") ",{'name':'_','type':'null','default':null,"
         "'hookpipe.json_name':''}," OPT("ok_1", "['null','long']")},
        {"{'caf\xc3\xa9':{'x.y':1}}", SINK_NEW_VERSION,
         OPTJ("first_name", "['null','long']", "first name") "," OPTJ("e_mail", "['null','string']", "e-mail")
         "," OPTJ("_2fa", "['null','boolean']", "2fa") ",{'name':'_','type':'null','default':null,"
         "'hookpipe.json_name':''}," OPT("ok_1", "['null','long']") ","
         OPTJ("caf_u00E9", "['null'," REC("data__caf_u00E9", OPTJ("x_y", "['null','long']", "x.y")) "]", "caf\xc3\xa9")},
    }},
    {"collisions", {
        {"{'a-b':1}", SINK_NEW_VERSION, OPTJ("a_b", "['null','long']", "a-b")},
        {"{'a.b':1}", SINK_REJECT, NULL},
        {"{'x y':1,'x-y':2}", SINK_REJECT, NULL},
        {"{'o':{'k-':1,'k ':2}}", SINK_REJECT, NULL},
        {"{'_sdc_sequence':1}", SINK_REJECT, NULL},
        {"{'a-b':'s'}", SINK_NEW_VERSION, OPTJ("a_b", "['null','long','string']", "a-b")},
    }},
    {"decimal defined once, then named", {
        {"{'a':1,'b':1.00000000000000000001}", SINK_NEW_VERSION,
         OPT("a", "['null','long']") "," OPT("b", "['null'," DEC "]")},
        {"{'a':2.00000000000000000001,'c':{'d':[3.00000000000000000001]}}", SINK_NEW_VERSION,
         OPT("a", "['null','long'," DEC "]") "," OPT("b", "['null'," DECREF "]") ","
         OPT("c", "['null'," REC("data__c", OPT("d", "['null'," ARR(DECREF) "]")) "]")},
        {"{'b':-5.00000000000000000001,'a':7}", SINK_OK, NULL},
    }},
    {"record names stay unique", {
        {"{'a':{'b':{'x':1}}}", SINK_NEW_VERSION,
         OPT("a", "['null'," REC("data__a", OPT("b", "['null'," REC("data__a__b", OPT("x", "['null','long']")) "]")) "]")},
        {"{'a__b':{'y':1}}", SINK_NEW_VERSION,
         OPT("a", "['null'," REC("data__a", OPT("b", "['null'," REC("data__a__b", OPT("x", "['null','long']")) "]")) "]")
         "," OPT("a__b", "['null'," REC("data__a__b_2", OPT("y", "['null','long']")) "]")},
        {"{'a':[{'z':1}]}", SINK_NEW_VERSION,
         OPT("a", "['null'," REC("data__a", OPT("b", "['null'," REC("data__a__b", OPT("x", "['null','long']")) "]")) ","
             ARR(REC("data__a_2", OPT("z", "['null','long']"))) "]")
         "," OPT("a__b", "['null'," REC("data__a__b_2", OPT("y", "['null','long']")) "]")},
    }},
};

/* ---- structural BACKWARD check: can a reader with schema r read w? ---- */

static const char *type_name(const json_t *t) {
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_object(t))
        return json_string_value(json_object_get(t, "type"));
    return "union";
}

static const char *attr(const json_t *t, const char *k) {
    json_t *v = json_is_object(t) ? json_object_get(t, k) : NULL;
    return v ? (json_is_string(v) ? json_string_value(v) : "(non-string)") : "";
}

static long long iattr(const json_t *t, const char *k) {
    return json_is_object(t) ? json_integer_value(json_object_get(t, k)) : -1;
}

static json_t *decimal_def;  /* what a reference to decimal_76_38 stands for */

static const json_t *deref(const json_t *t) {
    return json_is_string(t) && !strcmp(json_string_value(t), "decimal_76_38") ? decimal_def : t;
}

static int can_read(const json_t *r, const json_t *w) {
    size_t i;
    json_t *b;
    r = deref(r);
    w = deref(w);
    if (json_is_array(w)) {
        json_array_foreach(w, i, b) if (!can_read(r, b)) return 0;
        return 1;
    }
    if (json_is_array(r)) {
        json_array_foreach(r, i, b) if (can_read(b, w)) return 1;
        return 0;
    }
    const char *rt = type_name(r), *wt = type_name(w);
    if (!rt || !wt || strcmp(rt, wt))
        return 0;
    if (strcmp(attr(r, "logicalType"), attr(w, "logicalType")) ||
        iattr(r, "precision") != iattr(w, "precision") || iattr(r, "scale") != iattr(w, "scale"))
        return 0;
    if (!strcmp(rt, "array"))
        return can_read(json_object_get(r, "items"), json_object_get(w, "items"));
    if (!strcmp(rt, "fixed"))
        return !strcmp(attr(r, "name"), attr(w, "name")) && iattr(r, "size") == iattr(w, "size");
    if (strcmp(rt, "record"))
        return 1;
    if (strcmp(attr(r, "name"), attr(w, "name")))
        return 0;
    json_t *rf, *wf;
    size_t j;
    json_array_foreach(json_object_get(r, "fields"), i, rf) {
        const json_t *match = NULL;
        json_array_foreach(json_object_get(w, "fields"), j, wf)
            if (!strcmp(attr(rf, "name"), attr(wf, "name"))) match = wf;
        if (match ? !can_read(json_object_get(rf, "type"), json_object_get(match, "type"))
                  : !json_object_get(rf, "default"))
            return 0;
    }
    return 1;
}

static int text_can_read(const char *reader, const char *writer) {
    json_t *r = json_loads(reader, 0, NULL), *w = json_loads(writer, 0, NULL);
    int ok = r && w && can_read(r, w);
    json_decref(r);
    json_decref(w);
    return ok;
}

static void test_checker_can_fail(void) {
    char a[512], b[512];
    q(PREFIX "," OPT("v", "['null','long']") "]}", a, sizeof(a));
    q(PREFIX "," OPT("v", "['null','long','string']") "]}", b, sizeof(b));
    CHECK_INT(text_can_read(b, a), 1);
    CHECK_INT(text_can_read(a, b), 0);
    q(PREFIX ",{'name':'v','type':'long'}]}", b, sizeof(b));
    CHECK_INT(text_can_read(b, PREFIX "]}"), 0);
    q(PREFIX "," OPT("v", "['null'," DEC "]") "]}", a, sizeof(a));
    char *c = strdup(a);
    c[strstr(c, "\"scale\":38") - c + 8] = '7';
    CHECK_INT(text_can_read(c, a), 0);
    free(c);
    /* string and decimal are not interchangeable (bytes would be) */
    q(PREFIX "," OPT("v", "['null','string']") "]}", b, sizeof(b));
    CHECK_INT(text_can_read(b, a), 0);
    CHECK_INT(text_can_read(a, b), 0);
}

/* ---- reading old data with the newest schema ----------------------- */

static int find_branch(avro_schema_t u, avro_schema_t s) {
    if (is_avro_link(s))
        s = avro_schema_link_target(s);
    for (size_t i = 0; i < avro_schema_union_size(u); i++) {
        avro_schema_t b = avro_schema_union_branch(u, (int)i);
        if (is_avro_link(b))   /* a reference to a named type defined earlier */
            b = avro_schema_link_target(b);
        if (avro_typeof(b) == avro_typeof(s) &&
            (!is_avro_record(s) || !strcmp(avro_schema_name(b), avro_schema_name(s))))
            return (int)i;
    }
    return -1;
}

/* Copies src (a value of a writer schema) into dst (a value of the reader
 * schema) the way Avro schema resolution reads it: fields by name, missing
 * reader fields take their default (null), union branches by type. */
static int project(avro_value_t *src, avro_value_t *dst) {
    avro_value_t sb, db, sf, df;
    if (avro_value_get_type(src) == AVRO_UNION)
        return avro_value_get_current_branch(src, &sb) || project(&sb, dst);
    if (avro_value_get_type(dst) == AVRO_UNION) {
        int i = find_branch(avro_value_get_schema(dst), avro_value_get_schema(src));
        return i < 0 || avro_value_set_branch(dst, i, &db) || project(src, &db);
    }
    if (avro_value_get_type(src) != avro_value_get_type(dst))
        return -1;
    switch (avro_value_get_type(src)) {
    case AVRO_NULL: return avro_value_set_null(dst);
    case AVRO_BOOLEAN: {
        int v;
        return avro_value_get_boolean(src, &v) || avro_value_set_boolean(dst, v);
    }
    case AVRO_INT64: {
        int64_t v;
        return avro_value_get_long(src, &v) || avro_value_set_long(dst, v);
    }
    case AVRO_DOUBLE: {
        double v;
        return avro_value_get_double(src, &v) || avro_value_set_double(dst, v);
    }
    case AVRO_STRING: {
        const char *s;
        size_t n;
        return avro_value_get_string(src, &s, &n) || avro_value_set_string_len(dst, s, n);
    }
    case AVRO_FIXED: {
        const void *s;
        size_t n;
        return avro_value_get_fixed(src, &s, &n) || avro_value_set_fixed(dst, (void *)s, n);
    }
    case AVRO_ARRAY: {
        size_t n;
        if (avro_value_get_size(src, &n) || avro_value_reset(dst))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (avro_value_get_by_index(src, i, &sf, NULL) || avro_value_append(dst, &df, NULL) ||
                project(&sf, &df))
                return -1;
        return 0;
    }
    case AVRO_RECORD: {
        size_t n;
        if (avro_value_get_size(dst, &n))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const char *name;
            if (avro_value_get_by_index(dst, i, &df, &name))
                return -1;
            if (avro_value_get_by_name(src, name, &sf, NULL) == 0) {
                if (project(&sf, &df))
                    return -1;
                continue;
            }
            /* a field the writer did not have: its default, null */
            if (avro_value_get_type(&df) == AVRO_UNION) {
                if (avro_value_set_branch(&df, 0, &db) || avro_value_set_null(&db))
                    return -1;
            } else if (avro_value_set_null(&df)) {
                return -1;
            }
        }
        return 0;
    }
    default: return -1;
    }
}

typedef struct written {
    char json[256];
    int version;
    char bytes[512];
    size_t len;
} written_t;

static const sink_sys_t sys = {1795724077123456LL, 1795724077123456789LL, 1795724078000000LL,
                               0, 0, "k1", 2};

/* Decodes w (written with schema text `writer`) and reads it with the
 * converter's current schema; the result must encode to exactly what the
 * converter writes for the same JSON today. */
static void check_read_with_latest(sink_conv_t *c, const char *writer, const written_t *w) {
    char err[256];
    avro_schema_t ws = NULL;
    avro_value_iface_t *wi = NULL, *ri = NULL;
    avro_value_t wv, rv;
    int have_wv = 0, have_rv = 0;
    CHECK_INT(avro_schema_from_json_length(writer, strlen(writer), &ws), 0);
    wi = avro_generic_class_from_schema(ws);
    ri = avro_generic_class_from_schema(sink_conv_schema(c));
    have_wv = avro_generic_value_new(wi, &wv) == 0;
    have_rv = avro_generic_value_new(ri, &rv) == 0;
    CHECK(have_wv && have_rv);
    avro_reader_t rd = avro_reader_memory(w->bytes, (int64_t)w->len);
    CHECK_INT(avro_value_read(rd, &wv), 0);
    avro_reader_free(rd);
    if (project(&wv, &rv) != 0)
        HARNESS_FAIL("%s (version %d): cannot be read with the latest schema", w->json, w->version);

    size_t size;
    char got[512];
    CHECK_INT(avro_value_sizeof(&rv, &size), 0);
    CHECK(size <= sizeof(got));
    avro_writer_t wr = avro_writer_memory(got, (int64_t)sizeof(got));
    CHECK_INT(avro_value_write(wr, &rv), 0);
    avro_writer_free(wr);

    CHECK_INT(sink_conv_record(c, w->json, strlen(w->json), &sys, err, sizeof(err)), SINK_OK);
    const void *want;
    size_t want_len;
    CHECK_INT(sink_conv_encode(c, -1, &want, &want_len, err, sizeof(err)), 0);
    CHECK_MEM(got, size, want, want_len);
    if (have_wv)
        avro_value_decref(&wv);
    if (have_rv)
        avro_value_decref(&rv);
    avro_value_iface_decref(wi);
    avro_value_iface_decref(ri);
    avro_schema_decref(ws);
}

/* Type nodes of schema JSON: every type, union and branch. */
static size_t count_types(const json_t *t) {
    size_t n = 1, i;
    json_t *b;
    if (json_is_array(t))
        json_array_foreach(t, i, b) n += count_types(b);
    if (json_is_object(t)) {
        json_array_foreach(json_object_get(t, "fields"), i, b) n += count_types(json_object_get(b, "type"));
        if (json_object_get(t, "items"))
            n += count_types(json_object_get(t, "items"));
    }
    return n;
}

static void run_case(const evo_case_t *ec) {
    char err[256], json[256], want[MAX_TEXT], fields[MAX_TEXT] = "";
    char *versions[MAX_STEPS + 1] = {0};
    written_t *ws = calloc(MAX_STEPS, sizeof(*ws));
    size_t nw = 0;
    sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
    for (int i = 0; i < MAX_STEPS && ec->steps[i].json; i++) {
        const step_t *st = &ec->steps[i];
        int before = sink_conv_version(c);
        q(st->json, json, sizeof(json));
        int rc = sink_conv_record(c, json, strlen(json), &sys, err, sizeof(err));
        if (rc != st->rc)
            HARNESS_FAIL("%s step %d %s: rc %s (%s), want %s", ec->name, i, json, sink_rc_name(rc),
                         rc < 0 ? err : "", sink_rc_name(st->rc));
        if (st->fields)
            q(st->fields, fields, sizeof(fields));
        CHECK_INT(sink_conv_version(c), before + (rc == SINK_NEW_VERSION));
        if (!sink_conv_schema_text(c))
            continue;
        int wn = snprintf(want, sizeof(want), "%s%s%s]}", q(PREFIX, (char[1024]){0}, 1024),
                          fields[0] ? "," : "", fields);
        CHECK(wn > 0 && (size_t)wn < sizeof(want));
        if (strcmp(sink_conv_schema_text(c), want))
            HARNESS_FAIL("%s step %d %s:\n  schema %s\n  want   %s", ec->name, i, json,
                         sink_conv_schema_text(c), want);
        int v = sink_conv_version(c);
        if (!versions[v])
            versions[v] = strdup(sink_conv_schema_text(c));
        if (rc >= 0) {
            const void *out;
            written_t *w = &ws[nw++];
            snprintf(w->json, sizeof(w->json), "%s", json);
            w->version = v;
            CHECK_INT(sink_conv_encode(c, -1, &out, &w->len, err, sizeof(err)), 0);
            CHECK(w->len <= sizeof(w->bytes));
            memcpy(w->bytes, out, w->len);
        }
    }
    int last = sink_conv_version(c);
    /* every version BACKWARD compatible with every earlier one */
    for (int j = 2; j <= last; j++)
        for (int i = 1; i < j; i++)
            if (!text_can_read(versions[j], versions[i]))
                HARNESS_FAIL("%s: version %d cannot read version %d", ec->name, j, i);
    /* and data written with each version reads back with the latest */
    for (size_t k = 0; k < nw; k++)
        check_read_with_latest(c, versions[ws[k].version], &ws[k]);
    CHECK_INT(sink_conv_version(c), last);
    json_t *latest = json_loads(versions[last], 0, NULL);
    CHECK_INT(sink_shape_type_count(sink_conv_shape(c)), count_types(latest));
    json_decref(latest);
    /* a restarted sink loads the latest text and continues from it */
    sink_conv_t *again = sink_conv_new("t", 1, NULL, err, sizeof(err));
    if (sink_conv_load(again, versions[last], err, sizeof(err)) != 0)
        HARNESS_FAIL("%s: load: %s", ec->name, err);
    CHECK_STR(sink_conv_schema_text(again), versions[last]);
    for (size_t k = 0; k < nw; k++)
        if (sink_conv_record(again, ws[k].json, strlen(ws[k].json), &sys, err, sizeof(err)) != SINK_OK)
            HARNESS_FAIL("%s: %s after load: not ok", ec->name, ws[k].json);
    CHECK_INT(sink_conv_version(again), 1);
    sink_conv_destroy(again);
    for (int v = 0; v <= MAX_STEPS; v++)
        free(versions[v]);
    free(ws);
    sink_conv_destroy(c);
}

static void test_evolution(void) {
    for (size_t i = 0; i < N_ELEMS(evo_cases); i++)
        run_case(&evo_cases[i]);
}

/* ---- rejects -------------------------------------------------------- */

static void test_rejects(void) {
    static const struct { const char *json; const char *reason; } cases[] = {
        {"{'a':1,'a':2}", "duplicate key \"a\""},
        {"{'o':{'k':1,'k':{}}}", "duplicate key \"k\""},
        {"{'a-b':1,'a b':2}", "field collision: \"a-b\" and \"a_b\" both map to a_b"},
        {"{'x y':1,'x-y':2}", "field collision: \"x-y\" and \"x y\" both map to x_y"},
        {"{'x':1,'a.b':2}", "field collision: \"a.b\" and \"a_b\" both map to a_b"},
        {"{'_sdc_received_at':1}", "field collision: \"_sdc_received_at\" maps to the system field _sdc_received_at"},
        {"{'__sdc_primary_key':'x'}", "field collision: \"__sdc_primary_key\" maps to the system field __sdc_primary_key"},
        {"{'n':1e400}", "number 1e400 cannot be kept exactly (over 38 integer or 38 fraction digits)"},
        {"[{'a':1}]", "record is not a JSON object"},
        {"'str'", "record is not a JSON object"},
        {"{'a':}", "invalid JSON: unexpected character at byte 5"},
        {"{'d':[[[[[[[[1]]]]]]]]}", "limit exceeded: nesting deeper than 8 at byte 12"},
        {"{'d':{'d':{'d':{'d':{'d':{'d':{'d':{'d':{'d':1}}}}}}}}}", "limit exceeded: nesting deeper than 8 at byte 40"},
        {"{'f1':1,'f2':2,'f3':3,'f4':4,'f5':5,'f6':6}", "more than 5 fields in the schema"},
        {"{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':1}",
         "field name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is 41 bytes, longer than 40"},
    };
    char err[256], json[256];
    sink_limits_t lim = {.max_depth = 8, .max_fields = 5, .max_name = 40};
    sink_conv_t *c = sink_conv_new("t", 0, &lim, err, sizeof(err));
    CHECK_INT(sink_conv_record(c, "{\"a_b\":1}", 9, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    char *before = strdup(sink_conv_schema_text(c));
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        q(cases[i].json, json, sizeof(json));
        err[0] = '\0';
        int rc = sink_conv_record(c, json, strlen(json), &sys, err, sizeof(err));
        if (rc != SINK_REJECT || strcmp(err, cases[i].reason))
            HARNESS_FAIL("%s: %s \"%s\", want reject \"%s\"", json, sink_rc_name(rc), err,
                         cases[i].reason);
        CHECK_INT(sink_conv_version(c), 1);
        CHECK_STR(sink_conv_schema_text(c), before);
    }
    /* a name at the limit is fine */
    q("{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':{'d':{'d':1}}}", json,
      sizeof(json));
    CHECK_INT(sink_conv_record(c, json, strlen(json), &sys, err, sizeof(err)), SINK_NEW_VERSION);
    /* the key becomes __sdc_primary_key: none, or not UTF-8, is a reject */
    sink_sys_t nokey = sys;
    nokey.key = NULL;
    CHECK_INT(sink_conv_record(c, "{}", 2, &nokey, err, sizeof(err)), SINK_REJECT);
    CHECK_STR(err, "message has no key for __sdc_primary_key");
    nokey.key = "\xff";
    nokey.key_len = 1;
    CHECK_INT(sink_conv_record(c, "{}", 2, &nokey, err, sizeof(err)), SINK_REJECT);
    CHECK_STR(err, "message key is not valid UTF-8");
    free(before);
    sink_conv_destroy(c);
    sink_conv_destroy(NULL);
}

static void test_load_errors(void) {
    static const struct { const char *text; const char *err; } cases[] = {
        {"{", "schema is not JSON: string or '}' expected near end of file"},
        {"{'type':'record','name':'other','namespace':'hookpipe.t','fields':[]}",
         "schema is not a hookpipe record named data"},
        {"{'type':'record','name':'data','namespace':'hookpipe.t','fields':[]}",
         "schema lacks the system field _sdc_received_at"},
        {PREFIX ",{'name':'a','type':'long'}]}",
         "field a is not optional with default null"},
        {PREFIX ",{'name':'a','type':['null','int'],'default':null}]}",
         "type int is not one hookpipe infers"},
        {PREFIX ",{'name':'a','type':['null','long','long'],'default':null}]}",
         "union with two long branches"},
        {PREFIX "," OPT("a", "['null'," DEC "]") "," OPT("a", "'null'") "]}", "field a appears twice"},
        {PREFIX "," OPT("a", "['null',{'type':'bytes','logicalType':'decimal','precision':10,'scale':2}]") "]}",
         "type bytes is not one hookpipe infers"},
        {PREFIX "," OPT("a-b", "'null'") "]}", "field 4 has no valid name or type"},
        {PREFIX "," OPT("a", "['null'," REC("data", "") "]") "]}",
         "record without a valid, unique name and fields"},
        {PREFIX "," OPT("a", "['null',{'type':'array'}]") "]}", "array without items"},
        {PREFIX ",{'name':'__sdc_primary_key','type':'string'}]}",
         "schema has __sdc_primary_key but the integration has a primary key"},
    };
    char err[256], text[2048];
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
        err[0] = '\0';
        int rc = sink_conv_load(c, q(cases[i].text, text, sizeof(text)), err, sizeof(err));
        if (rc != -1 || strcmp(err, cases[i].err))
            HARNESS_FAIL("case %zu: rc %d \"%s\", want \"%s\"", i, rc, err, cases[i].err);
        CHECK_INT(sink_conv_version(c), 0);
        sink_conv_destroy(c);
    }
    /* a text without a primary key field loads into a converter without one */
    sink_conv_t *c = sink_conv_new("t", 0, NULL, err, sizeof(err));
    CHECK_INT(sink_conv_record(c, "{\"a\":[1]}", 9, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    char *saved = strdup(sink_conv_schema_text(c));
    sink_conv_destroy(c);
    c = sink_conv_new("t", 0, NULL, err, sizeof(err));
    CHECK_INT(sink_conv_load(c, saved, err, sizeof(err)), 0);
    CHECK_STR(sink_conv_schema_text(c), saved);
    CHECK_INT(sink_conv_record(c, "{\"a\":[2,\"x\"]}", 13, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_conv_version(c), 2);
    free(saved);
    sink_conv_destroy(c);
}

/* Big but legal records convert and encode; wide hostile ones are refused
 * at the field limit without building the whole shape. */
static void test_hostile_conversion(void) {
    char err[256];
    sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
    size_t items = 100000, cap = items * 8 + 64, n = 0;
    char *buf = malloc(cap);
    n += (size_t)snprintf(buf + n, cap - n, "{\"xs\":[");
    for (size_t i = 0; i < items; i++)
        n += (size_t)snprintf(buf + n, cap - n, i % 3 == 0 ? "%s%zu" : i % 3 == 1 ? "%s\"%zu\"" : "%snull",
                              i ? "," : "", i);
    n += (size_t)snprintf(buf + n, cap - n, "]}");
    CHECK_INT(sink_conv_record(c, buf, n, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    const void *out;
    size_t len;
    CHECK_INT(sink_conv_encode(c, 5, &out, &len, err, sizeof(err)), 0);
    CHECK(len > items);
    /* fewer items next time: the array value is cut back */
    CHECK_INT(sink_conv_record(c, "{\"xs\":[\"a\"]}", 12, &sys, err, sizeof(err)), SINK_OK);
    CHECK_INT(sink_conv_encode(c, -1, &out, &len, err, sizeof(err)), 0);
    sink_conv_t *fresh = sink_conv_new("t", 1, NULL, err, sizeof(err));
    CHECK_INT(sink_conv_load(fresh, sink_conv_schema_text(c), err, sizeof(err)), 0);
    CHECK_INT(sink_conv_record(fresh, "{\"xs\":[\"a\"]}", 12, &sys, err, sizeof(err)), SINK_OK);
    const void *want;
    size_t want_len;
    CHECK_INT(sink_conv_encode(fresh, -1, &want, &want_len, err, sizeof(err)), 0);
    CHECK_MEM(out, len, want, want_len);
    CHECK(len < 40);
    sink_conv_destroy(fresh);
    free(buf);

    size_t sl = 3u << 20;
    buf = malloc(sl + 16);
    memcpy(buf, "{\"s\":\"", 6);
    memset(buf + 6, 'x', sl);
    memcpy(buf + 6 + sl, "\"}", 2);
    CHECK_INT(sink_conv_record(c, buf, sl + 8, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_conv_encode(c, -1, &out, &len, err, sizeof(err)), 0);
    CHECK(len > sl);
    free(buf);

    cap = 100000 * 12 + 16;
    buf = malloc(cap);
    n = (size_t)snprintf(buf, cap, "{");
    for (int i = 0; i < 100000; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\"k%d\":1", i ? "," : "", i);
    n += (size_t)snprintf(buf + n, cap - n, "}");
    CHECK_INT(sink_conv_record(c, buf, n, &sys, err, sizeof(err)), SINK_REJECT);
    CHECK_STR(err, "more than 2000 fields in the schema");
    CHECK_INT(sink_conv_version(c), 2);
    free(buf);
    sink_conv_destroy(c);
}

static size_t json_depth(const json_t *j) {
    size_t d = 0, i, c;
    const char *k;
    json_t *v;
    if (json_is_array(j))
        json_array_foreach(j, i, v) if ((c = json_depth(v)) > d) d = c;
    if (json_is_object(j))
        json_object_foreach((json_t *)j, k, v) if ((c = json_depth(v)) > d) d = c;
    return json_is_array(j) || json_is_object(j) ? d + 1 : 0;
}

/* The default depth limit keeps the schema JSON within the registry's
 * nesting limit of 64, for the deepest shapes a record can make. */
static void test_depth_limit_fits_registry(void) {
    static const char *const leaves[] = {
        "{'x':1.00000000000000000001,'y':[1.00000000000000000001,'s'],'z':[[{'w':1}]]}",
        "{'x':[[[[[[[[[[[[[[1.00000000000000000001,1]]]]]]]]]]]]]]}",
    };
    char err[256], json[4096], tmp[4096];
    for (size_t l = 0; l < N_ELEMS(leaves); l++) {
        for (int levels = 1; levels <= 15; levels++) {
            sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
            size_t n = 0;
            for (int i = 1; i < levels; i++)
                n += (size_t)snprintf(json + n, sizeof(json) - n, "{'o%d':", i);
            n += (size_t)snprintf(json + n, sizeof(json) - n, "%s", leaves[l]);
            for (int i = 1; i < levels; i++)
                n += (size_t)snprintf(json + n, sizeof(json) - n, "}");
            snprintf(tmp, sizeof(tmp), "%s", json);
            q(tmp, json, sizeof(json));
            int rc = sink_conv_record(c, json, strlen(json), &sys, err, sizeof(err));
            int deep = levels + (l == 0 ? 3 : 14) > 15;  /* containers in the leaf */
            if (rc != (deep ? SINK_REJECT : SINK_NEW_VERSION))
                HARNESS_FAIL("leaf %zu, %d levels: %s %s", l, levels, sink_rc_name(rc), err);
            if (rc == SINK_NEW_VERSION) {
                json_t *schema = json_loads(sink_conv_schema_text(c), 0, NULL);
                if (json_depth(schema) > 64)
                    HARNESS_FAIL("leaf %zu, %d levels: schema JSON depth %zu", l, levels,
                                 json_depth(schema));
                json_decref(schema);
            }
            sink_conv_destroy(c);
        }
    }
    sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
    size_t n = 0;
    for (int i = 0; i < 15; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"o\":");
    n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"d\":1.00000000000000000001}");
    for (int i = 0; i < 15; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "}");
    CHECK_INT(sink_conv_record(c, json, n, &sys, err, sizeof(err)), SINK_REJECT);
    CHECK_STR(err, "limit exceeded: nesting deeper than 15 at byte 75");
    json[n - 1] = '\0';
    CHECK_INT(sink_conv_record(c, json + 5, n - 6, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    json_t *schema = json_loads(sink_conv_schema_text(c), 0, NULL);
    CHECK(json_depth(schema) <= 64);
    printf("schema JSON depth at the default depth limit: %zu (registry limit 64)\n",
           json_depth(schema));
    json_decref(schema);
    sink_conv_destroy(c);
}

/* A version whose schema would be too big for the registry is refused and
 * the schema stays as it was. */
static void test_schema_size_limits(void) {
    char err[256];
    const char *v1 = "{\"a\":1,\"b\":\"x\"}", *wide = "{\"c\":[1,\"x\"]}", *narrow = "{\"c\":1}";
    sink_limits_t lim = {.max_schema_types = 18};
    sink_conv_t *c = sink_conv_new("t", 1, &lim, err, sizeof(err));
    CHECK_INT(sink_conv_record(c, v1, strlen(v1), &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_shape_type_count(sink_conv_shape(c)), 13);
    CHECK_INT(sink_conv_record(c, wide, strlen(wide), &sys, err, sizeof(err)), SINK_REJECT);
    CHECK_STR(err, "schema would have 19 types, more than 18");
    CHECK_INT(sink_conv_version(c), 1);
    CHECK_INT(sink_conv_record(c, narrow, strlen(narrow), &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_conv_version(c), 2);
    size_t text_len = strlen(sink_conv_schema_text(c));
    sink_conv_destroy(c);

    sink_limits_t lim2 = {.max_schema_bytes = text_len + 10};
    c = sink_conv_new("t", 1, &lim2, err, sizeof(err));
    CHECK_INT(sink_conv_record(c, v1, strlen(v1), &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_conv_record(c, narrow, strlen(narrow), &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_conv_record(c, wide, strlen(wide), &sys, err, sizeof(err)), SINK_REJECT);
    char want[128];
    snprintf(want, sizeof(want), "schema would be %zu bytes, more than %zu", text_len + 43,
             text_len + 10);
    CHECK_STR(err, want);
    CHECK_INT(sink_conv_version(c), 2);
    sink_conv_destroy(c);
}

/* A rejected first record makes no version at all. */
static void test_reject_before_first_version(void) {
    char err[256];
    sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
    CHECK_INT(sink_conv_record(c, "{\"a\":1,\"a\":1}", 13, &sys, err, sizeof(err)), SINK_REJECT);
    CHECK_INT(sink_conv_version(c), 0);
    CHECK(sink_conv_schema_text(c) == NULL);
    CHECK(sink_conv_value(c) == NULL);
    const void *out;
    size_t len;
    CHECK_INT(sink_conv_encode(c, 1, &out, &len, err, sizeof(err)), -1);
    CHECK_INT(sink_conv_record(c, "{}", 2, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK_INT(sink_conv_version(c), 1);
    sink_conv_destroy(c);
}

/* ---- values: system fields, decimals, strings with NUL, wire format ---- */

static void test_values_and_wire_format(void) {
    char err[256];
    sink_conv_t *c = sink_conv_new("Stripe Events", 0, NULL, err, sizeof(err));
    const char json[] = "{\"s\":\"a\\u0000b\",\"d\":-1.00000000000000000000000000000000000001,\"big\":18446744073709551616,"
                        "\"f\":0.5,\"t\":true,\"xs\":[\"p\",2]}";
    sink_sys_t s = sys;
    s.has_table_version = 1;
    s.table_version = 7;
    CHECK_INT(sink_conv_record(c, json, sizeof(json) - 1, &s, err, sizeof(err)), SINK_NEW_VERSION);
    CHECK(strstr(sink_conv_schema_text(c), "\"namespace\":\"hookpipe.Stripe_Events\"") != NULL);
    CHECK(strstr(sink_conv_schema_text(c), "{\"name\":\"__sdc_primary_key\",\"type\":\"string\"}") != NULL);
    const void *out;
    size_t len;
    CHECK_INT(sink_conv_encode(c, 0x01020304, &out, &len, err, sizeof(err)), 0);
    CHECK_MEM(out, 5, "\x00\x01\x02\x03\x04", 5);

    avro_value_iface_t *iface = avro_generic_class_from_schema(sink_conv_schema(c));
    avro_value_t v, f, b;
    avro_generic_value_new(iface, &v);
    avro_reader_t rd = avro_reader_memory((const char *)out + 5, (int64_t)len - 5);
    CHECK_INT(avro_value_read(rd, &v), 0);
    avro_reader_free(rd);
    int64_t l;
    const char *str;
    const void *bytes;
    size_t n;
    double d;
    int bo;
    avro_value_get_by_name(&v, "_sdc_received_at", &f, NULL);
    avro_value_get_long(&f, &l);
    CHECK_INT(l, sys.received_at);
    avro_value_get_by_name(&v, "_sdc_sequence", &f, NULL);
    avro_value_get_long(&f, &l);
    CHECK_INT(l, sys.sequence);
    avro_value_get_by_name(&v, "_sdc_batched_at", &f, NULL);
    avro_value_get_long(&f, &l);
    CHECK_INT(l, sys.batched_at);
    avro_value_get_by_name(&v, "_sdc_table_version", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_long(&b, &l);
    CHECK_INT(l, 7);
    avro_value_get_by_name(&v, "__sdc_primary_key", &f, NULL);
    avro_value_get_string(&f, &str, &n);
    CHECK_MEM(str, n, "k1", 3);
    avro_value_get_by_name(&v, "s", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_string(&b, &str, &n);
    CHECK_MEM(str, n - 1, "a\0b", 3);
    avro_value_get_by_name(&v, "d", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    CHECK_INT(avro_value_get_type(&b), AVRO_FIXED);
    avro_value_get_fixed(&b, &bytes, &n);
    CHECK_MEM(bytes, n, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                        "\xb4\xc4\xb3\x57\xa5\x79\x3b\x85\xf6\x75\xdd\xbf\xff\xff\xff\xff", 32);
    /* 2^64 * 10^38 as two's complement, sign-extended to 32 bytes */
    avro_value_get_by_name(&v, "big", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_fixed(&b, &bytes, &n);
    CHECK_INT(n, 32);
    CHECK_MEM(bytes, 9, "\0\0\0\0\0\0\0\0\x4b", 9);
    avro_value_get_by_name(&v, "f", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_double(&b, &d);
    CHECK(d == 0.5);
    avro_value_get_by_name(&v, "t", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_boolean(&b, &bo);
    CHECK_INT(bo, 1);
    avro_value_get_by_name(&v, "xs", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_size(&b, &n);
    CHECK_INT(n, 2);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);

    /* a record with fewer fields writes null into the others */
    CHECK_INT(sink_conv_record(c, "{\"t\":false}", 11, &sys, err, sizeof(err)), SINK_OK);
    avro_value_get_by_name(sink_conv_value(c), "s", &f, NULL);
    int disc;
    avro_value_get_discriminant(&f, &disc);
    CHECK_INT(disc, 0);
    avro_value_get_by_name(sink_conv_value(c), "_sdc_table_version", &f, NULL);
    avro_value_get_discriminant(&f, &disc);
    CHECK_INT(disc, 0);
    sink_conv_destroy(c);
}

/* Key order does not matter and a shape with many fields uses its index. */
static void test_key_order_and_wide_records(void) {
    char err[256], buf[16384];
    sink_conv_t *c = sink_conv_new("t", 1, NULL, err, sizeof(err));
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"f%d\":%d", i ? "," : "", i, i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}");
    CHECK_INT(sink_conv_record(c, buf, n, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    n = 0;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{");
    for (int i = 299; i >= 0; i -= 3)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"f%d\":%d", i != 299 ? "," : "", i, i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}");
    CHECK_INT(sink_conv_record(c, buf, n, &sys, err, sizeof(err)), SINK_OK);
    avro_value_t f, b;
    int64_t l;
    avro_value_get_by_name(sink_conv_value(c), "f200", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    avro_value_get_long(&b, &l);
    CHECK_INT(l, 200);
    avro_value_get_by_name(sink_conv_value(c), "f201", &f, NULL);
    int disc;
    avro_value_get_discriminant(&f, &disc);
    CHECK_INT(disc, 0);
    CHECK_INT(sink_conv_version(c), 1);
    CHECK_INT(sink_shape_field_count(sink_conv_shape(c)), 300);
    sink_conv_destroy(c);
}

int main(void) {
    char def[256];
    decimal_def = json_loads(q(DEC, def, sizeof(def)), 0, NULL);
    TEST(test_checker_can_fail);
    TEST(test_evolution);
    TEST(test_rejects);
    TEST(test_load_errors);
    TEST(test_hostile_conversion);
    TEST(test_depth_limit_fits_registry);
    TEST(test_schema_size_limits);
    TEST(test_reject_before_first_version);
    TEST(test_values_and_wire_format);
    TEST(test_key_order_and_wide_records);
    json_decref(decimal_def);
    return test_done();
}
