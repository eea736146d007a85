/* gw_integrations: integrations table and the thread that follows the topic. */
#include "gw_integrations.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "ktable.h"
#include "log.h"

struct gw_integs {
    const cfg_t *cfg;
    char *topic;
    pthread_rwlock_t lock;
    gw_integ_t **entries;     /* owned references */
    size_t n, cap;
    ktable_t *kt;             /* the follower, once started */
    int has_key;
    secret_key_t key;
};

gw_integs_t *gw_integs_new(const cfg_t *cfg, const char *topic, char *errstr,
                           size_t errstr_size) {
    gw_integs_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->topic = strdup(topic))) {
        free(t);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    t->cfg = cfg;
    pthread_rwlock_init(&t->lock, NULL);
    return t;
}

void gw_integ_release(gw_integ_t *e) {
    if (!e)
        return;
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        integ_destroy(e->in);
        secret_free(e->secret);
        pthread_mutex_destroy(&e->rate_lock);
        free(e);
    }
}

void gw_integs_set_key(gw_integs_t *t, const secret_key_t *key) {
    t->key = *key;
    t->has_key = 1;
}

int gw_integ_rate_take(gw_integ_t *e, int64_t now_ns, int *retry_after_s) {
    if (e->in->rate_per_s <= 0)
        return 1;
    pthread_mutex_lock(&e->rate_lock);
    int ok = gw_rate_take(&e->rate, e->in->rate_per_s, e->in->rate_burst, now_ns, retry_after_s);
    pthread_mutex_unlock(&e->rate_lock);
    return ok;
}

/* Opens the entry's signing secret, or records why it cannot (logged). */
static void gw_integs_open_secret(gw_integs_t *t, gw_integ_t *e) {
    const integ_t *in = e->in;
    char kid[SECRET_KID_HEX + 1] = "?";
    size_t len;
    if (in->sig_scheme == WHSIG_NONE) {
        e->sig_state = GW_SIG_OFF;
        return;
    }
    secret_sealed_kid(in->sig_secret, kid);
    if (!t->has_key) {
        e->sig_state = GW_SIG_NO_KEY;
        log_warn("integration %s: its %s signing secret is sealed with key %s but this gateway "
                 "has no %s: its webhooks are answered 503 until it has", in->name,
                 whsig_scheme_name(in->sig_scheme), kid, SECRET_KEY_ENV);
        return;
    }
    secret_rc_t rc = secret_open(&t->key, in->name, in->sig_secret, &e->secret, &len);
    if (rc == SECRET_OK) {
        e->sig_state = GW_SIG_READY;
        return;
    }
    e->sig_state = rc == SECRET_EKID ? GW_SIG_WRONG_KEY : GW_SIG_BROKEN;
    if (rc == SECRET_EKID)
        log_warn("integration %s: its signing secret is sealed with key %s, but this gateway's "
                 "%s is key %s: its webhooks are answered 503 until the keys agree", in->name,
                 kid, SECRET_KEY_ENV, t->key.kid);
    else
        log_warn("integration %s: its signing secret cannot be opened (%s): its webhooks are "
                 "answered 503; set the secret again with hookpipectl signature set", in->name,
                 secret_strerror(rc));
}

static gw_integ_t *gw_integ_retain(gw_integ_t *e) {
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

static ssize_t gw_integs_find(gw_integs_t *t, const char *name, size_t len) {
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->entries[i]->in->name) == len && memcmp(t->entries[i]->in->name, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

int gw_integs_apply(gw_integs_t *t, const char *name, size_t name_len, const char *value,
                    size_t value_len) {
    gw_integ_t *e = NULL, *old = NULL;
    if (value) {
        char err[256];
        integ_t *in = integ_from_json(value, value_len, err, sizeof(err));
        if (!in) {
            log_warn("integration %.*s: record ignored: %s", (int)name_len, name, err);
            return -1;
        }
        if (strlen(in->name) != name_len || memcmp(in->name, name, name_len) != 0) {
            log_warn("integration %.*s: record names '%s', ignored", (int)name_len, name,
                     in->name);
            integ_destroy(in);
            return -1;
        }
        if (!(e = calloc(1, sizeof(*e)))) {
            integ_destroy(in);
            return -1;
        }
        e->in = in;
        e->refs = 1;
        pthread_mutex_init(&e->rate_lock, NULL);
        gw_integs_open_secret(t, e);
    }
    pthread_rwlock_wrlock(&t->lock);
    ssize_t i = gw_integs_find(t, name, name_len);
    if (i >= 0) {
        old = t->entries[i];
        if (e) {
            /* a changed record keeps the bucket: an update is no reset */
            pthread_mutex_lock(&old->rate_lock);
            e->rate = old->rate;
            pthread_mutex_unlock(&old->rate_lock);
            t->entries[i] = e;
        }
        else {
            t->entries[i] = t->entries[--t->n];
        }
    } else if (e) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            gw_integ_t **p = realloc(t->entries, cap * sizeof(*p));
            if (!p) {
                pthread_rwlock_unlock(&t->lock);
                gw_integ_release(e);
                return -1;
            }
            t->entries = p;
            t->cap = cap;
        }
        t->entries[t->n++] = e;
    }
    pthread_rwlock_unlock(&t->lock);
    gw_integ_release(old);
    /* the replay at start is summarised by the "caught up" line */
    log_level_t lvl = gw_integs_caught_up(t) ? LOG_INFO : LOG_DEBUG;
    if (e)
        log_msg(lvl, "integration %s %s (%s, %zu token(s), signature %s)", e->in->name,
                old ? "updated" : "added", e->in->paused ? "paused" : "active", e->in->ntokens,
                whsig_scheme_name(e->in->sig_scheme));
    else if (old)
        log_msg(lvl, "integration %.*s deleted", (int)name_len, name);
    return 0;
}

gw_integ_t *gw_integs_lookup(gw_integs_t *t, const char *token, size_t token_len) {
    unsigned char h[32];
    gw_integ_t *found = NULL;
    integ_token_hash(token, token_len, h);
    pthread_rwlock_rdlock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        if (integ_token_match(t->entries[i]->in, h) && !found)
            found = gw_integ_retain(t->entries[i]);
    pthread_rwlock_unlock(&t->lock);
    return found;
}

size_t gw_integs_count(gw_integs_t *t) {
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->n;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

int gw_integs_caught_up(gw_integs_t *t) { return t->kt && ktable_caught_up(t->kt); }

int gw_integs_ready(gw_integs_t *t) {
    return t->kt && ktable_caught_up(t->kt) && ktable_kafka_ok(t->kt);
}

static int gw_integs_on_record(void *opaque, const ktable_rec_t *rec) {
    gw_integs_apply(opaque, rec->key, rec->key_len, rec->value, rec->value_len);
    return 0;
}

int gw_integs_start(gw_integs_t *t, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = ktable_conf_new(t->cfg, "hookpipe-gateway-unused", errstr,
                                            errstr_size);
    if (!conf)
        return -1;
    if (kafka_conf_set(conf, "fetch.wait.max.ms", "100", errstr, errstr_size) < 0 ||
        kafka_conf_set(conf, "client.id", "hookpipe-gateway-integrations", errstr,
                       errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* created when missing; ready at the first end of the topic, so a
     * transaction a dead hookpipectl left open does not hold readiness; the
     * probe asks Kafka every 2 s (metadata within 1 s: a stop request is
     * never kept waiting long) */
    ktable_follow_opts_t opts = {.topic = t->topic,
                                 .cb = gw_integs_on_record,
                                 .opaque = t,
                                 .create = 1,
                                 .retry_ms = 2000,
                                 .request_ms = 1000,
                                 .create_ms = 5000,
                                 .probe_ms = 2000,
                                 .ready = KTABLE_READY_AT_EOF};
    if (!(t->kt = ktable_follow(conf, &opts, errstr, errstr_size)))
        return -1;
    return 0;
}

void gw_integs_destroy(gw_integs_t *t) {
    if (!t)
        return;
    ktable_destroy(t->kt);
    for (size_t i = 0; i < t->n; i++)
        gw_integ_release(t->entries[i]);
    OPENSSL_cleanse(&t->key, sizeof(t->key));
    free(t->entries);
    pthread_rwlock_destroy(&t->lock);
    free(t->topic);
    free(t);
}
