/* gw_integrations: the gateway's live view of the integrations topic.
 *
 * A table of integrations keyed by name, filled by a follower thread
 * (ktable.h) that reads the compacted topic from the beginning with an
 * assign()ed consumer (no consumer group, nothing committed) and applies
 * creates, updates and
 * tombstones as they arrive (fetch.wait.max.ms=100, so a change is visible
 * well within a second). If the topic does not exist the follower creates
 * it (1 partition, cleanup.policy=compact) or, failing that, retries.
 *
 * Ready = the follower has reached the end of the topic once (partition
 * EOF) and the last Kafka reachability probe (watermark query, every 2 s)
 * succeeded.
 *
 * Lookup is by the SHA-256 of the token in the URL, compared in constant
 * time against every active token of every integration (integ_token_match);
 * the caller then checks the client id. Entries are reference counted: a
 * request keeps the snapshot it authenticated with even if the integration
 * changes or is deleted meanwhile.
 *
 * Signing secrets: when a record arrives, its sealed secret is opened with
 * the key given to gw_integs_set_key (HOOKPIPE_SECRET_KEY) and kept in
 * clear text in memory only, in the entry. When it cannot be opened (no
 * key, another key, tampered) the entry says so in sig_state and the
 * reason is logged once, at warning level, naming the integration and the
 * key ids; the requests of that integration are then answered 503 (see
 * gw_http.h) until a gateway with the right key serves them.
 *
 * Rate limit: each entry has a token bucket (gw_rate.h); an update of the
 * record carries the bucket's state over to the new entry.
 *
 * Thread use: lookups from any thread (read lock); one follower thread. */
#ifndef HOOKPIPE_GW_INTEGRATIONS_H
#define HOOKPIPE_GW_INTEGRATIONS_H

#include <stdatomic.h>
#include <stddef.h>

#include <pthread.h>

#include "cfg.h"
#include "gw_rate.h"
#include "integ.h"
#include "secret.h"

typedef enum {
    GW_SIG_OFF = 0,         /* no signature configured */
    GW_SIG_READY,           /* secret opened: verify */
    GW_SIG_NO_KEY,          /* sealed, but this gateway has no key */
    GW_SIG_WRONG_KEY,       /* sealed under another key */
    GW_SIG_BROKEN           /* malformed or does not decrypt */
} gw_sig_state_t;

typedef struct gw_integ {
    integ_t *in;            /* immutable once published */
    atomic_int refs;        /* use gw_integ_release() */
    gw_sig_state_t sig_state;
    char *secret;           /* the clear signing secret when GW_SIG_READY,
                               owned, wiped when the entry is freed */
    pthread_mutex_t rate_lock;  /* guards rate */
    gw_rate_t rate;
} gw_integ_t;

typedef struct gw_integs gw_integs_t;

/* A table following `topic` with the kafka.* settings of cfg (cfg borrowed
 * for the table's life; may be NULL for a table fed only by
 * gw_integs_apply, as in unit tests). NULL with errstr on failure. */
gw_integs_t *gw_integs_new(const cfg_t *cfg, const char *topic, char *errstr,
                           size_t errstr_size);

/* Gives the table the key that opens signing secrets (copied). Call before
 * gw_integs_start / the first gw_integs_apply; without it, integrations
 * with a signature are GW_SIG_NO_KEY. */
void gw_integs_set_key(gw_integs_t *t, const secret_key_t *key);

/* Takes a rate-limit token for the entry's integration at monotonic time
 * now_ns. 1 = allowed (or no limit); 0 = refused with *retry_after_s. */
int gw_integ_rate_take(gw_integ_t *e, int64_t now_ns, int *retry_after_s);

/* Starts the follower thread. 0 or -1 with errstr. */
int gw_integs_start(gw_integs_t *t, char *errstr, size_t errstr_size);

/* Stops the follower (if started) and frees the table; entries still
 * referenced by requests live on until released. NULL is a no-op. */
void gw_integs_destroy(gw_integs_t *t);

/* Applies one record of the topic: value NULL = tombstone (delete `name`),
 * otherwise the integration JSON (integ.h), replacing any entry of that
 * name. A record that does not parse is logged and leaves the table as it
 * was. Returns 0 if applied, -1 if refused. */
int gw_integs_apply(gw_integs_t *t, const char *name, size_t name_len, const char *value,
                    size_t value_len);

/* The integration holding this token, with a reference the caller releases,
 * or NULL. */
gw_integ_t *gw_integs_lookup(gw_integs_t *t, const char *token, size_t token_len);

/* Releases a reference from gw_integs_lookup. NULL is a no-op. */
void gw_integ_release(gw_integ_t *e);

/* 1 once caught up with the topic and Kafka answered the last probe. */
int gw_integs_ready(gw_integs_t *t);
/* 1 once caught up with the topic (regardless of reachability since). */
int gw_integs_caught_up(gw_integs_t *t);

/* Number of integrations known. */
size_t gw_integs_count(gw_integs_t *t);

#endif
