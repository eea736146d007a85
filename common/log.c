/* log: leveled one-line logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "hookpipe";
static log_level_t log_max = LOG_INFO;
static const char *const log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_init(const char *progname, log_level_t level) {
    if (progname)
        log_prog = progname;
    log_max = level;
}

int log_level_parse(const char *s) {
    static const char *const lower[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, lower[i]) == 0)
            return i;
    return -1;
}

void log_msg(log_level_t level, const char *fmt, ...) {
    if (level > log_max)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_prog,
                     log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* one write() per line so that lines from threads never interleave */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
