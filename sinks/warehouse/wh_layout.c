/* wh_layout: Stitch identifier rules, column types and the table catalog (see wh_layout.h). */
#include "wh_layout.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wh_layout {
    char *integration;
    int has_pk;
    size_t nkeys;
    char **keys;        /* normalised key column names */
    char **pk_json;     /* JSON names of the primary-key fields */
    wh_table_t *tables;
    size_t ntables, cap;
    wh_table_t rejected;     /* _sdc_rejected as read back (not a catalog table) */
    int has_rejected;
    char *rejected_mismatch;
};

static const struct {
    const char *suffix, *pg, *sqlite;
} type_table[WH_NTYPES] = {
    [WH_BIGINT] = {"bi", "bigint", "BIGINT"},
    [WH_DOUBLE] = {"do", "double precision", "DOUBLE PRECISION"},
    [WH_BOOLEAN] = {"bo", "boolean", "BOOLEAN"},
    [WH_TEXT] = {"st", "text", "TEXT"},
    [WH_NUMERIC] = {"de", "numeric", "DECIMAL TEXT"},
    [WH_TIMESTAMP] = {"ti", "timestamp with time zone", "TIMESTAMP"},
};

/* every suffix Stitch reserves, including types we never create (__it) */
static const char *const reserved_suffixes[] = {"__bi", "__it", "__do", "__de",
                                                "__bo", "__st", "__ti"};

const char *wh_type_suffix(wh_type_t t) {
    return (unsigned)t < WH_NTYPES ? type_table[t].suffix : "??";
}

const char *wh_type_pg(wh_type_t t) {
    return (unsigned)t < WH_NTYPES ? type_table[t].pg : "text";
}

const char *wh_type_sqlite(wh_type_t t) {
    return (unsigned)t < WH_NTYPES ? type_table[t].sqlite : "TEXT";
}

int wh_type_from_pg(const char *name) {
    for (int t = 0; t < WH_NTYPES; t++)
        if (name && strcmp(name, type_table[t].pg) == 0)
            return t;
    return -1;
}

int wh_type_from_sqlite(const char *decl) {
    for (int t = 0; t < WH_NTYPES; t++)
        if (decl && strcasecmp(decl, type_table[t].sqlite) == 0)
            return t;
    return -1;
}

long wh_name_segment(const char *json, size_t len, char *out, size_t out_size) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)json[i];
        char o;
        if (c >= 0x80 || isalnum(c) || c == '_')
            o = (char)c;
        else if (c == ' ' || c == '-' || c == '.')
            o = '_';
        else
            continue;
        if (n + 1 >= out_size)
            return -1;
        out[n++] = o;
    }
    if (out_size == 0)
        return -1;
    out[n] = '\0';
    return (long)n;
}

int wh_name_reserved(const char *seg) {
    size_t n = strlen(seg);
    /* most names neither start with '_' nor hold "__" where a suffix goes */
    if (seg[0] != '_' && (n < 4 || seg[n - 4] != '_' || seg[n - 3] != '_'))
        return 0;
    if (strncasecmp(seg, "_sdc", 4) == 0 || strncasecmp(seg, "_rjm", 4) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(reserved_suffixes) / sizeof(reserved_suffixes[0]); i++)
        if (n >= 4 && strcasecmp(seg + n - 4, reserved_suffixes[i]) == 0)
            return 1;
    return 0;
}

int wh_source_key_name(const char *key, char *out, size_t out_size) {
    int n = snprintf(out, out_size, "%s%s", WH_SOURCE_KEY_PREFIX, key);
    return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}

wh_layout_t *wh_layout_new(const char *integration, const char *const *pk, size_t npk,
                           char *errstr, size_t errstr_size) {
    wh_layout_t *l = calloc(1, sizeof(*l));
    if (!l)
        goto oom;
    l->integration = strdup(integration);
    l->has_pk = npk > 0;
    l->nkeys = npk > 0 ? npk : 1;
    l->keys = calloc(l->nkeys, sizeof(char *));
    l->pk_json = calloc(l->nkeys, sizeof(char *));
    if (!l->integration || !l->keys || !l->pk_json)
        goto oom;
    if (npk == 0) {
        if (!(l->keys[0] = strdup(WH_NOPK_COLUMN)))
            goto oom;
        return l;
    }
    for (size_t i = 0; i < npk; i++) {
        size_t len = strlen(pk[i]);
        char *seg = malloc(len + 1);
        if (!seg || !(l->pk_json[i] = strdup(pk[i]))) {
            free(seg);
            goto oom;
        }
        l->keys[i] = seg;
        long n = wh_name_segment(pk[i], len, seg, len + 1);
        if (n <= 0 || wh_name_reserved(seg) || n > WH_COLUMN_MAX ||
            strlen(WH_SOURCE_KEY_PREFIX) + (size_t)n > WH_COLUMN_MAX + 4) {
            snprintf(errstr, errstr_size, "primary key \"%s\" cannot be a column name", pk[i]);
            wh_layout_destroy(l);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(l->keys[j], seg) == 0) {
                snprintf(errstr, errstr_size, "primary keys \"%s\" and \"%s\" collide",
                         pk[j], pk[i]);
                wh_layout_destroy(l);
                return NULL;
            }
    }
    return l;
oom:
    snprintf(errstr, errstr_size, "out of memory");
    wh_layout_destroy(l);
    return NULL;
}

static void wh_layout_table_free(wh_table_t *t) {
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].decl);
    }
    free(t->cols);
    free(t->name);
    free(t->mismatch);
}

void wh_layout_reset(wh_layout_t *l) {
    for (size_t i = 0; i < l->ntables; i++)
        wh_layout_table_free(&l->tables[i]);
    l->ntables = 0;
    wh_layout_table_free(&l->rejected);
    memset(&l->rejected, 0, sizeof(l->rejected));
    l->has_rejected = 0;
    free(l->rejected_mismatch);
    l->rejected_mismatch = NULL;
}

void wh_layout_destroy(wh_layout_t *l) {
    if (!l)
        return;
    wh_layout_reset(l);
    free(l->tables);
    for (size_t i = 0; l->keys && i < l->nkeys; i++)
        free(l->keys[i]);
    for (size_t i = 0; l->pk_json && i < l->nkeys; i++)
        free(l->pk_json[i]);
    free(l->keys);
    free(l->pk_json);
    free(l->integration);
    free(l);
}

const char *wh_layout_integration(const wh_layout_t *l) { return l->integration; }
size_t wh_layout_nkeys(const wh_layout_t *l) { return l->nkeys; }
const char *wh_layout_key(const wh_layout_t *l, size_t i) { return l->keys[i]; }
int wh_layout_has_pk(const wh_layout_t *l) { return l->has_pk; }
const char *wh_layout_pk_json(const wh_layout_t *l, size_t i) { return l->pk_json[i]; }
size_t wh_layout_ntables(const wh_layout_t *l) { return l->ntables; }
wh_table_t *wh_layout_table(wh_layout_t *l, size_t i) { return &l->tables[i]; }

wh_table_t *wh_layout_find_table(wh_layout_t *l, const char *name) {
    for (size_t i = 0; i < l->ntables; i++)
        if (strcmp(l->tables[i].name, name) == 0)
            return &l->tables[i];
    return NULL;
}

wh_column_t *wh_table_find(wh_table_t *t, const char *name, size_t *index) {
    for (size_t k = 0; k < t->ncols; k++) {
        size_t i = (t->hint + k) % t->ncols;
        if (strcmp(t->cols[i].name, name) == 0) {
            if (index)
                *index = i;
            t->hint = i + 1;
            return &t->cols[i];
        }
    }
    return NULL;
}

static wh_table_t *wh_layout_table_new(wh_layout_t *l, const char *name, int level, int pending) {
    if (l->ntables == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        wh_table_t *nt = realloc(l->tables, cap * sizeof(*nt));
        if (!nt)
            return NULL;
        l->tables = nt;
        l->cap = cap;
    }
    wh_table_t *t = &l->tables[l->ntables];
    memset(t, 0, sizeof(*t));
    if (!(t->name = strdup(name)))
        return NULL;
    t->level = level;
    t->pending = pending;
    l->ntables++;
    return t;
}

static wh_column_t *wh_layout_column_new(wh_table_t *t, const char *name, wh_type_t type,
                                         int pending, size_t *index) {
    if (t->ncols == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        wh_column_t *nc = realloc(t->cols, cap * sizeof(*nc));
        if (!nc)
            return NULL;
        t->cols = nc;
        t->cap = cap;
    }
    wh_column_t *c = &t->cols[t->ncols];
    if (!(c->name = strdup(name)))
        return NULL;
    c->type = type;
    c->pending = pending;
    c->decl = NULL;
    if (index)
        *index = t->ncols;
    t->ncols++;
    return c;
}

/* level of a table read back from the warehouse: its _sdc_level_N_id columns */
static void wh_layout_note_level(wh_table_t *t, const char *column) {
    int n;
    if (sscanf(column, "_sdc_level_%d_id", &n) == 1 && n + 1 > t->level)
        t->level = n + 1;
}

int wh_layout_load_column(wh_layout_t *l, const char *table, const char *column, wh_type_t type) {
    return wh_layout_load_column_decl(l, table, column, type, NULL);
}

int wh_layout_load_column_decl(wh_layout_t *l, const char *table, const char *column,
                               wh_type_t type, const char *decl) {
    wh_table_t *t;
    if (strcmp(table, WH_REJECTED_TABLE) == 0) {
        t = &l->rejected;
        l->has_rejected = 1;
    } else {
        t = wh_layout_find_table(l, table);
        if (!t && !(t = wh_layout_table_new(l, table, 0, 0)))
            return -1;
        wh_layout_note_level(t, column);
    }
    if (wh_table_find(t, column, NULL))
        return 0;
    wh_column_t *c = wh_layout_column_new(t, column, type, 0, NULL);
    if (!c)
        return -1;
    if (decl && type == WH_NTYPES && !(c->decl = strdup(decl)))
        return -1;
    return 0;
}

/* name of key column k of table t: the root's key, or its source-key name
   in a subtable; then the _sdc_level_N_id columns (k >= nkeys) */
static void wh_layout_key_name(const wh_layout_t *l, const wh_table_t *t, size_t k, char *out,
                               size_t n) {
    if (k >= l->nkeys)
        snprintf(out, n, "_sdc_level_%zu_id", k - l->nkeys);
    else if (t->level > 0)
        wh_source_key_name(l->keys[k], out, n);
    else
        snprintf(out, n, "%s", l->keys[k]);
}

size_t wh_table_nkeys(const wh_layout_t *l, const wh_table_t *t) {
    return l->nkeys + (size_t)t->level;
}

int wh_layout_load_unique(wh_layout_t *l, const char *table, const char *const *cols, size_t n) {
    wh_table_t *t = wh_layout_find_table(l, table);
    size_t nkey = t ? wh_table_nkeys(l, t) : 0;
    if (!t || n != nkey)
        return 0;
    char name[WH_COLUMN_MAX * 2 + 64];
    for (size_t k = 0; k < nkey; k++) {
        wh_layout_key_name(l, t, k, name, sizeof(name));
        size_t i = 0;
        while (i < n && strcmp(cols[i], name) != 0)
            i++;
        if (i == n)
            return 0;
    }
    t->unique_key = 1;
    return 0;
}

/* sets *why when column `name` of t is missing or of the wrong type (want
   WH_NTYPES: any type the layout uses); 0, or -1 on out of memory */
static int wh_layout_need_column(wh_table_t *t, const char *integration, const char *name,
                                 wh_type_t want, const char *role,
                                 const char *(*type_name)(wh_type_t), char **why) {
    wh_column_t *c = wh_table_find(t, name, NULL);
    char msg[512];
    if (!c)
        snprintf(msg, sizeof(msg),
                 "table %s.%s does not have the layout hookpipe loads: column \"%s\" (%s) "
                 "is missing", integration, t->name, name, role);
    else if (want == WH_NTYPES ? c->type >= WH_NTYPES : c->type != want)
        snprintf(msg, sizeof(msg),
                 "table %s.%s does not have the layout hookpipe loads: column \"%s\" (%s) "
                 "is %s, expected %s", integration, t->name, name, role,
                 c->type < WH_NTYPES ? type_name(c->type) : c->decl ? c->decl : "of another type",
                 want < WH_NTYPES ? type_name(want) : "bigint, double precision, boolean, text or numeric");
    else
        return 0;
    return (*why = strdup(msg)) ? 0 : -1;
}

static int wh_layout_check_table(wh_layout_t *l, wh_table_t *t,
                                 const char *(*type_name)(wh_type_t)) {
    static const struct {
        const char *name;
        wh_type_t type;
    } sys[] = {
        {WH_COL_SEQUENCE, WH_BIGINT},
        {WH_COL_RECEIVED_AT, WH_TIMESTAMP},
        {WH_COL_BATCHED_AT, WH_TIMESTAMP},
    };
    wh_table_t *root = wh_layout_find_table(l, WH_ROOT_TABLE);
    char name[WH_COLUMN_MAX * 2 + 64];
    int rc = 0;
    for (size_t k = 0; rc == 0 && !t->mismatch && k < l->nkeys + (size_t)t->level; k++) {
        wh_layout_key_name(l, t, k, name, sizeof(name));
        wh_type_t want = WH_NTYPES;
        const char *role = "primary key";
        if (k >= l->nkeys) {
            want = WH_BIGINT;
            role = "array index";
        } else if (!l->has_pk) {
            want = WH_TEXT;
        } else if (t->level > 0) {
            /* the parent's key type, when the parent's column is usable */
            wh_column_t *pc = root ? wh_table_find(root, l->keys[k], NULL) : NULL;
            if (pc && pc->type < WH_NTYPES)
                want = pc->type;
            role = "primary key of the parent row";
        }
        rc = wh_layout_need_column(t, l->integration, name, want, role, type_name, &t->mismatch);
    }
    for (size_t i = 0; rc == 0 && !t->mismatch && i < sizeof(sys) / sizeof(sys[0]); i++)
        rc = wh_layout_need_column(t, l->integration, sys[i].name, sys[i].type, "system column",
                                   type_name, &t->mismatch);
    if (rc == 0 && !t->mismatch && t->level == 0 && !t->unique_key) {
        char msg[512];
        size_t n = 0;
        for (size_t k = 0; k < l->nkeys && n < 200; k++)
            n += (size_t)snprintf(msg + n, 200 - n, "%s\"%s\"", k ? ", " : "", l->keys[k]);
        char full[768];
        snprintf(full, sizeof(full),
                 "table %s.%s does not have the layout hookpipe loads: no primary key or unique "
                 "index on exactly (%s)", l->integration, t->name, msg);
        rc = (t->mismatch = strdup(full)) ? 0 : -1;
    }
    return rc;
}

int wh_layout_check(wh_layout_t *l, const char *(*type_name)(wh_type_t)) {
    for (size_t i = 0; i < l->ntables; i++) {
        wh_table_t *t = &l->tables[i];
        free(t->mismatch);
        t->mismatch = NULL;
        if (!t->pending && wh_layout_check_table(l, t, type_name) < 0)
            return -1;
    }
    free(l->rejected_mismatch);
    l->rejected_mismatch = NULL;
    static const struct {
        const char *name;
        wh_type_t type;
    } rej[] = {{"_sdc_rejected_at", WH_TIMESTAMP},
               {"table_name", WH_TEXT},
               {"reason", WH_TEXT},
               {"record", WH_TEXT}};
    int rc = 0;
    size_t nrej = sizeof(rej) / sizeof(rej[0]);
    l->rejected.name = (char *)WH_REJECTED_TABLE;
    for (size_t i = 0; l->has_rejected && rc == 0 && !l->rejected_mismatch && i < nrej; i++)
        rc = wh_layout_need_column(&l->rejected, l->integration, rej[i].name, rej[i].type,
                                   "rejections", type_name, &l->rejected_mismatch);
    l->rejected.name = NULL;
    return rc;
}

const char *wh_layout_rejected_mismatch(const wh_layout_t *l) { return l->rejected_mismatch; }

wh_column_t *wh_layout_add_column(wh_table_t *t, const char *name, wh_type_t type, size_t *index) {
    return wh_layout_column_new(t, name, type, 1, index);
}

wh_table_t *wh_layout_add_table(wh_layout_t *l, const char *name, int level,
                                const wh_type_t *key_types) {
    wh_table_t *t = wh_layout_table_new(l, name, level, 1);
    if (!t)
        return NULL;
    char buf[WH_COLUMN_MAX * 2 + 64];
    if (level == 0) {
        if (!l->has_pk && !wh_layout_column_new(t, WH_NOPK_COLUMN, WH_TEXT, 1, NULL))
            return NULL;
        for (size_t i = 0; l->has_pk && i < l->nkeys; i++)
            if (!wh_layout_column_new(t, l->keys[i], key_types[i], 1, NULL))
                return NULL;
    } else {
        for (size_t i = 0; i < l->nkeys; i++) {
            if (wh_source_key_name(l->keys[i], buf, sizeof(buf)) < 0 ||
                !wh_layout_column_new(t, buf, key_types[i], 1, NULL))
                return NULL;
        }
        for (int k = 0; k < level; k++) {
            snprintf(buf, sizeof(buf), "_sdc_level_%d_id", k);
            if (!wh_layout_column_new(t, buf, WH_BIGINT, 1, NULL))
                return NULL;
        }
    }
    if (!wh_layout_column_new(t, WH_COL_SEQUENCE, WH_BIGINT, 1, NULL) ||
        !wh_layout_column_new(t, WH_COL_RECEIVED_AT, WH_TIMESTAMP, 1, NULL) ||
        !wh_layout_column_new(t, WH_COL_BATCHED_AT, WH_TIMESTAMP, 1, NULL) ||
        !wh_layout_column_new(t, WH_COL_TABLE_VERSION, WH_BIGINT, 1, NULL))
        return NULL;
    return t;
}

int wh_layout_pending(const wh_layout_t *l) {
    for (size_t i = 0; i < l->ntables; i++) {
        const wh_table_t *t = &l->tables[i];
        if (t->pending)
            return 1;
        for (size_t j = 0; j < t->ncols; j++)
            if (t->cols[j].pending)
                return 1;
    }
    return 0;
}

void wh_layout_clear_pending(wh_layout_t *l) {
    for (size_t i = 0; i < l->ntables; i++) {
        wh_table_t *t = &l->tables[i];
        t->pending = 0;
        for (size_t j = 0; j < t->ncols; j++)
            t->cols[j].pending = 0;
    }
}

int wh_layout_has_rejected(const wh_layout_t *l) { return l->has_rejected; }

int wh_layout_mismatched(const wh_layout_t *l) {
    if (l->rejected_mismatch)
        return 1;
    for (size_t i = 0; i < l->ntables; i++)
        if (l->tables[i].mismatch)
            return 1;
    return 0;
}
