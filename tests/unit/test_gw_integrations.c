/* Unit tests for gateway/gw_integrations: applying records of the topic,
 * token lookup, tombstones, references that outlive a delete. */
#include <stdlib.h>

#include "integ.h"
#include "log.h"
#include "secret.h"
#include "gw_integrations.h"
#include "harness.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* A record for `name` with a github signature whose secret is sealed with
 * key_hex for integration seal_for, and a rate limit of 1/s, burst 2. */
static char *signed_record(const char *name, const char *key_hex, const char *seal_for,
                           char tok_hex[65]) {
    secret_key_t k;
    char err[256], topic[128], rej[160];
    integ_t in;
    memset(&in, 0, sizeof(in));
    if (secret_key_parse(key_hex, &k, err, sizeof(err)) < 0)
        return NULL;
    snprintf(topic, sizeof(topic), "webhooks.%s", name);
    snprintf(rej, sizeof(rej), "webhooks.%s.rejected", name);
    in.name = in.display_name = (char *)name;
    in.client_id = (char *)"1";
    in.topic = topic;
    in.rejected_topic = rej;
    integ_token_new(tok_hex, &in.tokens[0]);
    in.ntokens = 1;
    integ_now_rfc3339(in.created_at);
    integ_now_rfc3339(in.updated_at);
    in.sig_scheme = WHSIG_GITHUB;
    in.sig_secret = secret_seal(&k, seal_for, "hush", 4, err, sizeof(err));
    in.rate_per_s = 1;
    in.rate_burst = 2;
    char *json = in.sig_secret ? integ_to_json(&in) : NULL;
    free(in.sig_secret);
    return json;
}

static void test_signing_secret_states(void) {
    static const struct {
        int give_key;
        const char *gw_key, *seal_key, *seal_for;
        gw_sig_state_t want;
    } cases[] = {
        {1, KEY_A, KEY_A, "s", GW_SIG_READY},
        {0, NULL, KEY_A, "s", GW_SIG_NO_KEY},
        {1, KEY_B, KEY_A, "s", GW_SIG_WRONG_KEY},
        {1, KEY_A, KEY_A, "other", GW_SIG_BROKEN},   /* copied from another record */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256], tok[65];
        secret_key_t k;
        gw_integs_t *t = gw_integs_new(NULL, "x", err, sizeof(err));
        if (cases[i].give_key && secret_key_parse(cases[i].gw_key, &k, err, sizeof(err)) == 0)
            gw_integs_set_key(t, &k);
        char *r = signed_record("s", cases[i].seal_key, cases[i].seal_for, tok);
        CHECK(r != NULL);
        CHECK_INT(r ? gw_integs_apply(t, "s", 1, r, strlen(r)) : -1, 0);
        gw_integ_t *e = gw_integs_lookup(t, tok, 64);
        CHECK(e != NULL);
        if (e) {
            if ((int)e->sig_state != (int)cases[i].want)
                HARNESS_FAIL("case %zu: sig_state %d, want %d", i, (int)e->sig_state,
                             (int)cases[i].want);
            if (cases[i].want == GW_SIG_READY)
                CHECK_STR(e->secret, "hush");
            else
                CHECK(e->secret == NULL);
        }
        gw_integ_release(e);
        free(r);
        gw_integs_destroy(t);
    }
}

static void test_rate_survives_updates(void) {
    char err[256], tok[65], tok2[65];
    int ra = 0;
    gw_integs_t *t = gw_integs_new(NULL, "x", err, sizeof(err));
    char *r = signed_record("r", KEY_A, "r", tok);
    CHECK_INT(r ? gw_integs_apply(t, "r", 1, r, strlen(r)) : -1, 0);
    gw_integ_t *e = gw_integs_lookup(t, tok, 64);
    int64_t now = 1000000000LL;
    CHECK(e && gw_integ_rate_take(e, now, &ra) && gw_integ_rate_take(e, now, &ra));
    CHECK(e && !gw_integ_rate_take(e, now, &ra));
    gw_integ_release(e);
    /* the record changes (a new token): the emptied bucket goes with it */
    char *r2 = signed_record("r", KEY_A, "r", tok2);
    CHECK_INT(r2 ? gw_integs_apply(t, "r", 1, r2, strlen(r2)) : -1, 0);
    e = gw_integs_lookup(t, tok2, 64);
    CHECK(e && !gw_integ_rate_take(e, now, &ra));
    CHECK_INT(ra, 1);
    CHECK(e && gw_integ_rate_take(e, now + 1000000000LL, &ra));
    gw_integ_release(e);
    free(r);
    free(r2);
    gw_integs_destroy(t);
}

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
    TEST(test_signing_secret_states);
    TEST(test_rate_survives_updates);
    return test_done();
}
