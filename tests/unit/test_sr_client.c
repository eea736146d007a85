/* Unit tests for schema-registry/sr_client against an in-process fake
 * registry (libmicrohttpd): answers, caching, errors, basic auth, escaping,
 * and TLS with a throw-away self-signed certificate. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "sr_client.h"
#include "harness.h"

typedef struct {
    char body[4096];
    size_t len;
} fake_req_t;

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static char fake_last_url[512], fake_last_body[4096];
static int fake_auth_required;

static enum MHD_Result fake_reply(struct MHD_Connection *conn, unsigned status, const char *body) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/vnd.schemaregistry.v1+json");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls) {
    (void)cls;
    (void)version;
    fake_req_t *req = *con_cls;
    if (!req) {
        *con_cls = calloc(1, sizeof(fake_req_t));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size < sizeof(req->body) - req->len - 1 ? *upload_size
                                                                   : sizeof(req->body) - req->len - 1;
        memcpy(req->body + req->len, upload, n);
        req->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&fake_mu);
    snprintf(fake_last_url, sizeof(fake_last_url), "%s %s", method, url);
    snprintf(fake_last_body, sizeof(fake_last_body), "%s", req->body);
    int auth = fake_auth_required;
    pthread_mutex_unlock(&fake_mu);
    if (auth) {
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(conn, &pass);
        int ok = user && pass && strcmp(user, "alice") == 0 && strcmp(pass, "s3cret") == 0;
        MHD_free(user);
        MHD_free(pass);
        if (!ok)
            return fake_reply(conn, 401, "{\"error_code\":40101,\"message\":\"Unauthorized\"}");
    }
    if (strcmp(url, "/subjects/s-value/versions") == 0)
        return fake_reply(conn, 200, "{\"id\":5}");
    if (strcmp(url, "/subjects/a b/c/versions") == 0)
        return fake_reply(conn, 200, "{\"id\":6}");
    if (strcmp(url, "/subjects/bad/versions") == 0)
        return fake_reply(conn, 409, "{\"error_code\":409,\"message\":\"incompatible\"}");
    if (strcmp(url, "/subjects/junk/versions") == 0)
        return fake_reply(conn, 200, "<html>");
    if (strcmp(url, "/subjects/s-value") == 0)
        return fake_reply(conn, 200, "{\"subject\":\"s-value\",\"id\":5,\"version\":2,\"schema\":\"\\\"int\\\"\"}");
    if (strcmp(url, "/subjects/s-value/versions/latest") == 0)
        return fake_reply(conn, 200, "{\"subject\":\"s-value\",\"id\":8,\"version\":3,\"schema\":\"\\\"long\\\"\"}");
    if (strcmp(url, "/schemas/ids/5") == 0)
        return fake_reply(conn, 200, "{\"schema\":\"\\\"int\\\"\"}");
    return fake_reply(conn, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
}

static void fake_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *fake;
static char fake_url[64];

static sr_client_t *client(const char *user, const char *pass) {
    char err[256];
    sr_client_conf_t conf = {.url = fake_url, .username = user, .password = pass,
                             .timeout_ms = 5000};
    sr_client_t *c = sr_client_new(&conf, err, sizeof(err));
    if (!c)
        HARNESS_FAIL("sr_client_new: %s", err);
    return c;
}

static void test_register_and_cache(void) {
    char err[256] = "";
    int id = 0;
    sr_client_t *c = client(NULL, NULL);
    if (!c)
        return;
    CHECK_INT(sr_client_register(c, "s-value", "\"int\"", &id, err, sizeof(err)), 0);
    CHECK_INT(id, 5);
    CHECK_STR(fake_last_url, "POST /subjects/s-value/versions");
    CHECK_STR(fake_last_body, "{\"schema\":\"\\\"int\\\"\"}");
    id = 0;
    CHECK_INT(sr_client_register(c, "s-value", "\"int\"", &id, err, sizeof(err)), 0);
    CHECK_INT(id, 5);
    CHECK_INT(sr_client_requests(c), 1);   /* the second came from the cache */

    int version = 0;
    CHECK_INT(sr_client_lookup(c, "s-value", "\"int\"", &id, &version, err, sizeof(err)), 0);
    CHECK_INT(version, 2);
    CHECK_INT(sr_client_lookup(c, "s-value", "\"int\"", &id, &version, err, sizeof(err)), 0);
    CHECK_INT(sr_client_requests(c), 2);

    char *schema = NULL;
    CHECK_INT(sr_client_get_by_id(c, 5, &schema, err, sizeof(err)), 0);
    CHECK_STR(schema, "\"int\"");
    free(schema);
    CHECK_INT(sr_client_get_by_id(c, 5, &schema, err, sizeof(err)), 0);
    CHECK_STR(schema, "\"int\"");
    free(schema);
    CHECK_INT(sr_client_requests(c), 3);

    /* latest is never cached */
    CHECK_INT(sr_client_latest(c, "s-value", &id, &version, &schema, err, sizeof(err)), 0);
    CHECK_INT(id, 8);
    CHECK_INT(version, 3);
    CHECK_STR(schema, "\"long\"");
    free(schema);
    CHECK_INT(sr_client_latest(c, "s-value", &id, &version, NULL, err, sizeof(err)), 0);
    CHECK_INT(sr_client_requests(c), 5);

    /* subjects are escaped on the way, the server sees the original name */
    CHECK_INT(sr_client_register(c, "a b/c", "\"int\"", &id, err, sizeof(err)), 0);
    CHECK_INT(id, 6);
    CHECK_STR(fake_last_url, "POST /subjects/a b/c/versions");
    sr_client_destroy(c);
}

static void test_errors(void) {
    char err[256] = "";
    int id = 0;
    sr_client_t *c = client(NULL, NULL);
    if (!c)
        return;
    CHECK_INT(sr_client_register(c, "bad", "\"int\"", &id, err, sizeof(err)), 409);
    CHECK_STR(err, "POST /subjects/bad/versions: HTTP 409, error 409: incompatible");
    char *schema = (char *)"x";
    CHECK_INT(sr_client_get_by_id(c, 9, &schema, err, sizeof(err)), 40403);
    CHECK(schema == NULL);
    CHECK_INT(sr_client_register(c, "junk", "\"int\"", &id, err, sizeof(err)), -1);
    CHECK_STR(err, "POST /subjects/junk/versions: HTTP 200 with a body that is not JSON");
    /* errors are not cached */
    unsigned long before = sr_client_requests(c);
    CHECK_INT(sr_client_register(c, "bad", "\"int\"", &id, err, sizeof(err)), 409);
    CHECK_INT(sr_client_requests(c), before + 1);
    sr_client_destroy(c);

    sr_client_conf_t conf = {.url = "http://127.0.0.1:1", .timeout_ms = 2000};
    c = sr_client_new(&conf, err, sizeof(err));
    CHECK(c != NULL);
    if (c) {
        CHECK_INT(sr_client_register(c, "s", "\"int\"", &id, err, sizeof(err)), -1);
        CHECK(strstr(err, "POST /subjects/s/versions: ") == err);
        sr_client_destroy(c);
    }
    sr_client_conf_t none = {0};
    CHECK(sr_client_new(&none, err, sizeof(err)) == NULL);
    CHECK_STR(err, "registry URL missing");
    sr_client_destroy(NULL);
}

static void test_basic_auth(void) {
    char err[256] = "";
    int id = 0;
    pthread_mutex_lock(&fake_mu);
    fake_auth_required = 1;
    pthread_mutex_unlock(&fake_mu);
    sr_client_t *anon = client(NULL, NULL), *wrong = client("alice", "nope"),
                *right = client("alice", "s3cret");
    if (anon && wrong && right) {
        CHECK_INT(sr_client_register(anon, "s-value", "\"int\"", &id, err, sizeof(err)), 40101);
        CHECK_INT(sr_client_register(wrong, "s-value", "\"int\"", &id, err, sizeof(err)), 40101);
        CHECK_INT(sr_client_register(right, "s-value", "\"int\"", &id, err, sizeof(err)), 0);
        CHECK_INT(id, 5);
    }
    sr_client_destroy(anon);
    sr_client_destroy(wrong);
    sr_client_destroy(right);
    pthread_mutex_lock(&fake_mu);
    fake_auth_required = 0;
    pthread_mutex_unlock(&fake_mu);
}

/* A self-signed certificate for 127.0.0.1, as PEM strings (malloc'd). */
static int make_cert(char **cert_pem, char **key_pem) {
    int ok = 0;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    if (!pkey || !x || !cb || !kb)
        goto out;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    if (!ext)
        goto out;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, pkey, EVP_sha256()) || !PEM_write_bio_X509(cb, x) ||
        !PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL))
        goto out;
    char *p;
    long n = BIO_get_mem_data(cb, &p);
    *cert_pem = strndup(p, (size_t)n);
    n = BIO_get_mem_data(kb, &p);
    *key_pem = strndup(p, (size_t)n);
    ok = *cert_pem && *key_pem;
out:
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ok;
}

static void test_tls(void) {
    char *cert = NULL, *key = NULL, err[512] = "", ca[] = "/tmp/hookpipe-sr-ca-XXXXXX";
    int id = 0;
    CHECK(make_cert(&cert, &key));
    if (!cert || !key) {
        free(cert);
        free(key);
        return;
    }
    int fd = mkstemp(ca);
    CHECK(fd >= 0 && write(fd, cert, strlen(cert)) == (ssize_t)strlen(cert));
    close(fd);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *tls = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS, 0, NULL,
        NULL, fake_handler, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_NOTIFY_COMPLETED, fake_done, NULL,
        MHD_OPTION_END);
    CHECK(tls != NULL);
    if (tls) {
        char url[64];
        snprintf(url, sizeof(url), "https://127.0.0.1:%u",
                 (unsigned)MHD_get_daemon_info(tls, MHD_DAEMON_INFO_BIND_PORT)->port);
        static const struct { const char *ca; int insecure, want; } cases[] = {
            {NULL, 0, -1},   /* not in the system store: refused */
            {"ca", 0, 0},    /* trusted through ca_file */
            {NULL, 1, 0},    /* verification off */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            sr_client_conf_t conf = {.url = url, .ca_file = cases[i].ca ? ca : NULL,
                                     .insecure = cases[i].insecure, .timeout_ms = 5000};
            sr_client_t *c = sr_client_new(&conf, err, sizeof(err));
            CHECK(c != NULL);
            if (!c)
                continue;
            int rc = sr_client_register(c, "s-value", "\"int\"", &id, err, sizeof(err));
            if (rc != cases[i].want)
                HARNESS_FAIL("TLS case %zu: rc %d (%s), want %d", i, rc, err, cases[i].want);
            if (rc == 0)
                CHECK_INT(id, 5);
            sr_client_destroy(c);
        }
        MHD_stop_daemon(tls);
    }
    remove(ca);
    free(cert);
    free(key);
}

int main(void) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fake = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, fake_handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, fake_done, NULL, MHD_OPTION_END);
    if (!fake) {
        fprintf(stderr, "cannot start the fake registry\n");
        return 1;
    }
    snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%u/",
             (unsigned)MHD_get_daemon_info(fake, MHD_DAEMON_INFO_BIND_PORT)->port);
    TEST(test_register_and_cache);
    TEST(test_errors);
    TEST(test_basic_auth);
    TEST(test_tls);
    MHD_stop_daemon(fake);
    return test_done();
}
