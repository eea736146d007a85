/* Unit tests for common/integ: naming rules, primary-key fields, record JSON, tokens. */
#include <stdlib.h>

#include "integ.h"
#include "harness.h"

static void test_name_rules(void) {
    static const struct {
        const char *display, *want;   /* want NULL: refused */
    } cases[] = {
        {"Stitch Incoming Webhooks", "stitch_incoming_webhooks"},
        {"stripe-events", "stripe_events"},
        {"Stripe Events (prod)!", "stripe_events_prod"},
        {"a.b,c;d:e/f@g#h$i%j&k*l+m=n?o'p\"q", "abcdefghijklmnopq"},
        {"already_ok_123", "already_ok_123"},
        {"Café Orders", "caf_orders"},
        {"日本 Shop", "_shop"},
        {"  Padded Name\t", "padded_name"},
        {"_leading", "_leading"},
        {"Two  Spaces", "two__spaces"},
        {"x", "x"},
        {"", NULL},
        {"   ", NULL},
        {"!!!", NULL},
        {"日本", NULL},
        {"123 Shop", NULL},
        {"-9", "_9"},
        /* 59 characters is the limit, 60 is refused */
        {"abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcd",
         "abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcd"},
        {"abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcde", NULL},
        /* dropped characters do not count */
        {"abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcd!!!",
         "abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcd"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[INTEG_NAME_MAX + 1] = "", err[256] = "";
        int rc = integ_name_from_display(cases[i].display, out, sizeof(out), err, sizeof(err));
        if (rc != (cases[i].want ? 0 : -1))
            HARNESS_FAIL("case %zu \"%s\": rc %d, out \"%s\", err \"%s\"", i,
                         cases[i].display, rc, out, err);
        if (cases[i].want) {
            CHECK_INT(rc, 0);
            CHECK_STR(out, cases[i].want);
        } else {
            CHECK_INT(rc, -1);
            CHECK(err[0] != '\0');
        }
    }
    char small[4], err[256];
    CHECK_INT(integ_name_from_display("abcdef", small, sizeof(small), err, sizeof(err)), -1);
    CHECK_INT(integ_name_from_display(NULL, small, sizeof(small), err, sizeof(err)), -1);
}

static void test_pk_rules(void) {
    char f50[51], f51[52], u50[101], u51[103];
    memset(f50, 'a', 50), f50[50] = '\0';
    memset(f51, 'a', 51), f51[51] = '\0';
    for (int i = 0; i < 50; i++)
        memcpy(u50 + 2 * i, "\xc3\xa9", 2);   /* 50 x U+00E9: 100 bytes, 50 characters */
    u50[100] = '\0';
    memcpy(u51, u50, 100);
    memcpy(u51 + 100, "\xc3\xa9", 3);
    static const char *const bad_utf8[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80"};
    const struct {
        const char *field;
        int want;
    } cases[] = {
        {"id", 0},
        {f50, 0},
        {f51, -1},
        {u50, 0},
        {u51, -1},
        {"", -1},
        {NULL, -1},
        {"user.id", -1},
        {".", -1},
        {"Order ID", 0},
        {"tab\there", -1},
        {"del\x7f", -1},
        {bad_utf8[0], -1},
        {bad_utf8[1], -1},
        {bad_utf8[2], -1},
        {bad_utf8[3], -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        int rc = integ_pk_field_check(cases[i].field, err, sizeof(err));
        if (rc != cases[i].want)
            HARNESS_FAIL("case %zu: integ_pk_field_check == %d, want %d (%s)", i, rc,
                         cases[i].want, err);
        if (rc < 0)
            CHECK(err[0] != '\0');
    }
}

static integ_t *sample(void) {
    static const char json[] =
        "{\"name\":\"stripe_events\",\"display_name\":\"Stripe Events \\u00e9\","
        "\"client_id\":\"48213977\",\"topic\":\"webhooks.stripe_events\","
        "\"rejected_topic\":\"webhooks.stripe_events.rejected\","
        "\"primary_key\":[\"id\",\"ts\"],"
        "\"tokens\":[{\"id\":\"3f9c2a17b0de\",\"sha256\":"
        "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
        "\"created_at\":\"2026-11-26T20:14:37.123456Z\"}],"
        "\"status\":\"paused\",\"max_body\":4194304,"
        "\"created_at\":\"2026-11-26T20:14:37.123456Z\","
        "\"updated_at\":\"2026-11-26T20:15:00.000001Z\",\"future_field\":{\"x\":1}}";
    char err[256] = "";
    integ_t *in = integ_from_json(json, sizeof(json) - 1, err, sizeof(err));
    if (!in)
        HARNESS_FAIL("sample did not parse: %s", err);
    return in;
}

static void check_same(const integ_t *a, const integ_t *b) {
    CHECK_STR(a->name, b->name);
    CHECK_STR(a->display_name, b->display_name);
    CHECK_STR(a->client_id, b->client_id);
    CHECK_STR(a->topic, b->topic);
    CHECK_STR(a->rejected_topic, b->rejected_topic);
    CHECK_INT(a->npk, b->npk);
    for (size_t i = 0; i < a->npk && i < b->npk; i++)
        CHECK_STR(a->primary_key[i], b->primary_key[i]);
    CHECK_INT(a->ntokens, b->ntokens);
    for (size_t i = 0; i < a->ntokens && i < b->ntokens; i++) {
        CHECK_STR(a->tokens[i].id, b->tokens[i].id);
        CHECK_STR(a->tokens[i].created_at, b->tokens[i].created_at);
        CHECK(memcmp(a->tokens[i].sha256, b->tokens[i].sha256, 32) == 0);
    }
    CHECK_INT(a->paused, b->paused);
    CHECK_INT(a->max_body, b->max_body);
    CHECK_STR(a->created_at, b->created_at);
    CHECK_STR(a->updated_at, b->updated_at);
}

static void test_json_round_trip(void) {
    char err[256] = "";
    integ_t *in = sample();
    if (!in)
        return;
    CHECK_STR(in->name, "stripe_events");
    CHECK_STR(in->display_name, "Stripe Events \xc3\xa9");
    CHECK_INT(in->npk, 2);
    CHECK_STR(in->primary_key[1], "ts");
    CHECK_INT(in->ntokens, 1);
    CHECK_INT(in->tokens[0].sha256[0], 0xe3);
    CHECK_INT(in->tokens[0].sha256[31], 0x55);
    CHECK_INT(in->paused, 1);
    CHECK_INT(in->max_body, 4194304);

    char *json = integ_to_json(in);
    CHECK(json != NULL);
    CHECK(json && strstr(json, "\"status\":\"paused\"") != NULL);
    CHECK(json && strstr(json, "future_field") == NULL);
    integ_t *back = json ? integ_from_json(json, strlen(json), err, sizeof(err)) : NULL;
    CHECK(back != NULL);
    if (back)
        check_same(in, back);

    integ_t *copy = integ_dup(in);
    CHECK(copy != NULL);
    if (copy) {
        check_same(in, copy);
        CHECK(copy->name != in->name);
        CHECK(copy->primary_key != in->primary_key);
    }

    /* no primary key, no tokens, active */
    for (size_t i = 0; i < in->npk; i++)
        free(in->primary_key[i]);
    free(in->primary_key);
    in->primary_key = NULL;
    in->npk = 0;
    in->ntokens = 0;
    in->paused = 0;
    char *json2 = integ_to_json(in);
    CHECK(json2 && strstr(json2, "\"primary_key\":[]") != NULL);
    CHECK(json2 && strstr(json2, "\"tokens\":[]") != NULL);
    CHECK(json2 && strstr(json2, "\"status\":\"active\"") != NULL);
    integ_t *back2 = json2 ? integ_from_json(json2, strlen(json2), err, sizeof(err)) : NULL;
    CHECK(back2 != NULL);
    if (back2)
        check_same(in, back2);

    free(json);
    free(json2);
    integ_destroy(back);
    integ_destroy(back2);
    integ_destroy(copy);
    integ_destroy(in);
    integ_destroy(NULL);
}

/* Replaces the first occurrence of `from` in the sample record with `to`. */
static char *mutate(const char *from, const char *to) {
    integ_t *in = sample();
    char *json = in ? integ_to_json(in) : NULL;
    integ_destroy(in);
    if (!json)
        return NULL;
    char *at = strstr(json, from);
    if (!at) {
        HARNESS_FAIL("'%s' not in the sample", from);
        free(json);
        return NULL;
    }
    size_t head = (size_t)(at - json), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(json) - fl + tl + 1);
    memcpy(out, json, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, at + fl);
    free(json);
    return out;
}

/* The optional members of issue 8: signature, delivery id, rate limit. */
static void test_extras(void) {
    static const char extras[] =
        "\"max_body\":4194304,"
        "\"signature\":{\"scheme\":\"hmac\",\"secret\":\"A256GCM.0123456789abcdef.n.c\","
        "\"header\":\"X-Sig\",\"encoding\":\"base64\",\"prefix\":\"v1=\",\"tolerance\":60},"
        "\"delivery_id\":{\"field\":\"event_id\"},"
        "\"rate_limit\":{\"per_second\":2.5,\"burst\":7}";
    char err[256] = "";
    char *json = mutate("\"max_body\":4194304", extras);
    integ_t *in = json ? integ_from_json(json, strlen(json), err, sizeof(err)) : NULL;
    free(json);
    if (!in) {
        HARNESS_FAIL("extras did not parse: %s", err);
        return;
    }
    CHECK_INT(in->sig_scheme, WHSIG_HMAC);
    CHECK_STR(in->sig_secret, "A256GCM.0123456789abcdef.n.c");
    CHECK_STR(in->sig_header, "X-Sig");
    CHECK_STR(in->sig_prefix, "v1=");
    CHECK_INT(in->sig_encoding, WHSIG_BASE64);
    CHECK_INT(in->sig_tolerance, 60);
    CHECK_STR(in->delivery_field, "event_id");
    CHECK(in->delivery_header == NULL);
    CHECK(in->rate_per_s == 2.5);
    CHECK_INT(in->rate_burst, 7);
    integ_t *dup = integ_dup(in);
    char *out = dup ? integ_to_json(dup) : NULL;
    integ_t *back = out ? integ_from_json(out, strlen(out), err, sizeof(err)) : NULL;
    CHECK(back != NULL);
    if (back) {
        check_same(in, back);
        CHECK_INT(back->sig_scheme, WHSIG_HMAC);
        CHECK_STR(back->sig_secret, in->sig_secret);
        CHECK_STR(back->sig_header, "X-Sig");
        CHECK_STR(back->sig_prefix, "v1=");
        CHECK_INT(back->sig_encoding, WHSIG_BASE64);
        CHECK_INT(back->sig_tolerance, 60);
        CHECK_STR(back->delivery_field, "event_id");
        CHECK(back->rate_per_s == 2.5);
        CHECK_INT(back->rate_burst, 7);
    }
    integ_destroy(back);
    integ_destroy(dup);
    free(out);
    integ_destroy(in);

    static const struct {
        const char *to, *msg;
    } bad[] = {
        {"\"signature\":{\"scheme\":\"ecdsa\",\"secret\":\"s\"}",
         "signature.scheme \"ecdsa\" is not one of standard, github, stripe, shopify, hmac"},
        {"\"signature\":{\"scheme\":\"github\"}", "signature.secret is missing"},
        {"\"signature\":{\"scheme\":\"hmac\",\"secret\":\"s\"}",
         "header name must be 1..128 characters"},
        {"\"signature\":{\"scheme\":\"hmac\",\"secret\":\"s\",\"header\":\"X Sig\"}",
         "header name \"X Sig\" has a character not allowed in HTTP header names"},
        {"\"signature\":{\"scheme\":\"hmac\",\"secret\":\"s\",\"header\":\"X\","
         "\"encoding\":\"b32\"}",
         "signature.encoding \"b32\" is not hex or base64"},
        {"\"signature\":{\"scheme\":\"stripe\",\"secret\":\"s\",\"tolerance\":-1}",
         "signature.tolerance is not a non-negative integer"},
        {"\"signature\":[]", "\"signature\" is not an object"},
        {"\"delivery_id\":{\"field\":\"a.b\"}",
         "delivery_id.field: primary-key field \"a.b\": only top-level fields ('.' not allowed)"},
        {"\"rate_limit\":{\"per_second\":-1}",
         "\"rate_limit\" is not {\"per_second\":N,\"burst\":B} with 0 <= N <= 1e9 and B >= 0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        char with[512];
        snprintf(with, sizeof(with), "\"max_body\":4194304,%s", bad[i].to);
        json = mutate("\"max_body\":4194304", with);
        in = json ? integ_from_json(json, strlen(json), err, sizeof(err)) : NULL;
        if (in)
            HARNESS_FAIL("bad[%zu] parsed", i);
        CHECK_STR(err, bad[i].msg);
        integ_destroy(in);
        free(json);
    }
}

static void test_malformed(void) {
    static const struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"\"name\":\"stripe_events\",", "", "missing \"name\""},
        {"\"name\":\"stripe_events\"", "\"name\":7", "\"name\" is not a string"},
        {"\"name\":\"stripe_events\"", "\"name\":\"Stripe\"", "\"name\" is not valid: \"Stripe\""},
        {"\"client_id\":\"48213977\"", "\"client_id\":\"4/8\"", "\"client_id\" is not valid: \"4/8\""},
        {"\"client_id\":\"48213977\"", "\"client_id\":\"\"", "\"client_id\" is not valid: \"\""},
        {"\"topic\":\"webhooks.stripe_events\",", "", "missing \"topic\""},
        {"\"topic\":\"webhooks.stripe_events\"", "\"topic\":\"a b\"", "\"topic\" is not valid: \"a b\""},
        {"\"primary_key\":[\"id\",\"ts\"]", "\"primary_key\":\"id\"", "\"primary_key\" is not an array"},
        {"\"primary_key\":[\"id\",\"ts\"]", "\"primary_key\":[\"id\",1]", "primary_key[1] is not a string"},
        {"\"primary_key\":[\"id\",\"ts\"],", "", "missing \"primary_key\""},
        {"\"primary_key\":[\"id\",\"ts\"]", "\"primary_key\":[\"a.b\"]",
         "primary_key[0]: primary-key field \"a.b\": only top-level fields ('.' not allowed)"},
        {"\"tokens\":[", "\"tokens\":{},\"x\":[", "\"tokens\" is not an array"},
        {"\"sha256\":\"e3b0", "\"sha256\":\"E3B0", "tokens[0].sha256 is not 64 lowercase hex digits"},
        {"\"sha256\":\"e3b0", "\"sha256\":\"e3b", "tokens[0].sha256 is not 64 lowercase hex digits"},
        {"\"sha256\":\"e3b0", "\"sha256\":\"zzb0", "tokens[0].sha256 is not 64 lowercase hex digits"},
        {"\"sha256\":\"e3b0", "\"sha256\":\"e3b0e3b0", "tokens[0].sha256 is not 64 lowercase hex digits"},
        {"\"id\":\"3f9c2a17b0de\"", "\"id\":\"3f9c2a17b0d\"", "tokens[0].id is not 12 lowercase hex digits"},
        {"\"id\":\"3f9c2a17b0de\",", "", "missing \"id\""},
        {"\"tokens\":[{", "\"tokens\":[1,{", "tokens[0] is not an object"},
        {"\"status\":\"paused\"", "\"status\":\"gone\"", "\"status\" is \"gone\", not \"active\" or \"paused\""},
        {"\"status\":\"paused\"", "\"status\":true", "\"status\" is not a string"},
        {"\"max_body\":4194304", "\"max_body\":\"4m\"", "\"max_body\" is not a non-negative integer"},
        {"\"max_body\":4194304", "\"max_body\":-1", "\"max_body\" is not a non-negative integer"},
        {"\"max_body\":4194304,", "", "missing \"max_body\""},
        {"\"created_at\":\"2026-11-26T20:14:37.123456Z\",\"updated_at\"", "\"updated_at\"",
         "missing \"created_at\""},
        {"\"updated_at\":\"2026-11-26T20:15:00.000001Z\"",
         "\"updated_at\":\"2026-11-26T20:15:00.000001Z-and-much-more\"",
         "\"updated_at\" is too long for a timestamp"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        char *json = mutate(cases[i].from, cases[i].to);
        if (!json)
            continue;
        integ_t *in = integ_from_json(json, strlen(json), err, sizeof(err));
        if (in)
            HARNESS_FAIL("case %zu parsed: %s", i, json);
        CHECK_STR(err, cases[i].msg);
        integ_destroy(in);
        free(json);
    }
    /* three tokens: more than INTEG_MAX_TOKENS */
    char tok[] = "{\"id\":\"3f9c2a17b0de\",\"sha256\":"
                 "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                 "\"created_at\":\"x\"}";
    char three[1024];
    snprintf(three, sizeof(three), "\"tokens\":[%s,%s,", tok, tok);
    char *json = mutate("\"tokens\":[", three);
    char err[256] = "";
    integ_t *in = json ? integ_from_json(json, strlen(json), err, sizeof(err)) : NULL;
    CHECK(in == NULL);
    CHECK_STR(err, "3 tokens, at most 2");
    free(json);
    static const char *const not_records[] = {"", "[]", "null", "{", "{\"name\":\"a\",\"name\":\"b\"}",
                                              "\"text\""};
    for (size_t i = 0; i < sizeof(not_records) / sizeof(not_records[0]); i++) {
        err[0] = '\0';
        in = integ_from_json(not_records[i], strlen(not_records[i]), err, sizeof(err));
        CHECK(in == NULL);
        CHECK(err[0] != '\0');
        integ_destroy(in);
    }
}

static int all_lower_hex(const char *s, size_t n) {
    if (strlen(s) != n)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void test_tokens(void) {
    /* a known SHA-256 vector: the empty string */
    unsigned char h[32];
    integ_token_hash("", 0, h);
    CHECK_INT(h[0], 0xe3);
    CHECK_INT(h[1], 0xb0);
    CHECK_INT(h[31], 0x55);

    integ_t *in = sample();
    if (!in)
        return;
    in->ntokens = 0;
    char hex1[INTEG_TOKEN_HEX + 1], hex2[INTEG_TOKEN_HEX + 1];
    CHECK_INT(integ_token_new(hex1, &in->tokens[0]), 0);
    CHECK_INT(integ_token_new(hex2, &in->tokens[1]), 0);
    in->ntokens = 2;
    CHECK(all_lower_hex(hex1, INTEG_TOKEN_HEX));
    CHECK(all_lower_hex(hex2, INTEG_TOKEN_HEX));
    CHECK(all_lower_hex(in->tokens[0].id, INTEG_TOKEN_ID_HEX));
    CHECK(strcmp(hex1, hex2) != 0);
    CHECK(strcmp(in->tokens[0].id, in->tokens[1].id) != 0);
    CHECK_INT(strlen(in->tokens[0].created_at), 27);

    integ_token_hash(hex1, strlen(hex1), h);
    CHECK(memcmp(h, in->tokens[0].sha256, 32) == 0);
    CHECK_INT(integ_token_match(in, h), 1);
    integ_token_hash(hex2, strlen(hex2), h);
    CHECK_INT(integ_token_match(in, h), 1);

    /* the raw token is not in the stored form */
    char *json = integ_to_json(in);
    CHECK(json && strstr(json, hex1) == NULL && strstr(json, hex2) == NULL);
    free(json);

    /* a near miss does not match */
    char other[INTEG_TOKEN_HEX + 1];
    memcpy(other, hex1, sizeof(other));
    other[63] = other[63] == '0' ? '1' : '0';
    integ_token_hash(other, strlen(other), h);
    CHECK_INT(integ_token_match(in, h), 0);
    integ_token_hash(hex1, 63, h);
    CHECK_INT(integ_token_match(in, h), 0);

    /* revoked: hex1 no longer matches, hex2 still does */
    char id1[INTEG_TOKEN_ID_HEX + 1];
    memcpy(id1, in->tokens[0].id, sizeof(id1));
    CHECK_INT(integ_token_revoke(in, "000000000000"), -1);
    CHECK_INT(integ_token_revoke(in, id1), 0);
    CHECK_INT(in->ntokens, 1);
    CHECK_INT(integ_token_revoke(in, id1), -1);
    integ_token_hash(hex1, strlen(hex1), h);
    CHECK_INT(integ_token_match(in, h), 0);
    integ_token_hash(hex2, strlen(hex2), h);
    CHECK_INT(integ_token_match(in, h), 1);
    CHECK_INT(integ_token_revoke(in, in->tokens[0].id), 0);
    CHECK_INT(integ_token_match(in, h), 0);
    integ_destroy(in);
}

static void test_now(void) {
    char t[32];
    integ_now_rfc3339(t);
    CHECK_INT(strlen(t), 27);
    CHECK(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[26] == 'Z');
}

/* max.message.bytes of an integration's topics: twice the body limit (the
 * key is part of the record, so as large in the worst case) plus 64 KiB for
 * headers and framing; the gateway's 4 MiB default for max_body 0; capped
 * at Kafka's largest value. */
static void test_topic_size(void) {
    CHECK_INT(integ_topic_max_message_bytes(0), 2 * (4LL << 20) + 65536);
    CHECK_INT(integ_topic_max_message_bytes(0), 8454144);
    CHECK_INT(integ_topic_max_message_bytes(1), 2 + 65536);
    CHECK_INT(integ_topic_max_message_bytes(16LL << 20), (32LL << 20) + 65536);
    /* a record within the limit fits with a key as large and the headers */
    long long body = 4LL << 20;
    CHECK(integ_topic_max_message_bytes(body) >= body + body + 1024 + 61);
    /* hookpipectl allows --max-body up to 1 GiB: INT32_MAX then */
    CHECK_INT(integ_topic_max_message_bytes(1LL << 30), 2147483647);
    CHECK_INT(integ_topic_max_message_bytes((2147483647LL - 65536) / 2), 2147483646);
    CHECK_INT(integ_topic_max_message_bytes((2147483647LL - 65536) / 2 + 1), 2147483647);
}

int main(void) {
    TEST(test_topic_size);
    TEST(test_name_rules);
    TEST(test_pk_rules);
    TEST(test_json_round_trip);
    TEST(test_extras);
    TEST(test_malformed);
    TEST(test_tokens);
    TEST(test_now);
    return test_done();
}
