/* sink_dlq: dead letters to <topic>.rejected, tracked per source offset. */
#include "sink_dlq.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "event.h"
#include "integ.h"
#include "kafka.h"
#include "log.h"
#include "sink_kprod.h"

#define SINK_DLQ_ADMIN_MS      10000
#define SINK_DLQ_FLUSH_MS      120000
/* a source message the broker took must fit its dead-letter topic: leave
 * the size check to the broker (librdkafka's largest) */
#define SINK_DLQ_MAX_BYTES     1000000000LL

struct sink_dlq {
    sink_kprod_t *kp;
    char **known;           /* dead-letter topics known to exist */
    size_t nknown;
};

sink_dlq_t *sink_dlq_new(const cfg_t *cfg, char *errstr, size_t errstr_size) {
    sink_dlq_t *d = calloc(1, sizeof(*d));
    if (!d) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!(d->kp = sink_kprod_new(cfg, SINK_DLQ_MAX_BYTES, errstr, errstr_size))) {
        free(d);
        return NULL;
    }
    return d;
}

static int sink_dlq_is_known(const sink_dlq_t *d, const char *topic) {
    for (size_t i = 0; i < d->nknown; i++)
        if (strcmp(d->known[i], topic) == 0)
            return 1;
    return 0;
}

/* Makes sure `rejected` (the dead-letter topic of `topic`) exists. */
static int sink_dlq_ensure(sink_dlq_t *d, const char *topic, const char *rejected, char *errstr,
                           size_t errstr_size) {
    if (sink_dlq_is_known(d, rejected))
        return 0;
    /* hookpipectl creates it with the integration; create it only for
     * topics made some other way (so no admin right is needed normally) */
    rd_kafka_t *rk = sink_kprod_rk(d->kp);
    int n = kafka_topic_partitions(rk, rejected, SINK_DLQ_ADMIN_MS, errstr, errstr_size);
    if (n < 0)
        return -1;
    if (n == 0) {
        /* it takes what the source topic took, and the reason header */
        char size[32] = "", why[512];
        long long m = kafka_topic_max_message_bytes(rk, topic, SINK_DLQ_ADMIN_MS, why,
                                                    sizeof(why));
        if (m > 0)
            snprintf(size, sizeof(size), "%lld",
                     m > INT32_MAX - INTEG_TOPIC_HEADROOM ? (long long)INT32_MAX
                                                          : m + INTEG_TOPIC_HEADROOM);
        const char *const configs[] = {"max.message.bytes", size, NULL};
        if (kafka_topic_ensure(rk, rejected, 1, -1, size[0] ? configs : NULL, SINK_DLQ_ADMIN_MS,
                               errstr, errstr_size) < 0)
            return -1;
    }
    char **known = realloc(d->known, (d->nknown + 1) * sizeof(*known));
    if (!known)
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    d->known = known;
    if (!(d->known[d->nknown] = strdup(rejected)))
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    d->nknown++;
    return 0;
}

int sink_dlq_send(sink_dlq_t *d, const sink_msg_t *msg, const char *reason, char *errstr,
                  size_t errstr_size) {
    char rejected[512];
    int n = snprintf(rejected, sizeof(rejected), "%s%s", msg->topic, EVENT_REJECTED_SUFFIX);
    if (n < 0 || (size_t)n >= sizeof(rejected))
        return errstr_fmt(-1, errstr, errstr_size, "%s: topic name too long", msg->topic);
    if (sink_dlq_ensure(d, msg->topic, rejected, errstr, errstr_size) < 0)
        return -1;
    rd_kafka_headers_t *copy =
        msg->headers ? rd_kafka_headers_copy(msg->headers) : rd_kafka_headers_new(1);
    if (!copy)
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    rd_kafka_header_add(copy, EVENT_HDR_REJECT_REASON, -1, reason, -1);
    log_warn("rejected %s [%d] at %lld: %s", msg->topic, (int)msg->partition,
             (long long)msg->offset, reason);
    /* any refusal is fatal here, even "too large" (1): the broker took the
     * source message, so its copy should fit */
    if (sink_kprod_produce(d->kp, rejected, RD_KAFKA_PARTITION_UA, msg->key, msg->key_len,
                           msg->value, msg->value_len, copy, msg->topic, msg->partition,
                           msg->offset, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

int sink_dlq_poll(sink_dlq_t *d, char *errstr, size_t errstr_size) {
    return sink_kprod_poll(d->kp, errstr, errstr_size);
}

void sink_dlq_wait(sink_dlq_t *d, int timeout_ms) {
    rd_kafka_poll(sink_kprod_rk(d->kp), timeout_ms);
}

int64_t sink_dlq_pending(const sink_dlq_t *d, const char *src_topic, int32_t src_partition) {
    return sink_kprod_pending(d->kp, src_topic, src_partition);
}

int sink_dlq_flush(sink_dlq_t *d, char *errstr, size_t errstr_size) {
    return sink_kprod_flush(d->kp, SINK_DLQ_FLUSH_MS, errstr, errstr_size);
}

void sink_dlq_forget(sink_dlq_t *d, const char *src_topic) {
    sink_kprod_forget(d->kp, src_topic);
}

void sink_dlq_destroy(sink_dlq_t *d) {
    if (!d)
        return;
    sink_kprod_destroy(d->kp);
    for (size_t i = 0; i < d->nknown; i++)
        free(d->known[i]);
    free(d->known);
    free(d);
}
