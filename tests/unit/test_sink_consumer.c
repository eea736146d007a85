/* Unit tests for the sink's client-side logic: the avro-files output's rolls
 * and pending offsets, the tracking producer and the whole consumer loop
 * with the Avro pipeline on librdkafka's mock cluster (with an in-memory
 * registry), and the consumer driving the warehouse (sqlite) pipeline. */
#include <avro.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "avro_pipeline.h"
#include "cfg.h"
#include "harness.h"
#include "integ.h"
#include "log.h"
#include "sink_consumer.h"
#include "sink_dlq.h"
#include "sink_files.h"
#include "sink_kprod.h"
#include "wh_pipeline.h"

static char tmpdir[] = "/tmp/test_sink_consumer.XXXXXX";

/* Kafka protocol ApiKey of Produce (librdkafka keeps its table internal) */
#define TEST_APIKEY_PRODUCE 0

static const char schema_v1[] =
    "{\"type\":\"record\",\"name\":\"data\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"}]}";
static const char schema_v2[] =
    "{\"type\":\"record\",\"name\":\"data\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"},"
    "{\"name\":\"s\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Avro binary of {"n": n} (a zig-zag varint), and {"n": n, "s": null}. */
static size_t encode_n(int64_t n, int v2, unsigned char *out) {
    uint64_t z = ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
    size_t k = 0;
    while (z > 0x7f) {
        out[k++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    out[k++] = (unsigned char)z;
    if (v2)
        out[k++] = 0; /* union branch 0: null */
    return k;
}

static int write_rec(sink_target_t *t, const char *topic, int32_t partition, int64_t offset,
                     const sink_schema_t *schema, int v2) {
    unsigned char buf[16];
    char err[256];
    sink_rec_t rec = {.topic = topic, .integration = topic + 9, .partition = partition,
                      .offset = offset, .timestamp_ms = -1, .schema = schema};
    rec.avro = buf;
    rec.avro_len = encode_n(offset, v2, buf);
    int rc = t->ops->write(t, &rec, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "write: %s\n", err);
    return rc;
}

/* Names of the finished files under dir (sorted), and the count. */
static int list_files(const char *dir, char names[][256], int max) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) && n < max) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(names[n++], 256, "%s", de->d_name);
    }
    if (d)
        closedir(d);
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char tmp[256];
            memcpy(tmp, names[k], 256);
            memcpy(names[k], names[k - 1], 256);
            memcpy(names[k - 1], tmp, 256);
        }
    return n;
}

static int count_tmp(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp"))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* Reads an OCF file with avro-c; returns the "n" values in out. */
static int read_ns(const char *path, int64_t *out, int max) {
    avro_file_reader_t r;
    if (avro_file_reader(path, &r) != 0)
        return -1;
    avro_schema_t s = avro_file_reader_get_writer_schema(r);
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t v, f;
    avro_generic_value_new(iface, &v);
    int n = 0;
    while (n < max && avro_file_reader_read_value(r, &v) == 0) {
        avro_value_get_by_name(&v, "n", &f, NULL);
        avro_value_get_long(&f, &out[n++]);
        avro_value_reset(&v);
    }
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(s); /* the reader hands out a new reference */
    avro_file_reader_close(r);
    return n;
}

static void test_files_pending_and_flush(void) {
    char dir[512], sub[600], err[256], names[16][256];
    snprintf(dir, sizeof(dir), "%s/flush", tmpdir);
    /* a leftover of a killed run is deleted at start */
    snprintf(sub, sizeof(sub), "%s/a", dir);
    mkdir(dir, 0755);
    mkdir(sub, 0755);
    char left[700];
    snprintf(left, sizeof(left), "%s/.20260101T000000000Z-0-5.avro.tmp", sub);
    FILE *f = fopen(left, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    sink_files_conf_t conf = {dir, 0, 0, SINK_OCF_DEFLATE};
    sink_target_t *t = sink_files_new(&conf, err, sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_INT(access(left, F_OK), -1);

    sink_schema_t s1 = {1, schema_v1, sizeof(schema_v1) - 1};
    CHECK_INT(t->ops->open(t, "webhooks.a", "a", &s1, err, sizeof(err)), 0);
    CHECK_INT(t->ops->pending(t, "webhooks.a", 0), -1);
    for (int i = 0; i < 10; i++)
        CHECK_INT(write_rec(t, "webhooks.a", 0, 100 + i, &s1, 0), 0);
    CHECK_INT(write_rec(t, "webhooks.a", 1, 7, &s1, 0), 0);
    /* nothing is durable before the rename: the commit stays at the first */
    CHECK_INT(t->ops->pending(t, "webhooks.a", 0), 100);
    CHECK_INT(t->ops->pending(t, "webhooks.a", 1), 7);
    CHECK_INT(t->ops->poll(t, err, sizeof(err)), 0);
    CHECK_INT(list_files(sub, names, 16), 0);
    CHECK_INT(count_tmp(sub), 2);
    CHECK_INT(t->ops->flush(t, err, sizeof(err)), 0);
    CHECK_INT(t->ops->pending(t, "webhooks.a", 0), -1);
    CHECK_INT(t->ops->pending(t, "webhooks.a", 1), -1);
    CHECK_INT(count_tmp(sub), 0);
    int n = list_files(sub, names, 16);
    CHECK_INT(n, 2);
    /* <ts>-<partition>-<first offset>.avro */
    CHECK(n == 2 && strstr(names[0], "Z-0-100.avro") != NULL);
    CHECK(n == 2 && strstr(names[1], "Z-1-7.avro") != NULL);
    char path[1024];
    int64_t got[32];
    snprintf(path, sizeof(path), "%s/%.255s", sub, names[0]);
    CHECK_INT(read_ns(path, got, 32), 10);
    CHECK_INT(got[0], 100);
    CHECK_INT(got[9], 109);
    t->ops->destroy(t);
}

/* A finished file is never replaced: a name already taken gets a suffix. */
static void test_files_never_replace(void) {
    char dir[512], sub[600], err[256], names[8][256];
    snprintf(dir, sizeof(dir), "%s/noreplace", tmpdir);
    snprintf(sub, sizeof(sub), "%s/c", dir);
    sink_files_conf_t conf = {dir, 0, 0, SINK_OCF_NULL};
    sink_target_t *t = sink_files_new(&conf, err, sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    sink_schema_t s1 = {1, schema_v1, sizeof(schema_v1) - 1};
    CHECK_INT(t->ops->open(t, "webhooks.c", "c", &s1, err, sizeof(err)), 0);
    CHECK_INT(write_rec(t, "webhooks.c", 0, 0, &s1, 0), 0);
    /* take the final name of the open file (".<name>.tmp") first */
    DIR *d = opendir(sub);
    struct dirent *de;
    char taken[1024] = "";
    while (d && (de = readdir(d)))
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp"))
            snprintf(taken, sizeof(taken), "%s/%.*s", sub, (int)strlen(de->d_name) - 5,
                     de->d_name + 1);
    if (d)
        closedir(d);
    CHECK(taken[0] != 0);
    FILE *f = fopen(taken, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("someone else's", f);
        fclose(f);
    }
    CHECK_INT(t->ops->flush(t, err, sizeof(err)), 0);
    CHECK_INT(list_files(sub, names, 8), 2);
    CHECK(strstr(names[0], "_2.avro") != NULL || strstr(names[1], "_2.avro") != NULL);
    struct stat st;
    CHECK_INT(stat(taken, &st), 0);
    CHECK_INT(st.st_size, 14);
    t->ops->destroy(t);
}

static void test_files_roll_on_schema_size_age(void) {
    char dir[512], sub[600], err[256], names[32][256];
    snprintf(dir, sizeof(dir), "%s/roll", tmpdir);
    snprintf(sub, sizeof(sub), "%s/b", dir);
    sink_files_conf_t conf = {dir, 0, 80, SINK_OCF_SNAPPY};
    sink_target_t *t = sink_files_new(&conf, err, sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    sink_schema_t s1 = {1, schema_v1, sizeof(schema_v1) - 1};
    sink_schema_t s2 = {2, schema_v2, sizeof(schema_v2) - 1};
    CHECK_INT(t->ops->open(t, "webhooks.b", "b", &s1, err, sizeof(err)), 0);
    CHECK_INT(write_rec(t, "webhooks.b", 0, 0, &s1, 0), 0);
    CHECK_INT(write_rec(t, "webhooks.b", 0, 1, &s1, 0), 0);
    /* one schema per file: a new version rolls the open file */
    CHECK_INT(t->ops->open(t, "webhooks.b", "b", &s2, err, sizeof(err)), 0);
    CHECK_INT(write_rec(t, "webhooks.b", 0, 2, &s2, 1), 0);
    CHECK_INT(list_files(sub, names, 32), 1);
    CHECK_INT(t->ops->pending(t, "webhooks.b", 0), 2);
    /* age: poll rolls a file older than max_age_ms */
    CHECK_INT(t->ops->poll(t, err, sizeof(err)), 0);
    CHECK_INT(t->ops->pending(t, "webhooks.b", 0), 2);
    sleep_ms(120);
    CHECK_INT(t->ops->poll(t, err, sizeof(err)), 0);
    CHECK_INT(t->ops->pending(t, "webhooks.b", 0), -1);
    CHECK_INT(list_files(sub, names, 32), 2);
    t->ops->destroy(t);

    /* size: every file stops near max_bytes */
    sink_files_conf_t small = {dir, 1200, 0, SINK_OCF_NULL};
    t = sink_files_new(&small, err, sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_INT(t->ops->open(t, "webhooks.b", "b", &s1, err, sizeof(err)), 0);
    for (int i = 0; i < 3000; i++)
        CHECK_INT(write_rec(t, "webhooks.b", 3, 1000 + i, &s1, 0), 0);
    int64_t pending = t->ops->pending(t, "webhooks.b", 3);
    CHECK(pending > 1000 && pending < 4000);
    CHECK_INT(t->ops->flush(t, err, sizeof(err)), 0);
    int n = list_files(sub, names, 32);
    CHECK(n > 4);
    int64_t total = 0, got[4096];
    for (int i = 0; i < n; i++) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%.255s", sub, names[i]);
        CHECK_INT(stat(path, &st), 0);
        CHECK(st.st_size < 1200 + 64 * 1024);
        if (strstr(names[i], "-3-")) {
            int k = read_ns(path, got, 4096);
            CHECK(k > 0);
            total += k;
        }
    }
    CHECK_INT(total, 3000);
    t->ops->destroy(t);
}

/* ---- mock cluster ---- */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

static int mock_up(void) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!mock_rk)
        return -1;
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    return mock ? 0 : -1;
}

static cfg_t *mock_cfg(void) {
    static const cfg_opt_t none[] = {{"unused", CFG_STR, NULL, 0, -1, 0, ""}};
    char err[256];
    cfg_t *cfg = cfg_new("test", "", none, 1, "TEST_SINK_CONSUMER");
    cfg_set(cfg, "kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err,
            sizeof(err));
    cfg_set(cfg, "kafka.log_level", "3", err, sizeof(err));
    return cfg;
}

static void test_kprod_tracks_acks_and_failures(void) {
    char err[256];
    cfg_t *cfg = mock_cfg();
    rd_kafka_mock_topic_create(mock, "out1", 1, 1);
    sink_kprod_t *kp = sink_kprod_new(cfg, 0, err, sizeof(err));
    CHECK(kp != NULL);
    if (!kp) {
        cfg_destroy(cfg);
        return;
    }
    CHECK_INT(sink_kprod_pending(kp, "src", 0), -1);
    for (int i = 0; i < 100; i++)
        CHECK_INT(sink_kprod_produce(kp, "out1", 0, "k", 1, "v", 1, NULL, "src", 0, 50 + i, err,
                                     sizeof(err)), 0);
    int64_t p = sink_kprod_pending(kp, "src", 0);
    CHECK(p >= 50 && p < 150);
    CHECK_INT(sink_kprod_flush(kp, 10000, err, sizeof(err)), 0);
    CHECK_INT(sink_kprod_pending(kp, "src", 0), -1);

    /* a delivery that fails for good keeps its offset pending and fails the producer */
    rd_kafka_mock_push_request_errors(mock, TEST_APIKEY_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    CHECK_INT(sink_kprod_produce(kp, "out1", 0, "k", 1, "v", 1, NULL, "src", 0, 150, err,
                                 sizeof(err)), 0);
    CHECK_INT(sink_kprod_flush(kp, 5000, err, sizeof(err)), -1);
    CHECK(strstr(err, "failed") != NULL);
    CHECK_INT(sink_kprod_pending(kp, "src", 0), 150);
    CHECK_INT(sink_kprod_poll(kp, err, sizeof(err)), -1);
    sink_kprod_destroy(kp);

    /* a message larger than message.max.bytes is refused up front (1), so
     * the consumer can dead-letter it; nothing is left pending for it */
    kp = sink_kprod_new(cfg, 1000, err, sizeof(err));
    CHECK(kp != NULL);
    if (kp) {
        static char big[4000];
        memset(big, 'x', sizeof(big));
        CHECK_INT(sink_kprod_produce(kp, "out1", 0, "k", 1, big, sizeof(big), NULL, "src", 1, 9,
                                     err, sizeof(err)), SINK_KPROD_TOO_LARGE);
        CHECK(strstr(err, "4000 bytes") != NULL);
        CHECK_INT(sink_kprod_pending(kp, "src", 1), -1);
        CHECK_INT(sink_kprod_produce(kp, "out1", 0, "k", 1, big, 10, NULL, "src", 1, 10, err,
                                     sizeof(err)), 0);
        CHECK_INT(sink_kprod_flush(kp, 10000, err, sizeof(err)), 0);
        sink_kprod_destroy(kp);
    }
    cfg_destroy(cfg);
}

/* An in-memory registry: one subject's versions, ids from 1. */
typedef struct fake_reg {
    pthread_mutex_t lock;
    char *texts[64];
    int n;
    int refuse_next;   /* answers "incompatible" to the next register */
} fake_reg_t;

static sink_reg_rc_t fake_register(void *opaque, const char *subject, const char *schema,
                                   int *id, char *errstr, size_t errstr_size) {
    fake_reg_t *r = opaque;
    (void)subject;
    pthread_mutex_lock(&r->lock);
    sink_reg_rc_t rc = SINK_REG_OK;
    if (r->refuse_next) {
        r->refuse_next = 0;
        snprintf(errstr, errstr_size, "incompatible");
        rc = SINK_REG_REFUSED;
    } else {
        int found = 0;
        for (int i = 0; i < r->n && !found; i++)
            if (strcmp(r->texts[i], schema) == 0) {
                *id = i + 1;
                found = 1;
            }
        if (!found && r->n < 64) {
            r->texts[r->n++] = strdup(schema);
            *id = r->n;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static sink_reg_rc_t fake_latest(void *opaque, const char *subject, int *id, char **schema,
                                 char *errstr, size_t errstr_size) {
    fake_reg_t *r = opaque;
    (void)subject;
    pthread_mutex_lock(&r->lock);
    sink_reg_rc_t rc = SINK_REG_NOT_FOUND;
    *schema = NULL;
    if (r->n > 0) {
        *id = r->n;
        *schema = strdup(r->texts[r->n - 1]);
        rc = SINK_REG_OK;
    } else {
        snprintf(errstr, errstr_size, "subject not found");
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

typedef struct run_arg {
    sink_consumer_t *c;
    volatile sig_atomic_t stop;
    int rc;
    char err[512];
} run_arg_t;

static void *run_thread(void *opaque) {
    run_arg_t *a = opaque;
    a->rc = sink_consumer_run(a->c, &a->stop, a->err, sizeof(a->err));
    return NULL;
}

/* Committed offset of group/topic/partition, -1 if none. */
static int64_t committed(const char *group, const char *topic, int32_t partition) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tpl, topic, partition);
    int64_t off = -1;
    if (rd_kafka_committed(rk, tpl, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        tpl->elems[0].offset >= 0)
        off = tpl->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_destroy(rk);
    return off;
}

/* Messages in topic (all partitions) and, for the first, its reason header. */
static int count_messages(const char *topic, int partitions, char *reason, size_t reason_size) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "counter", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(tpl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    int n = 0, eofs = 0;
    for (int i = 0; i < 100 && eofs < partitions; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (!m->err) {
            rd_kafka_headers_t *h;
            const void *v;
            size_t vl;
            if (n == 0 && reason && rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, "hookpipe-reject-reason", &v, &vl) == 0)
                snprintf(reason, reason_size, "%.*s", (int)vl, (const char *)v);
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static void produce_to(const char *topic, int32_t partition, const char *key, const char *val);

static void produce_json(int32_t partition, const char *key, const char *val) {
    produce_to("webhooks.shop", partition, key, val);
}

static void produce_to(const char *topic, int32_t partition, const char *key, const char *val) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err,
                      sizeof(err));
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    CHECK(prod != NULL);
    if (!prod)
        return;
    CHECK_INT(rd_kafka_producev(
                  prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                  RD_KAFKA_V_VALUE((void *)val, val ? strlen(val) : 0),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                  RD_KAFKA_V_HEADER("hookpipe-received-at", "2026-11-26T20:14:37.123456Z", -1),
                  RD_KAFKA_V_HEADER("hookpipe-sequence", "1795725050119600885", -1),
                  RD_KAFKA_V_END), 0);
    CHECK_INT(rd_kafka_flush(prod, 10000), 0);
    rd_kafka_destroy(prod);
}

/* An Avro output that refuses the records at odd offsets (as kafka-avro
 * refuses one larger than its topic takes) and keeps nothing pending. */
typedef struct odd_output {
    sink_target_t base;
    int opened, written;
} odd_output_t;

static int odd_open(sink_target_t *t, const char *topic, const char *integration,
                    const sink_schema_t *schema, char *errstr, size_t errstr_size) {
    (void)topic, (void)integration, (void)schema, (void)errstr, (void)errstr_size;
    ((odd_output_t *)t)->opened++;
    return 0;
}

static sink_target_rc_t odd_write(sink_target_t *t, const sink_rec_t *rec, char *errstr,
                                  size_t errstr_size) {
    if (rec->offset % 2) {
        snprintf(errstr, errstr_size, "odd offset");
        return SINK_TARGET_REFUSED;
    }
    ((odd_output_t *)t)->written++;
    return SINK_TARGET_OK;
}

static int odd_poll(sink_target_t *t, char *errstr, size_t errstr_size) {
    (void)t, (void)errstr, (void)errstr_size;
    return 0;
}

static int64_t odd_pending(sink_target_t *t, const char *topic, int32_t partition) {
    (void)t, (void)topic, (void)partition;
    return -1;
}

static void odd_close(sink_target_t *t, const char *topic) {
    (void)t, (void)topic;
}

static void odd_destroy(sink_target_t *t) { free(t); }

static const sink_target_ops_t odd_ops = {"odd", odd_open, odd_write, odd_poll, odd_pending,
                                          odd_poll, odd_close, odd_destroy};

/* A registry that never answers. */
static sink_reg_rc_t down_register(void *opaque, const char *subject, const char *schema,
                                   int *id, char *errstr, size_t errstr_size) {
    (void)opaque, (void)subject, (void)schema, (void)id;
    snprintf(errstr, errstr_size, "connection refused");
    return SINK_REG_RETRY;
}

static sink_reg_rc_t down_latest(void *opaque, const char *subject, int *id, char **schema,
                                 char *errstr, size_t errstr_size) {
    (void)opaque, (void)subject, (void)id;
    *schema = NULL;
    snprintf(errstr, errstr_size, "connection refused");
    return SINK_REG_RETRY;
}

/* The Avro pipeline's outcomes as the consumer sees them: written, dead-
 * lettered (not convertible, or refused by the output) with the reason,
 * stopped while the registry does not answer; nothing stored with the
 * output. */
static void test_avro_pipeline_outcomes(void) {
    char err[512];
    rd_kafka_mock_topic_create(mock, "webhooks.po", 1, 1);
    rd_kafka_mock_topic_create(mock, "webhooks.po.rejected", 1, 1);
    cfg_t *cfg = mock_cfg();
    fake_reg_t reg = {.lock = PTHREAD_MUTEX_INITIALIZER};
    volatile sig_atomic_t stop = 0;
    sink_dlq_t *dlq = sink_dlq_new(cfg, err, sizeof(err));
    CHECK(dlq != NULL);
    odd_output_t *out = calloc(1, sizeof(*out));
    out->base.ops = &odd_ops;
    avro_pipeline_conf_t ac = {.registry = {fake_register, fake_latest, &reg},
                               .output = &out->base, .dlq = dlq, .stop = &stop};
    sink_pipeline_t *p = dlq ? avro_pipeline_new(&ac, err, sizeof(err)) : NULL;
    CHECK(p != NULL);
    if (!p)
        goto out;
    int64_t next = 5;
    CHECK_INT(p->ops->assigned(p, "webhooks.po", 0, &next, err, sizeof(err)),
              SINK_PIPE_START_NONE);
    CHECK_INT(next, 5);
    sink_sys_t sys = {.received_at = 1, .sequence = 1, .key = "k", .key_len = 1};
    sink_msg_t msg = {.topic = "webhooks.po", .integration = "po", .timestamp_ms = -1,
                      .key = "k", .key_len = 1, .value = "{\"a\":1}", .value_len = 7,
                      .sys = &sys};
    static const struct {
        int64_t offset;
        const char *value;      /* NULL: a message without a value */
        sink_pipe_rc_t want;
    } cases[] = {
        {0, "{\"a\":1}", SINK_PIPE_WRITTEN},   /* a new version, registered */
        {1, "{\"a\":1}", SINK_PIPE_REJECTED},  /* refused by the output */
        {2, NULL, SINK_PIPE_REJECTED},         /* not convertible */
        {3, "[1]", SINK_PIPE_REJECTED},        /* not convertible */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msg.offset = cases[i].offset;
        msg.value = cases[i].value;
        msg.value_len = cases[i].value ? strlen(cases[i].value) : 0;
        CHECK_INT(p->ops->write(p, &msg, err, sizeof(err)), cases[i].want);
    }
    CHECK_INT(out->written, 1);
    CHECK_INT(out->opened, 1);
    sink_pipeline_stats_t st;
    p->ops->stats(p, &st);
    CHECK_INT((long long)st.versions, 1);
    CHECK_INT(sink_dlq_flush(dlq, err, sizeof(err)), 0);
    CHECK_INT(sink_dlq_pending(dlq, "webhooks.po", 0), -1);
    char reason[256] = "";
    CHECK_INT(count_messages("webhooks.po.rejected", 1, reason, sizeof(reason)), 3);
    CHECK(strstr(reason, "target odd refused the record: odd offset") != NULL);
    /* revoked: the output is opened again on the topic's next record */
    p->ops->revoked(p, "webhooks.po");
    msg.value = "{\"a\":2}", msg.value_len = 7, msg.offset = 4;
    /* (the same shape: no new version) */
    CHECK_INT(p->ops->write(p, &msg, err, sizeof(err)), SINK_PIPE_WRITTEN);
    CHECK_INT(out->opened, 2);
    p->ops->destroy(p);

    /* the registry does not answer: the pipeline waits until the stop */
    out = calloc(1, sizeof(*out));
    out->base.ops = &odd_ops;
    ac.output = &out->base;
    ac.registry = (sink_registry_t){down_register, down_latest, NULL};
    p = avro_pipeline_new(&ac, err, sizeof(err));
    CHECK(p != NULL);
    if (!p)
        goto out;
    stop = 1;
    msg.offset = 0;
    CHECK_INT(p->ops->write(p, &msg, err, sizeof(err)), SINK_PIPE_STOPPED);
    CHECK_INT(out->written, 0);
    p->ops->destroy(p);
out:
    sink_dlq_destroy(dlq);
    for (int i = 0; i < reg.n; i++)
        free(reg.texts[i]);
    cfg_destroy(cfg);
}

static void test_consumer_end_to_end(void) {
    char err[512], dir[512], sub[600], names[64][256];
    snprintf(dir, sizeof(dir), "%s/e2e", tmpdir);
    snprintf(sub, sizeof(sub), "%s/shop", dir);
    rd_kafka_mock_topic_create(mock, "webhooks.shop", 2, 1);
    rd_kafka_mock_topic_create(mock, "webhooks.shop.rejected", 2, 1);
    rd_kafka_mock_topic_create(mock, "webhooks.shop.avro", 2, 1);
    rd_kafka_mock_topic_create(mock, "hookpipe.integrations", 1, 1);

    /* 40 records whose shape grows once, and one that is not JSON */
    for (int i = 0; i < 41; i++) {
        char key[32], val[128];
        snprintf(key, sizeof(key), "key-%d", i);
        if (i == 20)
            snprintf(val, sizeof(val), "{\"broken\": ");
        else if (i < 10)
            snprintf(val, sizeof(val), "{\"id\":%d,\"name\":\"n%d\"}", i, i);
        else
            snprintf(val, sizeof(val), "{\"id\":%d,\"name\":\"n%d\",\"extra\":%d.5}", i, i, i);
        produce_json(i % 2, key, val);
    }
    cfg_t *cfg = mock_cfg();
    cfg_set(cfg, "kafka.topic.metadata.refresh.interval.ms", "500", err, sizeof(err));
    /* the mock coordinator answers a member's second JoinGroup (a rejoin
     * after a metadata change) only at the rebalance timeout: keep it short */
    cfg_set(cfg, "kafka.session.timeout.ms", "6000", err, sizeof(err));
    cfg_set(cfg, "kafka.max.poll.interval.ms", "6000", err, sizeof(err));
    fake_reg_t reg = {.lock = PTHREAD_MUTEX_INITIALIZER};
    run_arg_t arg = {0};
    sink_files_conf_t fc = {dir, 0, 100000, SINK_OCF_DEFLATE};
    sink_dlq_t *dlq = sink_dlq_new(cfg, err, sizeof(err));
    CHECK(dlq != NULL);
    avro_pipeline_conf_t ac = {.registry = {fake_register, fake_latest, &reg},
                               .output = sink_files_new(&fc, err, sizeof(err)), .dlq = dlq,
                               .stop = &arg.stop};
    CHECK(ac.output != NULL);
    sink_pipeline_t *t = ac.output && dlq ? avro_pipeline_new(&ac, err, sizeof(err)) : NULL;
    CHECK(t != NULL);
    sink_consumer_conf_t cc = {
        .group_id = "g-e2e", .topic_prefix = "webhooks.", .batch_max_records = 5,
        .batch_max_ms = 100, .pipeline = t, .dlq = dlq,
    };
    arg.c = t ? sink_consumer_new(cfg, &cc, err, sizeof(err)) : NULL;
    CHECK(arg.c != NULL);
    if (!arg.c) {
        fprintf(stderr, "consumer: %s\n", err);
        goto out;
    }
    pthread_t th;
    pthread_create(&th, NULL, run_thread, &arg);
    /* files roll only at 100 s of age, or when the schema changes (offsets
     * 0..4 of each partition are version 1): until the stop, nothing may be
     * committed beyond the first version's file */
    for (int i = 0; i < 300 && (count_tmp(sub) < 2); i++)
        sleep_ms(100);
    sleep_ms(500);
    CHECK_INT(count_tmp(sub), 2);
    int64_t c0 = committed("g-e2e", "webhooks.shop", 0);
    int64_t c1 = committed("g-e2e", "webhooks.shop", 1);
    CHECK(c0 <= 5);
    CHECK(c1 <= 5);
    arg.stop = 1;
    pthread_join(th, NULL);
    CHECK_INT(arg.rc, 0);
    if (arg.rc != 0)
        fprintf(stderr, "run: %s\n", arg.err);
    /* SIGTERM path: flushed and committed to the end */
    CHECK_INT(committed("g-e2e", "webhooks.shop", 0), 21);
    CHECK_INT(committed("g-e2e", "webhooks.shop", 1), 20);
    CHECK_INT(count_tmp(sub), 0);
    int n = list_files(sub, names, 64);
    CHECK(n >= 2);
    int64_t total = 0, got[64];
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%.255s", sub, names[i]);
        avro_file_reader_t r;
        CHECK_INT(avro_file_reader(path, &r), 0);
        avro_schema_t s = avro_file_reader_get_writer_schema(r);
        avro_value_iface_t *iface = avro_generic_class_from_schema(s);
        avro_value_t v, f, b;
        avro_generic_value_new(iface, &v);
        while (total < 64 && avro_file_reader_read_value(r, &v) == 0) {
            const char *pk;
            size_t pkl;
            CHECK_INT(avro_value_get_by_name(&v, "__sdc_primary_key", &f, NULL), 0);
            avro_value_get_string(&f, &pk, &pkl);
            CHECK(strncmp(pk, "key-", 4) == 0);
            avro_value_get_by_name(&v, "id", &f, NULL);
            avro_value_get_current_branch(&f, &b);
            avro_value_get_long(&b, &got[total++]);
            avro_value_reset(&v);
        }
        avro_value_decref(&v);
        avro_value_iface_decref(iface);
        avro_schema_decref(s);
        avro_file_reader_close(r);
    }
    CHECK_INT(total, 40);
    CHECK_INT(reg.n, 2); /* two versions, not one per record */
    char reason[256] = "";
    CHECK_INT(count_messages("webhooks.shop.rejected", 2, reason, sizeof(reason)), 1);
    CHECK(strlen(reason) > 0);

    /* a new group continues from the registered version; a record that
     * needs one more version meets a refusal (as when another sink
     * registered first): the sink reloads the latest and registers again
     * instead of rejecting the record */
    produce_json(0, "key-41", "{\"id\":41,\"more\":true}");
    reg.refuse_next = 1;
    sink_consumer_destroy(arg.c);
    t->ops->destroy(t);
    sink_dlq_destroy(dlq);
    arg = (run_arg_t){0};
    dlq = sink_dlq_new(cfg, err, sizeof(err));
    ac.output = sink_files_new(&fc, err, sizeof(err));
    ac.dlq = dlq;
    t = ac.output && dlq ? avro_pipeline_new(&ac, err, sizeof(err)) : NULL;
    cc.group_id = "g-e2e-2";
    cc.pipeline = t;
    cc.dlq = dlq;
    arg.c = t ? sink_consumer_new(cfg, &cc, err, sizeof(err)) : NULL;
    CHECK(arg.c != NULL);
    if (!arg.c)
        goto out;
    pthread_create(&th, NULL, run_thread, &arg);
    for (int i = 0; i < 300 && count_tmp(sub) < 2; i++)
        sleep_ms(100);
    sleep_ms(300);
    arg.stop = 1;
    pthread_join(th, NULL);
    CHECK_INT(arg.rc, 0);
    CHECK_INT(committed("g-e2e-2", "webhooks.shop", 0), 22);
    CHECK_INT(committed("g-e2e-2", "webhooks.shop", 1), 20);
    CHECK_INT(reg.refuse_next, 0);
    CHECK_INT(reg.n, 3); /* only the one new version */
    /* the broken record again (a new group reads from the start), not #41 */
    CHECK_INT(count_messages("webhooks.shop.rejected", 2, NULL, 0), 2);
out:
    sink_consumer_destroy(arg.c);
    if (t)
        t->ops->destroy(t);
    sink_dlq_destroy(dlq);
    for (int i = 0; i < reg.n; i++)
        free(reg.texts[i]);
    cfg_destroy(cfg);
}

/* One integer from a query on the SQLite file; -1 on error. */
static long long sqlite_count(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The consumer with a warehouse target: the primary-key field names come
 * from hookpipe.integrations (an integration the consumer has not seen is
 * looked up when its topic appears), no registry is used, and a partition
 * starts from the offset stored with the rows, not from Kafka's. */
static void test_consumer_warehouse(void) {
    char err[512], db[512], integ_key[] = "wh";
    snprintf(db, sizeof(db), "%s/wh.db", tmpdir);
    rd_kafka_mock_topic_create(mock, "webhooks.wh", 2, 1);
    rd_kafka_mock_topic_create(mock, "webhooks.wh.rejected", 2, 1);
    rd_kafka_mock_topic_create(mock, "hookpipe.integrations", 1, 1);
    char *pk[] = {"id"};
    integ_t in = {.name = "wh", .display_name = "wh", .client_id = "1", .topic = "webhooks.wh",
                  .rejected_topic = "webhooks.wh.rejected", .primary_key = pk, .npk = 1};
    char *rec = integ_to_json(&in);
    CHECK(rec != NULL);
    produce_to(INTEG_TOPIC, 0, integ_key, rec);
    free(rec);
    /* ids 0..9, id 3 twice, and one without a value */
    for (int i = 0; i < 12; i++) {
        char key[32], val[128];
        int id = i == 10 ? 3 : i;
        snprintf(key, sizeof(key), "%d", id);
        snprintf(val, sizeof(val), "{\"id\":%d,\"n\":%d,\"o\":{\"a\":[1,2]}}", id, i);
        produce_to("webhooks.wh", id % 2, key, i == 11 ? NULL : val);
    }
    cfg_t *cfg = mock_cfg();
    cfg_set(cfg, "kafka.topic.metadata.refresh.interval.ms", "500", err, sizeof(err));
    cfg_set(cfg, "kafka.session.timeout.ms", "6000", err, sizeof(err));
    cfg_set(cfg, "kafka.max.poll.interval.ms", "6000", err, sizeof(err));
    volatile sig_atomic_t never = 0;
    wh_sink_conf_t wc = {.kind = WH_SINK_SQLITE, .location = db, .group = "g-wh",
                         .batch_max_ms = 50, .stop = &never};
    sink_pipeline_t *t = wh_pipeline_new(&wc, err, sizeof(err));
    CHECK(t != NULL);
    CHECK(t && strcmp(t->ops->name, "warehouse") == 0);
    /* no registry, no dead-letter producer at all */
    sink_consumer_conf_t cc = {.group_id = "g-wh-kafka", .topic_prefix = "webhooks.",
                               .batch_max_records = 5, .batch_max_ms = 100, .pipeline = t};
    run_arg_t arg = {0};
    arg.c = t ? sink_consumer_new(cfg, &cc, err, sizeof(err)) : NULL;
    CHECK(arg.c != NULL);
    if (!arg.c) {
        fprintf(stderr, "consumer: %s\n", err);
        goto out;
    }
    pthread_t th;
    pthread_create(&th, NULL, run_thread, &arg);
    const char *loaded = "SELECT COALESCE(SUM(next_offset), 0) FROM hookpipe_offsets "
                         "WHERE consumer_group = 'g-wh' AND topic = 'webhooks.wh'";
    for (int i = 0; i < 300 && sqlite_count(db, loaded) < 12; i++)
        sleep_ms(100);
    arg.stop = 1;
    pthread_join(th, NULL);
    CHECK_INT(arg.rc, 0);
    CHECK_INT(sqlite_count(db, loaded), 12);
    CHECK_INT(sqlite_count(db, "SELECT COUNT(*) FROM \"wh.data\""), 10);
    /* keyed by the field "id", not by __sdc_primary_key */
    CHECK_INT(sqlite_count(db, "SELECT pk FROM pragma_table_info('wh.data') WHERE name = 'id'"),
              1);
    /* the update of id 3 carries the same _sdc_sequence: not newer, so
     * the first row stays */
    CHECK_INT(sqlite_count(db, "SELECT n FROM \"wh.data\" WHERE id = 3"), 3);
    CHECK_INT(sqlite_count(db, "SELECT COUNT(*) FROM \"wh.data__o__a\""), 20);
    /* the message without a value is rejected in the warehouse, where its
     * offset is stored with the rows */
    CHECK_INT(sqlite_count(db, "SELECT COUNT(*) FROM \"wh._sdc_rejected\""), 1);
    CHECK_INT(count_messages("webhooks.wh.rejected", 2, NULL, 0), 0);
    sink_consumer_stats_t st;
    sink_consumer_stats(arg.c, &st);
    CHECK((long long)st.written >= 12); /* and webhooks.shop's records */
    CHECK_INT((long long)st.versions, 0);

    /* another Kafka group, the same warehouse: it starts where the rows
     * end, so only the two new records are handed to the target */
    produce_to("webhooks.wh", 0, "20", "{\"id\":20}");
    produce_to("webhooks.wh", 1, "21", "{\"id\":21}");
    sink_consumer_destroy(arg.c);
    cc.group_id = "g-wh-kafka-2";
    arg = (run_arg_t){0};
    arg.c = sink_consumer_new(cfg, &cc, err, sizeof(err));
    CHECK(arg.c != NULL);
    if (!arg.c)
        goto out;
    pthread_create(&th, NULL, run_thread, &arg);
    for (int i = 0; i < 300 && sqlite_count(db, loaded) < 14; i++)
        sleep_ms(100);
    arg.stop = 1;
    pthread_join(th, NULL);
    CHECK_INT(arg.rc, 0);
    CHECK_INT(sqlite_count(db, "SELECT COUNT(*) FROM \"wh.data\""), 12);
    sink_consumer_stats(arg.c, &st);
    CHECK_INT((long long)st.written, 2);
out:
    sink_consumer_destroy(arg.c);
    if (t)
        t->ops->destroy(t);
    cfg_destroy(cfg);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    log_init("test_sink_consumer", LOG_ERROR);
    TEST(test_files_pending_and_flush);
    TEST(test_files_roll_on_schema_size_age);
    TEST(test_files_never_replace);
    if (mock_up() < 0) {
        fprintf(stderr, "mock cluster did not start\n");
        harness_failed++;
    } else {
        TEST(test_kprod_tracks_acks_and_failures);
        TEST(test_avro_pipeline_outcomes);
        TEST(test_consumer_end_to_end);
        TEST(test_consumer_warehouse);
    }
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_done();
}
