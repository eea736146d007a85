/* Unit tests for common/whsig: published known answers, rotation, tolerance,
 * malformed and hostile headers. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "whsig.h"
#include "harness.h"

typedef struct {
    const char *names[4], *values[4];
} hdrs_t;

static const char *lookup(void *opaque, const char *name) {
    const hdrs_t *h = opaque;
    for (int i = 0; i < 4 && h->names[i]; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS "1614265330"
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define GH_SECRET "It's a Secret to Everybody"
#define GH_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static void test_known_answers(void) {
    static const struct {
        whsig_config_t cfg;
        hdrs_t h;
        const char *body;
        time_t now;
        whsig_result_t want;
    } cases[] = {
        /* Standard Webhooks' published example */
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"}, {SW_ID, SW_TS, SW_SIG}},
         SW_BODY, 1614265330, WHSIG_OK},
        /* key rotation: the matching signature is second in the list */
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"},
          {SW_ID, SW_TS, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SW_SIG}},
         SW_BODY, 1614265330, WHSIG_OK},
        /* one byte of the body changed */
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"}, {SW_ID, SW_TS, SW_SIG}},
         "{\"test\": 2432232315}", 1614265330, WHSIG_EMISMATCH},
        /* outside the default 5 minute tolerance, and just inside it */
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"}, {SW_ID, SW_TS, SW_SIG}},
         SW_BODY, 1614265330 + 301, WHSIG_ETIMESTAMP},
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"}, {SW_ID, SW_TS, SW_SIG}},
         SW_BODY, 1614265330 - 300, WHSIG_OK},
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-signature"}, {SW_ID, SW_SIG}}, SW_BODY, 1614265330,
         WHSIG_EMISSING},
        {{WHSIG_STANDARD, SW_SECRET, 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"}, {SW_ID, "16x", SW_SIG}},
         SW_BODY, 1614265330, WHSIG_EMALFORMED},
        {{WHSIG_STANDARD, "whsec_!!!", 0, NULL, 0, NULL},
         {{"webhook-id", "webhook-timestamp", "webhook-signature"}, {SW_ID, SW_TS, SW_SIG}},
         SW_BODY, 1614265330, WHSIG_EMALFORMED},
        /* GitHub's published example */
        {{WHSIG_GITHUB, GH_SECRET, 0, NULL, 0, NULL}, {{"X-Hub-Signature-256"}, {GH_SIG}},
         "Hello, World!", 0, WHSIG_OK},
        {{WHSIG_GITHUB, GH_SECRET, 0, NULL, 0, NULL}, {{"x-hub-signature-256"}, {GH_SIG}},
         "Hello, World?", 0, WHSIG_EMISMATCH},
        {{WHSIG_GITHUB, GH_SECRET, 0, NULL, 0, NULL},
         {{"X-Hub-Signature-256"}, {"sha1=757107ea"}}, "Hello, World!", 0, WHSIG_EMALFORMED},
        {{WHSIG_GITHUB, GH_SECRET, 0, NULL, 0, NULL},
         {{"X-Hub-Signature-256"}, {"sha256=zz"}}, "Hello, World!", 0, WHSIG_EMALFORMED},
        /* generic HMAC, the same MAC as GitHub's under another header */
        {{WHSIG_HMAC, GH_SECRET, 0, "X-Signature", WHSIG_HEX, NULL},
         {{"X-Signature"}, {GH_SIG + 7}}, "Hello, World!", 0, WHSIG_OK},
        /* a truncated signature never matches */
        {{WHSIG_HMAC, GH_SECRET, 0, "X-Signature", WHSIG_HEX, NULL},
         {{"X-Signature"}, {"757107ea0eb2509f"}}, "Hello, World!", 0, WHSIG_EMISMATCH},
        {{WHSIG_GITHUB, "", 0, NULL, 0, NULL}, {{"X-Hub-Signature-256"}, {GH_SIG}},
         "Hello, World!", 0, WHSIG_EMALFORMED},
        {{WHSIG_NONE, NULL, 0, NULL, 0, NULL}, {{NULL}, {NULL}}, "x", 0, WHSIG_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char reason[256] = "";
        hdrs_t h = cases[i].h;
        whsig_result_t r = whsig_verify(&cases[i].cfg, lookup, &h, cases[i].body,
                                        strlen(cases[i].body), cases[i].now, reason, sizeof(reason));
        if (r != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, reason);
        CHECK_INT(r, cases[i].want);
    }
}

/* Stripe and Shopify: expected values computed independently with Python's
 * hmac module (key "It's a Secret to Everybody"). */
static void test_stripe_shopify(void) {
    char reason[256];
    hdrs_t shop = {{"X-Shopify-Hmac-Sha256"}, {"dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="}};
    whsig_config_t cfg = {WHSIG_SHOPIFY, GH_SECRET, 0, NULL, 0, NULL};
    CHECK_INT(whsig_verify(&cfg, lookup, &shop, "Hello, World!", 13, 0, reason, sizeof(reason)), WHSIG_OK);
    CHECK_INT(whsig_verify(&cfg, lookup, &shop, "Hello, World.", 13, 0, reason, sizeof(reason)),
              WHSIG_EMISMATCH);
    /* Stripe signs "<t>.<body>": HMAC over "1700000000.{}", second of two v1 */
    hdrs_t st = {{"Stripe-Signature"},
                 {"t=1700000000,v1=00ff,v1=1df0d47c3774d7ccf5c4d51759477d319136747489fd8d3da926674d75de192f,v0=aa"}};
    cfg.scheme = WHSIG_STRIPE;
    CHECK_INT(whsig_verify(&cfg, lookup, &st, "{}", 2, 1700000000, reason, sizeof(reason)), WHSIG_OK);
    CHECK_INT(whsig_verify(&cfg, lookup, &st, "{} ", 3, 1700000000, reason, sizeof(reason)), WHSIG_EMISMATCH);
    CHECK_INT(whsig_verify(&cfg, lookup, &st, "{}", 2, 1700000000 + 301, reason, sizeof(reason)),
              WHSIG_ETIMESTAMP);
    cfg.tolerance_s = 600;
    CHECK_INT(whsig_verify(&cfg, lookup, &st, "{}", 2, 1700000000 + 301, reason, sizeof(reason)), WHSIG_OK);
    hdrs_t st2 = {{"Stripe-Signature"}, {"v1=abcd"}};
    CHECK_INT(whsig_verify(&cfg, lookup, &st2, "{}", 2, 1700000000, reason, sizeof(reason)),
              WHSIG_EMALFORMED);
}

static void test_base64(void) {
    unsigned char out[8];
    CHECK_INT(base64_decode("aGk=", 4, out, sizeof(out)), 2);
    CHECK_MEM(out, 2, "hi", 2);
    CHECK_INT(base64_decode("aGk", 3, out, sizeof(out)), 2);
    CHECK_INT(base64_decode("a", 1, out, sizeof(out)), -1);
    CHECK_INT(base64_decode("a*==", 4, out, sizeof(out)), -1);
    CHECK_INT(base64_decode("AAAAAAAAAAAAAAAA", 16, out, sizeof(out)), -1);
    CHECK_INT(whsig_scheme_parse("stripe"), WHSIG_STRIPE);
    CHECK_INT(whsig_scheme_parse("nope"), -1);
    CHECK_STR(whsig_scheme_name(WHSIG_SHOPIFY), "shopify");
    CHECK_STR(whsig_delivery_header(WHSIG_GITHUB), "X-GitHub-Delivery");
}

int main(void) {
    TEST(test_known_answers);
    TEST(test_stripe_shopify);
    TEST(test_base64);
    return test_done();
}
