/* Unit tests for the utility layer in common/: net_addr, buf, arena, hex,
 * base64, the kafka.* defaults and the client-id rule. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "arena.h"
#include "base64.h"
#include "buf.h"
#include "cfg.h"
#include "harness.h"
#include "hex.h"
#include "integ.h"
#include "kafka.h"
#include "net_addr.h"

static void test_net_addr(void) {
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[256];
    CHECK_INT(net_addr_parse("127.0.0.1:80", &ss, &sl, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(net_addr_parse("[::1]:80", &ss, &sl, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK_INT(net_addr_parse(":8080", &ss, &sl, err, sizeof(err)), -1);
    CHECK_INT(net_addr_parse("127.0.0.1:http", &ss, &sl, err, sizeof(err)), -1);
}

static void test_buf_basics(void) {
    buf_t b = BUF_INIT;
    CHECK_STR(buf_str(&b), "");
    CHECK_INT(buf_append(&b, NULL, 0), 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(buf_puts(&b, "abc"), 0);
    CHECK_INT(buf_putc(&b, '-'), 0);
    CHECK_INT(buf_printf(&b, "%d:%s", 42, "x"), 0);
    CHECK_STR(buf_str(&b), "abc-42:x");
    CHECK_INT(b.len, 8);
    /* embedded NUL bytes are kept; the length counts them */
    CHECK_INT(buf_append(&b, "\0z", 2), 0);
    CHECK_MEM(b.p, b.len, "abc-42:x\0z", 10);
    buf_truncate(&b, 3);
    CHECK_STR(buf_str(&b), "abc");
    buf_truncate(&b, 100);              /* longer than the contents: nothing */
    CHECK_INT(b.len, 3);
    buf_reset(&b);
    CHECK_STR(buf_str(&b), "");
    CHECK(b.cap > 0);                   /* memory kept for reuse */
    buf_free(&b);
    CHECK(b.p == NULL);
    buf_free(&b);                       /* twice: a no-op */
}

static void test_buf_growth(void) {
    /* printf across the first capacity, many times over: every byte right */
    buf_t b = BUF_INIT;
    char want[64];
    size_t total = 0;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(want, sizeof(want), "<%d|%s>", i, i % 7 ? "xyz" : "");
        CHECK_INT(buf_printf(&b, "<%d|%s>", i, i % 7 ? "xyz" : ""), 0);
        total += (size_t)n;
        CHECK_MEM(b.p + total - (size_t)n, n, want, n);
    }
    CHECK_INT(b.len, total);
    CHECK_INT(strlen(b.p), total);
    /* a single append far larger than the capacity */
    char *big = malloc(1 << 20);
    memset(big, 'q', 1 << 20);
    CHECK_INT(buf_reserve(&b, 0), 0);
    CHECK_INT(buf_append(&b, big, 1 << 20), 0);
    CHECK_INT(b.len, total + (1 << 20));
    CHECK(b.p[b.len] == '\0');
    free(big);
    buf_free(&b);
}

static void test_buf_detach(void) {
    buf_t b = BUF_INIT;
    size_t len = 99;
    char *s = buf_detach(&b, &len);     /* nothing appended: an empty string */
    CHECK_STR(s, "");
    CHECK_INT(len, 0);
    free(s);
    buf_puts(&b, "hello");
    s = buf_detach(&b, &len);
    CHECK_STR(s, "hello");
    CHECK_INT(len, 5);
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
    free(s);
    s = buf_detach(&b, NULL);
    CHECK_STR(s, "");
    free(s);
}

static void test_buf_oom_sticky(void) {
    /* an impossible size fails as out of memory, never aborts, and sticks */
    buf_t b = BUF_INIT;
    CHECK_INT(buf_puts(&b, "keep"), 0);
    CHECK_INT(buf_reserve(&b, SIZE_MAX - 2), -1);
    CHECK_INT(b.oom, 1);
    CHECK_INT(buf_puts(&b, "more"), -1);
    CHECK_INT(buf_printf(&b, "%s", "more"), -1);
    CHECK_STR(buf_str(&b), "keep");     /* contents as they were */
    size_t len = 7;
    CHECK(buf_detach(&b, &len) == NULL);
    CHECK_INT(len, 0);
    CHECK_INT(b.oom, 0);                /* detach leaves it usable */
    CHECK_INT(buf_puts(&b, "again"), 0);
    CHECK_INT(buf_append(&b, "x", SIZE_MAX), -1);
    buf_reset(&b);
    CHECK_INT(b.oom, 0);
    CHECK_INT(buf_puts(&b, "ok"), 0);
    CHECK_STR(buf_str(&b), "ok");
    buf_free(&b);
}

static void test_arena(void) {
    arena_t a = {0};
    arena_init(&a, 64, 256, 512);
    void *ptrs[400];
    for (size_t i = 0; i < 400; i++) {
        size_t n = (i * 37) % 90;       /* 0..89 bytes, some 0 */
        unsigned char *p = arena_alloc(&a, n);
        CHECK(p != NULL);
        CHECK_INT((uintptr_t)p % ARENA_ALIGN, 0);
        memset(p, (int)(i & 0xff), n);
        ptrs[i] = p;
    }
    /* nothing overlapped: every block still holds its own byte */
    for (size_t i = 0; i < 400; i++) {
        size_t n = (i * 37) % 90;
        for (size_t k = 0; k < n; k++)
            if (((unsigned char *)ptrs[i])[k] != (unsigned char)(i & 0xff)) {
                CHECK_INT(((unsigned char *)ptrs[i])[k], i & 0xff);
                break;
            }
    }
    /* 0-byte allocations are distinct pointers */
    void *z1 = arena_alloc(&a, 0), *z2 = arena_alloc(&a, 0);
    CHECK(z1 && z2 && z1 != z2);
    /* a block larger than chunk_max gets a chunk of its own */
    char *big = arena_alloc(&a, 10000);
    CHECK(big != NULL);
    memset(big, 1, 10000);
    size_t before = a.total;
    CHECK(before > 512);
    arena_reset(&a);
    CHECK(a.total <= 512 + 64);         /* kept at most keep_max (head always) */
    CHECK(a.head != NULL);
    char *s = arena_strndup(&a, "abc\0def", 7);
    CHECK_MEM(s, 8, "abc\0def", 8);
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);          /* overflow: NULL, no abort */
    CHECK(arena_alloc(&a, SIZE_MAX - 8) == NULL);
    CHECK(arena_strndup(&a, "x", SIZE_MAX) == NULL);
    CHECK(arena_alloc(&a, 8) != NULL);                 /* still usable */
    arena_free(&a);
    CHECK(a.head == NULL && a.total == 0);
    arena_free(&a);
    CHECK(arena_alloc(&a, 5) != NULL);                 /* reusable after free */
    arena_free(&a);
}

static void test_arena_reuse(void) {
    /* after a reset the kept chunks are reused, not reallocated */
    arena_t a = {0};
    arena_init(&a, 128, 128, 1 << 20);
    for (int i = 0; i < 50; i++)
        CHECK(arena_alloc(&a, 100) != NULL);
    size_t total = a.total;
    for (int round = 0; round < 3; round++) {
        arena_reset(&a);
        for (int i = 0; i < 50; i++)
            CHECK(arena_alloc(&a, 100) != NULL);
        CHECK_INT(a.total, total);
    }
    arena_free(&a);
}

static void test_hex(void) {
    char out[9];
    hex_encode("\x00\x9f\xff\x10", 4, out);
    CHECK_STR(out, "009fff10");
    hex_encode("", 0, out);
    CHECK_STR(out, "");
    static const struct {
        const char *in;
        hex_case_t accept;
        int want;               /* bytes, or -1 */
        const char *bytes;
    } cases[] = {
        {"", HEX_ANY_CASE, 0, ""},
        {"00ff", HEX_ANY_CASE, 2, "\x00\xff"},
        {"00FF", HEX_ANY_CASE, 2, "\x00\xff"},
        {"00FF", HEX_LOWER, -1, NULL},
        {"aB", HEX_ANY_CASE, 1, "\xab"},
        {"0", HEX_ANY_CASE, -1, NULL},          /* odd */
        {"0g", HEX_ANY_CASE, -1, NULL},
        {"0 ", HEX_ANY_CASE, -1, NULL},
        {"\xc3\xa9", HEX_ANY_CASE, -1, NULL},   /* non-ASCII */
        {"0123456789abcdef01", HEX_ANY_CASE, -1, NULL},  /* too long for out */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char b[8];
        int n = hex_decode(cases[i].in, strlen(cases[i].in), b, sizeof(b), cases[i].accept);
        CHECK_INT(n, cases[i].want);
        if (n > 0)
            CHECK_MEM(b, n, cases[i].bytes, n);
    }
    CHECK_INT(hex_decode("abcd", 4, NULL, 2, HEX_LOWER), 2);   /* check only */
    CHECK_INT(hex_digit_value('F', HEX_ANY_CASE), 15);
    CHECK_INT(hex_digit_value('F', HEX_LOWER), -1);
    CHECK_INT(hex_digit_value(-1, HEX_ANY_CASE), -1);
    CHECK_INT(hex_digits[10], 'a');
}

static void test_base64(void) {
    static const struct {
        const char *raw;
        const char *enc;
    } rfc[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},        {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        char enc[16];
        unsigned char dec[16];
        size_t n = strlen(rfc[i].raw);
        CHECK_INT(base64_encode(rfc[i].raw, n, enc), BASE64_ENCODED_LEN(n));
        CHECK_STR(enc, rfc[i].enc);
        CHECK_INT(base64_decode(rfc[i].enc, strlen(rfc[i].enc), dec, sizeof(dec)), n);
        CHECK_MEM(dec, n, rfc[i].raw, n);
    }
    static const struct {
        const char *in;
        int want;
    } odd[] = {
        {"Zm9vYmE", 5},         /* unpadded */
        {"-_-_", 3},            /* URL alphabet */
        {"+/+/", 3},
        {"Z", -1},              /* impossible length */
        {"Zm9v!A==", -1},
        {"Zm 9v", -1},
        {"Zm9vYmFyYmF6cXV4", -1},   /* more than out_size (8) */
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        unsigned char dec[8];
        CHECK_INT(base64_decode(odd[i].in, strlen(odd[i].in), dec, sizeof(dec)), odd[i].want);
    }
    /* every byte value round-trips */
    unsigned char all[256], back[256];
    char enc[BASE64_ENCODED_LEN(256) + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    base64_encode(all, 256, enc);
    CHECK_INT(base64_decode(enc, strlen(enc), back, sizeof(back)), 256);
    CHECK_MEM(back, 256, all, 256);
}

static void test_kafka_default(void) {
    static const cfg_opt_t table[] = {{"x", CFG_STR, NULL, 0, -1, 0, "x"}};
    char *argv[] = {"t", "-X", "linger.ms=7", "--kafka.acks=1", NULL};
    char err[256];
    cfg_t *cfg = cfg_new("t", "", table, 1, "HOOKPIPE_TEST_COMMON");
    CHECK_INT(cfg_load(cfg, 4, argv, err, sizeof(err)), 0);
    CHECK_STR(kafka_cfg_get(cfg, "linger.ms"), "7");
    CHECK_STR(kafka_cfg_get(cfg, "acks"), "1");
    CHECK(kafka_cfg_get(cfg, "client.id") == NULL);
    CHECK(kafka_cfg_get(NULL, "acks") == NULL);
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, err, sizeof(err));
    CHECK(conf != NULL);
    /* the user's value wins; an unset property gets ours */
    CHECK_INT(kafka_conf_default(conf, cfg, "linger.ms", "100", err, sizeof(err)), 0);
    CHECK_INT(kafka_conf_default(conf, cfg, "client.id", "ours", err, sizeof(err)), 0);
    char v[64];
    size_t vs = sizeof(v);
    CHECK_INT(rd_kafka_conf_get(conf, "linger.ms", v, &vs), RD_KAFKA_CONF_OK);
    CHECK_STR(v, "7");
    vs = sizeof(v);
    CHECK_INT(rd_kafka_conf_get(conf, "client.id", v, &vs), RD_KAFKA_CONF_OK);
    CHECK_STR(v, "ours");
    /* a bad default is an error with the property's name */
    CHECK_INT(kafka_conf_default(conf, cfg, "no.such.property", "1", err, sizeof(err)), -1);
    CHECK(strstr(err, "kafka.no.such.property") != NULL);
    rd_kafka_conf_destroy(conf);
    cfg_destroy(cfg);
}

static void test_client_id(void) {
    static const struct {
        const char *id;
        int ok;
    } cases[] = {
        {"48213977", 1}, {"a-b.c_d~E", 1}, {"", 0}, {"a/b", 0}, {"a b", 0}, {"a%20", 0},
        {"\xc3\xa9", 0}, {"a?b", 0},
        {"1234567890123456789012345678901234567890123456789012345678901234", 1},   /* 64 */
        {"12345678901234567890123456789012345678901234567890123456789012345", 0},  /* 65 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (integ_client_id_ok(cases[i].id) != cases[i].ok)
            HARNESS_FAIL("integ_client_id_ok(\"%s\") != %d", cases[i].id, cases[i].ok);
    for (int i = 0; i < 50; i++) {
        char id[9];
        CHECK_INT(integ_client_id_new(id), 0);
        CHECK_INT(strlen(id), 8);
        CHECK(id[0] >= '1' && id[0] <= '9');
        CHECK(integ_client_id_ok(id));
        CHECK_INT(strspn(id, "0123456789"), 8);
    }
}

int main(void) {
    TEST(test_net_addr);
    TEST(test_buf_basics);
    TEST(test_buf_growth);
    TEST(test_buf_detach);
    TEST(test_buf_oom_sticky);
    TEST(test_arena);
    TEST(test_arena_reuse);
    TEST(test_hex);
    TEST(test_base64);
    TEST(test_kafka_default);
    TEST(test_client_id);
    return test_done();
}
