/* sr_client: a client of any Confluent-compatible schema registry (ours or
 * Confluent's), for the sink: register a schema, look one up under a
 * subject, fetch a schema by id; answers are cached, so a schema is sent or
 * fetched once per client. HTTP(S) through libcurl, optional basic auth.
 *
 * Return convention of the calls: 0 on success; the registry's error_code
 * (> 0, e.g. 40401 subject not found, 40403 schema not found, 409
 * incompatible, 42201 invalid schema) when it answered with an error; -1 when
 * it could not be asked or answered nonsense. errstr gets a message for
 * anything but 0.
 *
 * Thread-safe: calls on one client are serialised by an internal lock (one
 * connection, kept alive). */
#ifndef HOOKPIPE_SR_CLIENT_H
#define HOOKPIPE_SR_CLIENT_H

#include <stddef.h>

#define SR_CLIENT_CACHE_MAX 10000   /* entries per cache; emptied when full */

typedef struct sr_client_conf {
    const char *url;        /* base URL, e.g. "https://registry:8081" (required) */
    const char *username;   /* basic auth user; NULL = no auth */
    const char *password;
    const char *ca_file;    /* PEM CA bundle for https; NULL = system store */
    const char *cert_file;  /* client certificate (PEM) for mutual TLS; NULL = none */
    const char *key_file;
    int insecure;           /* 1: do not verify the server certificate */
    long timeout_ms;        /* per request; 0 = 10000 */
} sr_client_conf_t;

typedef struct sr_client sr_client_t;

/* Copies everything it needs from conf. NULL with errstr on failure.
 * Caller owns the client (sr_client_destroy). */
sr_client_t *sr_client_new(const sr_client_conf_t *conf, char *errstr, size_t errstr_size);

/* sr_client_destroy(NULL) is a no-op. */
void sr_client_destroy(sr_client_t *c);

/* POST /subjects/{subject}/versions: the schema's id (existing or new). */
int sr_client_register(sr_client_t *c, const char *subject, const char *schema, int *id,
                       char *errstr, size_t errstr_size);

/* POST /subjects/{subject}: id and version of a schema already registered
 * under the subject. */
int sr_client_lookup(sr_client_t *c, const char *subject, const char *schema, int *id,
                     int *version, char *errstr, size_t errstr_size);

/* GET /schemas/ids/{id}: the schema text, malloc'd, which the caller frees. */
int sr_client_get_by_id(sr_client_t *c, int id, char **schema, char *errstr,
                        size_t errstr_size);

/* GET /subjects/{subject}/versions/latest (never cached: it changes):
 * id, version and (if schema is not NULL) the text, malloc'd for the caller. */
int sr_client_latest(sr_client_t *c, const char *subject, int *id, int *version,
                     char **schema, char *errstr, size_t errstr_size);

/* Number of HTTP requests made so far (for tests and metrics). */
unsigned long sr_client_requests(const sr_client_t *c);

#endif
