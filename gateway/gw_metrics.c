/* gw_metrics: counters, histogram and Prometheus text. */
#include "gw_metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const int gw_metrics_codes[] = {200, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503};
#define GW_METRICS_NCODES (sizeof(gw_metrics_codes) / sizeof(gw_metrics_codes[0]))
static const double gw_metrics_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};
#define GW_METRICS_NLE (sizeof(gw_metrics_le) / sizeof(gw_metrics_le[0]))

typedef struct {
    char name[64];
    uint64_t by_code[GW_METRICS_NCODES + 1];   /* last: any other code */
    uint64_t accepted, rejected, bytes;
    uint64_t sig_fail[5];              /* by gw_metrics_sig_reasons */
} gw_metrics_series_t;

static const char *const gw_metrics_sig_reasons[] = {"missing", "malformed", "timestamp",
                                                     "mismatch", "other"};
#define GW_METRICS_NSIG (sizeof(gw_metrics_sig_reasons) / sizeof(gw_metrics_sig_reasons[0]))

static pthread_mutex_t gw_metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_metrics_series_t *gw_metrics_all;
static size_t gw_metrics_nseries, gw_metrics_series_cap;
static uint64_t gw_metrics_hist[GW_METRICS_NLE + 1], gw_metrics_hist_count;
static uint64_t gw_metrics_kafka_errors;
static double gw_metrics_hist_sum;

/* The series of an integration; called with the lock held. */
static gw_metrics_series_t *gw_metrics_series(const char *integration) {
    const char *name = integration ? integration : "";
    for (size_t i = 0; i < gw_metrics_nseries; i++)
        if (strcmp(gw_metrics_all[i].name, name) == 0)
            return &gw_metrics_all[i];
    if (gw_metrics_nseries == gw_metrics_series_cap) {
        size_t cap = gw_metrics_series_cap ? gw_metrics_series_cap * 2 : 16;
        gw_metrics_series_t *p = realloc(gw_metrics_all, cap * sizeof(*p));
        if (!p)
            return NULL;
        gw_metrics_all = p;
        gw_metrics_series_cap = cap;
    }
    gw_metrics_series_t *s = &gw_metrics_all[gw_metrics_nseries++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

void gw_metrics_request(const char *integration, int status, size_t bytes, double seconds) {
    size_t c = 0;
    while (c < GW_METRICS_NCODES && gw_metrics_codes[c] != status)
        c++;
    size_t b = 0;
    while (b < GW_METRICS_NLE && seconds > gw_metrics_le[b])
        b++;
    pthread_mutex_lock(&gw_metrics_lock);
    gw_metrics_series_t *s = gw_metrics_series(integration);
    if (s) {
        s->by_code[c]++;
        s->bytes += bytes;
    }
    gw_metrics_hist[b]++;
    gw_metrics_hist_count++;
    gw_metrics_hist_sum += seconds;
    pthread_mutex_unlock(&gw_metrics_lock);
}

void gw_metrics_records(const char *integration, size_t accepted, size_t rejected) {
    pthread_mutex_lock(&gw_metrics_lock);
    gw_metrics_series_t *s = gw_metrics_series(integration);
    if (s) {
        s->accepted += accepted;
        s->rejected += rejected;
    }
    pthread_mutex_unlock(&gw_metrics_lock);
}

void gw_metrics_signature_failure(const char *integration, const char *reason) {
    size_t r = 0;
    while (r < GW_METRICS_NSIG - 1 && strcmp(gw_metrics_sig_reasons[r], reason) != 0)
        r++;
    pthread_mutex_lock(&gw_metrics_lock);
    gw_metrics_series_t *s = gw_metrics_series(integration);
    if (s)
        s->sig_fail[r]++;
    pthread_mutex_unlock(&gw_metrics_lock);
}

void gw_metrics_kafka_error(void) {
    pthread_mutex_lock(&gw_metrics_lock);
    gw_metrics_kafka_errors++;
    pthread_mutex_unlock(&gw_metrics_lock);
}

/* the metric names' prefix, for gw_metrics_render only */
#define P "hookpipe_gateway_"

char *gw_metrics_render(const gw_metrics_gauges_t *g, size_t *len) {
    buf_t t = BUF_INIT;
    buf_reserve(&t, 4096);
    pthread_mutex_lock(&gw_metrics_lock);
    buf_printf(&t, "# HELP " P "requests_total Answered webhook requests.\n"
                   "# TYPE " P "requests_total counter\n");
    for (size_t i = 0; i < gw_metrics_nseries; i++)
        for (size_t c = 0; c <= GW_METRICS_NCODES; c++)
            if (gw_metrics_all[i].by_code[c] && c < GW_METRICS_NCODES)
                buf_printf(&t, P "requests_total{integration=\"%s\",code=\"%d\"} %llu\n",
                           gw_metrics_all[i].name, gw_metrics_codes[c],
                           (unsigned long long)gw_metrics_all[i].by_code[c]);
            else if (gw_metrics_all[i].by_code[c])
                buf_printf(&t, P "requests_total{integration=\"%s\",code=\"other\"} %llu\n",
                           gw_metrics_all[i].name,
                           (unsigned long long)gw_metrics_all[i].by_code[c]);
    buf_printf(&t, "# HELP " P "records_total Records published, by outcome.\n"
                   "# TYPE " P "records_total counter\n");
    for (size_t i = 0; i < gw_metrics_nseries; i++) {
        if (!gw_metrics_all[i].name[0])
            continue;
        buf_printf(&t, P "records_total{integration=\"%s\",outcome=\"accepted\"} %llu\n",
                   gw_metrics_all[i].name, (unsigned long long)gw_metrics_all[i].accepted);
        buf_printf(&t, P "records_total{integration=\"%s\",outcome=\"rejected\"} %llu\n",
                   gw_metrics_all[i].name, (unsigned long long)gw_metrics_all[i].rejected);
    }
    buf_printf(&t, "# HELP " P "signature_failures_total Webhooks refused for their signature.\n"
                   "# TYPE " P "signature_failures_total counter\n");
    for (size_t i = 0; i < gw_metrics_nseries; i++)
        for (size_t r = 0; r < GW_METRICS_NSIG; r++)
            if (gw_metrics_all[i].sig_fail[r])
                buf_printf(&t, P "signature_failures_total{integration=\"%s\",reason=\"%s\"} %llu\n",
                           gw_metrics_all[i].name, gw_metrics_sig_reasons[r],
                           (unsigned long long)gw_metrics_all[i].sig_fail[r]);
    buf_printf(&t, "# HELP " P "request_bytes_total Body bytes of answered requests.\n"
                   "# TYPE " P "request_bytes_total counter\n");
    for (size_t i = 0; i < gw_metrics_nseries; i++)
        buf_printf(&t, P "request_bytes_total{integration=\"%s\"} %llu\n",
                   gw_metrics_all[i].name, (unsigned long long)gw_metrics_all[i].bytes);
    buf_printf(&t, "# HELP " P "request_duration_seconds Time from receipt to answer.\n"
                   "# TYPE " P "request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b < GW_METRICS_NLE; b++) {
        cum += gw_metrics_hist[b];
        buf_printf(&t, P "request_duration_seconds_bucket{le=\"%g\"} %llu\n", gw_metrics_le[b],
                   (unsigned long long)cum);
    }
    buf_printf(&t, P "request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                   P "request_duration_seconds_sum %.6f\n"
                   P "request_duration_seconds_count %llu\n",
               (unsigned long long)gw_metrics_hist_count, gw_metrics_hist_sum,
               (unsigned long long)gw_metrics_hist_count);
    buf_printf(&t, "# HELP " P "kafka_errors_total Failed deliveries and Kafka client errors.\n"
                   "# TYPE " P "kafka_errors_total counter\n" P "kafka_errors_total %llu\n",
               (unsigned long long)gw_metrics_kafka_errors);
    pthread_mutex_unlock(&gw_metrics_lock);
    buf_printf(&t, "# HELP " P "inflight_requests Requests being read or awaiting Kafka.\n"
                   "# TYPE " P "inflight_requests gauge\n" P "inflight_requests %lld\n"
                   "# HELP " P "inflight_bytes Body bytes held for requests in flight.\n"
                   "# TYPE " P "inflight_bytes gauge\n" P "inflight_bytes %lld\n"
                   "# HELP " P "producer_queue_messages Messages in the producer queue.\n"
                   "# TYPE " P "producer_queue_messages gauge\n" P "producer_queue_messages %lld\n"
                   "# HELP " P "integrations Integrations known.\n"
                   "# TYPE " P "integrations gauge\n" P "integrations %zu\n"
                   "# HELP " P "ready 1 when caught up with the integrations and Kafka answers.\n"
                   "# TYPE " P "ready gauge\n" P "ready %d\n",
               g->inflight_requests, g->inflight_bytes, g->queue_messages, g->integrations,
               g->ready);
    return buf_detach(&t, len);
}
#undef P

void gw_metrics_reset(void) {
    pthread_mutex_lock(&gw_metrics_lock);
    free(gw_metrics_all);
    gw_metrics_all = NULL;
    gw_metrics_nseries = gw_metrics_series_cap = 0;
    pthread_mutex_unlock(&gw_metrics_lock);
}
