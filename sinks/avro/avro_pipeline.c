/* avro_pipeline: JSON -> Avro per integration, the registry, dead letters, and an Avro output. */
#include "avro_pipeline.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "log.h"
#include "sink_conv.h"

/* A version the registry refuses is converted again from the latest one at
 * most this many times before the record is dead-lettered. */
#define AVRO_PIPELINE_REGISTER_ATTEMPTS 5

/* Per integration (event topic). */
typedef struct avro_pipeline_topic {
    char *topic;
    char *integration;
    int has_pk;
    sink_conv_t *conv;
    int schema_id;          /* of the converter's current version, -1 none */
    int opened;             /* the output has the current version */
} avro_pipeline_topic_t;

typedef struct avro_pipeline {
    sink_pipeline_t base;   /* first: the consumer sees a sink_pipeline_t */
    sink_registry_t registry;
    sink_target_t *output;
    sink_dlq_t *dlq;
    volatile sig_atomic_t *stop;
    avro_pipeline_topic_t **topics;
    size_t ntopics;
    avro_pipeline_topic_t *last;    /* lookup cache: messages come in runs */
    atomic_ullong n_versions;       /* read by stats from any thread */
} avro_pipeline_t;

/* How a step of a write went. */
typedef enum {
    AVRO_PIPELINE_GO = 0,   /* done: go on */
    AVRO_PIPELINE_REFUSED,  /* the registry refused the version (reason in errstr) */
    AVRO_PIPELINE_STOPPED,  /* the stop flag was set while waiting */
    AVRO_PIPELINE_FAILED    /* fatal, reason in errstr */
} avro_pipeline_step_t;

/* A step that ended the write, as the write's result. */
static sink_pipe_rc_t avro_pipeline_ended(avro_pipeline_step_t st) {
    return st == AVRO_PIPELINE_STOPPED ? SINK_PIPE_STOPPED : SINK_PIPE_FAILED;
}

static int avro_pipeline_stopping(const avro_pipeline_t *ap) {
    return ap->stop && *ap->stop;
}

/* Waits about a second between registry attempts, serving the output and
 * the dead-letter producer meanwhile. AVRO_PIPELINE_GO to go on, else
 * AVRO_PIPELINE_STOPPED or AVRO_PIPELINE_FAILED (errstr). */
static avro_pipeline_step_t avro_pipeline_wait(avro_pipeline_t *ap, char *errstr,
                                               size_t errstr_size) {
    for (int i = 0; i < 10 && !avro_pipeline_stopping(ap); i++) {
        char e[256];
        sink_dlq_wait(ap->dlq, 100);
        if (ap->output->ops->poll(ap->output, e, sizeof(e)) < 0)
            return errstr_fmt(AVRO_PIPELINE_FAILED, errstr, errstr_size, "target: %s", e);
    }
    return avro_pipeline_stopping(ap) ? AVRO_PIPELINE_STOPPED : AVRO_PIPELINE_GO;
}

/* Makes the latest version registered under the topic's subject the
 * converter's current one (a fresh converter keeps version 0 if there is
 * none, or if it is not ours to continue). AVRO_PIPELINE_GO when done,
 * else AVRO_PIPELINE_STOPPED or AVRO_PIPELINE_FAILED (errstr). */
static avro_pipeline_step_t avro_pipeline_seed(avro_pipeline_t *ap, avro_pipeline_topic_t *tp,
                                               char *errstr, size_t errstr_size) {
    char subject[512], err[512];
    snprintf(subject, sizeof(subject), "%s-value", tp->topic);
    for (int attempt = 0;; attempt++) {
        int id = -1;
        char *text = NULL;
        sink_reg_rc_t rc = ap->registry.latest(ap->registry.opaque, subject, &id, &text, err,
                                               sizeof(err));
        if (rc == SINK_REG_OK) {
            int lr = sink_conv_load(tp->conv, text, err, sizeof(err));
            free(text);
            if (lr == 0) {
                tp->schema_id = id;
                tp->opened = 0;
                log_info("%s: continuing from schema id %d", subject, id);
                return AVRO_PIPELINE_GO;
            }
            log_warn("%s: latest schema (id %d) not loadable, inferring afresh: %s", subject,
                     id, err);
            return AVRO_PIPELINE_GO;
        }
        free(text);
        if (rc == SINK_REG_NOT_FOUND || rc == SINK_REG_REFUSED)
            return AVRO_PIPELINE_GO;
        if (attempt % 10 == 0)
            log_warn("%s: registry: %s (retrying)", subject, err);
        avro_pipeline_step_t w = avro_pipeline_wait(ap, errstr, errstr_size);
        if (w != AVRO_PIPELINE_GO)
            return w;
    }
}

/* Registers the converter's new version; waits while the registry is
 * unreachable. AVRO_PIPELINE_GO when registered, AVRO_PIPELINE_REFUSED when
 * refused (the registry's reason in errstr), else AVRO_PIPELINE_STOPPED or
 * AVRO_PIPELINE_FAILED (errstr). */
static avro_pipeline_step_t avro_pipeline_register(avro_pipeline_t *ap,
                                                   avro_pipeline_topic_t *tp, char *errstr,
                                                   size_t errstr_size) {
    char subject[512];
    snprintf(subject, sizeof(subject), "%s-value", tp->topic);
    const char *text = sink_conv_schema_text(tp->conv);
    for (int attempt = 0;; attempt++) {
        int id = -1;
        sink_reg_rc_t rc = ap->registry.register_schema(ap->registry.opaque, subject, text, &id,
                                                        errstr, errstr_size);
        if (rc == SINK_REG_OK) {
            tp->schema_id = id;
            tp->opened = 0;
            atomic_fetch_add_explicit(&ap->n_versions, 1, memory_order_relaxed);
            log_info("%s: version %d registered as schema id %d", subject,
                     sink_conv_version(tp->conv), id);
            return AVRO_PIPELINE_GO;
        }
        if (rc == SINK_REG_REFUSED || rc == SINK_REG_NOT_FOUND)
            return AVRO_PIPELINE_REFUSED;
        if (attempt % 10 == 0)
            log_warn("%s: registry: %s (retrying)", subject, errstr);
        avro_pipeline_step_t w = avro_pipeline_wait(ap, errstr, errstr_size);
        if (w != AVRO_PIPELINE_GO)
            return w;
    }
}

/* A new converter for the topic, continuing from the registry. */
static avro_pipeline_step_t avro_pipeline_reset(avro_pipeline_t *ap, avro_pipeline_topic_t *tp,
                                                char *errstr, size_t errstr_size) {
    char e[256];
    sink_conv_t *fresh = sink_conv_new(tp->integration, tp->has_pk, NULL, e, sizeof(e));
    if (!fresh)
        return errstr_fmt(AVRO_PIPELINE_FAILED, errstr, errstr_size, "%s: %s", tp->topic, e);
    sink_conv_destroy(tp->conv);
    tp->conv = fresh;
    tp->schema_id = -1;
    tp->opened = 0;
    return avro_pipeline_seed(ap, tp, errstr, errstr_size);
}

static void avro_pipeline_topic_free(avro_pipeline_topic_t *tp) {
    if (!tp)
        return;
    sink_conv_destroy(tp->conv);
    free(tp->topic);
    free(tp->integration);
    free(tp);
}

/* The state of msg's topic, made (and seeded from the registry) on its
 * first message. AVRO_PIPELINE_GO and *out, else AVRO_PIPELINE_STOPPED or
 * AVRO_PIPELINE_FAILED (errstr). */
static avro_pipeline_step_t avro_pipeline_topic(avro_pipeline_t *ap, const sink_msg_t *msg,
                                                avro_pipeline_topic_t **out, char *errstr,
                                                size_t errstr_size) {
    if (ap->last && strcmp(ap->last->topic, msg->topic) == 0) {
        *out = ap->last;
        return AVRO_PIPELINE_GO;
    }
    for (size_t i = 0; i < ap->ntopics; i++) {
        if (strcmp(ap->topics[i]->topic, msg->topic) == 0) {
            *out = ap->last = ap->topics[i];
            return AVRO_PIPELINE_GO;
        }
    }
    avro_pipeline_topic_t **topics = realloc(ap->topics, (ap->ntopics + 1) * sizeof(*topics));
    if (!topics)
        return errstr_fmt(AVRO_PIPELINE_FAILED, errstr, errstr_size, "out of memory");
    ap->topics = topics;
    avro_pipeline_topic_t *tp = calloc(1, sizeof(*tp));
    if (!tp || !(tp->topic = strdup(msg->topic)) ||
        !(tp->integration = strdup(msg->integration))) {
        avro_pipeline_topic_free(tp);
        return errstr_fmt(AVRO_PIPELINE_FAILED, errstr, errstr_size, "out of memory");
    }
    tp->has_pk = msg->npk > 0;
    tp->schema_id = -1;
    char e[256];
    if (!(tp->conv = sink_conv_new(tp->integration, tp->has_pk, NULL, e, sizeof(e)))) {
        avro_pipeline_topic_free(tp);
        return errstr_fmt(AVRO_PIPELINE_FAILED, errstr, errstr_size, "%s: %s", msg->topic, e);
    }
    ap->topics[ap->ntopics++] = tp;
    *out = ap->last = tp;
    return avro_pipeline_seed(ap, tp, errstr, errstr_size);
}

/* Sends msg to the dead-letter topic: SINK_PIPE_REJECTED, or
 * SINK_PIPE_FAILED (errstr). */
static sink_pipe_rc_t avro_pipeline_reject(avro_pipeline_t *ap, const sink_msg_t *msg,
                                           const char *reason, char *errstr,
                                           size_t errstr_size) {
    char e[512];
    if (sink_dlq_send(ap->dlq, msg, reason, e, sizeof(e)) < 0)
        return errstr_fmt(SINK_PIPE_FAILED, errstr, errstr_size, "dead letter: %s", e);
    return SINK_PIPE_REJECTED;
}

static sink_pipe_start_t avro_pipeline_assigned(sink_pipeline_t *p, const char *topic,
                                                int32_t partition, int64_t *next, char *errstr,
                                                size_t errstr_size) {
    /* nothing is stored with the outputs: Kafka's committed offsets rule */
    (void)p, (void)topic, (void)partition, (void)next, (void)errstr, (void)errstr_size;
    return SINK_PIPE_START_NONE;
}

static sink_pipe_rc_t avro_pipeline_write(sink_pipeline_t *p, const sink_msg_t *msg,
                                          char *errstr, size_t errstr_size) {
    avro_pipeline_t *ap = (avro_pipeline_t *)p;
    char err[512], reason[512];
    avro_pipeline_topic_t *tp = NULL;
    avro_pipeline_step_t st = avro_pipeline_topic(ap, msg, &tp, errstr, errstr_size);
    if (st != AVRO_PIPELINE_GO)
        return avro_pipeline_ended(st);
    int rc = SINK_REJECT;
    if (!msg->value)
        snprintf(reason, sizeof(reason), "message has no value");
    else
        rc = sink_conv_record(tp->conv, msg->value, msg->value_len, msg->sys, reason,
                              sizeof(reason));
    if (rc == SINK_FAIL) {
        /* deterministic for this record more often than not (an avro-c
         * error): stopping would stall the partition for ever */
        char tmp[sizeof(reason)];
        memcpy(tmp, reason, sizeof(tmp));
        snprintf(reason, sizeof(reason), "conversion failed: %.400s", tmp);
        rc = SINK_REJECT;
    }
    /* a version the registry refused is converted again from the latest
     * registered one: another sink may have registered it meanwhile */
    for (int attempt = 0; rc == SINK_NEW_VERSION; attempt++) {
        st = avro_pipeline_register(ap, tp, err, sizeof(err));
        if (st == AVRO_PIPELINE_GO)
            break;
        if (st != AVRO_PIPELINE_REFUSED)
            return errstr_fmt(avro_pipeline_ended(st), errstr, errstr_size, "%s", err);
        log_warn("%s: version %d refused by the registry (%s): reloading the latest",
                 tp->topic, sink_conv_version(tp->conv), err);
        st = avro_pipeline_reset(ap, tp, errstr, errstr_size);
        if (st != AVRO_PIPELINE_GO)
            return avro_pipeline_ended(st);
        if (attempt + 1 >= AVRO_PIPELINE_REGISTER_ATTEMPTS) {
            snprintf(reason, sizeof(reason), "schema registration refused: %.400s", err);
            rc = SINK_REJECT;
            break;
        }
        rc = sink_conv_record(tp->conv, msg->value, msg->value_len, msg->sys, reason,
                              sizeof(reason));
        if (rc == SINK_FAIL)
            return errstr_fmt(SINK_PIPE_FAILED, errstr, errstr_size, "%s: %s", tp->topic,
                              reason);
    }
    if (rc == SINK_REJECT)
        return avro_pipeline_reject(ap, msg, reason, errstr, errstr_size);

    const char *text = sink_conv_schema_text(tp->conv);
    sink_schema_t schema = {tp->schema_id, text, strlen(text)};
    if (!tp->opened) {
        if (ap->output->ops->open(ap->output, tp->topic, tp->integration, &schema, err,
                                  sizeof(err)) < 0)
            return errstr_fmt(SINK_PIPE_FAILED, errstr, errstr_size, "target open: %s", err);
        tp->opened = 1;
    }
    const void *avro;
    size_t avro_len;
    if (sink_conv_encode(tp->conv, -1, &avro, &avro_len, err, sizeof(err)) < 0)
        return errstr_fmt(SINK_PIPE_FAILED, errstr, errstr_size, "encode: %s", err);
    sink_rec_t rec = {
        .topic = tp->topic, .integration = tp->integration, .partition = msg->partition,
        .offset = msg->offset, .timestamp_ms = msg->timestamp_ms, .key = msg->key,
        .key_len = msg->key_len, .headers = msg->headers, .schema = &schema, .avro = avro,
        .avro_len = avro_len,
    };
    switch (ap->output->ops->write(ap->output, &rec, err, sizeof(err))) {
    case SINK_TARGET_OK:
        return SINK_PIPE_WRITTEN;
    case SINK_TARGET_REFUSED:
        snprintf(reason, sizeof(reason), "target %s refused the record: %.400s",
                 ap->output->ops->name, err);
        return avro_pipeline_reject(ap, msg, reason, errstr, errstr_size);
    default:
        return errstr_fmt(SINK_PIPE_FAILED, errstr, errstr_size, "target write: %s", err);
    }
}

static int avro_pipeline_poll(sink_pipeline_t *p, char *errstr, size_t errstr_size) {
    avro_pipeline_t *ap = (avro_pipeline_t *)p;
    return ap->output->ops->poll(ap->output, errstr, errstr_size);
}

static int64_t avro_pipeline_pending(sink_pipeline_t *p, const char *topic, int32_t partition) {
    avro_pipeline_t *ap = (avro_pipeline_t *)p;
    return ap->output->ops->pending(ap->output, topic, partition);
}

static int avro_pipeline_flush(sink_pipeline_t *p, char *errstr, size_t errstr_size) {
    avro_pipeline_t *ap = (avro_pipeline_t *)p;
    return ap->output->ops->flush(ap->output, errstr, errstr_size);
}

/* The converter stays (the topic may come back, continuing its versions);
 * the output forgets the topic and is opened again on its next record. */
static void avro_pipeline_revoked(sink_pipeline_t *p, const char *topic) {
    avro_pipeline_t *ap = (avro_pipeline_t *)p;
    for (size_t i = 0; i < ap->ntopics; i++) {
        avro_pipeline_topic_t *tp = ap->topics[i];
        if (strcmp(tp->topic, topic) == 0 && tp->opened) {
            ap->output->ops->close(ap->output, topic);
            tp->opened = 0;
        }
    }
}

static void avro_pipeline_stats(const sink_pipeline_t *p, sink_pipeline_stats_t *out) {
    const avro_pipeline_t *ap = (const avro_pipeline_t *)p;
    out->versions = atomic_load_explicit(&ap->n_versions, memory_order_relaxed);
}

static void avro_pipeline_destroy(sink_pipeline_t *p) {
    avro_pipeline_t *ap = (avro_pipeline_t *)p;
    if (!ap)
        return;
    for (size_t i = 0; i < ap->ntopics; i++)
        avro_pipeline_topic_free(ap->topics[i]);
    free(ap->topics);
    if (ap->output)
        ap->output->ops->destroy(ap->output);
    free(ap);
}

static const sink_pipeline_ops_t avro_pipeline_ops = {
    .name = "avro",
    .assigned = avro_pipeline_assigned,
    .write = avro_pipeline_write,
    .poll = avro_pipeline_poll,
    .pending = avro_pipeline_pending,
    .flush = avro_pipeline_flush,
    .revoked = avro_pipeline_revoked,
    .stats = avro_pipeline_stats,
    .destroy = avro_pipeline_destroy,
};

sink_pipeline_t *avro_pipeline_new(const avro_pipeline_conf_t *conf, char *errstr,
                                   size_t errstr_size) {
    avro_pipeline_t *ap = calloc(1, sizeof(*ap));
    if (!ap) {
        if (conf->output)
            conf->output->ops->destroy(conf->output);
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    ap->base.ops = &avro_pipeline_ops;
    ap->output = conf->output;
    if (!conf->output || !conf->dlq || !conf->registry.register_schema ||
        !conf->registry.latest) {
        avro_pipeline_destroy(&ap->base);
        errstr_fmt(0, errstr, errstr_size, "an output, a dead-letter producer and a registry "
                                           "are required");
        return NULL;
    }
    ap->registry = conf->registry;
    ap->dlq = conf->dlq;
    ap->stop = conf->stop;
    atomic_init(&ap->n_versions, 0);
    return &ap->base;
}
