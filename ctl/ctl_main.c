/* hookpipectl: the admin CLI — creates and manages integrations by writing
 * their records to the compacted topic hookpipe.integrations, which every
 * gateway follows. It talks to Kafka only.
 *
 * Exit status: 0 done, 1 the operation failed or was refused (including a
 * refused name, primary key or client id), 2 usage error (unknown command or
 * option, wrong number of arguments, an option value of the wrong type, no
 * bootstrap servers). Errors are one line on stderr starting "hookpipectl: ".
 * Standard output carries only the result (a webhook URL, a listing, a
 * record).
 *
 * Decisions:
 * - New topics get replication factor -1 (the broker's
 *   default.replication.factor) unless --replication-factor says otherwise;
 *   librdkafka 2.0.2 sends it with CreateTopics v4, which Kafka 4.1 accepts.
 * - The default client id is 8 random decimal digits (no leading zero), from
 *   the OpenSSL CSPRNG; it is not a secret, the token is.
 * - The event and dead-letter topics get max.message.bytes = 2 x body limit
 *   + 64 KiB (integ_topic_max_message_bytes, integ.h: record, a key as large,
 *   headers, framing), for the gateway's 4 MiB default when --max-body is 0.
 *   A topic that existed with less is raised (AlterConfigs keeping its other
 *   settings; never lowered), or create fails naming the kafka-configs
 *   command; max_body is never changed after create, so nothing else has
 *   to keep the topics in step.
 * - delete writes a tombstone only: the event and dead-letter topics and the
 *   data already loaded are kept, as Stitch never deletes data either.
 * - Changes to one integration are serialised across hookpipectl runs by a
 *   Kafka transaction (see ctl_store.h); the loser retries from a fresh read. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base64.h"
#include "cfg.h"
#include "ctl_store.h"
#include "event.h"
#include "integ.h"
#include "kafka.h"
#include "log.h"
#include "secret.h"
#include "whsig.h"

#define CTL_PROG         "hookpipectl"
#define CTL_OK           0
#define CTL_FAILED       1
#define CTL_USAGE        2
#define CTL_RETRY        3       /* internal: another hookpipectl won the lock; again */
#define CTL_ATTEMPTS     5       /* lock-read-write cycles before giving up */
#define CTL_PK_MAX       16      /* fields in a composite primary key */
#define CTL_DEFAULT_URL  "http://127.0.0.1:8080"

static const cfg_opt_t ctl_options[] = {
    {"primary-key", CFG_STR, NULL, 0, -1, 0,
     "primary-key field(s), comma-separated; top level, 1..50 characters each"},
    {"partitions", CFG_INT, "3", 1, 100000, 0, "partitions of the new event and dead-letter topics"},
    {"replication-factor", CFG_INT, "-1", -1, 32767, 0,
     "replicas of the new topics; -1 = the broker's default.replication.factor"},
    {"max-body", CFG_INT, "0", 0, 1LL << 30, 0,
     "body limit in bytes for this integration (k/m suffixes); 0 = the gateway's default"},
    {"client-id", CFG_STR, NULL, 0, -1, 0,
     "client id in the webhook URL ([A-Za-z0-9._~-], 1..64); default 8 random digits"},
    {"base-url", CFG_STR, NULL, 0, -1, 0,
     "start of the webhook URL; default $HOOKPIPE_GATEWAY_URL, else " CTL_DEFAULT_URL},
    {"topic-prefix", CFG_STR, EVENT_TOPIC_PREFIX_DEFAULT, 0, -1, 0, "event topic = prefix + name"},
    {"signature", CFG_STR, NULL, 0, -1, 0,
     "verify the provider's signature: standard (Standard Webhooks, e.g. Svix), github,\n"
     "      stripe, shopify, or hmac (generic HMAC-SHA256; see --signature-header)"},
    {"secret-file", CFG_STR, NULL, 0, -1, 0,
     "read the signing secret from this file ('-' = standard input; one trailing\n"
     "      newline is dropped). Stored sealed with $" SECRET_KEY_ENV "."},
    {"secret-env", CFG_STR, NULL, 0, -1, 0,
     "read the signing secret from this environment variable (never give a secret\n"
     "      on the command line: other users see it in ps)"},
    {"signature-header", CFG_STR, NULL, 0, -1, 0, "hmac: the header holding the signature"},
    {"signature-encoding", CFG_STR, "hex", 0, -1, 0, "hmac: hex or base64"},
    {"signature-prefix", CFG_STR, NULL, 0, -1, 0,
     "hmac: text before the signature in the header, e.g. sha256="},
    {"signature-tolerance", CFG_INT, "300", 1, 86400 * 7, 0,
     "standard, stripe: seconds a signed timestamp may be away from now"},
    {"delivery-id-header", CFG_STR, NULL, 0, -1, 0,
     "header carrying the provider's delivery id (default: webhook-id,\n"
     "      X-GitHub-Delivery or X-Shopify-Webhook-Id, whichever is present); 'none' clears"},
    {"delivery-id-field", CFG_STR, NULL, 0, -1, 0,
     "top-level member of each record holding its delivery id (default for stripe:\n"
     "      id); 'none' clears"},
    {"rate-limit", CFG_STR, NULL, 0, -1, 0,
     "requests per second each gateway accepts for the integration, as N or N/s\n"
     "      (N/m: per minute); over it: 429 with Retry-After. 'off' clears"},
    {"burst", CFG_INT, "0", 0, 1000000000, 0,
     "requests accepted at once above the rate (bucket size); 0 = max(1, rate)"},
    {"json", CFG_BOOL, "false", 0, -1, 0, "print a JSON array of the records"},
    {"timeout", CFG_INT, "30000", 100, 3600000, 0, "milliseconds to wait for Kafka per step"},
    {"verbose", CFG_BOOL, "false", 0, -1, 0, "also print librdkafka's log to stderr"},
};
#define CTL_NOPTIONS (sizeof(ctl_options) / sizeof(ctl_options[0]))

/* Options every command takes (besides -b and -X). */
static const char *const ctl_common_opts[] = {"config", "timeout", "verbose", NULL};

typedef struct ctl_ctx ctl_ctx_t;
typedef int (*ctl_fn_t)(ctl_ctx_t *ctx);

typedef struct {
    const char *group;          /* first word */
    const char *verb;           /* second word, NULL for one-word commands */
    const char *args;           /* positional arguments, for usage */
    size_t nargs;
    const char *const *opts;    /* options it takes besides the common ones */
    ctl_fn_t fn;
    const char *doc;
} ctl_cmd_t;

struct ctl_ctx {
    cfg_t *cfg;
    const ctl_cmd_t *cmd;
    char *const *args;          /* the command's positional arguments */
    ctl_store_t *st;
    char token[INTEG_TOKEN_HEX + 1];    /* a new token, printed once Kafka has its hash */
    char client_id[80];                 /* of the integration changed */
    char err[1024];
};

static void ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_fail(const char *fmt, ...) {
    va_list ap;
    fputs(CTL_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int ctl_connect(ctl_ctx_t *ctx) {
    ctx->st = ctl_store_new(ctx->cfg, (int)cfg_int(ctx->cfg, "timeout"),
                            cfg_bool(ctx->cfg, "verbose"), ctx->err, sizeof(ctx->err));
    if (!ctx->st) {
        ctl_fail("%s", ctx->err);
        return -1;
    }
    return 0;
}

/* Reads the current integrations. The listing warns, in one line, about
 * records it cannot read (it is incomplete then); other commands only care
 * about their own integration. */
static ctl_state_t *ctl_read(ctl_ctx_t *ctx, int warn) {
    ctl_state_t *state = NULL;
    if (ctl_store_read(ctx->st, &state, ctx->err, sizeof(ctx->err)) < 0) {
        ctl_fail("%s", ctx->err);
        return NULL;
    }
    if (warn && state->unreadable)
        ctl_fail("warning: %zu unreadable record(s) in %s ignored; first: %s",
                 state->unreadable, INTEG_TOPIC, state->first_error);
    return state;
}

/* The key NAME stands for: a display name converts to it ("Stripe Events"
 * -> stripe_events) and a key converts to itself. */
static void ctl_key(const char *name, char out[INTEG_NAME_MAX + 1]) {
    char why[256];
    if (integ_name_from_display(name, out, INTEG_NAME_MAX + 1, why, sizeof(why)) < 0)
        snprintf(out, INTEG_NAME_MAX + 1, "%s", name);
}

/* The integration NAME stands for, borrowed from the state; NULL (and an
 * error printed) if there is none. */
static integ_t *ctl_find(const ctl_state_t *state, const char *name) {
    char key[INTEG_NAME_MAX + 1];
    ctl_key(name, key);
    integ_t *in = ctl_state_find(state, key);
    if (!in)
        ctl_fail("no integration named '%s' (see: " CTL_PROG " integration list)", name);
    return in;
}

/* A step of a write: decides from the current state and writes. Returns
 * CTL_OK, CTL_FAILED (error printed), or CTL_RETRY (ctx->err says why). */
typedef int (*ctl_step_t)(ctl_ctx_t *ctx, const ctl_state_t *state, void *arg);

/* Maps a store write result to a step result. */
static int ctl_wrote(ctl_ctx_t *ctx, int r) {
    if (r == CTL_STORE_CONFLICT)
        return CTL_RETRY;
    if (r < 0) {
        ctl_fail("%s", ctx->err);
        return CTL_FAILED;
    }
    return CTL_OK;
}

/* Lock integration `key`, read the state, run `step`; again (a few times,
 * after a short random pause) when another hookpipectl changed the same
 * integration meanwhile — the write that lost changed nothing. */
static int ctl_cycle(ctl_ctx_t *ctx, const char *key, ctl_step_t step, void *arg) {
    int rc = CTL_RETRY;
    for (int attempt = 0; attempt < CTL_ATTEMPTS && rc == CTL_RETRY; attempt++) {
        if (attempt > 0) {
            unsigned char r = 0;
            RAND_bytes(&r, 1);
            long ms = (50L << (attempt - 1)) + r % 50;
            nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
        }
        int lr = ctl_store_lock(ctx->st, key, ctx->err, sizeof(ctx->err));
        if (lr == CTL_STORE_CONFLICT)
            continue;
        if (lr < 0) {
            ctl_fail("%s", ctx->err);
            return CTL_FAILED;
        }
        ctl_state_t *state = ctl_read(ctx, 0);
        if (!state)
            return CTL_FAILED;
        rc = step(ctx, state, arg);
        ctl_state_destroy(state);
    }
    if (rc == CTL_RETRY) {
        ctl_fail("%s", ctx->err);
        rc = CTL_FAILED;
    }
    return rc;
}

/* The gateway URL the webhook URLs start with, without a trailing '/'. */
static int ctl_base_url(const cfg_t *cfg, char *out, size_t size) {
    const char *u = cfg_str(cfg, "base-url");
    if (!u || !*u)
        u = getenv("HOOKPIPE_GATEWAY_URL");
    if (!u || !*u)
        u = CTL_DEFAULT_URL;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        ctl_fail("base URL '%s' does not start with http:// or https://", u);
        return -1;
    }
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        n--;
    if (n >= size) {
        ctl_fail("base URL is too long");
        return -1;
    }
    memcpy(out, u, n);
    out[n] = '\0';
    return 0;
}

static void ctl_print_url(const char *base, const char *client_id, const char *token) {
    printf("%s/v1/clients/%s/token/%s\n", base, client_id, token);
    fflush(stdout);
}

/* Splits "f1,f2" into in->primary_key, checking each field. 0 or -1. */
static int ctl_parse_pk(integ_t *in, const char *list) {
    char why[256];
    char *copy = strdup(list);
    int rc = -1;
    if (!copy || !(in->primary_key = calloc(CTL_PK_MAX, sizeof(char *)))) {
        ctl_fail("out of memory");
        goto out;
    }
    /* strtok would skip empty fields; an empty field is a mistake to report */
    char *f = copy;
    for (;;) {
        char *comma = strchr(f, ',');
        if (comma)
            *comma = '\0';
        if (integ_pk_field_check(f, why, sizeof(why)) < 0) {
            ctl_fail("%s", why);
            goto out;
        }
        for (size_t i = 0; i < in->npk; i++) {
            if (strcmp(in->primary_key[i], f) == 0) {
                ctl_fail("primary-key field \"%s\" given twice", f);
                goto out;
            }
        }
        if (in->npk == CTL_PK_MAX) {
            ctl_fail("more than %d primary-key fields", CTL_PK_MAX);
            goto out;
        }
        if (!(in->primary_key[in->npk] = strdup(f))) {
            ctl_fail("out of memory");
            goto out;
        }
        in->npk++;
        if (!comma)
            break;
        f = comma + 1;
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

/* Reads the signing secret from --secret-file or --secret-env into a
 * malloc'd string (the caller wipes and frees it with secret_free); NULL
 * with the error printed. */
static char *ctl_read_secret(const cfg_t *cfg) {
    const char *file = cfg_str(cfg, "secret-file"), *env = cfg_str(cfg, "secret-env");
    char *buf = NULL;
    size_t n = 0;
    if ((file != NULL) == (env != NULL)) {
        ctl_fail("give the signing secret with exactly one of --secret-file PATH or "
                 "--secret-env VAR");
        return NULL;
    }
    if (env) {
        const char *v = getenv(env);
        if (!v || !*v) {
            ctl_fail("environment variable %s is not set or empty", env);
            return NULL;
        }
        n = strlen(v);
        if (n > SECRET_MAX) {
            ctl_fail("the secret in %s is longer than %d bytes", env, SECRET_MAX);
            return NULL;
        }
        if (!(buf = strdup(v))) {
            ctl_fail("out of memory");
            return NULL;
        }
    } else {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
        if (!f) {
            ctl_fail("cannot read %s: %s", file, strerror(errno));
            return NULL;
        }
        if (!(buf = calloc(1, SECRET_MAX + 2))) {
            ctl_fail("out of memory");
        } else {
            n = fread(buf, 1, SECRET_MAX + 1, f);
            if (ferror(f) || n > SECRET_MAX) {
                ctl_fail("cannot read %s: %s", file, n > SECRET_MAX ? "longer than 4096 bytes"
                                                                   : strerror(errno));
                secret_free(buf);
                buf = NULL;
            }
        }
        if (f != stdin)
            fclose(f);
        if (!buf)
            return NULL;
        if (n > 0 && buf[n - 1] == '\n')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r')
            buf[--n] = '\0';
    }
    if (n == 0 || strlen(buf) != n) {
        ctl_fail("the signing secret is empty or contains a NUL byte");
        secret_free(buf);
        return NULL;
    }
    return buf;
}

/* Replaces a string field: value NULL keeps it, "none" clears it. */
static int ctl_set_str(char **field, const char *value) {
    if (!value)
        return 0;
    free(*field);
    *field = NULL;
    if (strcmp(value, "none") == 0)
        return 0;
    return (*field = strdup(value)) ? 0 : -1;
}

/* Applies --delivery-id-*, --rate-limit and --burst to a record. 0 or -1
 * (error printed). */
static int ctl_apply_delivery_rate(const cfg_t *cfg, integ_t *in) {
    char why[256];
    const char *dh = cfg_str(cfg, "delivery-id-header"), *df = cfg_str(cfg, "delivery-id-field");
    if (dh && df && strcmp(dh, "none") != 0 && strcmp(df, "none") != 0) {
        ctl_fail("give --delivery-id-header or --delivery-id-field, not both");
        return -1;
    }
    if (dh && strcmp(dh, "none") != 0 && integ_header_check(dh, why, sizeof(why)) < 0) {
        ctl_fail("--delivery-id-header: %s", why);
        return -1;
    }
    if (df && strcmp(df, "none") != 0 && integ_pk_field_check(df, why, sizeof(why)) < 0) {
        ctl_fail("--delivery-id-field: %s", why);
        return -1;
    }
    if (ctl_set_str(&in->delivery_header, dh) < 0 || ctl_set_str(&in->delivery_field, df) < 0) {
        ctl_fail("out of memory");
        return -1;
    }
    /* one source at a time: setting one clears the other */
    if (dh && strcmp(dh, "none") != 0) {
        free(in->delivery_field);
        in->delivery_field = NULL;
    }
    if (df && strcmp(df, "none") != 0) {
        free(in->delivery_header);
        in->delivery_header = NULL;
    }
    const char *rl = cfg_str(cfg, "rate-limit");
    if (rl) {
        char *end;
        double r = 0;
        if (strcmp(rl, "off") != 0) {
            r = strtod(rl, &end);
            if (end != rl && (!strcmp(end, "/m") || !strcmp(end, "/min")))
                r /= 60;
            else if (end == rl || (*end && strcmp(end, "/s") != 0))
                r = -1;
            if (!(r > 0) || r > 1e9) {
                ctl_fail("--rate-limit '%s': give N or N/s (or N/m), N > 0, or off", rl);
                return -1;
            }
        }
        in->rate_per_s = r;
        in->rate_burst = r > 0 ? cfg_int(cfg, "burst") : 0;
    } else if (cfg_int(cfg, "burst") != 0) {
        ctl_fail("--burst goes with --rate-limit");
        return -1;
    }
    return 0;
}

/* Sets the signature from --signature and its options, sealing the
 * secret with $HOOKPIPE_SECRET_KEY. 0 (nothing given: unchanged) or -1. */
static int ctl_apply_signature(const cfg_t *cfg, integ_t *in) {
    char why[256];
    secret_key_t key;
    const char *scheme = cfg_str(cfg, "signature");
    if (!scheme) {
        if (cfg_str(cfg, "secret-file") || cfg_str(cfg, "secret-env") ||
            cfg_str(cfg, "signature-header") || cfg_str(cfg, "signature-prefix")) {
            ctl_fail("a signing secret or signature option without --signature SCHEME");
            return -1;
        }
        return 0;
    }
    int sc = whsig_scheme_parse(scheme);
    if (sc <= 0) {
        ctl_fail("--signature '%s': one of standard, github, stripe, shopify, hmac", scheme);
        return -1;
    }
    const char *hdr = cfg_str(cfg, "signature-header"), *enc = cfg_str(cfg, "signature-encoding");
    const char *prefix = cfg_str(cfg, "signature-prefix");
    if (sc == WHSIG_HMAC) {
        if (!hdr || integ_header_check(hdr, why, sizeof(why)) < 0) {
            ctl_fail("--signature hmac needs --signature-header NAME%s%s", hdr ? ": " : "",
                     hdr ? why : "");
            return -1;
        }
        if (strcmp(enc, "hex") != 0 && strcmp(enc, "base64") != 0) {
            ctl_fail("--signature-encoding '%s': hex or base64", enc);
            return -1;
        }
    } else if (hdr || prefix) {
        ctl_fail("--signature-header and --signature-prefix apply to --signature hmac only");
        return -1;
    }
    int kr = secret_key_from_env(&key, why, sizeof(why));
    if (kr <= 0) {
        ctl_fail("%s", kr < 0 ? why
                              : SECRET_KEY_ENV " is not set: signing secrets are stored sealed "
                                "with it (64 hex characters, e.g. from 'openssl rand -hex 32'); "
                                "give every gateway the same key");
        return -1;
    }
    char *plain = ctl_read_secret(cfg), *sealed = NULL;
    int rc = -1;
    if (!plain)
        goto out;
    if (sc == WHSIG_STANDARD) {
        unsigned char raw[512];
        const char *b = strncmp(plain, "whsec_", 6) == 0 ? plain + 6 : plain;
        int n = base64_decode(b, strlen(b), raw, sizeof(raw));
        OPENSSL_cleanse(raw, sizeof(raw));
        if (n <= 0) {
            ctl_fail("a Standard Webhooks secret is whsec_ followed by base64");
            goto out;
        }
    }
    if (!(sealed = secret_seal(&key, in->name, plain, strlen(plain), why, sizeof(why)))) {
        ctl_fail("cannot seal the secret: %s", why);
        goto out;
    }
    free(in->sig_secret);
    free(in->sig_header);
    free(in->sig_prefix);
    in->sig_header = in->sig_prefix = NULL;
    in->sig_secret = sealed;
    in->sig_scheme = (whsig_scheme_t)sc;
    in->sig_tolerance = cfg_int(cfg, "signature-tolerance");
    if (in->sig_tolerance == 300)
        in->sig_tolerance = 0;
    in->sig_encoding = WHSIG_HEX;
    if (sc == WHSIG_HMAC) {
        in->sig_encoding = strcmp(enc, "base64") == 0 ? WHSIG_BASE64 : WHSIG_HEX;
        if (!(in->sig_header = strdup(hdr)) || (prefix && !(in->sig_prefix = strdup(prefix)))) {
            ctl_fail("out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    secret_free(plain);
    OPENSSL_cleanse(&key, sizeof(key));
    return rc;
}

/* Checks that the record reads back as the gateways will read it, so that a
 * value they would refuse never reaches the topic. */
static int ctl_validate(const integ_t *in) {
    char why[256];
    char *json = integ_to_json(in);
    if (!json) {
        ctl_fail("cannot serialise the record (is the display name valid UTF-8?)");
        return -1;
    }
    integ_t *back = integ_from_json(json, strlen(json), why, sizeof(why));
    free(json);
    if (!back) {
        ctl_fail("invalid record: %s", why);
        return -1;
    }
    integ_destroy(back);
    return 0;
}

static int ctl_topic(ctl_ctx_t *ctx, const char *topic, int partitions, int rf,
                     const char *const *configs) {
    int actual = 0;
    if (ctl_store_topic_ensure(ctx->st, topic, partitions, rf, configs, &actual, ctx->err,
                               sizeof(ctx->err)) < 0) {
        ctl_fail("cannot create topic %s", ctx->err);
        return -1;
    }
    if (actual != partitions)
        ctl_fail("warning: topic %s already existed with %d partitions (not %d); kept as is",
                 topic, actual, partitions);
    return 0;
}

/* An event or dead-letter topic: created with max.message.bytes for the
 * integration's body limit (integ_topic_max_message_bytes); one that
 * existed before with less is raised to it, or the command fails saying
 * how to do it by hand (nothing is written then). */
static int ctl_event_topic(ctl_ctx_t *ctx, const char *topic, int partitions, int rf,
                           long long max_body) {
    char want[32];
    long long need = integ_topic_max_message_bytes(max_body), before = -1;
    snprintf(want, sizeof(want), "%lld", need);
    const char *const configs[] = {"max.message.bytes", want, NULL};
    if (ctl_topic(ctx, topic, partitions, rf, configs) < 0)
        return -1;
    long long now = ctl_store_topic_size(ctx->st, topic, need, &before, ctx->err,
                                         sizeof(ctx->err));
    if (now < 0) {
        ctl_fail("topic %s must take messages of %lld bytes (body limit %lld + key, headers "
                 "and framing), and it could not be checked or raised: %s; raise it with "
                 "kafka-configs --alter --entity-type topics --entity-name %s --add-config "
                 "max.message.bytes=%lld, then run this again",
                 topic, need, max_body > 0 ? max_body : INTEG_DEFAULT_MAX_BODY, ctx->err, topic,
                 need);
        return -1;
    }
    if (before >= 0 && before < need)
        ctl_fail("note: topic %s existed with max.message.bytes=%lld; raised to %lld for the "
                 "body limit", topic, before, now);
    return 0;
}

typedef struct {
    const integ_t *in;
    int partitions, rf;
} ctl_create_arg_t;

static int ctl_step_create(ctl_ctx_t *ctx, const ctl_state_t *state, void *arg) {
    const ctl_create_arg_t *a = arg;
    if (ctl_state_find(state, a->in->name)) {
        ctl_fail("integration '%s' already exists (names cannot be reused while it exists)",
                 a->in->name);
        return CTL_FAILED;
    }
    /* topics first: a record must never name a topic that is not there */
    if (ctl_event_topic(ctx, a->in->topic, a->partitions, a->rf, a->in->max_body) < 0 ||
        ctl_event_topic(ctx, a->in->rejected_topic, a->partitions, a->rf, a->in->max_body) < 0)
        return CTL_FAILED;
    return ctl_wrote(ctx, ctl_store_put(ctx->st, a->in, ctx->err, sizeof(ctx->err)));
}

static int ctl_cmd_create(ctl_ctx_t *ctx) {
    static const char *const integ_topic_cfg[] = {"cleanup.policy", "compact", NULL};
    char name[INTEG_NAME_MAX + 1], why[256], base[2048], cid[9];
    char token[INTEG_TOKEN_HEX + 1] = "", topic[512], rejected[600];
    int rc = CTL_FAILED;
    const cfg_t *cfg = ctx->cfg;
    const char *display = ctx->args[0];
    integ_t *in = calloc(1, sizeof(*in));
    if (!in) {
        ctl_fail("out of memory");
        goto out;
    }
    if (integ_name_from_display(display, name, sizeof(name), why, sizeof(why)) < 0) {
        ctl_fail("invalid integration name: %s", why);
        goto out;
    }
    const char *pk = cfg_str(cfg, "primary-key");
    if (pk && ctl_parse_pk(in, pk) < 0)
        goto out;
    const char *client_id = cfg_str(cfg, "client-id");
    if (client_id && !integ_client_id_ok(client_id)) {
        ctl_fail("invalid client id '%s': 1..64 of A-Z a-z 0-9 - . _ ~", client_id);
        goto out;
    }
    if (!client_id) {
        if (integ_client_id_new(cid) < 0) {
            ctl_fail("no randomness available for a client id");
            goto out;
        }
        client_id = cid;
    }
    if (ctl_base_url(cfg, base, sizeof(base)) < 0)
        goto out;
    const char *prefix = cfg_str(cfg, "topic-prefix");
    snprintf(topic, sizeof(topic), "%s%s", prefix ? prefix : "", name);
    snprintf(rejected, sizeof(rejected), "%s" EVENT_REJECTED_SUFFIX, topic);
    int partitions = (int)cfg_int(cfg, "partitions");
    int rf = (int)cfg_int(cfg, "replication-factor");
    if (rf == 0) {
        ctl_fail("replication factor 0: use -1 (broker default) or 1 or more");
        goto out;
    }
    if (!(in->name = strdup(name)) || !(in->display_name = strdup(display)) ||
        !(in->client_id = strdup(client_id)) || !(in->topic = strdup(topic)) ||
        !(in->rejected_topic = strdup(rejected))) {
        ctl_fail("out of memory");
        goto out;
    }
    in->max_body = cfg_int(cfg, "max-body");
    if (ctl_apply_signature(cfg, in) < 0 || ctl_apply_delivery_rate(cfg, in) < 0)
        goto out;
    integ_now_rfc3339(in->created_at);
    memcpy(in->updated_at, in->created_at, sizeof(in->updated_at));
    if (ctl_validate(in) < 0)
        goto out;

    if (integ_token_new(token, &in->tokens[0]) < 0) {
        ctl_fail("no randomness available for a token");
        goto out;
    }
    in->ntokens = 1;
    memcpy(in->tokens[0].created_at, in->created_at, sizeof(in->created_at));
    ctl_create_arg_t arg = {in, partitions, rf};
    if (ctl_connect(ctx) < 0 || ctl_topic(ctx, INTEG_TOPIC, 1, rf, integ_topic_cfg) < 0 ||
        (rc = ctl_cycle(ctx, in->name, ctl_step_create, &arg)) != CTL_OK)
        goto out;
    ctl_print_url(base, in->client_id, token);
out:
    OPENSSL_cleanse(token, sizeof(token));
    integ_destroy(in);
    return rc;
}

static int ctl_cmd_list(ctl_ctx_t *ctx) {
    int rc = CTL_FAILED;
    json_t *arr = NULL;
    ctl_state_t *state = NULL;
    if (ctl_connect(ctx) < 0 || !(state = ctl_read(ctx, 1)))
        goto out;
    if (cfg_bool(ctx->cfg, "json")) {
        if (!(arr = json_array()))
            goto oom;
        for (size_t i = 0; i < state->n; i++) {
            char *s = integ_to_json(state->items[i]);
            json_t *rec = s ? json_loads(s, 0, NULL) : NULL;
            free(s);
            if (!rec || json_array_append_new(arr, rec) < 0)
                goto oom;
        }
        if (json_dumpf(arr, stdout, JSON_INDENT(2)) < 0)
            goto oom;
        fputc('\n', stdout);
    } else {
        for (size_t i = 0; i < state->n; i++) {
            const integ_t *in = state->items[i];
            printf("%s\t%s\t%s\t", in->name, in->paused ? "paused" : "active", in->topic);
            for (size_t k = 0; k < in->npk; k++)
                printf("%s%s", k ? "," : "", in->primary_key[k]);
            printf("%s\t%zu\n", in->npk ? "" : "-", in->ntokens);
        }
    }
    rc = fflush(stdout) == 0 ? CTL_OK : CTL_FAILED;
    goto out;
oom:
    ctl_fail("out of memory");
out:
    json_decref(arr);
    ctl_state_destroy(state);
    return rc;
}

static int ctl_cmd_show(ctl_ctx_t *ctx) {
    int rc = CTL_FAILED;
    ctl_state_t *state = NULL;
    char *s = NULL;
    json_t *rec = NULL;
    const integ_t *in;
    if (ctl_connect(ctx) < 0 || !(state = ctl_read(ctx, 0)) ||
        !(in = ctl_find(state, ctx->args[0])))
        goto out;
    if (!(s = integ_to_json(in)) || !(rec = json_loads(s, 0, NULL)) ||
        json_dumpf(rec, stdout, JSON_INDENT(2)) < 0) {
        ctl_fail("out of memory");
        goto out;
    }
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? CTL_OK : CTL_FAILED;
out:
    json_decref(rec);
    free(s);
    ctl_state_destroy(state);
    return rc;
}

typedef int (*ctl_change_t)(ctl_ctx_t *ctx, integ_t *in);

/* Applies a change to a copy of the integration's current record and
 * writes it back. A change returns 1 to write, 0 for nothing to do, -1 to
 * fail (error printed). */
static int ctl_step_update(ctl_ctx_t *ctx, const ctl_state_t *state, void *arg) {
    ctl_change_t change = *(ctl_change_t *)arg;
    const integ_t *cur = ctl_find(state, ctx->args[0]);
    if (!cur)
        return CTL_FAILED;
    integ_t *in = integ_dup(cur);
    if (!in) {
        ctl_fail("out of memory");
        return CTL_FAILED;
    }
    int rc = CTL_OK, what = change(ctx, in);
    if (what < 0) {
        rc = CTL_FAILED;
    } else if (what > 0) {
        integ_now_rfc3339(in->updated_at);
        rc = ctl_wrote(ctx, ctl_store_put(ctx->st, in, ctx->err, sizeof(ctx->err)));
    }
    integ_destroy(in);
    return rc;
}

static int ctl_update(ctl_ctx_t *ctx, ctl_change_t change) {
    char key[INTEG_NAME_MAX + 1];
    ctl_key(ctx->args[0], key);
    if (ctl_connect(ctx) < 0)
        return CTL_FAILED;
    return ctl_cycle(ctx, key, ctl_step_update, &change);
}

static int ctl_change_token_add(ctl_ctx_t *ctx, integ_t *in) {
    if (in->ntokens >= INTEG_MAX_TOKENS) {
        ctl_fail("integration '%s' already has %d active tokens; revoke one first "
                 "(" CTL_PROG " token revoke %s TOKEN_ID)", in->name, INTEG_MAX_TOKENS, in->name);
        return -1;
    }
    if (integ_token_new(ctx->token, &in->tokens[in->ntokens]) < 0) {
        ctl_fail("no randomness available for a token");
        return -1;
    }
    in->ntokens++;
    snprintf(ctx->client_id, sizeof(ctx->client_id), "%s", in->client_id);
    return 1;
}

static int ctl_cmd_token_add(ctl_ctx_t *ctx) {
    char base[2048];
    if (ctl_base_url(ctx->cfg, base, sizeof(base)) < 0)
        return CTL_FAILED;
    int rc = ctl_update(ctx, ctl_change_token_add);
    if (rc == CTL_OK)
        ctl_print_url(base, ctx->client_id, ctx->token);
    OPENSSL_cleanse(ctx->token, sizeof(ctx->token));
    return rc;
}

static int ctl_change_token_revoke(ctl_ctx_t *ctx, integ_t *in) {
    if (integ_token_revoke(in, ctx->args[1]) < 0) {
        ctl_fail("integration '%s' has no active token '%s' (see: " CTL_PROG
                 " integration show %s)", in->name, ctx->args[1], in->name);
        return -1;
    }
    return 1;
}

static int ctl_change_pause(ctl_ctx_t *ctx, integ_t *in) {
    (void)ctx;
    if (in->paused)
        return 0;
    in->paused = 1;
    return 1;
}

static int ctl_change_resume(ctl_ctx_t *ctx, integ_t *in) {
    (void)ctx;
    if (!in->paused)
        return 0;
    in->paused = 0;
    return 1;
}

static int ctl_change_signature_set(ctl_ctx_t *ctx, integ_t *in) {
    if (!cfg_str(ctx->cfg, "signature")) {
        ctl_fail("give --signature SCHEME (see --help)");
        return -1;
    }
    if (ctl_apply_signature(ctx->cfg, in) < 0 || ctl_apply_delivery_rate(ctx->cfg, in) < 0 ||
        ctl_validate(in) < 0)
        return -1;
    return 1;
}

static int ctl_change_signature_clear(ctl_ctx_t *ctx, integ_t *in) {
    (void)ctx;
    if (in->sig_scheme == WHSIG_NONE)
        return 0;
    free(in->sig_secret);
    free(in->sig_header);
    free(in->sig_prefix);
    in->sig_secret = in->sig_header = in->sig_prefix = NULL;
    in->sig_scheme = WHSIG_NONE;
    in->sig_tolerance = 0;
    return 1;
}

static int ctl_change_update(ctl_ctx_t *ctx, integ_t *in) {
    if (ctl_apply_delivery_rate(ctx->cfg, in) < 0 || ctl_validate(in) < 0)
        return -1;
    return 1;
}

static int ctl_cmd_signature_set(ctl_ctx_t *ctx) {
    return ctl_update(ctx, ctl_change_signature_set);
}
static int ctl_cmd_signature_clear(ctl_ctx_t *ctx) {
    return ctl_update(ctx, ctl_change_signature_clear);
}
static int ctl_cmd_update(ctl_ctx_t *ctx) { return ctl_update(ctx, ctl_change_update); }
static int ctl_cmd_token_revoke(ctl_ctx_t *ctx) { return ctl_update(ctx, ctl_change_token_revoke); }
static int ctl_cmd_pause(ctl_ctx_t *ctx) { return ctl_update(ctx, ctl_change_pause); }
static int ctl_cmd_resume(ctl_ctx_t *ctx) { return ctl_update(ctx, ctl_change_resume); }

static int ctl_step_delete(ctl_ctx_t *ctx, const ctl_state_t *state, void *arg) {
    (void)arg;
    const integ_t *in = ctl_find(state, ctx->args[0]);
    if (!in)
        return CTL_FAILED;
    return ctl_wrote(ctx, ctl_store_delete(ctx->st, in->name, ctx->err, sizeof(ctx->err)));
}

static int ctl_cmd_delete(ctl_ctx_t *ctx) {
    char key[INTEG_NAME_MAX + 1];
    ctl_key(ctx->args[0], key);
    if (ctl_connect(ctx) < 0)
        return CTL_FAILED;
    return ctl_cycle(ctx, key, ctl_step_delete, NULL);
}

static const char *const ctl_create_opts[] = {
    "primary-key", "partitions", "replication-factor", "max-body", "client-id", "base-url",
    "topic-prefix", "signature", "secret-file", "secret-env", "signature-header",
    "signature-encoding", "signature-prefix", "signature-tolerance", "delivery-id-header",
    "delivery-id-field", "rate-limit", "burst", NULL};
static const char *const ctl_signature_opts[] = {
    "signature", "secret-file", "secret-env", "signature-header", "signature-encoding",
    "signature-prefix", "signature-tolerance", "delivery-id-header", "delivery-id-field", NULL};
static const char *const ctl_update_opts[] = {"delivery-id-header", "delivery-id-field",
                                              "rate-limit", "burst", NULL};
static const char *const ctl_list_opts[] = {"json", NULL};
static const char *const ctl_token_add_opts[] = {"base-url", NULL};
static const char *const ctl_no_opts[] = {NULL};

static const ctl_cmd_t ctl_cmds[] = {
    {"integration", "create", "NAME", 1, ctl_create_opts, ctl_cmd_create,
     "creates an integration and its topics; prints its webhook URL (shown only now).\n"
     "NAME is a display name; the integration's name is derived from it as Stitch\n"
     "does (\"Stripe Events\" -> stripe_events): lower-cased, spaces and hyphens\n"
     "become '_', other characters are dropped; 1..59 characters, not starting\n"
     "with a digit. It names the topics and cannot change afterwards.\n"
     "Creates the topics <prefix><name> and <prefix><name>.rejected (and the\n"
     "compacted " INTEG_TOPIC " if missing), then writes the record."},
    {"integration", "update", "NAME", 1, ctl_update_opts, ctl_cmd_update,
     "changes the delivery-id source and the rate limit of an integration.\n"
     "--rate-limit off removes the limit; --burst goes with --rate-limit (0 = default)."},
    {"integration", "list", "", 0, ctl_list_opts, ctl_cmd_list,
     "lists the integrations, one per line: name, status, topic, primary key, tokens.\n"
     "Fields are tab-separated; the primary key is comma-joined (- if none), tokens\n"
     "is the number of active tokens. --json: a JSON array of the records."},
    {"integration", "show", "NAME", 1, ctl_no_opts, ctl_cmd_show,
     "prints the integration's record as JSON (token hashes, never tokens)."},
    {"token", "add", "NAME", 1, ctl_token_add_opts, ctl_cmd_token_add,
     "adds a webhook URL (at most 2 active), to rotate a token without downtime.\n"
     "Prints the new URL, shown only now; same client id, new token."},
    {"token", "revoke", "NAME TOKEN_ID", 2, ctl_no_opts, ctl_cmd_token_revoke,
     "revokes a token: every gateway refuses it within a second.\n"
     "Token ids: " CTL_PROG " integration show NAME."},
    {"signature", "set", "NAME", 1, ctl_signature_opts, ctl_cmd_signature_set,
     "makes the gateways verify the provider's signature on every webhook of NAME:\n"
     "a webhook whose signature does not verify is answered 401 Not Authorized.\n"
     "The secret is read from --secret-file or --secret-env and stored sealed with\n"
     "AES-256-GCM under $" SECRET_KEY_ENV " (64 hex characters); every gateway needs\n"
     "the same key, and one without it answers 503 for such integrations."},
    {"signature", "clear", "NAME", 1, ctl_no_opts, ctl_cmd_signature_clear,
     "stops verifying signatures for NAME (the URL token remains the only lock)."},
    {"pause", NULL, "NAME", 1, ctl_no_opts, ctl_cmd_pause,
     "the gateways refuse the integration's webhooks until it is resumed."},
    {"resume", NULL, "NAME", 1, ctl_no_opts, ctl_cmd_resume,
     "accepts the integration's webhooks again."},
    {"delete", NULL, "NAME", 1, ctl_no_opts, ctl_cmd_delete,
     "deletes the integration (a tombstone in " INTEG_TOPIC "): the gateways stop\n"
     "accepting its webhooks. Its topics and the data already loaded are kept, as\n"
     "Stitch never deletes data either; remove them with Kafka's tools if wanted.\n"
     "The name can then be created again (the kept topics are reused)."},
};
#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static const cfg_opt_t *ctl_option(const char *name) {
    for (size_t i = 0; i < CTL_NOPTIONS; i++)
        if (strcmp(ctl_options[i].name, name) == 0)
            return &ctl_options[i];
    return NULL;
}

/* What an option's value is called in help. */
static const char *ctl_metavar(const cfg_opt_t *o) {
    static const char *const names[][2] = {
        {"primary-key", "F1[,F2...]"}, {"partitions", "N"}, {"replication-factor", "N"},
        {"max-body", "BYTES"}, {"client-id", "ID"}, {"base-url", "URL"},
        {"topic-prefix", "PREFIX"}, {"timeout", "MS"}, {"signature", "SCHEME"},
        {"secret-file", "PATH"}, {"secret-env", "VAR"}, {"signature-header", "HEADER"},
        {"signature-encoding", "hex|base64"}, {"signature-prefix", "PREFIX"},
        {"signature-tolerance", "SECONDS"}, {"delivery-id-header", "HEADER"},
        {"delivery-id-field", "FIELD"}, {"rate-limit", "N/s"}, {"burst", "N"},
    };
    if (o->type == CFG_BOOL)
        return "";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i][0], o->name) == 0)
            return names[i][1];
    return "VALUE";
}

static void ctl_print_option(FILE *out, const cfg_opt_t *o) {
    const char *mv = ctl_metavar(o);
    fprintf(out, "  --%s%s%s", o->name, *mv ? " " : "", mv);
    if (o->def && o->type != CFG_BOOL)
        fprintf(out, " (default %s)", *o->def ? o->def : "\"\"");
    fprintf(out, "\n      %s\n", o->doc);
}

static void ctl_print_common(FILE *out) {
    fprintf(out, "\ncommon options:\n"
                 "  -b BOOTSTRAP   Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)\n"
                 "  -X PROP=VALUE  any librdkafka property (e.g. -X security.protocol=SASL_SSL);\n"
                 "                 also env HOOKPIPE_KAFKA_<PROP> with '.' as '_'\n"
                 "  --config PATH  read \"key = value\" lines (option names as keys)\n");
    for (const char *const *c = ctl_common_opts + 1; *c; c++)
        ctl_print_option(out, ctl_option(*c));
    fprintf(out, "options can also be set as HOOKPIPECTL_<OPTION> ('-' as '_').\n"
                 "exit status: 0 done, 1 failed or refused, 2 usage error\n");
}

static void ctl_print_usage_line(FILE *out, const char *prefix, const ctl_cmd_t *c) {
    fprintf(out, "%s%s%s%s%s%s%s\n", prefix, c->group, c->verb ? " " : "", c->verb ? c->verb : "",
            *c->args ? " " : "", c->args, c->opts[0] ? " [options]" : "");
}

static void ctl_help_top(FILE *out) {
    fprintf(out, "usage: " CTL_PROG " [-b BOOTSTRAP] [-X PROP=VALUE ...] COMMAND [ARGS] [options]\n"
                 "\nmanages hookpipe integrations, kept in the Kafka topic " INTEG_TOPIC ".\n"
                 "\ncommands:\n");
    for (size_t i = 0; i < CTL_NCMDS; i++)
        ctl_print_usage_line(out, "  ", &ctl_cmds[i]);
    fprintf(out, "\n'" CTL_PROG " COMMAND --help' describes one command.\n");
    ctl_print_common(out);
}

static void ctl_help_group(FILE *out, const char *group) {
    fprintf(out, "usage: " CTL_PROG " %s COMMAND ...\n\ncommands:\n", group);
    for (size_t i = 0; i < CTL_NCMDS; i++) {
        if (strcmp(ctl_cmds[i].group, group) != 0)
            continue;
        ctl_print_usage_line(out, "  ", &ctl_cmds[i]);
        fprintf(out, "      %.*s\n", (int)strcspn(ctl_cmds[i].doc, "\n"), ctl_cmds[i].doc);
    }
    fprintf(out, "\n'" CTL_PROG " %s COMMAND --help' describes one command.\n", group);
}

static void ctl_help_cmd(FILE *out, const ctl_cmd_t *c) {
    ctl_print_usage_line(out, "usage: " CTL_PROG " ", c);
    fprintf(out, "\n");
    for (const char *d = c->doc; *d;) {
        size_t n = strcspn(d, "\n");
        fprintf(out, "%.*s\n", (int)n, d);
        d += n + (d[n] == '\n');
    }
    if (c->opts[0])
        fprintf(out, "\noptions:\n");
    for (const char *const *o = c->opts; *o; o++)
        ctl_print_option(out, ctl_option(*o));
    ctl_print_common(out);
}

static int ctl_is_group(const char *word) {
    for (size_t i = 0; i < CTL_NCMDS; i++)
        if (ctl_cmds[i].verb && strcmp(ctl_cmds[i].group, word) == 0)
            return 1;
    return 0;
}

/* The command named by the first one or two positional words; *used says
 * how many words it took. NULL if none matches. */
static const ctl_cmd_t *ctl_lookup(char *const *words, size_t n, size_t *used) {
    for (size_t i = 0; n > 0 && i < CTL_NCMDS; i++) {
        const ctl_cmd_t *c = &ctl_cmds[i];
        if (strcmp(c->group, words[0]) != 0)
            continue;
        if (!c->verb) {
            *used = 1;
            return c;
        }
        if (n > 1 && strcmp(c->verb, words[1]) == 0) {
            *used = 2;
            return c;
        }
    }
    return NULL;
}

static int ctl_allowed(const ctl_cmd_t *c, const char *opt) {
    for (const char *const *o = ctl_common_opts; *o; o++)
        if (strcmp(*o, opt) == 0)
            return 1;
    for (const char *const *o = c->opts; *o; o++)
        if (strcmp(*o, opt) == 0)
            return 1;
    return 0;
}

/* The command line as cfg reads it: -b becomes -X bootstrap.servers=...,
 * -h/--help are taken out (*help set) so that help can describe the command
 * they follow, and the names of the --options given are collected. */
typedef struct {
    char **argv;
    int argc;
    int help;
    char **given;       /* option names, pointing into argv or bs */
    size_t ngiven;
    char **owned;       /* strings made here */
    size_t nowned;
} ctl_args_t;

static void ctl_args_free(ctl_args_t *a) {
    for (size_t i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->given);
    free(a->argv);
}

static char *ctl_args_own(ctl_args_t *a, char *s) {
    if (s)
        a->owned[a->nowned++] = s;
    return s;
}

static int ctl_is_bool(const char *s) {
    static const char *const words[] = {"true", "false", "1", "0", "yes", "no", "on", "off"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    return 0;
}

static int ctl_args_rewrite(ctl_args_t *a, int argc, char **argv) {
    size_t n = (size_t)argc;
    /* -b V becomes two words at most, so 2 * argc bounds every array */
    a->argv = calloc(2 * n + 1, sizeof(char *));
    a->given = calloc(n + 1, sizeof(char *));
    a->owned = calloc(2 * n + 1, sizeof(char *));
    if (!a->argv || !a->given || !a->owned)
        return -1;
    a->argv[a->argc++] = argv[0];
    for (int i = 1; i < argc; i++) {
        char *s = argv[i];
        if (strcmp(s, "--") == 0) {
            while (i < argc)
                a->argv[a->argc++] = argv[i++];
            break;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = 1;
        } else if (strncmp(s, "-b", 2) == 0) {
            const char *v = s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                ctl_fail("-b needs a value (see --help)");
                return -2;
            }
            char *kv = ctl_args_own(a, malloc(strlen(v) + sizeof("bootstrap.servers=")));
            if (!kv)
                return -1;
            sprintf(kv, "bootstrap.servers=%s", v);
            a->argv[a->argc++] = "-X";
            a->argv[a->argc++] = kv;
        } else if (strncmp(s, "-X", 2) == 0) {
            a->argv[a->argc++] = s;
            if (!s[2] && i + 1 < argc)
                a->argv[a->argc++] = argv[++i];
        } else if (strncmp(s, "--", 2) == 0) {
            const char *eq = strchr(s + 2, '=');
            char *name = ctl_args_own(a, eq ? strndup(s + 2, (size_t)(eq - s - 2)) : strdup(s + 2));
            if (!name)
                return -1;
            a->given[a->ngiven++] = name;
            a->argv[a->argc++] = s;
            const cfg_opt_t *o = ctl_option(name);
            /* as cfg reads it: a boolean flag takes the next word only if
             * that is a boolean; any other option always takes it */
            int bare = o && o->type == CFG_BOOL && (i + 1 >= argc || !ctl_is_bool(argv[i + 1]));
            if (!eq && !bare && i + 1 < argc)
                a->argv[a->argc++] = argv[++i];
        } else {
            a->argv[a->argc++] = s;
        }
    }
    return 0;
}

static int ctl_has_bootstrap(const cfg_t *cfg) {
    const char *a = kafka_cfg_get(cfg, "bootstrap.servers");
    const char *b = kafka_cfg_get(cfg, "metadata.broker.list");
    return (a && *a) || (b && *b);
}

int main(int argc, char **argv) {
    int rc = CTL_USAGE;
    ctl_args_t args = {0};
    ctl_ctx_t ctx = {0};
    size_t used = 0;
    const ctl_cmd_t *cmd = NULL;

    log_init(CTL_PROG, LOG_ERROR);
    int r = ctl_args_rewrite(&args, argc, argv);
    if (r == -1) {
        ctl_fail("out of memory");
        rc = CTL_FAILED;
    }
    if (r < 0)
        goto out;
    ctx.cfg = cfg_new(CTL_PROG, "COMMAND [ARGS] [options]", ctl_options, CTL_NOPTIONS,
                      "HOOKPIPECTL");
    if (!ctx.cfg) {
        ctl_fail("out of memory");
        rc = CTL_FAILED;
        goto out;
    }
    if (cfg_load(ctx.cfg, args.argc, args.argv, ctx.err, sizeof(ctx.err)) != 0) {
        ctl_fail("%s", ctx.err);
        goto out;
    }
    if (cfg_bool(ctx.cfg, "verbose"))
        log_init(CTL_PROG, LOG_DEBUG);
    size_t npos = cfg_argc(ctx.cfg);
    char *const *pos = cfg_argv(ctx.cfg);
    cmd = ctl_lookup(pos, npos, &used);
    if (args.help) {
        if (cmd)
            ctl_help_cmd(stdout, cmd);
        else if (npos > 0 && ctl_is_group(pos[0]))
            ctl_help_group(stdout, pos[0]);
        else
            ctl_help_top(stdout);
        rc = CTL_OK;
        goto out;
    }
    if (!cmd) {
        if (npos == 0)
            ctl_fail("no command given (see " CTL_PROG " --help)");
        else if (ctl_is_group(pos[0]))
            ctl_fail("%s '%s' (see " CTL_PROG " %s --help)",
                     npos > 1 ? "unknown command" : "missing command after", npos > 1 ? pos[1] : pos[0],
                     pos[0]);
        else
            ctl_fail("unknown command '%s' (see " CTL_PROG " --help)", pos[0]);
        goto out;
    }
    for (size_t i = 0; i < args.ngiven; i++) {
        if (!ctl_option(args.given[i]) && strcmp(args.given[i], "config") != 0)
            continue;   /* cfg has accepted it: a kafka.* property */
        if (!ctl_allowed(cmd, args.given[i])) {
            ctl_fail("--%s does not apply to '%s%s%s' (see --help)", args.given[i],
                     cmd->group, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
            goto out;
        }
    }
    if (npos - used != cmd->nargs) {
        ctl_print_usage_line(stderr, CTL_PROG ": usage: " CTL_PROG " ", cmd);
        goto out;
    }
    if (!ctl_has_bootstrap(ctx.cfg)) {
        ctl_fail("no Kafka to talk to: give -b BOOTSTRAP or set KAFKA_BOOTSTRAP_SERVERS");
        goto out;
    }
    ctx.cmd = cmd;
    ctx.args = pos + used;
    rc = cmd->fn(&ctx);
out:
    ctl_store_destroy(ctx.st);
    cfg_destroy(ctx.cfg);
    ctl_args_free(&args);
    return rc;
}
