/* sink_shape: inferred schema model, fast-path check, evolution, schema JSON
 * and value filling (see sink_shape.h). */
#include "sink_shape.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "sink_name.h"
#include "sink_num.h"
#include "utf8.h"

#define NAME_MAX_LIMIT 512
#define NAME_BUF       (NAME_MAX_LIMIT * 8 + 2)  /* "_u10FFFF" per 4-byte char */
#define QUOTE_MAX      64                       /* bytes of a name in a reason */

/* Branch kinds, in union order (see sink_shape.h for why this order). */
enum { K_NULL, K_BOOL, K_LONG, K_DOUBLE, K_DECIMAL, K_STRING, K_RECORD, K_ARRAY, K_COUNT };

typedef struct rec rec_t;

typedef struct type {
    uint8_t n;                /* branches */
    uint8_t order[K_COUNT];   /* union order: present kinds, ascending */
    int8_t idx[K_COUNT];      /* kind -> union index, -1 if absent */
    rec_t *rec;               /* K_RECORD branch, owned */
    struct type *items;       /* K_ARRAY branch's item type, owned */
} type_t;

typedef struct field {
    char *json;               /* original name, NUL-terminated, may hold NUL */
    size_t json_len;
    char *avro;
    type_t t;
    uint64_t stamp;           /* == the visit's stamp when seen in it */
} field_t;

struct rec {
    char *name;
    field_t *f;
    size_t n, cap;
    uint32_t *hash;           /* open addressing on json names: index + 1 */
    uint32_t *ahash;          /* the same on Avro names, for collisions */
    size_t hcap;              /* 0 or a power of two >= 2 * n, both tables */
};

struct sink_shape {
    char *ns;
    int has_pk;
    sink_limits_t lim;
    rec_t *root;
    size_t nfields;
    uint64_t stamp;
};

static const char *const sys_names[] = {SINK_SYS_RECEIVED_AT, SINK_SYS_SEQUENCE,
                                        SINK_SYS_BATCHED_AT, SINK_SYS_TABLE_VERSION,
                                        SINK_SYS_PRIMARY_KEY};

const char *sink_rc_name(int rc) {
    switch (rc) {
    case SINK_OK: return "ok";
    case SINK_NEW_VERSION: return "new_version";
    case SINK_REJECT: return "reject";
    default: return "fail";
    }
}

void sink_limits_defaults(sink_limits_t *lim) {
    if (!lim->max_depth)
        lim->max_depth = 15;
    if (!lim->max_fields)
        lim->max_fields = 2000;
    if (!lim->max_name)
        lim->max_name = 255;
    if (lim->max_name > NAME_MAX_LIMIT)
        lim->max_name = NAME_MAX_LIMIT;
    if (!lim->max_nodes)
        lim->max_nodes = SINK_JSON_DEFAULT_MAX_NODES;
    if (!lim->max_schema_bytes)
        lim->max_schema_bytes = 512 * 1024;
    if (!lim->max_schema_types)
        lim->max_schema_types = 10000;
}

static int quote_len(size_t len) {
    return (int)(len < QUOTE_MAX ? len : QUOTE_MAX);
}

/* ---- model ---------------------------------------------------------- */

static void type_init(type_t *t) {
    memset(t, 0, sizeof(*t));
    memset(t->idx, -1, sizeof(t->idx));
}

static void type_add(type_t *t, int k) {
    t->idx[k] = 0;
    t->n = 0;
    for (int j = 0; j < K_COUNT; j++)
        if (t->idx[j] >= 0) {
            t->idx[j] = (int8_t)t->n;
            t->order[t->n++] = (uint8_t)j;
        }
}

static void rec_free(rec_t *r);

static void type_clear(type_t *t) {
    rec_free(t->rec);
    if (t->items) {
        type_clear(t->items);
        free(t->items);
    }
}

static void rec_free(rec_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].json);
        free(r->f[i].avro);
        type_clear(&r->f[i].t);
    }
    free(r->f);
    free(r->hash);
    free(r->ahash);
    free(r->name);
    free(r);
}

static rec_t *rec_new(char *name) {
    rec_t *r = calloc(1, sizeof(*r));
    if (r)
        r->name = name;
    return r;
}

static uint32_t name_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int field_is(const field_t *f, const char *key, size_t len) {
    return f->json_len == len && memcmp(f->json, key, len) == 0;
}

/* Index of the field named key, or -1. `hint` is where the caller expects
 * it (records usually repeat their key order). */
static long rec_find(const rec_t *r, const char *key, size_t len, size_t hint) {
    if (hint < r->n && field_is(&r->f[hint], key, len))
        return (long)hint;
    if (!r->hcap)
        return -1;
    size_t mask = r->hcap - 1, h = name_hash(key, len) & mask;
    for (uint32_t slot; (slot = r->hash[h]) != 0; h = (h + 1) & mask)
        if (field_is(&r->f[slot - 1], key, len))
            return (long)slot - 1;
    return -1;
}

/* Index of the field whose Avro name is `avro`, or -1. */
static long rec_find_avro(const rec_t *r, const char *avro) {
    if (!r->hcap)
        return -1;
    size_t mask = r->hcap - 1, h = name_hash(avro, strlen(avro)) & mask;
    for (uint32_t slot; (slot = r->ahash[h]) != 0; h = (h + 1) & mask)
        if (!strcmp(r->f[slot - 1].avro, avro))
            return (long)slot - 1;
    return -1;
}

static void hash_put(rec_t *r, size_t i) {
    size_t mask = r->hcap - 1, h = name_hash(r->f[i].json, r->f[i].json_len) & mask;
    while (r->hash[h])
        h = (h + 1) & mask;
    r->hash[h] = (uint32_t)(i + 1);
    h = name_hash(r->f[i].avro, strlen(r->f[i].avro)) & mask;
    while (r->ahash[h])
        h = (h + 1) & mask;
    r->ahash[h] = (uint32_t)(i + 1);
}

static int rec_reindex(rec_t *r) {
    if (r->n * 2 <= r->hcap)
        return 0;
    size_t cap = r->hcap ? r->hcap : 16;
    while (cap < r->n * 2)
        cap *= 2;
    uint32_t *h = calloc(cap, sizeof(*h)), *ah = calloc(cap, sizeof(*ah));
    if (!h || !ah) {
        free(h);
        free(ah);
        return -1;
    }
    free(r->hash);
    free(r->ahash);
    r->hash = h;
    r->ahash = ah;
    r->hcap = cap;
    for (size_t i = 0; i < r->n; i++)
        hash_put(r, i);
    return 0;
}

/* Appends a field with no type yet; takes over json and avro. */
static int rec_append(rec_t *r, char *json, size_t json_len, char *avro) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        field_t *f = realloc(r->f, cap * sizeof(*f));
        if (!f)
            return -1;
        r->f = f;
        r->cap = cap;
    }
    field_t *f = &r->f[r->n++];
    f->json = json;
    f->json_len = json_len;
    f->avro = avro;
    f->stamp = 0;
    type_init(&f->t);
    if (r->n * 2 > r->hcap) {
        if (rec_reindex(r) < 0)
            return -1;
    } else {
        hash_put(r, r->n - 1);
    }
    return 0;
}

static char *mem_dup(const char *s, size_t len) {
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static rec_t *rec_clone(const rec_t *r);

static int type_copy(type_t *dst, const type_t *src) {
    *dst = *src;
    dst->rec = NULL;
    dst->items = NULL;
    if (src->rec && !(dst->rec = rec_clone(src->rec)))
        return -1;
    if (src->items) {
        dst->items = malloc(sizeof(*dst->items));
        if (!dst->items || type_copy(dst->items, src->items) < 0)
            return -1;
    }
    return 0;
}

static rec_t *rec_clone(const rec_t *r) {
    rec_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->name = strdup(r->name);
    c->f = r->n ? calloc(r->n, sizeof(*c->f)) : NULL;
    c->hash = r->hcap ? malloc(r->hcap * sizeof(*c->hash)) : NULL;
    c->ahash = r->hcap ? malloc(r->hcap * sizeof(*c->ahash)) : NULL;
    if (!c->name || (r->n && !c->f) || (r->hcap && (!c->hash || !c->ahash))) {
        rec_free(c);
        return NULL;
    }
    c->cap = r->n;
    c->hcap = r->hcap;
    if (r->hcap) {
        memcpy(c->hash, r->hash, r->hcap * sizeof(*c->hash));
        memcpy(c->ahash, r->ahash, r->hcap * sizeof(*c->ahash));
    }
    for (size_t i = 0; i < r->n; i++) {
        field_t *d = &c->f[i];
        const field_t *s = &r->f[i];
        c->n = i + 1;
        type_init(&d->t);
        d->json = mem_dup(s->json, s->json_len);
        d->json_len = s->json_len;
        d->avro = strdup(s->avro);
        d->stamp = s->stamp;
        if (!d->json || !d->avro || type_copy(&d->t, &s->t) < 0) {
            rec_free(c);
            return NULL;
        }
    }
    return c;
}

static int name_taken(const rec_t *r, const char *name) {
    if (!strcmp(r->name, name))
        return 1;
    for (size_t i = 0; i < r->n; i++) {
        const type_t *t = &r->f[i].t;
        if (t->rec && name_taken(t->rec, name))
            return 1;
        for (const type_t *it = t->items; it; it = it->items)
            if (it->rec && name_taken(it->rec, name))
                return 1;
    }
    return 0;
}

sink_shape_t *sink_shape_new(const char *integration, int has_primary_key,
                             const sink_limits_t *lim, char *errstr, size_t errstr_size) {
    char ns[NAME_BUF + 16], mapped[NAME_BUF];
    size_t ilen = strlen(integration);
    if (!utf8_valid(integration, ilen) ||
        sink_name_map(integration, ilen, mapped, sizeof(mapped)) < 0) {
        errstr_fmt(0, errstr, errstr_size, "integration name is not valid UTF-8 or too long");
        return NULL;
    }
    snprintf(ns, sizeof(ns), "hookpipe.%s", mapped);
    sink_shape_t *s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    if (lim)
        s->lim = *lim;
    sink_limits_defaults(&s->lim);
    s->has_pk = has_primary_key;
    s->ns = strdup(ns);
    char *root_name = strdup("data");
    if (!s->ns || !root_name || !(s->root = rec_new(root_name))) {
        free(root_name);
        goto oom;
    }
    return s;
oom:
    sink_shape_destroy(s);
    errstr_fmt(0, errstr, errstr_size, "out of memory");
    return NULL;
}

void sink_shape_destroy(sink_shape_t *s) {
    if (!s)
        return;
    rec_free(s->root);
    free(s->ns);
    free(s);
}

static sink_shape_t *shape_clone(const sink_shape_t *s) {
    sink_shape_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *s;
    c->ns = strdup(s->ns);
    c->root = rec_clone(s->root);
    if (!c->ns || !c->root) {
        free(c->ns);
        rec_free(c->root);
        free(c);
        return NULL;
    }
    return c;
}

size_t sink_shape_field_count(const sink_shape_t *s) {
    return s->nfields;
}

const sink_limits_t *sink_shape_limits(const sink_shape_t *s) {
    return &s->lim;
}

static size_t rec_types(const rec_t *r);

static size_t type_types(const type_t *t) {
    size_t n = t->n > 1 ? 1 + t->n : 1;
    if (t->rec)
        n += rec_types(t->rec);
    if (t->items)
        n += type_types(t->items);
    return n;
}

static size_t rec_types(const rec_t *r) {
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += type_types(&r->f[i].t);
    return n;
}

size_t sink_shape_type_count(const sink_shape_t *s) {
    /* the root record, three longs, the table version's union of two, and
     * the __sdc_primary_key string */
    return 1 + 3 + 3 + (s->has_pk ? 0 : 1) + rec_types(s->root);
}

static int node_kind(const sink_json_node_t *n) {
    switch (n->type) {
    case SINK_JSON_NULL: return K_NULL;
    case SINK_JSON_FALSE:
    case SINK_JSON_TRUE: return K_BOOL;
    case SINK_JSON_STRING: return K_STRING;
    case SINK_JSON_ARRAY: return K_ARRAY;
    case SINK_JSON_OBJECT: return K_RECORD;
    default:
        switch (n->num) {
        case SINK_NUM_LONG: return K_LONG;
        case SINK_NUM_DOUBLE: return K_DOUBLE;
        case SINK_NUM_DECIMAL: return K_DECIMAL;
        default: return K_COUNT;
        }
    }
}

/* ---- fast path ------------------------------------------------------ */

static int rec_match(sink_shape_t *s, rec_t *r, const sink_json_node_t *obj);

static int type_match(sink_shape_t *s, const type_t *t, const sink_json_node_t *n) {
    int k = node_kind(n);
    if (k == K_COUNT || t->idx[k] < 0)
        return 0;
    if (k == K_RECORD)
        return rec_match(s, t->rec, n);
    if (k == K_ARRAY) {
        if (!n->child)
            return t->items->n > 0;
        for (const sink_json_node_t *c = n->child; c; c = c->next)
            if (!type_match(s, t->items, c))
                return 0;
    }
    return 1;
}

static int rec_match(sink_shape_t *s, rec_t *r, const sink_json_node_t *obj) {
    uint64_t stamp = ++s->stamp;
    size_t hint = 0;
    for (const sink_json_node_t *c = obj->child; c; c = c->next) {
        long i = rec_find(r, c->key, c->key_len, hint);
        if (i < 0 || r->f[i].stamp == stamp)
            return 0;
        r->f[i].stamp = stamp;
        hint = (size_t)i + 1;
        if (!type_match(s, &r->f[i].t, c))
            return 0;
    }
    return 1;
}

int sink_shape_matches(sink_shape_t *s, const sink_json_node_t *root) {
    return root && root->type == SINK_JSON_OBJECT && rec_match(s, s->root, root);
}

/* ---- slow path ------------------------------------------------------ */

typedef struct merge {
    sink_shape_t *s;
    char *err;
    size_t errsz;
    int changed;
} merge_t;

static int rec_merge(merge_t *m, rec_t *r, const sink_json_node_t *obj, size_t depth);

static int new_field(merge_t *m, rec_t *r, const sink_json_node_t *c) {
    sink_shape_t *s = m->s;
    char avro[NAME_BUF];
    int ql = quote_len(c->key_len);
    if (c->key_len > s->lim.max_name)
        return errstr_fmt(SINK_REJECT, m->err, m->errsz,
                          "field name \"%.*s...\" is %u bytes, longer than %zu", ql, c->key,
                          c->key_len, s->lim.max_name);
    if (s->nfields >= s->lim.max_fields)
        return errstr_fmt(SINK_REJECT, m->err, m->errsz, "more than %zu fields in the schema",
                          s->lim.max_fields);
    if (sink_name_map(c->key, c->key_len, avro, sizeof(avro)) < 0)
        return errstr_fmt(SINK_REJECT, m->err, m->errsz, "field name \"%.*s\" is too long", ql, c->key);
    if (r == s->root)
        for (size_t k = 0; k < sizeof(sys_names) / sizeof(sys_names[0]); k++)
            if (!strcmp(avro, sys_names[k]))
                return errstr_fmt(SINK_REJECT, m->err, m->errsz,
                                  "field collision: \"%.*s\" maps to the system field %s", ql, c->key,
                                  sys_names[k]);
    long j = rec_find_avro(r, avro);
    if (j >= 0)
        return errstr_fmt(SINK_REJECT, m->err, m->errsz,
                          "field collision: \"%.*s\" and \"%.*s\" both map to %s", ql, c->key,
                          quote_len(r->f[j].json_len), r->f[j].json, avro);
    char *json = mem_dup(c->key, c->key_len), *an = strdup(avro);
    if (!json || !an || rec_append(r, json, c->key_len, an) < 0) {
        if (r->n == 0 || r->f[r->n - 1].json != json) {
            free(json);
            free(an);
        }
        return errstr_fmt(SINK_FAIL, m->err, m->errsz, "out of memory");
    }
    /* every payload field is optional: null first, default null */
    type_add(&r->f[r->n - 1].t, K_NULL);
    s->nfields++;
    m->changed = 1;
    return 0;
}

static char *unique_name(const rec_t *root, const char *parent, const char *field) {
    size_t len = strlen(parent) + strlen(field) + 16;
    char *nm = malloc(len);
    if (!nm)
        return NULL;
    snprintf(nm, len, "%s__%s", parent, field);
    for (int k = 2; name_taken(root, nm); k++)
        snprintf(nm, len, "%s__%s_%d", parent, field, k);
    return nm;
}

static int type_merge(merge_t *m, type_t *t, const sink_json_node_t *n, const char *parent,
                      const char *fname, size_t depth) {
    int k = node_kind(n);
    if (k == K_COUNT)
        return errstr_fmt(SINK_REJECT, m->err, m->errsz,
                          "number %.40s cannot be kept exactly (over %d integer or %d fraction digits)",
                          n->str ? n->str : "?", SINK_DECIMAL_PRECISION - SINK_DECIMAL_SCALE,
                          SINK_DECIMAL_SCALE);
    if (t->idx[k] < 0) {
        type_add(t, k);
        m->changed = 1;
    }
    if (k == K_RECORD) {
        if (!t->rec) {
            char *nm = unique_name(m->s->root, parent, fname);
            if (!nm || !(t->rec = rec_new(nm))) {
                free(nm);
                return errstr_fmt(SINK_FAIL, m->err, m->errsz, "out of memory");
            }
        }
        return rec_merge(m, t->rec, n, depth + 1);
    }
    if (k == K_ARRAY) {
        if (depth + 1 > m->s->lim.max_depth)
            return errstr_fmt(SINK_REJECT, m->err, m->errsz, "nesting deeper than %zu",
                              m->s->lim.max_depth);
        if (!t->items) {
            if (!(t->items = malloc(sizeof(*t->items))))
                return errstr_fmt(SINK_FAIL, m->err, m->errsz, "out of memory");
            type_init(t->items);
        }
        if (!n->child && t->items->n == 0) {
            type_add(t->items, K_NULL);
            m->changed = 1;
        }
        for (const sink_json_node_t *c = n->child; c; c = c->next) {
            int rc = type_merge(m, t->items, c, parent, fname, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int rec_merge(merge_t *m, rec_t *r, const sink_json_node_t *obj, size_t depth) {
    sink_shape_t *s = m->s;
    if (depth > s->lim.max_depth)
        return errstr_fmt(SINK_REJECT, m->err, m->errsz, "nesting deeper than %zu", s->lim.max_depth);
    uint64_t stamp = ++s->stamp;
    size_t hint = 0;
    for (const sink_json_node_t *c = obj->child; c; c = c->next) {
        long i = rec_find(r, c->key, c->key_len, hint);
        if (i < 0) {
            int rc = new_field(m, r, c);
            if (rc < 0)
                return rc;
            i = (long)r->n - 1;
        }
        if (r->f[i].stamp == stamp)
            return errstr_fmt(SINK_REJECT, m->err, m->errsz, "duplicate key \"%.*s\"",
                              quote_len(c->key_len), c->key);
        r->f[i].stamp = stamp;
        hint = (size_t)i + 1;
        int rc = type_merge(m, &r->f[i].t, c, r->name, r->f[i].avro, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sink_shape_evolve(const sink_shape_t *s, const sink_json_node_t *root,
                      sink_shape_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    if (!root || root->type != SINK_JSON_OBJECT)
        return errstr_fmt(SINK_REJECT, errstr, errstr_size, "record is not a JSON object");
    sink_shape_t *c = shape_clone(s);
    if (!c)
        return errstr_fmt(SINK_FAIL, errstr, errstr_size, "out of memory");
    merge_t m = {c, errstr, errstr_size, 0};
    int rc = rec_merge(&m, c->root, root, 1);
    if (rc < 0 || !m.changed) {
        sink_shape_destroy(c);
        return rc < 0 ? rc : SINK_OK;
    }
    *out = c;
    return SINK_NEW_VERSION;
}

/* ---- schema JSON ---------------------------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap;
    int oom;
    int decimal_defined;  /* the decimal fixed is defined once, then named */
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t len) {
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_puts(sb_t *b, const char *s) {
    sb_put(b, s, strlen(s));
}

/* A JSON string literal of s[0..len) (valid UTF-8, may hold NUL). */
static void sb_str(sb_t *b, const char *s, size_t len) {
    sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_put(b, s + run, i - run);
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        sb_puts(b, esc);
        run = i + 1;
    }
    sb_put(b, s + run, len - run);
    sb_put(b, "\"", 1);
}

static void emit_record(sb_t *b, const sink_shape_t *s, const rec_t *r);

static void emit_type(sb_t *b, const sink_shape_t *s, const type_t *t) {
    if (t->n == 0) {
        sb_puts(b, "\"null\"");
        return;
    }
    if (t->n > 1)
        sb_puts(b, "[");
    for (int i = 0; i < t->n; i++) {
        if (i)
            sb_puts(b, ",");
        switch (t->order[i]) {
        case K_NULL: sb_puts(b, "\"null\""); break;
        case K_BOOL: sb_puts(b, "\"boolean\""); break;
        case K_LONG: sb_puts(b, "\"long\""); break;
        case K_DOUBLE: sb_puts(b, "\"double\""); break;
        case K_STRING: sb_puts(b, "\"string\""); break;
        case K_DECIMAL: {
            char dec[192];
            if (b->decimal_defined)
                snprintf(dec, sizeof(dec), "\"%s\"", SINK_DECIMAL_FIXED_NAME);
            else
                snprintf(dec, sizeof(dec),
                         "{\"type\":\"fixed\",\"name\":\"%s\",\"size\":%d,"
                         "\"logicalType\":\"decimal\",\"precision\":%d,\"scale\":%d}",
                         SINK_DECIMAL_FIXED_NAME, SINK_DECIMAL_FIXED_SIZE,
                         SINK_DECIMAL_PRECISION, SINK_DECIMAL_SCALE);
            b->decimal_defined = 1;
            sb_puts(b, dec);
            break;
        }
        case K_RECORD: emit_record(b, s, t->rec); break;
        default:
            sb_puts(b, "{\"type\":\"array\",\"items\":");
            emit_type(b, s, t->items);
            sb_puts(b, "}");
        }
    }
    if (t->n > 1)
        sb_puts(b, "]");
}

static void emit_record(sb_t *b, const sink_shape_t *s, const rec_t *r) {
    sb_puts(b, "{\"type\":\"record\",\"name\":\"");
    sb_puts(b, r->name);
    sb_puts(b, "\"");
    int comma = 0;
    if (r == s->root) {
        sb_puts(b, ",\"namespace\":\"");
        sb_puts(b, s->ns);
        sb_puts(b, "\",\"fields\":["
                   "{\"name\":\"" SINK_SYS_RECEIVED_AT "\",\"type\":"
                   "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
                   "{\"name\":\"" SINK_SYS_SEQUENCE "\",\"type\":\"long\"},"
                   "{\"name\":\"" SINK_SYS_BATCHED_AT "\",\"type\":"
                   "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
                   "{\"name\":\"" SINK_SYS_TABLE_VERSION "\",\"type\":[\"null\",\"long\"],"
                   "\"default\":null}");
        if (!s->has_pk)
            sb_puts(b, ",{\"name\":\"" SINK_SYS_PRIMARY_KEY "\",\"type\":\"string\"}");
        comma = 1;
    } else {
        sb_puts(b, ",\"fields\":[");
    }
    for (size_t i = 0; i < r->n; i++) {
        const field_t *f = &r->f[i];
        if (comma)
            sb_puts(b, ",");
        comma = 1;
        sb_puts(b, "{\"name\":\"");
        sb_puts(b, f->avro);
        sb_puts(b, "\",\"type\":");
        emit_type(b, s, &f->t);
        if (f->t.idx[K_NULL] == 0)
            sb_puts(b, ",\"default\":null");
        if (strlen(f->avro) != f->json_len || memcmp(f->avro, f->json, f->json_len) != 0) {
            sb_puts(b, ",\"hookpipe.json_name\":");
            sb_str(b, f->json, f->json_len);
        }
        sb_puts(b, "}");
    }
    sb_puts(b, "]}");
}

char *sink_shape_schema_json(const sink_shape_t *s) {
    sb_t b = {0};
    emit_record(&b, s, s->root);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- loading schema text -------------------------------------------- */

typedef struct load {
    sink_shape_t *s;
    char *err;
    size_t errsz;
} load_t;

static int load_fields(load_t *l, rec_t *r, json_t *fields, size_t from, size_t depth);

static int load_branch(load_t *l, type_t *t, json_t *j, size_t depth) {
    int k = K_COUNT;
    const char *tn = json_is_string(j) ? json_string_value(j)
                                       : json_string_value(json_object_get(j, "type"));
    if (!tn)
        return errstr_fmt(-1, l->err, l->errsz, "a type without a name");
    if (json_is_string(j)) {
        static const char *const prim[] = {"null", "boolean", "long", "double", "string",
                                           SINK_DECIMAL_FIXED_NAME};
        static const int kinds[] = {K_NULL, K_BOOL, K_LONG, K_DOUBLE, K_STRING, K_DECIMAL};
        for (size_t i = 0; i < sizeof(prim) / sizeof(prim[0]); i++)
            if (!strcmp(tn, prim[i]))
                k = kinds[i];
    } else if (!strcmp(tn, "fixed")) {
        const char *lt = json_string_value(json_object_get(j, "logicalType"));
        const char *name = json_string_value(json_object_get(j, "name"));
        if (lt && !strcmp(lt, "decimal") && name && !strcmp(name, SINK_DECIMAL_FIXED_NAME) &&
            json_integer_value(json_object_get(j, "size")) == SINK_DECIMAL_FIXED_SIZE &&
            json_integer_value(json_object_get(j, "precision")) == SINK_DECIMAL_PRECISION &&
            json_integer_value(json_object_get(j, "scale")) == SINK_DECIMAL_SCALE)
            k = K_DECIMAL;
    } else if (!strcmp(tn, "record") || !strcmp(tn, "array")) {
        k = tn[0] == 'r' ? K_RECORD : K_ARRAY;
    }
    if (k == K_COUNT)
        return errstr_fmt(-1, l->err, l->errsz, "type %s is not one hookpipe infers", tn);
    if (t->idx[k] >= 0)
        return errstr_fmt(-1, l->err, l->errsz, "union with two %s branches", tn);
    if (depth > l->s->lim.max_depth)
        return errstr_fmt(-1, l->err, l->errsz, "nesting deeper than %zu", l->s->lim.max_depth);
    type_add(t, k);
    if (k == K_RECORD) {
        const char *name = json_string_value(json_object_get(j, "name"));
        json_t *fields = json_object_get(j, "fields");
        if (!name || !sink_name_valid(name) || name_taken(l->s->root, name) || !json_is_array(fields))
            return errstr_fmt(-1, l->err, l->errsz, "record without a valid, unique name and fields");
        char *nm = strdup(name);
        if (!nm || !(t->rec = rec_new(nm))) {
            free(nm);
            return errstr_fmt(-1, l->err, l->errsz, "out of memory");
        }
        return load_fields(l, t->rec, fields, 0, depth + 1);
    }
    if (k == K_ARRAY) {
        json_t *items = json_object_get(j, "items");
        if (!(t->items = malloc(sizeof(*t->items))))
            return errstr_fmt(-1, l->err, l->errsz, "out of memory");
        type_init(t->items);
        if (json_is_array(items)) {
            size_t i;
            json_t *b;
            json_array_foreach(items, i, b) if (load_branch(l, t->items, b, depth + 1) < 0) return -1;
            return 0;
        }
        return items ? load_branch(l, t->items, items, depth + 1)
                     : errstr_fmt(-1, l->err, l->errsz, "array without items");
    }
    return 0;
}

static int load_fields(load_t *l, rec_t *r, json_t *fields, size_t from, size_t depth) {
    for (size_t i = from; i < json_array_size(fields); i++) {
        json_t *f = json_array_get(fields, i), *type = json_object_get(f, "type");
        json_t *jn = json_object_get(f, "hookpipe.json_name");
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!name || !sink_name_valid(name) || !type)
            return errstr_fmt(-1, l->err, l->errsz, "field %zu has no valid name or type", i);
        const char *json = jn ? json_string_value(jn) : name;
        size_t json_len = jn ? json_string_length(jn) : strlen(name);
        if (!json)
            return errstr_fmt(-1, l->err, l->errsz, "field %s: hookpipe.json_name is not a string", name);
        if (rec_find_avro(r, name) >= 0 || rec_find(r, json, json_len, 0) >= 0)
            return errstr_fmt(-1, l->err, l->errsz, "field %s appears twice", name);
        char *jc = mem_dup(json, json_len), *an = strdup(name);
        if (!jc || !an || rec_append(r, jc, json_len, an) < 0) {
            if (r->n == 0 || r->f[r->n - 1].json != jc) {
                free(jc);
                free(an);
            }
            return errstr_fmt(-1, l->err, l->errsz, "out of memory");
        }
        l->s->nfields++;
        type_t *t = &r->f[r->n - 1].t;
        if (json_is_array(type)) {
            size_t k;
            json_t *b;
            json_array_foreach(type, k, b) if (load_branch(l, t, b, depth) < 0) return -1;
        } else if (load_branch(l, t, type, depth) < 0) {
            return -1;
        }
        json_t *def = json_object_get(f, "default");
        if (t->idx[K_NULL] != 0 || !def || !json_is_null(def))
            return errstr_fmt(-1, l->err, l->errsz, "field %s is not optional with default null", name);
    }
    return 0;
}

sink_shape_t *sink_shape_from_json(const char *text, const sink_limits_t *lim,
                                   int *has_primary_key, char *errstr, size_t errstr_size) {
    static const char *const sys_text[] = {
        "{\"name\":\"" SINK_SYS_RECEIVED_AT "\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}}",
        "{\"name\":\"" SINK_SYS_SEQUENCE "\",\"type\":\"long\"}",
        "{\"name\":\"" SINK_SYS_BATCHED_AT "\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}}",
        "{\"name\":\"" SINK_SYS_TABLE_VERSION "\",\"type\":[\"null\",\"long\"],\"default\":null}",
        "{\"name\":\"" SINK_SYS_PRIMARY_KEY "\",\"type\":\"string\"}",
    };
    json_error_t jerr;
    sink_shape_t *s = NULL;
    json_t *root = json_loads(text, JSON_ALLOW_NUL, &jerr), *fields;
    const char *ns;
    size_t nsys = 4;
    if (!root) {
        errstr_fmt(0, errstr, errstr_size, "schema is not JSON: %s", jerr.text);
        return NULL;
    }
    fields = json_object_get(root, "fields");
    ns = json_string_value(json_object_get(root, "namespace"));
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *name = json_string_value(json_object_get(root, "name"));
    if (!type || strcmp(type, "record") || !name || strcmp(name, "data") || !ns ||
        strncmp(ns, "hookpipe.", 9) || !json_is_array(fields)) {
        errstr_fmt(0, errstr, errstr_size, "schema is not a hookpipe record named data");
        goto done;
    }
    for (size_t i = 0; i < 5; i++) {
        json_t *want = json_loads(sys_text[i], 0, NULL);
        int same = json_equal(json_array_get(fields, i), want);
        json_decref(want);
        if (i == 4) {
            nsys += (size_t)same;
        } else if (!same) {
            errstr_fmt(0, errstr, errstr_size, "schema lacks the system field %s", sys_names[i]);
            goto done;
        }
    }
    if (!(s = sink_shape_new("x", nsys == 4, lim, errstr, errstr_size)))
        goto done;
    free(s->ns);
    if (!(s->ns = strdup(ns))) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        goto fail;
    }
    load_t l = {s, errstr, errstr_size};
    if (load_fields(&l, s->root, fields, nsys, 1) < 0)
        goto fail;
    *has_primary_key = s->has_pk;
    goto done;
fail:
    sink_shape_destroy(s);
    s = NULL;
done:
    json_decref(root);
    return s;
}

/* ---- values --------------------------------------------------------- */

typedef struct fill {
    sink_shape_t *s;
    char *err;
    size_t errsz;
} fill_t;

static int avro_fail(fill_t *x, const char *what) {
    return errstr_fmt(SINK_FAIL, x->err, x->errsz, "avro %s: %s", what, avro_strerror());
}

static int fill_rec(fill_t *x, const rec_t *r, const sink_json_node_t *obj, avro_value_t *v,
                    size_t base);

static int fill_type(fill_t *x, const type_t *t, const sink_json_node_t *n, avro_value_t *v) {
    int k = node_kind(n);
    avro_value_t branch, *dst = v;
    if (t->n > 1) {
        if (avro_value_set_branch(v, t->idx[k], &branch))
            return avro_fail(x, "set_branch");
        dst = &branch;
    }
    int rc = 0;
    switch (k) {
    case K_NULL: rc = avro_value_set_null(dst); break;
    case K_BOOL: rc = avro_value_set_boolean(dst, n->type == SINK_JSON_TRUE); break;
    case K_LONG: rc = avro_value_set_long(dst, n->v.i); break;
    case K_DOUBLE: rc = avro_value_set_double(dst, n->v.d); break;
    case K_STRING: rc = avro_value_set_string_len(dst, n->str, (size_t)n->len + 1); break;
    case K_DECIMAL: {
        unsigned char buf[SINK_DECIMAL_FIXED_SIZE];
        if (sink_num_decimal_fixed(n->str, n->len, buf) < 0)
            return errstr_fmt(SINK_REJECT, x->err, x->errsz, "number %.40s out of decimal range", n->str);
        rc = avro_value_set_fixed(dst, buf, sizeof(buf));
        break;
    }
    case K_RECORD: return fill_rec(x, t->rec, n, dst, 0);
    default: {
        /* overwrite the elements the value already holds: resetting would
         * free their strings and allocate them again for every record */
        size_t have, i = 0;
        if (avro_value_get_size(dst, &have))
            return avro_fail(x, "get_size");
        if (have > n->len) {
            if (avro_value_reset(dst))
                return avro_fail(x, "reset");
            have = 0;
        }
        for (const sink_json_node_t *c = n->child; c; c = c->next, i++) {
            avro_value_t e;
            if (i < have ? avro_value_get_by_index(dst, i, &e, NULL)
                         : avro_value_append(dst, &e, NULL))
                return avro_fail(x, "array element");
            int frc = fill_type(x, t->items, c, &e);
            if (frc < 0)
                return frc;
        }
    }
    }
    return rc ? avro_fail(x, "set") : 0;
}

static int fill_rec(fill_t *x, const rec_t *r, const sink_json_node_t *obj, avro_value_t *v,
                    size_t base) {
    uint64_t stamp = ++x->s->stamp;
    size_t hint = 0;
    avro_value_t fv;
    for (const sink_json_node_t *c = obj->child; c; c = c->next) {
        long i = rec_find(r, c->key, c->key_len, hint);
        if (i < 0)
            return errstr_fmt(SINK_FAIL, x->err, x->errsz, "record does not match the shape");
        r->f[i].stamp = stamp;
        hint = (size_t)i + 1;
        if (avro_value_get_by_index(v, base + (size_t)i, &fv, NULL))
            return avro_fail(x, "get_by_index");
        int rc = fill_type(x, &r->f[i].t, c, &fv);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < r->n; i++) {
        const field_t *f = &r->f[i];
        if (f->stamp == stamp)
            continue;
        avro_value_t branch, *dst = &fv;
        if (avro_value_get_by_index(v, base + i, &fv, NULL))
            return avro_fail(x, "get_by_index");
        if (f->t.n > 1) {
            if (avro_value_set_branch(&fv, f->t.idx[K_NULL], &branch))
                return avro_fail(x, "set_branch");
            dst = &branch;
        }
        if (avro_value_set_null(dst))
            return avro_fail(x, "set_null");
    }
    return 0;
}

int sink_shape_fill(sink_shape_t *s, const sink_json_node_t *root, const sink_sys_t *sys,
                    avro_value_t *rec, char *errstr, size_t errstr_size) {
    fill_t x = {s, errstr, errstr_size};
    avro_value_t fv, branch;
    size_t base = s->has_pk ? 4 : 5;
    if (!root || root->type != SINK_JSON_OBJECT)
        return errstr_fmt(SINK_REJECT, errstr, errstr_size, "record is not a JSON object");
    if (avro_value_get_by_index(rec, 0, &fv, NULL) || avro_value_set_long(&fv, sys->received_at) ||
        avro_value_get_by_index(rec, 1, &fv, NULL) || avro_value_set_long(&fv, sys->sequence) ||
        avro_value_get_by_index(rec, 2, &fv, NULL) || avro_value_set_long(&fv, sys->batched_at) ||
        avro_value_get_by_index(rec, 3, &fv, NULL) ||
        avro_value_set_branch(&fv, sys->has_table_version ? 1 : 0, &branch) ||
        (sys->has_table_version ? avro_value_set_long(&branch, sys->table_version)
                                : avro_value_set_null(&branch)))
        return avro_fail(&x, "system fields");
    if (!s->has_pk) {
        if (!sys->key)
            return errstr_fmt(SINK_REJECT, errstr, errstr_size,
                              "message has no key for " SINK_SYS_PRIMARY_KEY);
        if (!utf8_valid(sys->key, sys->key_len))
            return errstr_fmt(SINK_REJECT, errstr, errstr_size, "message key is not valid UTF-8");
        if (avro_value_get_by_index(rec, 4, &fv, NULL) ||
            avro_value_set_string_len(&fv, sys->key, sys->key_len + 1))
            return avro_fail(&x, SINK_SYS_PRIMARY_KEY);
    }
    return fill_rec(&x, s->root, root, rec, base);
}
