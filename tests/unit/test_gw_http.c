/* Unit tests for the gateway's request path in one process, against the
 * librdkafka mock cluster (client-side logic only: answers, all-or-nothing
 * acknowledgement, timeouts with late delivery reports). The real broker is
 * exercised by tests/integration/test_gateway.py. */
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "integ.h"
#include "log.h"
#include "gw_config.h"
#include "gw_http.h"
#include "gw_integrations.h"
#include "gw_producer.h"
#include "harness.h"

#define PRODUCE_API_KEY 0   /* Kafka protocol ApiKey of Produce */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static cfg_t *cfg;
static gw_config_t conf;
static gw_integs_t *integs;
static gw_producer_t *producer;
static gw_http_t *http;
static char base[64], token[INTEG_TOKEN_HEX + 1];

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes the integration record "alpha" (primary key id) to the mock. */
static void put_integration(int paused) {
    integ_t in;
    memset(&in, 0, sizeof(in));
    char *pk[] = {"id"};
    in.name = "alpha";
    in.display_name = "alpha";
    in.client_id = "c1";
    in.topic = "webhooks.alpha";
    in.rejected_topic = "webhooks.alpha.rejected";
    in.primary_key = pk;
    in.npk = 1;
    in.paused = paused;
    in.max_body = 1000;
    char hex[INTEG_TOKEN_HEX + 1];
    integ_token_new(hex, &in.tokens[0]);
    if (!token[0])
        memcpy(token, hex, sizeof(hex));      /* the same token every time */
    integ_token_hash(token, strlen(token), in.tokens[0].sha256);
    in.ntokens = 1;
    integ_now_rfc3339(in.created_at);
    integ_now_rfc3339(in.updated_at);
    char *json = integ_to_json(&in);
    rd_kafka_producev(mock_rk, RD_KAFKA_V_TOPIC("itopic"), RD_KAFKA_V_KEY("alpha", 5),
                      RD_KAFKA_V_VALUE(json, strlen(json)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    rd_kafka_flush(mock_rk, 5000);
    free(json);
}

/* a gateway of `loops` event loops against a fresh mock cluster */
static int setup(int loops) {
    char err[512], v[128];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    /* this producer owns the mock cluster and writes the integrations */
    rd_kafka_conf_set(c, "test.mock.num.brokers", "1", NULL, 0);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    mock = rd_kafka_handle_mock_cluster(mock_rk);
    rd_kafka_mock_topic_create(mock, "itopic", 1, 1);
    rd_kafka_mock_topic_create(mock, "webhooks.alpha", 3, 1);
    rd_kafka_mock_topic_create(mock, "webhooks.alpha.rejected", 1, 1);
    put_integration(0);

    cfg = gw_config_cfg_new();
    int port = free_port(), mport = free_port();
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    snprintf(v, sizeof(v), "127.0.0.1:%d", port);
    cfg_set(cfg, "listen", v, err, sizeof(err));
    snprintf(v, sizeof(v), "127.0.0.1:%d", mport);
    cfg_set(cfg, "metrics.listen", v, err, sizeof(err));
    cfg_set(cfg, "integrations.topic", "itopic", err, sizeof(err));
    snprintf(v, sizeof(v), "%d", loops);
    cfg_set(cfg, "threads", v, err, sizeof(err));
    cfg_set(cfg, "ack.timeout.ms", "2000", err, sizeof(err));
    cfg_set(cfg, "kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err,
            sizeof(err));
    if (gw_config_read(cfg, &conf, err, sizeof(err)) < 0 ||
        !(integs = gw_integs_new(cfg, conf.integrations_topic, err, sizeof(err))) ||
        !(producer = gw_producer_new(cfg, conf.ack_timeout_ms, gw_http_on_delivery, err,
                                     sizeof(err))) ||
        gw_integs_start(integs, err, sizeof(err)) < 0 ||
        !(http = gw_http_new(&conf, integs, producer, err, sizeof(err)))) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    for (int i = 0; i < 200 && !gw_integs_ready(integs); i++)
        sleep_ms(50);
    return gw_integs_ready(integs) ? 0 : -1;
}

static void teardown(void) {
    gw_producer_flush(producer, 5000);
    gw_http_destroy(http);
    gw_producer_destroy(producer);
    gw_integs_destroy(integs);
    cfg_destroy(cfg);
    rd_kafka_destroy(mock_rk);
}

typedef struct {
    char buf[4096];
    size_t len;
} resp_t;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    resp_t *r = arg;
    size_t k = size * n;
    if (k > sizeof(r->buf) - 1 - r->len)
        k = sizeof(r->buf) - 1 - r->len;
    memcpy(r->buf + r->len, p, k);
    r->len += k;
    r->buf[r->len] = '\0';
    return size * n;
}

/* POSTs body to path; returns the status, the body in r. */
static long post(const char *path, const char *body, resp_t *r) {
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    memset(r, 0, sizeof(*r));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* POSTs body to path with one extra header of n bytes; returns the status. */
static long post_header(const char *path_, const char *body, size_t n) {
    char url[512];
    long status = 0;
    char *hdr = malloc(n + 16);
    if (!hdr)
        return 0;
    memcpy(hdr, "X-Padding: ", 11);
    memset(hdr + 11, 'a', n);
    hdr[11 + n] = '\0';
    resp_t r = {.len = 0};
    snprintf(url, sizeof(url), "%s%s", base, path_);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, hdr);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(hdr);
    return status;
}

static char path[256];

static void test_answers(void) {
    static const struct {
        const char *body;
        long status;
        const char *part;
    } cases[] = {
        {"{\"id\":1}", 200, "\"records\":1,\"rejected\":0"},
        {"[{\"id\":1},{\"x\":1},{\"id\":\"a\"}]", 200, "\"records\":2,\"rejected\":1"},
        {"[]", 200, "\"records\":0,\"rejected\":0"},
        {"{\"id\":1,}", 400, "malformed JSON at byte 8: expected a member name"},
        {"", 400, "empty body"},
        {"7", 400, "top level"},
        {NULL, 413, "limit of 1000 bytes"},
    };
    char big[1200];
    memset(big, ' ', sizeof(big) - 1);
    memcpy(big, "{}", 2);
    big[sizeof(big) - 1] = '\0';
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resp_t r;
        long st = post(path, cases[i].body ? cases[i].body : big, &r);
        if (st != cases[i].status || !strstr(r.buf, cases[i].part) || !strstr(r.buf, "\"request_id\":\""))
            HARNESS_FAIL("case %zu: %ld %s, want %ld with %s", i, st, r.buf, cases[i].status,
                         cases[i].part);
    }
    resp_t r;
    CHECK_INT(post("/v1/clients/c2/token/x", "{}", &r), 401);
    char wrong[256];
    snprintf(wrong, sizeof(wrong), "/v1/clients/c2/token/%s", token);
    CHECK_INT(post(wrong, "{}", &r), 401);
    CHECK_INT(post("/v1/clients/c1", "{}", &r), 404);
}

/* connection.memory (16 KiB by default) holds the request line and
 * headers: 10 KB of headers pass, 24 KB get 431. */
static void test_header_room(void) {
    CHECK_INT(post_header(path, "{\"id\":1}", 10000), 200);
    CHECK_INT(post_header(path, "{\"id\":1}", 24000), 431);
}

/* A record the broker refuses makes the whole request fail, although its
 * other records may have been stored: a 503 for a refusal a retry may
 * overcome, and a 413 (not a 503 a provider would retry for ever) when the
 * record is larger than the topic takes. */
static void test_refused_record_fails_request(void) {
    resp_t r;
    rd_kafka_mock_push_request_errors(mock, PRODUCE_API_KEY, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD);
    long st = post(path, "{\"id\":\"refused\"}", &r);
    CHECK_INT(st, 503);
    CHECK(strstr(r.buf, "did not accept") != NULL);
    CHECK_INT(post(path, "{\"id\":\"after\"}", &r), 200);
    rd_kafka_mock_push_request_errors(mock, PRODUCE_API_KEY, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    st = post(path, "{\"id\":\"too large\"}", &r);
    CHECK_INT(st, 413);
    if (!strstr(r.buf, "larger than topic webhooks.alpha takes (its max.message.bytes") ||
        !strstr(r.buf, "nothing stored"))
        HARNESS_FAIL("413 message: %s", r.buf);
    CHECK_INT(post(path, "{\"id\":\"after\"}", &r), 200);
}

/* Kafka too slow: 503 at ack.timeout.ms; the late delivery reports find
 * the request state still alive (checked by ASan in make check). */
static void test_timeout_then_late_reports(void) {
    resp_t r;
    rd_kafka_mock_broker_set_rtt(mock, 1, 3000);
    double t0 = now_s();
    long st = post(path, "[{\"id\":1},{\"id\":2}]", &r);
    double took = now_s() - t0;
    CHECK_INT(st, 503);
    CHECK(took >= 1.9 && took < 2.8);
    rd_kafka_mock_broker_set_rtt(mock, 1, 0);
    sleep_ms(3500);
    CHECK_INT(gw_http_inflight(http), 0);
    CHECK_INT(post(path, "{\"id\":3}", &r), 200);
}

static void test_pause_applies_live(void) {
    resp_t r;
    put_integration(1);
    double t0 = now_s();
    long st;
    while ((st = post(path, "{\"id\":1}", &r)) != 403 && now_s() - t0 < 2)
        sleep_ms(20);
    CHECK_INT(st, 403);
    CHECK(now_s() - t0 < 1.0);
    put_integration(0);
    t0 = now_s();
    while ((st = post(path, "{\"id\":1}", &r)) != 200 && now_s() - t0 < 2)
        sleep_ms(20);
    CHECK_INT(st, 200);
}

/* Sends a raw request (request line added) on a new connection and reads
 * the answer into out until the server closes or 2 s pass; returns its
 * status, 0 when there is none. */
static int raw_request(const char *headers, const char *body, char *out, size_t out_size) {
    int port = atoi(strrchr(base, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    out[0] = '\0';
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return 0;
    }
    char req[2048];
    int n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: x\r\n%s\r\n%s", path,
                     headers, body);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return 0;
    }
    size_t len = 0;
    ssize_t k;
    while (len + 1 < out_size && (k = recv(fd, out + len, out_size - 1 - len, 0)) > 0)
        len += (size_t)k;
    out[len] = '\0';
    close(fd);
    int status = 0;
    return sscanf(out, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

/* Headers that leave where the body ends in doubt are refused before the
 * body is read, and the connection is closed: a proxy in front reading the
 * other Content-Length, or Content-Length instead of the chunked coding,
 * would see another body or a second request. */
static void test_framing_headers(void) {
    static const char json[] = "Content-Type: application/json\r\n";
    static const char chunked[] = "8\r\n{\"id\":1}\r\n0\r\n\r\n";
    static const struct {
        const char *headers, *body;
        int status;
    } cases[] = {
        {"Content-Length: 8\r\nContent-Length: 5\r\n", "{\"id\":1}", 400},
        {"Content-Length: 5\r\nContent-Length: 8\r\n", "{\"id\":1}", 400},
        {"Content-Length: 8\r\nContent-Type: text/plain\r\n", "{\"id\":1}", 400},
        {"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", chunked, 400},
        {"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", chunked, 400},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", chunked, 400},
        {"Transfer-Encoding: gzip, chunked\r\n", chunked, 501},
        {"Transfer-Encoding: identity\r\n", "{\"id\":1}", 501},
        /* the same value twice is one value (RFC 9112 6.3) */
        {"Content-Length: 8\r\nContent-Length: 8\r\n", "{\"id\":1}", 200},
        {"Transfer-Encoding: Chunked\r\n", chunked, 200},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char headers[512], out[4096];
        snprintf(headers, sizeof(headers), "%s%s", json, cases[i].headers);
        int st = raw_request(headers, cases[i].body, out, sizeof(out));
        if (st != cases[i].status)
            HARNESS_FAIL("case %zu: %d, want %d: %s", i, st, cases[i].status, out);
        else if (st != 200 && (!strstr(out, "Connection: close") || !strstr(out, "request_id")))
            HARNESS_FAIL("case %zu: not our answer, or the connection is kept: %s", i, out);
    }
}

int main(void) {
    log_init("test_gw_http", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* one loop (the default), then three: a request of loop 1 or 2 is
     * resumed from loop 0, which serves the delivery reports */
    static const int loops[] = {1, 3};
    for (size_t k = 0; k < sizeof(loops) / sizeof(loops[0]); k++) {
        int failed_before = harness_failed;
        if (setup(loops[k]) < 0) {
            fprintf(stderr, "cannot set up the gateway against the mock cluster\n");
            harness_failed++;
            return test_done();
        }
        snprintf(path, sizeof(path), "/v1/clients/c1/token/%s", token);
        /* the first produce to a topic waits for the producer id and metadata */
        resp_t warm;
        for (int i = 0; i < 20 && post(path, "[{\"id\":0},{\"x\":0}]", &warm) != 200; i++)
            sleep_ms(100);
        TEST(test_answers);
        TEST(test_header_room);
        TEST(test_framing_headers);
        TEST(test_refused_record_fails_request);
        TEST(test_timeout_then_late_reports);
        TEST(test_pause_applies_live);
        teardown();
        if (harness_failed > failed_before)
            fprintf(stderr, "(the failures above: with %d event loop(s))\n", loops[k]);
    }
    curl_global_cleanup();
    return test_done();
}
