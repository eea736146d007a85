/* Unit tests for sinks/sqlite_loader: layout in one file, upserts, replays, offsets, stale catalogs, SIGKILL exactly-once. */
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "sqlite_loader.h"
#include "wh_sink.h"
#include "wh_pipeline.h"
#include "harness.h"

static char dir[64];

/* Allocation failure injection (not under AddressSanitizer, which must own
 * malloc): while fail_from >= 0, every allocation after the first
 * fail_from ones fails. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(TEST_ASAN)
#define INJECT 0
static long fail_from = -1, allocs;
#else
#define INJECT 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static long fail_from = -1, allocs;

static int inject_fail(void) { return fail_from >= 0 && allocs++ >= fail_from; }
void *malloc(size_t n) { return inject_fail() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t size) { return inject_fail() ? NULL : __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { return inject_fail() ? NULL : __libc_realloc(p, n); }
#endif

/* the first value of a query on `path` as text; "(none)", "ERROR: ..." */
static const char *q1(const char *path, const char *fmt, ...) {
    static char out[4096];
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sqlite3_open(path, &db);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, sizeof(out), "ERROR: %s", sqlite3_errmsg(db));
    } else if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, sizeof(out), "%s", v ? (const char *)v : "");
    } else {
        snprintf(out, sizeof(out), "(none)");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

typedef struct {
    const char *json;
    const char *key;
    int64_t seq;
} rec_t;

static wh_rc_t write_recs(wh_loader_t *ld, const wh_integration_t *in, const char *topic,
                      int64_t first_offset, const rec_t *recs, size_t n) {
    wh_msg_t *m = calloc(n, sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        m[i] = (wh_msg_t){.topic = topic, .partition = 0, .offset = first_offset + (int64_t)i,
                          .value = recs[i].json, .value_len = strlen(recs[i].json)};
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

static wh_loader_t *open_loader(const char *path) {
    char err[256];
    wh_loader_t *ld = sqlite_loader_new(path, "g1", err, sizeof(err));
    if (!ld)
        fprintf(stderr, "sqlite_loader_new: %s\n", err);
    else
        wh_loader_set_backoff(ld, 5, 50);
    return ld;
}

static void test_layout(void) {
    char path[128];
    snprintf(path, sizeof(path), "%s/layout.db", dir);
    wh_loader_t *ld = open_loader(path);
    const char *pk = "id";
    wh_integration_t in = {"shop", &pk, 1};
    static const rec_t recs[] = {
        {"{\"id\":1,\"s\":\"x\\ty\",\"b\":true,\"d\":1.5,\"n\":123456789012345678901234567890.5,"
         "\"o\":{\"p\":{\"q\":7}},\"items\":[{\"x\":1,\"sub\":[\"a\",\"b\"]},{\"x\":2}],\"z\":null}",
         NULL, 10},
        {"{\"id\":2,\"s\":5,\"x\\\"; DROP TABLE data; --\":1}", NULL, 11},
        {"{\"id\":3,\"a__st\":1}", NULL, 12},
        {"not json", NULL, 13},
    };
    CHECK_INT(write_recs(ld, &in, "webhooks.shop", 0, recs, 4), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"shop.data\""), "3");
    CHECK_STR(q1(path, "SELECT s || '|' || b || '|' || d || '|' || n || '|' || o__p__q FROM \"shop.data\" "
                       "WHERE id = 1"),
              "x\ty|1|1.5|123456789012345678901234567890.5|7");
    CHECK_STR(q1(path, "SELECT typeof(n) || typeof(d) || typeof(id) FROM \"shop.data\" WHERE id = 1"),
              "textrealinteger");
    CHECK_STR(q1(path, "SELECT s__bi || '|' || \"x_DROP_TABLE_data___\" FROM \"shop.data\" WHERE id = 2"),
              "5|1");
    CHECK_STR(q1(path, "SELECT group_concat(_sdc_source_key_id || '/' || _sdc_level_0_id || '/' || x, ',') "
                       "FROM (SELECT * FROM \"shop.data__items\" ORDER BY _sdc_level_0_id)"),
              "1/0/1,1/1/2");
    CHECK_STR(q1(path, "SELECT group_concat(_sdc_level_0_id || '/' || _sdc_level_1_id || '/' || value, ',') "
                       "FROM (SELECT * FROM \"shop.data__items__sub\" ORDER BY _sdc_level_1_id)"),
              "0/0/a,0/1/b");
    CHECK_STR(q1(path, "SELECT group_concat(reason, '|') FROM (SELECT reason FROM \"shop._sdc_rejected\" "
                       "ORDER BY reason)"),
              "invalid JSON: invalid literal at byte 0|reserved column name: a__st");
    CHECK_STR(q1(path, "SELECT _sdc_received_at FROM \"shop.data\" WHERE id = 1"),
              "2026-11-26 20:14:37.000010+00:00");
    CHECK_STR(q1(path, "SELECT datetime(_sdc_received_at) FROM \"shop.data\" WHERE id = 1"),
              "2026-11-26 20:14:37");
    CHECK_STR(q1(path, "SELECT group_concat(name || ':' || type, ',') FROM pragma_table_info('shop.data')"),
              "id:BIGINT,_sdc_sequence:BIGINT,_sdc_received_at:TIMESTAMP,_sdc_batched_at:TIMESTAMP,"
              "_sdc_table_version:BIGINT,s:TEXT,b:BOOLEAN,d:DOUBLE PRECISION,n:DECIMAL TEXT,o__p__q:BIGINT,"
              "s__bi:BIGINT,x_DROP_TABLE_data___:BIGINT");
    CHECK_STR(q1(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), "5");
    CHECK_STR(q1(path, "PRAGMA journal_mode"), "wal");
    /* a second integration in the same file keeps to its own tables */
    wh_integration_t other = {"shop_2", NULL, 0};
    const rec_t o[] = {{"{\"a\":1}", "u1", 1}};
    CHECK_INT(write_recs(ld, &other, "webhooks.shop_2", 0, o, 1), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"shop_2.data\""), "1");
    CHECK_STR(q1(path, "SELECT count(*) FROM \"shop.data\""), "3");
    wh_loader_destroy(ld);
}

static void test_upsert(void) {
    char path[128];
    snprintf(path, sizeof(path), "%s/upsert.db", dir);
    wh_loader_t *ld = open_loader(path);
    const char *pk = "id";
    wh_integration_t in = {"up", &pk, 1};
    const rec_t a[] = {{"{\"id\":\"k\",\"v\":\"first\",\"extra\":1,\"l\":[1,2,3]}", NULL, 100}};
    const rec_t older[] = {{"{\"id\":\"k\",\"v\":\"older\",\"l\":[9]}", NULL, 50}};
    const rec_t newer[] = {{"{\"id\":\"k\",\"v\":\"newer\",\"l\":[4]}", NULL, 200}};
    const rec_t none[] = {{"{\"id\":\"k\",\"v\":\"no list\"}", NULL, 300}};
    CHECK_INT(write_recs(ld, &in, "t", 0, a, 1), 0);
    CHECK_INT(write_recs(ld, &in, "t", 1, older, 1), 0);
    CHECK_STR(q1(path, "SELECT v FROM \"up.data\""), "first");
    CHECK_STR(q1(path, "SELECT count(*) FROM \"up.data__l\""), "3");
    CHECK_INT(write_recs(ld, &in, "t", 0, a, 1), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"up.data__l\""), "3");
    CHECK_INT(write_recs(ld, &in, "t", 2, newer, 1), 0);
    CHECK_STR(q1(path, "SELECT v || ' ' || coalesce(extra, 'null') FROM \"up.data\""), "newer null");
    CHECK_STR(q1(path, "SELECT group_concat(value) FROM \"up.data__l\""), "4");
    CHECK_INT(write_recs(ld, &in, "t", 3, none, 1), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"up.data__l\""), "0");
    const rec_t mixed[] = {{"{\"id\":\"m\",\"v\":\"2\"}", NULL, 402},
                           {"{\"id\":\"m\",\"v\":\"3\"}", NULL, 403},
                           {"{\"id\":\"m\",\"v\":\"1\"}", NULL, 401}};
    CHECK_INT(write_recs(ld, &in, "t", 4, mixed, 3), 0);
    CHECK_STR(q1(path, "SELECT group_concat(id || '=' || v, ',') FROM (SELECT * FROM \"up.data\" d WHERE "
                       "_sdc_sequence = (SELECT MAX(_sdc_sequence) FROM \"up.data\" e WHERE e.id = d.id) "
                       "ORDER BY id)"),
              "k=no list,m=3");
    int64_t next = -1;
    char err[256];
    CHECK_INT(wh_loader_offset(ld, "t", 0, &next, err, sizeof(err)), WH_OK);
    CHECK_INT(next, 7);
    CHECK_INT(write_recs(ld, &in, "t", 0, a, 1), 0);
    CHECK_INT(wh_loader_offset(ld, "t", 0, &next, err, sizeof(err)), WH_OK);
    CHECK_INT(next, 7);
    CHECK_INT(wh_loader_offset(ld, "t", 1, &next, err, sizeof(err)), WH_NONE);
    /* no primary key: a replayed message adds nothing */
    wh_integration_t np = {"np", NULL, 0};
    const rec_t recs[] = {{"{\"a\":1,\"l\":[{\"x\":1}]}", "uuid-1", 1},
                          {"{\"a\":1,\"l\":[{\"x\":1}]}", "uuid-2", 2}};
    CHECK_INT(write_recs(ld, &np, "n", 0, recs, 2), 0);
    CHECK_INT(write_recs(ld, &np, "n", 0, recs, 2), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"np.data\""), "2");
    CHECK_STR(q1(path, "SELECT count(*) FROM \"np.data__l\""), "2");
    wh_loader_destroy(ld);
}

static void test_stale_catalog(void) {
    /* two loaders on one file: the second learns of the first's column */
    char path[128];
    snprintf(path, sizeof(path), "%s/stale.db", dir);
    wh_loader_t *a = open_loader(path), *b = open_loader(path);
    const char *pk = "id";
    wh_integration_t in = {"st", &pk, 1};
    const rec_t r0[] = {{"{\"id\":0}", NULL, 1}};
    CHECK_INT(write_recs(a, &in, "t", 0, r0, 1), 0);
    CHECK_INT(write_recs(b, &in, "t", 1, r0, 1), 0);
    const rec_t ra[] = {{"{\"id\":1,\"f\":1}", NULL, 2}};
    const rec_t rb[] = {{"{\"id\":2,\"f\":\"s\"}", NULL, 3}};
    CHECK_INT(write_recs(a, &in, "t", 2, ra, 1), 0);
    CHECK_INT(write_recs(b, &in, "t", 3, rb, 1), 0);
    CHECK_STR(q1(path, "SELECT f || '|' || (SELECT f__st FROM \"st.data\" WHERE id = 2) FROM \"st.data\" "
                       "WHERE id = 1"), "1|s");
    wh_loader_destroy(a);
    wh_loader_destroy(b);
    char err[256];
    CHECK(sqlite_loader_new("/nonexistent/dir/x.db", "g", err, sizeof(err)) == NULL);
    CHECK(err[0] != '\0');
    wh_loader_destroy(NULL);
}

static void test_target_interface(void) {
    /* the sink's pipeline interface, driven as the consumer drives it */
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/target.db", dir);
    wh_sink_conf_t conf = {.kind = WH_SINK_SQLITE, .location = path, .group = "g", .batch_max_ms = 1};
    sink_pipeline_t *t = wh_pipeline_new(&conf, err, sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    sink_sys_t sys = {.key = "k1", .key_len = 2};
    const char *seq = "1795724077123456789", *at = "2026-11-26T20:14:37.123456Z";
    CHECK_INT(event_sequence_parse(seq, strlen(seq), &sys.sequence), 0);
    CHECK_INT(event_received_at_parse(at, strlen(at), &sys.received_at), 0);
    const char *pk = "id";
    const char *v = "{\"id\":7,\"n\":123456789012345678901234567890}";
    sink_msg_t msg = {.topic = "webhooks.tg", .integration = "tg", .partition = 2, .offset = 41,
                      .timestamp_ms = -1, .key = "k1", .key_len = 2, .value = v,
                      .value_len = strlen(v), .pk = &pk, .npk = 1, .sys = &sys};
    CHECK_INT(t->ops->write(t, &msg, err, sizeof(err)), SINK_PIPE_WRITTEN);
    CHECK_INT(t->ops->pending(t, "webhooks.tg", 2), 41);
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
    CHECK_INT(t->ops->poll(t, err, sizeof(err)), 0);
    CHECK_INT(t->ops->pending(t, "webhooks.tg", 2), -1);
    CHECK_STR(q1(path, "SELECT n || ' ' || _sdc_sequence || ' ' || _sdc_received_at FROM \"tg.data\""),
              "123456789012345678901234567890 1795724077123456789 2026-11-26 20:14:37.123456+00:00");
    int64_t next = 0;
    CHECK_INT(t->ops->assigned(t, "webhooks.tg", 2, &next, err, sizeof(err)),
              SINK_PIPE_START_STORED);
    CHECK_INT(next, 42);
    CHECK_INT(t->ops->assigned(t, "webhooks.tg", 0, &next, err, sizeof(err)),
              SINK_PIPE_START_NONE);
    msg.offset = 42;
    CHECK_INT(t->ops->write(t, &msg, err, sizeof(err)), SINK_PIPE_WRITTEN);
    t->ops->revoked(t, "webhooks.tg");
    CHECK_INT(t->ops->flush(t, err, sizeof(err)), 0);
    CHECK_INT(t->ops->assigned(t, "webhooks.tg", 2, &next, err, sizeof(err)),
              SINK_PIPE_START_STORED);
    CHECK_INT(next, 42);
    t->ops->destroy(t);
}

static void test_two_processes(void) {
    /* two processes meet the same new fields at once, with different types */
    char path[128];
    snprintf(path, sizeof(path), "%s/two.db", dir);
    enum { ROUNDS = 40 };
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        if ((pids[p] = fork()) == 0) {
            wh_loader_t *ld = open_loader(path);
            const char *pk = "id";
            wh_integration_t in = {"two", &pk, 1};
            int bad = !ld;
            for (int r = 0; ld && r < ROUNDS; r++) {
                char json[128];
                if (p == 0)
                    snprintf(json, sizeof(json), "{\"id\":%d,\"f%d\":%d,\"l%d\":[%d]}", 2 * r, r, r, r, r);
                else
                    snprintf(json, sizeof(json), "{\"id\":%d,\"f%d\":\"s\",\"l%d\":[\"x\"]}", 2 * r + 1, r, r);
                rec_t rec = {json, NULL, r + 1};
                wh_msg_t m = {.topic = "t", .partition = p, .offset = r, .value = json, .value_len = strlen(json)};
                m.sys.sequence = rec.seq;
                char err[256];
                if (wh_loader_write(ld, &in, &m, 1, 0, err, sizeof(err)) == WH_FAIL) {
                    fprintf(stderr, "process %d: %s\n", p, err);
                    bad = 1;
                }
            }
            wh_loader_destroy(ld);
            _exit(bad);
        }
    }
    for (int p = 0; p < 2; p++) {
        int st = 0;
        waitpid(pids[p], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_STR(q1(path, "SELECT count(*) FROM \"two.data\""), "80");
    CHECK_STR(q1(path, "SELECT count(*) FROM pragma_table_info('two.data') WHERE name GLOB 'f7*'"), "2");
    CHECK_STR(q1(path, "SELECT count(*) FROM sqlite_master WHERE name GLOB 'two.data__l*'"), "40");
    CHECK_STR(q1(path, "SELECT group_concat(next_offset) FROM hookpipe_offsets"), "40,40");
}

enum { KILL_N = 8000, KILL_KEYS = 400 };

/* the child: resumes at the stored offsets and loads the rest in batches */
static void kill_child(const char *path) {
    wh_loader_t *ld = open_loader(path);
    const char *pk = "id";
    wh_integration_t with = {"kp", &pk, 1}, without = {"kn", NULL, 0};
    char err[256];
    int64_t next[2] = {0, 0};
    for (int w = 0; w < 2; w++)
        if (wh_loader_offset(ld, w ? "kn" : "kp", 0, &next[w], err, sizeof(err)) == WH_FAIL)
            _exit(2);
    srand((unsigned)getpid());
    static char texts[KILL_N][96], keys[KILL_N][16];
    wh_msg_t m[64];
    for (;;) {
        int w = rand() % 2;
        if (next[0] >= KILL_N && next[1] >= KILL_N)
            break;
        if (next[w] >= KILL_N)
            w = !w;
        int n = 1 + rand() % 64;
        if (next[w] + n > KILL_N)
            n = (int)(KILL_N - next[w]);
        for (int i = 0; i < n; i++) {
            int64_t off = next[w] + i;
            int len = snprintf(texts[off], sizeof(texts[off]), "{\"id\":%d,\"v\":%lld,\"l\":[%lld,%lld]}",
                               (int)(off % KILL_KEYS), (long long)off, (long long)off, (long long)off + 1);
            snprintf(keys[off], sizeof(keys[off]), "u%lld", (long long)off);
            m[i] = (wh_msg_t){.topic = w ? "kn" : "kp", .partition = 0, .offset = off,
                              .value = texts[off], .value_len = (size_t)len};
            m[i].sys.sequence = off + 1;
            m[i].sys.key = keys[off];
            m[i].sys.key_len = strlen(keys[off]);
        }
        if (wh_loader_write(ld, w ? &without : &with, m, (size_t)n, 0, err, sizeof(err)) == WH_FAIL)
            _exit(3);
        next[w] += n;
    }
    wh_loader_destroy(ld);
    _exit(0);
}

static void test_sigkill_exactly_once(void) {
    char path[128];
    snprintf(path, sizeof(path), "%s/kill.db", dir);
    int kills = 0, done = 0;
    for (int round = 0; round < 200 && !done; round++) {
        pid_t pid = fork();
        if (pid == 0)
            kill_child(path);
        struct timespec ts = {0, (long)(3 + rand() % 25) * 1000000L};
        nanosleep(&ts, NULL);
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            kills++;
        } else {
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            done = WIFEXITED(st);
        }
    }
    if (!done) {
        /* finish without kills */
        pid_t pid = fork();
        if (pid == 0)
            kill_child(path);
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    fprintf(stderr, "sigkill: %d kills\n", kills);
    CHECK(kills >= 3);
    char want[32];
    CHECK_STR(q1(path, "SELECT count(*) FROM \"kp.data\""), "400");
    /* every key holds its last value, each with exactly its own list */
    snprintf(want, sizeof(want), "%d", KILL_KEYS);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"kp.data\" WHERE v >= %d AND v %% %d = id",
                 KILL_N - KILL_KEYS, KILL_KEYS), want);
    snprintf(want, sizeof(want), "%d", 2 * KILL_KEYS);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"kp.data__l\" l JOIN \"kp.data\" d ON d.id = l._sdc_source_key_id "
                       "AND l.value = d.v + l._sdc_level_0_id"), want);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"kp.data__l\""), want);
    snprintf(want, sizeof(want), "%d", KILL_N);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"kn.data\""), want);
    CHECK_STR(q1(path, "SELECT count(DISTINCT v) FROM \"kn.data\""), want);
    snprintf(want, sizeof(want), "%d", 2 * KILL_N);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"kn.data__l\""), want);
    CHECK_STR(q1(path, "SELECT group_concat(next_offset) FROM hookpipe_offsets"), "8000,8000");
}

static void test_sink_batches(void) {
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/sink.db", dir);
    wh_sink_conf_t conf = {.kind = WH_SINK_SQLITE, .location = path, .group = "g",
                           .batch_max_records = 10, .batch_max_ms = 100};
    wh_sink_t *s = wh_sink_new(&conf, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    const char *pk = "id";
    wh_integration_t in = {"sk", &pk, 1};
    char json[64], key[16];
    for (int i = 0; i < 15; i++) {
        int n = snprintf(json, sizeof(json), "{\"id\":%d}", i);
        snprintf(key, sizeof(key), "%d", i);
        wh_msg_t m = {.topic = "t", .partition = i % 2, .offset = i / 2, .value = json,
                      .value_len = (size_t)n};
        m.sys.key = key;
        m.sys.key_len = strlen(key);
        CHECK_INT(wh_sink_write(s, &in, &m, err, sizeof(err)), 0);
    }
    /* ten loaded by size, five buffered */
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sk.data\""), "10");
    CHECK_INT(wh_sink_pending(s, "t", 0), 5);
    CHECK_INT(wh_sink_pending(s, "t", 1), 5);
    CHECK_INT(wh_sink_pending(s, "u", 0), -1);
    CHECK_INT(wh_sink_poll(s, err, sizeof(err)), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sk.data\""), "10");
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    /* visible after batch_max_ms */
    CHECK_INT(wh_sink_poll(s, err, sizeof(err)), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sk.data\""), "15");
    CHECK_INT(wh_sink_pending(s, "t", 0), -1);
    int64_t next;
    CHECK_INT(wh_sink_offset(s, "t", 0, &next, err, sizeof(err)), WH_OK);
    CHECK_INT(next, 8);
    /* forgotten messages are not loaded */
    wh_msg_t m = {.topic = "t", .partition = 0, .offset = 8, .value = "{\"id\":99}", .value_len = 9};
    CHECK_INT(wh_sink_write(s, &in, &m, err, sizeof(err)), 0);
    wh_sink_forget(s, "t");
    CHECK_INT(wh_sink_pending(s, "t", 0), -1);
    CHECK_INT(wh_sink_flush(s, err, sizeof(err)), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sk.data\""), "15");
    wh_sink_destroy(s);
    wh_sink_destroy(NULL);
    /* many integrations below their own limit: the total bounds memory */
    wh_sink_conf_t small = {.kind = WH_SINK_SQLITE, .location = path, .group = "g",
                            .batch_max_bytes = 100};
    s = wh_sink_new(&small, err, sizeof(err));
    char names[8][16];   /* room for "m" and any int */
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i);
        wh_integration_t mi = {names[i], &pk, 1};
        char j[64];
        int n = snprintf(j, sizeof(j), "{\"id\":%d,\"pad\":\"%040d\"}", i, 0);
        wh_msg_t mm = {.topic = names[i], .partition = 0, .offset = 0, .value = j, .value_len = (size_t)n};
        CHECK_INT(wh_sink_write(s, &mi, &mm, err, sizeof(err)), 0);
    }
    /* 8 x 52 bytes: the 8th write passed 400 bytes and loaded all */
    CHECK_STR(q1(path, "SELECT count(*) FROM sqlite_master WHERE name GLOB 'm?.data'"), "8");
    CHECK_INT(wh_sink_pending(s, "m0", 0), -1);
    wh_sink_destroy(s);
}

/* sqlite3 on a file, for preparing tables as another program would */
static void sql(const char *path, const char *text) {
    sqlite3 *db = NULL;
    char *msg = NULL;
    sqlite3_open(path, &db);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
        HARNESS_FAIL("%s: %s", text, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

static void test_foreign_tables(void) {
    /* tables that exist without the layout: the records meant for them go
     * to _sdc_rejected with the precise reason, the tables are not touched,
     * other integrations load, and the offsets cover only stored records */
    char path[128];
    snprintf(path, sizeof(path), "%s/foreign.db", dir);
    wh_loader_t *ld = open_loader(path);
    sql(path, "CREATE TABLE \"nokey.data\" (x TEXT);"
              "CREATE TABLE \"seqtype.data\" (id BIGINT NOT NULL PRIMARY KEY, "
              "  _sdc_sequence TEXT, _sdc_received_at TIMESTAMP, _sdc_batched_at TIMESTAMP);"
              "CREATE TABLE \"nouniq.data\" (id BIGINT, _sdc_sequence BIGINT, "
              "  _sdc_received_at TIMESTAMP, _sdc_batched_at TIMESTAMP);"
              "CREATE TABLE \"nopk.data\" (a TEXT);"
              "CREATE TABLE \"sub.data__items\" (v TEXT, _sdc_level_0_id BIGINT);");
    const char *pk = "id";
    static const struct {
        const char *integ;
        int has_pk;
        const char *reason;
    } cases[] = {
        {"nokey", 1, "table nokey.data does not have the layout hookpipe loads: column \"id\" "
                     "(primary key) is missing"},
        {"seqtype", 1, "table seqtype.data does not have the layout hookpipe loads: column "
                       "\"_sdc_sequence\" (system column) is TEXT, expected BIGINT"},
        {"nouniq", 1, "table nouniq.data does not have the layout hookpipe loads: no primary "
                      "key or unique index on exactly (\"id\")"},
        {"nopk", 0, "table nopk.data does not have the layout hookpipe loads: column "
                    "\"__sdc_primary_key\" (primary key) is missing"},
    };
    const rec_t recs[] = {{"{\"id\":1,\"a\":\"x\"}", "k1", 1}, {"{\"id\":2,\"a\":\"y\"}", "k2", 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wh_integration_t in = {cases[i].integ, &pk, cases[i].has_pk ? 1 : 0};
        CHECK_INT(write_recs(ld, &in, cases[i].integ, 0, recs, 2), 0);
        char want[600];
        snprintf(want, sizeof(want), "2 %s", cases[i].reason);
        CHECK_STR(q1(path, "SELECT count(*) || ' ' || min(reason) FROM \"%s._sdc_rejected\"",
                     cases[i].integ), want);
        /* both records are stored (as rejections): the offset covers them */
        CHECK_STR(q1(path, "SELECT next_offset FROM hookpipe_offsets WHERE topic = '%s'",
                     cases[i].integ), "2");
        /* the foreign table is neither written nor altered */
        CHECK_STR(q1(path, "SELECT count(*) FROM pragma_table_info('%s.data') WHERE name = 'a'",
                     cases[i].integ), cases[i].has_pk ? "0" : "1");
        CHECK_STR(q1(path, "SELECT count(*) FROM \"%s.data\"", cases[i].integ), "0");
    }
    /* a subtable without its parent-key column: the root row loads, the
       record is rejected once for the array */
    wh_integration_t sub = {"sub", &pk, 1};
    const rec_t sr[] = {{"{\"id\":1,\"items\":[\"a\",\"b\"]}", NULL, 5}};
    CHECK_INT(write_recs(ld, &sub, "sub", 0, sr, 1), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sub.data\""), "1");
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sub.data__items\""), "0");
    CHECK_STR(q1(path, "SELECT table_name || ': ' || reason FROM \"sub._sdc_rejected\""),
              "data__items: table sub.data__items does not have the layout hookpipe loads: "
              "column \"_sdc_source_key_id\" (primary key of the parent row) is missing");
    /* a later update of that parent does not touch the foreign subtable */
    const rec_t sr2[] = {{"{\"id\":1,\"items\":[\"c\"]}", NULL, 6}};
    CHECK_INT(write_recs(ld, &sub, "sub", 1, sr2, 1), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"sub._sdc_rejected\""), "2");
    /* another integration in the same file loads as usual */
    wh_integration_t good = {"good", &pk, 1};
    CHECK_INT(write_recs(ld, &good, "good", 0, recs, 2), 0);
    CHECK_STR(q1(path, "SELECT group_concat(a) FROM \"good.data\""), "x,y");
    /* the table fixed by its owner (dropped): loading resumes */
    sql(path, "DROP TABLE \"nokey.data\"");
    const rec_t r3[] = {{"{\"id\":3,\"a\":\"z\"}", NULL, 3}};
    CHECK_INT(write_recs(ld, &(wh_integration_t){"nokey", &pk, 1}, "nokey", 2, r3, 1), 0);
    CHECK_STR(q1(path, "SELECT a FROM \"nokey.data\""), "z");
    wh_loader_destroy(ld);
}

static void test_held_integration(void) {
    /* an _sdc_rejected that is not ours: the integration's batches with
     * rejections cannot be stored anywhere, so it is held (nothing
     * committed, retried), while another integration keeps loading */
    char path[128], err[512];
    snprintf(path, sizeof(path), "%s/held.db", dir);
    sql(path, "CREATE TABLE \"hd._sdc_rejected\" (note TEXT)");
    wh_loader_t *ld = open_loader(path);
    const char *pk = "id";
    wh_integration_t in = {"hd", &pk, 1};
    const rec_t bad[] = {{"{\"id\":1}", NULL, 1}, {"not json", NULL, 2}};
    wh_msg_t m[2];
    for (int i = 0; i < 2; i++)
        m[i] = (wh_msg_t){.topic = "hd", .partition = 0, .offset = i, .value = bad[i].json,
                          .value_len = strlen(bad[i].json)};
    err[0] = '\0';
    CHECK_INT(wh_loader_write(ld, &in, m, 2, 0, err, sizeof(err)), WH_HOLD);
    CHECK_STR(err, "integration hd: table hd._sdc_rejected does not have the layout hookpipe "
                   "loads: column \"_sdc_rejected_at\" (rejections) is missing");
    int64_t next = -1;
    CHECK_INT(wh_loader_offset(ld, "hd", 0, &next, err, sizeof(err)), WH_NONE);
    /* batches without rejections still load */
    CHECK_INT(write_recs(ld, &in, "hd", 0, bad, 1), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"hd.data\""), "1");
    wh_loader_destroy(ld);

    /* the same through wh_sink: held, retried with backoff, resumed */
    snprintf(path, sizeof(path), "%s/held2.db", dir);
    sql(path, "CREATE TABLE \"hd._sdc_rejected\" (note TEXT)");
    wh_sink_conf_t conf = {.kind = WH_SINK_SQLITE, .location = path, .group = "g",
                           .batch_max_records = 2, .batch_max_ms = 1, .hold_ms = 50};
    wh_sink_t *s = wh_sink_new(&conf, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    wh_integration_t ok = {"ok", &pk, 1};
    for (int i = 0; i < 2; i++) {
        wh_msg_t hm = {.topic = "webhooks.hd", .partition = 0, .offset = 10 + i,
                       .value = bad[i].json, .value_len = strlen(bad[i].json)};
        CHECK_INT(wh_sink_write(s, &in, &hm, err, sizeof(err)), 0);
        char j[32];
        int n = snprintf(j, sizeof(j), "{\"id\":%d}", i);
        wh_msg_t om = {.topic = "webhooks.ok", .partition = 0, .offset = i, .value = j,
                       .value_len = (size_t)n};
        CHECK_INT(wh_sink_write(s, &ok, &om, err, sizeof(err)), 0);
    }
    CHECK_INT(wh_sink_flush(s, err, sizeof(err)), 0);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"ok.data\""), "2");
    CHECK_INT(wh_sink_pending(s, "webhooks.ok", 0), -1);
    /* nothing of the held one is committed: the consumer commits below 10 */
    CHECK_INT(wh_sink_pending(s, "webhooks.hd", 0), 10);
    CHECK_STR(q1(path, "SELECT count(*) FROM hookpipe_offsets WHERE topic = 'webhooks.hd'"), "0");
    /* its owner fixes the table; the next retry loads */
    sql(path, "DROP TABLE \"hd._sdc_rejected\"");
    struct timespec ts = {0, 120 * 1000000L};
    nanosleep(&ts, NULL);
    CHECK_INT(wh_sink_poll(s, err, sizeof(err)), 0);
    CHECK_INT(wh_sink_pending(s, "webhooks.hd", 0), -1);
    CHECK_STR(q1(path, "SELECT count(*) FROM \"hd._sdc_rejected\""), "1");
    CHECK_STR(q1(path, "SELECT next_offset FROM hookpipe_offsets WHERE topic = 'webhooks.hd'"), "12");
    wh_sink_destroy(s);
}

static void test_out_of_memory(void) {
    /* a real allocation failure is reported as such (and never taken for
     * a held integration), wherever it happens */
    if (!INJECT)
        return;
    /* under valgrind, which replaces malloc, nothing can be injected */
    allocs = 0;
    fail_from = 0;
    void *probe = malloc(16);
    fail_from = -1;
    if (probe) {
        free(probe);
        return;
    }
    char path[128], err[512];
    snprintf(path, sizeof(path), "%s/oom.db", dir);
    const char *pk = "id";
    const char *v = "{\"id\":1,\"a\":{\"b\":[1,2]},\"c\":\"x\"}";
    int failed = 0, ok = 0;
    for (long k = 0; k < 100000 && !ok; k += 1 + k / 4) {
        wh_loader_t *ld = open_loader(path);
        char name[32];
        snprintf(name, sizeof(name), "oom%ld", k);
        wh_integration_t in = {name, &pk, 1};
        wh_msg_t m = {.topic = name, .partition = 0, .offset = 0, .value = v, .value_len = strlen(v)};
        err[0] = '\0';
        allocs = 0;
        fail_from = k;
        wh_rc_t rc = wh_loader_write(ld, &in, &m, 1, 0, err, sizeof(err));
        fail_from = -1;
        if (rc == WH_OK) {
            ok = 1;
        } else {
            failed++;
            CHECK_INT(rc, WH_FAIL);
            if (!strstr(err, "out of memory"))
                HARNESS_FAIL("allocation %ld failing: \"%s\"", k, err);
        }
        wh_loader_destroy(ld);
    }
    CHECK(failed > 0);
    CHECK(ok);
}

int main(void) {
    snprintf(dir, sizeof(dir), "/tmp/test_sqlite_loader.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    srand((unsigned)time(NULL));
    TEST(test_layout);
    TEST(test_upsert);
    TEST(test_stale_catalog);
    TEST(test_sigkill_exactly_once);
    TEST(test_sink_batches);
    TEST(test_two_processes);
    TEST(test_target_interface);
    TEST(test_foreign_tables);
    TEST(test_held_integration);
    TEST(test_out_of_memory);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done();
}
