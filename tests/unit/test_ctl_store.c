/* Unit tests for gateway/ctl_store against librdkafka's mock cluster: state
 * replay (last value wins, tombstones, unreadable records) and writes under
 * the lock. The mock has no controller (no CreateTopics) and does not fence
 * transactional producers: topic creation and lock conflicts are tested
 * against a real broker in tests/integration/test_ctl.py. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>

#include "cfg.h"
#include "integ.h"
#include "ctl_store.h"
#include "harness.h"

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static cfg_t *cfg;

static int setup(void) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!mock_rk || !(mock = rd_kafka_mock_cluster_new(mock_rk, 1))) {
        fprintf(stderr, "no mock cluster: %s\n", err);
        return -1;
    }
    cfg = cfg_new("test", NULL, NULL, 0, "HPTEST");
    if (!cfg || cfg_set(cfg, "kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock),
                        err, sizeof(err)) < 0) {
        fprintf(stderr, "cfg: %s\n", err);
        return -1;
    }
    return 0;
}

static void teardown(void) {
    cfg_destroy(cfg);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
}

/* A minimal valid record called `name`. */
static integ_t *record(const char *name, int paused) {
    integ_t *in = calloc(1, sizeof(*in));
    char topic[128];
    snprintf(topic, sizeof(topic), "webhooks.%s", name);
    in->name = strdup(name);
    in->display_name = strdup(name);
    in->client_id = strdup("12345678");
    in->topic = strdup(topic);
    strcat(topic, ".rejected");
    in->rejected_topic = strdup(topic);
    in->paused = paused;
    integ_now_rfc3339(in->created_at);
    memcpy(in->updated_at, in->created_at, sizeof(in->updated_at));
    return in;
}

/* Writes raw bytes (value NULL: tombstone) to the integrations topic, as a
 * foreign tool could. */
static void produce_raw(const char *key, const char *value) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    CHECK(rk != NULL);
    if (!rk)
        return;
    CHECK_INT(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(INTEG_TOPIC), RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              0);
    CHECK_INT(rd_kafka_flush(rk, 10000), 0);
    rd_kafka_destroy(rk);
}

static ctl_state_t *read_state(ctl_store_t *st) {
    char err[512] = "";
    ctl_state_t *state = NULL;
    int rc = ctl_store_read(st, &state, err, sizeof(err));
    if (rc != 0)
        HARNESS_FAIL("ctl_store_read: %s", err);
    return state;
}

static void test_missing_topic_is_empty(void) {
    char err[512];
    ctl_store_t *st = ctl_store_new(cfg, 5000, 0, err, sizeof(err));
    CHECK(st != NULL);
    ctl_state_t *state = st ? read_state(st) : NULL;
    CHECK(state != NULL);
    if (state) {
        CHECK_INT(state->n, 0);
        CHECK_INT(state->unreadable, 0);
    }
    ctl_state_destroy(state);
    ctl_store_destroy(st);
    ctl_store_destroy(NULL);
    ctl_state_destroy(NULL);
}

static void test_replay(void) {
    char err[512] = "";
    ctl_store_t *st = ctl_store_new(cfg, 5000, 0, err, sizeof(err));
    if (!st) {
        HARNESS_FAIL("ctl_store_new: %s", err);
        return;
    }
    /* the mock may have made it already when it was asked about */
    rd_kafka_resp_err_t made = rd_kafka_mock_topic_create(mock, INTEG_TOPIC, 1, 1);
    CHECK(made == RD_KAFKA_RESP_ERR_NO_ERROR || made == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);

    /* zeta, then alpha paused, then alpha active: the last value wins */
    static const struct {
        const char *name;
        int paused;
    } writes[] = {{"zeta", 0}, {"alpha", 1}, {"beta", 0}, {"alpha", 0}};
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        integ_t *in = record(writes[i].name, writes[i].paused);
        CHECK_INT(ctl_store_lock(st, in->name, err, sizeof(err)), 0);
        int rc = ctl_store_put(st, in, err, sizeof(err));
        if (rc != 0)
            HARNESS_FAIL("put %s: %d %s", in->name, rc, err);
        integ_destroy(in);
    }
    CHECK_INT(ctl_store_lock(st, "beta", err, sizeof(err)), 0);
    CHECK_INT(ctl_store_delete(st, "beta", err, sizeof(err)), 0);
    /* written by something else: not a record, and a record under the wrong key */
    produce_raw("junk", "{not json");
    integ_t *other = record("other", 0);
    char *json = integ_to_json(other);
    produce_raw("mismatch", json);
    free(json);
    integ_destroy(other);

    ctl_state_t *state = read_state(st);
    if (state) {
        CHECK_INT(state->n, 2);
        if (state->n == 2) {
            CHECK_STR(state->items[0]->name, "alpha");
            CHECK_INT(state->items[0]->paused, 0);
            CHECK_STR(state->items[1]->name, "zeta");
        }
        CHECK(ctl_state_find(state, "zeta") != NULL);
        CHECK(ctl_state_find(state, "beta") == NULL);
        CHECK(ctl_state_find(state, "junk") == NULL);
        CHECK_INT(state->unreadable, 2);
        CHECK(strstr(state->first_error, "junk") != NULL);
    }
    ctl_state_destroy(state);

    /* a tombstone for a malformed value clears it */
    produce_raw("junk", NULL);
    state = read_state(st);
    if (state)
        CHECK_INT(state->unreadable, 1);
    ctl_state_destroy(state);
    ctl_store_destroy(st);
}

static void test_write_needs_lock(void) {
    char err[512] = "";
    ctl_store_t *st = ctl_store_new(cfg, 5000, 0, err, sizeof(err));
    integ_t *in = record("nolock", 0);
    CHECK_INT(ctl_store_put(st, in, err, sizeof(err)), -1);
    CHECK(strstr(err, "without the lock") != NULL);
    integ_destroy(in);
    ctl_store_destroy(st);
}

/* Locks for different integrations are independent, and a store can move
 * from one to the next. */
static void test_lock_per_integration(void) {
    char err[512] = "";
    ctl_store_t *a = ctl_store_new(cfg, 5000, 0, err, sizeof(err));
    ctl_store_t *b = ctl_store_new(cfg, 5000, 0, err, sizeof(err));
    integ_t *x = record("lock_x", 0), *y = record("lock_y", 1);
    CHECK_INT(ctl_store_lock(a, "lock_x", err, sizeof(err)), 0);
    CHECK_INT(ctl_store_lock(b, "lock_y", err, sizeof(err)), 0);
    CHECK_INT(ctl_store_put(b, y, err, sizeof(err)), 0);
    CHECK_INT(ctl_store_put(a, x, err, sizeof(err)), 0);
    CHECK_INT(ctl_store_lock(a, "lock_y", err, sizeof(err)), 0);
    CHECK_INT(ctl_store_delete(a, "lock_y", err, sizeof(err)), 0);
    ctl_state_t *state = read_state(b);
    if (state) {
        CHECK(ctl_state_find(state, "lock_x") != NULL);
        CHECK(ctl_state_find(state, "lock_y") == NULL);
    }
    ctl_state_destroy(state);
    integ_destroy(x);
    integ_destroy(y);
    ctl_store_destroy(a);
    ctl_store_destroy(b);
}

int main(void) {
    if (setup() < 0)
        return 1;
    TEST(test_missing_topic_is_empty);
    TEST(test_replay);
    TEST(test_write_needs_lock);
    TEST(test_lock_per_integration);
    teardown();
    return test_done();
}
