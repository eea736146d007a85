/* ktable: a compacted topic read once to its end or followed live (see
 * ktable.h). */
#include "ktable.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errstr.h"
#include "kafka.h"
#include "log.h"

static int64_t ktable_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ktable_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

rd_kafka_conf_t *ktable_conf_new(const cfg_t *cfg, const char *group_id, char *errstr,
                                 size_t errstr_size) {
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) < 0 ||
        kafka_conf_default(conf, cfg, "group.id", group_id, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* Hands one consumed record to the callback; keyless ones are skipped. */
static int ktable_deliver(const char *topic, const rd_kafka_message_t *rkm, ktable_cb_t *cb,
                          void *opaque) {
    if (!rkm->key || !rkm->key_len) {
        log_warn("%s: record at offset %lld has no key, ignored", topic, (long long)rkm->offset);
        return 0;
    }
    ktable_rec_t rec = {.key = rkm->key,
                        .key_len = rkm->key_len,
                        .value = rkm->payload,
                        .value_len = rkm->payload ? rkm->len : 0,
                        .partition = rkm->partition,
                        .offset = rkm->offset};
    return cb(opaque, &rec);
}

ktable_err_t ktable_read(rd_kafka_t *rk, const char *topic, const ktable_read_opts_t *opts,
                         ktable_cb_t *cb, void *opaque, char *errstr, size_t errstr_size) {
    char last[256] = "";
    ktable_err_t rc = KTABLE_EKAFKA;
    int pending = 0;
    int parts = kafka_topic_partitions(rk, topic, opts->request_ms, errstr, errstr_size);
    if (parts < 0)
        return KTABLE_EKAFKA;
    if (parts == 0)
        return KTABLE_ENOTOPIC;
    int64_t *end = calloc((size_t)parts, sizeof(*end));
    int64_t *eof_by = calloc((size_t)parts, sizeof(*eof_by));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    if (!end || !eof_by || !list) {
        rc = KTABLE_ENOMEM;
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        goto out;
    }
    /* the end as of the call: later records are not waited for */
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, opts->request_ms);
        if (err) {
            errstr_fmt(-1, errstr, errstr_size, "cannot read the end offset of %s [%d]: %s",
                       topic, p, rd_kafka_err2str(err));
            goto out;
        }
        if (hi > lo) {
            end[p] = hi;
            pending++;
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    if (!pending) {
        rc = KTABLE_OK;
        goto out;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    if (err) {
        errstr_fmt(-1, errstr, errstr_size, "cannot read %s: %s", topic, rd_kafka_err2str(err));
        goto out;
    }
    int64_t now = ktable_now_ms();
    /* stall_ms bounds a stall, not the whole read: a long log is fine */
    int64_t stall_by = now + opts->stall_ms, total_by = now + opts->total_ms;
    while (pending > 0) {
        if ((opts->stall_ms && now > stall_by) || (opts->total_ms && now > total_by)) {
            rc = KTABLE_ETIMEOUT;
            errstr_fmt(-1, errstr, errstr_size, "reading %s: %s %d ms%s%s%s", topic,
                       opts->stall_ms && now > stall_by ? "no progress within" : "not at its end after",
                       opts->stall_ms && now > stall_by ? opts->stall_ms : opts->total_ms,
                       last[0] ? " (last error: " : "", last, last[0] ? ")" : "");
            goto out;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        now = ktable_now_ms();
        /* a partition that ended short of its watermark had its grace */
        for (int q = 0; q < parts; q++) {
            if (end[q] && eof_by[q] && now > eof_by[q]) {
                end[q] = 0;
                pending--;
            }
        }
        if (!rkm)
            continue;
        int p = rkm->partition;
        if (p < 0 || p >= parts || !end[p]) {
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the EOF's offset says where the reader is (see ktable.h) */
            if (!opts->eof_grace_ms || rkm->offset >= end[p]) {
                end[p] = 0;
                pending--;
            } else if (!eof_by[p]) {
                eof_by[p] = now + opts->eof_grace_ms;
            }
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (rkm->err) {
            /* the client retries transient errors; keep the reason for a timeout */
            snprintf(last, sizeof(last), "%s", rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        stall_by = now + opts->stall_ms;
        if (rkm->offset + 1 >= end[p]) {
            end[p] = 0;
            pending--;
        }
        int stop = ktable_deliver(topic, rkm, cb, opaque);
        rd_kafka_message_destroy(rkm);
        if (stop) {
            rc = KTABLE_ESTOPPED;
            goto out;
        }
    }
    rc = KTABLE_OK;
out:
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    free(end);
    free(eof_by);
    return rc;
}

struct ktable {
    rd_kafka_t *rk;
    ktable_follow_opts_t o;     /* o.topic points to topic */
    char *topic;
    pthread_t thread;
    int started;
    atomic_int kafka_ok;

    pthread_mutex_t mu;         /* everything below */
    pthread_cond_t cond;        /* progress, or stop */
    int64_t next;               /* offset of the next record to hand over */
    int64_t start_end;          /* watermark when found (KTABLE_READY_AT_END); -1 = unknown */
    int caught_up, stop;
    long long handed;           /* records handed over before catching up */
};

/* Under kt->mu: moves the position to `next` and decides caught up. */
static void ktable_advance(ktable_t *kt, int64_t next, int eof) {
    if (next > kt->next)
        kt->next = next;
    if (!kt->caught_up &&
        ((kt->o.ready == KTABLE_READY_AT_EOF && eof) ||
         (kt->o.ready == KTABLE_READY_AT_END && kt->start_end >= 0 && kt->next >= kt->start_end))) {
        kt->caught_up = 1;
        log_info("%s: caught up at offset %lld (%lld records)", kt->topic, (long long)kt->next,
                 kt->handed);
    }
    pthread_cond_broadcast(&kt->cond);
}

static int ktable_stopping(ktable_t *kt) {
    pthread_mutex_lock(&kt->mu);
    int stop = kt->stop;
    pthread_mutex_unlock(&kt->mu);
    return stop;
}

/* Finds (or creates) the topic and assigns partition 0 from the start.
 * 0, or -1 after logging why (retried). */
static int ktable_attach(ktable_t *kt) {
    static const char *const configs[] = {"cleanup.policy", "compact", NULL};
    char err[512];
    int n = kafka_topic_partitions(kt->rk, kt->topic, kt->o.request_ms, err, sizeof(err));
    if (n < 0) {
        log_warn("%s: Kafka does not answer (retrying): %s", kt->topic, err);
        return -1;
    }
    if (n == 0 && !kt->o.create) {
        log_warn("%s: no such topic (retrying)", kt->topic);
        return -1;
    }
    /* only a missing topic is created: an existing one needs no right to create */
    if (n == 0 && kafka_topic_ensure(kt->rk, kt->topic, 1, -1, configs, kt->o.request_ms * 5,
                                     err, sizeof(err)) < 0) {
        log_warn("%s: %s (retrying)", kt->topic, err);
        return -1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, kt->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(kt->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        log_warn("%s: assign: %s (retrying)", kt->topic, rd_kafka_err2str(e));
        return -1;
    }
    log_info("following %s from the beginning", kt->topic);
    return 0;
}

static void *ktable_run(void *arg) {
    ktable_t *kt = arg;
    int attached = 0;
    int64_t next_try = 0, next_probe = 0;
    while (!ktable_stopping(kt)) {
        int64_t now = ktable_now_ms();
        if (!attached) {
            /* short sleeps: a stop request is never kept waiting long */
            if (now < next_try) {
                ktable_sleep_ms(100);
                continue;
            }
            if (ktable_attach(kt) < 0) {
                next_try = now + kt->o.retry_ms;
                continue;
            }
            attached = 1;
        }
        if (kt->o.ready == KTABLE_READY_AT_END && !kt->caught_up && kt->start_end < 0) {
            /* right after the topic is created this fails for a moment */
            int64_t lo, hi;
            rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(kt->rk, kt->topic, 0, &lo,
                                                                       &hi, kt->o.request_ms);
            if (err) {
                log_debug("%s: end offset unknown: %s", kt->topic, rd_kafka_err2str(err));
            } else {
                pthread_mutex_lock(&kt->mu);
                kt->start_end = hi;
                ktable_advance(kt, kt->next, 0);
                pthread_mutex_unlock(&kt->mu);
            }
        }
        if (kt->o.probe_ms > 0 && now >= next_probe) {
            int64_t lo, hi;
            rd_kafka_resp_err_t err =
                rd_kafka_query_watermark_offsets(kt->rk, kt->topic, 0, &lo, &hi, 1000);
            if (!!err == atomic_load(&kt->kafka_ok))
                log_msg(err ? LOG_WARN : LOG_INFO, "kafka %s%s", err ? "unreachable: " : "reachable",
                        err ? rd_kafka_err2str(err) : "");
            atomic_store(&kt->kafka_ok, !err);
            next_probe = ktable_now_ms() + kt->o.probe_ms;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(kt->rk, 100);
        if (!rkm)
            continue;
        int64_t next = -1;
        int eof = 0;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            next = rkm->offset;
            eof = 1;
        } else if (rkm->err) {
            log_warn("%s: %s", kt->topic, rd_kafka_message_errstr(rkm));
        } else {
            ktable_deliver(kt->topic, rkm, kt->o.cb, kt->o.opaque);
            next = rkm->offset + 1;
        }
        rd_kafka_message_destroy(rkm);
        if (next < 0)
            continue;
        pthread_mutex_lock(&kt->mu);
        if (!eof && !kt->caught_up)
            kt->handed++;
        ktable_advance(kt, next, eof);
        pthread_mutex_unlock(&kt->mu);
    }
    return NULL;
}

ktable_t *ktable_follow(rd_kafka_conf_t *conf, const ktable_follow_opts_t *opts, char *errstr,
                        size_t errstr_size) {
    char why[512];
    ktable_t *kt = calloc(1, sizeof(*kt));
    if (!kt || !(kt->topic = strdup(opts->topic))) {
        free(kt);
        rd_kafka_conf_destroy(conf);
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        return NULL;
    }
    kt->o = *opts;
    kt->o.topic = kt->topic;
    if (kt->o.retry_ms <= 0)
        kt->o.retry_ms = 1000;
    if (kt->o.request_ms <= 0)
        kt->o.request_ms = 1000;
    kt->start_end = -1;
    kt->kafka_ok = opts->probe_ms > 0 ? 0 : 1;
    pthread_mutex_init(&kt->mu, NULL);
    pthread_cond_init(&kt->cond, NULL);
    if (!(kt->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        rd_kafka_conf_destroy(conf);
        errstr_fmt(-1, errstr, errstr_size, "%s: consumer: %s", kt->topic, why);
        ktable_destroy(kt);
        return NULL;
    }
    if (pthread_create(&kt->thread, NULL, ktable_run, kt) != 0) {
        errstr_fmt(-1, errstr, errstr_size, "%s: cannot start a thread", kt->topic);
        ktable_destroy(kt);
        return NULL;
    }
    kt->started = 1;
    return kt;
}

void ktable_destroy(ktable_t *kt) {
    if (!kt)
        return;
    pthread_mutex_lock(&kt->mu);
    kt->stop = 1;
    pthread_cond_broadcast(&kt->cond);
    pthread_mutex_unlock(&kt->mu);
    if (kt->started)
        pthread_join(kt->thread, NULL);
    if (kt->rk) {
        rd_kafka_consumer_close(kt->rk);
        rd_kafka_destroy(kt->rk);
    }
    pthread_cond_destroy(&kt->cond);
    pthread_mutex_destroy(&kt->mu);
    free(kt->topic);
    free(kt);
}

int ktable_caught_up(ktable_t *kt) {
    pthread_mutex_lock(&kt->mu);
    int c = kt->caught_up;
    pthread_mutex_unlock(&kt->mu);
    return c;
}

int ktable_kafka_ok(ktable_t *kt) { return atomic_load(&kt->kafka_ok); }

int64_t ktable_position(ktable_t *kt) {
    pthread_mutex_lock(&kt->mu);
    int64_t n = kt->next;
    pthread_mutex_unlock(&kt->mu);
    return n;
}

ktable_err_t ktable_wait(ktable_t *kt, int64_t offset, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    ktable_err_t rc = KTABLE_OK;
    pthread_mutex_lock(&kt->mu);
    while (kt->next < offset && !kt->stop)
        if (pthread_cond_timedwait(&kt->cond, &kt->mu, &ts) == ETIMEDOUT) {
            rc = KTABLE_ETIMEOUT;
            break;
        }
    if (rc == KTABLE_OK && kt->next < offset)
        rc = KTABLE_ESTOPPED;
    pthread_mutex_unlock(&kt->mu);
    return rc;
}

ktable_err_t ktable_sync(ktable_t *kt, int timeout_ms, char *errstr, size_t errstr_size) {
    int64_t lo, hi;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(kt->rk, kt->topic, 0, &lo, &hi, timeout_ms);
    if (err) {
        errstr_fmt(-1, errstr, errstr_size, "%s: end offset unknown: %s", kt->topic,
                   rd_kafka_err2str(err));
        return KTABLE_EKAFKA;
    }
    ktable_err_t rc = ktable_wait(kt, hi, timeout_ms);
    if (rc == KTABLE_ETIMEOUT)
        errstr_fmt(-1, errstr, errstr_size, "%s: not at offset %lld within %d ms", kt->topic,
                   (long long)hi, timeout_ms);
    return rc;
}

rd_kafka_t *ktable_consumer(ktable_t *kt) { return kt->rk; }
