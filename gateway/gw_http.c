/* gw_http: webhook and metrics listeners, request state and publication. */
#include "gw_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_ids.h"
#include "gw_metrics.h"
#include "gw_route.h"
#include "gw_topic_limit.h"
#include "integ.h"
#include "jlex.h"
#include "jscan.h"
#include "log.h"
#include "net_addr.h"
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
} gw_errs[] = {
#define GW_ERR_ROW(name, status, msg) {status, msg},
    GW_ERR_MAP(GW_ERR_ROW)
#undef GW_ERR_ROW
};

typedef enum { GW_READING = 0, GW_WAITING, GW_ANSWERED } gw_phase_t;

typedef struct gw_loop gw_loop_t;

typedef struct gw_req {
    gw_http_t *http;
    gw_loop_t *loop;             /* whose daemon holds the connection */
    struct MHD_Connection *conn;
    atomic_int refs;             /* the connection + one per message in flight */
    pthread_mutex_t lock;        /* guards the fields marked (L) */
    gw_phase_t phase;
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

/* One event loop: a thread driving its own libmicrohttpd daemon (external
 * epoll mode) on the shared listening socket. Loop 0 also serves the
 * producer's delivery reports and the ack-timeout timer, so a request of
 * its own is answered without waking another thread. */
struct gw_loop {
    gw_http_t *http;
    struct MHD_Daemon *mhd;
    int ep;                      /* epoll: the daemon's epoll fd, wake (+ producer) */
    int wake;                    /* eventfd: a resume from another thread, quiesce, stop */
    int kafka;                   /* serves the delivery reports and the timer */
    atomic_int quiesced;         /* stopped accepting (read by the main thread) */
    atomic_int woken;            /* a wake-up is written and not yet read */
    pthread_t thread;
    int started;
};

/* the loop whose thread this is (NULL on other threads) */
static _Thread_local gw_loop_t *gw_this_loop;

enum { GW_LOOP_RUN = 0, GW_LOOP_QUIESCE, GW_LOOP_STOP };

/* the ack-timeout scan runs this often (ms) */
#define GW_HTTP_TICK_MS 10

struct gw_http {
    const gw_config_t *conf;
    gw_integs_t *integs;
    gw_producer_t *producer;
    gw_loop_t *loops;
    int nloops;
    int listen_fd;               /* shared by the loops' daemons; ours to close */
    atomic_int loop_state;       /* GW_LOOP_* */
    struct MHD_Daemon *metrics;
    atomic_llong inflight_bytes, inflight_requests;
    atomic_int stopping;
    pthread_mutex_t list_lock;
    gw_req_t *waiting;           /* requests whose records are produced */
    char *tls_cert, *tls_key;    /* PEM texts, kept while the daemon runs */
};

static int64_t gw_http_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void gw_req_release(gw_req_t *req) {
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    atomic_fetch_sub(&req->http->inflight_bytes, req->reserved);
    gw_integ_release(req->integ);
    pthread_mutex_destroy(&req->lock);
    free(req->body);
    free(req);
}

/* Reserves n more bytes of the in-flight budget for req; 0, or -1 when the
 * budget would be exceeded (nothing reserved then). */
static int gw_req_reserve(gw_req_t *req, long long n) {
    gw_http_t *h = req->http;
    long long cur = atomic_load(&h->inflight_bytes);
    do {
        if (cur + n > h->conf->inflight_bytes)
            return -1;
    } while (!atomic_compare_exchange_weak(&h->inflight_bytes, &cur, cur + n));
    req->reserved += n;
    return 0;
}

/* Appends a JSON string literal for the ASCII/UTF-8 text s. */
static size_t gw_json_str(char *out, size_t size, const char *s) {
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
    gw_http_t *h = req->http;
    char body[768], m[512];
    int status = gw_errs[e].status;
    gw_json_str(m, sizeof(m), msg ? msg : gw_errs[e].msg);
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
        snprintf(ra, sizeof(ra), "%d", status == 429 ? req->retry_after : h->conf->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (status == 405)
        MHD_add_response_header(resp, "Allow", "POST");
    if (close_conn)
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->phase = GW_ANSWERED;
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

/* The framing headers as libmicrohttpd received them (it looks up only the
 * first of a repeated header). */
typedef struct {
    const char *cl, *ct;
    int te, clash;
    int chunked;            /* te == 1 and it is "chunked", as libmicrohttpd tests it */
} gw_framing_t;

static enum MHD_Result gw_framing_scan(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value) {
    (void)kind;
    gw_framing_t *f = cls;
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
    gw_framing_t f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, gw_framing_scan, &f);
    if (f.te && !f.chunked)
        return f.te > 1 ? GW_E_FRAMING : GW_E_CODING;
    if (f.clash || (f.te && f.cl))
        return GW_E_FRAMING;
    return GW_E_OK;
}

/* Everything that can be decided from the request line and headers.
 * Returns GW_E_OK to go on reading the body. */
static gw_err_t gw_req_admit(gw_req_t *req, const char *url, const char *method) {
    gw_http_t *h = req->http;
    gw_route_t route;
    gw_err_t fe = gw_req_framing(req->conn);
    if (fe != GW_E_OK)
        return fe;
    if (gw_route_parse(url, &route) != GW_ROUTE_WEBHOOK)
        return GW_E_NOT_FOUND;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return GW_E_METHOD;
    if (atomic_load(&h->stopping))
        return GW_E_STOPPING;
    if (!gw_integs_caught_up(h->integs))
        return GW_E_NOT_READY;
    gw_integ_t *e = gw_integs_lookup(h->integs, route.token, route.token_len);
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
    if (!gw_integ_rate_take(e, gw_http_mono_ms() * 1000000, &req->retry_after))
        return GW_E_RATE;
    if (e->sig_state != GW_SIG_OFF && e->sig_state != GW_SIG_READY)
        return GW_E_NO_SECRET;
    gw_ct_t ct = gw_route_content_type(
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    if (ct == GW_CT_NOT_JSON)
        return GW_E_MEDIA_TYPE;
    if (ct == GW_CT_BAD_CHARSET)
        return GW_E_CHARSET;
    req->limit = e->in->max_body > 0 ? (size_t)e->in->max_body : (size_t)h->conf->max_body;
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

/* Does the request announce a body (which an early answer leaves unread)? */
static int gw_http_body_pending(struct MHD_Connection *conn) {
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return 1;
    return cl && strtoull(cl, NULL, 10) > 0;
}

static void gw_http_unlist(gw_http_t *h, gw_req_t *req) {
    pthread_mutex_lock(&h->list_lock);
    if (req->listed) {
        if (req->prev)
            req->prev->next = req->next;
        else
            h->waiting = req->next;
        if (req->next)
            req->next->prev = req->prev;
        req->listed = 0;
    }
    pthread_mutex_unlock(&h->list_lock);
}

/* Produces one record; 0 or the librdkafka error. */
static rd_kafka_resp_err_t gw_req_produce(gw_req_t *req, const char *topic, const char *value,
                                          size_t len, const char *key, size_t key_len,
                                          const char *reject_reason, const char *received_at,
                                          const char *delivery_id, size_t delivery_len) {
    char seq[24];
    snprintf(seq, sizeof(seq), "%lld", (long long)gw_ids_sequence());
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(7);
    rd_kafka_header_add(hdrs, "hookpipe-received-at", -1, received_at, -1);
    rd_kafka_header_add(hdrs, "hookpipe-sequence", -1, seq, -1);
    rd_kafka_header_add(hdrs, "hookpipe-request-id", -1, req->request_id, -1);
    rd_kafka_header_add(hdrs, "hookpipe-integration", -1, req->integ->in->name, -1);
    if (reject_reason)
        rd_kafka_header_add(hdrs, "hookpipe-reject-reason", -1, reject_reason, -1);
    if (req->verified)
        rd_kafka_header_add(hdrs, "hookpipe-signature", -1,
                            whsig_scheme_name(req->integ->in->sig_scheme), -1);
    if (delivery_id)
        rd_kafka_header_add(hdrs, "hookpipe-delivery-id", -1, delivery_id,
                            (ssize_t)delivery_len);
    /* no copy of the value: req (holding the body) lives until the report */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        gw_producer_rk(req->http->producer), RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_TIMESTAMP(req->received_ns / 1000000),
        RD_KAFKA_V_OPAQUE(req), RD_KAFKA_V_END);
    if (err)
        rd_kafka_headers_destroy(hdrs);
    return err;
}

/* whsig's view of the request headers (libmicrohttpd looks them up
 * case-insensitively). */
static const char *gw_req_header(void *opaque, const char *name) {
    return MHD_lookup_connection_value(opaque, MHD_HEADER_KIND, name);
}

/* A usable delivery id: 1..GW_DELIVERY_MAX bytes of printable ASCII. */
#define GW_DELIVERY_MAX 256
static int gw_delivery_ok(const char *s, size_t n) {
    if (n == 0 || n > GW_DELIVERY_MAX)
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
    return v && gw_delivery_ok(v, strlen(v)) ? v : NULL;
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
 * or a number's literal) into buf (room for a quoted GW_DELIVERY_MAX-byte
 * string before decoding); its length, or 0 if none is usable. */
static size_t gw_record_delivery(const char *obj, size_t len, const char *field,
                                 char buf[GW_DELIVERY_MAX + 3]) {
    jscan_member_t m;
    jscan_members(obj, len, &field, 1, &m);
    const char *v = obj + m.value.off;
    size_t n = m.value.len;
    if (m.type == JSCAN_STRING) {
        if (n > GW_DELIVERY_MAX + 2)
            return 0;
        n = jlex_string_decode(v, n, buf);
    } else if (m.type == JSCAN_NUMBER && n <= GW_DELIVERY_MAX) {
        memcpy(buf, v, n);
    } else {
        return 0;
    }
    buf[n] = '\0';
    return gw_delivery_ok(buf, n) ? n : 0;
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

/* Scans the complete body and produces its records. Returns GW_E_OK when
 * the records are on their way (answer later) or the error to answer now. */
static gw_err_t gw_req_publish(gw_req_t *req, char *msg, size_t msg_size) {
    gw_http_t *h = req->http;
    const integ_t *in = req->integ->in;
    jscan_result_t res;
    gw_err_t ve = gw_req_verify(req);
    if (ve != GW_E_OK)
        return ve;
    const char *dfield = gw_req_delivery_field(in);
    req->delivery_id = dfield ? NULL : gw_req_delivery_header(req);
    jscan_err_t je = jscan_body(req->body ? req->body : "", req->len, h->conf->max_depth,
                                (size_t)h->conf->max_records, &res);
    if (je == JSCAN_ERR_NOMEM)
        return GW_E_NOMEM;
    if (je == JSCAN_ERR_RECORDS) {
        snprintf(msg, msg_size, "too many records: more than %lld", h->conf->max_records);
        return GW_E_TOO_MANY;
    }
    if (je == JSCAN_ERR_EMPTY) {
        snprintf(msg, msg_size, "empty body");
        return GW_E_BAD_BODY;
    }
    if (je != JSCAN_OK) {
        if (je == JSCAN_ERR_DEPTH)
            snprintf(msg, msg_size, "nesting deeper than %d levels at byte %zu",
                     h->conf->max_depth, res.err_off);
        else if (je == JSCAN_ERR_SYNTAX || je == JSCAN_ERR_TOP)
            snprintf(msg, msg_size, "%s at byte %zu: %s", jscan_strerror(je), res.err_off,
                     res.err_msg);
        else
            snprintf(msg, msg_size, "%s at byte %zu", jscan_strerror(je), res.err_off);
        return GW_E_BAD_BODY;
    }
    /* a record the topic cannot take: 413 before any record is produced,
     * so that an array is stored whole or not at all (gw_topic_limit.h) */
    for (size_t k = 0; k < res.nrecords; k++)
        if (res.records[k].len > req->largest)
            req->largest = res.records[k].len;
    if (req->largest > GW_TOPIC_LIMIT_FLOOR) {
        long long lim = gw_topic_limit(gw_producer_rk(h->producer), in->topic);
        if (lim > 0 && (long long)req->largest + GW_TOPIC_LIMIT_OVERHEAD > lim) {
            snprintf(msg, msg_size,
                     "a record of %zu bytes is larger than topic %s takes (max.message.bytes "
                     "%lld); nothing stored", req->largest, in->topic, lim);
            jscan_result_free(&res);
            return GW_E_RECORD_SIZE;
        }
    }
    char received_at[32];
    gw_ids_rfc3339(req->received_ns, received_at);
    size_t n = res.nrecords;
    req->nrecords = n;
    req->pending = n + 1;          /* + 1: ours, until every record is produced */
    atomic_fetch_add(&req->refs, (int)n);
    req->deadline_ms = gw_http_mono_ms() + h->conf->ack_timeout_ms;
    pthread_mutex_lock(&h->list_lock);
    req->next = h->waiting;
    req->prev = NULL;
    if (h->waiting)
        h->waiting->prev = req;
    h->waiting = req;
    req->listed = 1;
    pthread_mutex_unlock(&h->list_lock);

    gw_err_t e = GW_E_OK;
    size_t i;
    for (i = 0; i < n; i++) {
        const char *value = req->body + res.records[i].off;
        size_t vlen = res.records[i].len;
        char uuid[GW_UUID_LEN + 1], *key = NULL, dbuf[GW_DELIVERY_MAX + 3];
        size_t key_len = 0, bad = 0;
        const char *why = NULL, *did = req->delivery_id;
        size_t dlen = did ? strlen(did) : 0;
        char reason[160];
        rd_kafka_resp_err_t err;
        if (dfield && (dlen = gw_record_delivery(value, vlen, dfield, dbuf)) > 0)
            did = dbuf;
        if (in->npk == 0) {
            /* a retried delivery gets the same keys, so it updates its rows */
            if (did)
                gw_ids_delivery_key(in->name, did, dlen, i, uuid);
            else
                gw_ids_uuid(uuid);
            err = gw_req_produce(req, in->topic, value, vlen, uuid, GW_UUID_LEN, NULL, received_at,
                                 did, dlen);
            if (!err)
                req->records++;
        } else {
            jscan_key_rc_t krc = jscan_key(value, vlen, (const char *const *)in->primary_key,
                                           in->npk, &key, &key_len, &why, &bad);
            if (krc == JSCAN_KEY_NOMEM) {
                e = GW_E_NOMEM;
                break;
            }
            if (krc == JSCAN_KEY_OK) {
                err = gw_req_produce(req, in->topic, value, vlen, key, key_len, NULL, received_at,
                                     did, dlen);
                if (!err)
                    req->records++;
            } else {
                snprintf(reason, sizeof(reason), "%s: %s", why, in->primary_key[bad]);
                err = gw_req_produce(req, in->rejected_topic, value, vlen, NULL, 0, reason,
                                     received_at, did, dlen);
                if (!err)
                    req->rejected++;
            }
            free(key);
        }
        if (err) {
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                e = GW_E_QUEUE_FULL;
            } else if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                /* permanent: a retry would be refused the same way */
                e = GW_E_RECORD_SIZE;
                gw_req_size_msg(req, vlen, i == 0, msg, msg_size);
            } else {
                e = GW_E_KAFKA;
                snprintf(msg, msg_size, "Kafka refused the records (%s), retry later",
                         rd_kafka_err2str(err));
            }
            gw_metrics_kafka_error();
            break;
        }
    }
    jscan_result_free(&res);
    /* the records not produced will get no report: drop their share */
    size_t unsent = n - i;
    pthread_mutex_lock(&req->lock);
    req->pending -= unsent + 1;
    if (e != GW_E_OK)
        req->failed = 1;
    int done = req->pending == 0 || req->failed;
    if (!done) {
        req->suspended = 1;
        req->phase = GW_WAITING;
        MHD_suspend_connection(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
    if (unsent)
        atomic_fetch_sub(&req->refs, (int)unsent);
    if (e == GW_E_OK)
        req->phase = GW_WAITING;
    return e;
}

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
                 req->http->conf->ack_timeout_ms);
        return gw_req_answer(req, GW_E_TIMEOUT, msg, 0);
    }
    snprintf(msg, sizeof(msg), "%zu record%s stored", req->records + req->rejected,
             req->records + req->rejected == 1 ? "" : "s");
    return gw_req_answer(req, GW_E_OK, msg, 0);
}

static void gw_loop_wake(gw_loop_t *l);

/* Resumes req's connection; a loop other than this thread's is woken (its
 * epoll does not see libmicrohttpd's own signal). */
static void gw_req_resume(gw_req_t *req) {
    MHD_resume_connection(req->conn);
    if (req->loop != gw_this_loop)
        gw_loop_wake(req->loop);
}

/* MHD_suspend_connection is called with the request's lock held, and
 * MHD_resume_connection only after the lock was released by whoever set
 * `resumed` (exactly once, after `suspended`), so our locks are never held
 * across a call that takes libmicrohttpd's, except for suspend. */
void gw_http_on_delivery(void *opaque, rd_kafka_resp_err_t err) {
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
        gw_req_resume(req);
    gw_req_release(req);
}

/* Resumes waiting requests past their deadline (all of them if force).
 * Candidates are taken (with a reference) under the list lock alone; their
 * own lock is taken after, so the two locks are never nested. */
static void gw_http_expire(gw_http_t *h, int force) {
    gw_req_t *due[64];
    size_t n;
    gw_req_t *from = NULL;      /* resume the scan after the last batch */
    do {
        int64_t now = gw_http_mono_ms();
        n = 0;
        pthread_mutex_lock(&h->list_lock);
        gw_req_t *r = h->waiting;
        if (from) {
            /* the batch's last request may have left the list: restart then */
            r = from->listed ? from->next : h->waiting;
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
        pthread_mutex_unlock(&h->list_lock);
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
                gw_req_resume(q);
            gw_req_release(q);
        }
    } while (from);
}

void gw_http_expire_all(gw_http_t *h) { gw_http_expire(h, 1); }

static enum MHD_Result gw_http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    (void)version;
    gw_http_t *h = cls;
    gw_req_t *req = *con_cls;
    char msg[256];
    if (!req) {
        if (!(req = calloc(1, sizeof(*req))))
            return MHD_NO;
        req->http = h;
        req->loop = gw_this_loop;
        req->conn = conn;
        atomic_init(&req->refs, 1);
        pthread_mutex_init(&req->lock, NULL);
        req->received_ns = gw_ids_now_ns();
        clock_gettime(CLOCK_MONOTONIC, &req->t0);
        gw_ids_uuid(req->request_id);
        *con_cls = req;
        atomic_fetch_add(&h->inflight_requests, 1);
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
                                     gw_http_body_pending(conn));
        return MHD_YES;
    }
    if (req->phase == GW_ANSWERED) {
        *upload_data_size = 0;      /* an answered request's body is discarded */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->overflow != GW_E_OK) {
            /* libmicrohttpd cannot answer in the middle of a body: the rest
             * is read and dropped, up to limit more bytes, then the
             * connection is closed without an answer */
            req->dropped += n;
            return req->dropped > req->limit ? MHD_NO : MHD_YES;
        }
        gw_err_t e = gw_req_append(req, upload_data, n);
        if (e != GW_E_OK) {
            req->overflow = e;
            req->dropped = n;
            free(req->body);
            req->body = NULL;
            req->cap = 0;
            atomic_fetch_sub(&h->inflight_bytes, req->reserved);
            req->reserved = 0;
        }
        return MHD_YES;
    }
    if (req->overflow != GW_E_OK) {
        if (req->overflow == GW_E_TOO_LARGE) {
            snprintf(msg, sizeof(msg), "body exceeds the limit of %zu bytes", req->limit);
            return gw_req_answer(req, req->overflow, msg, 1);
        }
        return gw_req_answer(req, req->overflow, NULL, 1);
    }
    if (req->phase == GW_READING) {
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

static void gw_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
    (void)conn;
    gw_http_t *h = cls;
    gw_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (req->phase != GW_ANSWERED)
        log_info("request %s ended without an answer (%d)", req->request_id, (int)toe);
    gw_http_unlist(h, req);
    atomic_fetch_sub(&h->inflight_requests, 1);
    gw_req_release(req);
}

static enum MHD_Result gw_http_text(struct MHD_Connection *conn, unsigned status,
                                    const char *type, const char *body, size_t len,
                                    enum MHD_ResponseMemoryMode mode, const char *allow) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    if (allow)
        MHD_add_response_header(resp, "Allow", allow);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result gw_http_metrics_handle(void *cls, struct MHD_Connection *conn,
                                              const char *url, const char *method,
                                              const char *version, const char *upload_data,
                                              size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    gw_http_t *h = cls;
    if (!*con_cls) {            /* wait for the (ignored) body before answering */
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    static const char json[] = "application/json";
    int known = !strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/metrics");
    if (!known) {
        static const char nf[] = "{\"status\":\"error\",\"message\":\"not found\"}\n";
        return gw_http_text(conn, 404, json, nf, sizeof(nf) - 1, MHD_RESPMEM_PERSISTENT, NULL);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char na[] = "{\"status\":\"error\",\"message\":\"method not allowed\"}\n";
        return gw_http_text(conn, 405, json, na, sizeof(na) - 1, MHD_RESPMEM_PERSISTENT,
                            "GET, HEAD");
    }
    if (!strcmp(url, "/healthz")) {
        static const char ok[] = "{\"status\":\"OK\"}\n";
        return gw_http_text(conn, 200, json, ok, sizeof(ok) - 1, MHD_RESPMEM_PERSISTENT, NULL);
    }
    int ready = gw_integs_ready(h->integs) && !atomic_load(&h->stopping);
    if (!strcmp(url, "/readyz")) {
        char body[160];
        int n = snprintf(body, sizeof(body),
                         "{\"status\":\"%s\",\"integrations_caught_up\":%s,\"integrations\":%zu}\n",
                         ready ? "OK" : "not ready",
                         gw_integs_caught_up(h->integs) ? "true" : "false",
                         gw_integs_count(h->integs));
        return gw_http_text(conn, ready ? 200 : 503, json, body, (size_t)n,
                            MHD_RESPMEM_MUST_COPY, NULL);
    }
    gw_metrics_gauges_t g = {
        .inflight_requests = atomic_load(&h->inflight_requests),
        .inflight_bytes = atomic_load(&h->inflight_bytes),
        .queue_messages = gw_producer_queue_len(h->producer),
        .integrations = gw_integs_count(h->integs),
        .ready = ready,
    };
    size_t len;
    char *text = gw_metrics_render(&g, &len);
    if (!text)
        return MHD_NO;
    return gw_http_text(conn, 200, "text/plain; version=0.0.4", text, len,
                        MHD_RESPMEM_MUST_FREE, NULL);
}

static void gw_http_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    log_warn("http: %s", line);
}

/* Binds the webhook listening socket (non-blocking), shared by the loops. */
static int gw_http_listen(gw_http_t *h, char *errstr, size_t errstr_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_addr_parse(h->conf->listen, &ss, &sl, errstr, errstr_size) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
        snprintf(errstr, errstr_size, "cannot listen on %s: %s", h->conf->listen,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    h->listen_fd = fd;
    return 0;
}

/* The daemon of one loop, on h->listen_fd, driven by the loop's thread. */
static struct MHD_Daemon *gw_http_start_loop(gw_http_t *h, unsigned connections,
                                             char *errstr, size_t errstr_size) {
    /* the TLS options come last so that without TLS they end the list */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (h->tls_cert)
        flags |= MHD_USE_TLS;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, gw_http_handle, h,
        MHD_OPTION_EXTERNAL_LOGGER, gw_http_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->conf->connection_timeout,
        /* libmicrohttpd 0.9.x zeroes the whole pool for every request:
         * its default, 32 KiB, cost ~7% of the CPU at 1 KB requests */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conf->connection_memory,
        MHD_OPTION_NOTIFY_COMPLETED, gw_http_completed, h,
        MHD_OPTION_ARRAY, h->tls_cert ? tls : tls + 2,
        MHD_OPTION_END);
    if (!d)
        snprintf(errstr, errstr_size, "cannot serve %s%s", h->conf->listen,
                 h->tls_cert ? " (the TLS certificate and key were refused?)" : "");
    return d;
}

static struct MHD_Daemon *gw_http_start_metrics(gw_http_t *h, char *errstr,
                                                size_t errstr_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_addr_parse(h->conf->metrics_listen, &ss, &sl, errstr, errstr_size) < 0)
        return NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, gw_http_metrics_handle, h,
                                            MHD_OPTION_EXTERNAL_LOGGER, gw_http_mhd_log, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                            MHD_OPTION_CONNECTION_LIMIT, 64U,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 10U,
                                            MHD_OPTION_END);
    if (!d)
        snprintf(errstr, errstr_size, "cannot listen on %s", h->conf->metrics_listen);
    return d;
}

static void gw_loop_quiesce(gw_loop_t *l) {
    if (atomic_load(&l->quiesced))
        return;
    /* the socket is returned to us (and closed once, by gw_http_quiesce or
     * gw_http_destroy): every daemon shares it */
    MHD_quiesce_daemon(l->mhd);
    atomic_store(&l->quiesced, 1);
}

/* Wakes loop l (once until it runs again): after a resume from another
 * thread, or to quiesce or stop. */
static void gw_loop_wake(gw_loop_t *l) {
    static const uint64_t one = 1;
    if (atomic_exchange(&l->woken, 1) == 0 && write(l->wake, &one, sizeof(one)) < 0)
        log_warn("http loop wake-up: %s", strerror(errno));
}

static void *gw_loop_run(void *arg) {
    gw_loop_t *l = arg;
    gw_http_t *h = l->http;
    gw_this_loop = l;
    int64_t last_tick = gw_http_mono_ms();
    for (;;) {
        int state = atomic_load(&h->loop_state);
        if (state != GW_LOOP_RUN)
            gw_loop_quiesce(l);
        if (state == GW_LOOP_STOP)
            break;
        int timeout = l->kafka ? GW_HTTP_TICK_MS : 1000;
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(l->mhd, &mhd_ms) == MHD_YES && mhd_ms < (unsigned)timeout)
            timeout = (int)mhd_ms;
        struct epoll_event ev[3];
        int n = epoll_wait(l->ep, ev, 3, timeout);
        int reports = 0;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == l->wake) {
                uint64_t v;
                /* read, then cleared, both before MHD_run: a wake-up that
                 * finds the flag still set writes nothing, and its resume
                 * is seen by this MHD_run */
                if (read(l->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    log_warn("http loop: %s", strerror(errno));
                atomic_store(&l->woken, 0);
            } else if (l->kafka && ev[i].data.fd == gw_producer_fd(h->producer)) {
                reports = 1;
            }
        }
        if (reports)
            gw_producer_serve(h->producer);
        if (l->kafka) {
            int64_t now = gw_http_mono_ms();
            if (now - last_tick >= GW_HTTP_TICK_MS) {
                last_tick = now;
                gw_http_expire(h, 0);
            }
        }
        MHD_run(l->mhd);
    }
    return NULL;
}

static void gw_http_wake_loops(gw_http_t *h) {
    for (int i = 0; i < h->nloops; i++)
        if (h->loops[i].wake >= 0)
            gw_loop_wake(&h->loops[i]);
}

static int gw_epoll_add(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Starts loop i (its daemon, epoll set and thread); 0 or -1 with errstr. */
static int gw_loop_start(gw_http_t *h, int i, char *errstr, size_t errstr_size) {
    gw_loop_t *l = &h->loops[i];
    unsigned per = (unsigned)h->conf->connections_max / (unsigned)h->nloops;
    if (i < h->conf->connections_max % h->nloops)
        per++;
    l->http = h;
    l->kafka = i == 0;
    if (!(l->mhd = gw_http_start_loop(h, per ? per : 1, errstr, errstr_size)))
        return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 || !di ||
        gw_epoll_add(l->ep, di->epoll_fd) < 0 || gw_epoll_add(l->ep, l->wake) < 0 ||
        (l->kafka && gw_epoll_add(l->ep, gw_producer_fd(h->producer)) < 0)) {
        snprintf(errstr, errstr_size, "http loop: %s", strerror(errno));
        return -1;
    }
    if (pthread_create(&l->thread, NULL, gw_loop_run, l) != 0) {
        snprintf(errstr, errstr_size, "cannot start an http loop thread");
        return -1;
    }
    l->started = 1;
    return 0;
}

/* Reads a whole PEM file (at most 1 MiB) into a NUL-terminated string. */
static char *gw_http_read_pem(const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        snprintf(errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    if (!(buf = malloc(cap + 1))) {
        snprintf(errstr, errstr_size, "out of memory");
    } else {
        n = fread(buf, 1, cap + 1, f);
        if (ferror(f) || n == 0 || n > cap) {
            snprintf(errstr, errstr_size, "cannot read %s: %s", path,
                     n > cap ? "larger than 1 MiB" : n == 0 ? "empty" : strerror(errno));
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

gw_http_t *gw_http_new(const gw_config_t *conf, gw_integs_t *integs, gw_producer_t *producer,
                       char *errstr, size_t errstr_size) {
    gw_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->conf = conf;
    h->integs = integs;
    h->producer = producer;
    h->listen_fd = -1;
    pthread_mutex_init(&h->list_lock, NULL);
    if (conf->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(errstr, errstr_size,
                     "tls.cert given but this libmicrohttpd has no TLS support");
            gw_http_destroy(h);
            return NULL;
        }
        if (!(h->tls_cert = gw_http_read_pem(conf->tls_cert, errstr, errstr_size)) ||
            !(h->tls_key = gw_http_read_pem(conf->tls_key, errstr, errstr_size))) {
            gw_http_destroy(h);
            return NULL;
        }
    }
    if (!(h->loops = calloc((size_t)conf->threads, sizeof(*h->loops)))) {
        snprintf(errstr, errstr_size, "out of memory");
        gw_http_destroy(h);
        return NULL;
    }
    for (int i = 0; i < conf->threads; i++)
        h->loops[i].ep = h->loops[i].wake = -1;
    h->nloops = conf->threads;
    if (gw_http_listen(h, errstr, errstr_size) < 0) {
        gw_http_destroy(h);
        return NULL;
    }
    for (int i = 0; i < h->nloops; i++)
        if (gw_loop_start(h, i, errstr, errstr_size) < 0) {
            gw_http_destroy(h);
            return NULL;
        }
    if (!(h->metrics = gw_http_start_metrics(h, errstr, errstr_size))) {
        gw_http_destroy(h);
        return NULL;
    }
    return h;
}

/* Has every started loop stopped accepting? */
static int gw_http_all_quiesced(gw_http_t *h) {
    for (int i = 0; i < h->nloops; i++)
        if (h->loops[i].started && !atomic_load(&h->loops[i].quiesced))
            return 0;
    return 1;
}

void gw_http_quiesce(gw_http_t *h) {
    atomic_store(&h->stopping, 1);
    atomic_store(&h->loop_state, GW_LOOP_QUIESCE);
    gw_http_wake_loops(h);
    for (int waited = 0; !gw_http_all_quiesced(h) && waited < 5000; waited++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    if (gw_http_all_quiesced(h) && h->listen_fd >= 0) {
        close(h->listen_fd);
        h->listen_fd = -1;
    }
}

long long gw_http_inflight(gw_http_t *h) { return atomic_load(&h->inflight_requests); }

void gw_http_destroy(gw_http_t *h) {
    if (!h)
        return;
    if (h->loops) {
        gw_http_expire_all(h);
        atomic_store(&h->loop_state, GW_LOOP_STOP);
        gw_http_wake_loops(h);
        for (int i = 0; i < h->nloops; i++) {
            gw_loop_t *l = &h->loops[i];
            if (l->started)
                pthread_join(l->thread, NULL);
            if (l->mhd) {
                gw_loop_quiesce(l);  /* so that stopping leaves the shared socket */
                MHD_stop_daemon(l->mhd);
            }
            if (l->ep >= 0)
                close(l->ep);
            if (l->wake >= 0)
                close(l->wake);
        }
        free(h->loops);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->metrics)
        MHD_stop_daemon(h->metrics);
    gw_topic_limit_reset();
    pthread_mutex_destroy(&h->list_lock);
    free(h->tls_cert);
    if (h->tls_key) {
        OPENSSL_cleanse(h->tls_key, strlen(h->tls_key));
        free(h->tls_key);
    }
    free(h);
}
