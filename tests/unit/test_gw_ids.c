/* Unit tests for gateway/gw_ids: UUIDs, the sequence, RFC 3339 times. */
#include <ctype.h>

#include "../../gateway/gw_ids.h"
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

static void test_rfc3339(void) {
    char out[32];
    gw_ids_rfc3339(1795724848179755123LL, out);
    CHECK_STR(out, "2026-11-26T20:27:28.179755Z");
    gw_ids_rfc3339(0, out);
    CHECK_STR(out, "1970-01-01T00:00:00.000000Z");
}

int main(void) {
    TEST(test_uuid);
    TEST(test_sequence);
    TEST(test_rfc3339);
    return test_done();
}
