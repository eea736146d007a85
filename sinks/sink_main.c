/* hookpipe-sink: consumes the webhook event topics into Avro targets
 * (kafka-avro, avro-files) or warehouse tables (postgres, sqlite). */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "net_addr.h"
#include "log.h"
#include "prog.h"
#include "sink_consumer.h"
#include "sink_files.h"
#include "sink_kafka_avro.h"
#include "sink_ocf.h"
#include "wh_target.h"
#include "sr_client.h"

static const cfg_opt_t sink_opts[] = {
    {"target", CFG_STR, NULL, 0, -1, 0,
     "kafka-avro, avro-files, postgres or sqlite (required)"},
    {"group.id", CFG_STR, NULL, 0, -1, 0, "consumer group (default hookpipe-sink-<target>)"},
    {"topic.prefix", CFG_STR, "webhooks.", 0, -1, 0,
     "event topics are <prefix><integration>"},
    {"registry.url", CFG_STR, NULL, 0, -1, 0,
     "kafka-avro, avro-files: schema registry (default $HOOKPIPE_REGISTRY_URL)"},
    {"registry.user", CFG_STR, NULL, 0, -1, 0, "registry basic-auth user"},
    {"registry.password", CFG_STR, NULL, 0, -1, 1, "registry basic-auth password"},
    {"registry.ca.file", CFG_STR, NULL, 0, -1, 0,
     "PEM CA bundle for an https registry (default: the system's)"},
    {"batch.max.records", CFG_INT, "10000", 1, 100000000, 0,
     "commit durable offsets at least every this many records; postgres, sqlite: "
     "load a batch of an integration at this many records"},
    {"batch.max.ms", CFG_INT, "500", 10, 3600000, 0,
     "commit durable offsets at least this often; postgres, sqlite: load a batch "
     "this old (rows visible within about this time)"},
    {"batch.max.bytes", CFG_INT, "16m", 1024, 1LL << 34, 0,
     "postgres, sqlite: load a batch of an integration at this many payload bytes"},
    {"pg.url", CFG_STR, NULL, 0, -1, 1,
     "postgres: postgresql:// URL of the warehouse (default $HOOKPIPE_PG_URL)"},
    {"sqlite.path", CFG_STR, "hookpipe.db", 0, -1, 0,
     "sqlite: database file (created if missing)"},
    {"output.dir", CFG_STR, NULL, 0, -1, 0, "avro-files: directory of the files"},
    {"file.max.bytes", CFG_INT, "128m", 1024, 1LL << 40, 0, "avro-files: roll at this size"},
    {"file.max.age.ms", CFG_INT, "60000", 100, 86400000, 0,
     "avro-files: roll a file this long after it opened"},
    {"codec", CFG_STR, "deflate", 0, -1, 0, "avro-files: null, deflate or snappy"},
    {"log.level", CFG_STR, "info", 0, -1, 0, "error, warn, info or debug"},
    {"metrics.listen", CFG_STR, NULL, 0, -1, 0,
     "host:port of GET /metrics (Prometheus text); unset: no listener"},
};

/* The registry calls of the consumer over sr_client, with the registry's
 * answers mapped to what the consumer does next. */
static int sink_reg_rc(int rc, int not_found) {
    if (rc == 0)
        return SINK_REG_OK;
    if (not_found && (rc == 40401 || rc == 40402))
        return SINK_REG_NOT_FOUND;
    /* 409 incompatible, 4220x invalid: asking again gives the same answer;
     * 5xxxx and no answer at all: the registry may come back */
    if (rc > 0 && rc < 50000)
        return SINK_REG_REFUSED;
    return SINK_REG_RETRY;
}

static int sink_reg_register(void *opaque, const char *subject, const char *schema, int *id,
                             char *errstr, size_t errstr_size) {
    return sink_reg_rc(sr_client_register(opaque, subject, schema, id, errstr, errstr_size), 0);
}

static int sink_reg_latest(void *opaque, const char *subject, int *id, char **schema,
                           char *errstr, size_t errstr_size) {
    int version;
    *schema = NULL;
    return sink_reg_rc(sr_client_latest(opaque, subject, id, &version, schema, errstr,
                                        errstr_size), 1);
}

/* GET /metrics: the consumer's counters in Prometheus' text format. */
typedef struct sink_metrics {
    const sink_consumer_t *consumer;
    const char *target;
} sink_metrics_t;

static enum MHD_Result sink_metrics_handle(void *cls, struct MHD_Connection *conn,
                                           const char *url, const char *method,
                                           const char *version, const char *data,
                                           size_t *data_size, void **state) {
    (void)version;
    (void)data;
    (void)data_size;
    (void)state;
    sink_metrics_t *m = cls;
    char body[2048];
    unsigned status = MHD_HTTP_OK;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        snprintf(body, sizeof(body), "not found\n");
    } else {
        sink_consumer_stats_t st;
        sink_consumer_stats(m->consumer, &st);
        snprintf(body, sizeof(body),
                 "hookpipe_sink_consumed_total{target=\"%s\"} %llu\n"
                 "hookpipe_sink_written_total{target=\"%s\"} %llu\n"
                 "hookpipe_sink_rejected_total{target=\"%s\"} %llu\n"
                 "hookpipe_sink_schema_versions_total{target=\"%s\"} %llu\n"
                 "hookpipe_sink_commits_total{target=\"%s\"} %llu\n"
                 "hookpipe_sink_commit_errors_total{target=\"%s\"} %llu\n"
                 "hookpipe_sink_assigned_partitions{target=\"%s\"} %llu\n",
                 m->target, st.consumed, m->target, st.written, m->target, st.rejected,
                 m->target, st.versions, m->target, st.commits, m->target, st.commit_errors,
                 m->target, st.assigned);
    }
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

static struct MHD_Daemon *sink_metrics_start(const char *listen, sink_metrics_t *m,
                                             char *errstr, size_t errstr_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_addr_parse(listen, &ss, &sl, errstr, errstr_size) < 0)
        return NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, sink_metrics_handle, m,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                            MHD_OPTION_CONNECTION_LIMIT, 16U,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
    if (!d)
        snprintf(errstr, errstr_size, "cannot listen on %s", listen);
    return d;
}

int main(int argc, char **argv) {
    char err[1024];
    int rc = 1;
    sink_target_t *target = NULL;
    sink_consumer_t *consumer = NULL;
    sr_client_t *reg = NULL;
    struct MHD_Daemon *metrics = NULL;
    cfg_t *cfg = cfg_new("hookpipe-sink",
                         "--target kafka-avro|avro-files|postgres|sqlite [options]",
                         sink_opts, sizeof(sink_opts) / sizeof(sink_opts[0]),
                         "HOOKPIPE_SINK");
    if (!cfg) {
        fprintf(stderr, "hookpipe-sink: out of memory\n");
        return 1;
    }
    log_level_t level;
    if ((rc = prog_load(cfg, argc, argv)) != PROG_RUN ||
        (rc = prog_log_level(cfg, "log.level", &level)) != PROG_RUN)
        goto out;
    rc = 2;
    const char *tname = cfg_str(cfg, "target");
    if (!tname || (strcmp(tname, "kafka-avro") != 0 && strcmp(tname, "avro-files") != 0 &&
                   strcmp(tname, "postgres") != 0 && strcmp(tname, "sqlite") != 0)) {
        fprintf(stderr,
                "hookpipe-sink: --target must be kafka-avro, avro-files, postgres or sqlite\n");
        goto out;
    }
    int warehouse = strcmp(tname, "postgres") == 0 || strcmp(tname, "sqlite") == 0;
    int codec = sink_ocf_codec_parse(cfg_str(cfg, "codec"));
    if (codec < 0) {
        fprintf(stderr, "hookpipe-sink: codec: unknown codec '%s' (null, deflate, snappy)\n",
                cfg_str(cfg, "codec"));
        goto out;
    }
    /* the warehouse targets lay out the JSON themselves: no registry */
    const char *url = cfg_str(cfg, "registry.url");
    if (!url)
        url = getenv("HOOKPIPE_REGISTRY_URL");
    if (!warehouse && (!url || !*url)) {
        fprintf(stderr, "hookpipe-sink: registry.url (or HOOKPIPE_REGISTRY_URL) is required\n");
        goto out;
    }
    const char *where = NULL;
    if (strcmp(tname, "postgres") == 0) {
        where = cfg_str(cfg, "pg.url");
        if (!where)
            where = getenv("HOOKPIPE_PG_URL");
        if (!where || !*where) {
            fprintf(stderr, "hookpipe-sink: pg.url (or HOOKPIPE_PG_URL) is required\n");
            goto out;
        }
    } else if (strcmp(tname, "sqlite") == 0) {
        where = cfg_str(cfg, "sqlite.path");
        if (!where || !*where) {
            fprintf(stderr, "hookpipe-sink: sqlite.path must not be empty\n");
            goto out;
        }
    }
    char group[256];
    snprintf(group, sizeof(group), "hookpipe-sink-%s", tname);
    const char *group_id = cfg_str(cfg, "group.id") ? cfg_str(cfg, "group.id") : group;
    rc = 1;
    prog_start("hookpipe-sink", level);

    if (!warehouse) {
        sr_client_conf_t rc_conf = {
            .url = url,
            .username = cfg_str(cfg, "registry.user"),
            .password = cfg_str(cfg, "registry.password"),
            .ca_file = cfg_str(cfg, "registry.ca.file"),
        };
        if (!(reg = sr_client_new(&rc_conf, err, sizeof(err)))) {
            log_error("registry: %s", err);
            goto out;
        }
    }
    if (warehouse) {
        wh_sink_conf_t wc = {
            .kind = strcmp(tname, "postgres") == 0 ? WH_SINK_POSTGRES : WH_SINK_SQLITE,
            .location = where,
            .group = group_id,
            .batch_max_records = (size_t)cfg_int(cfg, "batch.max.records"),
            .batch_max_bytes = (size_t)cfg_int(cfg, "batch.max.bytes"),
            .batch_max_ms = (int)cfg_int(cfg, "batch.max.ms"),
            .stop = prog_stop_flag(),
        };
        target = wh_target_new(&wc, err, sizeof(err));
    } else if (strcmp(tname, "kafka-avro") == 0) {
        target = sink_kafka_avro_new(cfg, err, sizeof(err));
    } else {
        sink_files_conf_t fc = {
            .dir = cfg_str(cfg, "output.dir"),
            .max_bytes = (uint64_t)cfg_int(cfg, "file.max.bytes"),
            .max_age_ms = cfg_int(cfg, "file.max.age.ms"),
            .codec = (sink_ocf_codec_t)codec,
        };
        target = sink_files_new(&fc, err, sizeof(err));
    }
    if (!target) {
        log_error("target %s: %s", tname, err);
        goto out;
    }
    sink_consumer_conf_t cc = {
        .group_id = group_id,
        .topic_prefix = cfg_str(cfg, "topic.prefix"),
        .batch_max_records = cfg_int(cfg, "batch.max.records"),
        .batch_max_ms = cfg_int(cfg, "batch.max.ms"),
    };
    if (reg)
        cc.registry = (sink_registry_t){sink_reg_register, sink_reg_latest, reg};
    if (!(consumer = sink_consumer_new(cfg, &cc, target, err, sizeof(err)))) {
        log_error("consumer: %s", err);
        goto out;
    }
    sink_metrics_t mctx = {consumer, tname};
    const char *mlisten = cfg_str(cfg, "metrics.listen");
    if (mlisten && !(metrics = sink_metrics_start(mlisten, &mctx, err, sizeof(err)))) {
        log_error("metrics: %s", err);
        goto out;
    }
    /* a PostgreSQL URL may hold a password: name the target only */
    log_info("target %s, group %s, %s %s%s%s", tname, group_id,
             warehouse ? "database" : "registry",
             !warehouse ? url : strcmp(tname, "sqlite") == 0 ? where : "from pg.url",
             mlisten ? ", metrics on " : "", mlisten ? mlisten : "");
    if (sink_consumer_run(consumer, prog_stop_flag(), err, sizeof(err)) < 0) {
        log_error("stopped on error, nothing more committed: %s", err);
        goto out;
    }
    log_info("stopped");
    rc = 0;
out:
    if (metrics)
        MHD_stop_daemon(metrics);
    sink_consumer_destroy(consumer);
    if (target)
        target->ops->destroy(target);
    sr_client_destroy(reg);
    cfg_destroy(cfg);
    return rc;
}
