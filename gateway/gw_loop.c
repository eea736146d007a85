/* gw_loop: a thread driving one libmicrohttpd daemon through epoll. */
#include "gw_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "errstr.h"
#include "gw_ids.h"
#include "log.h"

enum { GW_LOOP_RUN = 0, GW_LOOP_QUIESCE, GW_LOOP_STOP };

struct gw_loop {
    struct MHD_Daemon *mhd;
    gw_producer_t *producer;     /* the Kafka loop's, else NULL */
    gw_loop_tick_fn tick;
    void *tick_arg;
    int ep;                      /* epoll: the daemon's epoll fd, wake (+ producer) */
    int wake;                    /* eventfd: a resume from another thread, quiesce, stop */
    atomic_int state;            /* GW_LOOP_*, set by the main thread */
    atomic_int quiesced;         /* stopped accepting (read by the main thread) */
    atomic_int woken;            /* a wake-up is written and not yet read */
    pthread_t thread;
    int started;
};

/* the loop whose thread this is (NULL on other threads) */
static _Thread_local gw_loop_t *gw_loop_this;

gw_loop_t *gw_loop_current(void) { return gw_loop_this; }

/* Gives the listening socket back (it is closed once, by gw_http: every
 * daemon shares it); on the loop's thread, or after it ended. */
static void gw_loop_quiesce_daemon(gw_loop_t *l) {
    if (atomic_load(&l->quiesced))
        return;
    MHD_quiesce_daemon(l->mhd);
    atomic_store(&l->quiesced, 1);
}

/* Wakes loop l (once until it runs again): after a resume from another
 * thread, or to quiesce or stop. */
static void gw_loop_wake(gw_loop_t *l) {
    static const uint64_t one = 1;
    if (atomic_exchange(&l->woken, 1) == 0 && write(l->wake, &one, sizeof(one)) < 0)
        log_warn("http loop wake-up: %s", strerror(errno));
}

void gw_loop_resume(gw_loop_t *l, struct MHD_Connection *conn) {
    MHD_resume_connection(conn);
    if (l != gw_loop_this)
        gw_loop_wake(l);
}

static void *gw_loop_run(void *arg) {
    gw_loop_t *l = arg;
    gw_loop_this = l;
    int kafka = l->producer != NULL;
    int producer_fd = kafka ? gw_producer_fd(l->producer) : -1;
    int64_t last_tick = gw_ids_mono_ms();
    for (;;) {
        int state = atomic_load(&l->state);
        if (state != GW_LOOP_RUN)
            gw_loop_quiesce_daemon(l);
        if (state == GW_LOOP_STOP)
            break;
        int timeout = kafka ? GW_LOOP_TICK_MS : 1000;
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(l->mhd, &mhd_ms) == MHD_YES && mhd_ms < (unsigned)timeout)
            timeout = (int)mhd_ms;
        struct epoll_event ev[3];
        int n = epoll_wait(l->ep, ev, 3, timeout);
        int reports = 0;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == l->wake) {
                uint64_t v;
                /* read, then cleared, both before MHD_run: a wake-up that
                 * finds the flag still set writes nothing, and its resume
                 * is seen by this MHD_run */
                if (read(l->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    log_warn("http loop: %s", strerror(errno));
                atomic_store(&l->woken, 0);
            } else if (kafka && ev[i].data.fd == producer_fd) {
                reports = 1;
            }
        }
        if (reports)
            gw_producer_serve(l->producer);
        if (kafka) {
            int64_t now = gw_ids_mono_ms();
            if (now - last_tick >= GW_LOOP_TICK_MS) {
                last_tick = now;
                l->tick(l->tick_arg);
            }
        }
        MHD_run(l->mhd);
    }
    return NULL;
}

static int gw_loop_epoll_add(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

gw_loop_t *gw_loop_new(struct MHD_Daemon *mhd, gw_producer_t *producer, gw_loop_tick_fn tick,
                       void *arg, char *errstr, size_t errstr_size) {
    gw_loop_t *l = calloc(1, sizeof(*l));
    if (!l) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        MHD_quiesce_daemon(mhd);
        MHD_stop_daemon(mhd);
        return NULL;
    }
    l->mhd = mhd;
    l->producer = producer;
    l->tick = tick;
    l->tick_arg = arg;
    l->wake = -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 || !di ||
        gw_loop_epoll_add(l->ep, di->epoll_fd) < 0 || gw_loop_epoll_add(l->ep, l->wake) < 0 ||
        (producer && gw_loop_epoll_add(l->ep, gw_producer_fd(producer)) < 0)) {
        errstr_fmt(0, errstr, errstr_size, "http loop: %s", strerror(errno));
        gw_loop_destroy(l);
        return NULL;
    }
    if (pthread_create(&l->thread, NULL, gw_loop_run, l) != 0) {
        errstr_fmt(0, errstr, errstr_size, "cannot start an http loop thread");
        gw_loop_destroy(l);
        return NULL;
    }
    l->started = 1;
    return l;
}

void gw_loop_quiesce(gw_loop_t *l) {
    int run = GW_LOOP_RUN;
    atomic_compare_exchange_strong(&l->state, &run, GW_LOOP_QUIESCE);
    gw_loop_wake(l);
}

int gw_loop_quiesced(gw_loop_t *l) { return atomic_load(&l->quiesced); }

void gw_loop_stop(gw_loop_t *l) {
    atomic_store(&l->state, GW_LOOP_STOP);
    gw_loop_wake(l);
}

void gw_loop_destroy(gw_loop_t *l) {
    if (!l)
        return;
    if (l->started) {
        gw_loop_stop(l);
        pthread_join(l->thread, NULL);
    }
    gw_loop_quiesce_daemon(l);   /* so that stopping leaves the shared socket */
    MHD_stop_daemon(l->mhd);
    if (l->ep >= 0)
        close(l->ep);
    if (l->wake >= 0)
        close(l->wake);
    free(l);
}
