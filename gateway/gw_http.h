/* gw_http: the gateway's two HTTP listeners (libmicrohttpd).
 *
 * Webhook listener: POST /v1/clients/{client_id}/token/{token}.
 * A request is checked, in this order, as soon as its headers arrive:
 *   framing (400 for two different Content-Length or Content-Type values,
 *   Transfer-Encoding with Content-Length, or two Transfer-Encoding; 501 for
 *   a Transfer-Encoding other than chunked), path (404), method (405 +
 *   Allow: POST), shutting down (503),
 *   integrations not yet caught up (503), token (401), client id (401),
 *   paused (403), the integration's rate limit (429 + Retry-After: the
 *   seconds until its bucket has a token), a signing secret this gateway
 *   cannot open (503 + Retry-After: a fault of this gateway's set-up, not of
 *   the sender, which retries), Content-Type (415), Content-Length over the
 *   limit (413), in-flight byte budget (503 + Retry-After).
 * Errors found then are answered before the body is read (the connection
 * is closed after, as the body is not consumed). While a body is read
 * (chunked or not) it is counted against the limit (413) and the budget
 * (503). Then the integration's signature, if any, is verified on the raw
 * bytes (whsig.h): a failure is 401 "Not Authorized" like a bad token, its
 * reason only logged and counted (signature_failures_total). Then it is
 * scanned (400 for malformed JSON with the byte offset,
 * invalid UTF-8, NUL bytes, empty body, bad top level, too deep; 413 for
 * more than max.records records) and every record is produced, without
 * blocking the loop: the connection is suspended and resumed from the
 * delivery reports once every record is acknowledged (200) or one failed
 * (503), or by the timer at ack.timeout.ms (503). All records of a
 * request are acknowledged or the answer is not 2xx. A 503 may follow the
 * storage of some of the request's records; the provider's retry then
 * stores them again (at-least-once, like every webhook sender's retries),
 * which the sink's upsert by key and hookpipe-sequence absorbs.
 *
 * Every record gets the headers of DESIGN.md, plus hookpipe-signature
 * (the scheme) when the signature was verified and hookpipe-delivery-id
 * when the delivery has an id: the integration's delivery_id header or
 * field, else webhook-id, X-GitHub-Delivery or X-Shopify-Webhook-Id
 * (Stripe: the record's "id"); 1..256 printable ASCII bytes, else ignored.
 * Without a primary key, such a record's key is gw_ids_delivery_key(), so
 * a retried delivery replaces its rows instead of adding new ones.
 *
 * With tls.cert/tls.key the webhook listener speaks HTTPS only.
 *
 * Every answer is JSON {"status","message","request_id"} (+ "records" and
 * "rejected" on 200), with an X-Request-Id header; 503s carry Retry-After.
 * A missing Content-Type is accepted as JSON (many webhook senders omit
 * it); a present non-JSON one is 415.
 *
 * Per-request state is reference counted (the connection, and each produced
 * message until its delivery report), so late reports after a timeout are
 * safe; the body bytes stay reserved in the in-flight budget until the last
 * reference goes.
 *
 * Metrics listener: GET /healthz (200 while the process runs), GET /readyz
 * (200 when gw_integs_ready, else 503), GET /metrics (gw_metrics.h).
 *
 * Threads: `threads` event loops share the webhook listening socket, each
 * a thread driving its own libmicrohttpd daemon (external epoll mode). Loop
 * 0 also serves the producer's delivery reports (gw_producer_fd) and, every
 * 10 ms, the ack-timeout scan; so with one loop a request is read,
 * produced, acknowledged and answered on one thread, with no wake-up of
 * another. A request of another loop is resumed from loop 0, which then
 * wakes that loop through its eventfd. The metrics listener has its own
 * thread. gw_http_* are called from the main thread.
 *
 * Inside: gw_req.h is a request's life (the checks above, the body,
 * publication, the answer; the one error table), gw_loop.h one loop (its
 * thread, epoll and eventfd); this module owns the listening socket, the
 * daemons and the metrics listener, and puts them together. */
#ifndef HOOKPIPE_GW_HTTP_H
#define HOOKPIPE_GW_HTTP_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "gw_config.h"
#include "gw_integrations.h"
#include "gw_producer.h"

typedef struct gw_http gw_http_t;

/* The delivery-report function to give gw_producer_new(). */
void gw_http_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err);

/* Starts both listeners and the loops, which from then on serve the
 * producer's delivery reports (so gw_http_on_delivery must be its dr).
 * conf, integs and producer are borrowed and must outlive the gw_http_t.
 * NULL with errstr on failure (e.g. address in use). */
gw_http_t *gw_http_new(const gw_config_t *conf, gw_integs_t *integs, gw_producer_t *producer,
                       char *errstr, size_t errstr_size);

/* Stops accepting connections (closes the listening socket once every loop
 * let go of it); requests already received continue, and new requests on
 * open connections get 503. */
void gw_http_quiesce(gw_http_t *h);

/* Requests being read or waiting for Kafka. */
long long gw_http_inflight(gw_http_t *h);

/* Answers every request waiting for Kafka with 503 now (end of drain). */
void gw_http_expire_all(gw_http_t *h);

/* Stops both listeners and frees. NULL is a no-op. */
void gw_http_destroy(gw_http_t *h);

#endif
