/* The retried-delivery contract between the gateway and the warehouse: the
 * key the gateway derives from a delivery id (gw_ids_delivery_key), given to
 * the SQLite loader as the gateway's Kafka messages would give it, leaves one
 * row per delivery however often it is posted, in one batch or several. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "gw_ids.h"
#include "wh_sink.h"
#include "harness.h"

static long long count_rows(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Writes one message as the gateway produces it for (delivery, index). */
static int post(wh_sink_t *s, const char *delivery, int64_t offset, const char *body) {
    static const wh_integration_t in = {"t_dedupe", NULL, 0};
    char key[GW_UUID_LEN + 1], at[32], seq[24], err[256];
    gw_ids_delivery_key(in.name, delivery, strlen(delivery), 0, key);
    int64_t ns = gw_ids_now_ns();
    gw_ids_rfc3339(ns, at);
    snprintf(seq, sizeof(seq), "%lld", (long long)gw_ids_sequence());
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "hookpipe-received-at", -1, at, -1);
    rd_kafka_header_add(h, "hookpipe-sequence", -1, seq, -1);
    rd_kafka_header_add(h, "hookpipe-delivery-id", -1, delivery, -1);
    wh_msg_t m;
    wh_msg_from_kafka(&m, "webhooks.t_dedupe", 0, offset, ns / 1000000, key, strlen(key), body,
                      strlen(body), h);
    int rc = wh_sink_write(s, &in, &m, err, sizeof(err));
    if (rc < 0)
        HARNESS_FAIL("write: %s", err);
    rd_kafka_headers_destroy(h);
    return rc;
}

static void test_three_posts_one_row(void) {
    char path[] = "/tmp/hookpipe-dedupe-XXXXXX", file[64], err[256];
    if (!mkdtemp(path)) {
        HARNESS_FAIL("mkdtemp");
        return;
    }
    snprintf(file, sizeof(file), "%s/w.db", path);
    wh_sink_conf_t conf = {.kind = WH_SINK_SQLITE, .location = file, .group = "g"};
    wh_sink_t *s = wh_sink_new(&conf, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    const char *body = "{\"action\":\"created\",\"n\":1}";
    /* one batch: the delivery three times, another delivery once */
    post(s, "d-1", 0, body);
    post(s, "d-1", 1, body);
    post(s, "d-1", 2, body);
    post(s, "d-2", 3, body);
    CHECK_INT(wh_sink_flush(s, err, sizeof(err)), 0);
    CHECK_INT(count_rows(file, "SELECT count(*) FROM \"t_dedupe.data\""), 2);
    /* a retry after its row was committed: still one row */
    post(s, "d-1", 4, body);
    CHECK_INT(wh_sink_flush(s, err, sizeof(err)), 0);
    CHECK_INT(count_rows(file, "SELECT count(*) FROM \"t_dedupe.data\""), 2);
    char want[GW_UUID_LEN + 1], sql[256];
    gw_ids_delivery_key("t_dedupe", "d-1", 3, 0, want);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM \"t_dedupe.data\" WHERE __sdc_primary_key = '%s'", want);
    CHECK_INT(count_rows(file, sql), 1);
    wh_sink_destroy(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    CHECK_INT(system(cmd), 0);
}

int main(void) {
    log_init("test", LOG_ERROR);
    TEST(test_three_posts_one_row);
    return test_done();
}
