/* hookpipe-registry: Confluent-compatible Avro schema registry whose state is
 * the compacted `_schemas` Kafka topic; replicas need no leader. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "log.h"
#include "sr_api.h"
#include "sr_compat.h"
#include "sr_store.h"

static const cfg_opt_t registry_cfg[] = {
    {"listen", CFG_STR, "127.0.0.1:8081", 0, -1, 0, "HTTP listen address host:port"},
    {"topic", CFG_STR, "_schemas", 0, -1, 0,
     "compacted single-partition topic holding the schemas"},
    {"compatibility", CFG_STR, "BACKWARD", 0, -1, 0,
     "default level: NONE, BACKWARD[_TRANSITIVE], FORWARD[_TRANSITIVE], FULL[_TRANSITIVE]"},
    {"timeout.ms", CFG_INT, "10000", 100, 600000, 0,
     "Kafka round-trip deadline for a write or a catch-up"},
    {"log.level", CFG_STR, "info", 0, -1, 0, "error, warn, info or debug"},
};

static volatile sig_atomic_t registry_stop;

static void registry_on_signal(int sig) {
    (void)sig;
    registry_stop = 1;
}

int main(int argc, char **argv) {
    int rc = 1;
    char err[512];
    sr_store_t *store = NULL;
    sr_api_t *api = NULL;
    cfg_t *cfg = cfg_new("hookpipe-registry", "[options]", registry_cfg,
                         sizeof(registry_cfg) / sizeof(registry_cfg[0]), "HOOKPIPE_REGISTRY");
    if (!cfg) {
        fprintf(stderr, "hookpipe-registry: out of memory\n");
        return 1;
    }
    int lr = cfg_load(cfg, argc, argv, err, sizeof(err));
    if (lr != 0) {
        if (lr < 0)
            fprintf(stderr, "hookpipe-registry: %s\n", err);
        rc = lr > 0 ? 0 : 2;
        goto out;
    }
    int level = log_level_parse(cfg_str(cfg, "log.level"));
    int compat = sr_compat_level_parse(cfg_str(cfg, "compatibility"));
    if (level < 0 || compat < 0 || cfg_argc(cfg) > 0) {
        fprintf(stderr, "hookpipe-registry: %s\n",
                level < 0    ? "log.level: expected error, warn, info or debug"
                : compat < 0 ? "compatibility: unknown level"
                             : "unexpected argument (see --help)");
        rc = 2;
        goto out;
    }
    log_init("hookpipe-registry", (log_level_t)level);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = registry_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    store = sr_store_new(cfg, cfg_str(cfg, "topic"), (sr_compat_level_t)compat,
                         (int)cfg_int(cfg, "timeout.ms"), err, sizeof(err));
    if (!store) {
        log_error("store: %s", err);
        goto out;
    }
    api = sr_api_start(cfg_str(cfg, "listen"), store, err, sizeof(err));
    if (!api) {
        log_error("%s", err);
        goto out;
    }
    log_info("listening on %s (port %d), topic %s, default compatibility %s",
             cfg_str(cfg, "listen"), sr_api_port(api), cfg_str(cfg, "topic"),
             sr_compat_level_name((sr_compat_level_t)compat));
    while (!registry_stop) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    log_info("stopping");
    rc = 0;
out:
    sr_api_stop(api);
    sr_store_destroy(store);
    cfg_destroy(cfg);
    return rc;
}
