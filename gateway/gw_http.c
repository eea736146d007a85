/* gw_http: the listeners: the webhook socket and its loops' daemons, and
 * the metrics listener. */
#include "gw_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errstr.h"
#include "gw_loop.h"
#include "gw_metrics.h"
#include "gw_req.h"
#include "log.h"
#include "net_addr.h"

struct gw_http {
    const gw_config_t *conf;
    gw_integs_t *integs;
    gw_producer_t *producer;
    gw_req_ctx_t *reqs;
    gw_loop_t **loops;
    int nloops;                  /* started */
    int listen_fd;               /* shared by the loops' daemons; ours to close */
    struct MHD_Daemon *metrics;
    char *tls_cert, *tls_key;    /* PEM texts, kept while the daemons run */
};

void gw_http_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err) {
    gw_req_on_delivery(msg_opaque, err);
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
    int ready = gw_integs_ready(h->integs) && !gw_req_ctx_stopping(h->reqs);
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
        .inflight_requests = gw_req_ctx_requests(h->reqs),
        .inflight_bytes = gw_req_ctx_bytes(h->reqs),
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
        errstr_fmt(0, errstr, errstr_size, "cannot listen on %s: %s", h->conf->listen,
                   strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    h->listen_fd = fd;
    return 0;
}

/* The webhook daemon of one loop, on h->listen_fd, in external epoll mode
 * (its loop drives it), its requests served by gw_req.h. */
static struct MHD_Daemon *gw_http_start_webhook(gw_http_t *h, unsigned connections,
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
        flags, 0, NULL, NULL, gw_req_handle, h->reqs,
        MHD_OPTION_EXTERNAL_LOGGER, gw_http_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->conf->connection_timeout,
        /* libmicrohttpd 0.9.x zeroes the whole pool for every request:
         * its default, 32 KiB, cost ~7% of the CPU at 1 KB requests */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conf->connection_memory,
        MHD_OPTION_NOTIFY_COMPLETED, gw_req_completed, h->reqs,
        MHD_OPTION_ARRAY, h->tls_cert ? tls : tls + 2,
        MHD_OPTION_END);
    if (!d)
        errstr_fmt(0, errstr, errstr_size, "cannot serve %s%s", h->conf->listen,
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
        errstr_fmt(0, errstr, errstr_size, "cannot listen on %s", h->conf->metrics_listen);
    return d;
}

/* The Kafka loop's tick: answers the requests past their ack timeout. */
static void gw_http_tick(void *arg) { gw_req_ctx_expire(arg, 0); }

/* Starts the loops, each with its share of connections.max; loop 0 serves
 * the delivery reports and the tick. 0 or -1 with errstr. */
static int gw_http_start_loops(gw_http_t *h, char *errstr, size_t errstr_size) {
    int threads = h->conf->threads;
    if (!(h->loops = calloc((size_t)threads, sizeof(*h->loops))))
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    for (int i = 0; i < threads; i++) {
        unsigned per = (unsigned)h->conf->connections_max / (unsigned)threads;
        if (i < h->conf->connections_max % threads)
            per++;
        struct MHD_Daemon *d = gw_http_start_webhook(h, per ? per : 1, errstr, errstr_size);
        if (!d)
            return -1;
        if (!(h->loops[i] = gw_loop_new(d, i == 0 ? h->producer : NULL, gw_http_tick, h->reqs,
                                        errstr, errstr_size)))
            return -1;
        h->nloops++;
    }
    return 0;
}

/* Reads a whole PEM file (at most 1 MiB) into a NUL-terminated string. */
static char *gw_http_read_pem(const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        errstr_fmt(0, errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    if (!(buf = malloc(cap + 1))) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
    } else {
        n = fread(buf, 1, cap + 1, f);
        if (ferror(f) || n == 0 || n > cap) {
            errstr_fmt(0, errstr, errstr_size, "cannot read %s: %s", path,
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
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->conf = conf;
    h->integs = integs;
    h->producer = producer;
    h->listen_fd = -1;
    if (!(h->reqs = gw_req_ctx_new(conf, integs, producer, errstr, errstr_size)))
        goto fail;
    if (conf->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            errstr_fmt(0, errstr, errstr_size,
                       "tls.cert given but this libmicrohttpd has no TLS support");
            goto fail;
        }
        if (!(h->tls_cert = gw_http_read_pem(conf->tls_cert, errstr, errstr_size)) ||
            !(h->tls_key = gw_http_read_pem(conf->tls_key, errstr, errstr_size)))
            goto fail;
    }
    if (gw_http_listen(h, errstr, errstr_size) < 0 ||
        gw_http_start_loops(h, errstr, errstr_size) < 0 ||
        !(h->metrics = gw_http_start_metrics(h, errstr, errstr_size)))
        goto fail;
    return h;
fail:
    gw_http_destroy(h);
    return NULL;
}

/* Has every loop stopped accepting? */
static int gw_http_all_quiesced(gw_http_t *h) {
    for (int i = 0; i < h->nloops; i++)
        if (!gw_loop_quiesced(h->loops[i]))
            return 0;
    return 1;
}

void gw_http_quiesce(gw_http_t *h) {
    gw_req_ctx_stop(h->reqs);
    for (int i = 0; i < h->nloops; i++)
        gw_loop_quiesce(h->loops[i]);
    for (int waited = 0; !gw_http_all_quiesced(h) && waited < 5000; waited++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    if (gw_http_all_quiesced(h) && h->listen_fd >= 0) {
        close(h->listen_fd);
        h->listen_fd = -1;
    }
}

long long gw_http_inflight(gw_http_t *h) { return gw_req_ctx_requests(h->reqs); }

void gw_http_expire_all(gw_http_t *h) { gw_req_ctx_expire(h->reqs, 1); }

void gw_http_destroy(gw_http_t *h) {
    if (!h)
        return;
    if (h->loops) {
        gw_http_expire_all(h);
        /* every loop is told first, then each is waited for */
        for (int i = 0; i < h->nloops; i++)
            gw_loop_stop(h->loops[i]);
        for (int i = 0; i < h->nloops; i++)
            gw_loop_destroy(h->loops[i]);
        free(h->loops);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->metrics)
        MHD_stop_daemon(h->metrics);
    gw_req_ctx_destroy(h->reqs);
    free(h->tls_cert);
    if (h->tls_key) {
        OPENSSL_cleanse(h->tls_key, strlen(h->tls_key));
        free(h->tls_key);
    }
    free(h);
}
