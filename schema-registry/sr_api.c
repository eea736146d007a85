/* sr_api: Confluent Schema Registry REST API over libmicrohttpd. */
#include "sr_api.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"

#define SR_CT "application/vnd.schemaregistry.v1+json"
#define SR_MAX_SEGS 8

struct sr_api {
    struct MHD_Daemon *mhd;
    sr_store_t *store;
    int port;
    size_t inflight;   /* request body bytes held, all connections (atomic) */
};

typedef enum { SR_BODY_OK, SR_BODY_TOO_LARGE, SR_BODY_BUSY } sr_body_t;

typedef struct {
    char *body;
    size_t len, cap;   /* cap is counted in sr_api.inflight */
    sr_body_t state;
} sr_req_t;

typedef struct {
    int status;
    char *body;        /* malloc'd */
    size_t len;
} sr_resp_t;

typedef struct {
    sr_api_t *api;
    struct MHD_Connection *conn;
    const char *method;
    char *seg[SR_MAX_SEGS];
    int nseg;
    sr_req_t *req;
    sr_resp_t resp;
} sr_call_t;

static void sr_reply(sr_call_t *c, int status, json_t *j) {
    c->resp.status = status;
    c->resp.body = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    c->resp.len = c->resp.body ? strlen(c->resp.body) : 0;
    if (j)
        json_decref(j);
    if (!c->resp.body) {
        c->resp.status = 503;
        c->resp.body = strdup("{\"error_code\":50001,\"message\":\"Out of memory\"}");
        c->resp.len = c->resp.body ? strlen(c->resp.body) : 0;
    }
}

static void sr_fail(sr_call_t *c, sr_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sr_fail(sr_call_t *c, sr_err_t e, const char *fmt, ...) {
    char msg[1024];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof(msg), "%s", sr_err_msg(e));
    }
    sr_reply(c, sr_err_http(e), json_pack("{siss}", "error_code", sr_err_code(e), "message", msg));
}

static const char *sr_arg(sr_call_t *c, const char *name) {
    return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* A query value unescaped into buf (values reach us escaped, see
 * sr_unescape_later); NULL if absent, too long or holding a NUL. */
static const char *sr_arg_text(sr_call_t *c, const char *name, char *buf, size_t size) {
    const char *v = sr_arg(c, name);
    if (!v || strlen(v) >= size)
        return NULL;
    memcpy(buf, v, strlen(v) + 1);
    for (char *p = buf; *p; p++)
        if (*p == '+')
            *p = ' ';
    return MHD_http_unescape(buf) == strlen(buf) ? buf : NULL;
}

static int sr_flag(sr_call_t *c, const char *name) {
    const char *v = sr_arg(c, name);
    return v && strcasecmp(v, "true") == 0;
}

/* "latest"/-1 -> 0; 1..INT_MAX -> itself; else -1 */
static int sr_parse_version(const char *s) {
    if (strcmp(s, "latest") == 0 || strcmp(s, "-1") == 0)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || v < 1 || v > INT_MAX)
        return -1;
    return (int)v;
}

static void sr_bad_version(sr_call_t *c, const char *v) {
    sr_fail(c, SR_ERR_INVALID_VERSION,
            "The specified version '%.64s' is not a valid version id. Allowed values are "
            "between [1, 2^31-1] and the string \"latest\"",
            v);
}

/* Parses the request body as JSON; replies and returns NULL on error. */
static json_t *sr_body(sr_call_t *c) {
    json_error_t jerr;
    json_t *j = json_loadb(c->req->body ? c->req->body : "", c->req->len, 0, &jerr);
    if (!j) {
        sr_fail(c, SR_ERR_BAD_REQUEST, "Unrecognized request body: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        sr_fail(c, SR_ERR_BAD_REQUEST, "Unrecognized request body: expected a JSON object");
        return NULL;
    }
    return j;
}

/* Reads {"schema":..., "schemaType":..., "references":...} and parses the
 * schema. Replies and returns NULL on error; *text borrows from *holder. */
static sr_avro_t *sr_schema_arg(sr_call_t *c, json_t **holder, const char **text) {
    json_t *j = sr_body(c);
    if (!j)
        return NULL;
    *holder = j;
    json_t *sj = json_object_get(j, "schema");
    const char *type = json_string_value(json_object_get(j, "schemaType"));
    json_t *refs = json_object_get(j, "references");
    if (type && strcmp(type, "AVRO") != 0) {
        sr_fail(c, SR_ERR_INVALID_SCHEMA,
                "Invalid schema type %.32s: hookpipe-registry supports AVRO schemas only", type);
        return NULL;
    }
    if (refs && !json_is_null(refs) && (!json_is_array(refs) || json_array_size(refs) > 0)) {
        sr_fail(c, SR_ERR_INVALID_SCHEMA, "Invalid schema: schema references are not supported");
        return NULL;
    }
    if (!json_is_string(sj)) {
        sr_fail(c, SR_ERR_INVALID_SCHEMA, "Invalid schema: \"schema\" must be a string");
        return NULL;
    }
    char err[512];
    *text = json_string_value(sj);
    sr_avro_t *avro = sr_avro_parse(*text, json_string_length(sj), err, sizeof(err));
    if (!avro)
        sr_fail(c, SR_ERR_INVALID_SCHEMA, "Invalid schema: %s", err);
    return avro;
}

static json_t *sr_version_json(const char *subject, const sr_version_t *v) {
    return json_pack("{sssisiss}", "subject", subject, "version", v->version, "id",
                     v->schema->id, "schema", v->schema->text);
}

/* Finds subject and version for GET/DELETE; replies on error. */
static const sr_version_t *sr_find_version(sr_call_t *c, const sr_state_t *state,
                                           const char *subject, const char *vtext,
                                           int include_deleted) {
    int v = sr_parse_version(vtext);
    if (v < 0) {
        sr_bad_version(c, vtext);
        return NULL;
    }
    sr_subject_t *sub = sr_state_subject(state, subject);
    if (!sub || !sr_state_latest(sub, include_deleted)) {
        sr_fail(c, SR_ERR_SUBJECT_NOT_FOUND, "Subject '%.256s' not found.", subject);
        return NULL;
    }
    const sr_version_t *ver = v == 0 ? sr_state_latest(sub, include_deleted)
                                     : sr_state_version(sub, v);
    if (!ver || (ver->deleted && !include_deleted)) {
        sr_fail(c, SR_ERR_VERSION_NOT_FOUND, "Version %.64s not found.", vtext);
        return NULL;
    }
    return ver;
}

static int sr_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void sr_get_subjects(sr_call_t *c, const sr_state_t *state) {
    int deleted = sr_flag(c, "deleted");
    char pbuf[1024];
    const char *prefix = sr_arg_text(c, "subjectPrefix", pbuf, sizeof(pbuf));
    size_t plen = prefix ? strlen(prefix) : 0;
    sr_subject_t *const *subs;
    size_t n = sr_state_subjects(state, &subs);
    const char **names = calloc(n ? n : 1, sizeof(*names));
    if (!names) {
        sr_fail(c, SR_ERR_NOMEM, NULL);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (sr_state_latest(subs[i], deleted) &&
            strncmp(subs[i]->name, prefix ? prefix : "", plen) == 0)
            names[k++] = subs[i]->name;
    qsort(names, k, sizeof(*names), sr_cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < k; i++)
        json_array_append_new(arr, json_string(names[i]));
    free(names);
    sr_reply(c, 200, arr);
}

static void sr_get_versions(sr_call_t *c, const sr_state_t *state, const char *subject) {
    int deleted = sr_flag(c, "deleted");
    sr_subject_t *sub = sr_state_subject(state, subject);
    if (!sub || !sr_state_latest(sub, deleted)) {
        sr_fail(c, SR_ERR_SUBJECT_NOT_FOUND, "Subject '%.256s' not found.", subject);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < sub->nversions; i++)
        if (deleted || !sub->versions[i].deleted)
            json_array_append_new(arr, json_integer(sub->versions[i].version));
    sr_reply(c, 200, arr);
}

static void sr_get_by_id(sr_call_t *c, const sr_state_t *state, const char *idtext,
                         const char *what) {
    char *end;
    long id = strtol(idtext, &end, 10);
    sr_schema_t *s = *end || id < 1 || id > INT_MAX ? NULL : sr_state_schema_by_id(state, (int)id);
    if (!s) {
        sr_fail(c, SR_ERR_SCHEMA_NOT_FOUND, "Schema %.32s not found", idtext);
        return;
    }
    if (!what) {
        c->resp.status = 200;
        c->resp.body = malloc(s->id_body_len + 1);
        if (!c->resp.body) {
            sr_fail(c, SR_ERR_NOMEM, NULL);
            return;
        }
        memcpy(c->resp.body, s->id_body, s->id_body_len + 1);
        c->resp.len = s->id_body_len;
        return;
    }
    if (strcmp(what, "schema") == 0) {
        c->resp.status = 200;
        c->resp.body = strdup(s->text);
        c->resp.len = c->resp.body ? strlen(c->resp.body) : 0;
        if (!c->resp.body)
            sr_fail(c, SR_ERR_NOMEM, NULL);
        return;
    }
    int versions = strcmp(what, "versions") == 0;
    if (!versions && strcmp(what, "subjects") != 0) {
        sr_fail(c, SR_ERR_NOT_FOUND, NULL);
        return;
    }
    int deleted = sr_flag(c, "deleted");
    sr_subject_t *const *subs;
    size_t n = sr_state_subjects(state, &subs);
    const char **names = calloc(n ? n : 1, sizeof(*names));
    json_t *arr = json_array();
    size_t k = 0;
    for (size_t i = 0; names && arr && i < n; i++) {
        int seen = 0;
        for (size_t v = 0; v < subs[i]->nversions; v++) {
            const sr_version_t *ver = &subs[i]->versions[v];
            if (ver->schema != s || (ver->deleted && !deleted))
                continue;
            if (versions)
                json_array_append_new(arr, json_pack("{sssi}", "subject", subs[i]->name,
                                                     "version", ver->version));
            else if (!seen)
                names[k++] = subs[i]->name;
            seen = 1;
        }
    }
    if (!versions) {
        qsort(names, k, sizeof(*names), sr_cmp_str);
        for (size_t i = 0; arr && i < k; i++)
            json_array_append_new(arr, json_string(names[i]));
    }
    free(names);
    sr_reply(c, 200, arr);
}

static void sr_post_register(sr_call_t *c, const char *subject) {
    json_t *holder = NULL, *reasons = json_array();
    const char *text;
    sr_avro_t *avro = sr_schema_arg(c, &holder, &text);
    if (avro) {
        int id = 0, version = 0;
        char msg[512] = "";
        sr_err_t e = sr_store_register(c->api->store, subject, text, avro, &id, &version,
                                       reasons, msg, sizeof(msg));
        if (e == SR_ERR_OK) {
            sr_reply(c, 200, json_pack("{si}", "id", id));
        } else if (e == SR_ERR_INCOMPATIBLE) {
            char *details = json_dumps(reasons, JSON_COMPACT);
            sr_fail(c, e, "%s, details: %.600s", msg, details ? details : "[]");
            free(details);
        } else {
            sr_fail(c, e, "%s", msg[0] ? msg : sr_err_msg(e));
        }
    }
    sr_avro_destroy(avro);
    if (holder)
        json_decref(holder);
    json_decref(reasons);
}

static void sr_post_lookup(sr_call_t *c, const char *subject) {
    json_t *holder = NULL;
    const char *text;
    sr_avro_t *avro = sr_schema_arg(c, &holder, &text);
    if (avro) {
        int deleted = sr_flag(c, "deleted");
        const sr_state_t *state = sr_store_rdlock(c->api->store);
        sr_subject_t *sub = sr_state_subject(state, subject);
        sr_schema_t *s = sr_state_schema_by_canonical(state, avro);
        const sr_version_t *found = NULL;
        for (size_t i = 0; s && sub && i < sub->nversions; i++)
            if (sub->versions[i].schema == s && (deleted || !sub->versions[i].deleted))
                found = &sub->versions[i];
        if (!sub || !sr_state_latest(sub, 1))
            sr_fail(c, SR_ERR_SUBJECT_NOT_FOUND, "Subject '%.256s' not found.", subject);
        else if (!found)
            sr_fail(c, SR_ERR_SCHEMA_NOT_FOUND, "Schema not found");
        else
            sr_reply(c, 200, sr_version_json(subject, found));
        sr_store_unlock(c->api->store);
    }
    sr_avro_destroy(avro);
    if (holder)
        json_decref(holder);
}

static void sr_post_compat(sr_call_t *c, const char *subject, const char *vtext) {
    json_t *holder = NULL;
    const char *text;
    sr_avro_t *avro = sr_schema_arg(c, &holder, &text);
    if (!avro)
        goto out;
    int verbose = sr_flag(c, "verbose");
    json_t *reasons = json_array();
    const sr_state_t *state = sr_store_rdlock(c->api->store);
    sr_compat_level_t level = sr_state_level(state, subject);
    sr_subject_t *sub = sr_state_subject(state, subject);
    const sr_avro_t *one[1];
    int onev[1];
    const sr_avro_t **old = NULL;
    int *vers = NULL;
    size_t n = 0;
    int ok = 1, answer = 1;
    if (vtext) {
        const sr_version_t *ver = sr_find_version(c, state, subject, vtext, 0);
        if (!ver) {
            answer = 0;
        } else {
            one[0] = ver->schema->avro;
            onev[0] = ver->version;
            /* against one version, the level's direction without transitivity */
            sr_compat_level_t l = level == SR_COMPAT_BACKWARD_TRANSITIVE ? SR_COMPAT_BACKWARD
                                : level == SR_COMPAT_FORWARD_TRANSITIVE ? SR_COMPAT_FORWARD
                                : level == SR_COMPAT_FULL_TRANSITIVE ? SR_COMPAT_FULL
                                                                     : level;
            ok = sr_compat_check(l, avro, one, onev, 1, reasons);
        }
    } else {
        size_t live = sr_state_live(sub);
        old = calloc(live ? live : 1, sizeof(*old));
        vers = calloc(live ? live : 1, sizeof(*vers));
        for (size_t i = 0; old && vers && sub && i < sub->nversions; i++)
            if (!sub->versions[i].deleted) {
                vers[n] = sub->versions[i].version;
                old[n++] = sub->versions[i].schema->avro;
            }
        if (!old || !vers) {
            sr_fail(c, SR_ERR_NOMEM, NULL);
            answer = 0;
        } else {
            ok = sr_compat_check(level, avro, old, vers, n, reasons);
        }
    }
    sr_store_unlock(c->api->store);
    if (answer) {
        json_t *r = json_pack("{sb}", "is_compatible", ok);
        if (r && verbose)
            json_object_set(r, "messages", reasons);
        sr_reply(c, 200, r);
    }
    free(old);
    free(vers);
    json_decref(reasons);
out:
    sr_avro_destroy(avro);
    if (holder)
        json_decref(holder);
}

/* Writes one record; replies with the error if it fails. */
static int sr_put(sr_call_t *c, char *key, char *value, int tombstone) {
    sr_err_t e = key && (value || tombstone) ? sr_store_put(c->api->store, key, value)
                                              : SR_ERR_NOMEM;
    free(key);
    free(value);
    if (e)
        sr_fail(c, e, NULL);
    return e ? -1 : 0;
}

static void sr_delete_subject(sr_call_t *c, const char *subject) {
    int permanent = sr_flag(c, "permanent");
    sr_err_t e = sr_store_write_begin(c->api->store);
    if (e) {
        sr_fail(c, e, NULL);
        return;
    }
    /* copy what to write, then write without holding the read lock: the
     * consumer thread needs the write lock to apply our records */
    const sr_state_t *state = sr_store_rdlock(c->api->store);
    sr_subject_t *sub = sr_state_subject(state, subject);
    size_t n = sub ? sub->nversions : 0, k = 0;
    char **keys = calloc(n ? n : 1, sizeof(char *)), **vals = calloc(n ? n : 1, sizeof(char *));
    json_t *done = json_array();
    int fail = 0;
    if (!keys || !vals || !done) {
        sr_fail(c, SR_ERR_NOMEM, NULL);
        fail = 1;
    } else if (!sub || !sr_state_latest(sub, 1)) {
        sr_fail(c, SR_ERR_SUBJECT_NOT_FOUND, "Subject '%.256s' not found.", subject);
        fail = 1;
    } else if (!permanent && !sr_state_latest(sub, 0)) {
        sr_fail(c, SR_ERR_SUBJECT_SOFT_DELETED,
                "Subject '%.256s' was soft deleted. Set permanent=true to delete permanently",
                subject);
        fail = 1;
    } else if (permanent && sr_state_latest(sub, 0)) {
        sr_fail(c, SR_ERR_SUBJECT_NOT_SOFT_DELETED,
                "Subject '%.256s' was not deleted first before being permanently deleted",
                subject);
        fail = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            const sr_version_t *v = &sub->versions[i];
            if (!permanent && v->deleted)
                continue;
            keys[k] = sr_state_schema_key(subject, v->version);
            vals[k] = permanent ? NULL
                                : sr_state_schema_value(subject, v->version, v->schema->id,
                                                        v->schema->text, 1);
            json_array_append_new(done, json_integer(v->version));
            k++;
        }
    }
    sr_store_unlock(c->api->store);
    for (size_t i = 0; i < k; i++) {
        if (!fail && sr_put(c, keys[i], vals[i], permanent) < 0)
            fail = 1;
        else if (fail) {
            free(keys[i]);
            free(vals[i]);
        }
    }
    sr_store_write_end(c->api->store);
    free(keys);
    free(vals);
    if (!fail)
        sr_reply(c, 200, done);
    else if (done)
        json_decref(done);
}

static void sr_delete_version(sr_call_t *c, const char *subject, const char *vtext) {
    int permanent = sr_flag(c, "permanent");
    sr_err_t e = sr_store_write_begin(c->api->store);
    if (e) {
        sr_fail(c, e, NULL);
        return;
    }
    const sr_state_t *state = sr_store_rdlock(c->api->store);
    const sr_version_t *v = sr_find_version(c, state, subject, vtext, 1);
    char *key = NULL, *val = NULL;
    int version = 0;
    if (v && !permanent && v->deleted) {
        sr_fail(c, SR_ERR_VERSION_SOFT_DELETED,
                "Subject '%.256s' Version %d was soft deleted. "
                "Set permanent=true to delete permanently",
                subject, v->version);
        v = NULL;
    } else if (v && permanent && !v->deleted) {
        sr_fail(c, SR_ERR_VERSION_NOT_SOFT_DELETED,
                "Subject '%.256s' Version %d was not deleted first "
                "before being permanently deleted",
                subject, v->version);
        v = NULL;
    }
    if (v) {
        version = v->version;
        key = sr_state_schema_key(subject, version);
        if (!permanent)
            val = sr_state_schema_value(subject, version, v->schema->id, v->schema->text, 1);
    }
    sr_store_unlock(c->api->store);
    if (v && sr_put(c, key, val, permanent) == 0)
        sr_reply(c, 200, json_integer(version));
    sr_store_write_end(c->api->store);
}

static void sr_config(sr_call_t *c, const char *subject) {
    const char *m = c->method;
    if (strcmp(m, "GET") == 0) {
        const sr_state_t *state = sr_store_rdlock(c->api->store);
        sr_subject_t *sub = subject ? sr_state_subject(state, subject) : NULL;
        if (subject && (!sub || sub->level < 0) && !sr_flag(c, "defaultToGlobal"))
            sr_fail(c, SR_ERR_SUBJECT_LEVEL_NOT_FOUND,
                    "Subject '%.256s' does not have subject-level compatibility configured",
                    subject);
        else
            sr_reply(c, 200, json_pack("{ss}", "compatibilityLevel",
                                       sr_compat_level_name(sr_state_level(state, subject))));
        sr_store_unlock(c->api->store);
        return;
    }
    int put = strcmp(m, "PUT") == 0;
    if (!put && strcmp(m, "DELETE") != 0) {
        sr_fail(c, SR_ERR_METHOD, NULL);
        return;
    }
    int level = -1;
    json_t *body = NULL;
    if (put) {
        if (!(body = sr_body(c)))
            return;
        const char *name = json_string_value(json_object_get(body, "compatibility"));
        if (!name)
            name = json_string_value(json_object_get(body, "compatibilityLevel"));
        level = name ? sr_compat_level_parse(name) : -1;
        json_decref(body);
        if (level < 0) {
            sr_fail(c, SR_ERR_INVALID_LEVEL,
                    "Invalid compatibility level. Valid values are none, backward, forward, "
                    "full, backward_transitive, forward_transitive, and full_transitive");
            return;
        }
    }
    sr_err_t e = sr_store_write_begin(c->api->store);
    if (e) {
        sr_fail(c, e, NULL);
        return;
    }
    const sr_state_t *state = sr_store_rdlock(c->api->store);
    sr_subject_t *sub = subject ? sr_state_subject(state, subject) : NULL;
    int missing = !put && subject && (!sub || sub->level < 0);
    sr_compat_level_t prev = sr_state_level(state, subject);
    sr_store_unlock(c->api->store);
    if (missing)
        sr_fail(c, SR_ERR_SUBJECT_NOT_FOUND, "Subject '%.256s' not found.", subject);
    else if (sr_put(c, sr_state_config_key(subject),
                    put ? sr_state_config_value((sr_compat_level_t)level) : NULL, !put) == 0)
        sr_reply(c, 200, put ? json_pack("{ss}", "compatibility",
                                         sr_compat_level_name((sr_compat_level_t)level))
                             : json_pack("{ss}", "compatibilityLevel", sr_compat_level_name(prev)));
    sr_store_write_end(c->api->store);
}

static int sr_is(const sr_call_t *c, const char *m) { return strcmp(c->method, m) == 0; }

static void sr_route(sr_call_t *c) {
    char **s = c->seg;
    int n = c->nseg;
    if (n == 1 && strcmp(s[0], "readyz") == 0) {
        int ready = sr_store_ready(c->api->store);
        sr_reply(c, ready ? 200 : 503, json_pack("{ss}", "status", ready ? "ready" : "loading"));
        return;
    }
    if (!sr_store_ready(c->api->store)) {
        sr_fail(c, SR_ERR_NOT_READY, NULL);
        return;
    }
    int get = sr_is(c, "GET"), post = sr_is(c, "POST"), del = sr_is(c, "DELETE");
    if (n == 0) {
        if (get)
            sr_reply(c, 200, json_object());
        else
            sr_fail(c, SR_ERR_METHOD, NULL);
        return;
    }
    if (strcmp(s[0], "config") == 0 && n <= 2) {
        sr_config(c, n == 2 ? s[1] : NULL);
        return;
    }
    if (strcmp(s[0], "mode") == 0 && n <= 2 && get) {
        sr_reply(c, 200, json_pack("{ss}", "mode", "READWRITE"));
        return;
    }
    if (strcmp(s[0], "schemas") == 0 && n >= 2) {
        if (!get) {
            sr_fail(c, SR_ERR_METHOD, NULL);
        } else if (n == 2 && strcmp(s[1], "types") == 0) {
            sr_reply(c, 200, json_pack("[s]", "AVRO"));
        } else if ((n == 3 || n == 4) && strcmp(s[1], "ids") == 0) {
            const sr_state_t *state = sr_store_rdlock(c->api->store);
            sr_get_by_id(c, state, s[2], n == 4 ? s[3] : NULL);
            sr_store_unlock(c->api->store);
        } else {
            sr_fail(c, SR_ERR_NOT_FOUND, NULL);
        }
        return;
    }
    if (strcmp(s[0], "compatibility") == 0 && (n == 4 || n == 5) &&
        strcmp(s[1], "subjects") == 0 && strcmp(s[3], "versions") == 0) {
        if (post)
            sr_post_compat(c, s[2], n == 5 ? s[4] : NULL);
        else
            sr_fail(c, SR_ERR_METHOD, NULL);
        return;
    }
    if (strcmp(s[0], "subjects") != 0 || n > 5) {
        sr_fail(c, SR_ERR_NOT_FOUND, NULL);
        return;
    }
    if (n == 1 && get) {
        const sr_state_t *state = sr_store_rdlock(c->api->store);
        sr_get_subjects(c, state);
        sr_store_unlock(c->api->store);
    } else if (n == 2 && post) {
        sr_post_lookup(c, s[1]);
    } else if (n == 2 && del) {
        sr_delete_subject(c, s[1]);
    } else if (n == 3 && strcmp(s[2], "versions") == 0 && post) {
        sr_post_register(c, s[1]);
    } else if (n == 3 && strcmp(s[2], "versions") == 0 && get) {
        const sr_state_t *state = sr_store_rdlock(c->api->store);
        sr_get_versions(c, state, s[1]);
        sr_store_unlock(c->api->store);
    } else if (n >= 4 && strcmp(s[2], "versions") == 0 && get) {
        const sr_state_t *state = sr_store_rdlock(c->api->store);
        const sr_version_t *v = sr_find_version(c, state, s[1], s[3], sr_flag(c, "deleted"));
        if (v && n == 4) {
            sr_reply(c, 200, sr_version_json(s[1], v));
        } else if (v && strcmp(s[4], "schema") == 0) {
            c->resp.status = 200;
            c->resp.body = strdup(v->schema->text);
            c->resp.len = c->resp.body ? strlen(c->resp.body) : 0;
        } else if (v && strcmp(s[4], "referencedby") == 0) {
            sr_reply(c, 200, json_array());
        } else if (v) {
            sr_fail(c, SR_ERR_NOT_FOUND, NULL);
        }
        sr_store_unlock(c->api->store);
    } else if (n == 4 && strcmp(s[2], "versions") == 0 && del) {
        sr_delete_version(c, s[1], s[3]);
    } else if (n <= 4 && (n != 3 || strcmp(s[2], "versions") == 0)) {
        sr_fail(c, SR_ERR_METHOD, NULL);
    } else {
        sr_fail(c, SR_ERR_NOT_FOUND, NULL);
    }
}

static int sr_media_ok(const char *ct) {
    static const char *const ok[] = {"application/vnd.schemaregistry.v1+json",
                                     "application/vnd.schemaregistry+json",
                                     "application/json", "application/octet-stream"};
    if (!ct || !*ct)
        return 1;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t len = strlen(ok[i]);
        if (strncasecmp(ct, ok[i], len) == 0 &&
            (ct[len] == '\0' || ct[len] == ';' || ct[len] == ' '))
            return 1;
    }
    return 0;
}

static enum MHD_Result sr_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    sr_api_t *api = cls;
    sr_req_t *req = *con_cls;
    if (!req) {
        if (!(req = calloc(1, sizeof(*req))))
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t need = req->len + *upload_size + 1;
        if (req->len + *upload_size > SR_API_MAX_BODY) {
            req->state = SR_BODY_TOO_LARGE;
        } else if (req->state == SR_BODY_OK && need > req->cap) {
            size_t cap = req->cap ? req->cap : 4096;
            while (cap < need)
                cap *= 2;
            /* every connection's body counts against one budget, so that
             * many large bodies at once get 503 rather than all the memory */
            size_t grow = cap - req->cap;
            char *b = NULL;
            if (__atomic_add_fetch(&api->inflight, grow, __ATOMIC_RELAXED) > SR_API_MAX_INFLIGHT ||
                !(b = realloc(req->body, cap))) {
                __atomic_sub_fetch(&api->inflight, grow, __ATOMIC_RELAXED);
                req->state = SR_BODY_BUSY;
            } else {
                req->body = b;
                req->cap = cap;
            }
        }
        if (req->state == SR_BODY_OK) {
            memcpy(req->body + req->len, upload, *upload_size);
            req->len += *upload_size;
            req->body[req->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }

    sr_call_t c = {.api = api, .conn = conn, .method = method, .req = req};
    char path[2048];
    snprintf(path, sizeof(path), "%s", url);
    char *save = NULL;
    int overflow = 0;
    for (char *p = strtok_r(path, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        /* an escaped NUL would cut the name short: no such resource */
        if (c.nseg == SR_MAX_SEGS || MHD_http_unescape(p) != strlen(p)) {
            overflow = 1;
            break;
        }
        c.seg[c.nseg++] = p;
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (req->state == SR_BODY_TOO_LARGE)
        sr_fail(&c, SR_ERR_TOO_LARGE, "Request body larger than %d bytes", SR_API_MAX_BODY);
    else if (req->state == SR_BODY_BUSY)
        sr_fail(&c, SR_ERR_BUSY, NULL);
    else if (overflow || strlen(url) >= sizeof(path))
        sr_fail(&c, SR_ERR_NOT_FOUND, NULL);
    else if ((strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) && !sr_media_ok(ct))
        sr_fail(&c, SR_ERR_MEDIA_TYPE, NULL);
    else
        sr_route(&c);

    struct MHD_Response *resp = MHD_create_response_from_buffer(
        c.resp.len, c.resp.body ? c.resp.body : (char *)"",
        c.resp.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(c.resp.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", SR_CT);
    if (req->state == SR_BODY_BUSY)
        MHD_add_response_header(resp, "Retry-After", "1");
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)c.resp.status, resp);
    MHD_destroy_response(resp);
    if (c.resp.status >= 500 && c.resp.status != 503)   /* 503: not ready yet, polled */
        log_warn("%s %s -> %d", method, url, c.resp.status);
    else
        log_debug("%s %s -> %d", method, url, c.resp.status);
    return r;
}

/* The path is split on '/' before its segments are unescaped (sr_handler),
 * so that a subject name may contain an escaped '/'. Query values are left
 * escaped too: the ones we read are plain words. */
static size_t sr_unescape_later(void *cls, struct MHD_Connection *conn, char *s) {
    (void)cls;
    (void)conn;
    return strlen(s);
}

static void sr_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    sr_api_t *api = cls;
    (void)conn;
    (void)toe;
    sr_req_t *req = *con_cls;
    if (req) {
        __atomic_sub_fetch(&api->inflight, req->cap, __ATOMIC_RELAXED);
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

sr_api_t *sr_api_start(const char *listen, sr_store_t *store, char *errstr, size_t errstr_size) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
        snprintf(errstr, errstr_size, "listen: expected host:port, got '%s'", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int gerr = getaddrinfo(h, colon + 1, &hints, &ai);
    if (gerr) {
        snprintf(errstr, errstr_size, "listen %s: %s", listen, gai_strerror(gerr));
        return NULL;
    }
    sr_api_t *api = calloc(1, sizeof(*api));
    if (!api) {
        freeaddrinfo(ai);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    api->store = store;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    api->mhd = MHD_start_daemon(flags, 0, NULL, NULL, sr_handler, api,
                                MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                                MHD_OPTION_NOTIFY_COMPLETED, sr_completed, api,
                                MHD_OPTION_UNESCAPE_CALLBACK, sr_unescape_later, NULL,
                                MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!api->mhd) {
        snprintf(errstr, errstr_size, "cannot listen on %s", listen);
        free(api);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? info->port : 0;
    return api;
}

int sr_api_port(const sr_api_t *api) { return api->port; }

void sr_api_stop(sr_api_t *api) {
    if (!api)
        return;
    MHD_stop_daemon(api->mhd);
    free(api);
}
