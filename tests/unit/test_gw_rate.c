/* Unit tests for gateway/gw_rate: the token bucket of the rate limit. */
#include "gw_rate.h"
#include "harness.h"

#define S 1000000000LL

static void test_burst_then_refill(void) {
    gw_rate_t b = {0};
    int ra = 0, ok = 0;
    int64_t t = 5 * S;
    for (int i = 0; i < 10; i++)
        ok += gw_rate_take(&b, 2, 5, t, &ra);
    CHECK_INT(ok, 5);                       /* a full bucket of 5 at first */
    CHECK_INT(ra, 1);                       /* 2/s: a token within 0.5 s */
    CHECK_INT(gw_rate_take(&b, 2, 5, t + S / 2, &ra), 1);
    CHECK_INT(gw_rate_take(&b, 2, 5, t + S / 2, &ra), 0);
    /* a long pause refills to the burst, not beyond */
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += gw_rate_take(&b, 2, 5, t + 100 * S, &ra);
    CHECK_INT(ok, 5);
}

static void test_slow_rates_and_defaults(void) {
    gw_rate_t b = {0};
    int ra = 0;
    CHECK_INT((long long)gw_rate_capacity(0.5, 0), 1);
    CHECK_INT((long long)gw_rate_capacity(10, 0), 10);
    CHECK_INT((long long)gw_rate_capacity(10, 3), 3);
    /* one a minute */
    CHECK_INT(gw_rate_take(&b, 1.0 / 60, 0, 1 * S, &ra), 1);
    CHECK_INT(gw_rate_take(&b, 1.0 / 60, 0, 2 * S, &ra), 0);
    CHECK(ra >= 58 && ra <= 60);
    CHECK_INT(gw_rate_take(&b, 1.0 / 60, 0, 62 * S, &ra), 1);
    /* no limit */
    gw_rate_t n = {0};
    int ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += gw_rate_take(&n, 0, 0, S, &ra);
    CHECK_INT(ok, 1000);
}

static void test_clock_going_back(void) {
    gw_rate_t b = {0};
    int ra = 0;
    CHECK_INT(gw_rate_take(&b, 1, 1, 10 * S, &ra), 1);
    /* an earlier time adds nothing and does not move the clock back */
    CHECK_INT(gw_rate_take(&b, 1, 1, 5 * S, &ra), 0);
    CHECK_INT(gw_rate_take(&b, 1, 1, 11 * S, &ra), 1);
}

static void test_steady_rate(void) {
    /* 100/s with burst 1 over 10 s, asked every ms: about 1000 allowed */
    gw_rate_t b = {0};
    int ra = 0, ok = 0;
    for (int64_t ms = 1; ms <= 10000; ms++)
        ok += gw_rate_take(&b, 100, 1, ms * 1000000, &ra);
    CHECK(ok >= 999 && ok <= 1001);
}

int main(void) {
    TEST(test_burst_then_refill);
    TEST(test_slow_rates_and_defaults);
    TEST(test_clock_going_back);
    TEST(test_steady_rate);
    return test_done();
}
