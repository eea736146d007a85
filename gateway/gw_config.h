/* gw_config: the gateway's configuration table and its typed, validated view.
 *
 * Keys (file < environment HOOKPIPE_GATEWAY_<KEY> < command line; see cfg.h):
 *   listen               127.0.0.1:8080  webhook address (host:port, [v6]:port)
 *   metrics.listen       127.0.0.1:9090  /healthz, /readyz, /metrics address
 *   max.body             4m      default body limit; an integration's
 *                                max_body overrides it
 *   max.depth            128     JSON nesting limit (jansson, used by the
 *                                sink, stops at 2048)
 *   max.records          10000   elements in one array body
 *   inflight.bytes       24m     budget of request bodies held in memory
 *                                (read or awaiting Kafka); beyond it: 503
 *   ack.timeout.ms       10000   wait for Kafka's acknowledgements; then 503
 *                                (also librdkafka's message.timeout.ms)
 *   retry.after          5       seconds, the Retry-After of a 503
 *   integrations.topic   hookpipe.integrations
 *   threads              1       HTTP event loops (gw_http.h)
 *   connections.max      4096    concurrent HTTP connections
 *   connection.timeout   30      seconds of inactivity before a connection
 *                                is closed
 *   connection.memory    16k     libmicrohttpd's memory per connection:
 *                                request line, headers, read buffer (it
 *                                zeroes all of it for every request)
 *   shutdown.timeout.ms  30000   drain limit on SIGTERM/SIGINT
 *   log.level            info
 *   tls.cert, tls.key            PEM files: the webhook listener speaks
 *                                HTTPS only (libmicrohttpd with GnuTLS;
 *                                read once at start). The metrics listener
 *                                stays plain HTTP (loopback by default).
 *   kafka.*                      librdkafka properties. The gateway forces
 *                                enable.idempotence=true, acks=all and sets
 *                                partitioner=murmur2_random (Java clients'
 *                                partition for a key) and linger.ms=1 unless
 *                                given.
 * Ownership: gw_config_t borrows strings from the cfg_t it was read from. */
#ifndef HOOKPIPE_GW_CONFIG_H
#define HOOKPIPE_GW_CONFIG_H

#include <stddef.h>

#include "cfg.h"

typedef struct gw_config {
    const char *listen, *metrics_listen, *integrations_topic;
    long long max_body, inflight_bytes;
    int max_depth;
    long long max_records;
    int ack_timeout_ms, retry_after, threads, connections_max, connection_timeout;
    int shutdown_timeout_ms, log_level;
    size_t connection_memory;
    const char *tls_cert, *tls_key;     /* both or neither */
} gw_config_t;

/* A cfg_t for the gateway's table (caller destroys it with cfg_destroy). */
cfg_t *gw_config_cfg_new(void);

/* Fills out from a loaded cfg; -1 with errstr on a bad value. */
int gw_config_read(const cfg_t *cfg, gw_config_t *out, char *errstr, size_t errstr_size);

#endif
