/* Unit tests for gateway/gw_integrations: applying records of the topic,
 * token lookup, tombstones, references that outlive a delete. */
#include <stdlib.h>

#include "../../common/integ.h"
#include "../../common/log.h"
#include "../../gateway/gw_integrations.h"
#include "harness.h"

/* A record JSON for `name` with one fresh token, written to tok_hex. */
static char *record(const char *name, const char *client, int paused, char tok_hex[65]) {
    integ_t in;
    memset(&in, 0, sizeof(in));
    char topic[128], rej[160];
    snprintf(topic, sizeof(topic), "webhooks.%s", name);
    snprintf(rej, sizeof(rej), "webhooks.%s.rejected", name);
    in.name = (char *)name;
    in.display_name = (char *)name;
    in.client_id = (char *)client;
    in.topic = topic;
    in.rejected_topic = rej;
    in.paused = paused;
    integ_token_new(tok_hex, &in.tokens[0]);
    in.ntokens = 1;
    integ_now_rfc3339(in.created_at);
    integ_now_rfc3339(in.updated_at);
    return integ_to_json(&in);
}

static void test_apply_lookup(void) {
    char err[256], t1[65], t2[65];
    gw_integs_t *t = gw_integs_new(NULL, "x", err, sizeof(err));
    char *r1 = record("alpha", "11", 0, t1);
    char *r2 = record("beta", "22", 1, t2);
    CHECK(r1 && r2);
    CHECK_INT(gw_integs_apply(t, "alpha", 5, r1, strlen(r1)), 0);
    CHECK_INT(gw_integs_apply(t, "beta", 4, r2, strlen(r2)), 0);
    CHECK_INT(gw_integs_count(t), 2);
    gw_integ_t *e = gw_integs_lookup(t, t1, 64);
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(e->in->name, "alpha");
        CHECK_STR(e->in->client_id, "11");
    }
    gw_integ_t *f = gw_integs_lookup(t, t2, 64);
    CHECK(f && f->in->paused);
    gw_integ_release(f);
    CHECK(gw_integs_lookup(t, t1, 63) == NULL);
    CHECK(gw_integs_lookup(t, "nope", 4) == NULL);
    /* a record under another key, or garbage, is refused and changes nothing */
    CHECK_INT(gw_integs_apply(t, "gamma", 5, r1, strlen(r1)), -1);
    CHECK_INT(gw_integs_apply(t, "alpha", 5, "{", 1), -1);
    CHECK_INT(gw_integs_count(t), 2);
    /* tombstone: gone for new lookups, the held reference stays valid */
    CHECK_INT(gw_integs_apply(t, "alpha", 5, NULL, 0), 0);
    CHECK(gw_integs_lookup(t, t1, 64) == NULL);
    CHECK_INT(gw_integs_count(t), 1);
    if (e)
        CHECK_STR(e->in->topic, "webhooks.alpha");
    gw_integ_release(e);
    /* an update replaces the token */
    char t3[65];
    char *r3 = record("beta", "22", 0, t3);
    CHECK_INT(gw_integs_apply(t, "beta", 4, r3, strlen(r3)), 0);
    CHECK(gw_integs_lookup(t, t2, 64) == NULL);
    f = gw_integs_lookup(t, t3, 64);
    CHECK(f && !f->in->paused);
    gw_integ_release(f);
    CHECK_INT(gw_integs_ready(t), 0);
    free(r1);
    free(r2);
    free(r3);
    gw_integs_destroy(t);
    gw_integs_destroy(NULL);
    gw_integ_release(NULL);
}

int main(void) {
    log_init("test", LOG_ERROR);
    TEST(test_apply_lookup);
    return test_done();
}
