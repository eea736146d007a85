/* Unit tests for common/secret: AES-256-GCM sealing of signing secrets. */
#include <stdlib.h>

#include "secret.h"
#include "harness.h"

#define HEX_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define B64_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void test_key_parse(void) {
    static const struct {
        const char *text;
        int ok;
    } cases[] = {
        {HEX_KEY, 1},
        {"  " HEX_KEY "\n", 1},
        {B64_KEY, 1},
        {"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", 1},
        {"", 0},
        {"00", 0},
        {HEX_KEY "00", 0},
        {"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0},
        {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", 0},  /* 31 bytes */
        {"not a key at all", 0},
    };
    secret_key_t a, b;
    char err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = secret_key_parse(cases[i].text, &a, err, sizeof(err));
        if ((r == 0) != cases[i].ok)
            HARNESS_FAIL("case %zu (%s): %d", i, cases[i].text, r);
        if (r < 0)
            CHECK(strstr(err, SECRET_KEY_ENV) != NULL);
    }
    CHECK_INT(secret_key_parse(HEX_KEY, &a, err, sizeof(err)), 0);
    CHECK_INT(secret_key_parse(B64_KEY, &b, err, sizeof(err)), 0);
    CHECK_STR(a.kid, b.kid);        /* the same key in both spellings */
    CHECK_INT(strlen(a.kid), SECRET_KID_HEX);
    CHECK(memcmp(a.key, b.key, 32) == 0);
}

static void test_round_trip(void) {
    secret_key_t k;
    char err[256], kid[SECRET_KID_HEX + 1], *plain = NULL;
    size_t len = 0;
    CHECK_INT(secret_key_parse(HEX_KEY, &k, err, sizeof(err)), 0);
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    char *a = secret_seal(&k, "stripe_events", secret, strlen(secret), err, sizeof(err));
    char *b = secret_seal(&k, "stripe_events", secret, strlen(secret), err, sizeof(err));
    CHECK(a != NULL && b != NULL);
    if (!a || !b)
        goto out;
    CHECK(strcmp(a, b) != 0);                 /* a fresh nonce each time */
    CHECK(strstr(a, "MfKQ9r8") == NULL);      /* no clear text */
    CHECK(strncmp(a, "A256GCM.", 8) == 0);
    CHECK_INT(secret_sealed_kid(a, kid), 0);
    CHECK_STR(kid, k.kid);
    CHECK_INT(secret_open(&k, "stripe_events", a, &plain, &len), SECRET_OK);
    CHECK_STR(plain, secret);
    CHECK_INT(len, strlen(secret));
    secret_free(plain);
    plain = NULL;
    CHECK_INT(secret_open(&k, "stripe_events", b, &plain, &len), SECRET_OK);
    CHECK_STR(plain, secret);
    secret_free(plain);
    plain = NULL;
out:
    free(a);
    free(b);
}

static void test_refusals(void) {
    secret_key_t k, other;
    char err[256], *plain = (char *)"untouched";
    size_t len = 7;
    CHECK_INT(secret_key_parse(HEX_KEY, &k, err, sizeof(err)), 0);
    CHECK_INT(secret_key_parse("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                               &other, err, sizeof(err)), 0);
    CHECK(strcmp(k.kid, other.kid) != 0);
    char *s = secret_seal(&k, "shop", "s3cr3t", 6, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    /* another key: told apart by the kid, before any decryption */
    CHECK_INT(secret_open(&other, "shop", s, &plain, &len), SECRET_EKID);
    CHECK(plain == NULL);
    CHECK_INT(len, 0);
    /* the same ciphertext in another integration's record */
    CHECK_INT(secret_open(&k, "shop2", s, &plain, &len), SECRET_EAUTH);
    /* every character of the ciphertext part changed in turn: never opens
     * (but the last one, whose low bits base64 may not use) */
    char *dot = strrchr(s, '.'), *end = dot + strcspn(dot, "=");
    int opened = 0;
    for (char *p = dot + 1; p < end - 1; p++) {
        char c = *p;
        *p = c == 'A' ? 'B' : 'A';
        secret_rc_t rc = secret_open(&k, "shop", s, &plain, &len);
        if (rc == SECRET_OK) {
            opened++;
            secret_free(plain);
        }
        *p = c;
    }
    CHECK_INT(opened, 0);
    /* the nonce tampered */
    char *n = s + 8 + SECRET_KID_HEX + 1;
    n[0] = n[0] == 'A' ? 'B' : 'A';
    CHECK_INT(secret_open(&k, "shop", s, &plain, &len), SECRET_EAUTH);
    free(s);
    static const char *const bad[] = {"", "A256GCM.", "A256GCM.0123456789abcdef",
                                      "A256GCM.0123456789abcdef.AAAA.AAAA",
                                      "A256GCM.0123456789abcde.AAAAAAAAAAAAAAAA.AAAA",
                                      "plain text secret", "A256GCM.0123456789abcdef.!!.!!"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (secret_open(&k, "shop", bad[i], &plain, &len) != SECRET_EFORMAT)
            HARNESS_FAIL("bad[%zu] \"%s\" not refused as malformed", i, bad[i]);
    CHECK(secret_seal(&k, "x", "y", SECRET_MAX + 1, err, sizeof(err)) == NULL);
}

static void test_env(void) {
    secret_key_t k;
    char err[256];
    unsetenv(SECRET_KEY_ENV);
    CHECK_INT(secret_key_from_env(&k, err, sizeof(err)), 0);
    setenv(SECRET_KEY_ENV, HEX_KEY, 1);
    CHECK_INT(secret_key_from_env(&k, err, sizeof(err)), 1);
    setenv(SECRET_KEY_ENV, "short", 1);
    CHECK_INT(secret_key_from_env(&k, err, sizeof(err)), -1);
    CHECK(strstr(err, "short") == NULL);      /* never echoes the key */
    unsetenv(SECRET_KEY_ENV);
}

int main(void) {
    TEST(test_key_parse);
    TEST(test_round_trip);
    TEST(test_refusals);
    TEST(test_env);
    return test_done();
}
