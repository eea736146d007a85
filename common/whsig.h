/* whsig: verification of the signatures webhook providers put on their
 * deliveries (Standard Webhooks, GitHub, Stripe, Shopify, generic HMAC), and
 * extraction of their delivery ids. Pure functions: no I/O, no allocation
 * beyond the stack, safe from any thread.
 *
 * Every scheme is HMAC-SHA256; signatures are decoded to raw bytes and
 * compared in constant time (CRYPTO_memcmp). A failed check says why in
 * `reason` — for the logs and metrics only; answer clients generically. */
#ifndef HOOKPIPE_WHSIG_H
#define HOOKPIPE_WHSIG_H

#include <stddef.h>
#include <time.h>

typedef enum {
    WHSIG_NONE = 0,     /* no verification */
    WHSIG_STANDARD,     /* Standard Webhooks: webhook-id/-timestamp/-signature */
    WHSIG_GITHUB,       /* X-Hub-Signature-256: sha256=<hex> over the body */
    WHSIG_STRIPE,       /* Stripe-Signature: t=..,v1=.. over "t.body" */
    WHSIG_SHOPIFY,      /* X-Shopify-Hmac-Sha256: base64 over the body */
    WHSIG_HMAC,         /* generic: configured header, hex or base64, prefix */
} whsig_scheme_t;

typedef enum { WHSIG_HEX, WHSIG_BASE64 } whsig_encoding_t;

typedef enum {
    WHSIG_OK = 0,
    WHSIG_EMISSING,     /* a required header is absent */
    WHSIG_EMALFORMED,   /* a header or the secret cannot be parsed */
    WHSIG_ETIMESTAMP,   /* timestamp outside the tolerance */
    WHSIG_EMISMATCH,    /* no signature matches */
} whsig_result_t;

typedef struct whsig_config {
    whsig_scheme_t scheme;
    const char *secret;           /* as the provider shows it (Standard:
                                     "whsec_<base64>"; others: the text) */
    long tolerance_s;             /* Standard/Stripe; 0 = 300 s */
    /* WHSIG_HMAC only */
    const char *header;           /* e.g. "X-Signature" */
    whsig_encoding_t encoding;
    const char *prefix;           /* e.g. "sha256=", or NULL */
} whsig_config_t;

/* Returns the value of request header `name` (case-insensitive), or NULL. */
typedef const char *(*whsig_header_fn)(void *opaque, const char *name);

/* Verifies a delivery. `now` is the current Unix time (a parameter so tests
 * are deterministic). */
whsig_result_t whsig_verify(const whsig_config_t *cfg, whsig_header_fn header,
                            void *opaque, const char *body, size_t body_len,
                            time_t now, char *reason, size_t reason_size);

/* The scheme's name ("standard", "github", "stripe", "shopify", "hmac",
 * "none") and its inverse (-1 for an unknown name). */
const char *whsig_scheme_name(whsig_scheme_t scheme);
int whsig_scheme_parse(const char *name);

/* Header name of the delivery id a scheme's provider sends ("webhook-id",
 * "X-GitHub-Delivery", "X-Shopify-Webhook-Id"), or NULL (Stripe puts its id
 * in the body; generic HMAC has none). */
const char *whsig_delivery_header(whsig_scheme_t scheme);


#endif
