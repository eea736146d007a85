/* log: one line per event to stderr, with a timestamp, a level and the
 * program name. Thread-safe (each line is a single write). Never log secrets
 * or payloads: log sizes, topic/partition/offset and request ids. */
#ifndef HOOKPIPE_LOG_H
#define HOOKPIPE_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level_t;

/* Sets the program name shown on every line and the most verbose level that
 * is printed. Call once from main() before any thread starts. */
void log_init(const char *progname, log_level_t level);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_msg(log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
