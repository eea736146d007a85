/* gw_rate: token bucket arithmetic. */
#include "gw_rate.h"

#include <math.h>

double gw_rate_capacity(double rate, long long burst) {
    if (burst > 0)
        return (double)burst;
    return rate > 1 ? rate : 1;
}

int gw_rate_take(gw_rate_t *b, double rate, long long burst, int64_t now_ns, int *retry_after_s) {
    if (rate <= 0)
        return 1;
    double cap = gw_rate_capacity(rate, burst);
    if (b->last_ns == 0) {
        b->tokens = cap;
    } else if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * rate;
        if (b->tokens > cap)
            b->tokens = cap;
    }
    if (now_ns > b->last_ns || b->last_ns == 0)
        b->last_ns = now_ns;
    /* the tolerance absorbs rounding: ten 0.1-token refills make a token */
    if (b->tokens >= 1 - 1e-9) {
        b->tokens -= 1;
        return 1;
    }
    double wait = (1 - b->tokens) / rate;
    double secs = ceil(wait);
    *retry_after_s = secs < 1 ? 1 : secs > 86400 ? 86400 : (int)secs;
    return 0;
}
