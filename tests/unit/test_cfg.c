/* Unit tests for common/cfg: sources, priorities, types, errors. */
#include <stdlib.h>

#include "cfg.h"
#include "harness.h"

static const cfg_opt_t table[] = {
    {"listen", CFG_STR, "127.0.0.1:8080", 0, -1, 0, "address"},
    {"max.body", CFG_INT, "4m", 1, 1LL << 30, 0, "bytes"},
    {"verbose", CFG_BOOL, "false", 0, -1, 0, "chatty"},
    {"token", CFG_STR, NULL, 0, -1, 1, "a secret"},
};

static cfg_t *load(int argc, char **argv, int *rc, char *err, size_t errsz) {
    cfg_t *cfg = cfg_new("t", NULL, table, sizeof(table) / sizeof(table[0]), "HPTEST");
    *rc = cfg_load(cfg, argc, argv, err, errsz);
    return cfg;
}

static void test_defaults(void) {
    char err[256];
    int rc;
    char *argv[] = {"t", NULL};
    cfg_t *cfg = load(1, argv, &rc, err, sizeof(err));
    CHECK_INT(rc, 0);
    CHECK_STR(cfg_str(cfg, "listen"), "127.0.0.1:8080");
    CHECK_INT(cfg_int(cfg, "max.body"), 4 << 20);
    CHECK_INT(cfg_bool(cfg, "verbose"), 0);
    CHECK(cfg_str(cfg, "token") == NULL);
    cfg_destroy(cfg);
}

static void test_priority(void) {
    char err[256], path[] = "/tmp/hookpipe-cfg-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\nlisten = 0.0.0.0:1\nmax.body = 10k\nkafka.acks = all\n");
    fclose(f);
    setenv("HPTEST_LISTEN", "0.0.0.0:2", 1);
    setenv("HOOKPIPE_KAFKA_SASL_MECHANISMS", "PLAIN", 1);
    char *argv[] = {"t", "--config", path, "--verbose", "-X", "linger.ms=5", "pos", NULL};
    int rc;
    cfg_t *cfg = load(7, argv, &rc, err, sizeof(err));
    CHECK_INT(rc, 0);
    CHECK_STR(cfg_str(cfg, "listen"), "0.0.0.0:2");
    CHECK_INT(cfg_int(cfg, "max.body"), 10240);
    CHECK_INT(cfg_bool(cfg, "verbose"), 1);
    CHECK_INT(cfg_argc(cfg), 1);
    CHECK_STR(cfg_argv(cfg)[0], "pos");
    int seen = 0;
    for (size_t i = 0; i < cfg_kafka_count(cfg); i++) {
        const char *n, *v;
        cfg_kafka_get(cfg, i, &n, &v);
        if (!strcmp(n, "acks")) { CHECK_STR(v, "all"); seen++; }
        if (!strcmp(n, "sasl.mechanisms")) { CHECK_STR(v, "PLAIN"); seen++; }
        if (!strcmp(n, "linger.ms")) { CHECK_STR(v, "5"); seen++; }
    }
    CHECK_INT(seen, 3);
    cfg_destroy(cfg);
    unsetenv("HPTEST_LISTEN");
    unsetenv("HOOKPIPE_KAFKA_SASL_MECHANISMS");
    char *argv2[] = {"t", "--listen=x", NULL};
    cfg = load(2, argv2, &rc, err, sizeof(err));
    CHECK_STR(cfg_str(cfg, "listen"), "x");
    cfg_destroy(cfg);
    remove(path);
}

static void test_errors(void) {
    static const struct { const char *arg, *msg; } cases[] = {
        {"--nope=1", "unknown key 'nope' (see --help)"},
        {"--max.body=abc", "max.body: 'abc' is not an integer"},
        {"--max.body=0", "max.body: 0 is outside [1, 1073741824]"},
        {"--max.body=2g", "max.body: 2147483648 is outside [1, 1073741824]"},
        {"--verbose=maybe", "verbose: 'maybe' is not a boolean"},
        {"-q", "unknown option '-q' (see --help)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        int rc;
        char *argv[] = {"t", (char *)cases[i].arg, NULL};
        cfg_t *cfg = load(2, argv, &rc, err, sizeof(err));
        CHECK_INT(rc, -1);
        CHECK_STR(err, cases[i].msg);
        cfg_destroy(cfg);
    }
    char err[256], path[] = "/tmp/hookpipe-cfg-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "listen = a\n\nbogus line\n");
    fclose(f);
    char *argv[] = {"t", "--config", path, NULL};
    int rc;
    cfg_t *cfg = load(3, argv, &rc, err, sizeof(err));
    CHECK_INT(rc, -1);
    char want[512];
    snprintf(want, sizeof(want), "%s:3: expected key = value", path);
    CHECK_STR(err, want);
    cfg_destroy(cfg);
    remove(path);
}

static void test_redaction(void) {
    char err[256], buf[1024] = "";
    int rc;
    char *argv[] = {"t", "--token=s3cret", "-X", "sasl.password=p4ss", NULL};
    cfg_t *cfg = load(4, argv, &rc, err, sizeof(err));
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cfg_print(cfg, f);
    fclose(f);
    CHECK(strstr(buf, "s3cret") == NULL);
    CHECK(strstr(buf, "p4ss") == NULL);
    CHECK(strstr(buf, "token = [redacted]") != NULL);
    cfg_destroy(cfg);
}

int main(void) {
    TEST(test_defaults);
    TEST(test_priority);
    TEST(test_errors);
    TEST(test_redaction);
    return test_done();
}
