/* sr_client: Confluent schema registry client on libcurl, with caches. */
#include "sr_client.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "errstr.h"
#include "map.h"

#define SR_CLIENT_MAX_RESPONSE (16 << 20)
#define SR_CT "application/vnd.schemaregistry.v1+json"

typedef struct {
    int id, version;
} sr_ids_t;

struct sr_client {
    pthread_mutex_t mu;
    CURL *curl;
    struct curl_slist *headers;
    char *url, *username, *password, *ca_file, *cert_file, *key_file;
    int insecure;
    long timeout_ms;
    map_t by_schema;     /* "subject\nschema" -> sr_ids_t* (register) */
    map_t by_lookup;     /* "subject\nschema" -> sr_ids_t* (lookup) */
    map_t by_id;         /* int id -> char* schema */
    unsigned long requests;
    buf_t body;             /* response being received */
    int too_big;
};

static pthread_once_t sr_curl_once = PTHREAD_ONCE_INIT;
static void sr_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t sr_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
    sr_client_t *c = userdata;
    size_t n = size * nmemb;
    if (c->body.len + n > SR_CLIENT_MAX_RESPONSE) {
        c->too_big = 1;
        return 0;
    }
    return buf_append(&c->body, ptr, n) < 0 ? 0 : n;
}

static char *sr_strdup_opt(const char *s, int *fail) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

sr_client_t *sr_client_new(const sr_client_conf_t *conf, char *errstr, size_t errstr_size) {
    if (!conf || !conf->url || !*conf->url) {
        errstr_fmt(-1, errstr, errstr_size, "registry URL missing");
        return NULL;
    }
    pthread_once(&sr_curl_once, sr_curl_init);
    sr_client_t *c = calloc(1, sizeof(*c));
    if (!c) {
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    int fail = 0;
    size_t ulen = strlen(conf->url);
    c->url = sr_strdup_opt(conf->url, &fail);
    if (c->url && ulen > 0 && c->url[ulen - 1] == '/')
        c->url[ulen - 1] = '\0';
    c->username = sr_strdup_opt(conf->username, &fail);
    c->password = sr_strdup_opt(conf->password ? conf->password : (conf->username ? "" : NULL),
                                &fail);
    c->ca_file = sr_strdup_opt(conf->ca_file, &fail);
    c->cert_file = sr_strdup_opt(conf->cert_file, &fail);
    c->key_file = sr_strdup_opt(conf->key_file, &fail);
    c->insecure = conf->insecure;
    c->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 10000;
    c->curl = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: " SR_CT);
    if (h)
        c->headers = h;
    if (h && !(h = curl_slist_append(c->headers, "Accept: " SR_CT)))
        fail = 1;
    if (fail || !c->curl || !c->headers) {
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        sr_client_destroy(c);
        return NULL;
    }
    return c;
}

static void sr_cache_free(map_t *m) {
    for (size_t i = 0; i < m->nbuckets; i++)
        for (map_entry_t *e = m->buckets[i]; e; e = e->next)
            free(e->val);
    map_free(m);
}

void sr_client_destroy(sr_client_t *c) {
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    sr_cache_free(&c->by_schema);
    sr_cache_free(&c->by_lookup);
    sr_cache_free(&c->by_id);
    free(c->url);
    free(c->username);
    free(c->password);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    buf_free(&c->body);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Stores val (taken over) under key; empties the cache when full. */
static void sr_cache_put(map_t *m, const void *key, size_t klen, void *val) {
    if (m->count >= SR_CLIENT_CACHE_MAX)
        sr_cache_free(m);
    void *old = map_get(m, key, klen);
    if (map_put(m, key, klen, val) < 0) {
        free(val);
        return;
    }
    free(old);
}

/* One request; with the lock held. On 2xx *out is the parsed body (caller
 * decrefs) and 0 is returned; otherwise the error convention. */
static int sr_request(sr_client_t *c, const char *method, const char *path, json_t *body,
                      json_t **out, char *errstr, size_t errstr_size) {
    char url[4096];
    char *payload = NULL;
    int rc = -1;
    *out = NULL;
    if (snprintf(url, sizeof(url), "%s%s", c->url, path) >= (int)sizeof(url))
        return errstr_fmt(-1, errstr, errstr_size, "URL too long");
    if (body && !(payload = json_dumps(body, JSON_COMPACT)))
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (payload) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sr_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
    }
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    buf_reset(&c->body);
    c->too_big = 0;
    c->requests++;
    CURLcode cerr = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cerr != CURLE_OK) {
        rc = errstr_fmt(-1, errstr, errstr_size, "%s %s: %s", method, path,
                        c->too_big ? "response too large" : curl_easy_strerror(cerr));
        goto out;
    }
    json_t *j = json_loadb(buf_str(&c->body), c->body.len, JSON_DECODE_ANY, NULL);
    if (status >= 200 && status < 300) {
        if (!j) {
            rc = errstr_fmt(-1, errstr, errstr_size, "%s %s: HTTP %ld with a body that is not JSON",
                            method, path, status);
            goto out;
        }
        *out = j;
        rc = 0;
        goto out;
    }
    json_int_t code = 0;
    const char *msg = NULL;
    if (j)
        json_unpack(j, "{s?I s?s}", "error_code", &code, "message", &msg);
    if (code <= 0 || code > INT_MAX)
        code = status > 0 ? status : -1;
    rc = errstr_fmt((int)code, errstr, errstr_size, "%s %s: HTTP %ld, error %lld: %s", method, path,
                    status, (long long)code, msg ? msg : "(no message)");
    if (j)
        json_decref(j);
out:
    free(payload);
    return rc;
}

/* "/subjects/<escaped subject><suffix>" */
static int sr_subject_path(sr_client_t *c, const char *subject, const char *suffix, char *out,
                           size_t size) {
    char *esc = curl_easy_escape(c->curl, subject, 0);
    if (!esc)
        return -1;
    int n = snprintf(out, size, "/subjects/%s%s", esc, suffix);
    curl_free(esc);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* key "subject\nschema", malloc'd */
static char *sr_cache_key(const char *subject, const char *schema, size_t *klen) {
    size_t a = strlen(subject), b = strlen(schema);
    char *k = malloc(a + b + 1);
    if (!k)
        return NULL;
    memcpy(k, subject, a);
    k[a] = '\n';
    memcpy(k + a + 1, schema, b);
    *klen = a + b + 1;
    return k;
}

static int sr_schema_call(sr_client_t *c, int lookup, const char *subject, const char *schema,
                          int *id, int *version, char *errstr, size_t errstr_size) {
    size_t klen = 0;
    char path[2048];
    int rc;
    char *key = sr_cache_key(subject, schema, &klen);
    if (!key)
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    pthread_mutex_lock(&c->mu);
    map_t *cache = lookup ? &c->by_lookup : &c->by_schema;
    sr_ids_t *hit = map_get(cache, key, klen);
    if (hit) {
        *id = hit->id;
        if (version)
            *version = hit->version;
        rc = 0;
        goto out;
    }
    if (sr_subject_path(c, subject, lookup ? "" : "/versions", path, sizeof(path)) < 0) {
        rc = errstr_fmt(-1, errstr, errstr_size, "subject name too long");
        goto out;
    }
    json_t *req = json_pack("{ss}", "schema", schema), *resp = NULL;
    rc = req ? sr_request(c, "POST", path, req, &resp, errstr, errstr_size)
             : errstr_fmt(-1, errstr, errstr_size, "out of memory");
    if (req)
        json_decref(req);
    if (rc)
        goto out;
    json_int_t rid = 0, rver = 0;
    if (json_unpack(resp, "{sI s?I}", "id", &rid, "version", &rver) < 0 || rid <= 0 ||
        rid > INT_MAX || (lookup && (rver <= 0 || rver > INT_MAX))) {
        json_decref(resp);
        rc = errstr_fmt(-1, errstr, errstr_size, "POST %s: answer without a valid id", path);
        goto out;
    }
    json_decref(resp);
    *id = (int)rid;
    if (version)
        *version = (int)rver;
    sr_ids_t *v = malloc(sizeof(*v));
    if (v) {
        *v = (sr_ids_t){(int)rid, (int)rver};
        sr_cache_put(cache, key, klen, v);
    }
out:
    pthread_mutex_unlock(&c->mu);
    free(key);
    return rc;
}

int sr_client_register(sr_client_t *c, const char *subject, const char *schema, int *id,
                       char *errstr, size_t errstr_size) {
    return sr_schema_call(c, 0, subject, schema, id, NULL, errstr, errstr_size);
}

int sr_client_lookup(sr_client_t *c, const char *subject, const char *schema, int *id,
                     int *version, char *errstr, size_t errstr_size) {
    int v = 0;
    return sr_schema_call(c, 1, subject, schema, id, version ? version : &v, errstr,
                          errstr_size);
}

int sr_client_get_by_id(sr_client_t *c, int id, char **schema, char *errstr,
                        size_t errstr_size) {
    int rc = 0;
    *schema = NULL;
    pthread_mutex_lock(&c->mu);
    const char *hit = map_get(&c->by_id, &id, sizeof(id));
    if (!hit) {
        char path[64];
        json_t *resp = NULL;
        snprintf(path, sizeof(path), "/schemas/ids/%d", id);
        if ((rc = sr_request(c, "GET", path, NULL, &resp, errstr, errstr_size)))
            goto out;
        const char *text = json_string_value(json_object_get(resp, "schema"));
        char *copy = text ? strdup(text) : NULL;
        json_decref(resp);
        if (!copy) {
            rc = errstr_fmt(-1, errstr, errstr_size, "GET %s: answer without a schema", path);
            goto out;
        }
        sr_cache_put(&c->by_id, &id, sizeof(id), copy);
        hit = map_get(&c->by_id, &id, sizeof(id));
        if (!hit) {
            rc = errstr_fmt(-1, errstr, errstr_size, "out of memory");
            goto out;
        }
    }
    if (!(*schema = strdup(hit)))
        rc = errstr_fmt(-1, errstr, errstr_size, "out of memory");
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int sr_client_latest(sr_client_t *c, const char *subject, int *id, int *version,
                     char **schema, char *errstr, size_t errstr_size) {
    char path[2048];
    json_t *resp = NULL;
    int rc;
    if (schema)
        *schema = NULL;
    pthread_mutex_lock(&c->mu);
    if (sr_subject_path(c, subject, "/versions/latest", path, sizeof(path)) < 0) {
        rc = errstr_fmt(-1, errstr, errstr_size, "subject name too long");
        goto out;
    }
    if ((rc = sr_request(c, "GET", path, NULL, &resp, errstr, errstr_size)))
        goto out;
    json_int_t rid, rver;
    const char *text;
    if (json_unpack(resp, "{sI sI ss}", "id", &rid, "version", &rver, "schema", &text) < 0 ||
        rid <= 0 || rid > INT_MAX || rver <= 0 || rver > INT_MAX) {
        rc = errstr_fmt(-1, errstr, errstr_size, "GET %s: incomplete answer", path);
    } else {
        *id = (int)rid;
        *version = (int)rver;
        if (schema && !(*schema = strdup(text)))
            rc = errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    json_decref(resp);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

unsigned long sr_client_requests(const sr_client_t *c) {
    pthread_mutex_lock((pthread_mutex_t *)&c->mu);
    unsigned long n = c->requests;
    pthread_mutex_unlock((pthread_mutex_t *)&c->mu);
    return n;
}
