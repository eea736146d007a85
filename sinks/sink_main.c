/* hookpipe-sink: consumes the webhook event topics into Avro targets
 * (kafka-avro, avro-files) or warehouse tables (postgres, sqlite), each
 * target a pipeline and an output picked from one table (sink_main_targets). */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_pipeline.h"
#include "cfg.h"
#include "errstr.h"
#include "event.h"
#include "log.h"
#include "net_addr.h"
#include "prog.h"
#include "sink_consumer.h"
#include "sink_dlq.h"
#include "sink_files.h"
#include "sink_kafka_avro.h"
#include "sink_ocf.h"
#include "sr_client.h"
#include "wh_pipeline.h"

/* Its doc is made from sink_main_targets at start. */
static cfg_opt_t sink_main_opts[] = {
    {"target", CFG_STR, NULL, 0, -1, 0, NULL},
    {"group.id", CFG_STR, NULL, 0, -1, 0, "consumer group (default hookpipe-sink-<target>)"},
    {"topic.prefix", CFG_STR, EVENT_TOPIC_PREFIX_DEFAULT, 0, -1, 0,
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
static sink_reg_rc_t sink_main_reg_rc(int rc, int not_found) {
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

static sink_reg_rc_t sink_main_reg_register(void *opaque, const char *subject, const char *schema,
                                            int *id, char *errstr, size_t errstr_size) {
    return sink_main_reg_rc(
        sr_client_register(opaque, subject, schema, id, errstr, errstr_size), 0);
}

static sink_reg_rc_t sink_main_reg_latest(void *opaque, const char *subject, int *id, char **schema,
                                          char *errstr, size_t errstr_size) {
    int version;
    *schema = NULL;
    return sink_main_reg_rc(sr_client_latest(opaque, subject, id, &version, schema, errstr,
                                             errstr_size), 1);
}

/* What every target's constructor gets (all borrowed for the call; the
 * dead-letter producer and the stop flag outlive the pipeline). */
typedef struct sink_main_env {
    const cfg_t *cfg;
    const char *group_id;
    const char *location;       /* the value of the target's location key */
    sink_registry_t registry;   /* Avro targets only */
    sink_dlq_t *dlq;            /* Avro targets only */
    volatile sig_atomic_t *stop;
} sink_main_env_t;

/* One --target: its pipeline and output. */
typedef struct sink_main_target {
    const char *name;
    int avro;                   /* the Avro pipeline: needs registry.url (or
                                   $HOOKPIPE_REGISTRY_URL) and dead letters */
    const char *location_key;   /* config key it must have (non-empty), or NULL */
    const char *location_env;   /* environment variable standing in for it, or NULL */
    const char *location_what;  /* what the location names, for the start line */
    sink_pipeline_t *(*create)(const sink_main_env_t *env, char *errstr, size_t errstr_size);
} sink_main_target_t;

static sink_pipeline_t *sink_main_avro(const sink_main_env_t *env, sink_target_t *output,
                                       char *errstr, size_t errstr_size) {
    if (!output)
        return NULL;
    avro_pipeline_conf_t ac = {
        .registry = env->registry, .output = output, .dlq = env->dlq, .stop = env->stop,
    };
    return avro_pipeline_new(&ac, errstr, errstr_size);
}

static sink_pipeline_t *sink_main_kafka_avro(const sink_main_env_t *env, char *errstr,
                                             size_t errstr_size) {
    return sink_main_avro(env, sink_kafka_avro_new(env->cfg, errstr, errstr_size), errstr,
                          errstr_size);
}

static sink_pipeline_t *sink_main_avro_files(const sink_main_env_t *env, char *errstr,
                                             size_t errstr_size) {
    sink_files_conf_t fc = {
        .dir = cfg_str(env->cfg, "output.dir"),
        .max_bytes = (uint64_t)cfg_int(env->cfg, "file.max.bytes"),
        .max_age_ms = cfg_int(env->cfg, "file.max.age.ms"),
        .codec = (sink_ocf_codec_t)sink_ocf_codec_parse(cfg_str(env->cfg, "codec")),
    };
    return sink_main_avro(env, sink_files_new(&fc, errstr, errstr_size), errstr, errstr_size);
}

static sink_pipeline_t *sink_main_warehouse(const sink_main_env_t *env, wh_sink_kind_t kind,
                                            char *errstr, size_t errstr_size) {
    wh_sink_conf_t wc = {
        .kind = kind,
        .location = env->location,
        .group = env->group_id,
        .batch_max_records = (size_t)cfg_int(env->cfg, "batch.max.records"),
        .batch_max_bytes = (size_t)cfg_int(env->cfg, "batch.max.bytes"),
        .batch_max_ms = (int)cfg_int(env->cfg, "batch.max.ms"),
        .stop = env->stop,
    };
    return wh_pipeline_new(&wc, errstr, errstr_size);
}

static sink_pipeline_t *sink_main_postgres(const sink_main_env_t *env, char *errstr,
                                           size_t errstr_size) {
    return sink_main_warehouse(env, WH_SINK_POSTGRES, errstr, errstr_size);
}

static sink_pipeline_t *sink_main_sqlite(const sink_main_env_t *env, char *errstr,
                                         size_t errstr_size) {
    return sink_main_warehouse(env, WH_SINK_SQLITE, errstr, errstr_size);
}

static const sink_main_target_t sink_main_targets[] = {
    {"kafka-avro", 1, NULL, NULL, NULL, sink_main_kafka_avro},
    {"avro-files", 1, NULL, NULL, NULL, sink_main_avro_files},
    {"postgres", 0, "pg.url", "HOOKPIPE_PG_URL", "database", sink_main_postgres},
    {"sqlite", 0, "sqlite.path", NULL, "database", sink_main_sqlite},
};
#define SINK_MAIN_NTARGETS (sizeof(sink_main_targets) / sizeof(sink_main_targets[0]))

/* The target names joined by sep, the last two by last: "a, b or c". */
static const char *sink_main_target_names(char *buf, size_t size, const char *sep,
                                          const char *last) {
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < SINK_MAIN_NTARGETS && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s",
                              i == 0 ? "" : i + 1 == SINK_MAIN_NTARGETS ? last : sep,
                              sink_main_targets[i].name);
    return buf;
}

static const sink_main_target_t *sink_main_target_find(const char *name) {
    for (size_t i = 0; name && i < SINK_MAIN_NTARGETS; i++)
        if (strcmp(sink_main_targets[i].name, name) == 0)
            return &sink_main_targets[i];
    return NULL;
}

/* 1 if key is a secret option (its value is never printed). */
static int sink_main_opt_secret(const char *key) {
    for (size_t i = 0; i < sizeof(sink_main_opts) / sizeof(sink_main_opts[0]); i++)
        if (strcmp(sink_main_opts[i].name, key) == 0)
            return sink_main_opts[i].secret;
    return 0;
}

/* GET /metrics: the consumer's counters in Prometheus' text format. */
typedef struct sink_main_metrics {
    const sink_consumer_t *consumer;
    const char *target;
} sink_main_metrics_t;

static enum MHD_Result sink_main_metrics_handle(void *cls, struct MHD_Connection *conn,
                                                const char *url, const char *method,
                                                const char *version, const char *data,
                                                size_t *data_size, void **state) {
    (void)version;
    (void)data;
    (void)data_size;
    (void)state;
    sink_main_metrics_t *m = cls;
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

static struct MHD_Daemon *sink_main_metrics_start(const char *listen, sink_main_metrics_t *m,
                                                  char *errstr, size_t errstr_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_addr_parse(listen, &ss, &sl, errstr, errstr_size) < 0)
        return NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, sink_main_metrics_handle, m,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                            MHD_OPTION_CONNECTION_LIMIT, 16U,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
    if (!d)
        errstr_fmt(0, errstr, errstr_size, "cannot listen on %s", listen);
    return d;
}

int main(int argc, char **argv) {
    char err[1024], names[256], usage[300], doc[300];
    int rc = 1;
    sink_pipeline_t *pipeline = NULL;
    sink_dlq_t *dlq = NULL;
    sink_consumer_t *consumer = NULL;
    sr_client_t *reg = NULL;
    struct MHD_Daemon *metrics = NULL;
    snprintf(usage, sizeof(usage), "--target %s [options]",
             sink_main_target_names(names, sizeof(names), "|", "|"));
    snprintf(doc, sizeof(doc), "%s (required)",
             sink_main_target_names(names, sizeof(names), ", ", " or "));
    sink_main_opts[0].doc = doc;
    cfg_t *cfg = cfg_new("hookpipe-sink", usage, sink_main_opts,
                         sizeof(sink_main_opts) / sizeof(sink_main_opts[0]), "HOOKPIPE_SINK");
    if (!cfg) {
        prog_fail("hookpipe-sink", "out of memory");
        return 1;
    }
    log_level_t level;
    if ((rc = prog_load(cfg, argc, argv)) != PROG_RUN ||
        (rc = prog_log_level(cfg, "log.level", &level)) != PROG_RUN)
        goto out;
    rc = PROG_USAGE;
    const char *tname = cfg_str(cfg, "target");
    const sink_main_target_t *target = sink_main_target_find(tname);
    if (!target) {
        prog_fail("hookpipe-sink", "--target must be %s",
                  sink_main_target_names(names, sizeof(names), ", ", " or "));
        goto out;
    }
    if (sink_ocf_codec_parse(cfg_str(cfg, "codec")) < 0) {
        prog_fail("hookpipe-sink", "codec: unknown codec '%s' (null, deflate, snappy)",
                  cfg_str(cfg, "codec"));
        goto out;
    }
    /* the warehouse targets lay out the JSON themselves: no registry */
    const char *url = cfg_str(cfg, "registry.url");
    if (!url)
        url = getenv("HOOKPIPE_REGISTRY_URL");
    if (target->avro && (!url || !*url)) {
        prog_fail("hookpipe-sink", "registry.url (or HOOKPIPE_REGISTRY_URL) is required");
        goto out;
    }
    const char *where = NULL;
    if (target->location_key) {
        where = cfg_str(cfg, target->location_key);
        if (!where && target->location_env)
            where = getenv(target->location_env);
        if (!where || !*where) {
            if (target->location_env)
                prog_fail("hookpipe-sink", "%s (or %s) is required", target->location_key,
                          target->location_env);
            else
                prog_fail("hookpipe-sink", "%s must not be empty", target->location_key);
            goto out;
        }
    }
    char group[256];
    snprintf(group, sizeof(group), "hookpipe-sink-%s", tname);
    const char *group_id = cfg_str(cfg, "group.id") ? cfg_str(cfg, "group.id") : group;
    prog_start("hookpipe-sink", level);
    rc = 1;

    sink_main_env_t env = {.cfg = cfg, .group_id = group_id, .location = where,
                      .stop = prog_stop_flag()};
    if (target->avro) {
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
        env.registry = (sink_registry_t){sink_main_reg_register, sink_main_reg_latest, reg};
        if (!(dlq = sink_dlq_new(cfg, err, sizeof(err)))) {
            log_error("dead letters: %s", err);
            goto out;
        }
        env.dlq = dlq;
    }
    if (!(pipeline = target->create(&env, err, sizeof(err)))) {
        log_error("target %s: %s", tname, err);
        goto out;
    }
    sink_consumer_conf_t cc = {
        .group_id = group_id,
        .topic_prefix = cfg_str(cfg, "topic.prefix"),
        .batch_max_records = cfg_int(cfg, "batch.max.records"),
        .batch_max_ms = cfg_int(cfg, "batch.max.ms"),
        .pipeline = pipeline,
        .dlq = dlq,
    };
    if (!(consumer = sink_consumer_new(cfg, &cc, err, sizeof(err)))) {
        log_error("consumer: %s", err);
        goto out;
    }
    sink_main_metrics_t mctx = {consumer, tname};
    const char *mlisten = cfg_str(cfg, "metrics.listen");
    if (mlisten && !(metrics = sink_main_metrics_start(mlisten, &mctx, err, sizeof(err)))) {
        log_error("metrics: %s", err);
        goto out;
    }
    /* a PostgreSQL URL may hold a password: name its key only */
    const char *shown = where;
    char from[64];
    if (target->location_key && sink_main_opt_secret(target->location_key)) {
        snprintf(from, sizeof(from), "from %s", target->location_key);
        shown = from;
    }
    log_info("target %s, group %s, %s %s%s%s", tname, group_id,
             target->avro ? "registry" : target->location_what, target->avro ? url : shown,
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
    if (pipeline)
        pipeline->ops->destroy(pipeline);
    sink_dlq_destroy(dlq);
    sr_client_destroy(reg);
    cfg_destroy(cfg);
    return rc;
}
