/* Unit tests for gateway/gw_config (defaults, ranges) and
 * gateway/gw_metrics (the Prometheus text). */
#include <stdlib.h>

#include "log.h"
#include "gw_config.h"
#include "gw_metrics.h"
#include "harness.h"

static void test_defaults(void) {
    char err[256] = "";
    char *argv[] = {"gw", NULL};
    cfg_t *cfg = gw_config_cfg_new();
    gw_config_t c;
    CHECK_INT(cfg_load(cfg, 1, argv, err, sizeof(err)), 0);
    CHECK_INT(gw_config_read(cfg, &c, err, sizeof(err)), 0);
    CHECK_STR(c.listen, "127.0.0.1:8080");
    CHECK_STR(c.metrics_listen, "127.0.0.1:9090");
    CHECK_STR(c.integrations_topic, "hookpipe.integrations");
    CHECK_INT(c.max_body, 4 << 20);
    CHECK_INT(c.max_depth, 128);
    CHECK_INT(c.max_records, 10000);
    CHECK_INT(c.inflight_bytes, 24 << 20);
    CHECK_INT(c.ack_timeout_ms, 10000);
    CHECK_INT(c.retry_after, 5);
    CHECK_INT(c.log_level, LOG_INFO);
    CHECK_INT(c.connection_memory, 16 << 10);
    cfg_destroy(cfg);
}

static void test_bad_values(void) {
    static const struct {
        const char *arg, *err;
    } cases[] = {
        {"--listen=nocolon", "'nocolon': expected host:port"},
        {"--metrics.listen=127.0.0.1:", "'127.0.0.1:': expected host:port"},
        {"--log.level=loud", "log.level: 'loud' is not error, warn, info or debug"},
        {"--integrations.topic=", "integrations.topic: must not be empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        char *argv[] = {"gw", (char *)cases[i].arg, NULL};
        cfg_t *cfg = gw_config_cfg_new();
        gw_config_t c;
        CHECK_INT(cfg_load(cfg, 2, argv, err, sizeof(err)), 0);
        CHECK_INT(gw_config_read(cfg, &c, err, sizeof(err)), -1);
        CHECK_STR(err, cases[i].err);
        cfg_destroy(cfg);
    }
    char err[256] = "";
    char *argv[] = {"gw", "--max.depth=1", NULL};
    cfg_t *cfg = gw_config_cfg_new();
    CHECK_INT(cfg_load(cfg, 2, argv, err, sizeof(err)), -1);
    CHECK_STR(err, "max.depth: 1 is outside [2, 2048]");
    cfg_destroy(cfg);
    /* libmicrohttpd needs room for a request line and headers */
    char *small[] = {"gw", "--connection.memory=1k", NULL};
    cfg = gw_config_cfg_new();
    CHECK_INT(cfg_load(cfg, 2, small, err, sizeof(err)), -1);
    CHECK_STR(err, "connection.memory: 1024 is outside [4096, 1048576]");
    cfg_destroy(cfg);
}

static void test_metrics_text(void) {
    gw_metrics_request("alpha", 200, 100, 0.003);
    gw_metrics_request("alpha", 200, 50, 0.2);
    gw_metrics_request(NULL, 401, 0, 0.0001);
    gw_metrics_request("alpha", 418, 0, 20);
    gw_metrics_records("alpha", 5, 2);
    gw_metrics_kafka_error();
    gw_metrics_gauges_t g = {3, 4096, 7, 2, 1};
    size_t len;
    char *t = gw_metrics_render(&g, &len);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_INT(strlen(t), len);
    static const char *const want[] = {
        "hookpipe_gateway_requests_total{integration=\"alpha\",code=\"200\"} 2\n",
        "hookpipe_gateway_requests_total{integration=\"\",code=\"401\"} 1\n",
        "hookpipe_gateway_requests_total{integration=\"alpha\",code=\"other\"} 1\n",
        "hookpipe_gateway_records_total{integration=\"alpha\",outcome=\"accepted\"} 5\n",
        "hookpipe_gateway_records_total{integration=\"alpha\",outcome=\"rejected\"} 2\n",
        "hookpipe_gateway_request_bytes_total{integration=\"alpha\"} 150\n",
        "hookpipe_gateway_request_duration_seconds_bucket{le=\"0.001\"} 1\n",
        "hookpipe_gateway_request_duration_seconds_bucket{le=\"0.005\"} 2\n",
        "hookpipe_gateway_request_duration_seconds_bucket{le=\"10\"} 3\n",
        "hookpipe_gateway_request_duration_seconds_bucket{le=\"+Inf\"} 4\n",
        "hookpipe_gateway_request_duration_seconds_count 4\n",
        "hookpipe_gateway_kafka_errors_total 1\n",
        "hookpipe_gateway_inflight_requests 3\n",
        "hookpipe_gateway_inflight_bytes 4096\n",
        "hookpipe_gateway_producer_queue_messages 7\n",
        "hookpipe_gateway_integrations 2\n",
        "hookpipe_gateway_ready 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(t, want[i]))
            HARNESS_FAIL("metrics text lacks %s", want[i]);
    free(t);
    gw_metrics_reset();
}

int main(void) {
    TEST(test_defaults);
    TEST(test_bad_values);
    TEST(test_metrics_text);
    return test_done();
}
