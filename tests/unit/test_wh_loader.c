/* Unit tests for sinks/warehouse/wh_loader: the driver's state machine over a fake database (wh_db_ops_t). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "wh_loader.h"

/* A database in memory: the columns its DDL made, and what each call did. */
#define FAKE_COLS 64
typedef struct fake_db {
    wh_loader_t *wl;
    int ddl_in_batch;
    char table[FAKE_COLS][64], col[FAKE_COLS][64];
    wh_type_t type[FAKE_COLS];
    int ncols;
    int begins, catalogs, ddls, writes, rollbacks, offsets;
    int stale_at_begin;     /* begins left that find the catalog stale */
    int fail_writes;        /* writes left that fail */
    int fail_transient;     /* ... and whether they are transient */
    char *mutate;           /* overwritten by the first ddl (a payload) */
    const char *mutate_to;
    char written[512];      /* the root columns of the last batch written */
    int64_t stored;         /* the stored offset (-1: none) */
} fake_db_t;

static int fake_begin(void *db, wh_loader_entry_t *e, const wh_msg_t *msgs, size_t n,
                      wh_floors_t *floors) {
    fake_db_t *f = db;
    (void)msgs, (void)n, (void)floors;
    f->begins++;
    if (f->stale_at_begin > 0) {
        f->stale_at_begin--;
        e->loaded = 0;
    }
    return 0;
}

static int fake_catalog(void *db, wh_loader_entry_t *e) {
    fake_db_t *f = db;
    f->catalogs++;
    wh_layout_reset(e->layout);
    for (int i = 0; i < f->ncols; i++)
        if (wh_layout_load_column(e->layout, f->table[i], f->col[i], f->type[i]) < 0)
            return wh_loader_oom(f->wl);
    e->loaded = 1;
    return 0;
}

static int fake_ddl(void *db, wh_layout_t *l) {
    fake_db_t *f = db;
    f->ddls++;
    for (size_t ti = 0; ti < wh_layout_ntables(l); ti++) {
        wh_table_t *t = wh_layout_table(l, ti);
        for (size_t c = 0; c < t->ncols && f->ncols < FAKE_COLS; c++) {
            if (!t->pending && !t->cols[c].pending)
                continue;
            snprintf(f->table[f->ncols], sizeof(f->table[0]), "%s", t->name);
            snprintf(f->col[f->ncols], sizeof(f->col[0]), "%s", t->cols[c].name);
            f->type[f->ncols++] = t->cols[c].type;
        }
    }
    if (f->ddl_in_batch)
        wh_layout_clear_pending(l);
    /* the payloads are borrowed for the call: a parse now would see this */
    if (f->mutate) {
        memcpy(f->mutate, f->mutate_to, strlen(f->mutate_to));
        f->mutate = NULL;
    }
    return 0;
}

static int fake_write(void *db, wh_layout_t *l, const wh_batch_t *b) {
    fake_db_t *f = db;
    (void)b;
    f->writes++;
    if (f->fail_writes > 0) {
        f->fail_writes--;
        return wh_loader_fail(f->wl, f->fail_transient, "write refused\n(by the fake)");
    }
    wh_table_t *root = wh_layout_find_table(l, WH_ROOT_TABLE);
    f->written[0] = '\0';
    for (size_t c = 0; root && c < root->ncols; c++) {
        size_t len = strlen(f->written);
        snprintf(f->written + len, sizeof(f->written) - len, "%s%s", c ? " " : "",
                 root->cols[c].name);
    }
    return 0;
}

static void fake_rollback(void *db) { ((fake_db_t *)db)->rollbacks++; }

static int fake_offset(void *db, const char *topic, int32_t partition, int64_t *next,
                       int *found) {
    fake_db_t *f = db;
    (void)topic, (void)partition;
    f->offsets++;
    *found = f->stored >= 0;
    if (*found)
        *next = f->stored;
    return 0;
}

static void fake_destroy(void *db) { free(db); }

static const wh_db_ops_t fake_ops_outside = {
    .name = "fake", .ddl_in_batch = 0, .begin = fake_begin, .catalog = fake_catalog,
    .ddl = fake_ddl, .write = fake_write, .rollback = fake_rollback, .offset = fake_offset,
    .destroy = fake_destroy,
};
static const wh_db_ops_t fake_ops_inside = {
    .name = "fake", .ddl_in_batch = 1, .begin = fake_begin, .catalog = fake_catalog,
    .ddl = fake_ddl, .write = fake_write, .rollback = fake_rollback, .offset = fake_offset,
    .destroy = fake_destroy,
};

static wh_loader_t *fake_loader(int ddl_in_batch, fake_db_t **out) {
    char err[256];
    fake_db_t *f = calloc(1, sizeof(*f));
    f->ddl_in_batch = ddl_in_batch;
    f->stored = -1;
    wh_loader_t *wl = wh_loader_new(ddl_in_batch ? &fake_ops_inside : &fake_ops_outside, f, "g",
                                    err, sizeof(err));
    CHECK(wl != NULL);
    f->wl = wl;
    wh_loader_set_backoff(wl, 1, 2);
    *out = f;
    return wl;
}

static wh_msg_t fake_msg(const char *value, int64_t offset) {
    wh_msg_t m = {.topic = "webhooks.f", .partition = 0, .offset = offset, .value = value,
                  .value_len = strlen(value)};
    m.sys.sequence = offset + 1;
    return m;
}

static const char *pk = "id";
static const wh_integration_t integ = {"f", &pk, 1};

/* Schema changed outside the batch (PostgreSQL's way): a new field costs a
 * round (rollback, DDL, catalog read back, begin again), and the second
 * round lays the batch out from the trees of the first — the payload,
 * changed by then, is not parsed again. */
static void test_rounds_parse_once(void) {
    fake_db_t *f;
    wh_loader_t *wl = fake_loader(0, &f);
    char payload[] = "{\"id\":1,\"a\":1}";
    wh_msg_t m = fake_msg(payload, 7);
    f->mutate = payload;
    f->mutate_to = "{\"id\":1,\"b\":1}";
    char err[256] = "";
    CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_OK);
    CHECK_STR(err, "");
    CHECK_INT(f->ddls, 1);
    CHECK_INT(f->begins, 2);
    CHECK_INT(f->rollbacks, 1);
    CHECK_INT(f->catalogs, 2);    /* before the first round, after the DDL */
    CHECK_INT(f->writes, 1);
    CHECK_STR(f->written, "id _sdc_sequence _sdc_received_at _sdc_batched_at "
                          "_sdc_table_version a");
    /* the next batch of the same shape: one round, no DDL, no catalog */
    char again[] = "{\"id\":2,\"a\":5}";
    m = fake_msg(again, 8);
    CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_OK);
    CHECK_INT(f->ddls, 1);
    CHECK_INT(f->begins, 3);
    CHECK_INT(f->catalogs, 2);
    wh_loader_stats_t st;
    wh_loader_stats(wl, &st);
    CHECK_INT(st.batches, 2);
    CHECK_INT(st.rows, 2);
    CHECK_INT(st.retries, 0);
    wh_loader_destroy(wl);
}

/* Another process changed the schema (begin finds the catalog stale):
 * outside the batch, rollback, read, begin again; inside it, read there. */
static void test_stale_catalog(void) {
    for (int inside = 0; inside < 2; inside++) {
        fake_db_t *f;
        wh_loader_t *wl = fake_loader(inside, &f);
        wh_msg_t m = fake_msg("{\"id\":1}", 0);
        char err[256];
        CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_OK);
        int begins = f->begins, catalogs = f->catalogs, rollbacks = f->rollbacks;
        f->stale_at_begin = 1;
        CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_OK);
        CHECK_INT(f->catalogs - catalogs, 1);
        CHECK_INT(f->begins - begins, inside ? 1 : 2);
        CHECK_INT(f->rollbacks - rollbacks, inside ? 0 : 1);
        wh_loader_destroy(wl);
    }
}

/* Schema changed inside the batch (SQLite's way): one round, no rollback. */
static void test_ddl_in_batch(void) {
    fake_db_t *f;
    wh_loader_t *wl = fake_loader(1, &f);
    wh_msg_t m = fake_msg("{\"id\":1,\"a\":\"x\"}", 0);
    char err[256];
    CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_OK);
    CHECK_INT(f->ddls, 1);
    CHECK_INT(f->begins, 1);
    CHECK_INT(f->rollbacks, 0);
    CHECK_INT(f->writes, 1);
    wh_loader_destroy(wl);
}

/* A transient error is waited out; a persistent one holds the integration
 * after WH_LOADER_HARD_RETRIES tries; a stop ends the waiting. */
static void test_retries(void) {
    fake_db_t *f;
    wh_loader_t *wl = fake_loader(1, &f);
    wh_msg_t m = fake_msg("{\"id\":1}", 0);
    char err[256];
    f->fail_writes = 5;
    f->fail_transient = 1;
    CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_OK);
    CHECK_INT(f->writes, 6);
    CHECK_INT(f->rollbacks, 5);
    wh_loader_stats_t st;
    wh_loader_stats(wl, &st);
    CHECK_INT(st.retries, 5);
    f->fail_writes = 100;
    f->fail_transient = 0;
    int writes = f->writes;
    CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_HOLD);
    CHECK_INT(f->writes - writes, WH_LOADER_HARD_RETRIES);
    CHECK_STR(err, "integration f: write refused (by the fake)");
    static volatile sig_atomic_t stop = 1;
    wh_loader_set_stop(wl, &stop);
    f->fail_transient = 1;
    CHECK_INT(wh_loader_write(wl, &integ, &m, 1, 0, err, sizeof(err)), WH_FAIL);
    CHECK_STR(err, "stopped: write refused (by the fake)");
    wh_loader_destroy(wl);
}

/* A key that cannot be a column name is the integration's alone. */
static void test_bad_key(void) {
    fake_db_t *f;
    wh_loader_t *wl = fake_loader(0, &f);
    const char *bad = "_sdc_x";
    wh_integration_t in = {"f", &bad, 1};
    wh_msg_t m = fake_msg("{\"_sdc_x\":1}", 0);
    char err[256];
    CHECK_INT(wh_loader_write(wl, &in, &m, 1, 0, err, sizeof(err)), WH_HOLD);
    CHECK(strncmp(err, "integration f: ", 15) == 0);
    CHECK_INT(f->begins, 0);
    wh_loader_destroy(wl);
    wh_loader_destroy(NULL);
}

static void test_offset(void) {
    fake_db_t *f;
    wh_loader_t *wl = fake_loader(0, &f);
    char err[256];
    int64_t next = -1;
    CHECK_INT(wh_loader_offset(wl, "webhooks.f", 0, &next, err, sizeof(err)), WH_NONE);
    f->stored = 42;
    CHECK_INT(wh_loader_offset(wl, "webhooks.f", 0, &next, err, sizeof(err)), WH_OK);
    CHECK_INT(next, 42);
    wh_loader_destroy(wl);
}

int main(void) {
    TEST(test_rounds_parse_once);
    TEST(test_stale_catalog);
    TEST(test_ddl_in_batch);
    TEST(test_retries);
    TEST(test_bad_key);
    TEST(test_offset);
    return test_done();
}
