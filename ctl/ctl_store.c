/* ctl_store: hookpipectl's reads and writes of the integrations topic. */
#include "ctl_store.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errstr.h"
#include "kafka.h"
#include "ktable.h"

/* Delivery outcome of the one message a put waits for. It lives in the
 * store, so a report served late (even by rd_kafka_destroy) never points
 * at a finished stack frame. */
typedef struct {
    int done;
    rd_kafka_resp_err_t err;
} ctl_delivery_t;

struct ctl_store {
    const cfg_t *cfg;
    int timeout_ms;
    int verbose;
    rd_kafka_t *admin;          /* lazily made: topic creation and metadata */
    rd_kafka_t *txn;            /* the transactional producer, while locked */
    ctl_delivery_t delivery;
    char last_error[256];       /* the latest client error, to explain a timeout */
};

/* One message read from the integrations topic, in log order. */
typedef struct {
    char *key;
    char *value;    /* NULL: tombstone */
    size_t len;
    size_t seq;
} ctl_entry_t;

/* how long a read waits for a transaction's commit marker (ktable.h) */
#define CTL_EOF_GRACE_MS 2000

static long long ctl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* " (last error: ...)" when the client reported one, so that a timeout
 * against an unreachable broker says why. */
static const char *ctl_why(const ctl_store_t *st, char *buf, size_t size) {
    if (!st->last_error[0])
        return "";
    snprintf(buf, size, " (last error: %s)", st->last_error);
    return buf;
}

static void ctl_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    ctl_store_t *st = opaque;
    (void)rk;
    snprintf(st->last_error, sizeof(st->last_error), "%s: %s",
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void ctl_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    ctl_delivery_t *d = rkm->_private;
    (void)rk;
    (void)opaque;
    if (d) {
        d->done = 1;
        d->err = rkm->err;
    }
}

/* A client: a consumer, a plain producer (txn_id NULL, for admin requests)
 * or the transactional producer that writes. */
static rd_kafka_t *ctl_handle(ctl_store_t *st, rd_kafka_type_t type, const char *txn_id,
                              char *errstr, size_t errstr_size) {
    char num[32], txn_num[32], why[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *conf = kafka_conf_new(st->cfg, errstr, errstr_size);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_conf_set_error_cb(conf, ctl_error_cb);
    snprintf(num, sizeof(num), "%d", st->timeout_ms);
    /* Kafka's floor for a transaction timeout; messages must not outlive it */
    snprintf(txn_num, sizeof(txn_num), "%d", st->timeout_ms < 1000 ? 1000 : st->timeout_ms);
    /* a CLI reports one line per failure (errors reach us via ctl_error_cb
     * and the results of calls): librdkafka's own log only with --verbose */
    if (!st->verbose)
        rd_kafka_conf_set_log_cb(conf, NULL);
    /* never create a topic by asking about it: topics are made on purpose,
     * with their settings (compaction) */
    if (type == RD_KAFKA_PRODUCER &&
        kafka_conf_set(conf, "allow.auto.create.topics", "false", errstr, errstr_size) < 0)
        goto fail;
    if (txn_id) {
        rd_kafka_conf_set_dr_msg_cb(conf, ctl_dr_cb);
        /* the gateways trust what is in the topic: write it exactly once,
         * durably. A short transaction timeout bounds how long readers wait
         * if we die between write and commit. */
        if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) < 0 ||
            kafka_conf_set(conf, "acks", "all", errstr, errstr_size) < 0 ||
            kafka_conf_default(conf, st->cfg, "message.timeout.ms", num, errstr, errstr_size) < 0 ||
            kafka_conf_default(conf, st->cfg, "transaction.timeout.ms", txn_num, errstr, errstr_size) < 0 ||
            kafka_conf_default(conf, st->cfg, "transactional.id", txn_id, errstr, errstr_size) < 0)
            goto fail;
    } else if (type == RD_KAFKA_CONSUMER) {
        /* assign() needs a group id; nothing is joined or committed */
        if (kafka_conf_default(conf, st->cfg, "group.id", "hookpipectl", errstr, errstr_size) < 0 ||
            kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) < 0 ||
            kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) < 0 ||
            kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) < 0 ||
            /* the end is often a transaction marker, which is never delivered:
             * the end-of-partition event then needs one more (empty) fetch */
            kafka_conf_default(conf, st->cfg, "fetch.wait.max.ms", "10", errstr, errstr_size) < 0)
            goto fail;
    }
    rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (!rk) {
        errstr_fmt(-1, errstr, errstr_size, "kafka client: %s", why);
        goto fail;
    }
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static rd_kafka_t *ctl_admin(ctl_store_t *st, char *errstr, size_t errstr_size) {
    if (!st->admin)
        st->admin = ctl_handle(st, RD_KAFKA_PRODUCER, NULL, errstr, errstr_size);
    return st->admin;
}

/* Drops the transactional producer: the lock is released, and a producer
 * whose transaction failed is never reused. */
static void ctl_unlock(ctl_store_t *st) {
    if (st->txn)
        rd_kafka_destroy(st->txn);
    st->txn = NULL;
}

ctl_store_t *ctl_store_new(const cfg_t *cfg, int timeout_ms, int verbose, char *errstr,
                           size_t errstr_size) {
    ctl_store_t *st = calloc(1, sizeof(*st));
    if (!st) {
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->cfg = cfg;
    st->timeout_ms = timeout_ms;
    st->verbose = verbose;
    /* refuse bad -X properties now, before any work is done */
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, errstr, errstr_size);
    if (!conf) {
        free(st);
        return NULL;
    }
    rd_kafka_conf_destroy(conf);
    return st;
}

void ctl_store_destroy(ctl_store_t *st) {
    if (!st)
        return;
    ctl_unlock(st);
    if (st->admin)
        rd_kafka_destroy(st->admin);
    free(st);
}

/* Partition count of `topic`: > 0, 0 if the topic does not exist, -1 on
 * error (errstr). */
static int ctl_partitions(ctl_store_t *st, rd_kafka_t *rk, const char *topic, char *errstr,
                          size_t errstr_size) {
    char why[300];
    int n = kafka_topic_partitions(rk, topic, st->timeout_ms, errstr, errstr_size);
    if (n < 0 && st->last_error[0] && errstr && errstr_size) {
        size_t used = strlen(errstr);
        snprintf(errstr + used, errstr_size - used, "%s", ctl_why(st, why, sizeof(why)));
    }
    return n;
}

int ctl_store_topic_ensure(ctl_store_t *st, const char *topic, int partitions,
                           int replication_factor, const char *const *configs,
                           int *partitions_out, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = ctl_admin(st, errstr, errstr_size);
    if (!rk || kafka_topic_ensure(rk, topic, partitions, replication_factor, configs,
                                  st->timeout_ms, errstr, errstr_size) < 0)
        return -1;
    /* a new topic takes a moment to show in the metadata of every broker */
    long long deadline = ctl_now_ms() + st->timeout_ms;
    for (;;) {
        int n = ctl_partitions(st, rk, topic, errstr, errstr_size);
        if (n < 0)
            return -1;
        if (n > 0) {
            *partitions_out = n;
            return 0;
        }
        if (ctl_now_ms() > deadline) {
            return errstr_fmt(-1, errstr, errstr_size, "%s: created, but not in the metadata after %d ms",
                              topic, st->timeout_ms);
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
}

long long ctl_store_topic_size(ctl_store_t *st, const char *topic, long long want,
                               long long *before_out, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = ctl_admin(st, errstr, errstr_size);
    if (!rk)
        return -1;
    long long cur = kafka_topic_max_message_bytes(rk, topic, st->timeout_ms, errstr, errstr_size);
    *before_out = cur;
    if (cur < 0)
        return -1;
    if (cur >= want)
        return cur;
    return kafka_topic_raise_max_message_bytes(rk, topic, want, st->timeout_ms, errstr,
                                               errstr_size);
}

static int ctl_entry_cmp(const void *a, const void *b) {
    const ctl_entry_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void ctl_entries_free(ctl_entry_t *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].value);
    }
    free(e);
}

void ctl_state_destroy(ctl_state_t *state) {
    if (!state)
        return;
    for (size_t i = 0; i < state->n; i++)
        integ_destroy(state->items[i]);
    free(state->items);
    free(state);
}

integ_t *ctl_state_find(const ctl_state_t *state, const char *name) {
    size_t lo = 0, hi = state->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(state->items[mid]->name, name);
        if (c == 0)
            return state->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Keeps the last value of every key (sorted by key), parsed. */
static int ctl_state_build(ctl_state_t *state, ctl_entry_t *e, size_t n, char *errstr,
                           size_t errstr_size) {
    if (n > 1)
        qsort(e, n, sizeof(*e), ctl_entry_cmp);
    if (n && !(state->items = calloc(n, sizeof(integ_t *)))) {
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char why[200];
        if (i + 1 < n && strcmp(e[i].key, e[i + 1].key) == 0)
            continue;           /* a later value of this key follows */
        if (!e[i].value)
            continue;           /* tombstone: deleted */
        integ_t *in = integ_from_json(e[i].value, e[i].len, why, sizeof(why));
        if (in && strcmp(in->name, e[i].key) != 0) {
            snprintf(why, sizeof(why), "record name \"%s\" differs from its key", in->name);
            integ_destroy(in);
            in = NULL;
        }
        if (!in) {
            if (!state->unreadable++)
                snprintf(state->first_error, sizeof(state->first_error), "key \"%.60s\": %s",
                         e[i].key, why);
            continue;
        }
        state->items[state->n++] = in;
    }
    return 0;
}

/* Collects the messages of INTEG_TOPIC in log order. */
typedef struct {
    ctl_entry_t *entries;
    size_t n, cap;
    int oom;
} ctl_collect_t;

static int ctl_collect(void *opaque, const ktable_rec_t *rec) {
    ctl_collect_t *c = opaque;
    if (memchr(rec->key, '\0', rec->key_len))
        return 0;               /* not an integration name */
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        ctl_entry_t *ne = realloc(c->entries, ncap * sizeof(*ne));
        if (!ne)
            return c->oom = 1;
        c->entries = ne;
        c->cap = ncap;
    }
    ctl_entry_t *e = &c->entries[c->n];
    e->key = strndup(rec->key, rec->key_len);
    e->value = rec->value ? malloc(rec->value_len + 1) : NULL;
    e->len = rec->value_len;
    e->seq = c->n;
    if (e->value) {
        memcpy(e->value, rec->value, rec->value_len);
        e->value[rec->value_len] = '\0';
    }
    if (!e->key || (rec->value && !e->value)) {
        free(e->key);
        free(e->value);
        return c->oom = 1;
    }
    c->n++;
    return 0;
}

int ctl_store_read(ctl_store_t *st, ctl_state_t **out, char *errstr, size_t errstr_size) {
    char why[300];
    int rc = -1;
    ctl_collect_t got = {0};
    ctl_state_t *state = calloc(1, sizeof(*state));
    rd_kafka_t *rk = NULL;
    if (!state) {
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        goto out;
    }
    if (!(rk = ctl_handle(st, RD_KAFKA_CONSUMER, NULL, errstr, errstr_size)))
        goto out;
    /* the end as of now, and the commit marker of the latest transaction
     * waited for (a reader sees every change an earlier command finished);
     * the timeout bounds a stall, not the whole read */
    ktable_read_opts_t opts = {.request_ms = st->timeout_ms,
                               .stall_ms = st->timeout_ms,
                               .eof_grace_ms = CTL_EOF_GRACE_MS};
    switch (ktable_read(rk, INTEG_TOPIC, &opts, ctl_collect, &got, errstr, errstr_size)) {
    case KTABLE_OK:
    case KTABLE_ENOTOPIC:       /* not created yet: no integrations */
        break;
    case KTABLE_ESTOPPED:
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        goto out;
    default:
        if (st->last_error[0] && errstr && errstr_size && !strstr(errstr, "(last error")) {
            size_t used = strlen(errstr);
            snprintf(errstr + used, errstr_size - used, "%s", ctl_why(st, why, sizeof(why)));
        }
        goto out;
    }
    if (ctl_state_build(state, got.entries, got.n, errstr, errstr_size) < 0)
        goto out;
    *out = state;
    state = NULL;
    rc = 0;
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    ctl_entries_free(got.entries, got.n);
    ctl_state_destroy(state);
    return rc;
}

/* Says what a failed transactional call means, and takes the error:
 * CTL_STORE_CONFLICT if another hookpipectl fenced us, else -1. */
static int ctl_txn_err(ctl_store_t *st, rd_kafka_error_t *e, const char *what, char *errstr,
                       size_t errstr_size) {
    char why[300];
    int rc = -1;
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    if (st->txn)
        rd_kafka_poll(st->txn, 0);      /* serves ctl_error_cb: the reason for a timeout */
    if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
        errstr_fmt(-1, errstr, errstr_size,
                   "another hookpipectl changed the same integration at the same time; "
                   "nothing was written, check the state and retry");
        rc = CTL_STORE_CONFLICT;
    } else {
        errstr_fmt(-1, errstr, errstr_size, "%s: %s%s", what, rd_kafka_error_string(e),
                   rd_kafka_error_is_retriable(e) ? ctl_why(st, why, sizeof(why)) : "");
    }
    rd_kafka_error_destroy(e);
    return rc;
}

int ctl_store_lock(ctl_store_t *st, const char *name, char *errstr, size_t errstr_size) {
    char txn_id[128], what[200];
    ctl_unlock(st);
    snprintf(txn_id, sizeof(txn_id), "%s%s", CTL_STORE_TXN_PREFIX, name);
    if (!(st->txn = ctl_handle(st, RD_KAFKA_PRODUCER, txn_id, errstr, errstr_size)))
        return -1;
    rd_kafka_error_t *e = rd_kafka_init_transactions(st->txn, st->timeout_ms);
    if (e) {
        snprintf(what, sizeof(what), "cannot take the write lock (Kafka transactional id %s)",
                 txn_id);
        int rc = ctl_txn_err(st, e, what, errstr, errstr_size);
        ctl_unlock(st);
        return rc;
    }
    /* learn where the topic is now, not when the first write waits for it */
    if (ctl_partitions(st, st->txn, INTEG_TOPIC, errstr, errstr_size) < 0) {
        ctl_unlock(st);
        return -1;
    }
    return 0;
}

/* Produces key/value (value NULL: tombstone) in a transaction and waits for
 * its commit. */
static int ctl_produce(ctl_store_t *st, const char *key, const char *value, char *errstr,
                       size_t errstr_size) {
    rd_kafka_error_t *e;
    int rc = -1;
    if (!st->txn) {
        return errstr_fmt(-1, errstr, errstr_size, "internal error: a write without the lock");
    }
    rd_kafka_t *rk = st->txn;
    st->delivery = (ctl_delivery_t){0, RD_KAFKA_RESP_ERR_NO_ERROR};
    if ((e = rd_kafka_begin_transaction(rk))) {
        rc = ctl_txn_err(st, e, "cannot begin a transaction", errstr, errstr_size);
        goto fail;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(INTEG_TOPIC), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
        RD_KAFKA_V_OPAQUE(&st->delivery), RD_KAFKA_V_END);
    if (err) {
        errstr_fmt(-1, errstr, errstr_size, "cannot write to %s: %s", INTEG_TOPIC, rd_kafka_err2str(err));
        goto fail;
    }
    if ((e = rd_kafka_commit_transaction(rk, st->timeout_ms))) {
        int unknown = rd_kafka_error_is_retriable(e);
        rc = ctl_txn_err(st, e, "writing to " INTEG_TOPIC " failed", errstr, errstr_size);
        if (unknown) {
            /* a timeout: the commit may still complete */
            size_t n = strlen(errstr);
            snprintf(errstr + n, errstr_size - n, "; the change may or may not be applied");
        }
        goto fail;
    }
    if (!st->delivery.done || st->delivery.err) {
        errstr_fmt(-1, errstr, errstr_size, "writing to %s failed: %s", INTEG_TOPIC,
                   st->delivery.done ? rd_kafka_err2str(st->delivery.err) : "no delivery report");
        goto fail;
    }
    return 0;
fail:
    if ((e = rd_kafka_abort_transaction(rk, st->timeout_ms)))
        rd_kafka_error_destroy(e);
    ctl_unlock(st);
    return rc;
}

int ctl_store_put(ctl_store_t *st, const integ_t *in, char *errstr, size_t errstr_size) {
    char *json = integ_to_json(in);
    if (!json) {
        return errstr_fmt(-1, errstr, errstr_size, "cannot serialise the record of %s", in->name);
    }
    int rc = ctl_produce(st, in->name, json, errstr, errstr_size);
    free(json);
    return rc;
}

int ctl_store_delete(ctl_store_t *st, const char *name, char *errstr, size_t errstr_size) {
    return ctl_produce(st, name, NULL, errstr, errstr_size);
}
