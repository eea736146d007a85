/* sr_avro: Avro schema parser, Parsing Canonical Form and fingerprint. */
#include "sr_avro.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

typedef struct {
    sr_avro_t *s;
    char *err;
    size_t err_size;
    int depth;
} sr_pctx_t;

static const char *const sr_type_names[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    "record", "enum", "array", "map", "union", "fixed"};

const char *sr_avro_type_name(sr_avro_type_t type) { return sr_type_names[type]; }

const char *sr_avro_short_name(const char *fullname) {
    const char *dot = strrchr(fullname, '.');
    return dot ? dot + 1 : fullname;
}

static int sr_perr(sr_pctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sr_perr(sr_pctx_t *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
    return -1;
}

uint64_t sr_avro_crc64(const void *buf, size_t len) {
    static const uint64_t empty = 0xc15d213aa4d7a795ULL;
    static uint64_t table[256];
    static int init;
    /* the table is a pure function of constants: a racing first use writes
     * the same values, so no lock is needed beyond the final flag */
    if (!__atomic_load_n(&init, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 256; i++) {
            uint64_t fp = (uint64_t)i;
            for (int j = 0; j < 8; j++)
                fp = (fp >> 1) ^ (empty & (0 - (fp & 1)));
            table[i] = fp;
        }
        __atomic_store_n(&init, 1, __ATOMIC_RELEASE);
    }
    uint64_t fp = empty;
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}

static sr_avro_node_t *sr_node_new(sr_pctx_t *c, sr_avro_type_t type) {
    sr_avro_t *s = c->s;
    if (s->nnodes >= SR_AVRO_MAX_NODES) {
        sr_perr(c, "schema has more than %d types", SR_AVRO_MAX_NODES);
        return NULL;
    }
    if (s->nnodes == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        sr_avro_node_t **n = realloc(s->nodes, cap * sizeof(*n));
        if (!n)
            goto oom;
        s->nodes = n;
        s->cap = cap;
    }
    sr_avro_node_t *n = calloc(1, sizeof(*n));
    if (!n)
        goto oom;
    n->type = type;
    s->nodes[s->nnodes++] = n;
    return n;
oom:
    sr_perr(c, "out of memory");
    return NULL;
}

static void sr_strv_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void sr_node_free(sr_avro_node_t *n) {
    free(n->fullname);
    sr_strv_free(n->aliases, n->naliases);
    for (size_t i = 0; i < n->nfields; i++) {
        free(n->fields[i].name);
        if (n->fields[i].def)
            json_decref(n->fields[i].def);
        sr_strv_free(n->fields[i].aliases, n->fields[i].naliases);
    }
    free(n->fields);
    sr_strv_free(n->symbols, n->nsymbols);
    free(n->enum_default);
    free(n->branches);
    free(n);
}

void sr_avro_destroy(sr_avro_t *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++)
        sr_node_free(s->nodes[i]);
    free(s->nodes);
    free(s->canonical);
    free(s);
}

/* [A-Za-z_][A-Za-z0-9_]* */
static int sr_name_ok(const char *s, size_t len) {
    if (len == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    return 1;
}

/* a dotted full name: every part a valid name */
static int sr_fullname_ok(const char *s) {
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!sr_name_ok(p, len))
            return 0;
        if (!dot)
            return 1;
        p = dot + 1;
    }
}

static int sr_primitive(const char *name) {
    for (int t = SR_AVRO_NULL; t <= SR_AVRO_STRING; t++)
        if (strcmp(name, sr_type_names[t]) == 0)
            return t;
    return -1;
}

/* Full name of `name` given a namespace (NULL or "" = none). malloc'd. */
static char *sr_qualify(const char *name, const char *ns) {
    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    size_t n = strlen(ns) + strlen(name) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s.%s", ns, name);
    return out;
}

static sr_avro_node_t *sr_lookup(sr_avro_t *s, const char *fullname) {
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->fullname && strcmp(s->nodes[i]->fullname, fullname) == 0)
            return s->nodes[i];
    return NULL;
}

static sr_avro_node_t *sr_parse_node(sr_pctx_t *c, json_t *j, const char *ns);

/* Checks that `v` is a valid value of type `t` (Avro default rules). */
static int sr_default_ok(const sr_avro_node_t *t, json_t *v, int depth) {
    if (depth > SR_AVRO_MAX_DEPTH)
        return 0;
    switch (t->type) {
    case SR_AVRO_NULL: return json_is_null(v);
    case SR_AVRO_BOOLEAN: return json_is_boolean(v);
    case SR_AVRO_INT:
        return json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
               json_integer_value(v) <= INT32_MAX;
    case SR_AVRO_LONG: return json_is_integer(v);
    case SR_AVRO_FLOAT:
    case SR_AVRO_DOUBLE: return json_is_number(v);
    case SR_AVRO_BYTES:
    case SR_AVRO_STRING: return json_is_string(v);
    case SR_AVRO_FIXED: return json_is_string(v);
    case SR_AVRO_ENUM:
        if (!json_is_string(v))
            return 0;
        for (size_t i = 0; i < t->nsymbols; i++)
            if (strcmp(t->symbols[i], json_string_value(v)) == 0)
                return 1;
        return 0;
    case SR_AVRO_ARRAY: {
        if (!json_is_array(v))
            return 0;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (!sr_default_ok(t->items, e, depth + 1)) return 0;
        return 1;
    }
    case SR_AVRO_MAP: {
        if (!json_is_object(v))
            return 0;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) if (!sr_default_ok(t->items, e, depth + 1)) return 0;
        return 1;
    }
    case SR_AVRO_UNION: return t->nbranches > 0 && sr_default_ok(t->branches[0], v, depth + 1);
    case SR_AVRO_RECORD:
        if (!json_is_object(v))
            return 0;
        for (size_t i = 0; i < t->nfields; i++) {
            json_t *fv = json_object_get(v, t->fields[i].name);
            if (!fv) {
                if (!t->fields[i].def)
                    return 0;
            } else if (!sr_default_ok(t->fields[i].type, fv, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* Reads "aliases" of a named type (qualified with ns) or of a field. */
static int sr_parse_aliases(sr_pctx_t *c, json_t *j, const char *ns, int qualify,
                            char ***out, size_t *nout) {
    json_t *a = json_object_get(j, "aliases");
    if (!a)
        return 0;
    if (!json_is_array(a))
        return sr_perr(c, "\"aliases\" must be an array of names");
    size_t n = json_array_size(a);
    *out = calloc(n ? n : 1, sizeof(char *));
    if (!*out)
        return sr_perr(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        const char *name = json_string_value(e);
        if (!name || !(qualify ? sr_fullname_ok(name) : sr_name_ok(name, strlen(name))))
            return sr_perr(c, "invalid alias in \"aliases\"");
        (*out)[i] = qualify ? sr_qualify(name, ns) : strdup(name);
        if (!(*out)[i])
            return sr_perr(c, "out of memory");
        (*nout)++;
    }
    return 0;
}

/* Fills fullname of a named type and registers it. Returns the namespace
 * of the type through *ns_out (borrowed from the node's fullname copy). */
static int sr_parse_name(sr_pctx_t *c, sr_avro_node_t *n, json_t *j, const char *ns,
                         char **ns_out) {
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name)
        return sr_perr(c, "%s needs a string \"name\"", sr_type_names[n->type]);
    json_t *nsj = json_object_get(j, "namespace");
    if (nsj && !json_is_string(nsj) && !json_is_null(nsj))
        return sr_perr(c, "\"namespace\" must be a string");
    const char *own_ns = ns;
    if (nsj)
        own_ns = json_is_string(nsj) ? json_string_value(nsj) : "";
    if (own_ns && *own_ns && !strchr(name, '.') && !sr_fullname_ok(own_ns))
        return sr_perr(c, "invalid namespace \"%.64s\"", own_ns);
    if (!sr_fullname_ok(name))
        return sr_perr(c, "invalid name \"%.64s\"", name);
    n->fullname = sr_qualify(name, own_ns);
    if (!n->fullname)
        return sr_perr(c, "out of memory");
    if (sr_primitive(sr_avro_short_name(n->fullname)) >= 0 && !strchr(n->fullname, '.'))
        return sr_perr(c, "a named type cannot be called \"%s\"", n->fullname);
    for (size_t i = 0; i + 1 < c->s->nnodes; i++)
        if (c->s->nodes[i]->fullname && strcmp(c->s->nodes[i]->fullname, n->fullname) == 0)
            return sr_perr(c, "type \"%.128s\" is defined twice", n->fullname);
    const char *dot = strrchr(n->fullname, '.');
    *ns_out = dot ? strndup(n->fullname, (size_t)(dot - n->fullname)) : strdup("");
    if (!*ns_out)
        return sr_perr(c, "out of memory");
    if (sr_parse_aliases(c, j, *ns_out, 1, &n->aliases, &n->naliases) < 0)
        return -1;
    return 0;
}

static int sr_parse_record(sr_pctx_t *c, sr_avro_node_t *n, json_t *j, const char *ns) {
    char *rns = NULL;
    int rc = -1;
    if (sr_parse_name(c, n, j, ns, &rns) < 0)
        goto out;
    json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields)) {
        sr_perr(c, "record \"%.128s\" needs a \"fields\" array", n->fullname);
        goto out;
    }
    size_t nf = json_array_size(fields);
    n->fields = calloc(nf ? nf : 1, sizeof(*n->fields));
    if (!n->fields) {
        sr_perr(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        json_t *fj = json_array_get(fields, i);
        sr_avro_field_t *f = &n->fields[i];
        n->nfields++;
        const char *fname = json_string_value(json_object_get(fj, "name"));
        if (!json_is_object(fj) || !fname) {
            sr_perr(c, "field %zu of \"%.128s\" needs a string \"name\"", i, n->fullname);
            goto out;
        }
        if (!sr_name_ok(fname, strlen(fname))) {
            sr_perr(c, "invalid field name \"%.64s\" in \"%.128s\"", fname, n->fullname);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->fields[k].name, fname) == 0) {
                sr_perr(c, "field \"%s\" appears twice in \"%.128s\"", fname, n->fullname);
                goto out;
            }
        if (!(f->name = strdup(fname))) {
            sr_perr(c, "out of memory");
            goto out;
        }
        json_t *tj = json_object_get(fj, "type");
        if (!tj) {
            sr_perr(c, "field \"%s\" of \"%.128s\" has no \"type\"", fname, n->fullname);
            goto out;
        }
        if (!(f->type = sr_parse_node(c, tj, rns)))
            goto out;
        if (sr_parse_aliases(c, fj, NULL, 0, &f->aliases, &f->naliases) < 0)
            goto out;
        json_t *def = json_object_get(fj, "default");
        if (def) {
            if (!sr_default_ok(f->type, def, 0)) {
                sr_perr(c, "default of field \"%s\" in \"%.128s\" is not a valid %s", fname,
                        n->fullname, sr_type_names[f->type->type]);
                goto out;
            }
            f->def = json_incref(def);
        }
    }
    rc = 0;
out:
    free(rns);
    return rc;
}

static int sr_parse_enum(sr_pctx_t *c, sr_avro_node_t *n, json_t *j, const char *ns) {
    char *ens = NULL;
    int rc = -1;
    if (sr_parse_name(c, n, j, ns, &ens) < 0)
        goto out;
    json_t *sym = json_object_get(j, "symbols");
    if (!json_is_array(sym)) {
        sr_perr(c, "enum \"%.128s\" needs a \"symbols\" array", n->fullname);
        goto out;
    }
    size_t ns_ = json_array_size(sym);
    n->symbols = calloc(ns_ ? ns_ : 1, sizeof(char *));
    if (!n->symbols) {
        sr_perr(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ns_; i++) {
        const char *s = json_string_value(json_array_get(sym, i));
        if (!s || !sr_name_ok(s, strlen(s))) {
            sr_perr(c, "invalid symbol %zu in enum \"%.128s\"", i, n->fullname);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->symbols[k], s) == 0) {
                sr_perr(c, "symbol \"%s\" appears twice in enum \"%.128s\"", s, n->fullname);
                goto out;
            }
        if (!(n->symbols[i] = strdup(s))) {
            sr_perr(c, "out of memory");
            goto out;
        }
        n->nsymbols++;
    }
    json_t *def = json_object_get(j, "default");
    if (def) {
        const char *d = json_string_value(def);
        size_t k = 0;
        while (d && k < n->nsymbols && strcmp(n->symbols[k], d) != 0)
            k++;
        if (!d || k == n->nsymbols) {
            sr_perr(c, "default of enum \"%.128s\" is not one of its symbols", n->fullname);
            goto out;
        }
        if (!(n->enum_default = strdup(d))) {
            sr_perr(c, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    free(ens);
    return rc;
}

static int sr_parse_fixed(sr_pctx_t *c, sr_avro_node_t *n, json_t *j, const char *ns) {
    char *fns = NULL;
    int rc = -1;
    if (sr_parse_name(c, n, j, ns, &fns) < 0)
        goto out;
    json_t *size = json_object_get(j, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > INT32_MAX) {
        sr_perr(c, "fixed \"%.128s\" needs a non-negative integer \"size\"", n->fullname);
        goto out;
    }
    n->size = json_integer_value(size);
    rc = 0;
out:
    free(fns);
    return rc;
}

/* Two union branches that Avro forbids side by side. */
static int sr_union_clash(const sr_avro_node_t *a, const sr_avro_node_t *b) {
    if (a->type != b->type)
        return 0;
    if (a->type == SR_AVRO_RECORD || a->type == SR_AVRO_ENUM || a->type == SR_AVRO_FIXED)
        return strcmp(a->fullname, b->fullname) == 0;
    return 1;
}

static sr_avro_node_t *sr_parse_union(sr_pctx_t *c, json_t *j, const char *ns) {
    sr_avro_node_t *n = sr_node_new(c, SR_AVRO_UNION);
    if (!n)
        return NULL;
    size_t nb = json_array_size(j);
    n->branches = calloc(nb ? nb : 1, sizeof(*n->branches));
    if (!n->branches) {
        sr_perr(c, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        sr_avro_node_t *b = sr_parse_node(c, json_array_get(j, i), ns);
        if (!b)
            return NULL;
        if (b->type == SR_AVRO_UNION) {
            sr_perr(c, "a union cannot directly contain a union");
            return NULL;
        }
        for (size_t k = 0; k < i; k++)
            if (sr_union_clash(n->branches[k], b)) {
                sr_perr(c, "union contains %s twice",
                        b->fullname ? b->fullname : sr_type_names[b->type]);
                return NULL;
            }
        n->branches[n->nbranches++] = b;
    }
    return n;
}

static sr_avro_node_t *sr_parse_ref(sr_pctx_t *c, const char *name, const char *ns) {
    int prim = sr_primitive(name);
    if (prim >= 0)
        return sr_node_new(c, (sr_avro_type_t)prim);
    sr_avro_node_t *n = NULL;
    char *q = sr_qualify(name, ns);
    if (!q) {
        sr_perr(c, "out of memory");
        return NULL;
    }
    n = sr_lookup(c->s, q);
    if (!n)
        n = sr_lookup(c->s, name);
    if (!n)
        sr_perr(c, "unknown type \"%.128s\"", q);
    free(q);
    return n;
}

static sr_avro_node_t *sr_parse_node(sr_pctx_t *c, json_t *j, const char *ns) {
    sr_avro_node_t *n = NULL;
    if (++c->depth > SR_AVRO_MAX_DEPTH) {
        sr_perr(c, "schema nesting deeper than %d", SR_AVRO_MAX_DEPTH);
        goto out;
    }
    if (json_is_string(j)) {
        n = sr_parse_ref(c, json_string_value(j), ns);
        goto out;
    }
    if (json_is_array(j)) {
        n = sr_parse_union(c, j, ns);
        goto out;
    }
    if (!json_is_object(j)) {
        sr_perr(c, "a schema is a string, an object or an array");
        goto out;
    }
    json_t *tj = json_object_get(j, "type");
    if (!tj) {
        sr_perr(c, "schema object has no \"type\"");
        goto out;
    }
    if (!json_is_string(tj)) {
        n = sr_parse_node(c, tj, ns);
        goto out;
    }
    const char *t = json_string_value(tj);
    int prim = sr_primitive(t);
    if (prim >= 0) {
        n = sr_node_new(c, (sr_avro_type_t)prim);
    } else if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        /* registered before its fields so that fields may refer to it */
        if ((n = sr_node_new(c, SR_AVRO_RECORD)) && sr_parse_record(c, n, j, ns) < 0)
            n = NULL;
    } else if (strcmp(t, "enum") == 0) {
        if ((n = sr_node_new(c, SR_AVRO_ENUM)) && sr_parse_enum(c, n, j, ns) < 0)
            n = NULL;
    } else if (strcmp(t, "fixed") == 0) {
        if ((n = sr_node_new(c, SR_AVRO_FIXED)) && sr_parse_fixed(c, n, j, ns) < 0)
            n = NULL;
    } else if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int arr = t[0] == 'a';
        json_t *sub = json_object_get(j, arr ? "items" : "values");
        if (!sub) {
            sr_perr(c, "%s needs \"%s\"", t, arr ? "items" : "values");
            goto out;
        }
        if ((n = sr_node_new(c, arr ? SR_AVRO_ARRAY : SR_AVRO_MAP)) &&
            !(n->items = sr_parse_node(c, sub, ns)))
            n = NULL;
    } else {
        n = sr_parse_ref(c, t, ns);
    }
out:
    c->depth--;
    return n;
}

/* names and symbols are [A-Za-z0-9_.] only, so they need no escaping */
static void sr_pcf_quoted(buf_t *b, const char *s) {
    buf_printf(b, "\"%s\"", s);
}

/* Parsing Canonical Form: [PRIMITIVES] [FULLNAMES] [STRIP] [ORDER]
 * [STRINGS] [INTEGERS] [WHITESPACE]; a named type after its first
 * appearance is written as its full name. */
static void sr_pcf(buf_t *b, sr_avro_node_t *n) {
    switch (n->type) {
    case SR_AVRO_RECORD:
    case SR_AVRO_ENUM:
    case SR_AVRO_FIXED:
        if (n->mark) {
            sr_pcf_quoted(b, n->fullname);
            return;
        }
        n->mark = 1;
        buf_puts(b, "{\"name\":");
        sr_pcf_quoted(b, n->fullname);
        buf_puts(b, ",\"type\":");
        sr_pcf_quoted(b, sr_type_names[n->type]);
        if (n->type == SR_AVRO_RECORD) {
            buf_puts(b, ",\"fields\":[");
            for (size_t i = 0; i < n->nfields; i++) {
                buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
                sr_pcf_quoted(b, n->fields[i].name);
                buf_puts(b, ",\"type\":");
                sr_pcf(b, n->fields[i].type);
                buf_puts(b, "}");
            }
            buf_puts(b, "]}");
        } else if (n->type == SR_AVRO_ENUM) {
            buf_puts(b, ",\"symbols\":[");
            for (size_t i = 0; i < n->nsymbols; i++) {
                if (i)
                    buf_puts(b, ",");
                sr_pcf_quoted(b, n->symbols[i]);
            }
            buf_puts(b, "]}");
        } else {
            buf_printf(b, ",\"size\":%lld}", n->size);
        }
        return;
    case SR_AVRO_ARRAY:
    case SR_AVRO_MAP:
        buf_puts(b, n->type == SR_AVRO_ARRAY ? "{\"type\":\"array\",\"items\":"
                                               : "{\"type\":\"map\",\"values\":");
        sr_pcf(b, n->items);
        buf_puts(b, "}");
        return;
    case SR_AVRO_UNION:
        buf_puts(b, "[");
        for (size_t i = 0; i < n->nbranches; i++) {
            if (i)
                buf_puts(b, ",");
            sr_pcf(b, n->branches[i]);
        }
        buf_puts(b, "]");
        return;
    default:
        sr_pcf_quoted(b, sr_type_names[n->type]);
    }
}

sr_avro_t *sr_avro_parse(const char *text, size_t len, char *errstr, size_t errstr_size) {
    sr_avro_t *s = NULL;
    json_t *j = NULL;
    json_error_t jerr;
    buf_t b = BUF_INIT;
    if (len > SR_AVRO_MAX_TEXT) {
        snprintf(errstr, errstr_size, "schema text longer than %d bytes", SR_AVRO_MAX_TEXT);
        return NULL;
    }
    /* the depth limit of jansson's own parser is 2048; ours is checked below */
    j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(errstr, errstr_size, "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    sr_pctx_t c = {s, errstr, errstr_size, 0};
    s->root = sr_parse_node(&c, j, NULL);
    if (!s->root)
        goto fail;
    sr_pcf(&b, s->root);
    if (!(s->canonical = buf_detach(&b, &s->canonical_len))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    s->fingerprint = sr_avro_crc64(s->canonical, s->canonical_len);
    json_decref(j);
    return s;
fail:
    buf_free(&b);
    json_decref(j);
    sr_avro_destroy(s);
    return NULL;
}
