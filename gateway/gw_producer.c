/* gw_producer: producer set-up, poll thread, flush. */
#include "gw_producer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_metrics.h"
#include "kafka.h"
#include "log.h"

struct gw_producer {
    rd_kafka_t *rk;
    gw_producer_dr_fn dr;
    gw_producer_tick_fn tick;
    void *tick_opaque;
    pthread_t thread;
    int started;
    atomic_int stop;
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

/* Is a kafka.* property given in the configuration? */
static int gw_producer_given(const cfg_t *cfg, const char *name) {
    for (size_t i = 0; cfg && i < cfg_kafka_count(cfg); i++) {
        const char *n, *v;
        cfg_kafka_get(cfg, i, &n, &v);
        if (strcmp(n, name) == 0)
            return 1;
    }
    return 0;
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
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->dr = dr;
    if (!(conf = kafka_conf_new(cfg, errstr, errstr_size)))
        goto fail;
    snprintf(timeout, sizeof(timeout), "%d", ack_timeout_ms);
    if ((!gw_producer_given(cfg, "linger.ms") &&
         kafka_conf_set(conf, "linger.ms", GW_PRODUCER_LINGER_MS, errstr, errstr_size) < 0) ||
        (!gw_producer_given(cfg, "partitioner") &&
         kafka_conf_set(conf, "partitioner", "murmur2_random", errstr, errstr_size) < 0) ||
        /* the topic's max.message.bytes is the limit (hookpipectl sizes it
         * for the integration's body limit), not librdkafka's 1,000,000:
         * a larger record is refused by the broker and answered 413 */
        (!gw_producer_given(cfg, "message.max.bytes") &&
         kafka_conf_set(conf, "message.max.bytes", GW_PRODUCER_MESSAGE_MAX, errstr,
                        errstr_size) < 0) ||
        (!gw_producer_given(cfg, "client.id") &&
         kafka_conf_set(conf, "client.id", "hookpipe-gateway", errstr, errstr_size) < 0) ||
        kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "acks", "all", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "message.timeout.ms", timeout, errstr, errstr_size) < 0)
        goto fail;
    if (gw_producer_given(cfg, "enable.idempotence") || gw_producer_given(cfg, "acks"))
        log_warn("kafka.enable.idempotence and kafka.acks are fixed (true, all): no 2xx "
                 "without durable records");
    rd_kafka_conf_set_dr_msg_cb(conf, gw_producer_dr_cb);
    rd_kafka_conf_set_error_cb(conf, gw_producer_error_cb);
    rd_kafka_conf_set_opaque(conf, p);
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)))
        goto fail;
    return p;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
}

static int64_t gw_producer_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* rd_kafka_poll() returns after every batch of delivery reports, which
 * under load is thousands of times a second; the timer (a scan of every
 * waiting request) runs only every GW_PRODUCER_TICK_MS. */
#define GW_PRODUCER_TICK_MS 10

static void *gw_producer_run(void *arg) {
    gw_producer_t *p = arg;
    int64_t last = 0;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 20);
        int64_t now = gw_producer_mono_ms();
        if (p->tick && now - last >= GW_PRODUCER_TICK_MS) {
            last = now;
            p->tick(p->tick_opaque);
        }
    }
    return NULL;
}

int gw_producer_start(gw_producer_t *p, gw_producer_tick_fn tick, void *tick_opaque,
                      char *errstr, size_t errstr_size) {
    p->tick = tick;
    p->tick_opaque = tick_opaque;
    if (pthread_create(&p->thread, NULL, gw_producer_run, p) != 0) {
        snprintf(errstr, errstr_size, "cannot start the producer thread");
        return -1;
    }
    p->started = 1;
    return 0;
}

rd_kafka_t *gw_producer_rk(gw_producer_t *p) { return p->rk; }

long long gw_producer_queue_len(gw_producer_t *p) { return rd_kafka_outq_len(p->rk); }

static void gw_producer_stop(gw_producer_t *p) {
    if (!p->started)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    p->started = 0;
}

long long gw_producer_flush(gw_producer_t *p, int timeout_ms) {
    gw_producer_stop(p);
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
    gw_producer_stop(p);
    rd_kafka_destroy(p->rk);
    free(p);
}
