/* Unit tests for the sink's fast path: records of a known shape are parsed
 * and checked without any allocation, and a long run of them keeps one
 * schema version, object and text. */
#include <stdint.h>
#include <stdlib.h>

#include "sink_conv.h"
#include "sink_json.h"
#include "sink_shape.h"
#include "harness.h"

/* records per test; a tenth under valgrind (which replaces malloc, so the
 * counts are not taken there anyway) to keep `make check` bounded */
static long runs = 100000;

/* Counting allocator: the executable's malloc family wraps glibc's. Not
 * under AddressSanitizer, which must own malloc itself. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SINK_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SINK_TEST_ASAN)
#define COUNTING 0
static long allocs;
static int counting_on;
#else
#define COUNTING 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static long allocs;
static int counting_on;

void *malloc(size_t n) {
    if (counting_on)
        allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
    if (counting_on)
        allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
    if (counting_on)
        allocs++;
    return __libc_realloc(p, n);
}
#endif

static const sink_sys_t sys = {1795724077123456LL, 1795724077123456789LL, 1795724078000000LL,
                               0, 0, "k", 1};

/* ~1 KB event, values varying with i, same shape every time. */
static size_t event(char *buf, size_t size, long i) {
    return (size_t)snprintf(
        buf, size,
        "{\"id\":%ld,\"type\":\"invoice.paid\",\"created\":%ld,\"livemode\":%s,"
        "\"amount\":%ld.%02ld,\"currency\":\"usd\",\"description\":\"Invoice %ld for "
        "customer account, including line items and taxes as agreed\","
        "\"customer\":{\"id\":\"cus_%08ld\",\"email\":\"user%ld@example.com\","
        "\"name\":\"Customer Number %ld\",\"address\":{\"line1\":\"%ld Main Street\","
        "\"city\":\"Springfield\",\"postal_code\":\"%05ld\",\"country\":\"US\"},"
        "\"balance\":%ld,\"delinquent\":false},"
        "\"metadata\":{\"order_id\":\"ord_%ld\",\"source\":\"web\",\"campaign\":null},"
        "\"tags\":[\"paid\",\"monthly\",\"t%ld\"],"
        "\"lines\":[{\"sku\":\"sku_%ld\",\"qty\":%ld,\"price\":%ld.5},"
        "{\"sku\":\"sku_b\",\"qty\":1,\"price\":2.25}],"
        "\"request\":{\"id\":\"req_%012ld\",\"idempotency_key\":\"%016lx\"},"
        "\"attempt_count\":%ld,\"next_payment_attempt\":null,\"paid\":true,"
        "\"status\":\"paid\",\"subtotal\":%ld,\"tax\":%ld,\"total\":%ld,"
        "\"hosted_invoice_url\":\"https://invoice.example.com/i/acct_1Nv0FGQ9RKHgCVdK/"
        "live_YWNjdF8xTnYwRkdROVJLSGdDVmRLLF9PbUJ3dlJ2eWpXZ2xIMm9xMjFzWTN%ld\","
        "\"billing_reason\":\"subscription_cycle\",\"period_start\":%ld,\"period_end\":%ld,"
        "\"footer\":\"Thank you for your business. Questions? Contact billing support.\"}",
        i, 1700000000 + i, i % 2 ? "true" : "false", i * 7, i % 100, i, i, i, i, i, i % 100000,
        -i, i, i % 10, i, i % 5, i, i, i * 31, i % 4, i * 3, i, i * 3 + i, i, 1700000000 + i,
        1702592000 + i);
}

static void test_parse_and_check_allocate_nothing(void) {
    char err[256], buf[2048];
    const sink_json_node_t *root;
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    sink_shape_t *s = sink_shape_new("t", 1, NULL, err, sizeof(err)), *next = NULL;
    size_t len = event(buf, sizeof(buf), 1);
    CHECK(len > 900 && len < 1300);
    CHECK_INT(sink_json_parse(p, buf, len, &root, err, sizeof(err)), 0);
    CHECK_INT(sink_shape_matches(s, root), 0);
    CHECK_INT(sink_shape_evolve(s, root, &next, err, sizeof(err)), SINK_NEW_VERSION);
    sink_shape_destroy(s);
    s = next;
    long failed = 0, total = 0;
    for (long i = 0; i < runs; i++) {
        len = event(buf, sizeof(buf), i);
        allocs = 0;
        counting_on = 1;
        int ok = sink_json_parse(p, buf, len, &root, err, sizeof(err)) == 0 &&
                 sink_shape_matches(s, root);
        counting_on = 0;
        failed += !ok;
        total += allocs;
    }
    CHECK_INT(failed, 0);
    if (COUNTING)
        CHECK_INT(total, 0);
    sink_shape_destroy(s);
    sink_json_parser_destroy(p);
}

static void test_one_version_for_one_shape(void) {
    char err[256], buf[2048];
    sink_conv_t *c = sink_conv_new("t", 0, NULL, err, sizeof(err));
    size_t len = event(buf, sizeof(buf), 0);
    CHECK_INT(sink_conv_record(c, buf, len, &sys, err, sizeof(err)), SINK_NEW_VERSION);
    const char *text = sink_conv_schema_text(c);
    avro_schema_t schema = sink_conv_schema(c);
    const sink_shape_t *shape = sink_conv_shape(c);
    avro_value_t *value = sink_conv_value(c);
    long bad = 0, total = 0, warm = 0;
    for (long i = 1; i <= runs; i++) {
        const void *out;
        size_t out_len;
        len = event(buf, sizeof(buf), i);
        allocs = 0;
        counting_on = 1;
        int rc = sink_conv_record(c, buf, len, &sys, err, sizeof(err));
        int erc = sink_conv_encode(c, 1, &out, &out_len, err, sizeof(err));
        counting_on = 0;
        bad += rc != SINK_OK || erc != 0;
        /* avro-c keeps string buffers between records; only growth allocates */
        if (i > 1000)
            total += allocs;
        else
            warm += allocs;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(sink_conv_version(c), 1);
    CHECK(sink_conv_schema_text(c) == text);
    CHECK(sink_conv_schema(c) == schema);
    CHECK(sink_conv_shape(c) == shape);
    CHECK(sink_conv_value(c) == value);
    if (COUNTING)
        CHECK_INT(total, 0);
    printf("steady-state allocations per record: %.3f (first 1000 records: %ld)\n",
           (double)total / (double)(runs - 1000), warm);
    sink_conv_destroy(c);
}

int main(void) {
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload"))
        runs = 10000;
    TEST(test_parse_and_check_allocate_nothing);
    TEST(test_one_version_for_one_shape);
    return test_done();
}
