/* Benchmark: records/s of the sink's JSON -> Avro conversion (parse, shape
 * check, value fill, Confluent wire-format encode) for ~1 KB events, against
 * jansson's json_loadb alone on the same bytes. Prints a markdown section.
 *   bench_convert [RECORDS_PER_RUN [RUNS]]   (defaults 50000, 5) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink_conv.h"
#include "sink_json.h"

#define EVENTS 1000
#define EVENT_MAX 2048
#define MAX_RUNS 15

static char events[EVENTS][EVENT_MAX];
static size_t lens[EVENTS];

/* ~1 KB webhook-like event; values vary with i, the shape does not. */
static size_t event(char *buf, size_t size, long i) {
    return (size_t)snprintf(
        buf, size,
        "{\"id\":\"evt_%016ld\",\"type\":\"invoice.paid\",\"created\":%ld,\"livemode\":%s,"
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

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long errors;

static double run_jansson(long records) {
    double t0 = now();
    for (long i = 0; i < records; i++) {
        json_error_t err;
        json_t *j = json_loadb(events[i % EVENTS], lens[i % EVENTS], 0, &err);
        errors += !j;
        json_decref(j);
    }
    return (double)records / (now() - t0);
}

static double run_parse(sink_json_parser_t *p, long records) {
    char err[128];
    const sink_json_node_t *root;
    double t0 = now();
    for (long i = 0; i < records; i++)
        errors += sink_json_parse(p, events[i % EVENTS], lens[i % EVENTS], &root, err,
                                  sizeof(err)) != 0;
    return (double)records / (now() - t0);
}

static double run_convert(sink_conv_t *c, long records, size_t *avro_bytes) {
    char err[256];
    sink_sys_t sys = {1795724077123456LL, 0, 1795724078000000LL, 0, 0,
                      "6f1c2a9e-4a7b-4c1e-9a57-3f0d2b8e1c44", 36};
    size_t total = 0;
    double t0 = now();
    for (long i = 0; i < records; i++) {
        const void *out;
        size_t len;
        sys.sequence = 1795724077123456789LL + i;
        int rc = sink_conv_record(c, events[i % EVENTS], lens[i % EVENTS], &sys, err, sizeof(err));
        errors += rc < 0 || sink_conv_encode(c, 1, &out, &len, err, sizeof(err)) != 0;
        total += len;
    }
    double rate = (double)records / (now() - t0);
    *avro_bytes = total / (size_t)records;
    return rate;
}

int main(int argc, char **argv) {
    long records = argc > 1 ? atol(argv[1]) : 50000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    char err[256];
    if (records < 1000 || records > 10000000 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: bench_convert [RECORDS_PER_RUN 1000..10000000 [RUNS 1..%d]]\n",
                MAX_RUNS);
        return 2;
    }
    size_t bytes = 0;
    for (long i = 0; i < EVENTS; i++) {
        lens[i] = event(events[i], EVENT_MAX, i * 7919 + 1);
        bytes += lens[i];
    }
    sink_json_parser_t *p = sink_json_parser_new(0, 0);
    sink_conv_t *c = sink_conv_new("bench", 0, NULL, err, sizeof(err));
    if (!p || !c) {
        fprintf(stderr, "bench_convert: %s\n", err);
        return 1;
    }
    double jr[MAX_RUNS], pr[MAX_RUNS], cr[MAX_RUNS];
    size_t avro_bytes = 0;
    run_convert(c, 1000, &avro_bytes);   /* first version made outside the timing */
    for (int r = 0; r < runs; r++) {      /* interleaved, so drift hits all alike */
        jr[r] = run_jansson(records);
        pr[r] = run_parse(p, records);
        cr[r] = run_convert(c, records, &avro_bytes);
    }
    double avg = (double)bytes / EVENTS, j = median(jr, runs), ps = median(pr, runs),
           cv = median(cr, runs);
    printf("## JSON -> Avro conversion (bench_convert)\n\n");
    printf("%d distinct ~1 KB events (%.0f bytes on average, %zu bytes of Avro each), "
           "%ld records per run, median of %d interleaved runs, one thread. Schema versions "
           "made: %d. Errors: %ld.\n\n",
           EVENTS, avg, avro_bytes, records, runs, sink_conv_version(c), errors);
    printf("| step | records/s | MB/s of JSON |\n|---|---:|---:|\n");
    printf("| jansson `json_loadb` + `json_decref` | %.0f | %.1f |\n", j, j * avg / 1e6);
    printf("| sink parse only (`sink_json_parse`, exact numbers) | %.0f | %.1f |\n", ps,
           ps * avg / 1e6);
    printf("| conversion: parse + shape check + value fill + wire-format encode | %.0f | %.1f |\n",
           cv, cv * avg / 1e6);
    printf("\nConversion rate = %.0f%% of jansson's parse rate (target: at least 50%%).\n",
           100.0 * cv / j);
    sink_conv_destroy(c);
    sink_json_parser_destroy(p);
    return errors ? 1 : 0;
}
