/* harness: the tiny unit-test harness. Each check prints file:line and both
 * values when it fails; test_main() runs the registered cases and ends with
 * exactly "N passed, N failed", exiting non-zero on any failure.
 *
 *   static void test_foo(void) { CHECK_INT(1 + 1, 2); CHECK_STR(s, "x"); }
 *   int main(void) { TEST(test_foo); return test_done(); }
 *
 * A case passes when none of its checks failed. */
#ifndef HOOKPIPE_HARNESS_H
#define HOOKPIPE_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_passed, harness_failed, harness_case_failed;

#define HARNESS_FAIL(...)                                                   \
    do {                                                                    \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
        fprintf(stderr, __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                \
        harness_case_failed = 1;                                            \
    } while (0)

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond))                                                        \
            HARNESS_FAIL("check failed: %s", #cond);                        \
    } while (0)

#define CHECK_INT(got, want)                                                \
    do {                                                                    \
        long long g_ = (long long)(got), w_ = (long long)(want);            \
        if (g_ != w_)                                                       \
            HARNESS_FAIL("%s == %lld, want %lld", #got, g_, w_);            \
    } while (0)

#define CHECK_STR(got, want)                                                \
    do {                                                                    \
        const char *g_ = (got), *w_ = (want);                               \
        if (!g_ || !w_ || strcmp(g_, w_) != 0)                              \
            HARNESS_FAIL("%s == \"%s\", want \"%s\"", #got,                 \
                         g_ ? g_ : "(null)", w_ ? w_ : "(null)");           \
    } while (0)

#define CHECK_MEM(got, got_len, want, want_len)                             \
    do {                                                                    \
        size_t gl_ = (size_t)(got_len), wl_ = (size_t)(want_len);           \
        if (gl_ != wl_ || memcmp((got), (want), gl_) != 0)                  \
            HARNESS_FAIL("%s == \"%.*s\" (%zu bytes), want \"%.*s\" (%zu)", \
                         #got, (int)gl_, (const char *)(got), gl_,          \
                         (int)wl_, (const char *)(want), wl_);              \
    } while (0)

#define TEST(fn)                                                            \
    do {                                                                    \
        harness_case_failed = 0;                                            \
        fn();                                                               \
        if (harness_case_failed) {                                          \
            fprintf(stderr, "FAIL %s\n", #fn);                              \
            harness_failed++;                                               \
        } else {                                                            \
            harness_passed++;                                               \
        }                                                                   \
    } while (0)

static inline int test_done(void) {
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    return harness_failed ? 1 : 0;
}

#endif
