/* log: leveled one-line logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rfc3339.h"

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
    char line[2048], at[RFC3339_MAX];
    rfc3339_format(rfc3339_now_us(), RFC3339_MILLIS, at, sizeof(at));
    int n = snprintf(line, sizeof(line), "%s %s %s: ", at, log_prog, log_names[level]);
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
