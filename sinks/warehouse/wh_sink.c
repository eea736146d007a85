/* wh_sink: size- and time-bounded batches in front of the warehouse loaders (see wh_sink.h). */
#include "wh_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pg_loader.h"
#include "rfc3339.h"
#include "sink_record.h"
#include "sqlite_loader.h"

typedef struct ibuf {
    char *name;
    char **pk;
    size_t npk;
    wh_msg_t *msgs;     /* each message's strings live in one block, mem[i] */
    char **mem;
    size_t n, cap;
    size_t bytes;
    int64_t first_ms;   /* when the oldest buffered message arrived */
    int held;           /* the loader refused the last batch (wh_sink.h) */
    int64_t retry_ms;   /* while held: when to try again */
    int delay_ms;       /* while held: the current backoff */
    char why[512];      /* while held: the loader's reason */
} ibuf_t;

struct wh_sink {
    wh_sink_conf_t conf;
    char *location, *group;
    pg_loader_t *pg;
    sqlite_loader_t *sq;
    ibuf_t *bufs;
    size_t nbufs;
    size_t bytes;       /* buffered payload bytes, all integrations */
};

/* a held integration is retried after hold_ms, doubling up to this */
#define WH_SINK_HOLD_MAX_MS 60000

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

wh_sink_t *wh_sink_new(const wh_sink_conf_t *conf, char *errstr, size_t errstr_size) {
    wh_sink_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->location = strdup(conf->location)) || !(s->group = strdup(conf->group))) {
        snprintf(errstr, errstr_size, "out of memory");
        wh_sink_destroy(s);
        return NULL;
    }
    s->conf = *conf;
    s->conf.location = s->location;
    s->conf.group = s->group;
    if (!s->conf.batch_max_records)
        s->conf.batch_max_records = 5000;
    if (!s->conf.batch_max_bytes)
        s->conf.batch_max_bytes = 16u << 20;
    if (s->conf.batch_max_ms <= 0)
        s->conf.batch_max_ms = 500;
    if (s->conf.hold_ms <= 0)
        s->conf.hold_ms = 1000;
    if (conf->kind == WH_SINK_POSTGRES) {
        s->pg = pg_loader_new(s->location, s->group, errstr, errstr_size);
        if (s->pg && conf->stop)
            pg_loader_set_stop(s->pg, conf->stop);
    } else {
        s->sq = sqlite_loader_new(s->location, s->group, errstr, errstr_size);
        if (s->sq && conf->stop)
            sqlite_loader_set_stop(s->sq, conf->stop);
    }
    if (!s->pg && !s->sq) {
        wh_sink_destroy(s);
        return NULL;
    }
    return s;
}

static void ibuf_drop(wh_sink_t *s, ibuf_t *b) {
    for (size_t i = 0; i < b->n; i++)
        free(b->mem[i]);
    s->bytes -= b->bytes;
    b->n = 0;
    b->bytes = 0;
}

void wh_sink_destroy(wh_sink_t *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->nbufs; i++) {
        ibuf_t *b = &s->bufs[i];
        ibuf_drop(s, b);
        for (size_t k = 0; k < b->npk; k++)
            free(b->pk[k]);
        free(b->pk);
        free(b->msgs);
        free(b->mem);
        free(b->name);
    }
    free(s->bufs);
    pg_loader_destroy(s->pg);
    sqlite_loader_destroy(s->sq);
    free(s->location);
    free(s->group);
    free(s);
}

int wh_sink_offset(wh_sink_t *s, const char *topic, int32_t partition, int64_t *next,
                   char *errstr, size_t errstr_size) {
    if (s->pg)
        return pg_loader_offset(s->pg, topic, partition, next, errstr, errstr_size);
    return sqlite_loader_offset(s->sq, topic, partition, next, errstr, errstr_size);
}

/* 1 if a held integration has buffered as much as it may */
static int held_full(const wh_sink_t *s, const ibuf_t *b) {
    return b->held && (b->n >= 20 * s->conf.batch_max_records ||
                       b->bytes >= 4 * s->conf.batch_max_bytes);
}

/* loads b's batch; a batch the loader refuses for its own reason holds the
   integration (kept, retried with backoff) instead of failing */
static int load(wh_sink_t *s, ibuf_t *b, char *errstr, size_t errstr_size) {
    if (b->n == 0)
        return 0;
    int64_t now = mono_ms();
    if (held_full(s, b)) {
        snprintf(errstr, errstr_size,
                 "integration %s held with %zu records buffered, the most it may hold (nothing "
                 "committed past them): %s", b->name, b->n, b->why);
        return -1;
    }
    if (b->held && now < b->retry_ms)
        return 0;
    wh_integration_t in = {b->name, (const char *const *)b->pk, b->npk};
    int rc = s->pg ? pg_loader_write(s->pg, &in, b->msgs, b->n, 0, errstr, errstr_size)
                   : sqlite_loader_write(s->sq, &in, b->msgs, b->n, 0, errstr, errstr_size);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (b->held)
            log_info("integration %s: loading again", b->name);
        b->held = 0;
        ibuf_drop(s, b);
        return 0;
    }
    b->delay_ms = !b->held ? s->conf.hold_ms
                  : b->delay_ms > WH_SINK_HOLD_MAX_MS / 2 ? WH_SINK_HOLD_MAX_MS : 2 * b->delay_ms;
    b->retry_ms = now + b->delay_ms;
    if (!b->held || strcmp(b->why, errstr) != 0)
        log_error("%s; holding its %zu records (not committed; other integrations load on), "
                  "retrying in %d ms", errstr, b->n, b->delay_ms);
    else
        log_warn("integration %s still held (%zu records); retrying in %d ms", b->name, b->n,
                 b->delay_ms);
    b->held = 1;
    snprintf(b->why, sizeof(b->why), "%s", errstr);
    return 0;
}

/* buffered payload bytes of integrations that are not held */
static size_t loadable_bytes(const wh_sink_t *s) {
    size_t n = s->bytes;
    for (size_t i = 0; i < s->nbufs; i++)
        if (s->bufs[i].held)
            n -= s->bufs[i].bytes;
    return n;
}

static ibuf_t *buf_for(wh_sink_t *s, const wh_integration_t *in) {
    for (size_t i = 0; i < s->nbufs; i++)
        if (strcmp(s->bufs[i].name, in->name) == 0)
            return &s->bufs[i];
    ibuf_t *nb = realloc(s->bufs, (s->nbufs + 1) * sizeof(*nb));
    if (!nb)
        return NULL;
    s->bufs = nb;
    ibuf_t *b = &nb[s->nbufs];
    memset(b, 0, sizeof(*b));
    if (!(b->name = strdup(in->name)) || (in->npk && !(b->pk = calloc(in->npk, sizeof(char *)))))
        goto oom;
    for (size_t k = 0; k < in->npk; k++, b->npk++)
        if (!(b->pk[k] = strdup(in->pk[k])))
            goto oom;
    s->nbufs++;
    return b;
oom:
    for (size_t k = 0; k < b->npk; k++)
        free(b->pk[k]);
    free(b->pk);
    free(b->name);
    return NULL;
}

int wh_sink_write(wh_sink_t *s, const wh_integration_t *in, const wh_msg_t *msg, char *errstr,
                  size_t errstr_size) {
    ibuf_t *b = buf_for(s, in);
    if (!b)
        goto oom;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        wh_msg_t *nm = realloc(b->msgs, cap * sizeof(*nm));
        if (!nm)
            goto oom;
        b->msgs = nm;
        char **mem = realloc(b->mem, cap * sizeof(*mem));
        if (!mem)
            goto oom;
        b->mem = mem;
        b->cap = cap;
    }
    size_t tlen = strlen(msg->topic), klen = msg->sys.key ? msg->sys.key_len : 0;
    char *block = malloc(tlen + 1 + msg->value_len + 1 + klen + 1);
    if (!block)
        goto oom;
    wh_msg_t *m = &b->msgs[b->n];
    *m = *msg;
    memcpy(block, msg->topic, tlen + 1);
    m->topic = block;
    char *v = block + tlen + 1;
    if (msg->value_len)
        memcpy(v, msg->value, msg->value_len);
    v[msg->value_len] = '\0';
    m->value = v;
    char *k = v + msg->value_len + 1;
    if (klen)
        memcpy(k, msg->sys.key, klen);
    k[klen] = '\0';
    m->sys.key = msg->sys.key ? k : NULL;
    b->mem[b->n++] = block;
    if (b->n == 1)
        b->first_ms = mono_ms();
    b->bytes += msg->value_len;
    s->bytes += msg->value_len;
    if (b->n >= s->conf.batch_max_records || b->bytes >= s->conf.batch_max_bytes)
        return load(s, b, errstr, errstr_size);
    /* many integrations each below their limit: bound the sum too */
    if (s->bytes >= 4 * s->conf.batch_max_bytes && loadable_bytes(s) >= 4 * s->conf.batch_max_bytes)
        return wh_sink_flush(s, errstr, errstr_size);
    return 0;
oom:
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
}

int wh_sink_poll(wh_sink_t *s, char *errstr, size_t errstr_size) {
    int64_t now = mono_ms();
    for (size_t i = 0; i < s->nbufs; i++) {
        ibuf_t *b = &s->bufs[i];
        if (b->n && (b->held ? now >= b->retry_ms : now - b->first_ms >= s->conf.batch_max_ms) &&
            load(s, b, errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

int64_t wh_sink_pending(const wh_sink_t *s, const char *topic, int32_t partition) {
    int64_t low = -1;
    for (size_t i = 0; i < s->nbufs; i++) {
        const ibuf_t *b = &s->bufs[i];
        for (size_t k = 0; k < b->n; k++) {
            const wh_msg_t *m = &b->msgs[k];
            if (m->partition == partition && strcmp(m->topic, topic) == 0 &&
                (low < 0 || m->offset < low))
                low = m->offset;
        }
    }
    return low;
}

int wh_sink_flush(wh_sink_t *s, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < s->nbufs; i++)
        if (load(s, &s->bufs[i], errstr, errstr_size) < 0)
            return -1;
    return 0;
}

void wh_sink_forget(wh_sink_t *s, const char *topic) {
    for (size_t i = 0; i < s->nbufs; i++) {
        ibuf_t *b = &s->bufs[i];
        size_t w = 0;
        for (size_t k = 0; k < b->n; k++) {
            if (strcmp(b->msgs[k].topic, topic) == 0) {
                b->bytes -= b->msgs[k].value_len;
                s->bytes -= b->msgs[k].value_len;
                free(b->mem[k]);
                continue;
            }
            b->msgs[w] = b->msgs[k];
            b->mem[w++] = b->mem[k];
        }
        b->n = w;
    }
}

void wh_msg_from_kafka(wh_msg_t *m, const char *topic, int32_t partition, int64_t offset,
                       int64_t timestamp_ms, const void *key, size_t key_len, const void *value,
                       size_t value_len, const rd_kafka_headers_t *headers) {
    memset(m, 0, sizeof(*m));
    m->topic = topic;
    m->partition = partition;
    m->offset = offset;
    m->value = value;
    m->value_len = value_len;
    /* the one rule of both pipelines; the clock only stands in for a
       message without a timestamp (the batch time is known at load only) */
    sink_record_sys(headers, timestamp_ms, offset, key, key_len, rfc3339_now_us(), &m->sys);
}
