/* Unit tests for gateway/gw_ids: UUIDs, the sequence, and the received-at text it stamps. */
#include <ctype.h>

#include "event.h"
#include "gw_ids.h"
#include "harness.h"

static void test_uuid(void) {
    char a[GW_UUID_LEN + 1], b[GW_UUID_LEN + 1];
    gw_ids_uuid(a);
    gw_ids_uuid(b);
    CHECK_INT(strlen(a), 36);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT(a[14], '4');
    CHECK(strchr("89ab", a[19]) != NULL);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            CHECK_INT(a[i], '-');
        else
            CHECK(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
    }
}

static void test_delivery_key(void) {
    /* known answers from Python: uuid.uuid5(UUID(GW_IDS_DELIVERY_NS), name) */
    static const struct {
        const char *integ, *id;
        size_t index;
        const char *want;
    } cases[] = {
        {"stripe_events", "evt_1NG8Du2eZvKYlo2CUI79vXWy", 0, "4fffb676-3ecf-53b2-be35-536f31ef6e72"},
        {"github", "72d3162e-cc78-11e3-81ab-4c9367dc0958", 3, "b4c7b233-8bd0-5684-8541-4534b0f0681e"},
        {"a", "x\ny", 10, "1ee80486-31c9-5898-9dbc-cd8c41031a4c"},
    };
    char out[GW_UUID_LEN + 1], again[GW_UUID_LEN + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_ids_delivery_key(cases[i].integ, cases[i].id, strlen(cases[i].id), cases[i].index, out);
        CHECK_STR(out, cases[i].want);
    }
    /* deterministic, and distinct per index, id and integration */
    gw_ids_delivery_key("shop", "d1", 2, 0, out);
    gw_ids_delivery_key("shop", "d1", 2, 0, again);
    CHECK_STR(out, again);
    gw_ids_delivery_key("shop", "d1", 2, 1, again);
    CHECK(strcmp(out, again) != 0);
    gw_ids_delivery_key("shop", "d2", 2, 0, again);
    CHECK(strcmp(out, again) != 0);
    gw_ids_delivery_key("shop2", "d1", 2, 0, again);
    CHECK(strcmp(out, again) != 0);
    CHECK_INT(out[14], '5');
    CHECK(strchr("89ab", out[19]) != NULL);
}

static void test_sequence(void) {
    int64_t prev = gw_ids_sequence();
    int64_t now = gw_ids_now_ns();
    CHECK(prev > 1700000000LL * 1000000000LL);
    CHECK(prev <= now + 1000000);
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        int64_t s = gw_ids_sequence();
        if (s <= prev)
            ok = 0;
        prev = s;
    }
    CHECK(ok);
}

/* The received-at header the gateway stamps (gw_req.c: receive time in ns
 * to event.h's text, µs truncated). */
static void test_rfc3339(void) {
    char out[EVENT_RECEIVED_AT_MAX];
    event_received_at_format(1795724848179755123LL / 1000, out, sizeof(out));
    CHECK_STR(out, "2026-11-26T20:27:28.179755Z");
    event_received_at_format(0, out, sizeof(out));
    CHECK_STR(out, "1970-01-01T00:00:00.000000Z");
}

int main(void) {
    TEST(test_uuid);
    TEST(test_delivery_key);
    TEST(test_sequence);
    TEST(test_rfc3339);
    return test_done();
}
