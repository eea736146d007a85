/* The harness must be able to fail: one passing and one failing case, so
 * tests/run can check the exit code and the "1 passed, 1 failed" line. */
#include "harness.h"

static void passes(void) { CHECK_INT(2 + 2, 4); }
static void fails(void) { CHECK_STR("actual", "expected"); }

int main(void) {
    TEST(passes);
    TEST(fails);
    return test_done();
}
