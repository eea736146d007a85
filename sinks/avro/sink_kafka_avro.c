/* sink_kafka_avro: Confluent wire-format records to <topic>.avro, and the tracking producer. */
#include "sink_kafka_avro.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"

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

#define SINK_KPROD_METADATA_MS 10000

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

static int sink_kprod_cfg_has(const cfg_t *cfg, const char *prop) {
    for (size_t i = 0; cfg && i < cfg_kafka_count(cfg); i++) {
        const char *name, *value;
        cfg_kafka_get(cfg, i, &name, &value);
        if (strcmp(name, prop) == 0)
            return 1;
    }
    return 0;
}

sink_kprod_t *sink_kprod_new(const cfg_t *cfg, long long message_max_bytes, char *errstr,
                             size_t errstr_size) {
    sink_kprod_t *kp = calloc(1, sizeof(*kp));
    if (!kp) {
        snprintf(errstr, errstr_size, "out of memory");
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
    if (message_max_bytes > 0 && !sink_kprod_cfg_has(cfg, "message.max.bytes")) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", message_max_bytes);
        if (kafka_conf_set(conf, "message.max.bytes", v, errstr, errstr_size) < 0) {
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
        snprintf(errstr, errstr_size, "producer: %s", why);
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

int sink_kprod_produce(sink_kprod_t *kp, const char *topic, int32_t partition,
                       const void *key, size_t key_len, const void *value, size_t len,
                       rd_kafka_headers_t *headers, const char *src_topic,
                       int32_t src_partition, int64_t src_offset,
                       char *errstr, size_t errstr_size) {
    int rc = -1;
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
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* never queued: take the entry back (it is the newest) */
            tr->n--;
            snprintf(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(err));
            if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                snprintf(errstr, errstr_size, "%zu bytes are more than %s takes", len, topic);
                rc = 1;
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
    snprintf(errstr, errstr_size, "out of memory");
fail:
    free(m);
    if (headers)
        rd_kafka_headers_destroy(headers);
    return rc;
}

int sink_kprod_poll(sink_kprod_t *kp, char *errstr, size_t errstr_size) {
    rd_kafka_poll(kp->rk, 0);
    if (kp->failed) {
        snprintf(errstr, errstr_size, "%s", kp->failure);
        return -1;
    }
    return 0;
}

int sink_kprod_flush(sink_kprod_t *kp, int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(kp->rk, timeout_ms);
    if (sink_kprod_poll(kp, errstr, errstr_size) < 0)
        return -1;
    if (err || rd_kafka_outq_len(kp->rk) > 0) {
        snprintf(errstr, errstr_size, "%d messages not acknowledged after %d ms",
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

int sink_kprod_partitions(sink_kprod_t *kp, const char *topic, char *errstr,
                          size_t errstr_size) {
    rd_kafka_t *rk = kp->rk;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (!rkt) {
        snprintf(errstr, errstr_size, "%s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, SINK_KPROD_METADATA_MS);
    if (err) {
        snprintf(errstr, errstr_size, "%s: metadata: %s", topic, rd_kafka_err2str(err));
    } else if (md->topic_cnt == 1 &&
               md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        n = 0;
    } else if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
    } else {
        snprintf(errstr, errstr_size, "%s: metadata: %s", topic,
                 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
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

/* ---- the kafka-avro target ---- */

#define SINK_KAFKA_AVRO_FLUSH_MS 120000
#define SINK_KAFKA_AVRO_ADMIN_MS 10000
/* The producer's message.max.bytes: librdkafka's largest. The limit that
 * counts is each output topic's max.message.bytes, checked here before a
 * record is queued (sink_kavro_write): a record the broker refused would
 * fail the producer for good. */
#define SINK_KAFKA_AVRO_MAX_BYTES 1000000000LL
/* The broker's default max.message.bytes: the limit assumed for an output
 * topic whose configuration cannot be read (no DescribeConfigs right). */
#define SINK_KAFKA_AVRO_BROKER_DEFAULT 1048588LL
/* Below a topic's max.message.bytes for the record-batch framing of a
 * batch holding one record (61 bytes of header, varints per record). */
#define SINK_KAFKA_AVRO_FRAMING 512

typedef struct sink_kavro_topic {
    char *topic;                /* source */
    char *out;                  /* <topic>.avro */
    int32_t out_partitions;     /* 0 until the output topic is known */
    long long out_max;          /* its max.message.bytes */
    int schema_id;
} sink_kavro_topic_t;

typedef struct sink_kavro {
    sink_target_t base;
    sink_kprod_t *kp;
    sink_kavro_topic_t **topics;
    size_t ntopics;
    sink_kavro_topic_t *last;   /* lookup cache */
    unsigned char *buf;         /* the wire-format value, reused */
    size_t cap;
} sink_kavro_t;

static sink_kavro_topic_t *sink_kavro_topic(sink_kavro_t *ka, const char *topic) {
    if (ka->last && strcmp(ka->last->topic, topic) == 0)
        return ka->last;
    for (size_t i = 0; i < ka->ntopics; i++)
        if (strcmp(ka->topics[i]->topic, topic) == 0)
            return ka->last = ka->topics[i];
    return NULL;
}

static int sink_kavro_open(sink_target_t *t, const char *topic, const char *integration,
                           const sink_schema_t *schema, char *errstr, size_t errstr_size) {
    (void)integration;
    sink_kavro_t *ka = (sink_kavro_t *)t;
    sink_kavro_topic_t *tp = sink_kavro_topic(ka, topic);
    if (!tp) {
        sink_kavro_topic_t **topics = realloc(ka->topics, (ka->ntopics + 1) * sizeof(*topics));
        if (!topics)
            goto nomem;
        ka->topics = topics;
        tp = calloc(1, sizeof(*tp));
        if (!tp || !(tp->topic = strdup(topic)) || asprintf(&tp->out, "%s.avro", topic) < 0) {
            if (tp)
                free(tp->topic);
            free(tp);
            goto nomem;
        }
        ka->topics[ka->ntopics++] = tp;
    }
    tp->schema_id = schema->id;
    if (tp->out_partitions > 0)
        return 0;
    rd_kafka_t *rk = sink_kprod_rk(ka->kp);
    int n = sink_kprod_partitions(ka->kp, tp->out, errstr, errstr_size);
    if (n < 0)
        return -1;
    if (n == 0) {
        int src = sink_kprod_partitions(ka->kp, topic, errstr, errstr_size);
        if (src <= 0) {
            if (src == 0)
                snprintf(errstr, errstr_size, "%s: source topic not found", topic);
            return -1;
        }
        /* Avro can be larger than the JSON it came from (a double is 8
         * bytes, "1.5" is 3; union branches add one each): twice the
         * source topic's limit, which hookpipectl already sized for twice
         * the body limit (integ.h). A record still too large goes to the
         * dead-letter topic. */
        char why[512], v[32];
        long long src_max = kafka_topic_max_message_bytes(rk, topic, SINK_KAFKA_AVRO_ADMIN_MS,
                                                          why, sizeof(why));
        if (src_max <= 0) {
            log_warn("%s: max.message.bytes unknown (%s): assuming %lld", topic,
                     src_max < 0 ? why : "no topic", SINK_KAFKA_AVRO_BROKER_DEFAULT);
            src_max = SINK_KAFKA_AVRO_BROKER_DEFAULT;
        }
        long long out_max = src_max > INT32_MAX / 2 ? INT32_MAX : 2 * src_max;
        snprintf(v, sizeof(v), "%lld", out_max);
        const char *const configs[] = {"max.message.bytes", v, NULL};
        if (kafka_topic_ensure(rk, tp->out, src, -1, configs, SINK_KAFKA_AVRO_ADMIN_MS, errstr,
                               errstr_size) < 0)
            return -1;
        log_info("created %s with %d partitions, max.message.bytes %lld", tp->out, src,
                 out_max);
        /* produce only once this producer's metadata shows every partition:
         * the first records to a just-created topic's partitions are where
         * an idempotent librdkafka 2.0 producer was seen to report delivery
         * of records that never reached the log, after a broker restart */
        for (time_t give_up = time(NULL) + SINK_KAFKA_AVRO_ADMIN_MS / 1000;;) {
            n = sink_kprod_partitions(ka->kp, tp->out, errstr, errstr_size);
            if (n >= src)
                break;
            if (time(NULL) >= give_up) {
                snprintf(errstr, errstr_size, "%s: created, but its %d partitions not seen in %d ms",
                         tp->out, src, SINK_KAFKA_AVRO_ADMIN_MS);
                return -1;
            }
            usleep(100 * 1000);
        }
        n = src;
        /* (or another sink made it just before, by the same rule); not read
         * back: a new topic's configuration is not described at once */
        tp->out_max = out_max;
    }
    if (tp->out_max <= 0) {
        /* read back: the topic may have been there before, or been made by
         * another sink at the same moment */
        char why[512];
        long long m = kafka_topic_max_message_bytes(rk, tp->out, SINK_KAFKA_AVRO_ADMIN_MS, why,
                                                    sizeof(why));
        if (m <= 0) {
            log_warn("%s: max.message.bytes unknown (%s): assuming %lld", tp->out,
                     m < 0 ? why : "no topic yet", SINK_KAFKA_AVRO_BROKER_DEFAULT);
            m = SINK_KAFKA_AVRO_BROKER_DEFAULT;
        }
        tp->out_max = m;
    }
    tp->out_partitions = n;
    return 0;
nomem:
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
}

static int sink_kavro_write(sink_target_t *t, const sink_rec_t *rec, char *errstr,
                            size_t errstr_size) {
    sink_kavro_t *ka = (sink_kavro_t *)t;
    sink_kavro_topic_t *tp = sink_kavro_topic(ka, rec->topic);
    if (!tp || tp->out_partitions <= 0) {
        snprintf(errstr, errstr_size, "%s: write before open", rec->topic);
        return -1;
    }
    size_t need = 5 + rec->avro_len;
    if (need > ka->cap) {
        unsigned char *b = realloc(ka->buf, need);
        if (!b) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        ka->buf = b;
        ka->cap = need;
    }
    uint32_t id = (uint32_t)tp->schema_id;
    ka->buf[0] = 0;
    ka->buf[1] = (unsigned char)(id >> 24);
    ka->buf[2] = (unsigned char)(id >> 16);
    ka->buf[3] = (unsigned char)(id >> 8);
    ka->buf[4] = (unsigned char)id;
    memcpy(ka->buf + 5, rec->avro, rec->avro_len);
    size_t wire = rec->key_len + need + SINK_KAFKA_AVRO_FRAMING;
    const char *hn;
    const void *hv;
    size_t hl;
    for (size_t i = 0; rec->headers && !rd_kafka_header_get_all(rec->headers, i, &hn, &hv, &hl);
         i++)
        wire += strlen(hn) + hl + 10;
    if ((long long)wire > tp->out_max) {
        /* the broker would refuse it, and a failed delivery stops the
         * producer for good: the record goes to the dead-letter topic */
        snprintf(errstr, errstr_size,
                 "%zu bytes in Avro (with key, headers and framing) are more than %s takes "
                 "(max.message.bytes %lld)", wire, tp->out, tp->out_max);
        return 1;
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->headers && !(hdrs = rd_kafka_headers_copy(rec->headers))) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* same partition number as the source when the output topic has it
     * (created by us, it always does) */
    int32_t partition = rec->partition % tp->out_partitions;
    return sink_kprod_produce(ka->kp, tp->out, partition, rec->key, rec->key_len, ka->buf, need,
                              hdrs, rec->topic, rec->partition, rec->offset, errstr,
                              errstr_size);
}

static int sink_kavro_poll(sink_target_t *t, char *errstr, size_t errstr_size) {
    return sink_kprod_poll(((sink_kavro_t *)t)->kp, errstr, errstr_size);
}

static int64_t sink_kavro_pending(sink_target_t *t, const char *topic, int32_t partition) {
    return sink_kprod_pending(((sink_kavro_t *)t)->kp, topic, partition);
}

static int sink_kavro_flush(sink_target_t *t, char *errstr, size_t errstr_size) {
    return sink_kprod_flush(((sink_kavro_t *)t)->kp, SINK_KAFKA_AVRO_FLUSH_MS, errstr,
                            errstr_size);
}

static void sink_kavro_close(sink_target_t *t, const char *topic) {
    sink_kavro_t *ka = (sink_kavro_t *)t;
    sink_kprod_forget(ka->kp, topic);
    ka->last = NULL;
    for (size_t i = 0; i < ka->ntopics; i++) {
        if (strcmp(ka->topics[i]->topic, topic) == 0) {
            free(ka->topics[i]->topic);
            free(ka->topics[i]->out);
            free(ka->topics[i]);
            ka->topics[i] = ka->topics[--ka->ntopics];
            return;
        }
    }
}

static void sink_kavro_destroy(sink_target_t *t) {
    sink_kavro_t *ka = (sink_kavro_t *)t;
    if (!ka)
        return;
    sink_kprod_destroy(ka->kp);
    for (size_t i = 0; i < ka->ntopics; i++) {
        free(ka->topics[i]->topic);
        free(ka->topics[i]->out);
        free(ka->topics[i]);
    }
    free(ka->topics);
    free(ka->buf);
    free(ka);
}

static const sink_target_ops_t sink_kavro_ops = {
    .name = "kafka-avro",
    .open = sink_kavro_open,
    .write = sink_kavro_write,
    .poll = sink_kavro_poll,
    .pending = sink_kavro_pending,
    .flush = sink_kavro_flush,
    .close = sink_kavro_close,
    .destroy = sink_kavro_destroy,
};

sink_target_t *sink_kafka_avro_new(const cfg_t *cfg, char *errstr, size_t errstr_size) {
    sink_kavro_t *ka = calloc(1, sizeof(*ka));
    if (!ka) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    ka->base.ops = &sink_kavro_ops;
    /* each output topic's own limit is checked in sink_kavro_write */
    if (!(ka->kp = sink_kprod_new(cfg, SINK_KAFKA_AVRO_MAX_BYTES, errstr, errstr_size))) {
        free(ka);
        return NULL;
    }
    return &ka->base;
}
