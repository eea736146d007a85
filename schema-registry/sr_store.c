/* sr_store: the `_schemas` topic as the registry's replicated state. */
#include "sr_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "ktable.h"
#include "log.h"

#define SR_REGISTER_ATTEMPTS 20

typedef struct {
    int done;
    rd_kafka_resp_err_t err;
    int64_t offset;
} sr_delivery_t;

struct sr_store {
    rd_kafka_t *producer;
    ktable_t *log;             /* follows the topic, folding it into state */
    char *topic;
    int timeout_ms;

    pthread_rwlock_t lock;     /* the state */
    sr_state_t *state;

    pthread_mutex_t mu;        /* everything below */
    pthread_cond_t cond;       /* a delivery */
    int stop;

    pthread_mutex_t write_mu;  /* one proposal at a time per replica */
    pthread_t poll_thr;
    int threads;
};

static void sr_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    (void)rk;
    sr_store_t *st = opaque;
    sr_delivery_t *d = rkm->_private;
    if (!d) {   /* a repair: nobody waits for it, it is retried if lost */
        if (rkm->err)
            log_warn("%s: repair not delivered: %s", st->topic, rd_kafka_err2str(rkm->err));
        return;
    }
    pthread_mutex_lock(&st->mu);
    d->err = rkm->err;
    d->offset = rkm->offset;
    d->done = 1;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
}

/* Records to write again: "key\nvalue" strings of the winners of keys whose
 * last record lost. */
typedef struct {
    const sr_state_t *state;
    char **items;
    size_t n, cap;
} sr_repairs_t;

static void sr_repairs_free(sr_repairs_t *r) {
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i]);
    free(r->items);
    r->items = NULL;
    r->n = r->cap = 0;
}

static void sr_repair_collect(void *arg, const char *subject, int version,
                              const char *loser_text) {
    sr_repairs_t *r = arg;
    sr_version_t *slot = sr_state_version(sr_state_subject(r->state, subject), version);
    char *key = NULL, *val = NULL, *item = NULL;
    if (slot) {
        val = sr_state_schema_value(subject, version, slot->schema->id, slot->schema->text,
                                    slot->deleted);
    } else if (loser_text) {
        /* the loser's replica died before retrying: supersede its record
         * with the same schema, soft-deleted, under an id of its own */
        char err[256];
        sr_avro_t *avro = sr_avro_parse(loser_text, strlen(loser_text), err, sizeof(err));
        if (!avro)
            return;
        sr_schema_t *known = sr_state_schema_by_canonical(r->state, avro);
        int id = known ? known->id : sr_state_max_id(r->state) + 1;
        sr_avro_destroy(avro);
        val = sr_state_schema_value(subject, version, id, loser_text, 1);
    } else {
        return;
    }
    key = sr_state_schema_key(subject, version);
    if (key && val && (item = malloc(strlen(key) + strlen(val) + 2)))
        sprintf(item, "%s\n%s", key, val);
    free(key);
    free(val);
    if (!item)
        return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **items = realloc(r->items, cap * sizeof(*items));
        if (!items) {
            free(item);
            return;
        }
        r->items = items;
        r->cap = cap;
    }
    r->items[r->n++] = item;
}

/* Supersedes losing records that stayed last under their keys since the
 * previous check (see sr_state_each_dirty): normally the losing replica
 * repairs or retries within milliseconds, so this only acts when it died
 * first. Several replicas may do it; their records are identical, or the
 * later ones lose and are repaired in turn. */
static void sr_repair(sr_store_t *st, sr_repairs_t *prev) {
    sr_repairs_t cur = {.state = sr_store_rdlock(st)};
    sr_state_each_dirty(cur.state, sr_repair_collect, &cur);
    sr_store_unlock(st);
    for (size_t i = 0; i < cur.n; i++) {
        size_t k = 0;
        while (k < prev->n && strcmp(prev->items[k], cur.items[i]) != 0)
            k++;
        if (k == prev->n)
            continue;
        char *nl = strchr(cur.items[i], '\n');
        log_info("%s: superseding a lost record under %.*s", st->topic, (int)(nl - cur.items[i]),
                 cur.items[i]);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            st->producer, RD_KAFKA_V_TOPIC(st->topic), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(cur.items[i], (size_t)(nl - cur.items[i])),
            RD_KAFKA_V_VALUE(nl + 1, strlen(nl + 1)), RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
        if (err)
            log_warn("%s: repair: %s", st->topic, rd_kafka_err2str(err));
    }
    sr_repairs_free(prev);
    *prev = cur;
}

static void *sr_poll_main(void *arg) {
    sr_store_t *st = arg;
    sr_repairs_t prev = {0};
    for (unsigned tick = 1;; tick++) {
        pthread_mutex_lock(&st->mu);
        int stop = st->stop;
        pthread_mutex_unlock(&st->mu);
        if (stop)
            break;
        int ready = st->log && ktable_caught_up(st->log);
        rd_kafka_poll(st->producer, 100);
        if (ready && tick % 20 == 0)
            sr_repair(st, &prev);
    }
    sr_repairs_free(&prev);
    return NULL;
}

/* Folds one record of the log into the state (the follower's thread). */
static int sr_store_apply(void *opaque, const ktable_rec_t *rec) {
    sr_store_t *st = opaque;
    pthread_rwlock_wrlock(&st->lock);
    sr_apply_t rc = sr_state_apply(st->state, rec->key, rec->key_len, rec->value, rec->value_len);
    pthread_rwlock_unlock(&st->lock);
    if (rc == SR_APPLY_LOST)
        log_info("%s: offset %lld lost a race and is ignored", st->topic, (long long)rec->offset);
    else if (rc == SR_APPLY_IGNORED)
        log_debug("%s: offset %lld ignored", st->topic, (long long)rec->offset);
    return 0;
}

static sr_err_t sr_store_err(ktable_err_t e) {
    switch (e) {
    case KTABLE_OK: return SR_ERR_OK;
    case KTABLE_ETIMEOUT: return SR_ERR_TIMEOUT;
    case KTABLE_ENOMEM: return SR_ERR_NOMEM;
    default: return SR_ERR_STORE;
    }
}

/* Waits until records below `offset` are applied. */
static sr_err_t sr_wait_applied(sr_store_t *st, int64_t offset) {
    return sr_store_err(ktable_wait(st->log, offset, st->timeout_ms));
}

/* Catches up with everything in the log now. */
static sr_err_t sr_sync(sr_store_t *st) {
    char why[512];
    ktable_err_t e = ktable_sync(st->log, st->timeout_ms, why, sizeof(why));
    if (e == KTABLE_EKAFKA)
        log_warn("%s", why);
    return sr_store_err(e);
}

sr_err_t sr_store_put(sr_store_t *st, const char *key, const char *value) {
    sr_delivery_t d = {0, RD_KAFKA_RESP_ERR_NO_ERROR, -1};
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(st->topic),
                                RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                                RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(st->producer, 100);
    }
    if (err) {
        log_error("%s: produce: %s", st->topic, rd_kafka_err2str(err));
        return SR_ERR_STORE;
    }
    /* the delivery report always comes (message.timeout.ms bounds it), and
     * it writes into `d`, so wait for it whatever our own deadline */
    pthread_mutex_lock(&st->mu);
    while (!d.done)
        pthread_cond_wait(&st->cond, &st->mu);
    pthread_mutex_unlock(&st->mu);
    if (d.err) {
        log_error("%s: delivery failed: %s", st->topic, rd_kafka_err2str(d.err));
        return d.err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? SR_ERR_TIMEOUT : SR_ERR_STORE;
    }
    return sr_wait_applied(st, d.offset + 1);
}

sr_err_t sr_store_write_begin(sr_store_t *st) {
    pthread_mutex_lock(&st->write_mu);
    sr_err_t rc = sr_sync(st);
    if (rc)
        pthread_mutex_unlock(&st->write_mu);
    return rc;
}

void sr_store_write_end(sr_store_t *st) { pthread_mutex_unlock(&st->write_mu); }

const sr_state_t *sr_store_rdlock(sr_store_t *st) {
    pthread_rwlock_rdlock(&st->lock);
    return st->state;
}

void sr_store_unlock(sr_store_t *st) { pthread_rwlock_unlock(&st->lock); }

int sr_store_ready(sr_store_t *st) { return ktable_caught_up(st->log); }

/* What a proposal should claim, or the answer if nothing is to be written. */
typedef enum { SR_PLAN_EXISTS, SR_PLAN_PROPOSE, SR_PLAN_FAIL } sr_plan_t;

static sr_plan_t sr_plan(const sr_state_t *state, const char *subject, const sr_avro_t *avro,
                         int *id, int *version, json_t *reasons, sr_err_t *err, char *msg,
                         size_t msg_size) {
    sr_subject_t *sub = sr_state_subject(state, subject);
    sr_schema_t *known = sr_state_schema_by_canonical(state, avro);
    size_t n = 0;
    for (size_t i = 0; sub && i < sub->nversions; i++) {
        if (sub->versions[i].deleted)
            continue;
        if (known && sub->versions[i].schema == known) {
            *id = known->id;
            *version = sub->versions[i].version;
            return SR_PLAN_EXISTS;
        }
        n++;
    }
    if (n) {
        const sr_avro_t **old = calloc(n, sizeof(*old));
        int *vers = calloc(n, sizeof(*vers));
        if (!old || !vers) {
            free(old);
            free(vers);
            *err = SR_ERR_NOMEM;
            return SR_PLAN_FAIL;
        }
        n = 0;
        for (size_t i = 0; i < sub->nversions; i++)
            if (!sub->versions[i].deleted) {
                vers[n] = sub->versions[i].version;
                old[n++] = sub->versions[i].schema->avro;
            }
        sr_compat_level_t level = sr_state_level(state, subject);
        int ok = sr_compat_check(level, avro, old, vers, n, reasons);
        free(old);
        free(vers);
        if (!ok) {
            snprintf(msg, msg_size,
                     "Schema being registered is incompatible with an earlier schema for "
                     "subject \"%s\" (compatibility %s)",
                     subject, sr_compat_level_name(level));
            *err = SR_ERR_INCOMPATIBLE;
            return SR_PLAN_FAIL;
        }
    }
    *id = known ? known->id : sr_state_max_id(state) + 1;
    *version = (sub ? sub->max_version : 0) + 1;
    return SR_PLAN_PROPOSE;
}

sr_err_t sr_store_register(sr_store_t *st, const char *subject, const char *text,
                           const sr_avro_t *avro, int *id, int *version, json_t *reasons,
                           char *msg, size_t msg_size) {
    sr_err_t rc = sr_store_write_begin(st);
    if (rc)
        return rc;
    for (int attempt = 0; attempt < SR_REGISTER_ATTEMPTS; attempt++) {
        if (attempt && (rc = sr_sync(st)))
            break;
        pthread_rwlock_rdlock(&st->lock);
        sr_plan_t plan = sr_plan(st->state, subject, avro, id, version, reasons, &rc, msg,
                                 msg_size);
        pthread_rwlock_unlock(&st->lock);
        if (plan == SR_PLAN_EXISTS) {
            rc = SR_ERR_OK;
            break;
        }
        if (plan == SR_PLAN_FAIL)
            break;
        char *key = sr_state_schema_key(subject, *version);
        char *value = sr_state_schema_value(subject, *version, *id, text, 0);
        rc = key && value ? sr_store_put(st, key, value) : SR_ERR_NOMEM;
        free(value);
        value = NULL;
        if (rc) {
            free(key);
            break;
        }
        /* did our claim win? the slot must now hold our schema under our id */
        pthread_rwlock_rdlock(&st->lock);
        sr_version_t *slot = sr_state_version(sr_state_subject(st->state, subject), *version);
        int won = slot && slot->schema->id == *id &&
                  strcmp(slot->schema->avro->canonical, avro->canonical) == 0;
        if (!won && slot)
            value = sr_state_schema_value(subject, *version, slot->schema->id,
                                          slot->schema->text, slot->deleted);
        pthread_rwlock_unlock(&st->lock);
        if (won) {
            free(key);
            log_info("registered subject %s version %d id %d", subject, *version, *id);
            break;
        }
        log_info("subject %s version %d id %d lost a race; retrying", subject, *version, *id);
        if (value) {
            /* our record is now the last under this key: write the winner's
             * again so that compaction keeps the winner */
            rc = sr_store_put(st, key, value);
            free(value);
        }
        free(key);
        if (rc)
            break;
        rc = SR_ERR_STORE;
        snprintf(msg, msg_size, "registration kept losing races with other replicas");
    }
    sr_store_write_end(st);
    return rc;
}

sr_store_t *sr_store_new(const cfg_t *cfg, const char *topic, sr_compat_level_t default_level,
                         int timeout_ms, char *errstr, size_t errstr_size) {
    sr_store_t *st = calloc(1, sizeof(*st));
    rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
    if (!st) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    /* lookups can flood the read side: the consumer must still get in */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cond, NULL);
    pthread_mutex_init(&st->write_mu, NULL);
    st->timeout_ms = timeout_ms;
    st->topic = strdup(topic);
    st->state = sr_state_new(default_level);
    if (!st->topic || !st->state) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }

    if (!(pconf = kafka_conf_new(cfg, errstr, errstr_size)))
        goto fail;
    if (kafka_conf_set(pconf, "acks", "all", errstr, errstr_size) < 0 ||
        kafka_conf_set(pconf, "enable.idempotence", "true", errstr, errstr_size) < 0 ||
        kafka_conf_set(pconf, "linger.ms", "0", errstr, errstr_size) < 0 ||
        kafka_conf_default(pconf, cfg, "message.timeout.ms", "15000", errstr, errstr_size) < 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(pconf, sr_dr_cb);
    rd_kafka_conf_set_opaque(pconf, st);
    char why[512];
    if (!(st->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, why, sizeof(why)))) {
        snprintf(errstr, errstr_size, "producer: %s", why);
        goto fail;
    }
    pconf = NULL;

    /* librdkafka wants a group for assign(); we never subscribe nor commit */
    if (!(cconf = ktable_conf_new(cfg, "hookpipe-registry", errstr, errstr_size)))
        goto fail;
    /* the broker does not always wake a waiting fetch when our own record
     * lands, and a write waits for that fetch: keep it short */
    if (kafka_conf_default(cconf, cfg, "fetch.wait.max.ms", "20", errstr, errstr_size) < 0 ||
        kafka_conf_set(cconf, "isolation.level", "read_uncommitted", errstr, errstr_size) < 0)
        goto fail;
    /* at start, and until Kafka answers, the topic is created and replayed
     * by the follower: the HTTP side is up meanwhile and answers 503 until
     * the log is read to where it ended at start */
    ktable_follow_opts_t opts = {.topic = topic,
                                 .cb = sr_store_apply,
                                 .opaque = st,
                                 .create = 1,
                                 .retry_ms = 1000,
                                 .request_ms = timeout_ms,
                                 .create_ms = timeout_ms,
                                 .ready = KTABLE_READY_AT_END};
    st->log = ktable_follow(cconf, &opts, errstr, errstr_size);
    cconf = NULL;
    if (!st->log)
        goto fail;
    if (pthread_create(&st->poll_thr, NULL, sr_poll_main, st) != 0) {
        snprintf(errstr, errstr_size, "cannot start a thread");
        goto fail;
    }
    st->threads = 1;
    return st;
fail:
    if (pconf)
        rd_kafka_conf_destroy(pconf);
    if (cconf)
        rd_kafka_conf_destroy(cconf);
    sr_store_destroy(st);
    return NULL;
}

void sr_store_destroy(sr_store_t *st) {
    if (!st)
        return;
    if (st->threads) {
        pthread_mutex_lock(&st->mu);
        st->stop = 1;
        pthread_cond_broadcast(&st->cond);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->poll_thr, NULL);
    }
    /* the follower first: its callback uses the state */
    ktable_destroy(st->log);
    if (st->producer) {
        rd_kafka_flush(st->producer, 5000);
        rd_kafka_destroy(st->producer);
    }
    sr_state_destroy(st->state);
    free(st->topic);
    pthread_rwlock_destroy(&st->lock);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->write_mu);
    free(st);
}
