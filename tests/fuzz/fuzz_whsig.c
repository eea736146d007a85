/* Fuzz target: signature headers as a hostile sender writes them, for every
 * scheme of whsig, and sealed secrets as a damaged record holds them. The
 * input is split at NUL bytes: a byte choosing the scheme (0 standard,
 * 1 github, 2 stripe, 3 shopify, 4 hmac; modulo 5), then header value,
 * timestamp, id, body. A forged header must never verify (the secret is
 * not in the input), and no input may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "whsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const char *value, *ts, *id;
} fuzz_headers_t;

static const char *fuzz_header(void *opaque, const char *name) {
    const fuzz_headers_t *h = opaque;
    if (!strcmp(name, "webhook-timestamp"))
        return h->ts;
    if (!strcmp(name, "webhook-id"))
        return h->id;
    return h->value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    /* fields: value \0 ts \0 id \0 body (the body may hold further NULs) */
    const char *f[3] = {s, "", ""};
    size_t used = 0;
    for (int i = 0; i < 3 && used < size - 1; i++) {
        f[i] = s + used;
        used += strlen(s + used) + 1;
    }
    const char *body = used < size - 1 ? s + used : "";
    size_t body_len = used < size - 1 ? size - 1 - used : 0;
    fuzz_headers_t h = {f[0], f[1], f[2]};
    whsig_config_t cfg = {
        .scheme = (whsig_scheme_t)(1 + data[0] % 5),
        .secret = "whsec_ZnV6ei1zZWNyZXQtbm90LWluLXRoZS1pbnB1dA==",
        .tolerance_s = 300,
        .header = "X-Signature",
        .encoding = data[0] & 0x80 ? WHSIG_BASE64 : WHSIG_HEX,
        .prefix = data[0] & 0x40 ? "sha256=" : NULL,
    };
    char reason[256];
    if (whsig_verify(&cfg, fuzz_header, &h, body, body_len, 1614265330, reason,
                     sizeof(reason)) == WHSIG_OK)
        abort();    /* a forgery verified: only the secret's holder can sign */

    /* the header value as a sealed secret */
    secret_key_t key;
    char err[256], *plain = NULL;
    size_t len;
    if (secret_key_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                         &key, err, sizeof(err)) == 0 &&
        secret_open(&key, "fuzz", f[0], &plain, &len) == SECRET_OK)
        abort();    /* nothing but secret_seal's output may open */
    secret_free(plain);
    free(s);
    return 0;
}
