/* secret: sealing of per-integration secrets (webhook signing secrets) with
 * AES-256-GCM under a key the operators give every process in the
 * environment, so that hookpipe.integrations never holds them in clear text.
 *
 * Key: HOOKPIPE_SECRET_KEY = 64 hex characters, or the base64 of 32 bytes.
 * The same key must be given to hookpipectl (seals) and every gateway
 * (opens). Its key id (kid) is the first 16 hex digits of
 * SHA-256("hookpipe-secret-key\n" || key): public, it only tells which key
 * sealed a secret, so a gateway with another key says so clearly.
 *
 * Sealed form (one printable string, stored in the integration record):
 *   "A256GCM.<kid>.<base64 nonce (12 random bytes)>.<base64 ciphertext||tag>"
 * The additional authenticated data is the integration name, so a sealed
 * secret copied into another integration's record does not open.
 *
 * Thread use: every function is reentrant. Memory: results are malloc'd and
 * owned by the caller; secret_free() wipes before freeing. */
#ifndef HOOKPIPE_SECRET_H
#define HOOKPIPE_SECRET_H

#include <stddef.h>

#define SECRET_KEY_ENV  "HOOKPIPE_SECRET_KEY"
#define SECRET_KID_HEX  16
#define SECRET_MAX      4096    /* bytes of a clear-text secret */

typedef struct secret_key {
    unsigned char key[32];
    char kid[SECRET_KID_HEX + 1];
} secret_key_t;

typedef enum {
    SECRET_OK = 0,
    SECRET_EFORMAT,     /* not a sealed string */
    SECRET_EKID,        /* sealed under another key (kid differs) */
    SECRET_EAUTH,       /* same kid but the tag does not verify: tampered,
                           or sealed for another integration */
    SECRET_ENOMEM
} secret_rc_t;

/* Parses a key (64 hex characters or base64 of exactly 32 bytes, white
 * space around it ignored) and computes its kid. 0, or -1 with errstr
 * (which never contains the key). */
int secret_key_parse(const char *text, secret_key_t *out, char *errstr, size_t errstr_size);

/* Reads SECRET_KEY_ENV: 1 loaded, 0 not set (or empty), -1 malformed
 * (errstr says why). */
int secret_key_from_env(secret_key_t *out, char *errstr, size_t errstr_size);

/* Seals len bytes for integration `aad` with a fresh random nonce. Returns
 * the sealed string (caller frees with free()), or NULL with errstr. */
char *secret_seal(const secret_key_t *key, const char *aad, const char *plain, size_t len,
                  char *errstr, size_t errstr_size);

/* The kid a sealed string names, copied into kid_out; 0 or -1 if the
 * string is not a sealed string. */
int secret_sealed_kid(const char *sealed, char kid_out[SECRET_KID_HEX + 1]);

/* Opens a sealed string. On SECRET_OK *plain is the NUL-terminated clear
 * text (caller frees with secret_free) and *len its length. */
secret_rc_t secret_open(const secret_key_t *key, const char *aad, const char *sealed,
                        char **plain, size_t *len);

/* A short text for a result code ("sealed with another key", ...). */
const char *secret_strerror(secret_rc_t rc);

/* Wipes and frees a clear text from secret_open. NULL is a no-op. */
void secret_free(char *plain);

#endif
