/* hookpipe-sink: consumes the webhook event topics into Avro targets. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "sink_consumer.h"
#include "sink_files.h"
#include "sink_kafka_avro.h"
#include "sink_ocf.h"

static const cfg_opt_t sink_opts[] = {
    {"target", CFG_STR, NULL, 0, -1, 0, "kafka-avro or avro-files (required)"},
    {"group.id", CFG_STR, NULL, 0, -1, 0, "consumer group (default hookpipe-sink-<target>)"},
    {"topic.prefix", CFG_STR, "webhooks.", 0, -1, 0,
     "event topics are <prefix><integration>"},
    {"registry.url", CFG_STR, NULL, 0, -1, 0,
     "schema registry (default $HOOKPIPE_REGISTRY_URL)"},
    {"registry.user", CFG_STR, NULL, 0, -1, 0, "registry basic-auth user"},
    {"registry.password", CFG_STR, NULL, 0, -1, 1, "registry basic-auth password"},
    {"batch.max.records", CFG_INT, "10000", 1, 100000000, 0,
     "commit durable offsets at least every this many records"},
    {"batch.max.ms", CFG_INT, "1000", 10, 3600000, 0,
     "commit durable offsets at least this often"},
    {"output.dir", CFG_STR, NULL, 0, -1, 0, "avro-files: directory of the files"},
    {"file.max.bytes", CFG_INT, "128m", 1024, 1LL << 40, 0, "avro-files: roll at this size"},
    {"file.max.age.ms", CFG_INT, "60000", 100, 86400000, 0,
     "avro-files: roll a file this long after it opened"},
    {"codec", CFG_STR, "deflate", 0, -1, 0, "avro-files: null, deflate or snappy"},
    {"log.level", CFG_STR, "info", 0, -1, 0, "error, warn, info or debug"},
};

/* The seam to the schema registry: registers a schema under a subject.
 * Until the registry engineer's client library (sr_client) lands this is a
 * minimal Confluent REST call over libcurl; only this block changes then. */
typedef struct sink_reg {
    CURL *curl;
    char *url, *user, *password;
} sink_reg_t;

typedef struct sink_reg_buf {
    char *data;
    size_t len;
} sink_reg_buf_t;

#define SINK_REG_MAX_ANSWER (1 << 20)

static size_t sink_reg_collect(char *ptr, size_t size, size_t nmemb, void *opaque) {
    sink_reg_buf_t *b = opaque;
    size_t n = size * nmemb;
    if (b->len + n > SINK_REG_MAX_ANSWER)
        return 0;
    char *d = realloc(b->data, b->len + n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, ptr, n);
    b->data = d;
    b->len += n;
    d[b->len] = 0;
    return n;
}

static void sink_reg_destroy(sink_reg_t *r) {
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    free(r->url);
    free(r->user);
    free(r->password);
    free(r);
}

static sink_reg_t *sink_reg_new(const char *url, const char *user, const char *password,
                                char *errstr, size_t errstr_size) {
    sink_reg_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->curl = curl_easy_init()) || !(r->url = strdup(url)) ||
        (user && !(r->user = strdup(user))) || (password && !(r->password = strdup(password)))) {
        snprintf(errstr, errstr_size, "out of memory");
        sink_reg_destroy(r);
        return NULL;
    }
    size_t n = strlen(r->url);
    while (n > 0 && r->url[n - 1] == '/')
        r->url[--n] = 0;
    return r;
}

/* One request; *status and *res (the parsed JSON answer, or NULL) for the
 * caller. SINK_REG_RETRY with errstr if the registry could not be asked. */
static int sink_reg_call(sink_reg_t *r, const char *path, const char *body, long *status,
                         json_t **res, char *errstr, size_t errstr_size) {
    int rc = SINK_REG_RETRY;
    char *endpoint = NULL;
    sink_reg_buf_t ans = {NULL, 0};
    struct curl_slist *hdrs = NULL;
    *res = NULL;
    if (asprintf(&endpoint, "%s%s", r->url, path) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return rc;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
    CURL *h = r->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, endpoint);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_reg_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (r->user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(errstr, errstr_size, "%s: %s", path, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    *res = ans.data ? json_loads(ans.data, 0, NULL) : NULL;
    const char *msg = *res ? json_string_value(json_object_get(*res, "message")) : NULL;
    snprintf(errstr, errstr_size, "HTTP %ld: %s", *status, msg ? msg : "unexpected answer");
    rc = SINK_REG_OK;
out:
    free(endpoint);
    free(ans.data);
    curl_slist_free_all(hdrs);
    return rc;
}

static int sink_reg_register(void *opaque, const char *subject, const char *schema, int *id,
                             char *errstr, size_t errstr_size) {
    sink_reg_t *r = opaque;
    char path[600];
    long status = 0;
    json_t *res = NULL, *req = json_pack("{s:s}", "schema", schema);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        snprintf(errstr, errstr_size, "out of memory");
        return SINK_REG_RETRY;
    }
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    int rc = sink_reg_call(r, path, body, &status, &res, errstr, errstr_size);
    free(body);
    json_t *jid = json_object_get(res, "id");
    if (rc == SINK_REG_OK) {
        if (status == 200 && json_is_integer(jid))
            *id = (int)json_integer_value(jid);
        /* 409 incompatible, 422 invalid: asking again gives the same answer */
        else if (status == 409 || status == 422 || status == 400)
            rc = SINK_REG_REFUSED;
        else
            rc = SINK_REG_RETRY;
    }
    json_decref(res);
    return rc;
}

static int sink_reg_latest(void *opaque, const char *subject, int *id, char **schema,
                           char *errstr, size_t errstr_size) {
    sink_reg_t *r = opaque;
    char path[600];
    long status = 0;
    json_t *res = NULL;
    *schema = NULL;
    snprintf(path, sizeof(path), "/subjects/%s/versions/latest", subject);
    int rc = sink_reg_call(r, path, NULL, &status, &res, errstr, errstr_size);
    json_t *jid = json_object_get(res, "id");
    const char *text = json_string_value(json_object_get(res, "schema"));
    if (rc == SINK_REG_OK) {
        if (status == 200 && json_is_integer(jid) && text) {
            *id = (int)json_integer_value(jid);
            if (!(*schema = strdup(text))) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = SINK_REG_RETRY;
            }
        } else if (status == 404) {
            rc = SINK_REG_NOT_FOUND;
        } else {
            rc = SINK_REG_RETRY;
        }
    }
    json_decref(res);
    return rc;
}

static volatile sig_atomic_t sink_stop;

static void sink_on_signal(int sig) {
    (void)sig;
    sink_stop = 1;
}

int main(int argc, char **argv) {
    char err[1024];
    int rc = 1, curl_ready = 0;
    sink_target_t *target = NULL;
    sink_consumer_t *consumer = NULL;
    sink_reg_t *reg = NULL;
    cfg_t *cfg = cfg_new("hookpipe-sink", "--target kafka-avro|avro-files [options]",
                         sink_opts, sizeof(sink_opts) / sizeof(sink_opts[0]),
                         "HOOKPIPE_SINK");
    if (!cfg) {
        fprintf(stderr, "hookpipe-sink: out of memory\n");
        return 1;
    }
    int lr = cfg_load(cfg, argc, argv, err, sizeof(err));
    if (lr == 1) {
        rc = 0;
        goto out;
    }
    rc = 2;
    if (lr < 0) {
        fprintf(stderr, "hookpipe-sink: %s\n", err);
        goto out;
    }
    if (cfg_argc(cfg) > 0) {
        fprintf(stderr, "hookpipe-sink: unexpected argument '%s' (see --help)\n",
                cfg_argv(cfg)[0]);
        goto out;
    }
    int level = log_level_parse(cfg_str(cfg, "log.level"));
    if (level < 0) {
        fprintf(stderr, "hookpipe-sink: log.level: unknown level '%s'\n",
                cfg_str(cfg, "log.level"));
        goto out;
    }
    const char *tname = cfg_str(cfg, "target");
    if (!tname || (strcmp(tname, "kafka-avro") != 0 && strcmp(tname, "avro-files") != 0)) {
        fprintf(stderr, "hookpipe-sink: --target must be kafka-avro or avro-files\n");
        goto out;
    }
    int codec = sink_ocf_codec_parse(cfg_str(cfg, "codec"));
    if (codec < 0) {
        fprintf(stderr, "hookpipe-sink: codec: unknown codec '%s' (null, deflate, snappy)\n",
                cfg_str(cfg, "codec"));
        goto out;
    }
    const char *url = cfg_str(cfg, "registry.url");
    if (!url)
        url = getenv("HOOKPIPE_REGISTRY_URL");
    if (!url || !*url) {
        fprintf(stderr, "hookpipe-sink: registry.url (or HOOKPIPE_REGISTRY_URL) is required\n");
        goto out;
    }
    char group[256];
    snprintf(group, sizeof(group), "hookpipe-sink-%s", tname);
    const char *group_id = cfg_str(cfg, "group.id") ? cfg_str(cfg, "group.id") : group;
    log_init("hookpipe-sink", (log_level_t)level);
    rc = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sink_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;

    if (!(reg = sink_reg_new(url, cfg_str(cfg, "registry.user"),
                                  cfg_str(cfg, "registry.password"), err, sizeof(err)))) {
        log_error("registry: %s", err);
        goto out;
    }
    if (strcmp(tname, "kafka-avro") == 0) {
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
        .registry = {sink_reg_register, sink_reg_latest, reg},
    };
    if (!(consumer = sink_consumer_new(cfg, &cc, target, err, sizeof(err)))) {
        log_error("consumer: %s", err);
        goto out;
    }
    log_info("target %s, group %s, registry %s", tname, group_id, url);
    if (sink_consumer_run(consumer, &sink_stop, err, sizeof(err)) < 0) {
        log_error("stopped on error, nothing more committed: %s", err);
        goto out;
    }
    log_info("stopped");
    rc = 0;
out:
    sink_consumer_destroy(consumer);
    if (target)
        target->ops->destroy(target);
    sink_reg_destroy(reg);
    if (curl_ready)
        curl_global_cleanup();
    cfg_destroy(cfg);
    return rc;
}
