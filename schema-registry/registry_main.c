/* hookpipe-registry: Confluent-compatible Avro schema registry whose state is
 * the compacted `_schemas` Kafka topic; replicas need no leader. */
#include <stdio.h>

#include "cfg.h"
#include "log.h"
#include "prog.h"
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
    log_level_t level;
    if ((rc = prog_load(cfg, argc, argv)) != PROG_RUN ||
        (rc = prog_log_level(cfg, "log.level", &level)) != PROG_RUN)
        goto out;
    int compat = sr_compat_level_parse(cfg_str(cfg, "compatibility"));
    if (compat < 0) {
        prog_fail("hookpipe-registry", "compatibility: unknown level");
        rc = PROG_USAGE;
        goto out;
    }
    rc = 1;
    prog_start("hookpipe-registry", level);

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
    while (!prog_stopping())
        prog_sleep_ms(100);
    log_info("stopping");
    rc = 0;
out:
    sr_api_stop(api);
    sr_store_destroy(store);
    cfg_destroy(cfg);
    return rc;
}
