/* Unit tests for the record model's one rule from a Kafka message to the
 * system fields (sinks/sink_record.h): headers, their absence, malformed
 * ones, missing timestamps, and header-less sequences ordered by offset. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <string.h>

#include "event.h"
#include "harness.h"
#include "sink_record.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define TS_MS      1795724077123LL              /* 2026-11-26T20:14:37.123Z */
#define BATCHED_AT 1795724090000000LL
#define HDR_AT     "2026-11-26T20:14:37.123456Z"
#define HDR_AT_US  1795724077123456LL
#define HDR_SEQ    "1795724077123456789"

static void test_rule_table(void) {
    static const struct {
        const char *name;
        const char *at;     /* hookpipe-received-at, NULL: absent */
        const char *seq;    /* hookpipe-sequence, NULL: absent */
        int64_t ts_ms;
        int64_t offset;
        int64_t want_at;
        int64_t want_seq;
    } cases[] = {
        {"both headers", HDR_AT, HDR_SEQ, TS_MS, 7, HDR_AT_US, 1795724077123456789LL},
        {"no headers", NULL, NULL, TS_MS, 7, TS_MS * 1000, TS_MS * 1000000 + 7},
        {"offset 0", NULL, NULL, TS_MS, 0, TS_MS * 1000, TS_MS * 1000000},
        {"large offset", NULL, NULL, TS_MS, 123456789012LL, TS_MS * 1000,
         TS_MS * 1000000 + 789012},
        {"only received-at", HDR_AT, NULL, TS_MS - 5, 7, HDR_AT_US, TS_MS * 1000000 + 7},
        {"only sequence", NULL, HDR_SEQ, TS_MS, 7, TS_MS * 1000, 1795724077123456789LL},
        {"malformed received-at", "2026-11-26 20:14:37Z", HDR_SEQ, TS_MS, 7, TS_MS * 1000,
         1795724077123456789LL},
        {"malformed sequence", HDR_AT, "17957240771234567890", TS_MS, 7, HDR_AT_US,
         TS_MS * 1000000 + 7},
        {"both malformed", "now", "soon", TS_MS, 7, TS_MS * 1000, TS_MS * 1000000 + 7},
        {"empty headers", "", "", TS_MS, 7, TS_MS * 1000, TS_MS * 1000000 + 7},
        {"no timestamp", NULL, NULL, -1, 7, BATCHED_AT, BATCHED_AT * 1000 + 7},
        {"negative timestamp", NULL, NULL, -1000, 7, BATCHED_AT, BATCHED_AT * 1000 + 7},
        {"no timestamp, headers", HDR_AT, HDR_SEQ, -1, 7, HDR_AT_US, 1795724077123456789LL},
        {"epoch", NULL, NULL, 0, 3, 0, 3},
        {"before 1970 by header", "1969-12-31T23:59:59.9995Z", NULL, TS_MS, 3, -500,
         -1000000 + 3},
        {"negative offset", NULL, NULL, TS_MS, -1001, TS_MS * 1000, TS_MS * 1000000},
        {"timestamp past 2262", NULL, NULL, 9300000000000LL, 3, 9300000000000000LL, INT64_MAX},
        {"timestamp overflowing µs", NULL, NULL, INT64_MAX / 100, 3, INT64_MAX, INT64_MAX},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        if (cases[i].at)
            rd_kafka_header_add(h, EVENT_HDR_RECEIVED_AT, -1, cases[i].at, -1);
        if (cases[i].seq)
            rd_kafka_header_add(h, EVENT_HDR_SEQUENCE, -1, cases[i].seq, -1);
        sink_sys_t sys;
        memset(&sys, 0x5a, sizeof(sys));
        sink_record_sys(h, cases[i].ts_ms, cases[i].offset, "k1", 2, BATCHED_AT, &sys);
        if (sys.received_at != cases[i].want_at || sys.sequence != cases[i].want_seq)
            HARNESS_FAIL("%s: received_at %lld sequence %lld, want %lld %lld", cases[i].name,
                         (long long)sys.received_at, (long long)sys.sequence,
                         (long long)cases[i].want_at, (long long)cases[i].want_seq);
        CHECK_INT(sys.batched_at, BATCHED_AT);
        CHECK_INT(sys.has_table_version, 0);
        CHECK_MEM(sys.key, sys.key_len, "k1", 2);
        rd_kafka_headers_destroy(h);
    }
}

static void test_rule_edges(void) {
    sink_sys_t sys;
    /* no header list at all, no key */
    sink_record_sys(NULL, TS_MS, 9, NULL, 5, BATCHED_AT, &sys);
    CHECK_INT(sys.received_at, TS_MS * 1000);
    CHECK_INT(sys.sequence, TS_MS * 1000000 + 9);
    CHECK(sys.key == NULL);
    CHECK_INT(sys.key_len, 0);
    /* a header without a value counts as absent */
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, EVENT_HDR_SEQUENCE, -1, NULL, 0);
    sink_record_sys(h, TS_MS, 9, "k", 1, BATCHED_AT, &sys);
    CHECK_INT(sys.sequence, TS_MS * 1000000 + 9);
    /* repeated headers: the last one counts */
    rd_kafka_header_add(h, EVENT_HDR_SEQUENCE, -1, "5", -1);
    rd_kafka_header_add(h, EVENT_HDR_SEQUENCE, -1, "6", -1);
    sink_record_sys(h, TS_MS, 9, "k", 1, BATCHED_AT, &sys);
    CHECK_INT(sys.sequence, 6);
    rd_kafka_headers_destroy(h);
    /* a header value is not NUL-terminated: its length bounds it */
    h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, EVENT_HDR_SEQUENCE, -1, "1234", 2);
    sink_record_sys(h, TS_MS, 9, "k", 1, BATCHED_AT, &sys);
    CHECK_INT(sys.sequence, 12);
    rd_kafka_headers_destroy(h);
}

/* "updates applied in offset order": header-less updates in one
 * millisecond, then in the next ones, get strictly increasing sequences. */
static void test_sequence_grows_with_offset(void) {
    int64_t prev = INT64_MIN;
    for (int64_t off = 0; off < 3000; off++) {
        int64_t ts = TS_MS + off / 1000; /* 1000 records per millisecond */
        sink_sys_t sys;
        sink_record_sys(NULL, ts, off, "k", 1, BATCHED_AT, &sys);
        if (sys.sequence <= prev) {
            HARNESS_FAIL("offset %lld: sequence %lld after %lld", (long long)off,
                         (long long)sys.sequence, (long long)prev);
            return;
        }
        prev = sys.sequence;
    }
    /* a later millisecond is later whatever the offsets */
    CHECK(sink_record_sequence((TS_MS + 1) * 1000, 0) >
          sink_record_sequence(TS_MS * 1000 + 999, 999999));
    /* microseconds within the millisecond do not count (a Kafka timestamp
       has none): the offset alone orders one millisecond */
    CHECK_INT(sink_record_sequence(TS_MS * 1000 + 999, 1), TS_MS * 1000000 + 1);
    /* the documented limit: the offset's digits wrap every 10^6 */
    CHECK(sink_record_sequence(TS_MS * 1000, 1000000) < sink_record_sequence(TS_MS * 1000, 999999));
    CHECK_INT(sink_record_sequence(INT64_MAX, 5), INT64_MAX);
    CHECK_INT(sink_record_sequence(INT64_MIN, 5), INT64_MIN);
}

/* The consumer's entry point, on real messages from librdkafka's mock
 * cluster: three header-less records with one timestamp, one with headers. */
static void test_from_message(void) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *prk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!prk) {
        HARNESS_FAIL("producer: %s", err);
        return;
    }
    rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(prk);
    rd_kafka_mock_topic_create(mock, "webhooks.rec", 1, 1);
    for (int i = 0; i < 4; i++) {
        /* the last one as our gateway writes it */
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        if (i == 3) {
            rd_kafka_header_add(h, EVENT_HDR_RECEIVED_AT, -1, HDR_AT, -1);
            rd_kafka_header_add(h, EVENT_HDR_SEQUENCE, -1, HDR_SEQ, -1);
        }
        rd_kafka_resp_err_t e = rd_kafka_producev(
            prk, RD_KAFKA_V_TOPIC("webhooks.rec"), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_KEY("k", 1), RD_KAFKA_V_VALUE("{}", 2),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(TS_MS),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        CHECK_INT(e, 0);
        if (e)
            rd_kafka_headers_destroy(h);
    }
    CHECK_INT(rd_kafka_flush(prk, 10000), 0);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test_sink_record", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *crk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, "webhooks.rec", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(crk, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    int got = 0;
    int64_t prev = INT64_MIN;
    for (int tries = 0; got < 4 && tries < 200; tries++) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(crk, 50);
        if (!rkm)
            continue;
        if (!rkm->err) {
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
                h = NULL;
            sink_sys_t sys;
            sink_record_from_message(rkm, h, BATCHED_AT, &sys);
            CHECK_INT(rkm->offset, got);
            if (got < 3) {
                CHECK_INT(sys.received_at, TS_MS * 1000);
                CHECK_INT(sys.sequence, TS_MS * 1000000 + rkm->offset);
                CHECK(sys.sequence > prev);
                prev = sys.sequence;
            } else {
                CHECK_INT(sys.received_at, HDR_AT_US);
                CHECK_INT(sys.sequence, 1795724077123456789LL);
            }
            CHECK_INT(sys.batched_at, BATCHED_AT);
            CHECK_MEM(sys.key, sys.key_len, "k", 1);
            got++;
        }
        rd_kafka_message_destroy(rkm);
    }
    CHECK_INT(got, 4);
    rd_kafka_consumer_close(crk);
    rd_kafka_destroy(crk);
    rd_kafka_destroy(prk);
}

int main(void) {
    TEST(test_rule_table);
    TEST(test_rule_edges);
    TEST(test_sequence_grows_with_offset);
    TEST(test_from_message);
    return test_done();
}
