/* Integration suite for sinks/pg_loader against the stack's PostgreSQL: layout, upserts, replays, offsets, concurrent schema changes, reconnects. */
#include <postgresql/libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_loader.h"
#include "harness.h"
#include "itest_pg.h"

static const char *pg_url;
static int32_t partition;   /* of the messages write_recs makes */
static char run_id[32];

static void quiet(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

static void name(char *out, size_t size, const char *what) {
    snprintf(out, size, "itpg_%s_%s", run_id, what);
}

typedef struct {
    const char *json;
    const char *key;
    int64_t seq;
} rec_t;

/* topics of this run: offsets stored by earlier runs must not apply */
static const char *T(const char *topic) {
    static char out[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(out[k], sizeof(out[k]), "%s.%s", run_id, topic);
    return out[k];
}

static wh_rc_t write_recs(wh_loader_t *ld, const wh_integration_t *in, const char *topic_short,
                      int64_t first_offset, const rec_t *recs, size_t n) {
    const char *topic = T(topic_short);
    wh_msg_t *m = calloc(n, sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        m[i].topic = topic;
        m[i].partition = partition;
        m[i].offset = first_offset + (int64_t)i;
        m[i].value = recs[i].json;
        m[i].value_len = strlen(recs[i].json);
        m[i].sys.sequence = recs[i].seq;
        m[i].sys.received_at = 1795724077000000LL + recs[i].seq;
        m[i].sys.key = recs[i].key;
        m[i].sys.key_len = recs[i].key ? strlen(recs[i].key) : 0;
    }
    char err[512] = "";
    wh_rc_t rc = wh_loader_write(ld, in, m, n, 0, err, sizeof(err));
    if (rc != WH_OK)
        fprintf(stderr, "wh_loader_write: %s\n", err);
    free(m);
    return rc;
}

static wh_loader_t *loader(const char *group) {
    char err[256];
    wh_loader_t *ld = pg_loader_new(pg_url, group, err, sizeof(err));
    if (ld)
        wh_loader_set_backoff(ld, 20, 500);
    return ld;
}

static void test_layout(void) {
    char schema[64];
    name(schema, sizeof(schema), "layout");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    static const rec_t recs[] = {
        {"{\"id\":1,\"s\":\"x\\ty\\n\\\\\",\"b\":true,\"d\":1.5,\"n\":123456789012345678901234567890.5,"
         "\"o\":{\"p\":{\"q\":7}},\"items\":[{\"x\":1,\"sub\":[\"a\",\"b\"]},{\"x\":2}],\"z\":null}",
         NULL, 10},
        {"{\"id\":2,\"s\":5,\"caf\\u00e9\":\"\\u540d\",\"x\\\"; DROP TABLE data; --\":1}", NULL, 11},
        {"{\"id\":3,\"_sdc_bad\":1,\"ok\":1}", NULL, 12},
        {"{\"nokey\":1}", NULL, 13},
        {"{\"id\":4,\"big\":1e400}", NULL, 14},
    };
    CHECK_INT(write_recs(ld, &in, "webhooks.layout", 0, recs, 5), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "4");
    CHECK_STR(q1("SELECT s FROM \"%s\".data WHERE id = 1", schema), "x\ty\n\\");
    CHECK_STR(q1("SELECT b::text || ' ' || d::text || ' ' || n::text FROM \"%s\".data WHERE id = 1", schema),
              "true 1.5 123456789012345678901234567890.5");
    CHECK_STR(q1("SELECT o__p__q FROM \"%s\".data WHERE id = 1", schema), "7");
    CHECK_STR(q1("SELECT s__bi FROM \"%s\".data WHERE id = 2", schema), "5");
    CHECK_STR(q1("SELECT \"caf\xc3\xa9\" FROM \"%s\".data WHERE id = 2", schema), "\xe5\x90\x8d");
    CHECK_STR(q1("SELECT \"x_DROP_TABLE_data___\" FROM \"%s\".data WHERE id = 2", schema), "1");
    CHECK_STR(q1("SELECT ok FROM \"%s\".data WHERE id = 3", schema), "1");
    /* types from the values */
    CHECK_STR(q1("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) "
                 "FROM information_schema.columns WHERE table_schema = '%s' AND table_name = 'data'",
                 schema),
              "id:bigint,_sdc_sequence:bigint,_sdc_received_at:timestamp with time zone,"
              "_sdc_batched_at:timestamp with time zone,_sdc_table_version:bigint,s:text,b:boolean,"
              "d:double precision,n:numeric,o__p__q:bigint,s__bi:bigint,caf\xc3\xa9:text,"
              "x_DROP_TABLE_data___:bigint,ok:bigint");
    CHECK_STR(q1("SELECT count(*) FROM information_schema.columns WHERE table_schema = '%s' "
                 "AND column_name IN ('z', 'big', '_sdc_bad')", schema), "0");
    CHECK_STR(q1("SELECT string_agg(_sdc_source_key_id || '/' || _sdc_level_0_id || '/' || x, ',' "
                 "ORDER BY _sdc_level_0_id) FROM \"%s\".data__items", schema),
              "1/0/1,1/1/2");
    CHECK_STR(q1("SELECT string_agg(_sdc_level_0_id || '/' || _sdc_level_1_id || '/' || value, ',' "
                 "ORDER BY _sdc_level_1_id) FROM \"%s\".data__items__sub", schema),
              "0/0/a,0/1/b");
    CHECK_STR(q1("SELECT string_agg(reason, '|' ORDER BY reason) FROM \"%s\"._sdc_rejected", schema),
              "primary key missing or null|reserved column name: _sdc_bad|"
              "value out of range for column big");
    CHECK_STR(q1("SELECT record FROM \"%s\"._sdc_rejected WHERE reason LIKE 'primary%%'", schema),
              "{\"nokey\":1}");
    CHECK_STR(q1("SELECT _sdc_received_at = _sdc_batched_at, _sdc_sequence, _sdc_table_version IS NULL "
                 "FROM \"%s\".data WHERE id = 1", schema), "f");
    CHECK_STR(q1("SELECT to_char(_sdc_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
                 "FROM \"%s\".data WHERE id = 1", schema), "2026-11-26 20:14:37.000010");
    /* the table survived the hostile name */
    CHECK_STR(q1("SELECT count(*) FROM pg_tables WHERE schemaname = '%s'", schema), "4");
    wh_loader_destroy(ld);
}

static void test_limits_and_collisions(void) {
    /* names at the limits exist in PostgreSQL exactly (no truncation);
       one byte over is rejected; multi-byte characters count as bytes */
    char schema[64], json[1024], c59[60], c60[61], t57[58], t58[59], u[64];
    name(schema, sizeof(schema), "limits");
    memset(c59, 'c', 59), c59[59] = '\0';
    memset(c60, 'd', 60), c60[60] = '\0';
    memset(t57, 't', 57), t57[57] = '\0';   /* data__ + 57 = 63 */
    memset(t58, 's', 58), t58[58] = '\0';
    for (int i = 0; i < 29; i++)
        memcpy(u + 2 * i, "\xc3\xa9", 2);    /* 29 x U+00E9: 58 bytes */
    u[58] = 'e', u[59] = '\0';                /* 59 bytes */
    snprintf(json, sizeof(json),
             "{\"id\":1,\"%s\":1,\"%s\":2,\"%s\":[1],\"%s\":[2],\"%s\":3,\"a b\":4,\"a_b\":5,"
             "\"m\":[[1,2],null,[]],\"dup\":1,\"dup\":2}",
             c59, c60, t57, t58, u);
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    const rec_t r[] = {{json, NULL, 1}};
    CHECK_INT(write_recs(ld, &in, "webhooks.limits", 0, r, 1), 0);
    CHECK_STR(q1("SELECT \"%s\" FROM \"%s\".data", c59, schema), "1");
    CHECK_STR(q1("SELECT \"%s\" FROM \"%s\".data", u, schema), "3");
    CHECK_STR(q1("SELECT a_b FROM \"%s\".data", schema), "4");
    CHECK_STR(q1("SELECT dup FROM \"%s\".data", schema), "1");
    CHECK_STR(q1("SELECT value FROM \"%s\".\"data__%s\"", schema, t57), "1");
    CHECK_STR(q1("SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND tablename LIKE 'data__s%%'",
                 schema), "0");
    CHECK_STR(q1("SELECT count(*) FROM information_schema.columns WHERE table_schema = '%s' "
                 "AND column_name LIKE 'dddd%%'", schema), "0");
    /* the array of arrays: rows for each element, values one level down */
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__m", schema), "3");
    CHECK_STR(q1("SELECT string_agg(_sdc_level_0_id || '/' || _sdc_level_1_id || '=' || value, ',' "
                 "ORDER BY _sdc_level_1_id) FROM \"%s\".data__m__value", schema), "0/0=1,0/1=2");
    /* one rejection for the record, with the first reason */
    CHECK_STR(q1("SELECT count(*) || ' ' || min(reason) FROM \"%s\"._sdc_rejected", schema),
              "1 column name too long: dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd (and 3 more)");
    wh_loader_destroy(ld);
}

static void test_upsert_sequence(void) {
    char schema[64];
    name(schema, sizeof(schema), "upsert");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    const rec_t a[] = {{"{\"id\":\"k\",\"v\":\"first\",\"extra\":1,\"l\":[1,2,3]}", NULL, 100}};
    const rec_t older[] = {{"{\"id\":\"k\",\"v\":\"older\",\"l\":[9]}", NULL, 50}};
    const rec_t newer[] = {{"{\"id\":\"k\",\"v\":\"newer\",\"l\":[4]}", NULL, 200}};
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 0, a, 1), 0);
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 1, older, 1), 0);
    CHECK_STR(q1("SELECT v FROM \"%s\".data", schema), "first");
    CHECK_STR(q1("SELECT string_agg(value::text, ',' ORDER BY _sdc_level_0_id) FROM \"%s\".data__l", schema),
              "1,2,3");
    /* a replay of the same message changes nothing */
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 0, a, 1), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__l", schema), "3");
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 2, newer, 1), 0);
    CHECK_STR(q1("SELECT v || ' ' || coalesce(extra::text, 'null') FROM \"%s\".data", schema), "newer null");
    CHECK_STR(q1("SELECT string_agg(value::text, ',') FROM \"%s\".data__l", schema), "4");
    /* a newer record without the array removes the old subtable rows */
    const rec_t none[] = {{"{\"id\":\"k\",\"v\":\"no list\"}", NULL, 300}};
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 3, none, 1), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__l", schema), "0");
    /* in one batch, the highest sequence wins whatever the order */
    const rec_t mixed[] = {{"{\"id\":\"m\",\"v\":\"2\"}", NULL, 402},
                           {"{\"id\":\"m\",\"v\":\"3\"}", NULL, 403},
                           {"{\"id\":\"m\",\"v\":\"1\"}", NULL, 401}};
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 4, mixed, 3), 0);
    CHECK_STR(q1("SELECT v FROM \"%s\".data WHERE id = 'm'", schema), "3");
    /* Stitch's latest-row query */
    CHECK_STR(q1("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM \"%s\".data d WHERE "
                 "_sdc_sequence = (SELECT MAX(_sdc_sequence) FROM \"%s\".data e WHERE e.id = d.id)",
                 schema, schema),
              "k=no list,m=3");
    /* offsets: next after the last, never backwards */
    int64_t next = -1;
    char err[256];
    CHECK_INT(wh_loader_offset(ld, T("webhooks.up"), 0, &next, err, sizeof(err)), WH_OK);
    CHECK_INT(next, 7);
    CHECK_INT(write_recs(ld, &in, "webhooks.up", 0, a, 1), 0);
    CHECK_INT(wh_loader_offset(ld, T("webhooks.up"), 0, &next, err, sizeof(err)), WH_OK);
    CHECK_INT(next, 7);
    CHECK_INT(wh_loader_offset(ld, T("webhooks.up"), 1, &next, err, sizeof(err)), WH_NONE);
    wh_loader_t *other = loader("g2");
    CHECK_INT(wh_loader_offset(other, T("webhooks.up"), 0, &next, err, sizeof(err)), WH_NONE);
    wh_loader_destroy(other);
    wh_loader_destroy(ld);
}

static void test_no_pk(void) {
    char schema[64];
    name(schema, sizeof(schema), "nopk");
    wh_integration_t in = {schema, NULL, 0};
    wh_loader_t *ld = loader("g1");
    const rec_t recs[] = {{"{\"a\":1,\"l\":[{\"x\":1}]}", "uuid-1", 1},
                          {"{\"a\":1,\"l\":[{\"x\":1}]}", "uuid-2", 2},
                          {"{\"a\":2}", NULL, 3}};
    CHECK_INT(write_recs(ld, &in, "webhooks.nopk", 0, recs, 3), 0);
    CHECK_INT(write_recs(ld, &in, "webhooks.nopk", 0, recs, 3), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "2");
    CHECK_STR(q1("SELECT string_agg(__sdc_primary_key, ',' ORDER BY __sdc_primary_key) FROM \"%s\".data",
                 schema), "uuid-1,uuid-2");
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__l", schema), "2");
    /* the replay skipped offsets already loaded: one rejection each */
    CHECK_STR(q1("SELECT count(*) FROM \"%s\"._sdc_rejected", schema), "1");
    wh_loader_destroy(ld);
}

static void test_hostile_schema(void) {
    /* identifiers are always quoted: even a schema name with quotes */
    char schema[64];
    snprintf(schema, sizeof(schema), "it\"; DROP SCHEMA public; --%s", run_id);
    wh_integration_t in = {schema, NULL, 0};
    wh_loader_t *ld = loader("g1");
    const rec_t r[] = {{"{\"a\":\"'); DROP TABLE x; --\"}", "k", 1}};
    CHECK_INT(write_recs(ld, &in, "webhooks.hostile", 0, r, 1), 0);
    CHECK_STR(q1("SELECT a FROM \"it\"\"; DROP SCHEMA public; --%s\".data", run_id), "'); DROP TABLE x; --");
    CHECK_STR(q1("SELECT count(*) FROM pg_namespace WHERE nspname = 'public'"), "1");
    PQclear(PQexec(db, "SELECT 1"));
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP SCHEMA \"it\"\"; DROP SCHEMA public; --%s\" CASCADE", run_id);
    PQclear(PQexec(db, sql));
    wh_loader_destroy(ld);
}

/* two processes meet the same new columns at the same moment, many times */
static void test_concurrent_columns(void) {
    char schema[64];
    name(schema, sizeof(schema), "race");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    enum { ROUNDS = 30, PROCS = 2 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            /* partitions of one integration split between two sinks */
            partition = p;
            wh_loader_t *ld = loader("g1");
            int bad = 0;
            for (int r = 0; r < ROUNDS; r++) {
                char json[256], topic[32];
                /* process p writes value type p for the same new field:
                   one gets the column, the other its suffixed twin */
                if (p == 0)
                    snprintf(json, sizeof(json), "{\"id\":%d,\"f%d\":%d,\"l%d\":[%d]}", r * 2, r, r, r, r);
                else
                    snprintf(json, sizeof(json), "{\"id\":%d,\"f%d\":\"s%d\",\"l%d\":[\"%d\"]}", r * 2 + 1, r,
                             r, r, r);
                snprintf(topic, sizeof(topic), "webhooks.race");
                rec_t rec = {json, NULL, r + 1};
                if (write_recs(ld, &in, topic, r, &rec, 1) != WH_OK)
                    bad++;
            }
            wh_loader_destroy(ld);
            _exit(bad ? 1 : 0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st = 0;
        waitpid(pids[p], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "60");
    /* f7 holds one type and f7__bi or f7__st the other; both rows have a value */
    CHECK_STR(q1("SELECT count(*) FROM information_schema.columns WHERE table_schema = '%s' "
                 "AND table_name = 'data' AND column_name IN ('f7', 'f7__bi', 'f7__st')", schema), "2");
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data d WHERE id IN (14, 15) AND coalesce(to_jsonb(d)->>'f7', "
                 "to_jsonb(d)->>'f7__bi', to_jsonb(d)->>'f7__st') = CASE id WHEN 14 THEN '7' ELSE 's7' END",
                 schema), "2");
    CHECK_STR(q1("SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'", schema), "32");
}

static void test_reconnect(void) {
    char schema[64], url[1024];
    name(schema, sizeof(schema), "reconn");
    snprintf(url, sizeof(url), "%s%capplication_name=%s", pg_url, strchr(pg_url, '?') ? '&' : '?', schema);
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    char err[256];
    wh_loader_t *ld = pg_loader_new(url, "g1", err, sizeof(err));
    wh_loader_set_backoff(ld, 20, 200);
    int fails = 0;
    for (int i = 0; i < 20; i++) {
        char json[64];
        snprintf(json, sizeof(json), "{\"id\":%d}", i);
        rec_t r = {json, NULL, i + 1};
        if (i % 5 == 4)
            q1("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s'",
               schema);
        fails += write_recs(ld, &in, "webhooks.reconn", i, &r, 1) != WH_OK;
    }
    CHECK_INT(fails, 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "20");
    wh_loader_stats_t st;
    wh_loader_stats(ld, &st);
    CHECK(st.retries >= 1);
    CHECK_INT(st.batches, 20);
    wh_loader_destroy(ld);

    /* nothing listening: waits, and gives up only when told to stop */
    static volatile sig_atomic_t stop = 0;
    wh_loader_t *dead = pg_loader_new("postgresql://hookpipe@127.0.0.1:1/none?connect_timeout=1", "g1", err,
                                      sizeof(err));
    wh_loader_set_backoff(dead, 10, 10);
    stop = 1;
    wh_loader_set_stop(dead, &stop);
    rec_t r = {"{\"id\":1}", NULL, 1};
    CHECK_INT(write_recs(dead, &in, "webhooks.reconn", 0, &r, 1), WH_FAIL);
    int64_t next;
    CHECK_INT(wh_loader_offset(dead, T("webhooks.reconn"), 0, &next, err, sizeof(err)), WH_FAIL);
    wh_loader_destroy(dead);
    wh_loader_destroy(NULL);
}

static void test_stale_catalog(void) {
    /* B's catalog predates A's new column and subtable; B's newer record
       must still replace the whole row and its subtable rows */
    char schema[64];
    name(schema, sizeof(schema), "stale");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *a = loader("g1"), *b = loader("g1");
    const rec_t r1[] = {{"{\"id\":1,\"v\":1}", NULL, 1}};
    const rec_t r2[] = {{"{\"id\":1,\"v\":2,\"x\":[1,2],\"newcol\":5}", NULL, 2}};
    const rec_t r3[] = {{"{\"id\":1,\"v\":3}", NULL, 3}};
    partition = 0;
    CHECK_INT(write_recs(b, &in, "webhooks.stale", 0, r1, 1), 0);
    partition = 1;
    CHECK_INT(write_recs(a, &in, "webhooks.stale", 0, r2, 1), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__x", schema), "2");
    partition = 0;
    CHECK_INT(write_recs(b, &in, "webhooks.stale", 1, r3, 1), 0);
    CHECK_STR(q1("SELECT v || ' ' || coalesce(newcol::text, 'null') FROM \"%s\".data", schema), "3 null");
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__x", schema), "0");
    wh_loader_destroy(a);
    wh_loader_destroy(b);
}

static void test_bulk(void) {
    /* a batch of thousands, half of them updates, timed */
    char schema[64];
    name(schema, sizeof(schema), "bulk");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    enum { N = 5000 };
    rec_t *recs = calloc(N, sizeof(*recs));
    char (*texts)[200] = calloc(N, 200);
    for (int i = 0; i < N; i++) {
        snprintf(texts[i], 200, "{\"id\":%d,\"name\":\"customer %d\",\"amount\":%d.25,\"tags\":[\"a\",\"b\"]}",
                 i % (N / 2), i, i);
        recs[i] = (rec_t){texts[i], NULL, i + 1};
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT(write_recs(ld, &in, "webhooks.bulk", 0, recs, N / 2), 0);
    CHECK_INT(write_recs(ld, &in, "webhooks.bulk", N / 2, recs + N / 2, N / 2), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "bulk: %d records (half updates) in %.3f s\n", N, secs);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "2500");
    CHECK_STR(q1("SELECT min(amount) FROM \"%s\".data", schema), "2500.25");
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__tags", schema), "5000");
    free(recs);
    free(texts);
    wh_loader_destroy(ld);
}

/* the values pg_loader sends in COPY's binary format read back as the
 * server reads their text: numerics (scale kept), doubles, bigints, text,
 * timestamps, in the root table and a subtable */
static void test_binary_values(void) {
    char schema[64];
    name(schema, sizeof(schema), "binary");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    /* exact decimals (not doubles, not int64): the numeric column */
    static const char *const nums[] = {
        "123456789012345678901234567890.5", "-99999999999999999999999999999999999999",
        "0.10000000000000000001", "9223372036854775808", "-9223372036854775809",
        "12345678901234567890.1000", "1.0000000000000000000000000000001e-5",
        "123456789012345678901234567890e-20", "-0.00000000000000001234567890123456789012",
        "1.2345678901234567890123E+30",
    };
    enum { NN = sizeof(nums) / sizeof(nums[0]) };
    static const struct {
        const char *json, *d, *i, *s;
    } vals[] = {
        {"\"d\":-0.0,\"i\":-9223372036854775808,\"s\":\"\"", "-0", "-9223372036854775808", ""},
        {"\"d\":1e300,\"i\":9223372036854775807,\"s\":\"caf\\u00e9 \\u540d \\ud83d\\ude00\"", "1e+300",
         "9223372036854775807", "caf\xc3\xa9 \xe5\x90\x8d \xf0\x9f\x98\x80"},
        {"\"d\":5e-324,\"i\":0,\"s\":\"a\\tb\\\\n\\r\\n\"", "5e-324", "0", "a\tb\\n\r\n"},
        {"\"d\":0.1,\"i\":-1,\"s\":\"x\"", "0.1", "-1", "x"},
    };
    enum { NV = sizeof(vals) / sizeof(vals[0]) };
    char texts[NN + NV][512];
    rec_t recs[NN + NV];
    for (size_t k = 0; k < NN; k++) {
        snprintf(texts[k], sizeof(texts[k]), "{\"id\":%zu,\"n\":%s,\"arr\":[%s]}", k, nums[k], nums[k]);
        recs[k] = (rec_t){texts[k], NULL, (int64_t)k + 1};
    }
    for (size_t k = 0; k < NV; k++) {
        snprintf(texts[NN + k], sizeof(texts[0]), "{\"id\":%zu,%s,\"b\":%s}", NN + k, vals[k].json,
                 k % 2 ? "true" : "false");
        recs[NN + k] = (rec_t){texts[NN + k], NULL, (int64_t)(NN + k) + 1};
    }
    CHECK_INT(write_recs(ld, &in, "webhooks.binary", 0, recs, NN + NV), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\"._sdc_rejected", schema), "0");
    CHECK_STR(q1("SELECT data_type FROM information_schema.columns WHERE table_schema = '%s' "
                 "AND table_name = 'data' AND column_name = 'n'", schema), "numeric");
    for (size_t k = 0; k < NN; k++) {
        char want[256];
        snprintf(want, sizeof(want), "%s", q1("SELECT '%s'::numeric::text", nums[k]));
        CHECK_STR(q1("SELECT n::text FROM \"%s\".data WHERE id = %zu", schema, k), want);
        CHECK_STR(q1("SELECT value::text FROM \"%s\".data__arr WHERE _sdc_source_key_id = %zu",
                     schema, k), want);
    }
    for (size_t k = 0; k < NV; k++) {
        CHECK_STR(q1("SELECT d::text FROM \"%s\".data WHERE id = %zu", schema, NN + k), vals[k].d);
        CHECK_STR(q1("SELECT i::text FROM \"%s\".data WHERE id = %zu", schema, NN + k), vals[k].i);
        CHECK_STR(q1("SELECT s FROM \"%s\".data WHERE id = %zu", schema, NN + k), vals[k].s);
        CHECK_STR(q1("SELECT b::text FROM \"%s\".data WHERE id = %zu", schema, NN + k),
                  k % 2 ? "true" : "false");
    }
    /* received_at is 1795724077000000 µs + the sequence */
    CHECK_STR(q1("SELECT to_char(_sdc_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
                 "FROM \"%s\".data WHERE id = 2", schema), "2026-11-26 20:14:37.000003");
    CHECK_STR(q1("SELECT to_char(_sdc_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
                 "FROM \"%s\".data__arr WHERE _sdc_source_key_id = 2", schema),
              "2026-11-26 20:14:37.000003");
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data WHERE _sdc_batched_at > now() - interval '1 hour' "
                 "AND _sdc_batched_at <= now()", schema), "14");
    wh_loader_destroy(ld);
}

/* tables that exist without the layout (made by something else): their
 * records go to _sdc_rejected with the precise reason, the tables are not
 * touched, other integrations load, offsets cover only stored records */
static void test_foreign_tables(void) {
    static const struct {
        const char *what;
        int has_pk;
        const char *ddl;      /* %s: the schema */
        const char *reason;   /* after "table <schema>.data does not have the layout hookpipe loads: " */
    } cases[] = {
        {"fk_nokey", 1, "CREATE TABLE \"%s\".data (x text)", "column \"id\" (primary key) is missing"},
        {"fk_keytype", 1, "CREATE TABLE \"%s\".data (id integer PRIMARY KEY, _sdc_sequence bigint, "
                       "_sdc_received_at timestamptz, _sdc_batched_at timestamptz)",
         "column \"id\" (primary key) is integer, expected bigint, double precision, boolean, "
         "text or numeric"},
        {"fk_seqtype", 1, "CREATE TABLE \"%s\".data (id bigint PRIMARY KEY, _sdc_sequence text, "
                       "_sdc_received_at timestamptz, _sdc_batched_at timestamptz)",
         "column \"_sdc_sequence\" (system column) is text, expected bigint"},
        {"fk_nouniq", 1, "CREATE TABLE \"%s\".data (id bigint, _sdc_sequence bigint, "
                      "_sdc_received_at timestamptz, _sdc_batched_at timestamptz)",
         "no primary key or unique index on exactly (\"id\")"},
        {"fk_nopk", 0, "CREATE TABLE \"%s\".data (a text)",
         "column \"__sdc_primary_key\" (primary key) is missing"},
    };
    const char *pk = "id";
    wh_loader_t *ld = loader("g1");
    const rec_t recs[] = {{"{\"id\":1,\"a\":\"x\"}", "k1", 1}, {"{\"id\":2,\"a\":\"y\"}", "k2", 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char schema[64], want[600];
        name(schema, sizeof(schema), cases[i].what);
        exec_ok("CREATE SCHEMA \"%s\"", schema);
        exec_ok(cases[i].ddl, schema);
        wh_integration_t in = {schema, &pk, cases[i].has_pk ? 1 : 0};
        CHECK_INT(write_recs(ld, &in, cases[i].what, 0, recs, 2), 0);
        snprintf(want, sizeof(want), "2 table %s.data does not have the layout hookpipe loads: %s",
                 schema, cases[i].reason);
        CHECK_STR(q1("SELECT count(*) || ' ' || min(reason) FROM \"%s\"._sdc_rejected", schema),
                  want);
        CHECK_STR(q1("SELECT next_offset FROM \"hookpipe-sink\".offsets WHERE consumer_group = 'g1' "
                     "AND topic = '%s'", T(cases[i].what)), "2");
        CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "0");
        CHECK_STR(q1("SELECT count(*) FROM information_schema.columns WHERE table_schema = '%s' "
                     "AND table_name = 'data' AND column_name = 'a'", schema),
                  cases[i].has_pk ? "0" : "1");
    }
    /* a subtable without its parent-key column: the parent row loads, the
       record goes to _sdc_rejected for the array, the subtable is untouched */
    char sub[64];
    name(sub, sizeof(sub), "forsub");
    exec_ok("CREATE SCHEMA \"%s\"", sub);
    exec_ok("CREATE TABLE \"%s\".data__items (v text, _sdc_level_0_id bigint)", sub);
    wh_integration_t sin = {sub, &pk, 1};
    const rec_t sr[] = {{"{\"id\":1,\"items\":[\"a\",\"b\"]}", NULL, 5}};
    const rec_t sr2[] = {{"{\"id\":1,\"items\":[\"c\"]}", NULL, 6}};
    CHECK_INT(write_recs(ld, &sin, "forsub", 0, sr, 1), 0);
    CHECK_INT(write_recs(ld, &sin, "forsub", 1, sr2, 1), 0);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", sub), "1");
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data__items", sub), "0");
    char want[600];
    snprintf(want, sizeof(want), "2 data__items: table %s.data__items does not have the layout "
             "hookpipe loads: column \"_sdc_source_key_id\" (primary key of the parent row) is "
             "missing", sub);
    CHECK_STR(q1("SELECT count(*) || ' ' || min(table_name || ': ' || reason) FROM \"%s\"._sdc_rejected",
                 sub), want);
    /* another integration loads as usual through the same loader */
    char good[64];
    name(good, sizeof(good), "forgood");
    wh_integration_t gin = {good, &pk, 1};
    CHECK_INT(write_recs(ld, &gin, "forgood", 0, recs, 2), 0);
    CHECK_STR(q1("SELECT string_agg(a, ',' ORDER BY id) FROM \"%s\".data", good), "x,y");
    /* the owner drops the foreign table: loading resumes */
    char nokey[64];
    name(nokey, sizeof(nokey), "fk_nokey");
    exec_ok("DROP TABLE \"%s\".data", nokey);
    wh_integration_t nin = {nokey, &pk, 1};
    const rec_t r3[] = {{"{\"id\":3,\"a\":\"z\"}", NULL, 3}};
    CHECK_INT(write_recs(ld, &nin, "fk_nokey", 2, r3, 1), 0);
    CHECK_STR(q1("SELECT a FROM \"%s\".data", nokey), "z");
    wh_loader_destroy(ld);
}

/* an _sdc_rejected that is not ours: the batch's rejections cannot be
 * stored, so the loader holds it (1, nothing committed, precise reason);
 * a batch without rejections and other integrations still load */
static void test_held(void) {
    char schema[64], err[600];
    name(schema, sizeof(schema), "held");
    exec_ok("CREATE SCHEMA \"%s\"", schema);
    exec_ok("CREATE TABLE \"%s\"._sdc_rejected (note text)", schema);
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    wh_msg_t m[2] = {{.topic = T("held"), .partition = partition, .offset = 0, .value = "{\"id\":1}",
                      .value_len = 8},
                     {.topic = T("held"), .partition = partition, .offset = 1, .value = "nope",
                      .value_len = 4}};
    err[0] = '\0';
    CHECK_INT(wh_loader_write(ld, &in, m, 2, 0, err, sizeof(err)), WH_HOLD);
    char want[600];
    snprintf(want, sizeof(want), "integration %s: table %s._sdc_rejected does not have the layout "
             "hookpipe loads: column \"_sdc_rejected_at\" (rejections) is missing", schema, schema);
    CHECK_STR(err, want);
    CHECK_STR(q1("SELECT count(*) FROM \"hookpipe-sink\".offsets WHERE topic = '%s'", T("held")), "0");
    CHECK_INT(wh_loader_write(ld, &in, m, 1, 0, err, sizeof(err)), WH_OK);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\".data", schema), "1");
    exec_ok("DROP TABLE \"%s\"._sdc_rejected", schema);
    CHECK_INT(wh_loader_write(ld, &in, m, 2, 0, err, sizeof(err)), WH_OK);
    CHECK_STR(q1("SELECT count(*) FROM \"%s\"._sdc_rejected", schema), "1");
    CHECK_STR(q1("SELECT next_offset FROM \"hookpipe-sink\".offsets WHERE topic = '%s'", T("held")), "2");
    wh_loader_destroy(ld);
}

/* the write path's edges: subtable rows left by a parent deleted by hand,
 * a row changed by another writer between the probe and the delete, and a
 * composite key of several types */
static void test_replace_edges(void) {
    char schema[64];
    name(schema, sizeof(schema), "edges");
    const char *pk = "id";
    wh_integration_t in = {schema, &pk, 1};
    wh_loader_t *ld = loader("g1");
    const rec_t a[] = {{"{\"id\":1,\"v\":\"a\",\"l\":[1,2]}", NULL, 10}};
    CHECK_INT(write_recs(ld, &in, "edges", 0, a, 1), 0);
    exec_ok("DELETE FROM \"%s\".data", schema);
    /* the orphans go with the new parent: no duplicate key, no stale rows */
    const rec_t b[] = {{"{\"id\":1,\"v\":\"b\",\"l\":[7]}", NULL, 11}};
    CHECK_INT(write_recs(ld, &in, "edges", 1, b, 1), 0);
    CHECK_STR(q1("SELECT v || ':' || (SELECT string_agg(value::text, ',') FROM \"%s\".data__l) "
                 "FROM \"%s\".data", schema, schema), "b:7");
    /* another writer made the row newer than this batch's record: the
       sequence guard keeps it */
    exec_ok("UPDATE \"%s\".data SET v = 'other', _sdc_sequence = 100", schema);
    const rec_t c[] = {{"{\"id\":1,\"v\":\"c\"}", NULL, 50}};
    CHECK_INT(write_recs(ld, &in, "edges", 2, c, 1), 0);
    CHECK_STR(q1("SELECT v FROM \"%s\".data", schema), "other");
    /* a row that cannot be deleted (a trigger says no): the integration is
       held with the reason, never loops for ever */
    exec_ok("CREATE FUNCTION \"%s\".keep() RETURNS trigger LANGUAGE plpgsql AS "
            "'BEGIN RETURN NULL; END'", schema);
    exec_ok("CREATE TRIGGER keep BEFORE DELETE ON \"%s\".data FOR EACH ROW EXECUTE FUNCTION "
            "\"%s\".keep()", schema, schema);
    const rec_t d[] = {{"{\"id\":1,\"v\":\"d\"}", NULL, 200}};
    CHECK_INT(write_recs(ld, &in, "edges", 3, d, 1), WH_HOLD);
    CHECK_STR(q1("SELECT v FROM \"%s\".data", schema), "other");
    exec_ok("DROP TRIGGER keep ON \"%s\".data", schema);
    CHECK_INT(write_recs(ld, &in, "edges", 3, d, 1), 0);
    CHECK_STR(q1("SELECT v FROM \"%s\".data", schema), "d");
    /* composite key (text, bigint, boolean), quotes and backslashes in it */
    char comp[64];
    name(comp, sizeof(comp), "comp");
    const char *pks[] = {"s", "n", "b"};
    wh_integration_t cin = {comp, pks, 3};
    const rec_t k1[] = {{"{\"s\":\"a\\\"b\\\\c\",\"n\":-5,\"b\":true,\"v\":1}", NULL, 1},
                        {"{\"s\":\"a\\\"b\\\\c\",\"n\":-5,\"b\":false,\"v\":2}", NULL, 2}};
    const rec_t k2[] = {{"{\"s\":\"a\\\"b\\\\c\",\"n\":-5,\"b\":true,\"v\":3}", NULL, 3},
                        {"{\"s\":\"a\\\"b\\\\c\",\"n\":-5,\"b\":false,\"v\":0}", NULL, 1}};
    CHECK_INT(write_recs(ld, &cin, "comp", 0, k1, 2), 0);
    CHECK_INT(write_recs(ld, &cin, "comp", 2, k2, 2), 0);
    CHECK_STR(q1("SELECT string_agg(b::text || '=' || v, ',' ORDER BY b) FROM \"%s\".data "
                 "WHERE s = 'a\"b\\c' AND n = -5", comp), "false=2,true=3");
    /* the same protection without subtables (the offsets and the commit
       ride with the COPY there): nothing of the batch is committed */
    exec_ok("CREATE TRIGGER keep BEFORE DELETE ON \"%s\".data FOR EACH ROW EXECUTE FUNCTION "
            "\"%s\".keep()", comp, schema);
    const rec_t k3[] = {{"{\"s\":\"x\",\"n\":1,\"b\":true,\"v\":9}", NULL, 9},
                        {"{\"s\":\"a\\\"b\\\\c\",\"n\":-5,\"b\":true,\"v\":4}", NULL, 4}};
    CHECK_INT(write_recs(ld, &cin, "comp", 4, k3, 2), WH_HOLD);
    CHECK_STR(q1("SELECT count(*) || ' ' || max(v) FROM \"%s\".data", comp), "2 3");
    CHECK_STR(q1("SELECT next_offset FROM \"hookpipe-sink\".offsets WHERE topic = '%s'", T("comp")),
              "4");
    exec_ok("DROP TRIGGER keep ON \"%s\".data", comp);
    CHECK_INT(write_recs(ld, &cin, "comp", 4, k3, 2), 0);
    CHECK_STR(q1("SELECT count(*) || ' ' || max(v) FROM \"%s\".data", comp), "3 9");
    CHECK_STR(q1("SELECT next_offset FROM \"hookpipe-sink\".offsets WHERE topic = '%s'", T("comp")),
              "6");
    wh_loader_destroy(ld);
}

int main(void) {
    pg_url = getenv("HOOKPIPE_PG_URL");
    if (!pg_url) {
        fprintf(stderr, "HOOKPIPE_PG_URL is not set: run through tests/run\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    db = PQconnectdb(pg_url);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(db));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    PQsetNoticeProcessor(db, quiet, NULL);
    snprintf(run_id, sizeof(run_id), "%lx%d", (unsigned long)time(NULL) & 0xfffff, (int)getpid());
    TEST(test_layout);
    TEST(test_limits_and_collisions);
    TEST(test_upsert_sequence);
    TEST(test_no_pk);
    TEST(test_hostile_schema);
    TEST(test_concurrent_columns);
    TEST(test_reconnect);
    TEST(test_stale_catalog);
    TEST(test_bulk);
    TEST(test_binary_values);
    TEST(test_foreign_tables);
    TEST(test_held);
    TEST(test_replace_edges);
    PQfinish(db);
    return test_done();
}
