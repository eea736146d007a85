/* gw_metrics: the gateway's counters and their Prometheus text rendering.
 *
 * Metrics (all prefixed hookpipe_gateway_):
 *   requests_total{integration,code}   answered requests; integration="" when
 *                                      the request was not authenticated
 *   records_total{integration,outcome} outcome="accepted" (event topic) or
 *                                      "rejected" (dead-letter topic)
 *   request_bytes_total{integration}   body bytes of answered requests
 *   request_duration_seconds           histogram, receipt to answer
 *   inflight_requests, inflight_bytes  gauges (requests being read or awaiting
 *                                      Kafka; bytes held for them)
 *   producer_queue_messages            librdkafka's out queue
 *   kafka_errors_total                 failed deliveries and client errors
 *   integrations, ready                gauges
 *   signature_failures_total{integration,reason}
 *                                      refused signatures; reason = missing,
 *                                      malformed, timestamp or mismatch
 * State is process-wide; every function is thread-safe. Label values are
 * integration names ([a-z0-9_], from the integrations topic, never from a
 * request), so the series are bounded by the number of integrations. */
#ifndef HOOKPIPE_GW_METRICS_H
#define HOOKPIPE_GW_METRICS_H

#include <stddef.h>

/* Counts one answered request. integration may be NULL. */
void gw_metrics_request(const char *integration, int status, size_t bytes, double seconds);

/* Counts records published for an integration. */
void gw_metrics_records(const char *integration, size_t accepted, size_t rejected);

void gw_metrics_kafka_error(void);

/* Counts a refused signature; reason is a short static word. */
void gw_metrics_signature_failure(const char *integration, const char *reason);

typedef struct gw_metrics_gauges {
    long long inflight_requests, inflight_bytes, queue_messages;
    size_t integrations;
    int ready;
} gw_metrics_gauges_t;

/* The exposition text (malloc'd, *len bytes, NUL-terminated; the caller
 * frees it), or NULL on out of memory. */
char *gw_metrics_render(const gw_metrics_gauges_t *g, size_t *len);

/* Frees the per-integration series (at exit). */
void gw_metrics_reset(void);

#endif
