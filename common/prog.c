/* prog: the services' shared main() prologue (see prog.h). */
#include "prog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t prog_stop;

static void prog_on_signal(int sig) {
    (void)sig;
    prog_stop = 1;
}

void prog_fail(const char *progname, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

prog_rc_t prog_load(cfg_t *cfg, int argc, char **argv) {
    char err[1024];
    int lr = cfg_load(cfg, argc, argv, err, sizeof(err));
    if (lr == 1)
        return PROG_HELP;
    if (lr < 0) {
        prog_fail(cfg_progname(cfg), "%s", err);
        return PROG_USAGE;
    }
    if (cfg_argc(cfg) > 0) {
        prog_fail(cfg_progname(cfg), "unexpected argument '%s' (see --help)", cfg_argv(cfg)[0]);
        return PROG_USAGE;
    }
    return PROG_RUN;
}

prog_rc_t prog_log_level(const cfg_t *cfg, const char *key, log_level_t *level) {
    const char *text = cfg_str(cfg, key);
    int l = text ? log_level_parse(text) : -1;
    if (l < 0) {
        prog_fail(cfg_progname(cfg), "%s: unknown level '%s' (error, warn, info or debug)", key,
                  text ? text : "");
        return PROG_USAGE;
    }
    *level = (log_level_t)l;
    return PROG_RUN;
}

void prog_start(const char *progname, log_level_t level) {
    log_init(progname, level);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = prog_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int prog_stopping(void) { return prog_stop != 0; }

volatile sig_atomic_t *prog_stop_flag(void) { return &prog_stop; }

void prog_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
