/* sink_kafka_avro: Confluent wire-format records to <topic>.avro. */
#include "sink_kafka_avro.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errstr.h"
#include "kafka.h"
#include "log.h"
#include "sink_kprod.h"

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
    int n = kafka_topic_partitions(rk, tp->out, SINK_KAFKA_AVRO_ADMIN_MS, errstr, errstr_size);
    if (n < 0)
        return -1;
    if (n == 0) {
        int src = kafka_topic_partitions(rk, topic, SINK_KAFKA_AVRO_ADMIN_MS, errstr, errstr_size);
        if (src <= 0) {
            if (src == 0)
                errstr_fmt(0, errstr, errstr_size, "%s: source topic not found", topic);
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
            n = kafka_topic_partitions(rk, tp->out, SINK_KAFKA_AVRO_ADMIN_MS, errstr, errstr_size);
            if (n >= src)
                break;
            if (time(NULL) >= give_up) {
                return errstr_fmt(-1, errstr, errstr_size,
                                  "%s: created, but its %d partitions not seen in %d ms", tp->out,
                                  src, SINK_KAFKA_AVRO_ADMIN_MS);
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
    return errstr_fmt(-1, errstr, errstr_size, "out of memory");
}

static sink_target_rc_t sink_kavro_write(sink_target_t *t, const sink_rec_t *rec,
                                         char *errstr, size_t errstr_size) {
    sink_kavro_t *ka = (sink_kavro_t *)t;
    sink_kavro_topic_t *tp = sink_kavro_topic(ka, rec->topic);
    if (!tp || tp->out_partitions <= 0) {
        errstr_fmt(0, errstr, errstr_size, "%s: write before open", rec->topic);
        return SINK_TARGET_FAILED;
    }
    size_t need = 5 + rec->avro_len;
    if (need > ka->cap) {
        unsigned char *b = realloc(ka->buf, need);
        if (!b) {
            return errstr_fmt(SINK_TARGET_FAILED, errstr, errstr_size, "out of memory");
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
        return SINK_TARGET_REFUSED;
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->headers && !(hdrs = rd_kafka_headers_copy(rec->headers))) {
        return errstr_fmt(SINK_TARGET_FAILED, errstr, errstr_size, "out of memory");
    }
    /* same partition number as the source when the output topic has it
     * (created by us, it always does) */
    int32_t partition = rec->partition % tp->out_partitions;
    switch (sink_kprod_produce(ka->kp, tp->out, partition, rec->key, rec->key_len, ka->buf, need,
                               hdrs, rec->topic, rec->partition, rec->offset, errstr,
                               errstr_size)) {
    case SINK_KPROD_OK:
        return SINK_TARGET_OK;
    case SINK_KPROD_TOO_LARGE:
        return SINK_TARGET_REFUSED;
    default:
        return SINK_TARGET_FAILED;
    }
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
        errstr_fmt(0, errstr, errstr_size, "out of memory");
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
