/* cfg: one configuration table per service, filled from (lowest to highest
 * priority) the table's defaults, a config file, the environment and the
 * command line. Keys under "kafka." pass through to librdkafka unchecked.
 *
 * Sources:
 *   file         --config PATH (or $<PREFIX>_CONFIG): "key = value" lines,
 *                '#' comments; errors are reported as "path:line: msg".
 *   environment  <PREFIX>_<KEY> with the key upper-cased and '.'/'-' as '_'
 *                (HOOKPIPE_GATEWAY_MAX_BODY for "max.body");
 *                HOOKPIPE_KAFKA_<PROP> for "kafka.<prop>" ('_' becomes '.'),
 *                and KAFKA_BOOTSTRAP_SERVERS for "kafka.bootstrap.servers".
 *   command line --key=value, --key value, -X prop=value (= --kafka.prop=value),
 *                -h/--help. Remaining non-option arguments are kept, in order.
 *
 * Integers accept k/m/g (binary) suffixes: "4m" = 4194304. Booleans accept
 * true/false/1/0/yes/no/on/off.
 *
 * Not thread-safe for writing; reads after cfg_load() are safe from any
 * thread while the cfg_t lives. */
#ifndef HOOKPIPE_CFG_H
#define HOOKPIPE_CFG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { CFG_STR, CFG_INT, CFG_BOOL } cfg_type_t;

typedef struct cfg_opt {
    const char *name;      /* dotted key, e.g. "max.body" */
    cfg_type_t type;
    const char *def;       /* default as text; NULL = unset */
    long long min, max;    /* inclusive range for CFG_INT (ignored if min > max) */
    int secret;            /* printed as [redacted] */
    const char *doc;       /* one line for --help */
} cfg_opt_t;

typedef struct cfg cfg_t;

/* Creates a configuration for `table` (n entries; the table is borrowed and
 * must outlive the cfg). `env_prefix` is e.g. "HOOKPIPE_GATEWAY". */
cfg_t *cfg_new(const char *progname, const char *usage, const cfg_opt_t *table,
               size_t n, const char *env_prefix);

/* Frees everything; cfg_destroy(NULL) is a no-op. */
void cfg_destroy(cfg_t *cfg);

/* Loads file, environment and argv (argv[0] is skipped). Returns 0 on success,
 * 1 when --help was asked for (help printed to stdout), -1 on error with a
 * message in errstr. */
int cfg_load(cfg_t *cfg, int argc, char **argv, char *errstr, size_t errstr_size);

/* Sets one key from text, as if given on the command line. 0 or -1. */
int cfg_set(cfg_t *cfg, const char *key, const char *value, char *errstr,
            size_t errstr_size);

/* Typed getters; the key must be in the table (aborts otherwise: a
 * programming error). Strings are borrowed until cfg_destroy(); NULL if unset. */
const char *cfg_str(const cfg_t *cfg, const char *key);
long long cfg_int(const cfg_t *cfg, const char *key);
int cfg_bool(const cfg_t *cfg, const char *key);

/* The "kafka.*" pass-through properties, prefix stripped, in the order set
 * (a later set of the same property replaces the earlier value in place). */
size_t cfg_kafka_count(const cfg_t *cfg);
void cfg_kafka_get(const cfg_t *cfg, size_t i, const char **name, const char **value);

/* Positional arguments left after option parsing (borrowed from argv). */
size_t cfg_argc(const cfg_t *cfg);
char *const *cfg_argv(const cfg_t *cfg);

/* The program name given to cfg_new (borrowed). */
const char *cfg_progname(const cfg_t *cfg);

/* --help text: usage line, then the table (name, default, doc). */
void cfg_print_help(const cfg_t *cfg, FILE *out);

/* The effective configuration, one "key = value" per line, secrets (and
 * kafka properties whose name contains "password", "secret" or "key")
 * printed as [redacted]. */
void cfg_print(const cfg_t *cfg, FILE *out);

#endif
