/* sink_consumer: consumer group, integrations, pipeline hand-over and durable-only commits. */
#include "sink_consumer.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errstr.h"
#include "integ.h"
#include "kafka.h"
#include "ktable.h"
#include "log.h"
#include "rfc3339.h"
#include "sink_record.h"

#define SINK_CONSUMER_INTEG_MS   10000   /* bound on reading hookpipe.integrations */
#define SINK_CONSUMER_REFRESH_MS "5000"  /* topic metadata refresh: new integrations */

/* Per integration (event topic). */
typedef struct sink_consumer_integ {
    char *topic;
    const char *name;       /* inside topic, after the prefix */
    int handed;             /* the pipeline has state for it (since the last revoke) */
    char **pk;              /* its primary-key field names (npk; owned) */
    size_t npk;
} sink_consumer_integ_t;

/* Per assigned partition. */
typedef struct sink_consumer_part {
    char *topic;
    int32_t partition;
    int64_t next;           /* last processed offset + 1; -1 before the first */
    int64_t committed;      /* last offset we committed; -1 none */
} sink_consumer_part_t;

/* Last known primary key of an integration, from hookpipe.integrations. */
typedef struct sink_consumer_pk {
    char *name;
    char **pk;              /* field names, npk of them (0: none or deleted) */
    size_t npk;
} sink_consumer_pk_t;

struct sink_consumer {
    rd_kafka_t *rk;
    sink_pipeline_t *pipeline;
    sink_dlq_t *dlq;              /* NULL: the pipeline never dead-letters */
    sink_consumer_conf_t conf;
    char *group_id, *prefix;
    rd_kafka_conf_t *integ_conf;  /* template for the integrations reader */
    sink_consumer_integ_t **integs;
    size_t ninteg;
    sink_consumer_integ_t *last_integ;     /* lookup cache: messages come in runs */
    sink_consumer_part_t *parts;
    size_t nparts;
    size_t last_part;             /* lookup cache (an index: parts moves) */
    sink_consumer_pk_t *pks;
    size_t npks;
    int fatal;
    char fatal_msg[1024];
    volatile sig_atomic_t *stop;
    long long since_commit;
    int64_t last_commit_ms;
    /* read by the metrics thread */
    atomic_ullong n_consumed, n_written, n_rejected, n_commits, n_commit_errors, n_assigned;
};

#define SINK_CONSUMER_COUNT(c, field) \
    atomic_fetch_add_explicit(&(c)->field, 1, memory_order_relaxed)

static int64_t sink_consumer_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sink_consumer_fatal(sink_consumer_t *c, const char *what, const char *why) {
    if (!c->fatal)
        snprintf(c->fatal_msg, sizeof(c->fatal_msg), "%.200s: %.700s", what, why);
    c->fatal = 1;
}

/* ---- hookpipe.integrations: each integration's primary-key fields ---- */

static void sink_consumer_names_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A copy of v[0..n) in *out (NULL when n is 0). 0, or -1 on out of memory. */
static int sink_consumer_names_dup(char *const *v, size_t n, char ***out) {
    *out = NULL;
    if (n == 0)
        return 0;
    char **d = calloc(n, sizeof(*d));
    if (!d)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(d[i] = strdup(v[i]))) {
            sink_consumer_names_free(d, i);
            return -1;
        }
    }
    *out = d;
    return 0;
}

/* Records name's primary-key fields (pk[0..npk) copied). On out of memory
 * the integration stays unknown, so it is looked up again when needed. */
static void sink_consumer_pk_set(sink_consumer_t *c, const char *name, size_t len,
                                 char *const *pk, size_t npk) {
    char **copy;
    if (sink_consumer_names_dup(pk, npk, &copy) < 0)
        return;
    for (size_t i = 0; i < c->npks; i++) {
        if (strlen(c->pks[i].name) == len && memcmp(c->pks[i].name, name, len) == 0) {
            sink_consumer_names_free(c->pks[i].pk, c->pks[i].npk);
            c->pks[i].pk = copy;
            c->pks[i].npk = npk;
            return;
        }
    }
    sink_consumer_pk_t *pks = realloc(c->pks, (c->npks + 1) * sizeof(*pks));
    if (!pks) {
        sink_consumer_names_free(copy, npk);
        return;
    }
    c->pks = pks;
    if (!(pks[c->npks].name = strndup(name, len))) {
        sink_consumer_names_free(copy, npk);
        return;
    }
    pks[c->npks].pk = copy;
    pks[c->npks].npk = npk;
    c->npks++;
}

/* One record of hookpipe.integrations (ktable_cb_t). */
static int sink_consumer_pk_rec(void *opaque, const ktable_rec_t *rec) {
    sink_consumer_t *c = opaque;
    if (!rec->value) {
        sink_consumer_pk_set(c, rec->key, rec->key_len, NULL, 0);
        return 0;
    }
    char e[256];
    integ_t *in = integ_from_json(rec->value, rec->value_len, e, sizeof(e));
    if (in) {
        sink_consumer_pk_set(c, rec->key, rec->key_len, in->primary_key, in->npk);
        integ_destroy(in);
    }
    return 0;
}

/* Reads hookpipe.integrations from the start to its end (bounded in time)
 * and records each integration's primary-key setting. The end is the
 * first end-of-partition event: an open transaction of hookpipectl's does
 * not hold the sink back (its integration is looked up again when its
 * topic appears). */
static void sink_consumer_pk_scan(sink_consumer_t *c) {
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(c->integ_conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        log_warn("%s: reader: %s", INTEG_TOPIC, why);
        return;
    }
    ktable_read_opts_t opts = {.request_ms = SINK_CONSUMER_INTEG_MS,
                               .total_ms = SINK_CONSUMER_INTEG_MS};
    switch (ktable_read(rk, INTEG_TOPIC, &opts, sink_consumer_pk_rec, c, why, sizeof(why))) {
    case KTABLE_OK:
    case KTABLE_ESTOPPED:
        break;
    case KTABLE_ENOTOPIC:
        log_warn("%s: no such topic (integrations taken as having no primary key)",
                 INTEG_TOPIC);
        break;
    default:
        log_warn("%s: %s (integrations not read taken as having no primary key)", INTEG_TOPIC,
                 why);
        break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The primary-key fields of integration `name` (borrowed from c->pks until
 * the next scan; *npk 0: none). An integration not seen yet (created while
 * we run) makes us read hookpipe.integrations again. */
static char **sink_consumer_pk_of(sink_consumer_t *c, const char *name, size_t *npk) {
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->npks; i++) {
            if (strcmp(c->pks[i].name, name) == 0) {
                *npk = c->pks[i].npk;
                return c->pks[i].pk;
            }
        }
        if (pass == 0)
            sink_consumer_pk_scan(c);
    }
    log_warn("integration %s is not in %s: records get __sdc_primary_key from the key",
             name, INTEG_TOPIC);
    *npk = 0;
    return NULL;
}

/* ---- state ---- */

static void sink_consumer_integ_free(sink_consumer_integ_t *in);

static sink_consumer_integ_t *sink_consumer_integ(sink_consumer_t *c, const char *topic,
                                                  char *errstr, size_t errstr_size) {
    if (c->last_integ && strcmp(c->last_integ->topic, topic) == 0)
        return c->last_integ;
    for (size_t i = 0; i < c->ninteg; i++)
        if (strcmp(c->integs[i]->topic, topic) == 0)
            return c->last_integ = c->integs[i];
    sink_consumer_integ_t **integs = realloc(c->integs, (c->ninteg + 1) * sizeof(*integs));
    if (!integs)
        goto nomem;
    c->integs = integs;
    sink_consumer_integ_t *in = calloc(1, sizeof(*in));
    if (!in)
        goto nomem;
    if (!(in->topic = strdup(topic))) {
        free(in);
        goto nomem;
    }
    in->name = in->topic + strlen(c->prefix);
    size_t npk;
    char **pk = sink_consumer_pk_of(c, in->name, &npk);
    if (sink_consumer_names_dup(pk, npk, &in->pk) < 0) {
        sink_consumer_integ_free(in);
        goto nomem;
    }
    in->npk = npk;
    log_info("integration %s: topic %s, %s", in->name, topic,
             npk > 0 ? "primary key" : "no primary key (__sdc_primary_key)");
    c->integs[c->ninteg++] = in;
    return in;
nomem:
    errstr_fmt(0, errstr, errstr_size, "out of memory");
    return NULL;
}

static void sink_consumer_integ_free(sink_consumer_integ_t *in) {
    sink_consumer_names_free(in->pk, in->npk);
    free(in->topic);
    free(in);
}

static sink_consumer_part_t *sink_consumer_part(sink_consumer_t *c, const char *topic,
                                                int32_t partition) {
    size_t k = c->last_part;
    if (k < c->nparts && c->parts[k].partition == partition &&
        strcmp(c->parts[k].topic, topic) == 0)
        return &c->parts[k];
    for (size_t i = 0; i < c->nparts; i++) {
        if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0) {
            c->last_part = i;
            return &c->parts[i];
        }
    }
    return NULL;
}

/* ---- commits ---- */

/* The offset that may be committed for p: nothing at or after a record that
 * the pipeline or the dead-letter producer has not made durable. */
static int64_t sink_consumer_committable(sink_consumer_t *c, const sink_consumer_part_t *p) {
    int64_t off = p->next;
    int64_t t = c->pipeline->ops->pending(c->pipeline, p->topic, p->partition);
    int64_t d = c->dlq ? sink_dlq_pending(c->dlq, p->topic, p->partition) : -1;
    if (t >= 0 && t < off)
        off = t;
    if (d >= 0 && d < off)
        off = d;
    return off;
}

/* Commits every partition (or those of `only`) that made progress.
 * Synchronous: when it returns 0 the group coordinator has the offsets. */
static int sink_consumer_commit(sink_consumer_t *c, const rd_kafka_topic_partition_list_t *only) {
    if (c->fatal)
        return -1;
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new((int)c->nparts + 1);
    for (size_t i = 0; i < c->nparts; i++) {
        sink_consumer_part_t *p = &c->parts[i];
        if (p->next < 0)
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        int64_t off = sink_consumer_committable(c, p);
        if (off > p->committed)
            rd_kafka_topic_partition_list_add(tpl, p->topic, p->partition)->offset = off;
    }
    int rc = 0;
    if (tpl->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, tpl, 0);
        if (err) {
            log_warn("commit of %d partitions failed: %s (retried later)", tpl->cnt,
                     rd_kafka_err2str(err));
            SINK_CONSUMER_COUNT(c, n_commit_errors);
            rc = -1;
        } else {
            SINK_CONSUMER_COUNT(c, n_commits);
            for (int i = 0; i < tpl->cnt; i++) {
                sink_consumer_part_t *p =
                    sink_consumer_part(c, tpl->elems[i].topic, tpl->elems[i].partition);
                if (p)
                    p->committed = tpl->elems[i].offset;
                log_debug("committed %s [%d] at %lld", tpl->elems[i].topic,
                          (int)tpl->elems[i].partition, (long long)tpl->elems[i].offset);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    c->since_commit = 0;
    c->last_commit_ms = sink_consumer_mono_ms();
    return rc;
}

/* Makes everything durable (pipeline and dead letters). */
static int sink_consumer_flush(sink_consumer_t *c) {
    char err[512];
    if (c->fatal)
        return -1;
    if (c->pipeline->ops->flush(c->pipeline, err, sizeof(err)) < 0) {
        sink_consumer_fatal(c, "target flush", err);
        return -1;
    }
    if (c->dlq && sink_dlq_flush(c->dlq, err, sizeof(err)) < 0) {
        sink_consumer_fatal(c, "dead-letter flush", err);
        return -1;
    }
    return 0;
}

/* Applies an assignment change by the group's protocol: eager replaces the
 * whole assignment, cooperative adds or removes only these partitions. */
static void sink_consumer_assign(sink_consumer_t *c, rd_kafka_t *rk, int assign,
                                 rd_kafka_topic_partition_list_t *tpl) {
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0)
        error = assign ? rd_kafka_incremental_assign(rk, tpl)
                       : rd_kafka_incremental_unassign(rk, tpl);
    else
        err = rd_kafka_assign(rk, assign ? tpl : NULL);
    if (error) {
        sink_consumer_fatal(c, "assignment", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        sink_consumer_fatal(c, "assignment", rd_kafka_err2str(err));
    }
}

/* A pipeline that keeps the next offset with its output (the warehouse,
 * with its rows) starts a newly assigned partition there (the same list
 * goes to assign and incremental_assign). */
static void sink_consumer_stored_offset(sink_consumer_t *c, rd_kafka_topic_partition_t *tp) {
    char err[512];
    int64_t next;
    switch (c->pipeline->ops->assigned(c->pipeline, tp->topic, tp->partition, &next, err,
                                       sizeof(err))) {
    case SINK_PIPE_START_STORED:
        tp->offset = next;
        log_info("%s [%d]: starting at %lld, stored with the rows", tp->topic,
                 (int)tp->partition, (long long)next);
        break;
    case SINK_PIPE_START_NONE:
        break;
    case SINK_PIPE_START_FAILED:
        sink_consumer_fatal(c, "stored offset", err);
        break;
    }
}

static void sink_consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t *tpl, void *opaque) {
    sink_consumer_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < tpl->cnt; i++) {
            sink_consumer_stored_offset(c, &tpl->elems[i]);
            if (sink_consumer_part(c, tpl->elems[i].topic, tpl->elems[i].partition))
                continue;
            sink_consumer_part_t *parts = realloc(c->parts, (c->nparts + 1) * sizeof(*parts));
            char *topic = strdup(tpl->elems[i].topic);
            if (!parts || !topic) {
                free(topic);
                if (parts)
                    c->parts = parts;
                sink_consumer_fatal(c, "assign", "out of memory");
                break;
            }
            c->parts = parts;
            c->parts[c->nparts++] =
                (sink_consumer_part_t){topic, tpl->elems[i].partition, -1, -1};
        }
        log_info("assigned %d partitions", tpl->cnt);
        atomic_store_explicit(&c->n_assigned, c->nparts, memory_order_relaxed);
        sink_consumer_assign(c, rk, 1, tpl);
        return;
    }
    /* revoked (or lost): make what we wrote durable and commit it while we
     * still own the partitions, then forget them */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && sink_consumer_flush(c) == 0)
        sink_consumer_commit(c, tpl);
    for (int i = 0; i < tpl->cnt; i++) {
        sink_consumer_part_t *p =
            sink_consumer_part(c, tpl->elems[i].topic, tpl->elems[i].partition);
        if (!p)
            continue;
        free(p->topic);
        *p = c->parts[--c->nparts];
    }
    /* the pipeline keeps per-topic state only for topics we still read */
    for (size_t i = 0; i < c->ninteg; i++) {
        sink_consumer_integ_t *in = c->integs[i];
        int still = 0;
        for (size_t k = 0; k < c->nparts && !still; k++)
            still = strcmp(c->parts[k].topic, in->topic) == 0;
        if (!still && in->handed && !c->fatal) {
            c->pipeline->ops->revoked(c->pipeline, in->topic);
            if (c->dlq)
                sink_dlq_forget(c->dlq, in->topic);
            in->handed = 0;
        }
    }
    log_info("revoked %d partitions", tpl->cnt);
    atomic_store_explicit(&c->n_assigned, c->nparts, memory_order_relaxed);
    sink_consumer_assign(c, rk, 0, tpl);
}

/* ---- records ---- */

/* Hands one message to the pipeline; every outcome advances the partition
 * (written, or dead-lettered), except a stop or a fatal error. */
static void sink_consumer_process(sink_consumer_t *c, const rd_kafka_message_t *rkm,
                                  int64_t batched_at) {
    char err[512];
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    sink_consumer_part_t *p = sink_consumer_part(c, topic, rkm->partition);
    if (!p) {
        /* a partition given away in a rebalance belongs to another member
         * now: its messages still queued here must not be written twice */
        log_debug("skipped %s [%d] at %lld: not assigned", topic, (int)rkm->partition,
                  (long long)rkm->offset);
        return;
    }
    sink_consumer_integ_t *in = sink_consumer_integ(c, topic, err, sizeof(err));
    if (!in) {
        sink_consumer_fatal(c, topic, err);
        return;
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = NULL;
    sink_sys_t sys;
    sink_record_from_message(rkm, hdrs, batched_at, &sys);
    rd_kafka_timestamp_type_t tstype;
    sink_msg_t msg = {
        .topic = in->topic, .integration = in->name, .partition = rkm->partition,
        .offset = rkm->offset, .timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype),
        .key = rkm->key, .key_len = rkm->key_len, .value = rkm->payload,
        .value_len = rkm->len, .headers = hdrs, .pk = (const char *const *)in->pk,
        .npk = in->npk, .sys = &sys,
    };
    /* the pipeline forgets a topic we no longer read (sink_consumer_rebalance) */
    in->handed = 1;
    switch (c->pipeline->ops->write(c->pipeline, &msg, err, sizeof(err))) {
    case SINK_PIPE_WRITTEN:
        SINK_CONSUMER_COUNT(c, n_written);
        break;
    case SINK_PIPE_REJECTED:
        SINK_CONSUMER_COUNT(c, n_rejected);
        break;
    case SINK_PIPE_STOPPED:
        return; /* the record is consumed again next time */
    case SINK_PIPE_FAILED:
        sink_consumer_fatal(c, c->pipeline->ops->name, err);
        return;
    }
    p->next = rkm->offset + 1;
    c->since_commit++;
}

/* "webhooks." -> "^webhooks\.[a-z0-9_]+$" */
static char *sink_consumer_pattern(const char *prefix) {
    size_t n = strlen(prefix);
    char *re = malloc(2 * n + 16);
    if (!re)
        return NULL;
    size_t k = 0;
    re[k++] = '^';
    for (size_t i = 0; i < n; i++) {
        if (strchr(".^$*+?()[]{}|\\", prefix[i]))
            re[k++] = '\\';
        re[k++] = prefix[i];
    }
    strcpy(re + k, "[a-z0-9_]+$");
    return re;
}

sink_consumer_t *sink_consumer_new(const cfg_t *cfg, const sink_consumer_conf_t *conf,
                                   char *errstr, size_t errstr_size) {
    char why[512];
    rd_kafka_conf_t *kconf = NULL;
    rd_kafka_topic_partition_list_t *sub = NULL;
    char *pattern = NULL;
    sink_consumer_t *c = calloc(1, sizeof(*c));
    if (!c) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->pipeline = conf->pipeline;
    c->dlq = conf->dlq;
    c->conf = *conf;
    c->group_id = strdup(conf->group_id);
    c->prefix = strdup(conf->topic_prefix);
    pattern = sink_consumer_pattern(conf->topic_prefix);
    if (!c->group_id || !c->prefix || !pattern) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        goto fail;
    }
    c->conf.group_id = c->group_id;
    c->conf.topic_prefix = c->prefix;
    if (!(c->integ_conf = ktable_conf_new(cfg, "hookpipe-sink-integrations-reader", errstr,
                                          errstr_size)))
        goto fail;

    if (!(kconf = kafka_conf_new(cfg, errstr, errstr_size)))
        goto fail;
    /* new integrations must be found quickly; user settings win */
    if (kafka_conf_default(kconf, cfg, "topic.metadata.refresh.interval.ms",
                           SINK_CONSUMER_REFRESH_MS, errstr, errstr_size) < 0)
        goto fail;
    /* a new integration's first records come before the group sees its
     * topic: start a partition with no committed offset at the beginning */
    if (kafka_conf_default(kconf, cfg, "auto.offset.reset", "earliest", errstr, errstr_size) < 0)
        goto fail;
    /* a sink that died holds its partitions until its session times out:
     * 10 s instead of librdkafka's 45 s, so the rows of a SIGKILLed sink's
     * partitions stop for seconds, not most of a minute */
    if (kafka_conf_default(kconf, cfg, "session.timeout.ms", "10000", errstr, errstr_size) < 0)
        goto fail;
    if (kafka_conf_set(kconf, "group.id", c->group_id, errstr, errstr_size) < 0 ||
        kafka_conf_set(kconf, "enable.auto.commit", "false", errstr, errstr_size) < 0 ||
        kafka_conf_set(kconf, "enable.auto.offset.store", "false", errstr, errstr_size) < 0)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(kconf, sink_consumer_rebalance);
    rd_kafka_conf_set_opaque(kconf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, why, sizeof(why));
    if (!c->rk) {
        errstr_fmt(0, errstr, errstr_size, "consumer: %s", why);
        goto fail;
    }
    kconf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, pattern, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, sub);
    if (err) {
        errstr_fmt(0, errstr, errstr_size, "subscribe %s: %s", pattern, rd_kafka_err2str(err));
        goto fail;
    }
    log_info("group %s subscribed to %s", c->group_id, pattern);
    rd_kafka_topic_partition_list_destroy(sub);
    free(pattern);
    return c;
fail:
    if (sub)
        rd_kafka_topic_partition_list_destroy(sub);
    if (kconf)
        rd_kafka_conf_destroy(kconf);
    free(pattern);
    sink_consumer_destroy(c);
    return NULL;
}

int sink_consumer_run(sink_consumer_t *c, volatile sig_atomic_t *stop, char *errstr,
                      size_t errstr_size) {
    char err[512];
    c->stop = stop;
    c->last_commit_ms = sink_consumer_mono_ms();
    while (!*stop && !c->fatal) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, 100);
        if (rkm) {
            if (!rkm->err) {
                SINK_CONSUMER_COUNT(c, n_consumed);
                sink_consumer_process(c, rkm, rfc3339_now_us());
            }
            else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn("consumer: %s", rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
        }
        if (!c->fatal && c->pipeline->ops->poll(c->pipeline, err, sizeof(err)) < 0)
            sink_consumer_fatal(c, "target", err);
        if (!c->fatal && c->dlq && sink_dlq_poll(c->dlq, err, sizeof(err)) < 0)
            sink_consumer_fatal(c, "dead letters", err);
        if (!c->fatal && (c->since_commit >= c->conf.batch_max_records ||
                          sink_consumer_mono_ms() - c->last_commit_ms >= c->conf.batch_max_ms))
            sink_consumer_commit(c, NULL);
    }
    if (!c->fatal && sink_consumer_flush(c) == 0)
        sink_consumer_commit(c, NULL);
    /* leaving the group revokes the assignment (flush and commit again:
     * nothing is pending by now) */
    rd_kafka_consumer_close(c->rk);
    if (c->fatal) {
        return errstr_fmt(-1, errstr, errstr_size, "%s", c->fatal_msg);
    }
    return 0;
}

void sink_consumer_stats(const sink_consumer_t *c, sink_consumer_stats_t *out) {
    out->consumed = atomic_load_explicit(&c->n_consumed, memory_order_relaxed);
    out->written = atomic_load_explicit(&c->n_written, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&c->n_rejected, memory_order_relaxed);
    sink_pipeline_stats_t ps;
    c->pipeline->ops->stats(c->pipeline, &ps);
    out->versions = ps.versions;
    out->commits = atomic_load_explicit(&c->n_commits, memory_order_relaxed);
    out->commit_errors = atomic_load_explicit(&c->n_commit_errors, memory_order_relaxed);
    out->assigned = atomic_load_explicit(&c->n_assigned, memory_order_relaxed);
}

void sink_consumer_destroy(sink_consumer_t *c) {
    if (!c)
        return;
    if (c->rk)
        rd_kafka_destroy(c->rk);
    if (c->integ_conf)
        rd_kafka_conf_destroy(c->integ_conf);
    for (size_t i = 0; i < c->ninteg; i++)
        sink_consumer_integ_free(c->integs[i]);
    free(c->integs);
    for (size_t i = 0; i < c->nparts; i++)
        free(c->parts[i].topic);
    free(c->parts);
    for (size_t i = 0; i < c->npks; i++) {
        free(c->pks[i].name);
        sink_consumer_names_free(c->pks[i].pk, c->pks[i].npk);
    }
    free(c->pks);
    free(c->group_id);
    free(c->prefix);
    free(c);
}
