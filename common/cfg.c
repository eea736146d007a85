/* cfg: service configuration from defaults, file, environment and flags. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"

typedef struct {
    char *name, *value;
} cfg_pair_t;

struct cfg {
    const char *progname, *usage, *env_prefix;
    const cfg_opt_t *table;
    size_t n;
    char **values;          /* per table entry, owned; NULL = unset */
    cfg_pair_t *kafka;      /* pass-through properties, owned */
    size_t nkafka, kafka_cap;
    char **args;            /* positional arguments, borrowed from argv */
    size_t nargs;
};

cfg_t *cfg_new(const char *progname, const char *usage, const cfg_opt_t *table,
               size_t n, const char *env_prefix) {
    cfg_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->progname = progname;
    cfg->usage = usage;
    cfg->table = table;
    cfg->n = n;
    cfg->env_prefix = env_prefix;
    cfg->values = calloc(n ? n : 1, sizeof(char *));
    if (!cfg->values)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (table[i].def && !(cfg->values[i] = strdup(table[i].def)))
            goto fail;
    return cfg;
fail:
    cfg_destroy(cfg);
    return NULL;
}

void cfg_destroy(cfg_t *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; cfg->values && i < cfg->n; i++)
        free(cfg->values[i]);
    free(cfg->values);
    for (size_t i = 0; i < cfg->nkafka; i++) {
        free(cfg->kafka[i].name);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    free(cfg->args);
    free(cfg);
}

static int cfg_index(const cfg_t *cfg, const char *key) {
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->table[i].name, key) == 0)
            return (int)i;
    return -1;
}

/* Parses an integer with an optional binary size suffix. */
static int cfg_parse_int(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno)
        return -1;
    long long mul = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mul = 1LL << 10; break;
        case 'm': mul = 1LL << 20; break;
        case 'g': mul = 1LL << 30; break;
        default: return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    if (v > 0 && v > (1LL << 62) / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int cfg_parse_bool(const char *s) {
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int cfg_set_kafka(cfg_t *cfg, const char *prop, const char *value,
                         char *errstr, size_t errstr_size) {
    if (!*prop) {
        return errstr_fmt(-1, errstr, errstr_size, "empty kafka property name");
    }
    for (size_t i = 0; i < cfg->nkafka; i++) {
        if (strcmp(cfg->kafka[i].name, prop) == 0) {
            char *v = strdup(value);
            if (!v)
                goto oom;
            free(cfg->kafka[i].value);
            cfg->kafka[i].value = v;
            return 0;
        }
    }
    if (cfg->nkafka == cfg->kafka_cap) {
        size_t cap = cfg->kafka_cap ? cfg->kafka_cap * 2 : 8;
        cfg_pair_t *p = realloc(cfg->kafka, cap * sizeof(*p));
        if (!p)
            goto oom;
        cfg->kafka = p;
        cfg->kafka_cap = cap;
    }
    cfg_pair_t *p = &cfg->kafka[cfg->nkafka];
    p->name = strdup(prop);
    p->value = strdup(value);
    if (!p->name || !p->value) {
        free(p->name);
        free(p->value);
        goto oom;
    }
    cfg->nkafka++;
    return 0;
oom:
    return errstr_fmt(-1, errstr, errstr_size, "out of memory");
}

int cfg_set(cfg_t *cfg, const char *key, const char *value, char *errstr,
            size_t errstr_size) {
    if (strncmp(key, "kafka.", 6) == 0)
        return cfg_set_kafka(cfg, key + 6, value, errstr, errstr_size);
    int i = cfg_index(cfg, key);
    if (i < 0) {
        return errstr_fmt(-1, errstr, errstr_size, "unknown key '%s' (see --help)", key);
    }
    const cfg_opt_t *o = &cfg->table[i];
    if (o->type == CFG_INT) {
        long long v;
        if (cfg_parse_int(value, &v) < 0) {
            return errstr_fmt(-1, errstr, errstr_size, "%s: '%s' is not an integer", key, value);
        }
        if (o->min <= o->max && (v < o->min || v > o->max)) {
            return errstr_fmt(-1, errstr, errstr_size, "%s: %lld is outside [%lld, %lld]", key, v,
                              o->min, o->max);
        }
    } else if (o->type == CFG_BOOL && cfg_parse_bool(value) < 0) {
        return errstr_fmt(-1, errstr, errstr_size, "%s: '%s' is not a boolean", key, value);
    }
    char *v = strdup(value);
    if (!v) {
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    free(cfg->values[i]);
    cfg->values[i] = v;
    return 0;
}

static char *cfg_trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int cfg_load_file(cfg_t *cfg, const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        return errstr_fmt(-1, errstr, errstr_size, "%s: %s", path, strerror(errno));
    }
    char line[4096], sub[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = cfg_trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            errstr_fmt(-1, errstr, errstr_size, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        if (cfg_set(cfg, cfg_trim(s), cfg_trim(eq + 1), sub, sizeof(sub)) < 0) {
            errstr_fmt(-1, errstr, errstr_size, "%s:%d: %s", path, lineno, sub);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* "max.body" -> "<PREFIX>_MAX_BODY" */
static void cfg_env_name(const char *prefix, const char *key, char *out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "%s_", prefix);
    for (; *key && n + 1 < size; key++)
        out[n++] = (*key == '.' || *key == '-') ? '_' : (char)toupper((unsigned char)*key);
    out[n] = '\0';
}

extern char **environ;

static int cfg_load_env(cfg_t *cfg, char *errstr, size_t errstr_size) {
    char name[256], sub[512];
    const char *bs = getenv("KAFKA_BOOTSTRAP_SERVERS");
    if (bs && *bs && cfg_set_kafka(cfg, "bootstrap.servers", bs, errstr, errstr_size) < 0)
        return -1;
    /* HOOKPIPE_KAFKA_SASL_MECHANISMS=PLAIN -> kafka.sasl.mechanisms */
    for (char **e = environ; *e; e++) {
        static const char pre[] = "HOOKPIPE_KAFKA_";
        if (strncmp(*e, pre, sizeof(pre) - 1) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = (size_t)(eq - *e) - (sizeof(pre) - 1);
        if (!eq || len == 0 || len >= sizeof(name))
            continue;
        for (size_t i = 0; i < len; i++) {
            char c = (*e)[sizeof(pre) - 1 + i];
            name[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        name[len] = '\0';
        if (cfg_set_kafka(cfg, name, eq + 1, errstr, errstr_size) < 0)
            return -1;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        cfg_env_name(cfg->env_prefix, cfg->table[i].name, name, sizeof(name));
        const char *v = getenv(name);
        if (v && cfg_set(cfg, cfg->table[i].name, v, sub, sizeof(sub)) < 0) {
            return errstr_fmt(-1, errstr, errstr_size, "environment %s: %s", name, sub);
        }
    }
    return 0;
}

int cfg_load(cfg_t *cfg, int argc, char **argv, char *errstr, size_t errstr_size) {
    char name[256];
    const char *file = NULL;
    cfg_env_name(cfg->env_prefix, "config", name, sizeof(name));
    file = getenv(name);
    /* the file comes first whatever its position on the command line */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cfg_print_help(cfg, stdout);
            return 1;
        }
    }
    if (file && *file && cfg_load_file(cfg, file, errstr, errstr_size) < 0)
        return -1;
    if (cfg_load_env(cfg, errstr, errstr_size) < 0)
        return -1;

    free(cfg->args);
    cfg->args = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    cfg->nargs = 0;
    if (!cfg->args) {
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    int only_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            cfg->args[cfg->nargs++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        char key[256];
        const char *value;
        if (strcmp(a, "-X") == 0 || (a[1] == 'X' && a[2])) {
            const char *kv = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq) {
                return errstr_fmt(-1, errstr, errstr_size, "-X expects property=value");
            }
            snprintf(key, sizeof(key), "kafka.%.*s", (int)(eq - kv), kv);
            value = eq + 1;
        } else if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            if (eq) {
                snprintf(key, sizeof(key), "%.*s", (int)(eq - (a + 2)), a + 2);
                value = eq + 1;
            } else {
                snprintf(key, sizeof(key), "%s", a + 2);
                int idx = cfg_index(cfg, key);
                if (idx >= 0 && cfg->table[idx].type == CFG_BOOL &&
                    (i + 1 >= argc || cfg_parse_bool(argv[i + 1]) < 0)) {
                    value = "true";     /* a bare boolean flag */
                } else if (i + 1 < argc) {
                    value = argv[++i];
                } else {
                    return errstr_fmt(-1, errstr, errstr_size, "--%s needs a value", key);
                }
            }
        } else {
            return errstr_fmt(-1, errstr, errstr_size, "unknown option '%s' (see --help)", a);
        }
        if (strcmp(key, "config") == 0)
            continue;
        if (cfg_set(cfg, key, value, errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

static const cfg_opt_t *cfg_opt(const cfg_t *cfg, const char *key, cfg_type_t type) {
    int i = cfg_index(cfg, key);
    if (i < 0 || cfg->table[i].type != type) {
        fprintf(stderr, "cfg: no %s key '%s' in the table\n",
                type == CFG_STR ? "string" : type == CFG_INT ? "integer" : "boolean", key);
        abort();
    }
    return &cfg->table[i];
}

const char *cfg_str(const cfg_t *cfg, const char *key) {
    return cfg->values[cfg_opt(cfg, key, CFG_STR) - cfg->table];
}

long long cfg_int(const cfg_t *cfg, const char *key) {
    const char *v = cfg->values[cfg_opt(cfg, key, CFG_INT) - cfg->table];
    long long n = 0;
    if (v)
        cfg_parse_int(v, &n);
    return n;
}

int cfg_bool(const cfg_t *cfg, const char *key) {
    const char *v = cfg->values[cfg_opt(cfg, key, CFG_BOOL) - cfg->table];
    return v ? cfg_parse_bool(v) == 1 : 0;
}

const char *cfg_progname(const cfg_t *cfg) { return cfg->progname; }

size_t cfg_kafka_count(const cfg_t *cfg) { return cfg->nkafka; }

void cfg_kafka_get(const cfg_t *cfg, size_t i, const char **name, const char **value) {
    *name = cfg->kafka[i].name;
    *value = cfg->kafka[i].value;
}

size_t cfg_argc(const cfg_t *cfg) { return cfg->nargs; }
char *const *cfg_argv(const cfg_t *cfg) { return cfg->args; }

void cfg_print_help(const cfg_t *cfg, FILE *out) {
    char env[256];
    fprintf(out, "usage: %s %s\n\noptions (file < environment < command line):\n",
            cfg->progname, cfg->usage ? cfg->usage : "[options]");
    fprintf(out, "  --config PATH  read \"key = value\" lines from PATH\n");
    for (size_t i = 0; i < cfg->n; i++) {
        const cfg_opt_t *o = &cfg->table[i];
        cfg_env_name(cfg->env_prefix, o->name, env, sizeof(env));
        fprintf(out, "  --%s (%s, default %s)\n      %s\n      env %s\n", o->name,
                o->type == CFG_STR ? "string" : o->type == CFG_INT ? "integer" : "boolean",
                o->def ? (o->secret ? "[redacted]" : *o->def ? o->def : "\"\"") : "unset",
                o->doc, env);
    }
    fprintf(out, "  -X PROP=VALUE, --kafka.PROP=VALUE\n"
                 "      any librdkafka property (e.g. -X security.protocol=SASL_SSL)\n"
                 "      env HOOKPIPE_KAFKA_<PROP> ('.' as '_'), KAFKA_BOOTSTRAP_SERVERS\n");
}

static int cfg_secret_name(const char *name) {
    return strstr(name, "password") || strstr(name, "secret") || strstr(name, "key");
}

void cfg_print(const cfg_t *cfg, FILE *out) {
    for (size_t i = 0; i < cfg->n; i++)
        fprintf(out, "%s = %s\n", cfg->table[i].name,
                !cfg->values[i] ? "" : cfg->table[i].secret ? "[redacted]" : cfg->values[i]);
    for (size_t i = 0; i < cfg->nkafka; i++)
        fprintf(out, "kafka.%s = %s\n", cfg->kafka[i].name,
                cfg_secret_name(cfg->kafka[i].name) ? "[redacted]" : cfg->kafka[i].value);
}
