/* gw_rate: a token bucket, the per-integration request rate limit of one
 * gateway (each gateway limits on its own: N gateways admit up to N times
 * the rate).
 *
 * A bucket holds up to `burst` tokens and gains `rate` tokens per second;
 * a request takes one. The state is two numbers guarded by a mutex the
 * caller owns (see gw_integrations.h); the functions are pure otherwise, and
 * take the time as a parameter so tests are deterministic. */
#ifndef HOOKPIPE_GW_RATE_H
#define HOOKPIPE_GW_RATE_H

#include <stdint.h>

typedef struct gw_rate {
    double tokens;      /* available now (at last_ns) */
    int64_t last_ns;    /* monotonic time of the last update; 0 = never */
} gw_rate_t;

/* The bucket size for a configured rate and burst (burst 0 = max(1, rate)). */
double gw_rate_capacity(double rate, long long burst);

/* Takes a token at time now_ns (monotonic). 1 = allowed; 0 = refused, and
 * *retry_after_s is the whole number of seconds (>= 1) until a token is
 * there. A fresh bucket starts full. rate <= 0 always allows. */
int gw_rate_take(gw_rate_t *b, double rate, long long burst, int64_t now_ns, int *retry_after_s);

#endif
