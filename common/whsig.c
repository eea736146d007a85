/* whsig: webhook signature schemes over HMAC-SHA256. */
#include "whsig.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "errstr.h"
#include "hex.h"

#define WHSIG_MAC 32
#define WHSIG_KEY_MAX 256

static const char *const whsig_names[] = {"none", "standard", "github", "stripe", "shopify", "hmac"};

const char *whsig_scheme_name(whsig_scheme_t scheme) {
    return (unsigned)scheme < sizeof(whsig_names) / sizeof(whsig_names[0]) ? whsig_names[scheme] : "?";
}

int whsig_scheme_parse(const char *name) {
    for (size_t i = 0; i < sizeof(whsig_names) / sizeof(whsig_names[0]); i++)
        if (strcmp(name, whsig_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *whsig_delivery_header(whsig_scheme_t scheme) {
    switch (scheme) {
    case WHSIG_STANDARD: return "webhook-id";
    case WHSIG_GITHUB: return "X-GitHub-Delivery";
    case WHSIG_SHOPIFY: return "X-Shopify-Webhook-Id";
    default: return NULL;
    }
}

/* HMAC-SHA256 over the concatenation of `nparts` parts. 0, or -1 if the
 * library failed (then nothing may be compared against `mac`). */
static int whsig_hmac(const unsigned char *key, size_t key_len, const char *const parts[],
                       const size_t lens[], int nparts, unsigned char mac[WHSIG_MAC]) {
    size_t len = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    int ok = ctx && EVP_MAC_init(ctx, key, key_len, params);
    for (int i = 0; ok && i < nparts; i++)
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]);
    ok = ok && EVP_MAC_final(ctx, mac, &len, WHSIG_MAC) && len == WHSIG_MAC;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return ok ? 0 : -1;
}

/* Decodes one presented signature and compares it with `mac` in constant
 * time. 1 = match, 0 = no match, -1 = malformed. */
static int whsig_match(const char *sig, size_t sig_len, whsig_encoding_t enc,
                       const unsigned char mac[WHSIG_MAC]) {
    unsigned char got[WHSIG_MAC + 4];
    int n = enc == WHSIG_HEX ? hex_decode(sig, sig_len, got, sizeof(got), HEX_ANY_CASE)
                             : base64_decode(sig, sig_len, got, sizeof(got));
    if (n < 0)
        return -1;
    return n == WHSIG_MAC && CRYPTO_memcmp(got, mac, WHSIG_MAC) == 0;
}

static whsig_result_t whsig_timestamp(const char *ts, time_t now, long tolerance,
                                      long long *out, char *reason, size_t size) {
    char *end;
    long long t = strtoll(ts, &end, 10);
    if (end == ts || *end)
        return errstr_fmt(WHSIG_EMALFORMED, reason, size, "timestamp '%.32s' is not an integer", ts);
    if (tolerance <= 0)
        tolerance = 300;
    if (t < (long long)now - tolerance || t > (long long)now + tolerance)
        /* the distance in double: t - now overflows for t near LLONG_MIN */
        return errstr_fmt(WHSIG_ETIMESTAMP, reason, size,
                          "timestamp %lld is %.0f s from now (tolerance %ld s)", t,
                          (double)t - (double)now, tolerance);
    *out = t;
    return WHSIG_OK;
}

static whsig_result_t whsig_standard(const whsig_config_t *cfg, whsig_header_fn header, void *opaque,
                                     const char *body, size_t len, time_t now, char *reason,
                                     size_t size) {
    const char *id = header(opaque, "webhook-id"), *ts = header(opaque, "webhook-timestamp");
    const char *sigs = header(opaque, "webhook-signature");
    if (!id || !ts || !sigs)
        return errstr_fmt(WHSIG_EMISSING, reason, size, "missing %s header",
                          !id ? "webhook-id" : !ts ? "webhook-timestamp" : "webhook-signature");
    long long t;
    whsig_result_t r = whsig_timestamp(ts, now, cfg->tolerance_s, &t, reason, size);
    if (r != WHSIG_OK)
        return r;
    const char *secret = cfg->secret;
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    unsigned char key[WHSIG_KEY_MAX];
    int key_len = base64_decode(secret, strlen(secret), key, sizeof(key));
    if (key_len <= 0)
        return errstr_fmt(WHSIG_EMALFORMED, reason, size, "secret is not whsec_<base64>");
    unsigned char mac[WHSIG_MAC];
    const char *parts[] = {id, ".", ts, ".", body};
    size_t lens[] = {strlen(id), 1, strlen(ts), 1, len};
    int rc = whsig_hmac(key, (size_t)key_len, parts, lens, 5, mac);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0)
        return errstr_fmt(WHSIG_EMISMATCH, reason, size, "HMAC computation failed");
    /* "v1,<base64> v1,<base64> ...": any one matching is enough (rotation) */
    for (const char *p = sigs; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e - p > 3 && strncmp(p, "v1,", 3) == 0 &&
            whsig_match(p + 3, (size_t)(e - p - 3), WHSIG_BASE64, mac) == 1)
            return WHSIG_OK;
        p = e;
    }
    return errstr_fmt(WHSIG_EMISMATCH, reason, size, "no v1 signature matches");
}

static whsig_result_t whsig_stripe(const whsig_config_t *cfg, whsig_header_fn header, void *opaque,
                                   const char *body, size_t len, time_t now, char *reason,
                                   size_t size) {
    const char *h = header(opaque, "Stripe-Signature");
    if (!h)
        return errstr_fmt(WHSIG_EMISSING, reason, size, "missing Stripe-Signature header");
    /* t=<unix>,v1=<hex>[,v1=<hex>][,v0=...] */
    char ts[32] = "";
    for (const char *p = h; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 2 && strncmp(p, "t=", 2) == 0 && n - 2 < sizeof(ts)) {
            memcpy(ts, p + 2, n - 2);
            ts[n - 2] = '\0';
        }
        p += n + (e ? 1 : 0);
    }
    if (!*ts)
        return errstr_fmt(WHSIG_EMALFORMED, reason, size, "Stripe-Signature has no t=");
    long long t;
    whsig_result_t r = whsig_timestamp(ts, now, cfg->tolerance_s, &t, reason, size);
    if (r != WHSIG_OK)
        return r;
    unsigned char mac[WHSIG_MAC];
    const char *parts[] = {ts, ".", body};
    size_t lens[] = {strlen(ts), 1, len};
    if (whsig_hmac((const unsigned char *)cfg->secret, strlen(cfg->secret), parts, lens, 3, mac) < 0)
        return errstr_fmt(WHSIG_EMISMATCH, reason, size, "HMAC computation failed");
    for (const char *p = h; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 3 && strncmp(p, "v1=", 3) == 0 && whsig_match(p + 3, n - 3, WHSIG_HEX, mac) == 1)
            return WHSIG_OK;
        p += n + (e ? 1 : 0);
    }
    return errstr_fmt(WHSIG_EMISMATCH, reason, size, "no v1 signature matches");
}

/* One header holding one signature over the raw body. */
static whsig_result_t whsig_body(const char *secret, const char *name, const char *prefix,
                                 whsig_encoding_t enc, whsig_header_fn header, void *opaque,
                                 const char *body, size_t len, char *reason, size_t size) {
    const char *h = header(opaque, name);
    if (!h)
        return errstr_fmt(WHSIG_EMISSING, reason, size, "missing %s header", name);
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen && strncasecmp(h, prefix, plen) != 0)
        return errstr_fmt(WHSIG_EMALFORMED, reason, size, "%s does not start with '%s'", name, prefix);
    unsigned char mac[WHSIG_MAC];
    const char *parts[] = {body};
    size_t lens[] = {len};
    if (whsig_hmac((const unsigned char *)secret, strlen(secret), parts, lens, 1, mac) < 0)
        return errstr_fmt(WHSIG_EMISMATCH, reason, size, "HMAC computation failed");
    int m = whsig_match(h + plen, strlen(h + plen), enc, mac);
    if (m < 0)
        return errstr_fmt(WHSIG_EMALFORMED, reason, size, "%s is not %s", name,
                          enc == WHSIG_HEX ? "hex" : "base64");
    return m ? WHSIG_OK : errstr_fmt(WHSIG_EMISMATCH, reason, size, "signature does not match");
}

whsig_result_t whsig_verify(const whsig_config_t *cfg, whsig_header_fn header, void *opaque,
                            const char *body, size_t body_len, time_t now, char *reason,
                            size_t reason_size) {
    if (cfg->scheme != WHSIG_NONE && (!cfg->secret || !*cfg->secret))
        return errstr_fmt(WHSIG_EMALFORMED, reason, reason_size, "no secret configured");
    switch (cfg->scheme) {
    case WHSIG_NONE:
        return WHSIG_OK;
    case WHSIG_STANDARD:
        return whsig_standard(cfg, header, opaque, body, body_len, now, reason, reason_size);
    case WHSIG_STRIPE:
        return whsig_stripe(cfg, header, opaque, body, body_len, now, reason, reason_size);
    case WHSIG_GITHUB:
        return whsig_body(cfg->secret, "X-Hub-Signature-256", "sha256=", WHSIG_HEX, header,
                          opaque, body, body_len, reason, reason_size);
    case WHSIG_SHOPIFY:
        return whsig_body(cfg->secret, "X-Shopify-Hmac-Sha256", NULL, WHSIG_BASE64, header,
                          opaque, body, body_len, reason, reason_size);
    case WHSIG_HMAC:
        if (!cfg->header)
            return errstr_fmt(WHSIG_EMALFORMED, reason, reason_size, "no header configured");
        return whsig_body(cfg->secret, cfg->header, cfg->prefix, cfg->encoding, header, opaque,
                          body, body_len, reason, reason_size);
    }
    return errstr_fmt(WHSIG_EMALFORMED, reason, reason_size, "unknown scheme");
}
