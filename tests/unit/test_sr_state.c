/* Unit tests for schema-registry/sr_state: the fold of `_schemas` records,
 * the race rule (first claim in the log wins), deletes and configs. */
#include <stdlib.h>

#include "sr_state.h"
#include "harness.h"

static const char *const A = "{\"type\":\"record\",\"name\":\"A\",\"fields\":[]}";
static const char *const B = "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}";
static const char *const C = "{\"type\":\"record\",\"name\":\"C\",\"fields\":[]}";

static sr_apply_t put_schema(sr_state_t *st, const char *subject, int version, int id,
                             const char *text, int deleted) {
    char *k = sr_state_schema_key(subject, version);
    char *v = sr_state_schema_value(subject, version, id, text, deleted);
    sr_apply_t rc = sr_state_apply(st, k, strlen(k), v, strlen(v));
    free(k);
    free(v);
    return rc;
}

static sr_apply_t put_raw(sr_state_t *st, const char *k, const char *v) {
    return sr_state_apply(st, k, strlen(k), v, v ? strlen(v) : 0);
}

static int id_of(sr_state_t *st, const char *subject, int version) {
    sr_version_t *v = sr_state_version(sr_state_subject(st, subject), version);
    return v ? v->schema->id : 0;
}

static void test_races(void) {
    static const struct {
        const char *what, *subject;
        int version, id;
        const char *text;
        sr_apply_t want;
    } log[] = {
        {"first claim", "s", 1, 1, A, SR_APPLY_WON},
        {"same record again", "s", 1, 1, A, SR_APPLY_SAME},
        {"version taken by another schema", "s", 1, 2, B, SR_APPLY_LOST},
        {"id taken by another schema", "t", 1, 1, B, SR_APPLY_LOST},
        {"schema already has another id", "t", 1, 7, A, SR_APPLY_LOST},
        {"same schema, other subject, same id", "t", 1, 1, A, SR_APPLY_WON},
        {"retry with fresh numbers", "s", 2, 2, B, SR_APPLY_WON},
        {"schema live under another version", "s", 3, 1, A, SR_APPLY_LOST},
        {"soft delete", "s", 2, 2, B, SR_APPLY_WON},
        {"version after a gap", "s", 5, 3, C, SR_APPLY_WON},
    };
    sr_state_t *st = sr_state_new(SR_COMPAT_BACKWARD);
    for (size_t i = 0; i < sizeof(log) / sizeof(log[0]); i++) {
        sr_apply_t got = put_schema(st, log[i].subject, log[i].version, log[i].id, log[i].text,
                                    strcmp(log[i].what, "soft delete") == 0);
        if (got != log[i].want)
            HARNESS_FAIL("%s: outcome %d, want %d", log[i].what, got, log[i].want);
    }
    CHECK_INT(id_of(st, "s", 1), 1);
    CHECK_INT(id_of(st, "t", 1), 1);
    CHECK_INT(id_of(st, "s", 2), 2);
    CHECK_INT(sr_state_version(sr_state_subject(st, "s"), 2)->deleted, 1);
    CHECK_INT(sr_state_latest(sr_state_subject(st, "s"), 0)->version, 5);
    CHECK_INT(sr_state_live(sr_state_subject(st, "s")), 2);
    CHECK_INT(sr_state_max_id(st), 3);
    CHECK_INT(sr_state_subject(st, "s")->max_version, 5);
    CHECK_STR(sr_state_schema_by_id(st, 2)->text, B);
    CHECK(sr_state_schema_by_id(st, 7) == NULL);
    sr_state_destroy(st);
}

typedef struct {
    int sum;            /* of the dirty versions */
    int with_text;      /* how many had a loser text (free slot) */
} dirty_t;

static void count_dirty(void *arg, const char *subject, int version, const char *loser_text) {
    dirty_t *d = arg;
    (void)subject;
    d->sum += version;
    d->with_text += loser_text != NULL;
}

static dirty_t dirty(const sr_state_t *st) {
    dirty_t d = {0, 0};
    sr_state_each_dirty(st, count_dirty, &d);
    return d;
}

/* a losing record left last under its key must be marked until something
 * that folds consistently is written there */
static void test_dirty_keys(void) {
    sr_state_t *st = sr_state_new(SR_COMPAT_BACKWARD);
    put_schema(st, "s", 1, 1, A, 0);
    put_schema(st, "s", 2, 2, B, 0);
    CHECK_INT(dirty(st).sum, 0);
    CHECK_INT(put_schema(st, "s", 2, 3, C, 0), SR_APPLY_LOST);  /* slot held */
    CHECK_INT(dirty(st).sum, 2);
    CHECK_INT(dirty(st).with_text, 0);
    CHECK_INT(put_schema(st, "t", 1, 2, C, 0), SR_APPLY_LOST);  /* id clash, free slot */
    CHECK_INT(dirty(st).sum, 3);
    CHECK_INT(dirty(st).with_text, 1);
    CHECK_INT(put_schema(st, "s", 1, 9, C, 0), SR_APPLY_LOST);
    CHECK_INT(dirty(st).sum, 4);
    CHECK_INT(put_schema(st, "s", 2, 2, B, 0), SR_APPLY_SAME);   /* the winner again */
    CHECK_INT(dirty(st).sum, 2);
    CHECK_INT(put_schema(st, "s", 1, 1, A, 1), SR_APPLY_WON);    /* soft delete */
    CHECK_INT(dirty(st).sum, 1);
    /* what a surviving replica writes for the free slot: the loser's
     * schema, soft-deleted, under a free id */
    CHECK_INT(put_schema(st, "t", 1, 3, C, 1), SR_APPLY_WON);
    CHECK_INT(dirty(st).sum, 0);
    CHECK_INT(sr_state_version(sr_state_subject(st, "t"), 1)->deleted, 1);
    CHECK_INT(sr_state_live(sr_state_subject(st, "t")), 0);
    CHECK_INT(put_schema(st, "s", 2, 3, C, 0), SR_APPLY_LOST);
    char *k = sr_state_schema_key("s", 2);
    CHECK_INT(put_raw(st, k, NULL), SR_APPLY_WON);
    free(k);
    CHECK_INT(dirty(st).sum, 0);
    sr_state_destroy(st);
}

static void test_tombstones_and_ids(void) {
    sr_state_t *st = sr_state_new(SR_COMPAT_BACKWARD);
    CHECK_INT(put_schema(st, "s", 1, 1, A, 0), SR_APPLY_WON);
    CHECK_INT(put_schema(st, "s", 1, 1, A, 1), SR_APPLY_WON);
    char *k = sr_state_schema_key("s", 1);
    CHECK_INT(put_raw(st, k, NULL), SR_APPLY_WON);
    CHECK_INT(put_raw(st, k, NULL), SR_APPLY_SAME);
    free(k);
    /* no version refers to id 1 any more: it is free, as after compaction */
    CHECK(sr_state_schema_by_id(st, 1) == NULL);
    CHECK_INT(put_schema(st, "u", 1, 1, B, 0), SR_APPLY_WON);
    CHECK_STR(sr_state_schema_by_id(st, 1)->text, B);
    sr_state_destroy(st);
}

static void test_subject_records(void) {
    sr_state_t *st = sr_state_new(SR_COMPAT_BACKWARD);
    put_schema(st, "s", 1, 1, A, 0);
    put_schema(st, "s", 2, 2, B, 0);
    put_schema(st, "s", 3, 3, C, 0);
    CHECK_INT(put_raw(st, "{\"keytype\":\"DELETE_SUBJECT\",\"subject\":\"s\",\"magic\":0}",
                      "{\"subject\":\"s\",\"version\":2}"), SR_APPLY_WON);
    CHECK_INT(sr_state_live(sr_state_subject(st, "s")), 1);
    CHECK_INT(put_raw(st, "{\"keytype\":\"CLEAR_SUBJECT\",\"subject\":\"s\",\"magic\":0}",
                      "{\"subject\":\"s\",\"version\":3}"), SR_APPLY_WON);
    CHECK_INT(sr_state_subject(st, "s")->nversions, 1);
    CHECK(sr_state_schema_by_id(st, 1) == NULL);
    CHECK_INT(id_of(st, "s", 3), 3);
    sr_state_destroy(st);
}

static void test_config(void) {
    sr_state_t *st = sr_state_new(SR_COMPAT_FULL);
    CHECK_INT(sr_state_level(st, "s"), SR_COMPAT_FULL);
    char *gk = sr_state_config_key(NULL), *sk = sr_state_config_key("s");
    char *none = sr_state_config_value(SR_COMPAT_NONE);
    char *fwd = sr_state_config_value(SR_COMPAT_FORWARD_TRANSITIVE);
    CHECK_STR(gk, "{\"keytype\":\"CONFIG\",\"subject\":null,\"magic\":0}");
    CHECK_STR(none, "{\"compatibilityLevel\":\"NONE\"}");
    CHECK_INT(put_raw(st, gk, none), SR_APPLY_WON);
    CHECK_INT(sr_state_level(st, "s"), SR_COMPAT_NONE);
    CHECK_INT(put_raw(st, sk, fwd), SR_APPLY_WON);
    CHECK_INT(sr_state_level(st, "s"), SR_COMPAT_FORWARD_TRANSITIVE);
    CHECK_INT(sr_state_level(st, "other"), SR_COMPAT_NONE);
    CHECK_INT(put_raw(st, sk, NULL), SR_APPLY_WON);
    CHECK_INT(put_raw(st, gk, NULL), SR_APPLY_WON);
    CHECK_INT(sr_state_level(st, "s"), SR_COMPAT_FULL);
    CHECK_INT(put_raw(st, gk, "{\"compatibilityLevel\":\"SIDEWAYS\"}"), SR_APPLY_IGNORED);
    free(gk);
    free(sk);
    free(none);
    free(fwd);
    sr_state_destroy(st);
}

/* records that are not ours, or malformed, change nothing */
static void test_hostile_records(void) {
    static const struct { const char *k, *v; } cases[] = {
        {"", "{}"},
        {"not json", "{}"},
        {"[]", "{}"},
        {"{\"keytype\":\"NOOP\",\"magic\":0}", NULL},
        {"{\"keytype\":\"MODE\",\"subject\":null,\"magic\":0}", "{\"mode\":\"READONLY\"}"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"s\",\"version\":0,\"magic\":1}", "{}"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"s\",\"version\":1,\"magic\":1}", "not json"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"s\",\"version\":1,\"magic\":1}",
         "{\"subject\":\"s\",\"version\":1,\"id\":1,\"schema\":\"{bad\"}"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"s\",\"version\":1,\"magic\":1}",
         "{\"subject\":\"s\",\"version\":1,\"id\":-4,\"schema\":\"\\\"int\\\"\"}"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"s\",\"version\":1,\"magic\":1}",
         "{\"subject\":\"s\",\"version\":1,\"id\":1,\"schemaType\":\"PROTOBUF\",\"schema\":\"x\"}"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":7,\"version\":1,\"magic\":1}", "{}"},
        {"{\"keytype\":\"DELETE_SUBJECT\",\"subject\":\"s\",\"magic\":0}", "{}"},
    };
    sr_state_t *st = sr_state_new(SR_COMPAT_BACKWARD);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (put_raw(st, cases[i].k, cases[i].v) != SR_APPLY_IGNORED)
            HARNESS_FAIL("case %zu was applied", i);
    sr_subject_t *const *subs;
    CHECK_INT(sr_state_subjects(st, &subs), 0);
    CHECK_INT(sr_state_max_id(st), 0);
    sr_state_destroy(st);
}

int main(void) {
    TEST(test_races);
    TEST(test_dirty_keys);
    TEST(test_tombstones_and_ids);
    TEST(test_subject_records);
    TEST(test_config);
    TEST(test_hostile_records);
    return test_done();
}
