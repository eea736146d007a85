/* Unit tests for gateway/gw_route: URL routing and Content-Type parsing. */
#include "gw_route.h"
#include "harness.h"

static void test_routes(void) {
    static const struct {
        const char *path;
        gw_route_kind_t kind;
        const char *client, *token;
    } cases[] = {
        {"/v1/clients/48213977/token/abc123", GW_ROUTE_WEBHOOK, "48213977", "abc123"},
        {"/v1/clients/c/token/t", GW_ROUTE_WEBHOOK, "c", "t"},
        {"/v1/clients/48213977/token/abc123/", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients/48213977/token/", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients//token/abc", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients/a/b/token/abc", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients/a/tokens/abc", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v2/clients/a/token/abc", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/V1/clients/a/token/abc", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients/a/token/abc/extra", GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients/a/token/"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "0123456789012345678901234567890123456789012345678901234567890123x",
         GW_ROUTE_NOT_FOUND, NULL, NULL},
        {"/v1/clients/0123456789012345678901234567890123456789012345678901234567890123x/token/t",
         GW_ROUTE_NOT_FOUND, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_route_t r;
        gw_route_kind_t k = gw_route_parse(cases[i].path, &r);
        if (k != cases[i].kind) {
            HARNESS_FAIL("'%s': kind %d, want %d", cases[i].path, k, cases[i].kind);
            continue;
        }
        if (k == GW_ROUTE_WEBHOOK) {
            CHECK_MEM(r.client_id, r.client_id_len, cases[i].client, strlen(cases[i].client));
            CHECK_MEM(r.token, r.token_len, cases[i].token, strlen(cases[i].token));
        }
    }
    gw_route_t r;
    CHECK_INT(gw_route_parse(NULL, &r), GW_ROUTE_NOT_FOUND);
}

static void test_content_types(void) {
    static const struct {
        const char *value;
        gw_ct_t want;
    } cases[] = {
        {NULL, GW_CT_MISSING},
        {"", GW_CT_MISSING},
        {"  ", GW_CT_MISSING},
        {"application/json", GW_CT_JSON},
        {"Application/JSON", GW_CT_JSON},
        {"application/json; charset=utf-8", GW_CT_JSON},
        {"application/json;charset=\"UTF-8\"", GW_CT_JSON},
        {"application/json ; charset=utf8 ; boundary=x", GW_CT_JSON},
        {" application/json", GW_CT_JSON},
        {"application/vnd.api+json", GW_CT_JSON},
        {"application/cloudevents+json; charset=utf-8", GW_CT_JSON},
        {"application/json; charset=iso-8859-1", GW_CT_BAD_CHARSET},
        {"application/json; charset=\"utf-16\"", GW_CT_BAD_CHARSET},
        {"text/json", GW_CT_NOT_JSON},
        {"text/plain", GW_CT_NOT_JSON},
        {"application/x-www-form-urlencoded", GW_CT_NOT_JSON},
        {"application/jsonx", GW_CT_NOT_JSON},
        {"application/+json", GW_CT_NOT_JSON},
        {"application/json-patch", GW_CT_NOT_JSON},
        {"application/", GW_CT_NOT_JSON},
        {"application/json garbage", GW_CT_NOT_JSON},
        {"multipart/form-data; boundary=x", GW_CT_NOT_JSON},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_ct_t got = gw_route_content_type(cases[i].value);
        if (got != cases[i].want)
            HARNESS_FAIL("'%s': %d, want %d", cases[i].value ? cases[i].value : "(null)", got,
                         cases[i].want);
    }
}

int main(void) {
    TEST(test_routes);
    TEST(test_content_types);
    return test_done();
}
