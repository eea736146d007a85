/* gw_producer: producer set-up, delivery reports, flush. */
#include "gw_producer.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "errstr.h"
#include "gw_metrics.h"
#include "kafka.h"
#include "log.h"

struct gw_producer {
    rd_kafka_t *rk;
    gw_producer_dr_fn dr;
    int event_fd;       /* readable while delivery reports wait (eventfd) */
};

static void gw_producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    (void)rk;
    gw_producer_t *p = opaque;
    if (rkm->err) {
        gw_metrics_kafka_error();
        log_debug("delivery to %s failed: %s", rd_kafka_topic_name(rkm->rkt),
                  rd_kafka_err2str(rkm->err));
    }
    p->dr(rkm->_private, rkm->err);
}

static void gw_producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    gw_metrics_kafka_error();
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        log_error("kafka producer fatal error %s: %s", rd_kafka_err2name(orig), why);
        return;
    }
    log_warn("kafka producer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Every request waits for its records' acknowledgements, so each waits up
 * to linger.ms more: at 64 connections against the mock cluster 2 ms
 * bounded the gateway to ~16k req/s (p50 3.5 ms), 1 ms gave ~22k, at the
 * same CPU per request. 0 costs ~60% more CPU per request (a produce
 * request per message); under load batches form while requests are in
 * flight anyway. */
#define GW_PRODUCER_LINGER_MS "1"

gw_producer_t *gw_producer_new(const cfg_t *cfg, int ack_timeout_ms, gw_producer_dr_fn dr,
                               char *errstr, size_t errstr_size) {
    char timeout[32];
    gw_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    if (!p) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->dr = dr;
    p->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->event_fd < 0) {
        errstr_fmt(0, errstr, errstr_size, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (!(conf = kafka_conf_new(cfg, errstr, errstr_size)))
        goto fail;
    snprintf(timeout, sizeof(timeout), "%d", ack_timeout_ms);
    if (kafka_conf_default(conf, cfg, "linger.ms", GW_PRODUCER_LINGER_MS, errstr,
                           errstr_size) < 0 ||
        kafka_conf_default(conf, cfg, "partitioner", "murmur2_random", errstr, errstr_size) < 0 ||
        /* the topic's max.message.bytes is the limit (hookpipectl sizes it
         * for the integration's body limit), not librdkafka's 1,000,000:
         * a larger record is refused by the broker and answered 413 */
        kafka_conf_default(conf, cfg, "message.max.bytes", GW_PRODUCER_MESSAGE_MAX, errstr,
                           errstr_size) < 0 ||
        kafka_conf_default(conf, cfg, "client.id", "hookpipe-gateway", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "acks", "all", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "message.timeout.ms", timeout, errstr, errstr_size) < 0)
        goto fail;
    if (kafka_cfg_get(cfg, "enable.idempotence") || kafka_cfg_get(cfg, "acks"))
        log_warn("kafka.enable.idempotence and kafka.acks are fixed (true, all): no 2xx "
                 "without durable records");
    rd_kafka_conf_set_dr_msg_cb(conf, gw_producer_dr_cb);
    rd_kafka_conf_set_error_cb(conf, gw_producer_error_cb);
    rd_kafka_conf_set_opaque(conf, p);
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)))
        goto fail;
    /* librdkafka writes to the fd when its queue of reports (and errors)
     * turns non-empty */
    static const uint64_t one = 1;
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(q, p->event_fd, &one, sizeof(one));
    rd_kafka_queue_destroy(q);
    return p;
fail:
    if (conf && !p->rk)
        rd_kafka_conf_destroy(conf);
    gw_producer_destroy(p);
    return NULL;
}

int gw_producer_fd(gw_producer_t *p) { return p->event_fd; }

void gw_producer_serve(gw_producer_t *p) {
    uint64_t n;
    /* cleared first: a report queued after this read signals again */
    if (read(p->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn("kafka producer: reading its event fd: %s", strerror(errno));
    rd_kafka_poll(p->rk, 0);
}

rd_kafka_t *gw_producer_rk(gw_producer_t *p) { return p->rk; }

long long gw_producer_queue_len(gw_producer_t *p) { return rd_kafka_outq_len(p->rk); }

long long gw_producer_flush(gw_producer_t *p, int timeout_ms) {
    rd_kafka_flush(p->rk, timeout_ms);
    long long left = rd_kafka_outq_len(p->rk);
    if (left > 0) {
        /* give every message left its (failed) delivery report, so that
         * whoever waits on it is released */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
    }
    return left;
}

void gw_producer_destroy(gw_producer_t *p) {
    if (!p)
        return;
    if (p->rk)
        rd_kafka_destroy(p->rk);
    /* after the handle: librdkafka may signal it until then */
    if (p->event_fd >= 0)
        close(p->event_fd);
    free(p);
}
