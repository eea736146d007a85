/* gw_loop: one event loop of the webhook listener (internal to gw_http).
 *
 * A loop is a thread driving one libmicrohttpd daemon in external-epoll
 * mode: it waits on an epoll set holding the daemon's epoll fd and the
 * loop's wake eventfd (and, for the one loop that serves Kafka, the
 * producer's fd), then runs the daemon. Every loop's daemon shares the one
 * listening socket (gw_http owns it), so the kernel spreads connections.
 *
 * The Kafka loop (gw_loop_new with a producer) also serves the producer's
 * delivery reports, which answer its own requests with no wake-up of
 * another thread, and calls `tick` every GW_LOOP_TICK_MS (the ack-timeout
 * scan, gw_req_ctx_expire).
 *
 * Threads: gw_loop_new, gw_loop_quiesce, gw_loop_quiesced, gw_loop_stop
 * and gw_loop_destroy are called from gw_http's (main) thread;
 * gw_loop_current and gw_loop_resume from any thread. The daemon's
 * callbacks (gw_req.h) run on the loop's thread. */
#ifndef HOOKPIPE_GW_LOOP_H
#define HOOKPIPE_GW_LOOP_H

#include <microhttpd.h>
#include <stddef.h>

#include "gw_producer.h"

/* the Kafka loop's tick, the period of the ack-timeout scan (ms) */
#define GW_LOOP_TICK_MS 10

typedef struct gw_loop gw_loop_t;

typedef void (*gw_loop_tick_fn)(void *arg);

/* Starts a loop driving mhd (a daemon started with MHD_USE_EPOLL, not
 * MHD_USE_INTERNAL_POLLING_THREAD), which it takes over, even on failure
 * (then it is quiesced and stopped here). producer non-NULL makes this the
 * Kafka loop: it serves producer's delivery reports and calls tick(arg)
 * every GW_LOOP_TICK_MS; producer is borrowed and must outlive the loop.
 * NULL with errstr on failure. */
gw_loop_t *gw_loop_new(struct MHD_Daemon *mhd, gw_producer_t *producer, gw_loop_tick_fn tick,
                       void *arg, char *errstr, size_t errstr_size);

/* The loop whose thread calls, or NULL on any other thread. */
gw_loop_t *gw_loop_current(void);

/* Resumes conn, a connection of l's daemon suspended with
 * MHD_suspend_connection. Called from another thread than l's, it wakes l
 * (its epoll does not see libmicrohttpd's own signal). Must not be called
 * with a lock held that a daemon callback takes. */
void gw_loop_resume(gw_loop_t *l, struct MHD_Connection *conn);

/* Asks the loop to stop accepting connections (its daemon gives the
 * listening socket back, MHD_quiesce_daemon); returns at once. Connections
 * already open are still served. */
void gw_loop_quiesce(gw_loop_t *l);

/* Has the loop stopped accepting (so the listening socket may be closed)? */
int gw_loop_quiesced(gw_loop_t *l);

/* Asks the loop's thread to end; returns at once (gw_loop_destroy waits). */
void gw_loop_stop(gw_loop_t *l);

/* Stops the loop if not yet asked, waits for its thread, stops its daemon
 * (which then leaves the shared listening socket open) and frees. NULL is a
 * no-op. */
void gw_loop_destroy(gw_loop_t *l);

#endif
