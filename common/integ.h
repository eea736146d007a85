/* integ: the integration record kept in the compacted topic
 * `hookpipe.integrations` (key = integration name, value = this record as
 * JSON, tombstone = deleted), Stitch's naming rules, and webhook tokens.
 * Shared by hookpipectl (writes records) and the gateway (follows them).
 *
 * Record JSON (the contract; other tools may read it):
 *   {"name":"stripe_events","display_name":"Stripe Events",
 *    "client_id":"48213977","topic":"webhooks.stripe_events",
 *    "rejected_topic":"webhooks.stripe_events.rejected",
 *    "primary_key":["id"],            (empty array: no primary key)
 *    "tokens":[{"id":"3f9c2a17b0de","sha256":"<64 hex>","created_at":"..."}],
 *    "status":"active"|"paused", "max_body":4194304,
 *    "created_at":"2026-11-26T20:14:37.123456Z","updated_at":"...",
 *    optional (absent = off; records without them stay valid):
 *    "signature":{"scheme":"standard"|"github"|"stripe"|"shopify"|"hmac",
 *                 "secret":"A256GCM.<kid>.<nonce>.<ciphertext>" (secret.h),
 *                 "tolerance":300,            (Standard/Stripe, seconds)
 *                 "header":"X-Signature","encoding":"hex"|"base64",
 *                 "prefix":"sha256="},        (hmac only; prefix optional)
 *    "delivery_id":{"header":"X-Event-Id"} or {"field":"id"},
 *    "rate_limit":{"per_second":10,"burst":20}}
 * Raw tokens are never stored: only their SHA-256. Signing secrets are
 * stored sealed with AES-256-GCM (secret.h), never in clear text. */
#ifndef HOOKPIPE_INTEG_H
#define HOOKPIPE_INTEG_H

#include <stddef.h>

#include "whsig.h"

#define INTEG_TOPIC          "hookpipe.integrations"
#define INTEG_MAX_TOKENS     2     /* active tokens per integration (Stitch) */
#define INTEG_PK_FIELD_MAX   50    /* characters in a primary-key field name */
#define INTEG_NAME_MAX       59    /* characters in an integration name */
#define INTEG_TOKEN_HEX      64    /* a token is 32 random bytes as lowercase hex */
#define INTEG_TOKEN_ID_HEX   12
#define INTEG_HEADER_MAX     128   /* characters in a configured header name */
#define INTEG_FIELD_MAX      INTEG_PK_FIELD_MAX

/* Topic sizing. The body limit of an integration with max_body 0 is the
 * gateway's max.body, whose default is 4 MiB (Stitch's limit); hookpipectl
 * cannot see a gateway's configuration, so it sizes such an integration's
 * topics for this default (give --max-body when gateways run with more).
 *
 * A record is at most the body limit L. Its Kafka message also carries the
 * key — the primary-key value(s), which are themselves part of the record,
 * so up to L more in the worst case (a UUID otherwise) — the hookpipe-*
 * headers (a delivery id of at most 256 bytes and a reject reason of at
 * most 160 are the largest; well under 1 KiB together) and the record-batch
 * framing (61 bytes of batch header and a few varints per record). So the
 * event and dead-letter topics get max.message.bytes = 2 L + 64 KiB: any
 * record within the body limit fits, whatever its key. Capped at INT32_MAX,
 * Kafka's largest value. For the 4 MiB default: 8,454,144. */
#define INTEG_DEFAULT_MAX_BODY  (4LL << 20)
#define INTEG_TOPIC_HEADROOM    (64LL << 10)

/* max.message.bytes for the topics of an integration whose max_body is
 * max_body (0 = INTEG_DEFAULT_MAX_BODY), as above. */
long long integ_topic_max_message_bytes(long long max_body);

typedef struct integ_token {
    char id[INTEG_TOKEN_ID_HEX + 1];   /* public handle, for `token revoke` */
    unsigned char sha256[32];          /* SHA-256 of the token's hex text */
    char created_at[32];
} integ_token_t;

typedef struct integ {
    char *name;             /* [a-z0-9_], the Kafka key */
    char *display_name;
    char *client_id;
    char *topic;            /* event topic */
    char *rejected_topic;   /* dead-letter topic */
    char **primary_key;     /* field names, npk of them (0 = none) */
    size_t npk;
    integ_token_t tokens[INTEG_MAX_TOKENS];
    size_t ntokens;
    int paused;
    long long max_body;     /* bytes; 0 = the gateway's default */
    /* signature verification (WHSIG_NONE: none; then the sig_* are unset) */
    whsig_scheme_t sig_scheme;
    char *sig_secret;       /* sealed (secret.h); never the clear text */
    long long sig_tolerance; /* seconds; 0 = whsig's default (300) */
    char *sig_header;       /* WHSIG_HMAC: header holding the signature */
    whsig_encoding_t sig_encoding;
    char *sig_prefix;       /* WHSIG_HMAC: text before the signature, or NULL */
    /* delivery id source besides the providers' standard headers (at most
     * one of the two; NULL = none) */
    char *delivery_header;  /* request header */
    char *delivery_field;   /* top-level member of each record */
    /* token bucket per gateway; rate_per_s 0 = no limit */
    double rate_per_s;
    long long rate_burst;   /* bucket size; 0 = max(1, rate_per_s) */
    char created_at[32], updated_at[32];
} integ_t;

/* Stitch's rule: lower-case, spaces and hyphens become '_', any other
 * character outside [a-z0-9_] is dropped (punctuation, and every byte of a
 * non-ASCII character). White space around the whole name is ignored. The
 * result must be 1..INTEG_NAME_MAX characters and start with a letter or '_'.
 * Returns 0 and writes `out` (INTEG_NAME_MAX + 1 bytes suffice), or -1 with
 * the reason in errstr. */
int integ_name_from_display(const char *display, char *out, size_t out_size,
                            char *errstr, size_t errstr_size);

/* The client id rule: it goes into the webhook URL's path, so 1..64
 * unreserved URL characters (A-Z a-z 0-9 - . _ ~). 1 if s is one, else 0. */
#define INTEG_CLIENT_ID_MAX  64
int integ_client_id_ok(const char *s);

/* A new client id as Stitch makes them: a uniformly random 8-digit decimal
 * without a leading zero, from the OS CSPRNG. 0, or -1 if no randomness
 * could be had. */
int integ_client_id_new(char out[9]);

/* A primary-key field name: 1..INTEG_PK_FIELD_MAX characters, top level
 * only (no '.'), valid UTF-8, no control characters. 0 or -1 with errstr. */
int integ_pk_field_check(const char *field, char *errstr, size_t errstr_size);

/* A configured header name: 1..INTEG_HEADER_MAX of HTTP token characters.
 * 0 or -1 with errstr. */
int integ_header_check(const char *name, char *errstr, size_t errstr_size);

/* Parses a record; NULL with errstr on malformed input. Caller owns the
 * result (integ_destroy). */
integ_t *integ_from_json(const char *buf, size_t len, char *errstr, size_t errstr_size);

/* Serialises a record; malloc'd NUL-terminated JSON the caller frees, or NULL
 * on out of memory (or if a string in it is not valid UTF-8). */
char *integ_to_json(const integ_t *in);

/* Deep copy; NULL on out of memory. */
integ_t *integ_dup(const integ_t *in);

/* integ_destroy(NULL) is a no-op. */
void integ_destroy(integ_t *in);

/* Makes a new token: 32 bytes from the OS CSPRNG as 64 hex characters into
 * hex_out (NUL-terminated), and its stored form (id, sha256, created_at) into
 * tok. 0, or -1 if no randomness could be had. */
int integ_token_new(char hex_out[INTEG_TOKEN_HEX + 1], integ_token_t *tok);

/* SHA-256 of a token as presented in a URL. */
void integ_token_hash(const char *token, size_t len, unsigned char out[32]);

/* Removes the active token with this id (a revoked token stops matching at
 * once). 0, or -1 if there is none. */
int integ_token_revoke(integ_t *in, const char *id);

/* 1 if `sha256` equals the hash of one of the active tokens, else 0.
 * Compares in constant time and always visits every token. */
int integ_token_match(const integ_t *in, const unsigned char sha256[32]);

/* Current UTC time as RFC 3339 with microseconds: "2026-11-26T20:14:37.123456Z". */
void integ_now_rfc3339(char out[32]);

#endif
