/* gw_req: a webhook request's checks, body, publication and answer. */
#include "gw_req.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "errstr.h"
#include "event.h"
#include "gw_ids.h"
#include "gw_loop.h"
#include "gw_metrics.h"
#include "gw_route.h"
#include "gw_topic_limit.h"
#include "integ.h"
#include "jlex.h"
#include "jscan.h"
#include "log.h"
#include "whsig.h"

/* Our errors and their HTTP answers: the one table. */
#define GW_ERR_MAP(X)                                                             \
    X(OK, 200, "accepted")                                                        \
    X(NOT_FOUND, 404, "not found")                                                \
    X(METHOD, 405, "method not allowed")                                          \
    X(UNAUTHORIZED, 401, "Not Authorized")                                        \
    X(SIGNATURE, 401, "Not Authorized")                                           \
    X(RATE, 429, "rate limit exceeded, retry later")                              \
    X(PAUSED, 403, "integration is paused")                                       \
    X(MEDIA_TYPE, 415, "Content-Type must be application/json")                   \
    X(CHARSET, 415, "JSON must be encoded as UTF-8")                              \
    X(TOO_LARGE, 413, "body too large")                                           \
    X(TOO_MANY, 413, "too many records")                                          \
    X(RECORD_SIZE, 413, "a record is larger than Kafka takes on this topic")      \
    X(BAD_BODY, 400, "malformed JSON")                                            \
    X(FRAMING, 400, "conflicting Content-Length, Transfer-Encoding or Content-Type") \
    X(CODING, 501, "only the chunked Transfer-Encoding is supported")             \
    X(BUSY, 503, "too much data in flight, retry later")                          \
    X(QUEUE_FULL, 503, "producer queue full, retry later")                        \
    X(TIMEOUT, 503, "Kafka did not acknowledge in time, retry later")             \
    X(KAFKA, 503, "Kafka did not accept the records, retry later")                \
    X(NOT_READY, 503, "gateway not ready, retry later")                           \
    X(STOPPING, 503, "gateway shutting down, retry later")                        \
    X(NOMEM, 503, "out of memory, retry later")                                   \
    X(NO_SECRET, 503, "signature verification unavailable, retry later")

typedef enum {
#define GW_ERR_ENUM(name, status, msg) GW_E_##name,
    GW_ERR_MAP(GW_ERR_ENUM)
#undef GW_ERR_ENUM
} gw_err_t;

static const struct {
    int status;
    const char *msg;
} gw_req_errs[] = {
#define GW_ERR_ROW(name, status, msg) {status, msg},
    GW_ERR_MAP(GW_ERR_ROW)
#undef GW_ERR_ROW
};

typedef enum { GW_REQ_READING = 0, GW_REQ_WAITING, GW_REQ_ANSWERED } gw_req_phase_t;

typedef struct gw_req {
    gw_req_ctx_t *ctx;
    gw_loop_t *loop;             /* whose daemon holds the connection */
    struct MHD_Connection *conn;
    atomic_int refs;             /* the connection + one per message in flight */
    pthread_mutex_t lock;        /* guards the fields marked (L) */
    gw_req_phase_t phase;
    char request_id[GW_UUID_LEN + 1];
    int64_t received_ns;         /* wall clock at the headers */
    struct timespec t0;          /* monotonic, for the latency histogram */
    gw_integ_t *integ;           /* reference, NULL until authenticated */
    gw_err_t overflow;           /* over the limit or budget while reading */
    size_t dropped;              /* body bytes dropped after an overflow */
    char *body;
    size_t len, cap, limit;
    long long reserved;          /* bytes of the budget held until freed */
    size_t records, rejected;    /* produced to the event / dead-letter topic */
    size_t largest;              /* bytes of the largest record of the body */
    size_t nrecords;             /* records in the body */
    size_t pending;              /* (L) messages not yet reported, + 1 while producing */
    int failed;                  /* (L) a message was not acknowledged */
    rd_kafka_resp_err_t fail_err; /* (L) */
    int suspended, resumed, timed_out; /* (L) */
    int64_t deadline_ms;         /* monotonic */
    struct gw_req *prev, *next;  /* waiting list, guarded by the list lock */
    int listed;
    int retry_after;             /* seconds, for a 429 */
    const char *delivery_id;     /* from a header (lives with the request), or NULL */
    int verified;                /* the signature was checked and matched */
} gw_req_t;

struct gw_req_ctx {
    const gw_config_t *conf;
    gw_integs_t *integs;
    gw_producer_t *producer;
    atomic_llong inflight_bytes, inflight_requests;
    atomic_int stopping;
    pthread_mutex_t list_lock;
    gw_req_t *waiting;           /* requests whose records are produced */
};

static void gw_req_release(gw_req_t *req) {
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    atomic_fetch_sub(&req->ctx->inflight_bytes, req->reserved);
    gw_integ_release(req->integ);
    pthread_mutex_destroy(&req->lock);
    free(req->body);
    free(req);
}

/* Reserves n more bytes of the in-flight budget for req; 0, or -1 when the
 * budget would be exceeded (nothing reserved then). */
static int gw_req_reserve(gw_req_t *req, long long n) {
    gw_req_ctx_t *x = req->ctx;
    long long cur = atomic_load(&x->inflight_bytes);
    do {
        if (cur + n > x->conf->inflight_bytes)
            return -1;
    } while (!atomic_compare_exchange_weak(&x->inflight_bytes, &cur, cur + n));
    req->reserved += n;
    return 0;
}

/* Appends a JSON string literal for the ASCII/UTF-8 text s. */
static size_t gw_req_json_str(char *out, size_t size, const char *s) {
    size_t o = 0;
    if (o + 1 < size)
        out[o++] = '"';
    for (; *s && o + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (o + 1 < size)
        out[o++] = '"';
    out[o] = '\0';
    return o;
}

/* Queues the answer. msg NULL = the table's message. */
static enum MHD_Result gw_req_answer(gw_req_t *req, gw_err_t e, const char *msg, int close_conn) {
    char body[768], m[512];
    int status = gw_req_errs[e].status;
    gw_req_json_str(m, sizeof(m), msg ? msg : gw_req_errs[e].msg);
    int n;
    if (e == GW_E_OK)
        n = snprintf(body, sizeof(body),
                     "{\"status\":\"OK\",\"message\":%s,\"request_id\":\"%s\","
                     "\"records\":%zu,\"rejected\":%zu}\n",
                     m, req->request_id, req->records, req->rejected);
    else
        n = snprintf(body, sizeof(body),
                     "{\"status\":\"error\",\"message\":%s,\"request_id\":\"%s\"}\n", m,
                     req->request_id);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)strlen(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    if (status == 503 || status == 429) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d",
                 status == 429 ? req->retry_after : req->ctx->conf->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (status == 405)
        MHD_add_response_header(resp, "Allow", "POST");
    if (close_conn)
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->phase = GW_REQ_ANSWERED;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - req->t0.tv_sec) + (double)(t1.tv_nsec - req->t0.tv_nsec) / 1e9;
    const char *name = req->integ ? req->integ->in->name : NULL;
    gw_metrics_request(name, status, req->len, secs);
    if (e == GW_E_OK)
        gw_metrics_records(name, req->records, req->rejected);
    log_msg(status >= 500 ? LOG_INFO : LOG_DEBUG, "request %s integration %s: %d, %zu bytes, %zu+%zu records, %.1f ms",
            req->request_id, name ? name : "-", status, req->len, req->records, req->rejected,
            secs * 1e3);
    return r;
}

/* ---- admission: what the request line and headers decide ---- */

/* The framing headers as libmicrohttpd received them (it looks up only the
 * first of a repeated header). */
typedef struct {
    const char *cl, *ct;
    int te, clash;
    int chunked;            /* te == 1 and it is "chunked", as libmicrohttpd tests it */
} gw_req_framing_t;

static enum MHD_Result gw_req_framing_scan(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value) {
    (void)kind;
    gw_req_framing_t *f = cls;
    if (!value)
        value = "";
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        if (f->cl && strcmp(f->cl, value) != 0)
            f->clash = 1;
        f->cl = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE)) {
        if (f->ct && strcmp(f->ct, value) != 0)
            f->clash = 1;
        f->ct = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->chunked = ++f->te == 1 && !strcasecmp(value, "chunked");
    }
    return MHD_YES;
}

/* Where the body ends must be beyond doubt: a proxy in front that read the
 * other Content-Length (or Content-Length instead of Transfer-Encoding)
 * would see another body, or a second request, than we do (RFC 9112 6.1,
 * 6.3). libmicrohttpd takes the first Content-Length, reads a body with a
 * transfer coding other than chunked until the connection closes, and
 * takes the first Content-Type. */
static gw_err_t gw_req_framing(struct MHD_Connection *conn) {
    gw_req_framing_t f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, gw_req_framing_scan, &f);
    if (f.te && !f.chunked)
        return f.te > 1 ? GW_E_FRAMING : GW_E_CODING;
    if (f.clash || (f.te && f.cl))
        return GW_E_FRAMING;
    return GW_E_OK;
}

/* Everything that can be decided from the request line and headers, in
 * gw_http.h's order. Returns GW_E_OK to go on reading the body. */
static gw_err_t gw_req_admit(gw_req_t *req, const char *url, const char *method) {
    gw_req_ctx_t *x = req->ctx;
    gw_route_t route;
    gw_err_t fe = gw_req_framing(req->conn);
    if (fe != GW_E_OK)
        return fe;
    if (gw_route_parse(url, &route) != GW_ROUTE_WEBHOOK)
        return GW_E_NOT_FOUND;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return GW_E_METHOD;
    if (atomic_load(&x->stopping))
        return GW_E_STOPPING;
    if (!gw_integs_caught_up(x->integs))
        return GW_E_NOT_READY;
    gw_integ_t *e = gw_integs_lookup(x->integs, route.token, route.token_len);
    if (!e)
        return GW_E_UNAUTHORIZED;
    if (strlen(e->in->client_id) != route.client_id_len ||
        memcmp(e->in->client_id, route.client_id, route.client_id_len) != 0) {
        gw_integ_release(e);
        return GW_E_UNAUTHORIZED;
    }
    req->integ = e;
    if (e->in->paused)
        return GW_E_PAUSED;
    if (!gw_integ_rate_take(e, gw_ids_mono_ms() * 1000000, &req->retry_after))
        return GW_E_RATE;
    if (e->sig_state != GW_SIG_OFF && e->sig_state != GW_SIG_READY)
        return GW_E_NO_SECRET;
    gw_ct_t ct = gw_route_content_type(
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    if (ct == GW_CT_NOT_JSON)
        return GW_E_MEDIA_TYPE;
    if (ct == GW_CT_BAD_CHARSET)
        return GW_E_CHARSET;
    req->limit = e->in->max_body > 0 ? (size_t)e->in->max_body : (size_t)x->conf->max_body;
    const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > req->limit) {
            req->len = (size_t)(n > SIZE_MAX ? SIZE_MAX : n);
            return GW_E_TOO_LARGE;
        }
        if (end != cl && n > 0) {
            if (gw_req_reserve(req, (long long)n) < 0)
                return GW_E_BUSY;
            if (!(req->body = malloc((size_t)n)))
                return GW_E_NOMEM;
            req->cap = (size_t)n;
        }
    }
    return GW_E_OK;
}

/* Does the request announce a body (which an early answer leaves unread)? */
static int gw_req_body_pending(struct MHD_Connection *conn) {
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return 1;
    return cl && strtoull(cl, NULL, 10) > 0;
}

/* ---- the body ---- */

/* Appends a piece of the body. */
static gw_err_t gw_req_append(gw_req_t *req, const char *data, size_t n) {
    if (n > req->limit - req->len) {
        req->len += n;
        return GW_E_TOO_LARGE;
    }
    if (req->len + n > req->cap) {
        size_t cap = req->cap ? req->cap * 2 : 16384;
        while (cap < req->len + n)
            cap *= 2;
        if (cap > req->limit)
            cap = req->limit;
        if (gw_req_reserve(req, (long long)(cap - req->cap)) < 0)
            return GW_E_BUSY;
        char *p = realloc(req->body, cap);
        if (!p)
            return GW_E_NOMEM;
        req->body = p;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    return GW_E_OK;
}

/* whsig's view of the request headers (libmicrohttpd looks them up
 * case-insensitively). */
static const char *gw_req_header(void *opaque, const char *name) {
    return MHD_lookup_connection_value(opaque, MHD_HEADER_KIND, name);
}

/* Checks the integration's signature on the raw body. GW_E_OK, or
 * GW_E_SIGNATURE with the reason logged and counted (never answered). */
static gw_err_t gw_req_verify(gw_req_t *req) {
    const gw_integ_t *e = req->integ;
    const integ_t *in = e->in;
    char reason[256];
    if (in->sig_scheme == WHSIG_NONE)
        return GW_E_OK;
    whsig_config_t cfg = {
        .scheme = in->sig_scheme,
        .secret = e->secret,
        .tolerance_s = (long)in->sig_tolerance,
        .header = in->sig_header,
        .encoding = in->sig_encoding,
        .prefix = in->sig_prefix,
    };
    whsig_result_t r = whsig_verify(&cfg, gw_req_header, req->conn, req->body ? req->body : "",
                                    req->len, time(NULL), reason, sizeof(reason));
    if (r == WHSIG_OK) {
        req->verified = 1;
        return GW_E_OK;
    }
    static const char *const names[] = {"ok", "missing", "malformed", "timestamp", "mismatch"};
    const char *why = (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "other";
    gw_metrics_signature_failure(in->name, why);
    log_warn("request %s integration %s: %s signature refused (%s): %s", req->request_id,
             in->name, whsig_scheme_name(in->sig_scheme), why, reason);
    return GW_E_SIGNATURE;
}

/* ---- delivery ids ---- */

/* A usable delivery id: 1..GW_REQ_DELIVERY_MAX bytes of printable ASCII. */
#define GW_REQ_DELIVERY_MAX 256
static int gw_req_delivery_ok(const char *s, size_t n) {
    if (n == 0 || n > GW_REQ_DELIVERY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* The delivery id the request's headers give: the configured header, else
 * the first of the providers' standard ones; NULL if none is usable. */
static const char *gw_req_delivery_header(gw_req_t *req) {
    static const char *const standard[] = {"webhook-id", "X-GitHub-Delivery",
                                           "X-Shopify-Webhook-Id"};
    const integ_t *in = req->integ->in;
    const char *v = NULL;
    if (in->delivery_header) {
        v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, in->delivery_header);
    } else {
        for (size_t i = 0; !v && i < sizeof(standard) / sizeof(standard[0]); i++)
            v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, standard[i]);
    }
    return v && gw_req_delivery_ok(v, strlen(v)) ? v : NULL;
}

/* The member of a record naming its delivery id (configured, or Stripe's
 * event "id"), or NULL. */
static const char *gw_req_delivery_field(const integ_t *in) {
    if (in->delivery_field)
        return in->delivery_field;
    if (!in->delivery_header && in->sig_scheme == WHSIG_STRIPE)
        return "id";
    return NULL;
}

/* The delivery id of one record from its member `field` (a string, decoded,
 * or a number's literal) into buf (room for a quoted GW_REQ_DELIVERY_MAX-byte
 * string before decoding); its length, or 0 if none is usable. */
static size_t gw_req_delivery_member(const char *obj, size_t len, const char *field,
                                     char buf[GW_REQ_DELIVERY_MAX + 3]) {
    jscan_member_t m;
    jscan_members(obj, len, &field, 1, &m);
    const char *v = obj + m.value.off;
    size_t n = m.value.len;
    if (m.type == JSCAN_STRING) {
        if (n > GW_REQ_DELIVERY_MAX + 2)
            return 0;
        n = jlex_string_decode(v, n, buf);
    } else if (m.type == JSCAN_NUMBER && n <= GW_REQ_DELIVERY_MAX) {
        memcpy(buf, v, n);
    } else {
        return 0;
    }
    buf[n] = '\0';
    return gw_req_delivery_ok(buf, n) ? n : 0;
}

/* The delivery id of one record: its member dfield when the integration
 * names one (into buf), else the request's header's; NULL if none, and its
 * length in *len. */
static const char *gw_req_record_delivery(const gw_req_t *req, const char *dfield,
                                          const char *value, size_t vlen,
                                          char buf[GW_REQ_DELIVERY_MAX + 3], size_t *len) {
    if (dfield) {
        *len = gw_req_delivery_member(value, vlen, dfield, buf);
        return *len > 0 ? buf : NULL;
    }
    *len = req->delivery_id ? strlen(req->delivery_id) : 0;
    return req->delivery_id;
}

/* ---- publication ---- */

/* Scans the complete body into records (res, the caller frees it on
 * GW_E_OK). GW_E_OK, or the answer with its message in msg. */
static gw_err_t gw_req_scan(gw_req_t *req, jscan_result_t *res, char *msg, size_t msg_size) {
    const gw_config_t *conf = req->ctx->conf;
    jscan_err_t je = jscan_body(req->body ? req->body : "", req->len, conf->max_depth,
                                (size_t)conf->max_records, res);
    switch (je) {
    case JSCAN_OK:
        return GW_E_OK;
    case JSCAN_ERR_NOMEM:
        return GW_E_NOMEM;
    case JSCAN_ERR_RECORDS:
        snprintf(msg, msg_size, "too many records: more than %lld", conf->max_records);
        return GW_E_TOO_MANY;
    case JSCAN_ERR_EMPTY:
        snprintf(msg, msg_size, "empty body");
        return GW_E_BAD_BODY;
    case JSCAN_ERR_DEPTH:
        snprintf(msg, msg_size, "nesting deeper than %d levels at byte %zu", conf->max_depth,
                 res->err_off);
        return GW_E_BAD_BODY;
    case JSCAN_ERR_SYNTAX:
    case JSCAN_ERR_TOP:
        snprintf(msg, msg_size, "%s at byte %zu: %s", jscan_strerror(je), res->err_off,
                 res->err_msg);
        return GW_E_BAD_BODY;
    default:
        snprintf(msg, msg_size, "%s at byte %zu", jscan_strerror(je), res->err_off);
        return GW_E_BAD_BODY;
    }
}

/* A record the topic cannot take: 413 before any record is produced, so
 * that an array is stored whole or not at all (gw_topic_limit.h). Notes
 * the largest record in req->largest. */
static gw_err_t gw_req_check_size(gw_req_t *req, const jscan_result_t *res, char *msg,
                                  size_t msg_size) {
    const integ_t *in = req->integ->in;
    for (size_t k = 0; k < res->nrecords; k++)
        if (res->records[k].len > req->largest)
            req->largest = res->records[k].len;
    if (req->largest <= GW_TOPIC_LIMIT_FLOOR)
        return GW_E_OK;
    long long lim = gw_topic_limit(gw_producer_rk(req->ctx->producer), in->topic);
    if (lim > 0 && (long long)req->largest + GW_TOPIC_LIMIT_OVERHEAD > lim) {
        snprintf(msg, msg_size,
                 "a record of %zu bytes is larger than topic %s takes (max.message.bytes "
                 "%lld); nothing stored", req->largest, in->topic, lim);
        return GW_E_RECORD_SIZE;
    }
    return GW_E_OK;
}

/* The 413 message of a record Kafka refused for its size (of `size`
 * bytes, or the largest of the body): the limit is the topic's
 * max.message.bytes, on the broker (the producer's own is librdkafka's
 * largest, gw_producer.h); hookpipectl sizes it for the body limit. */
static void gw_req_size_msg(gw_req_t *req, size_t size, int none_sent, char *msg,
                            size_t msg_size) {
    const integ_t *in = req->integ->in;
    size_t limit = req->limit;
    snprintf(msg, msg_size,
             "Kafka refused a record of %zu bytes: larger than topic %s takes (its "
             "max.message.bytes; a %zu-byte body limit needs %lld)%s",
             size, in->topic, limit, integ_topic_max_message_bytes((long long)limit),
             none_sent || req->nrecords <= 1 ? "; nothing stored"
                                             : "; other records may be stored");
}

/* Puts req on the waiting list for its n records' delivery reports: a
 * reference and a pending count per record (+ 1 pending, ours, until every
 * record is produced) and the deadline of the ack timeout. */
static void gw_req_await(gw_req_t *req, size_t n) {
    gw_req_ctx_t *x = req->ctx;
    req->nrecords = n;
    req->pending = n + 1;
    atomic_fetch_add(&req->refs, (int)n);
    req->deadline_ms = gw_ids_mono_ms() + x->conf->ack_timeout_ms;
    pthread_mutex_lock(&x->list_lock);
    req->next = x->waiting;
    req->prev = NULL;
    if (x->waiting)
        x->waiting->prev = req;
    x->waiting = req;
    req->listed = 1;
    pthread_mutex_unlock(&x->list_lock);
}

static void gw_req_unlist(gw_req_ctx_t *x, gw_req_t *req) {
    pthread_mutex_lock(&x->list_lock);
    if (req->listed) {
        if (req->prev)
            req->prev->next = req->next;
        else
            x->waiting = req->next;
        if (req->next)
            req->next->prev = req->prev;
        req->listed = 0;
    }
    pthread_mutex_unlock(&x->list_lock);
}

/* Where one record goes: the event topic with its key, or the dead-letter
 * topic with the reason. */
typedef struct {
    const char *topic;
    const char *key;             /* NULL on the dead-letter topic */
    size_t key_len;
    const char *reject_reason;   /* NULL on the event topic */
    char *owned;                 /* the key when jscan_key made it: the caller frees */
    char uuid[GW_UUID_LEN + 1];
    char reason[160];
} gw_req_dest_t;

/* The destination of record `index` (d, whose owned the caller frees):
 * keyed by its primary key, or by a UUID without one (derived from the
 * delivery id when there is one), or rejected when its primary key is
 * unusable. GW_E_OK or GW_E_NOMEM. */
static gw_err_t gw_req_dest(const gw_req_t *req, size_t index, const char *value, size_t vlen,
                            const char *did, size_t dlen, gw_req_dest_t *d) {
    const integ_t *in = req->integ->in;
    d->topic = in->topic;
    d->reject_reason = NULL;
    d->owned = NULL;
    if (in->npk == 0) {
        /* a retried delivery gets the same keys, so it updates its rows */
        if (did)
            gw_ids_delivery_key(in->name, did, dlen, index, d->uuid);
        else
            gw_ids_uuid(d->uuid);
        d->key = d->uuid;
        d->key_len = GW_UUID_LEN;
        return GW_E_OK;
    }
    const char *why = NULL;
    size_t bad = 0;
    jscan_key_rc_t krc = jscan_key(value, vlen, (const char *const *)in->primary_key, in->npk,
                                   &d->owned, &d->key_len, &why, &bad);
    if (krc == JSCAN_KEY_NOMEM)
        return GW_E_NOMEM;
    if (krc == JSCAN_KEY_OK) {
        d->key = d->owned;
        return GW_E_OK;
    }
    snprintf(d->reason, sizeof(d->reason), "%s: %s", why, in->primary_key[bad]);
    d->topic = in->rejected_topic;
    d->key = NULL;
    d->key_len = 0;
    d->reject_reason = d->reason;
    return GW_E_OK;
}

/* Produces one record with the headers of DESIGN.md (event.h); 0 or the librdkafka
 * error (the message is then not queued and gets no report). */
static rd_kafka_resp_err_t gw_req_produce(gw_req_t *req, const gw_req_dest_t *d,
                                          const char *value, size_t len,
                                          const char *received_at, const char *did,
                                          size_t dlen) {
    char seq[EVENT_SEQUENCE_MAX];
    size_t seq_len = event_sequence_format(gw_ids_sequence(), seq);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(7);
    rd_kafka_header_add(hdrs, EVENT_HDR_RECEIVED_AT, -1, received_at, -1);
    rd_kafka_header_add(hdrs, EVENT_HDR_SEQUENCE, -1, seq, (ssize_t)seq_len);
    rd_kafka_header_add(hdrs, EVENT_HDR_REQUEST_ID, -1, req->request_id, -1);
    rd_kafka_header_add(hdrs, EVENT_HDR_INTEGRATION, -1, req->integ->in->name, -1);
    if (d->reject_reason)
        rd_kafka_header_add(hdrs, EVENT_HDR_REJECT_REASON, -1, d->reject_reason, -1);
    if (req->verified)
        rd_kafka_header_add(hdrs, EVENT_HDR_SIGNATURE, -1,
                            whsig_scheme_name(req->integ->in->sig_scheme), -1);
    if (did)
        rd_kafka_header_add(hdrs, EVENT_HDR_DELIVERY_ID, -1, did, (ssize_t)dlen);
    /* no copy of the value: req (holding the body) lives until the report */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        gw_producer_rk(req->ctx->producer), RD_KAFKA_V_TOPIC(d->topic),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_KEY(d->key, d->key_len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_TIMESTAMP(req->received_ns / 1000000),
        RD_KAFKA_V_OPAQUE(req), RD_KAFKA_V_END);
    if (err)
        rd_kafka_headers_destroy(hdrs);
    return err;
}

/* The answer to a record librdkafka refused to queue (of `size` bytes;
 * first: no record of the request was queued). */
static gw_err_t gw_req_refused(gw_req_t *req, rd_kafka_resp_err_t err, size_t size, int first,
                               char *msg, size_t msg_size) {
    gw_metrics_kafka_error();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return GW_E_QUEUE_FULL;
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* permanent: a retry would be refused the same way */
        gw_req_size_msg(req, size, first, msg, msg_size);
        return GW_E_RECORD_SIZE;
    }
    snprintf(msg, msg_size, "Kafka refused the records (%s), retry later",
             rd_kafka_err2str(err));
    return GW_E_KAFKA;
}

/* Produces the records in order, each to its destination, until one
 * cannot be; *sent = the records produced (their reports will come). */
static gw_err_t gw_req_fan_out(gw_req_t *req, const jscan_result_t *res, const char *dfield,
                               size_t *sent, char *msg, size_t msg_size) {
    char received_at[EVENT_RECEIVED_AT_MAX];
    event_received_at_format(req->received_ns / 1000, received_at, sizeof(received_at));
    gw_err_t e = GW_E_OK;
    size_t i;
    for (i = 0; i < res->nrecords; i++) {
        const char *value = req->body + res->records[i].off;
        size_t vlen = res->records[i].len, dlen;
        char dbuf[GW_REQ_DELIVERY_MAX + 3];
        const char *did = gw_req_record_delivery(req, dfield, value, vlen, dbuf, &dlen);
        gw_req_dest_t d;
        if ((e = gw_req_dest(req, i, value, vlen, did, dlen, &d)) != GW_E_OK)
            break;
        rd_kafka_resp_err_t err = gw_req_produce(req, &d, value, vlen, received_at, did, dlen);
        free(d.owned);
        if (err) {
            e = gw_req_refused(req, err, vlen, i == 0, msg, msg_size);
            break;
        }
        if (d.reject_reason)
            req->rejected++;
        else
            req->records++;
    }
    *sent = i;
    return e;
}

/* After the fan-out: the records not produced (unsent) will get no
 * report, so their share is dropped; the request is suspended to wait for
 * the others' reports unless it failed (e) or they all came already. */
static void gw_req_settle(gw_req_t *req, size_t unsent, gw_err_t e) {
    pthread_mutex_lock(&req->lock);
    req->pending -= unsent + 1;
    if (e != GW_E_OK)
        req->failed = 1;
    int done = req->pending == 0 || req->failed;
    if (!done) {
        req->suspended = 1;
        req->phase = GW_REQ_WAITING;
        MHD_suspend_connection(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
    if (unsent)
        atomic_fetch_sub(&req->refs, (int)unsent);
    if (e == GW_E_OK)
        req->phase = GW_REQ_WAITING;
}

/* Verifies, scans and produces the complete body. Returns GW_E_OK when
 * the records are on their way (answer later) or the error to answer now
 * (with its message in msg, or msg untouched for the table's). */
static gw_err_t gw_req_publish(gw_req_t *req, char *msg, size_t msg_size) {
    jscan_result_t res;
    size_t sent = 0;
    gw_err_t e = gw_req_verify(req);
    if (e != GW_E_OK)
        return e;
    const char *dfield = gw_req_delivery_field(req->integ->in);
    req->delivery_id = dfield ? NULL : gw_req_delivery_header(req);
    if ((e = gw_req_scan(req, &res, msg, msg_size)) != GW_E_OK)
        return e;
    if ((e = gw_req_check_size(req, &res, msg, msg_size)) == GW_E_OK) {
        gw_req_await(req, res.nrecords);
        e = gw_req_fan_out(req, &res, dfield, &sent, msg, msg_size);
        gw_req_settle(req, res.nrecords - sent, e);
    }
    jscan_result_free(&res);
    return e;
}

/* ---- the answer after Kafka ---- */

/* The answer of a request whose records were all reported, or failed, or
 * timed out. */
static enum MHD_Result gw_req_finish(gw_req_t *req) {
    char msg[256];
    pthread_mutex_lock(&req->lock);
    int failed = req->failed, timed_out = req->timed_out;
    rd_kafka_resp_err_t err = req->fail_err;
    pthread_mutex_unlock(&req->lock);
    if (failed && err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* the broker refused a record for the topic's max.message.bytes:
         * permanent, so not a 503 a provider would retry for ever */
        gw_req_size_msg(req, req->largest, 0, msg, sizeof(msg));
        return gw_req_answer(req, GW_E_RECORD_SIZE, msg, 0);
    }
    if (failed) {
        snprintf(msg, sizeof(msg), "Kafka did not accept the records (%s), retry later",
                 rd_kafka_err2str(err));
        return gw_req_answer(req, GW_E_KAFKA, msg, 0);
    }
    if (timed_out) {
        snprintf(msg, sizeof(msg), "Kafka did not acknowledge within %d ms, retry later",
                 req->ctx->conf->ack_timeout_ms);
        return gw_req_answer(req, GW_E_TIMEOUT, msg, 0);
    }
    snprintf(msg, sizeof(msg), "%zu record%s stored", req->records + req->rejected,
             req->records + req->rejected == 1 ? "" : "s");
    return gw_req_answer(req, GW_E_OK, msg, 0);
}

/* MHD_suspend_connection is called with the request's lock held, and
 * MHD_resume_connection only after the lock was released by whoever set
 * `resumed` (exactly once, after `suspended`), so our locks are never held
 * across a call that takes libmicrohttpd's, except for suspend. */
void gw_req_on_delivery(void *opaque, rd_kafka_resp_err_t err) {
    gw_req_t *req = opaque;
    int resume = 0;
    pthread_mutex_lock(&req->lock);
    req->pending--;
    if (err && !req->failed) {
        req->failed = 1;
        req->fail_err = err;
    }
    if (req->suspended && !req->resumed && (req->pending == 0 || req->failed)) {
        req->resumed = 1;
        resume = 1;
    }
    pthread_mutex_unlock(&req->lock);
    if (resume)
        gw_loop_resume(req->loop, req->conn);
    gw_req_release(req);
}

/* Candidates are taken (with a reference) under the list lock alone; their
 * own lock is taken after, so the two locks are never nested. */
void gw_req_ctx_expire(gw_req_ctx_t *x, int force) {
    gw_req_t *due[64];
    size_t n;
    gw_req_t *from = NULL;      /* resume the scan after the last batch */
    do {
        int64_t now = gw_ids_mono_ms();
        n = 0;
        pthread_mutex_lock(&x->list_lock);
        gw_req_t *r = x->waiting;
        if (from) {
            /* the batch's last request may have left the list: restart then */
            r = from->listed ? from->next : x->waiting;
            gw_req_release(from);
            from = NULL;
        }
        for (; r && n < 64; r = r->next) {
            if (!force && r->deadline_ms > now)
                continue;
            atomic_fetch_add(&r->refs, 1);
            due[n++] = r;
        }
        if (n == 64) {
            from = due[63];
            atomic_fetch_add(&from->refs, 1);
        }
        pthread_mutex_unlock(&x->list_lock);
        for (size_t i = 0; i < n; i++) {
            gw_req_t *q = due[i];
            pthread_mutex_lock(&q->lock);
            int resume = q->suspended && !q->resumed;
            if (resume) {
                q->resumed = 1;
                q->timed_out = 1;
            }
            pthread_mutex_unlock(&q->lock);
            if (resume)
                gw_loop_resume(q->loop, q->conn);
            gw_req_release(q);
        }
    } while (from);
}

/* ---- the libmicrohttpd callbacks: the request's phases ---- */

/* The first call for a request, its headers read: creates it (in
 * *con_cls) and answers at once what admission refuses. */
static enum MHD_Result gw_req_begin(gw_req_ctx_t *x, struct MHD_Connection *conn,
                                    const char *url, const char *method, void **con_cls) {
    char msg[256];
    gw_req_t *req = calloc(1, sizeof(*req));
    if (!req)
        return MHD_NO;
    req->ctx = x;
    req->loop = gw_loop_current();
    req->conn = conn;
    atomic_init(&req->refs, 1);
    pthread_mutex_init(&req->lock, NULL);
    req->received_ns = gw_ids_now_ns();
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    gw_ids_uuid(req->request_id);
    *con_cls = req;
    atomic_fetch_add(&x->inflight_requests, 1);
    gw_err_t e = gw_req_admit(req, url, method);
    if (e == GW_E_TOO_LARGE) {
        snprintf(msg, sizeof(msg), "body of %zu bytes exceeds the limit of %zu bytes",
                 req->len, req->limit);
        req->len = 0;
        return gw_req_answer(req, e, msg, 1);
    }
    if (e != GW_E_OK)
        return gw_req_answer(req, e, NULL,
                             e == GW_E_STOPPING || e == GW_E_FRAMING || e == GW_E_CODING ||
                                 gw_req_body_pending(conn));
    return MHD_YES;
}

/* A piece of the body (n > 0 bytes). Over the limit or the budget, the
 * body so far is given back and the rest dropped. */
static enum MHD_Result gw_req_read(gw_req_t *req, const char *data, size_t n) {
    if (req->overflow != GW_E_OK) {
        /* libmicrohttpd cannot answer in the middle of a body: the rest
         * is read and dropped, up to limit more bytes, then the
         * connection is closed without an answer */
        req->dropped += n;
        return req->dropped > req->limit ? MHD_NO : MHD_YES;
    }
    gw_err_t e = gw_req_append(req, data, n);
    if (e != GW_E_OK) {
        req->overflow = e;
        req->dropped = n;
        free(req->body);
        req->body = NULL;
        req->cap = 0;
        atomic_fetch_sub(&req->ctx->inflight_bytes, req->reserved);
        req->reserved = 0;
    }
    return MHD_YES;
}

/* The body is complete (or the request was resumed after Kafka): answers
 * an overflow, else publishes and answers now, or suspends until the
 * delivery reports. */
static enum MHD_Result gw_req_end(gw_req_t *req) {
    char msg[256];
    if (req->overflow != GW_E_OK) {
        if (req->overflow == GW_E_TOO_LARGE) {
            snprintf(msg, sizeof(msg), "body exceeds the limit of %zu bytes", req->limit);
            return gw_req_answer(req, req->overflow, msg, 1);
        }
        return gw_req_answer(req, req->overflow, NULL, 1);
    }
    if (req->phase == GW_REQ_READING) {
        msg[0] = '\0';
        gw_err_t e = gw_req_publish(req, msg, sizeof(msg));
        if (e != GW_E_OK)
            return gw_req_answer(req, e, msg[0] ? msg : NULL, 0);
        pthread_mutex_lock(&req->lock);
        int suspended = req->suspended;
        pthread_mutex_unlock(&req->lock);
        if (suspended)
            return MHD_YES;
    }
    return gw_req_finish(req);
}

enum MHD_Result gw_req_handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
    (void)version;
    gw_req_t *req = *con_cls;
    if (!req)
        return gw_req_begin(cls, conn, url, method, con_cls);
    if (req->phase == GW_REQ_ANSWERED) {
        *upload_data_size = 0;      /* an answered request's body is discarded */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return gw_req_read(req, upload_data, n);
    }
    return gw_req_end(req);
}

void gw_req_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)conn;
    gw_req_ctx_t *x = cls;
    gw_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (req->phase != GW_REQ_ANSWERED)
        log_info("request %s ended without an answer (%d)", req->request_id, (int)toe);
    gw_req_unlist(x, req);
    atomic_fetch_sub(&x->inflight_requests, 1);
    gw_req_release(req);
}

/* ---- the shared context ---- */

gw_req_ctx_t *gw_req_ctx_new(const gw_config_t *conf, gw_integs_t *integs,
                             gw_producer_t *producer, char *errstr, size_t errstr_size) {
    gw_req_ctx_t *x = calloc(1, sizeof(*x));
    if (!x) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    x->conf = conf;
    x->integs = integs;
    x->producer = producer;
    pthread_mutex_init(&x->list_lock, NULL);
    return x;
}

void gw_req_ctx_stop(gw_req_ctx_t *x) { atomic_store(&x->stopping, 1); }

int gw_req_ctx_stopping(gw_req_ctx_t *x) { return atomic_load(&x->stopping); }

long long gw_req_ctx_requests(gw_req_ctx_t *x) { return atomic_load(&x->inflight_requests); }

long long gw_req_ctx_bytes(gw_req_ctx_t *x) { return atomic_load(&x->inflight_bytes); }

void gw_req_ctx_destroy(gw_req_ctx_t *x) {
    if (!x)
        return;
    gw_topic_limit_reset();
    pthread_mutex_destroy(&x->list_lock);
    free(x);
}
