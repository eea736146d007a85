/* sink_kprod: the tracking producer (durable = acknowledged, per source offset). */
#include "sink_kprod.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "kafka.h"

/* Source offsets of one source partition in produce order; an entry is done
 * once Kafka acknowledged it. Acknowledgements may arrive out of order when
 * one source partition feeds several output partitions, hence flags, not a
 * counter. */
typedef struct sink_kprod_entry {
    int64_t offset;
    int done;
} sink_kprod_entry_t;

typedef struct sink_kprod_track {
    char *topic;
    int32_t partition;
    sink_kprod_entry_t *ring;
    size_t cap, head, n;
    uint64_t base_seq;          /* sequence number of ring[head] */
} sink_kprod_track_t;

/* The opaque of each produced message; freed by the delivery report. */
typedef struct sink_kprod_msg {
    sink_kprod_track_t *tr;
    uint64_t seq;
} sink_kprod_msg_t;

struct sink_kprod {
    rd_kafka_t *rk;
    sink_kprod_track_t **tracks;
    size_t ntracks;
    sink_kprod_track_t *last;   /* lookup cache: records come in runs */
    int failed;
    char failure[512];
};

static void sink_kprod_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    (void)rk;
    sink_kprod_t *kp = opaque;
    sink_kprod_msg_t *m = rkm->_private;
    if (rkm->err) {
        if (!kp->failed)
            snprintf(kp->failure, sizeof(kp->failure), "delivery to %s [%d] failed: %s",
                     rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                     rd_kafka_err2str(rkm->err));
        kp->failed = 1;
    } else if (m) {
        sink_kprod_track_t *tr = m->tr;
        size_t idx = (size_t)(m->seq - tr->base_seq);
        if (m->seq >= tr->base_seq && idx < tr->n)
            tr->ring[(tr->head + idx) % tr->cap].done = 1;
        while (tr->n > 0 && tr->ring[tr->head].done) {
            tr->head = (tr->head + 1) % tr->cap;
            tr->n--;
            tr->base_seq++;
        }
    }
    free(m);
}

sink_kprod_t *sink_kprod_new(const cfg_t *cfg, long long message_max_bytes, char *errstr,
                             size_t errstr_size) {
    sink_kprod_t *kp = calloc(1, sizeof(*kp));
    if (!kp) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, errstr, errstr_size);
    if (!conf)
        goto fail;
    /* durability is not configurable: see DESIGN.md */
    if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "acks", "all", errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (message_max_bytes > 0) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", message_max_bytes);
        if (kafka_conf_default(conf, cfg, "message.max.bytes", v, errstr, errstr_size) < 0) {
            rd_kafka_conf_destroy(conf);
            goto fail;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, sink_kprod_dr);
    rd_kafka_conf_set_opaque(conf, kp);
    char why[512];
    kp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!kp->rk) {
        rd_kafka_conf_destroy(conf);
        errstr_fmt(0, errstr, errstr_size, "producer: %s", why);
        goto fail;
    }
    return kp;
fail:
    free(kp);
    return NULL;
}

static sink_kprod_track_t *sink_kprod_track(const sink_kprod_t *kp, const char *topic,
                                            int32_t partition) {
    if (kp->last && kp->last->partition == partition && strcmp(kp->last->topic, topic) == 0)
        return kp->last;
    for (size_t i = 0; i < kp->ntracks; i++)
        if (kp->tracks[i]->partition == partition && strcmp(kp->tracks[i]->topic, topic) == 0)
            return kp->tracks[i];
    return NULL;
}

static sink_kprod_track_t *sink_kprod_track_add(sink_kprod_t *kp, const char *topic,
                                                int32_t partition) {
    sink_kprod_track_t **tracks = realloc(kp->tracks, (kp->ntracks + 1) * sizeof(*tracks));
    if (!tracks)
        return NULL;
    kp->tracks = tracks;
    sink_kprod_track_t *tr = calloc(1, sizeof(*tr));
    if (!tr || !(tr->topic = strdup(topic))) {
        free(tr);
        return NULL;
    }
    tr->partition = partition;
    kp->tracks[kp->ntracks++] = tr;
    return tr;
}

/* Appends an in-flight entry; returns its sequence number via *seq. */
static int sink_kprod_track_push(sink_kprod_track_t *tr, int64_t offset, uint64_t *seq) {
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 256;
        sink_kprod_entry_t *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            return -1;
        for (size_t i = 0; i < tr->n; i++)
            ring[i] = tr->ring[(tr->head + i) % tr->cap];
        free(tr->ring);
        tr->ring = ring;
        tr->cap = cap;
        tr->head = 0;
    }
    tr->ring[(tr->head + tr->n) % tr->cap] = (sink_kprod_entry_t){offset, 0};
    *seq = tr->base_seq + tr->n;
    tr->n++;
    return 0;
}

sink_kprod_rc_t sink_kprod_produce(sink_kprod_t *kp, const char *topic, int32_t partition,
                                   const void *key, size_t key_len, const void *value,
                                   size_t len, rd_kafka_headers_t *headers,
                                   const char *src_topic, int32_t src_partition,
                                   int64_t src_offset, char *errstr, size_t errstr_size) {
    sink_kprod_rc_t rc = SINK_KPROD_FAILED;
    sink_kprod_msg_t *m = NULL;
    if (sink_kprod_poll(kp, errstr, errstr_size) < 0)
        goto fail;
    sink_kprod_track_t *tr = sink_kprod_track(kp, src_topic, src_partition);
    if (!tr && !(tr = sink_kprod_track_add(kp, src_topic, src_partition)))
        goto nomem;
    kp->last = tr;
    if (!(m = malloc(sizeof(*m))))
        goto nomem;
    m->tr = tr;
    if (sink_kprod_track_push(tr, src_offset, &m->seq) < 0)
        goto nomem;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            kp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return SINK_KPROD_OK;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* never queued: take the entry back (it is the newest) */
            tr->n--;
            errstr_fmt(0, errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(err));
            if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                errstr_fmt(0, errstr, errstr_size, "%zu bytes are more than %s takes", len, topic);
                rc = SINK_KPROD_TOO_LARGE;
            }
            goto fail;
        }
        /* the local queue is full: let deliveries drain it, then retry */
        rd_kafka_poll(kp->rk, 100);
        if (sink_kprod_poll(kp, errstr, errstr_size) < 0) {
            tr->n--;
            goto fail;
        }
    }
nomem:
    errstr_fmt(0, errstr, errstr_size, "out of memory");
fail:
    free(m);
    if (headers)
        rd_kafka_headers_destroy(headers);
    return rc;
}

int sink_kprod_poll(sink_kprod_t *kp, char *errstr, size_t errstr_size) {
    rd_kafka_poll(kp->rk, 0);
    if (kp->failed) {
        return errstr_fmt(-1, errstr, errstr_size, "%s", kp->failure);
    }
    return 0;
}

int sink_kprod_flush(sink_kprod_t *kp, int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(kp->rk, timeout_ms);
    if (sink_kprod_poll(kp, errstr, errstr_size) < 0)
        return -1;
    if (err || rd_kafka_outq_len(kp->rk) > 0) {
        errstr_fmt(0, errstr, errstr_size, "%d messages not acknowledged after %d ms",
                 rd_kafka_outq_len(kp->rk), timeout_ms);
        return -1;
    }
    return 0;
}

int64_t sink_kprod_pending(const sink_kprod_t *kp, const char *src_topic, int32_t src_partition) {
    const sink_kprod_track_t *tr = sink_kprod_track(kp, src_topic, src_partition);
    if (!tr || tr->n == 0)
        return -1;
    return tr->ring[tr->head].offset;
}

static void sink_kprod_track_free(sink_kprod_track_t *tr) {
    free(tr->topic);
    free(tr->ring);
    free(tr);
}

void sink_kprod_forget(sink_kprod_t *kp, const char *src_topic) {
    kp->last = NULL;
    for (size_t i = 0; i < kp->ntracks;) {
        if (strcmp(kp->tracks[i]->topic, src_topic) == 0 && kp->tracks[i]->n == 0) {
            sink_kprod_track_free(kp->tracks[i]);
            kp->tracks[i] = kp->tracks[--kp->ntracks];
        } else {
            i++;
        }
    }
}

rd_kafka_t *sink_kprod_rk(sink_kprod_t *kp) {
    return kp->rk;
}

void sink_kprod_destroy(sink_kprod_t *kp) {
    if (!kp)
        return;
    if (kp->rk) {
        /* purged messages still get a delivery report, which frees its opaque */
        rd_kafka_purge(kp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(kp->rk, 5000);
        rd_kafka_destroy(kp->rk);
    }
    for (size_t i = 0; i < kp->ntracks; i++)
        sink_kprod_track_free(kp->tracks[i]);
    free(kp->tracks);
    free(kp);
}
