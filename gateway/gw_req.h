/* gw_req: a webhook request from its headers to its answer (internal to
 * gw_http): admission, framing checks, the body against its limit and the
 * in-flight budget, signature, scan, publication, the answer. The order
 * of checks and the answers are gw_http.h's; the errors and their answers
 * are one table (GW_ERR_MAP, gw_req.c).
 *
 * Ownership: gw_req_handle creates a request (a gw_req_t, private to
 * gw_req.c) on the first call for a connection's request and keeps it in
 * *con_cls. It is reference counted: one reference for the connection,
 * dropped by gw_req_completed, and one per produced message, dropped by
 * its gw_req_on_delivery. The last one frees it and gives its body bytes
 * back to the in-flight budget, so late delivery reports (after a timeout
 * or the connection's end) are safe.
 *
 * Threads: gw_req_handle and gw_req_completed run on the thread of the
 * loop whose daemon holds the connection (gw_loop.h), which the request
 * remembers; gw_req_on_delivery and gw_req_ctx_expire on the Kafka loop's
 * thread, or at shutdown on the main thread (gw_http_expire_all,
 * gw_producer_flush). A request that waits for Kafka is suspended
 * (MHD_suspend_connection) on its own thread and resumed exactly once, by
 * its last delivery report, its first failed one or the expiry, through
 * gw_loop_resume (which wakes its loop when that is another thread). A
 * request's own lock and the waiting-list lock are never nested, and
 * neither is held across a call into libmicrohttpd except
 * MHD_suspend_connection. */
#ifndef HOOKPIPE_GW_REQ_H
#define HOOKPIPE_GW_REQ_H

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <stddef.h>

#include "gw_config.h"
#include "gw_integrations.h"
#include "gw_producer.h"

/* What every request of every loop shares: the settings, the
 * integrations, the producer, the in-flight counts and budget, the list of
 * requests waiting for Kafka. */
typedef struct gw_req_ctx gw_req_ctx_t;

/* conf, integs and producer are borrowed and must outlive the context.
 * NULL with errstr when out of memory. */
gw_req_ctx_t *gw_req_ctx_new(const gw_config_t *conf, gw_integs_t *integs,
                             gw_producer_t *producer, char *errstr, size_t errstr_size);

/* From now on, new requests are answered 503 (shutting down). Any thread. */
void gw_req_ctx_stop(gw_req_ctx_t *x);

/* Has gw_req_ctx_stop been called? Any thread. */
int gw_req_ctx_stopping(gw_req_ctx_t *x);

/* Requests being read or waiting for Kafka, and the body bytes they hold
 * in the in-flight budget. Any thread. */
long long gw_req_ctx_requests(gw_req_ctx_t *x);
long long gw_req_ctx_bytes(gw_req_ctx_t *x);

/* Resumes, to be answered 503, the requests waiting for Kafka past their
 * deadline (ack.timeout.ms), or all of them if force. The Kafka loop
 * calls it every tick; gw_http with force at the end of a drain. */
void gw_req_ctx_expire(gw_req_ctx_t *x, int force);

/* Frees the context, after every loop stopped (their daemons' connections
 * ended). NULL is a no-op. */
void gw_req_ctx_destroy(gw_req_ctx_t *x);

/* The webhook daemons' libmicrohttpd callbacks, with cls = the context:
 * the access handler (MHD_AccessHandlerCallback) and
 * MHD_OPTION_NOTIFY_COMPLETED. On a loop's thread (gw_loop_current() is
 * the loop the request belongs to). */
enum MHD_Result gw_req_handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls);
void gw_req_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe);

/* A produced message's delivery report (msg_opaque = its request): the
 * producer's dr, once per message. Must not block. */
void gw_req_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err);

#endif
