/* hookpipe-gateway: receives webhooks over HTTP and publishes them to Kafka. */
#include <openssl/crypto.h>
#include <stdio.h>

#include "gw_config.h"
#include "gw_http.h"
#include "gw_integrations.h"
#include "gw_metrics.h"
#include "gw_producer.h"
#include "log.h"
#include "prog.h"
#include "secret.h"

int main(int argc, char **argv) {
    char err[512];
    int rc = 1;
    gw_config_t conf;
    gw_integs_t *integs = NULL;
    gw_producer_t *producer = NULL;
    gw_http_t *http = NULL;
    cfg_t *cfg = gw_config_cfg_new();
    if (!cfg) {
        fprintf(stderr, "hookpipe-gateway: out of memory\n");
        return 1;
    }
    if ((rc = prog_load(cfg, argc, argv)) != PROG_RUN)
        goto out;
    if (gw_config_read(cfg, &conf, err, sizeof(err)) < 0) {
        prog_fail("hookpipe-gateway", "%s", err);
        rc = PROG_USAGE;
        goto out;
    }
    rc = 1;
    prog_start("hookpipe-gateway", (log_level_t)conf.log_level);
    secret_key_t key;
    int kr = secret_key_from_env(&key, err, sizeof(err));
    if (kr < 0) {
        log_error("%s", err);
        rc = 2;
        goto out;
    }

    if ((integs = gw_integs_new(cfg, conf.integrations_topic, err, sizeof(err))) && kr > 0) {
        gw_integs_set_key(integs, &key);
        log_info("signing secrets open with %s key %s", SECRET_KEY_ENV, key.kid);
    }
    OPENSSL_cleanse(&key, sizeof(key));
    if (!integs ||
        !(producer = gw_producer_new(cfg, conf.ack_timeout_ms, gw_http_on_delivery, err,
                                     sizeof(err))) ||
        !(http = gw_http_new(&conf, integs, producer, err, sizeof(err))) ||
        gw_integs_start(integs, err, sizeof(err)) < 0) {
        log_error("cannot start: %s", err);
        goto out;
    }
    log_info("listening on %s (metrics on %s), integrations from %s", conf.listen,
             conf.metrics_listen, conf.integrations_topic);
    while (!prog_stopping())
        prog_sleep_ms(100);

    log_info("stopping: no new connections, %lld request(s) in flight", gw_http_inflight(http));
    gw_http_quiesce(http);
    for (long waited = 0; gw_http_inflight(http) > 0 && waited < conf.shutdown_timeout_ms;
         waited += 20)
        prog_sleep_ms(20);
    if (gw_http_inflight(http) > 0) {
        log_warn("%lld request(s) still in flight after %d ms: answering 503",
                 gw_http_inflight(http), conf.shutdown_timeout_ms);
        gw_http_expire_all(http);
        prog_sleep_ms(200);
    }
    /* the loops still run (and serve delivery reports alongside the
     * flush): a request still waiting gets its answer from its report */
    long long left = gw_producer_flush(producer, conf.shutdown_timeout_ms);
    if (left > 0)
        log_warn("%lld message(s) not delivered at exit (their requests were answered 503)",
                 left);
    gw_http_destroy(http);
    http = NULL;
    log_info("stopped");
    rc = 0;
out:
    gw_producer_destroy(producer);
    gw_http_destroy(http);
    gw_integs_destroy(integs);
    gw_metrics_reset();
    cfg_destroy(cfg);
    return rc;
}
