/* sr_compat: Avro reader/writer compatibility and Confluent levels. */
#include "sr_compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SR_PATH_MAX 512
#define SR_STACK_MAX (SR_AVRO_MAX_DEPTH * 4)

static const char *const sr_level_names[] = {
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
    "FULL_TRANSITIVE"};

int sr_compat_level_parse(const char *name) {
    for (int i = 0; i < (int)(sizeof(sr_level_names) / sizeof(sr_level_names[0])); i++)
        if (strcasecmp(name, sr_level_names[i]) == 0)
            return i;
    return -1;
}

const char *sr_compat_level_name(sr_compat_level_t level) { return sr_level_names[level]; }

typedef struct {
    json_t *reasons;
    char path[SR_PATH_MAX];
    /* pairs being compared, to stop at recursive types */
    const sr_avro_node_t *stack[SR_STACK_MAX][2];
    int depth;
} sr_cctx_t;

static void sr_reason(sr_cctx_t *c, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sr_reason(sr_cctx_t *c, const char *kind, const char *fmt, ...) {
    if (!c->reasons)
        return;
    char detail[512], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s at %s: %s", kind, c->path[0] ? c->path : "/", detail);
    json_array_append_new(c->reasons, json_string(line));
}

static const char *sr_desc(const sr_avro_node_t *n) {
    return n->fullname ? n->fullname : sr_avro_type_name(n->type);
}

static int sr_name_match(const sr_avro_node_t *r, const sr_avro_node_t *w) {
    if (strcmp(sr_avro_short_name(r->fullname), sr_avro_short_name(w->fullname)) == 0)
        return 1;
    for (size_t i = 0; i < r->naliases; i++)
        if (strcmp(r->aliases[i], w->fullname) == 0)
            return 1;
    return 0;
}

/* writer primitive type promotable to reader primitive type */
static int sr_promotes(sr_avro_type_t w, sr_avro_type_t r) {
    switch (r) {
    case SR_AVRO_LONG: return w == SR_AVRO_INT;
    case SR_AVRO_FLOAT: return w == SR_AVRO_INT || w == SR_AVRO_LONG;
    case SR_AVRO_DOUBLE: return w == SR_AVRO_INT || w == SR_AVRO_LONG || w == SR_AVRO_FLOAT;
    case SR_AVRO_BYTES: return w == SR_AVRO_STRING;
    case SR_AVRO_STRING: return w == SR_AVRO_BYTES;
    default: return 0;
    }
}

static int sr_check(sr_cctx_t *c, const sr_avro_node_t *r, const sr_avro_node_t *w);

/* Appends a path segment for the duration of a nested check. */
static int sr_check_at(sr_cctx_t *c, const char *seg, const sr_avro_node_t *r,
                       const sr_avro_node_t *w) {
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof(c->path) - len, "%s", seg);
    int ok = sr_check(c, r, w);
    c->path[len] = '\0';
    return ok;
}

/* sr_check without reporting: used to probe union branches. */
static int sr_quiet(sr_cctx_t *c, const sr_avro_node_t *r, const sr_avro_node_t *w) {
    json_t *saved = c->reasons;
    c->reasons = NULL;
    int ok = sr_check(c, r, w);
    c->reasons = saved;
    return ok;
}

static int sr_check_record(sr_cctx_t *c, const sr_avro_node_t *r, const sr_avro_node_t *w) {
    int ok = 1;
    for (size_t i = 0; i < r->nfields; i++) {
        const sr_avro_field_t *rf = &r->fields[i];
        const sr_avro_field_t *wf = NULL;
        for (size_t k = 0; k < w->nfields && !wf; k++)
            if (strcmp(w->fields[k].name, rf->name) == 0)
                wf = &w->fields[k];
        for (size_t a = 0; a < rf->naliases && !wf; a++)
            for (size_t k = 0; k < w->nfields && !wf; k++)
                if (strcmp(w->fields[k].name, rf->aliases[a]) == 0)
                    wf = &w->fields[k];
        char seg[64];
        snprintf(seg, sizeof(seg), "/fields/%zu", i);
        if (!wf) {
            if (!rf->def) {
                size_t len = strlen(c->path);
                snprintf(c->path + len, sizeof(c->path) - len, "%s", seg);
                sr_reason(c, "READER_FIELD_MISSING_DEFAULT_VALUE",
                          "field '%s' has no default value and is missing in the writer schema",
                          rf->name);
                c->path[len] = '\0';
                ok = 0;
            }
            continue;
        }
        snprintf(seg, sizeof(seg), "/fields/%zu/type", i);
        if (!sr_check_at(c, seg, rf->type, wf->type))
            ok = 0;
    }
    return ok;
}

static int sr_check(sr_cctx_t *c, const sr_avro_node_t *r, const sr_avro_node_t *w) {
    for (int i = 0; i < c->depth; i++)
        if (c->stack[i][0] == r && c->stack[i][1] == w)
            return 1;   /* already being compared higher up: recursive type */
    if (c->depth >= SR_STACK_MAX) {
        sr_reason(c, "TYPE_MISMATCH", "schemas nested too deeply to compare");
        return 0;
    }
    c->stack[c->depth][0] = r;
    c->stack[c->depth][1] = w;
    c->depth++;
    int ok = 1;
    if (w->type == SR_AVRO_UNION) {
        /* every branch the writer may have used must be readable */
        for (size_t i = 0; i < w->nbranches; i++) {
            if (r->type == SR_AVRO_UNION) {
                size_t k;
                for (k = 0; k < r->nbranches; k++)
                    if (sr_quiet(c, r->branches[k], w->branches[i]))
                        break;
                if (k == r->nbranches) {
                    sr_reason(c, "MISSING_UNION_BRANCH",
                              "reader union lacks a branch for writer branch %zu (%s)", i,
                              sr_desc(w->branches[i]));
                    ok = 0;
                }
            } else if (!sr_check(c, r, w->branches[i])) {
                ok = 0;
            }
        }
        goto out;
    }
    if (r->type == SR_AVRO_UNION) {
        for (size_t k = 0; k < r->nbranches; k++)
            if (sr_quiet(c, r->branches[k], w))
                goto out;
        sr_reason(c, "MISSING_UNION_BRANCH", "reader union has no branch for writer %s",
                  sr_desc(w));
        ok = 0;
        goto out;
    }
    if (r->type != w->type) {
        if (!sr_promotes(w->type, r->type)) {
            sr_reason(c, "TYPE_MISMATCH", "reader %s, writer %s", sr_desc(r), sr_desc(w));
            ok = 0;
        }
        goto out;
    }
    switch (r->type) {
    case SR_AVRO_RECORD:
    case SR_AVRO_ENUM:
    case SR_AVRO_FIXED:
        if (!sr_name_match(r, w)) {
            sr_reason(c, "NAME_MISMATCH", "reader %s, writer %s", r->fullname, w->fullname);
            ok = 0;
            goto out;
        }
        break;
    default:
        break;
    }
    switch (r->type) {
    case SR_AVRO_RECORD: ok = sr_check_record(c, r, w); break;
    case SR_AVRO_ENUM:
        if (r->enum_default)
            break;      /* unknown writer symbols read as the reader's default */
        for (size_t i = 0; i < w->nsymbols; i++) {
            size_t k = 0;
            while (k < r->nsymbols && strcmp(r->symbols[k], w->symbols[i]) != 0)
                k++;
            if (k == r->nsymbols) {
                sr_reason(c, "MISSING_ENUM_SYMBOLS", "reader %s lacks symbol '%s'",
                          r->fullname, w->symbols[i]);
                ok = 0;
            }
        }
        break;
    case SR_AVRO_FIXED:
        if (r->size != w->size) {
            sr_reason(c, "FIXED_SIZE_MISMATCH", "reader %s size %lld, writer size %lld",
                      r->fullname, r->size, w->size);
            ok = 0;
        }
        break;
    case SR_AVRO_ARRAY: ok = sr_check_at(c, "/items", r->items, w->items); break;
    case SR_AVRO_MAP: ok = sr_check_at(c, "/values", r->items, w->items); break;
    default: break;
    }
out:
    c->depth--;
    return ok;
}

int sr_compat_can_read(const sr_avro_t *reader, const sr_avro_t *writer, json_t *reasons) {
    static __thread sr_cctx_t c;   /* large: kept off the stack */
    c.reasons = reasons;
    c.path[0] = '\0';
    c.depth = 0;
    return sr_check(&c, reader->root, writer->root);
}

int sr_compat_check(sr_compat_level_t level, const sr_avro_t *candidate,
                    const sr_avro_t *const *existing, const int *versions, size_t n,
                    json_t *reasons) {
    if (level == SR_COMPAT_NONE || n == 0)
        return 1;
    int transitive = level == SR_COMPAT_BACKWARD_TRANSITIVE ||
                     level == SR_COMPAT_FORWARD_TRANSITIVE || level == SR_COMPAT_FULL_TRANSITIVE;
    int back = level != SR_COMPAT_FORWARD && level != SR_COMPAT_FORWARD_TRANSITIVE;
    int fwd = level != SR_COMPAT_BACKWARD && level != SR_COMPAT_BACKWARD_TRANSITIVE;
    int ok = 1;
    for (size_t i = transitive ? 0 : n - 1; i < n; i++) {
        for (int dir = 0; dir < 2; dir++) {
            if ((dir == 0 && !back) || (dir == 1 && !fwd))
                continue;
            json_t *mine = reasons ? json_array() : NULL;
            int good = dir == 0 ? sr_compat_can_read(candidate, existing[i], mine)
                                : sr_compat_can_read(existing[i], candidate, mine);
            if (!good)
                ok = 0;
            size_t k;
            json_t *m;
            json_array_foreach(mine, k, m) {
                char line[1400];
                snprintf(line, sizeof(line), "version %d (%s): %s",
                         versions ? versions[i] : (int)i + 1,
                         dir == 0 ? "BACKWARD: the new schema cannot read it"
                                  : "FORWARD: it cannot read the new schema",
                         json_string_value(m));
                json_array_append_new(reasons, json_string(line));
            }
            if (mine)
                json_decref(mine);
        }
    }
    return ok;
}
