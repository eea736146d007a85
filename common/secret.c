/* secret: AES-256-GCM sealing of integration secrets under the operators' key. */
#include "secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hex.h"

#define SECRET_PREFIX "A256GCM."
#define SECRET_NONCE  12
#define SECRET_TAG    16

int secret_key_parse(const char *text, secret_key_t *out, char *errstr, size_t errstr_size) {
    unsigned char k[48];
    int n = -1;
    const char *s = text, *e = text + strlen(text);
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    size_t len = (size_t)(e - s);
    if (len == 64)
        n = hex_decode(s, len, k, 32, HEX_ANY_CASE);
    if (n != 32)
        n = base64_decode(s, len, k, sizeof(k));
    if (n != 32) {
        OPENSSL_cleanse(k, sizeof(k));
        snprintf(errstr, errstr_size,
                 "%s must be 64 hex characters or the base64 of 32 bytes (%zu characters given)",
                 SECRET_KEY_ENV, len);
        return -1;
    }
    memcpy(out->key, k, 32);
    OPENSSL_cleanse(k, sizeof(k));
    /* the kid is a hash of the key under a fixed label: it names the key
     * without revealing anything usable about it */
    unsigned char h[32];
    unsigned int hl = sizeof(h);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, "hookpipe-secret-key\n", 20) &&
             EVP_DigestUpdate(md, out->key, 32) && EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    if (!ok) {
        OPENSSL_cleanse(out->key, 32);
        snprintf(errstr, errstr_size, "SHA-256 failed");
        return -1;
    }
    hex_encode(h, SECRET_KID_HEX / 2, out->kid);
    return 0;
}

int secret_key_from_env(secret_key_t *out, char *errstr, size_t errstr_size) {
    const char *v = getenv(SECRET_KEY_ENV);
    if (!v || !*v)
        return 0;
    return secret_key_parse(v, out, errstr, errstr_size) < 0 ? -1 : 1;
}

/* AES-256-GCM in one direction; 0 or -1 (for decryption: tag mismatch). */
static int secret_gcm(int enc, const unsigned char key[32], const unsigned char *nonce,
                      const char *aad, const unsigned char *in, size_t len, unsigned char *out,
                      unsigned char tag[SECRET_TAG]) {
    int n = 0, ok;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SECRET_NONCE, NULL) &&
         EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) &&
         EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) &&
         (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len));
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SECRET_TAG, tag);
    ok = ok && EVP_CipherFinal_ex(c, out + (len ? (size_t)n : 0), &n);
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SECRET_TAG, tag);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

char *secret_seal(const secret_key_t *key, const char *aad, const char *plain, size_t len,
                  char *errstr, size_t errstr_size) {
    unsigned char nonce[SECRET_NONCE], *ct = NULL;
    char *out = NULL;
    if (len > SECRET_MAX) {
        snprintf(errstr, errstr_size, "secret longer than %d bytes", SECRET_MAX);
        return NULL;
    }
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        snprintf(errstr, errstr_size, "no randomness available for a nonce");
        return NULL;
    }
    /* prefix, kid, two dots, 16 base64 characters of nonce, the ciphertext
     * and tag in base64, NUL */
    size_t out_size = sizeof(SECRET_PREFIX) + SECRET_KID_HEX + 2 + 16 +
                      BASE64_ENCODED_LEN(len + SECRET_TAG) + 1;
    if (!(ct = malloc(len + SECRET_TAG)) || !(out = malloc(out_size))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (secret_gcm(1, key->key, nonce, aad, (const unsigned char *)plain, len, ct,
                   ct + len) < 0) {
        snprintf(errstr, errstr_size, "AES-256-GCM encryption failed");
        goto fail;
    }
    int o = sprintf(out, SECRET_PREFIX "%s.", key->kid);
    o += (int)base64_encode(nonce, SECRET_NONCE, out + o);
    out[o++] = '.';
    base64_encode(ct, len + SECRET_TAG, out + o);
    free(ct);
    return out;
fail:
    free(ct);
    free(out);
    return NULL;
}

/* Splits a sealed string into its kid, nonce and ciphertext parts. */
static int secret_split(const char *sealed, const char **kid, const char **nonce, size_t *nonce_len,
                        const char **ct) {
    size_t pl = sizeof(SECRET_PREFIX) - 1;
    if (!sealed || strncmp(sealed, SECRET_PREFIX, pl) != 0)
        return -1;
    *kid = sealed + pl;
    for (size_t i = 0; i < SECRET_KID_HEX; i++)
        if (!(*kid)[i] || hex_digit_value((unsigned char)(*kid)[i], HEX_ANY_CASE) < 0)
            return -1;
    if ((*kid)[SECRET_KID_HEX] != '.')
        return -1;
    *nonce = *kid + SECRET_KID_HEX + 1;
    const char *dot = strchr(*nonce, '.');
    if (!dot)
        return -1;
    *nonce_len = (size_t)(dot - *nonce);
    *ct = dot + 1;
    return 0;
}

int secret_sealed_kid(const char *sealed, char kid_out[SECRET_KID_HEX + 1]) {
    const char *kid, *nonce, *ct;
    size_t nl;
    if (secret_split(sealed, &kid, &nonce, &nl, &ct) < 0)
        return -1;
    memcpy(kid_out, kid, SECRET_KID_HEX);
    kid_out[SECRET_KID_HEX] = '\0';
    return 0;
}

secret_rc_t secret_open(const secret_key_t *key, const char *aad, const char *sealed,
                        char **plain, size_t *len) {
    const char *kid, *nonce_b64, *ct_b64;
    size_t nl;
    unsigned char nonce[SECRET_NONCE + 3];
    *plain = NULL;
    *len = 0;
    if (secret_split(sealed, &kid, &nonce_b64, &nl, &ct_b64) < 0 ||
        base64_decode(nonce_b64, nl, nonce, sizeof(nonce)) != SECRET_NONCE)
        return SECRET_EFORMAT;
    if (strncmp(kid, key->kid, SECRET_KID_HEX) != 0)
        return SECRET_EKID;
    size_t cap = strlen(ct_b64) / 4 * 3 + 3;
    if (cap > SECRET_MAX + SECRET_TAG + 3)
        return SECRET_EFORMAT;
    unsigned char *ct = malloc(cap);
    char *out = malloc(cap + 1);
    if (!ct || !out) {
        free(ct);
        free(out);
        return SECRET_ENOMEM;
    }
    secret_rc_t rc = SECRET_EFORMAT;
    int n = base64_decode(ct_b64, strlen(ct_b64), ct, cap);
    if (n < SECRET_TAG)
        goto out;
    size_t pl = (size_t)n - SECRET_TAG;
    rc = SECRET_EAUTH;
    if (secret_gcm(0, key->key, nonce, aad, ct, pl, (unsigned char *)out, ct + pl) < 0)
        goto out;
    out[pl] = '\0';
    *plain = out;
    *len = pl;
    out = NULL;
    rc = SECRET_OK;
out:
    free(ct);
    if (out) {
        OPENSSL_cleanse(out, cap + 1);
        free(out);
    }
    return rc;
}

const char *secret_strerror(secret_rc_t rc) {
    switch (rc) {
    case SECRET_OK: return "ok";
    case SECRET_EFORMAT: return "not a sealed secret";
    case SECRET_EKID: return "sealed with another " SECRET_KEY_ENV;
    case SECRET_EAUTH: return "does not decrypt (tampered, or sealed for another integration)";
    case SECRET_ENOMEM: return "out of memory";
    }
    return "?";
}

void secret_free(char *plain) {
    if (!plain)
        return;
    OPENSSL_cleanse(plain, strlen(plain));
    free(plain);
}
