/* sr_api: the Confluent Schema Registry REST API (Avro subset) over
 * libmicrohttpd, answering from an sr_store_t.
 *
 * Accepts application/vnd.schemaregistry.v1+json,
 * application/vnd.schemaregistry+json and application/json (or no content
 * type); answers application/vnd.schemaregistry.v1+json. Errors are
 * {"error_code":N,"message":...} with Confluent's codes (sr_err.h).
 * Until the store is ready every API call answers 503 / 50003; GET /readyz
 * answers 200 once ready, 503 before. */
#ifndef HOOKPIPE_SR_API_H
#define HOOKPIPE_SR_API_H

#include <stddef.h>

#include "sr_store.h"

#define SR_API_MAX_BODY (2 << 20)       /* request bytes; a schema is at most 1 MiB */
#define SR_API_MAX_INFLIGHT (64 << 20)  /* body bytes held for all requests: 503 beyond */

typedef struct sr_api sr_api_t;

/* Listens on `listen` ("host:port", IPv4 or [IPv6]) and serves from `store`
 * (borrowed; must outlive the api). NULL with errstr on failure. */
sr_api_t *sr_api_start(const char *listen, sr_store_t *store, char *errstr, size_t errstr_size);

/* The port actually bound (useful with port 0). */
int sr_api_port(const sr_api_t *api);

/* Stops listening, waits for requests in progress; NULL is a no-op. */
void sr_api_stop(sr_api_t *api);

#endif
