/* gw_config: the gateway's option table and its reading. */
#include "gw_config.h"

#include <stdio.h>
#include <string.h>

#include "errstr.h"
#include "log.h"
#include "net_addr.h"

static const cfg_opt_t gw_config_table[] = {
    {"listen", CFG_STR, "127.0.0.1:8080", 0, -1, 0, "webhook listen address, host:port"},
    {"metrics.listen", CFG_STR, "127.0.0.1:9090", 0, -1, 0,
     "health and metrics listen address, host:port"},
    {"max.body", CFG_INT, "4m", 1, 1LL << 30, 0,
     "default request body limit in bytes (an integration's max_body overrides it)"},
    {"max.depth", CFG_INT, "128", 2, 2048, 0, "JSON nesting limit"},
    {"max.records", CFG_INT, "10000", 1, 1000000, 0, "records (array elements) per request"},
    {"inflight.bytes", CFG_INT, "24m", 1024, 1LL << 40, 0,
     "bytes of request bodies held at once; beyond it requests get 503"},
    {"ack.timeout.ms", CFG_INT, "10000", 100, 600000, 0,
     "how long to wait for Kafka's acknowledgements before answering 503"},
    {"retry.after", CFG_INT, "5", 0, 3600, 0, "Retry-After seconds of a 503"},
    {"integrations.topic", CFG_STR, "hookpipe.integrations", 0, -1, 0,
     "compacted topic holding the integrations"},
    {"threads", CFG_INT, "1", 1, 256, 0,
     "HTTP event loops (threads); the first also serves Kafka's acknowledgements, so one "
     "loop answers without waking another thread; more for more cores"},
    {"connections.max", CFG_INT, "4096", 1, 1000000, 0, "concurrent HTTP connections"},
    {"connection.timeout", CFG_INT, "30", 1, 3600, 0,
     "seconds of inactivity before an HTTP connection is closed"},
    {"connection.memory", CFG_INT, "16k", 4096, 1LL << 20, 0,
     "bytes per HTTP connection for the request line, headers and read buffer (headers "
     "that do not fit get 431); cleared on every request, so more costs CPU"},
    {"shutdown.timeout.ms", CFG_INT, "30000", 0, 600000, 0,
     "on SIGTERM, how long requests in flight may take to finish"},
    {"log.level", CFG_STR, "info", 0, -1, 0, "error, warn, info or debug"},
    {"tls.cert", CFG_STR, NULL, 0, -1, 0,
     "PEM certificate (chain) file: serve the webhook listener over HTTPS"},
    {"tls.key", CFG_STR, NULL, 0, -1, 0, "PEM private key file of tls.cert"},
};

cfg_t *gw_config_cfg_new(void) {
    return cfg_new("hookpipe-gateway", "[options]", gw_config_table,
                   sizeof(gw_config_table) / sizeof(gw_config_table[0]), "HOOKPIPE_GATEWAY");
}

int gw_config_read(const cfg_t *cfg, gw_config_t *out, char *errstr, size_t errstr_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(out, 0, sizeof(*out));
    out->listen = cfg_str(cfg, "listen");
    out->metrics_listen = cfg_str(cfg, "metrics.listen");
    out->integrations_topic = cfg_str(cfg, "integrations.topic");
    out->max_body = cfg_int(cfg, "max.body");
    out->max_depth = (int)cfg_int(cfg, "max.depth");
    out->max_records = cfg_int(cfg, "max.records");
    out->inflight_bytes = cfg_int(cfg, "inflight.bytes");
    out->ack_timeout_ms = (int)cfg_int(cfg, "ack.timeout.ms");
    out->retry_after = (int)cfg_int(cfg, "retry.after");
    out->threads = (int)cfg_int(cfg, "threads");
    out->connections_max = (int)cfg_int(cfg, "connections.max");
    out->connection_timeout = (int)cfg_int(cfg, "connection.timeout");
    out->connection_memory = (size_t)cfg_int(cfg, "connection.memory");
    out->shutdown_timeout_ms = (int)cfg_int(cfg, "shutdown.timeout.ms");
    const char *lvl = cfg_str(cfg, "log.level");
    out->log_level = lvl ? log_level_parse(lvl) : LOG_INFO;
    if (out->log_level < 0) {
        return errstr_fmt(-1, errstr, errstr_size,
                          "log.level: '%s' is not error, warn, info or debug", lvl);
    }
    out->tls_cert = cfg_str(cfg, "tls.cert");
    out->tls_key = cfg_str(cfg, "tls.key");
    if (out->tls_cert && !*out->tls_cert)
        out->tls_cert = NULL;
    if (out->tls_key && !*out->tls_key)
        out->tls_key = NULL;
    if (!out->tls_cert != !out->tls_key) {
        return errstr_fmt(-1, errstr, errstr_size,
                          "tls.cert and tls.key go together: give both or neither");
    }
    if (!out->integrations_topic || !*out->integrations_topic) {
        return errstr_fmt(-1, errstr, errstr_size, "integrations.topic: must not be empty");
    }
    if (!out->listen || net_addr_parse(out->listen, &ss, &sl, errstr, errstr_size) < 0)
        return -1;
    if (!out->metrics_listen ||
        net_addr_parse(out->metrics_listen, &ss, &sl, errstr, errstr_size) < 0)
        return -1;
    return 0;
}
