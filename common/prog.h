/* prog: the prologue every service's main() shares — load the configuration
 * (file < environment < command line, --help), refuse stray arguments, pick
 * the log level, start logging and install the signal handlers — so that
 * each program answers a bad command line the same way.
 *
 * A main() reads
 *
 *     int rc = prog_load(cfg, argc, argv);          // 0 = run, else exit code
 *     if (rc != PROG_RUN) goto out;
 *     ... program-specific checks (exit code PROG_USAGE) ...
 *     prog_start("hookpipe-x", level);
 *     while (!prog_stopping()) prog_sleep_ms(100);
 *
 * Messages for the user go to stderr as "<progname>: <reason>". The exit
 * codes are the ones the services document: 0 after --help, 2 for a bad
 * command line or configuration (PROG_USAGE).
 *
 * Thread use: call from main() before any thread starts; prog_stopping()
 * and the stop flag may be read from any thread. */
#ifndef HOOKPIPE_PROG_H
#define HOOKPIPE_PROG_H

#include <signal.h>

#include "cfg.h"
#include "log.h"

/* prog_load's answer: go on, or the exit code to leave with. */
typedef enum {
    PROG_RUN = -1,      /* configuration loaded: run */
    PROG_HELP = 0,      /* --help was printed: exit 0 */
    PROG_USAGE = 2      /* bad command line or configuration (said why): exit 2 */
} prog_rc_t;

/* Loads cfg from its sources and argv (cfg_load) and refuses positional
 * arguments ("unexpected argument 'x' (see --help)"). The program name in
 * messages is cfg's. */
prog_rc_t prog_load(cfg_t *cfg, int argc, char **argv);

/* Parses the level in configuration key `key` (e.g. "log.level") into
 * *level. PROG_RUN, or PROG_USAGE after saying "<key>: unknown level 'x'
 * (error, warn, info or debug)". */
prog_rc_t prog_log_level(const cfg_t *cfg, const char *key, log_level_t *level);

/* Prints "<progname>: <message>" to stderr (for problems found before
 * logging starts). */
void prog_fail(const char *progname, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts logging as `progname` at `level`, makes SIGTERM and SIGINT request
 * a stop (prog_stopping) and ignores SIGPIPE (a closed peer is an error
 * return, not a death). */
void prog_start(const char *progname, log_level_t level);

/* 1 once SIGTERM or SIGINT arrived. */
int prog_stopping(void);

/* The flag the handlers set, for modules that take a stop flag pointer
 * (sink_consumer_run). Only ever written by the handlers. */
volatile sig_atomic_t *prog_stop_flag(void);

/* Sleeps ms milliseconds (less if a signal arrives). */
void prog_sleep_ms(long ms);

#endif
