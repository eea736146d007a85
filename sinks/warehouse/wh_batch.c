/* wh_batch: JSON records shredded into Stitch-layout rows for the warehouse (see wh_batch.h). */
#include "utf8.h"
#include "wh_batch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "rfc3339.h"
#include "sink_num.h"

#define WH_MAX_LEVELS 64
/* the batch's arena grows by chunks of this size */
#define WH_BATCH_CHUNK 60000

typedef struct {
    wh_row_t *rows;
    size_t nrows, rcap;
    wh_cell_t *cells;
    size_t ncells, ccap;
    uint32_t *rowcols;  /* row_columns of this table, once found (columns
                           are only ever appended, so indexes stay put) */
} wh_batch_rows_t;

typedef struct {
    const char *key;   /* canonical key bytes (arena) */
    size_t key_len;
    int64_t sequence;
    int live;
} wh_batch_rec_t;

typedef struct {
    char tag;          /* 'c': column `col` of the row's table; 't': table `name` */
    size_t col;
    const char *name;  /* arena of the batch */
} wh_batch_seen_t;

struct wh_batch {
    wh_layout_t *l;
    int64_t batched_at;
    arena_t arena;      /* the batch's strings; wh_batch_reset keeps its chunks */
    wh_batch_rows_t *tables;
    size_t ntables;
    wh_batch_rec_t *recs;
    size_t nrecs, reccap;
    size_t *slots;      /* hash of record keys: rec index + 1, 0 = empty */
    size_t nslots;
    wh_reject_t *rejects;
    size_t nrejects, rejcap;
    wh_offset_t *offsets;
    size_t noffsets, offcap;
    wh_batch_seen_t *seen;       /* wh_batch_shred_t's, kept from record to record */
    size_t seencap;
};

/* per-record state while shredding */
typedef struct {
    wh_batch_t *b;
    const wh_msg_t *msg;
    size_t rec;
    int oom;
    char reason[640];        /* first field-level problem */
    size_t nproblems;
    char reason_table[WH_TABLE_MAX * 2 + 8];
    wh_cell_t keys[16];      /* key values copied into subtable rows */
    wh_type_t key_types[16];
    int64_t levels[WH_MAX_LEVELS];
    wh_batch_seen_t *seen;
    size_t nseen, seencap;
} wh_batch_shred_t;

static int wh_batch_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

wh_batch_t *wh_batch_new(wh_layout_t *l, int64_t batched_at) {
    wh_batch_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->l = l;
    b->batched_at = batched_at;
    /* chunks of one size, all kept: a steady stream of batches reuses them */
    arena_init(&b->arena, WH_BATCH_CHUNK, WH_BATCH_CHUNK, SIZE_MAX);
    return b;
}

void wh_batch_reset(wh_batch_t *b, wh_layout_t *l, int64_t batched_at) {
    arena_reset(&b->arena);
    for (size_t i = 0; i < b->ntables; i++) {
        /* the catalog may have been read again: indexes are the layout's */
        b->tables[i].nrows = b->tables[i].ncells = 0;
        free(b->tables[i].rowcols);
        b->tables[i].rowcols = NULL;
    }
    b->nrecs = 0;
    if (b->slots)
        memset(b->slots, 0, b->nslots * sizeof(*b->slots));
    b->nrejects = 0;
    b->noffsets = 0;
    b->l = l;
    b->batched_at = batched_at;
}

void wh_batch_destroy(wh_batch_t *b) {
    if (!b)
        return;
    arena_free(&b->arena);
    for (size_t i = 0; i < b->ntables; i++) {
        free(b->tables[i].rows);
        free(b->tables[i].cells);
        free(b->tables[i].rowcols);
    }
    free(b->tables);
    free(b->recs);
    free(b->slots);
    free(b->rejects);
    free(b->offsets);
    free(b->seen);
    free(b);
}

static wh_batch_rows_t *wh_batch_rows_of(wh_batch_t *b, size_t table) {
    if (table >= b->ntables) {
        size_t n = wh_layout_ntables(b->l);
        wh_batch_rows_t *nt = realloc(b->tables, n * sizeof(*nt));
        if (!nt)
            return NULL;
        memset(nt + b->ntables, 0, (n - b->ntables) * sizeof(*nt));
        b->tables = nt;
        b->ntables = n;
    }
    return &b->tables[table];
}

static size_t wh_batch_hash_bytes(const char *s, size_t n) {
    size_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* index of the live record with this key, or (size_t)-1 */
static size_t wh_batch_rec_find(const wh_batch_t *b, const char *key, size_t len, size_t *slot) {
    if (!b->nslots)
        return (size_t)-1;
    size_t i = wh_batch_hash_bytes(key, len) & (b->nslots - 1);
    while (b->slots[i]) {
        const wh_batch_rec_t *r = &b->recs[b->slots[i] - 1];
        if (r->key_len == len && memcmp(r->key, key, len) == 0) {
            *slot = i;
            return b->slots[i] - 1;
        }
        i = (i + 1) & (b->nslots - 1);
    }
    *slot = i;
    return (size_t)-1;
}

static int wh_batch_rec_index(wh_batch_t *b, size_t rec) {
    if ((b->nrecs + 1) * 2 > b->nslots) {
        size_t n = b->nslots ? b->nslots * 2 : 256;
        size_t *ns = calloc(n, sizeof(*ns));
        if (!ns)
            return -1;
        free(b->slots);
        b->slots = ns;
        b->nslots = n;
        for (size_t r = 0; r < b->nrecs; r++) {
            if (!b->recs[r].live || !b->recs[r].key)
                continue;
            size_t i = wh_batch_hash_bytes(b->recs[r].key, b->recs[r].key_len) & (n - 1);
            while (ns[i])
                i = (i + 1) & (n - 1);
            ns[i] = r + 1;
        }
    }
    size_t slot;
    if (wh_batch_rec_find(b, b->recs[rec].key, b->recs[rec].key_len, &slot) == (size_t)-1)
        b->slots[slot] = rec + 1;
    return 0;
}

static int wh_batch_add_reject(wh_batch_t *b, const char *table, const char *reason,
                               const wh_msg_t *msg) {
    if (wh_batch_grow((void **)&b->rejects, &b->rejcap, b->nrejects + 1, sizeof(wh_reject_t)) < 0)
        return -1;
    wh_reject_t *r = &b->rejects[b->nrejects];
    r->table = arena_strndup(&b->arena, table, strlen(table));
    r->reason = arena_strndup(&b->arena, reason, strlen(reason));
    r->record = arena_strndup(&b->arena, msg->value ? msg->value : "",
                              msg->value ? msg->value_len : 0);
    r->record_len = msg->value ? msg->value_len : 0;
    r->rejected_at = b->batched_at;
    if (!r->table || !r->reason || !r->record)
        return -1;
    b->nrejects++;
    return 0;
}

static int wh_batch_note_offset(wh_batch_t *b, const wh_msg_t *msg) {
    for (size_t i = 0; i < b->noffsets; i++) {
        wh_offset_t *o = &b->offsets[i];
        if (o->partition == msg->partition && strcmp(o->topic, msg->topic) == 0) {
            if (msg->offset + 1 > o->next)
                o->next = msg->offset + 1;
            return 0;
        }
    }
    if (wh_batch_grow((void **)&b->offsets, &b->offcap, b->noffsets + 1, sizeof(wh_offset_t)) < 0)
        return -1;
    wh_offset_t *o = &b->offsets[b->noffsets];
    if (!(o->topic = arena_strndup(&b->arena, msg->topic, strlen(msg->topic))))
        return -1;
    o->partition = msg->partition;
    o->next = msg->offset + 1;
    b->noffsets++;
    return 0;
}

/* ---- shredding ---- */

static void wh_batch_field_problem(wh_batch_shred_t *st, const char *table, const char *fmt,
                                   const char *name) {
    st->nproblems++;
    if (st->reason[0])
        return;
    snprintf(st->reason, sizeof(st->reason), fmt, name);
    snprintf(st->reason_table, sizeof(st->reason_table), "%s", table);
}

/* 1 if the row (seen entries from `base`) already used this column or
   subtable (a collision), else records it and returns 0 */
static int wh_batch_seen_before(wh_batch_shred_t *st, size_t base, char tag, size_t col,
                                const char *name) {
    for (size_t i = base; i < st->nseen; i++) {
        const wh_batch_seen_t *e = &st->seen[i];
        if (e->tag == tag && (tag == 'c' ? e->col == col : strcmp(e->name, name) == 0))
            return 1;
    }
    if (wh_batch_grow((void **)&st->seen, &st->seencap, st->nseen + 1,
                      sizeof(wh_batch_seen_t)) < 0) {
        st->oom = 1;
        return 1;
    }
    wh_batch_seen_t *e = &st->seen[st->nseen];
    e->tag = tag;
    e->col = col;
    e->name = NULL;
    if (tag == 't' && !(e->name = arena_strndup(&st->b->arena, name, strlen(name)))) {
        st->oom = 1;
        return 1;
    }
    st->nseen++;
    return 0;
}

static int wh_batch_add_cell(wh_batch_shred_t *st, size_t table, const wh_cell_t *c) {
    wh_batch_rows_t *tr = wh_batch_rows_of(st->b, table);
    if (!tr || wh_batch_grow((void **)&tr->cells, &tr->ccap, tr->ncells + 1,
                             sizeof(wh_cell_t)) < 0) {
        st->oom = 1;
        return -1;
    }
    tr->cells[tr->ncells++] = *c;
    return 0;
}

static size_t wh_batch_table_index(wh_batch_t *b, const wh_table_t *t) {
    return (size_t)(t - wh_layout_table(b->l, 0));
}

/* where a value can go (wh_batch_column_for) */
typedef enum {
    WH_BATCH_COL_OOM = -1,
    WH_BATCH_COL_OK = 0,
    WH_BATCH_COL_CONFLICT,  /* "<name>__<suffix>" has another type */
    WH_BATCH_COL_FULL       /* the table has WH_TABLE_COLUMNS_MAX columns */
} wh_batch_col_t;

/* the column for a value of type `type` under base name `name`: the base
 * column if it has that type, else "<name>__<suffix>" (*col) */
static wh_batch_col_t wh_batch_column_for(wh_batch_shred_t *st, size_t table, const char *name,
                                          wh_type_t type, wh_column_t *c, size_t *col) {
    wh_table_t *t = wh_layout_table(st->b->l, table);
    /* c: the base column, already looked up by the caller (index in *col) */
    if (!c && t->ncols >= WH_TABLE_COLUMNS_MAX)
        return WH_BATCH_COL_FULL;
    if (!c)
        return wh_layout_add_column(t, name, type, col) ? WH_BATCH_COL_OK : WH_BATCH_COL_OOM;
    if (c->type == type)
        return WH_BATCH_COL_OK;
    char full[WH_COLUMN_MAX * 4 + 8];
    snprintf(full, sizeof(full), "%s__%s", name, wh_type_suffix(type));
    c = wh_table_find(t, full, col);
    if (!c && t->ncols >= WH_TABLE_COLUMNS_MAX)
        return WH_BATCH_COL_FULL;
    if (!c)
        return wh_layout_add_column(t, full, type, col) ? WH_BATCH_COL_OK : WH_BATCH_COL_OOM;
    return c->type == type ? WH_BATCH_COL_OK : WH_BATCH_COL_CONFLICT;
}

/* the shortest text that reads back as the same double, into buf (40
   bytes); its length */
static int wh_batch_format_double(double d, char *buf) {
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 40, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return n;
}

void wh_format_double(double d, char out[40]) { wh_batch_format_double(d, out); }

/* a scalar's type and cell: 0, or -1 if the value is out of range. with_text:
   numbers get their text too (key cells: the loaders match keys by it) */
static int wh_batch_scalar_cell(wh_batch_shred_t *st, const sink_json_node_t *v, wh_cell_t *c,
                                int with_text) {
    memset(c, 0, sizeof(*c));
    switch (v->type) {
    case SINK_JSON_TRUE:
    case SINK_JSON_FALSE:
        c->type = WH_BOOLEAN;
        c->i = v->type == SINK_JSON_TRUE;
        return 0;
    case SINK_JSON_STRING:
        if (memchr(v->str, '\0', v->len))
            return -1;
        c->type = WH_TEXT;
        break;
    case SINK_JSON_NUMBER:
        if (v->num == SINK_NUM_LONG) {
            c->type = WH_BIGINT;
            c->i = v->v.i;
        } else if (v->num == SINK_NUM_DOUBLE) {
            c->type = WH_DOUBLE;
            c->d = v->v.d;
        } else if (v->num == SINK_NUM_DECIMAL) {
            c->type = WH_NUMERIC;
        } else {
            return -1;
        }
        break;
    default:
        return -1;
    }
    if (c->type == WH_BIGINT || c->type == WH_DOUBLE) {
        /* the parser keeps no lexeme for these; the text is printed only
           where it is needed (a double's costs a printf and a strtod) */
        if (!with_text)
            return 0;
        char buf[40];
        int n = 0;
        if (c->type == WH_BIGINT) {
            /* by hand: this runs for every integer key */
            char tmp[24];
            uint64_t u = c->i < 0 ? 0 - (uint64_t)c->i : (uint64_t)c->i;
            size_t k = 0;
            do {
                tmp[k++] = (char)('0' + u % 10);
                u /= 10;
            } while (u);
            n = 0;
            if (c->i < 0)
                buf[n++] = '-';
            while (k)
                buf[n++] = tmp[--k];
        } else {
            n = wh_batch_format_double(c->d, buf);
        }
        c->s = arena_strndup(&st->b->arena, buf, (size_t)n);
        c->len = (size_t)n;
    } else {
        c->s = arena_strndup(&st->b->arena, v->str, v->len);
        c->len = v->len;
    }
    if (!c->s)
        st->oom = 1;
    return 0;
}

static void wh_batch_put_value(wh_batch_shred_t *st, size_t table, size_t seen_base,
                               const char *name,
                               const sink_json_node_t *v) {
    const char *tname = wh_layout_table(st->b->l, table)->name;
    if (strlen(name) > WH_COLUMN_MAX) {
        wh_batch_field_problem(st, tname, "column name too long: %.80s", name);
        return;
    }
    /* two fields giving one column name collide, whatever their types */
    size_t base = 0;
    wh_column_t *base_col = wh_table_find(wh_layout_table(st->b->l, table), name, &base);
    int had_base = base_col != NULL;
    if (had_base && wh_batch_seen_before(st, seen_base, 'c', base, NULL)) {
        wh_batch_field_problem(st, tname, "Field collision on column %.80s", name);
        return;
    }
    wh_cell_t c;
    if (wh_batch_scalar_cell(st, v, &c, 0) < 0) {
        wh_batch_field_problem(st, tname, "value out of range for column %.80s", name);
        return;
    }
    size_t col = base;
    wh_batch_col_t rc = wh_batch_column_for(st, table, name, (wh_type_t)c.type, base_col, &col);
    if (rc == WH_BATCH_COL_OOM) {
        st->oom = 1;
        return;
    }
    if (rc != WH_BATCH_COL_OK) {
        wh_batch_field_problem(st, tname, rc == WH_BATCH_COL_FULL
                                              ? "too many columns in the table for %.80s"
                                              : "column type conflict: %.80s", name);
        return;
    }
    /* a new base column: note it now that it exists */
    if (!had_base && wh_table_find(wh_layout_table(st->b->l, table), name, &base))
        wh_batch_seen_before(st, seen_base, 'c', base, NULL);
    c.col = (uint32_t)col;
    wh_batch_add_cell(st, table, &c);
}

static void wh_batch_walk_array(wh_batch_shred_t *st, const char *table_name, int level,
                                const sink_json_node_t *arr);

/* the columns of a new row's key, array index and system cells, in the
 * order wh_batch_row_begin writes them; 0, or -1 with the missing column's name
 * in `missing` (a table that wh_layout_check did not vet) */
#define WH_BATCH_ROW_SYS_COLS 3
static int wh_batch_row_columns(wh_batch_t *b, wh_table_t *t, int level, uint32_t *cols,
                                char *missing, size_t missing_size) {
    static const char *const sys[WH_BATCH_ROW_SYS_COLS] = {WH_COL_SEQUENCE,
                                                           WH_COL_RECEIVED_AT, WH_COL_BATCHED_AT};
    char buf[WH_COLUMN_MAX * 2 + 64];
    size_t nkeys = wh_layout_nkeys(b->l), n = 0, col;
    for (size_t k = 0; k < nkeys + (size_t)level + WH_BATCH_ROW_SYS_COLS; k++) {
        if (k < nkeys && level == 0)
            snprintf(buf, sizeof(buf), "%s", wh_layout_key(b->l, k));
        else if (k < nkeys)
            wh_source_key_name(wh_layout_key(b->l, k), buf, sizeof(buf));
        else if (k < nkeys + (size_t)level)
            snprintf(buf, sizeof(buf), "_sdc_level_%zu_id", k - nkeys);
        else
            snprintf(buf, sizeof(buf), "%s", sys[k - nkeys - (size_t)level]);
        if (!wh_table_find(t, buf, &col)) {
            snprintf(missing, missing_size, "%s", buf);
            return -1;
        }
        cols[n++] = (uint32_t)col;
    }
    return 0;
}

/* what wh_batch_row_begin came to */
typedef enum {
    WH_BATCH_ROW_OOM = -1,
    WH_BATCH_ROW_OK = 0,
    WH_BATCH_ROW_MISSING    /* a key or system column is missing (noted as the
                               record's problem) */
} wh_batch_row_rc_t;

/* the system and key cells of a new row */
static wh_batch_row_rc_t wh_batch_row_begin(wh_batch_shred_t *st, size_t table, int level) {
    wh_batch_t *b = st->b;
    wh_table_t *t = wh_layout_table(b->l, table);
    wh_batch_rows_t *tr = wh_batch_rows_of(b, table);
    if (!tr)
        return WH_BATCH_ROW_OOM;
    if (!tr->rowcols) {
        size_t ncols = wh_layout_nkeys(b->l) + (size_t)level + WH_BATCH_ROW_SYS_COLS;
        uint32_t *cols = malloc(ncols * sizeof(*cols));
        char missing[WH_COLUMN_MAX * 2 + 64];
        if (!cols)
            return WH_BATCH_ROW_OOM;
        if (wh_batch_row_columns(b, t, level, cols, missing, sizeof(missing)) < 0) {
            char why[WH_COLUMN_MAX * 4 + 160];
            snprintf(why, sizeof(why), "table %s.%s: column \"%s\" is missing",
                     wh_layout_integration(b->l), t->name, missing);
            wh_batch_field_problem(st, t->name, "%s", why);
            free(cols);
            return WH_BATCH_ROW_MISSING;
        }
        tr->rowcols = cols;
    }
    const uint32_t *cols = tr->rowcols;
    if (wh_batch_grow((void **)&tr->rows, &tr->rcap, tr->nrows + 1, sizeof(wh_row_t)) < 0)
        return WH_BATCH_ROW_OOM;
    wh_row_t *r = &tr->rows[tr->nrows++];
    r->first = tr->ncells;
    r->ncells = 0;
    r->rec = st->rec;
    size_t nkeys = wh_layout_nkeys(b->l), n = 0;
    wh_cell_t c;
    for (size_t k = 0; k < nkeys; k++) {
        c = st->keys[k];
        c.col = cols[n++];
        if (wh_batch_add_cell(st, table, &c) < 0)
            return WH_BATCH_ROW_OOM;
    }
    for (int k = 0; k < level; k++) {
        c = (wh_cell_t){.col = cols[n++], .type = WH_BIGINT, .i = st->levels[k]};
        if (wh_batch_add_cell(st, table, &c) < 0)
            return WH_BATCH_ROW_OOM;
    }
    const struct {
        wh_type_t type;
        int64_t v;
    } sys[WH_BATCH_ROW_SYS_COLS] = {
        {WH_BIGINT, st->msg->sys.sequence},
        {WH_TIMESTAMP, st->msg->sys.received_at},
        {WH_TIMESTAMP, b->batched_at},
    };
    for (size_t i = 0; i < WH_BATCH_ROW_SYS_COLS; i++) {
        c = (wh_cell_t){.col = cols[n++], .type = (uint8_t)sys[i].type, .i = sys[i].v};
        if (wh_batch_add_cell(st, table, &c) < 0)
            return WH_BATCH_ROW_OOM;
    }
    return WH_BATCH_ROW_OK;
}

static void wh_batch_row_end(wh_batch_shred_t *st, size_t table) {
    wh_batch_rows_t *tr = &st->b->tables[table];
    wh_row_t *r = &tr->rows[tr->nrows - 1];
    r->ncells = tr->ncells - r->first;
}

static int wh_batch_is_pk_field(const wh_layout_t *l, const sink_json_node_t *m);

/* flattens `obj` into the current row of `table`, names under `prefix`;
   skip_pk: leave out the primary-key fields (written as key cells) */
static void wh_batch_walk_object(wh_batch_shred_t *st, size_t table, size_t seen_base, int level,
                                 const char *prefix, const sink_json_node_t *obj, int skip_pk) {
    char seg[1024], name[2048];
    for (const sink_json_node_t *m = obj->child; m && !st->oom; m = m->next) {
        if (skip_pk && wh_batch_is_pk_field(st->b->l, m))
            continue;
        const char *tname = wh_layout_table(st->b->l, table)->name;
        long n = wh_name_segment(m->key, m->key_len, seg, sizeof(seg));
        if (n <= 0) {
            wh_batch_field_problem(st, tname, n == 0 ? "empty column name%.0s"
                                                      : "column name too long: %.80s", seg);
            continue;
        }
        if (wh_name_reserved(seg)) {
            wh_batch_field_problem(st, tname, "reserved column name: %.80s", seg);
            continue;
        }
        size_t plen = strlen(prefix), nlen = plen + (plen ? 2 : 0) + (size_t)n;
        if (nlen >= sizeof(name)) {
            wh_batch_field_problem(st, tname, "column name too long: %.80s", seg);
            continue;
        }
        memcpy(name, prefix, plen);
        if (plen)
            memcpy(name + plen, "__", 2);
        memcpy(name + nlen - (size_t)n, seg, (size_t)n + 1);
        switch (m->type) {
        case SINK_JSON_NULL:
            break;
        case SINK_JSON_OBJECT:
            if (strlen(name) > WH_COLUMN_MAX) {
                wh_batch_field_problem(st, tname, "column name too long: %.80s", name);
                break;
            }
            wh_batch_walk_object(st, table, seen_base, level, name, m, 0);
            break;
        case SINK_JSON_ARRAY: {
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s__%s", tname, name);
            if (wh_batch_seen_before(st, seen_base, 't', 0, sub)) {
                wh_batch_field_problem(st, tname, "Field collision on table %.80s", sub);
                break;
            }
            wh_batch_walk_array(st, sub, level + 1, m);
            break;
        }
        default:
            wh_batch_put_value(st, table, seen_base, name, m);
        }
    }
}

static void wh_batch_walk_array(wh_batch_shred_t *st, const char *table_name, int level,
                                const sink_json_node_t *arr) {
    if (!arr->child)
        return;
    if (strlen(table_name) > WH_TABLE_MAX) {
        wh_batch_field_problem(st, table_name, "table name too long: %.80s", table_name);
        return;
    }
    if (level > WH_MAX_LEVELS) {
        wh_batch_field_problem(st, table_name, "arrays nested too deep: %.80s", table_name);
        return;
    }
    wh_batch_t *b = st->b;
    wh_table_t *t = wh_layout_find_table(b->l, table_name);
    if (!t && !(t = wh_layout_add_table(b->l, table_name, level, st->key_types))) {
        st->oom = 1;
        return;
    }
    if (t->mismatch) {
        /* a table that is not ours: never written or altered */
        wh_batch_field_problem(st, table_name, "%s", t->mismatch);
        return;
    }
    if (t->level != level) {
        wh_batch_field_problem(st, table_name, "table %.80s exists at another nesting level",
                               table_name);
        return;
    }
    size_t table = wh_batch_table_index(b, t);
    int64_t idx = 0;
    for (const sink_json_node_t *e = arr->child; e && !st->oom; e = e->next, idx++) {
        st->levels[level - 1] = idx;
        size_t seen_base = st->nseen;
        wh_batch_row_rc_t rb = wh_batch_row_begin(st, table, level);
        if (rb != WH_BATCH_ROW_OK) {
            st->oom = rb == WH_BATCH_ROW_OOM;
            return;
        }
        if (e->type == SINK_JSON_OBJECT) {
            wh_batch_walk_object(st, table, seen_base, level, "", e, 0);
        } else if (e->type == SINK_JSON_ARRAY) {
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s__value", table_name);
            wh_batch_walk_array(st, sub, level + 1, e);
        } else if (e->type != SINK_JSON_NULL) {
            wh_batch_put_value(st, table, seen_base, "value", e);
        }
        wh_batch_row_end(st, table);
        st->nseen = seen_base;
    }
}

static int wh_batch_is_pk_field(const wh_layout_t *l, const sink_json_node_t *m) {
    for (size_t k = 0; wh_layout_has_pk(l) && k < wh_layout_nkeys(l); k++) {
        const char *pk = wh_layout_pk_json(l, k);
        if (m->key_len == strlen(pk) && memcmp(m->key, pk, m->key_len) == 0)
            return 1;
    }
    return 0;
}

/* canonical bytes of the record's key and the key cells; NULL reason on success */
static const char *wh_batch_record_key(wh_batch_shred_t *st, const sink_json_node_t *root,
                                       char *key, size_t *key_len) {
    wh_batch_t *b = st->b;
    wh_layout_t *l = b->l;
    size_t n = 0, cap = *key_len;
    if (!wh_layout_has_pk(l)) {
        const sink_sys_t *sys = &st->msg->sys;
        if (!sys->key || sys->key_len == 0)
            return "message has no key for __sdc_primary_key";
        if (!utf8_valid(sys->key, sys->key_len) || memchr(sys->key, '\0', sys->key_len))
            return "message key is not text";
        if (sys->key_len > cap)
            return "message key too long";
        memcpy(key, sys->key, sys->key_len);
        *key_len = sys->key_len;
        st->keys[0] = (wh_cell_t){.type = WH_TEXT,
                                  .s = arena_strndup(&b->arena, sys->key, sys->key_len),
                                  .len = sys->key_len};
        st->key_types[0] = WH_TEXT;
        if (!st->keys[0].s)
            st->oom = 1;
        return NULL;
    }
    for (size_t k = 0; k < wh_layout_nkeys(l); k++) {
        const char *pk = wh_layout_pk_json(l, k);
        size_t pklen = strlen(pk);
        const sink_json_node_t *v = NULL;
        for (const sink_json_node_t *m = root->child; m; m = m->next)
            if (m->key_len == pklen && memcmp(m->key, pk, pklen) == 0) {
                if (v)
                    return "duplicate primary-key field";
                v = m;
            }
        if (!v || v->type == SINK_JSON_NULL)
            return "primary key missing or null";
        if (v->type == SINK_JSON_OBJECT || v->type == SINK_JSON_ARRAY)
            return "primary key is not a scalar";
        wh_cell_t c;
        if (wh_batch_scalar_cell(st, v, &c, 1) < 0)
            return "primary key value out of range";
        st->keys[k] = c;
        st->key_types[k] = (wh_type_t)c.type;
        /* canonical text: equal values give equal bytes, so a batch never
           merges two rows with one key */
        char canon[128];
        const char *s = c.s;
        size_t len = c.len;
        if (c.type == WH_DOUBLE) {
            len = (size_t)snprintf(canon, sizeof(canon), "%.17g", c.d);
            s = canon;
        } else if (c.type == WH_NUMERIC) {
            unsigned char bytes[SINK_DECIMAL_MAX_BYTES];
            if (sink_num_decimal_bytes(c.s, c.len, bytes, &len) < 0)
                return "primary key value out of range";
            memcpy(canon, bytes, len);
            s = canon;
        } else if (c.type == WH_BOOLEAN) {
            s = c.i ? "t" : "f";
            len = 1;
        }
        if (n + len + 10 > cap)
            return "primary key too long";
        key[n++] = (char)('0' + c.type);
        memcpy(key + n, &len, sizeof(len));
        n += sizeof(len);
        memcpy(key + n, s, len);
        n += len;
    }
    /* the key columns keep the type of the first key value seen */
    wh_table_t *root_t = wh_layout_find_table(l, WH_ROOT_TABLE);
    for (size_t k = 0; root_t && k < wh_layout_nkeys(l); k++) {
        wh_column_t *c = wh_table_find(root_t, wh_layout_key(l, k), NULL);
        if (!c || c->type != st->key_types[k])
            return "primary key value has another type than the key column";
    }
    *key_len = n;
    return NULL;
}

int wh_batch_add(wh_batch_t *b, sink_json_parser_t *p, const wh_msg_t *msg) {
    const sink_json_node_t *root = NULL;
    char err[256];
    if (sink_json_parse(p, msg->value ? msg->value : "", msg->value_len, &root, err,
                        sizeof(err)) < 0)
        root = NULL;
    return wh_batch_add_parsed(b, msg, root, err);
}

int wh_batch_add_parsed(wh_batch_t *b, const wh_msg_t *msg, const sink_json_node_t *root,
                        const char *parse_err) {
    if (wh_batch_note_offset(b, msg) < 0)
        return -1;
    if (!root) {
        char reason[300];
        snprintf(reason, sizeof(reason), "invalid JSON: %s", parse_err);
        return wh_batch_add_reject(b, WH_ROOT_TABLE, reason, msg);
    }
    if (root->type != SINK_JSON_OBJECT)
        return wh_batch_add_reject(b, WH_ROOT_TABLE, "record is not a JSON object", msg);
    wh_batch_shred_t st;
    memset(&st, 0, sizeof(st));
    st.b = b;
    st.msg = msg;
    st.seen = b->seen;
    st.seencap = b->seencap;
    if (wh_layout_nkeys(b->l) > sizeof(st.keys) / sizeof(st.keys[0]))
        return wh_batch_add_reject(b, WH_ROOT_TABLE, "too many primary-key fields", msg);
    wh_table_t *rt = wh_layout_find_table(b->l, WH_ROOT_TABLE);
    if (rt && rt->mismatch)
        return wh_batch_add_reject(b, WH_ROOT_TABLE, rt->mismatch, msg);
    size_t rti = rt ? wh_batch_table_index(b, rt) : 0;
    if (rt && !(rti < b->ntables && b->tables[rti].rowcols)) {
        /* vetted by wh_layout_check in the loaders; a layout that was not
           (or a table without its key or system columns) rejects, never
           fails the batch. Once a row found them (rowcols) they are there
           for the rest of the batch: columns are only ever added */
        uint32_t cols[16 + WH_BATCH_ROW_SYS_COLS];
        char missing[WH_COLUMN_MAX * 2 + 64], why[WH_COLUMN_MAX * 4 + 160];
        if (wh_layout_nkeys(b->l) <= 16 &&
            wh_batch_row_columns(b, rt, 0, cols, missing, sizeof(missing)) < 0) {
            snprintf(why, sizeof(why), "table %s.%s: column \"%s\" is missing",
                     wh_layout_integration(b->l), rt->name, missing);
            return wh_batch_add_reject(b, WH_ROOT_TABLE, why, msg);
        }
    }
    char key[4096];
    size_t key_len = sizeof(key);
    const char *why = wh_batch_record_key(&st, root, key, &key_len);
    if (st.oom)
        return -1;
    if (why)
        return wh_batch_add_reject(b, WH_ROOT_TABLE, why, msg);

    size_t slot, prev = wh_batch_rec_find(b, key, key_len, &slot);
    if (prev != (size_t)-1) {
        /* with a primary key the higher sequence wins (ties: the first);
           without one, a repeated message key is the same record */
        if (!wh_layout_has_pk(b->l) || msg->sys.sequence <= b->recs[prev].sequence)
            return 0;
        b->recs[prev].live = 0;
        b->slots[slot] = 0;
        /* re-insert the chain after the emptied slot (linear probing) */
        size_t i = (slot + 1) & (b->nslots - 1);
        while (b->slots[i]) {
            size_t r = b->slots[i] - 1;
            b->slots[i] = 0;
            size_t s2;
            wh_batch_rec_find(b, b->recs[r].key, b->recs[r].key_len, &s2);
            b->slots[s2] = r + 1;
            i = (i + 1) & (b->nslots - 1);
        }
    }
    if (wh_batch_grow((void **)&b->recs, &b->reccap, b->nrecs + 1, sizeof(wh_batch_rec_t)) < 0)
        return -1;
    wh_batch_rec_t *rec = &b->recs[b->nrecs];
    rec->key = arena_strndup(&b->arena, key, key_len);
    rec->key_len = key_len;
    rec->sequence = msg->sys.sequence;
    rec->live = 1;
    if (!rec->key)
        return -1;
    st.rec = b->nrecs++;
    if (wh_batch_rec_index(b, st.rec) < 0)
        return -1;

    wh_table_t *t = wh_layout_find_table(b->l, WH_ROOT_TABLE);
    if (!t && !(t = wh_layout_add_table(b->l, WH_ROOT_TABLE, 0, st.key_types)))
        return -1;
    size_t table = wh_batch_table_index(b, t);
    int rc = 0;
    /* a missing column cannot happen: the columns were checked above */
    if (wh_batch_row_begin(&st, table, 0) != WH_BATCH_ROW_OK) {
        rc = -1;
        goto done;
    }
    if (wh_layout_has_pk(b->l)) {
        /* primary-key fields are the key columns: not again as values */
        for (size_t k = 0; k < wh_layout_nkeys(b->l); k++) {
            size_t col;
            if (wh_table_find(wh_layout_table(b->l, table), wh_layout_key(b->l, k), &col))
                wh_batch_seen_before(&st, 0, 'c', col, NULL);
        }
    }
    wh_batch_walk_object(&st, table, 0, 0, "", root, wh_layout_has_pk(b->l));
    wh_batch_row_end(&st, table);
    if (st.oom) {
        rc = -1;
        goto done;
    }
    if (st.reason[0]) {
        if (st.nproblems > 1) {
            size_t len = strlen(st.reason);
            snprintf(st.reason + len, sizeof(st.reason) - len, " (and %zu more)", st.nproblems - 1);
        }
        rc = wh_batch_add_reject(b, st.reason_table, st.reason, msg);
    }
done:
    b->seen = st.seen;
    b->seencap = st.seencap;
    return rc;
}

size_t wh_batch_nrows(const wh_batch_t *b, size_t table) {
    return table < b->ntables ? b->tables[table].nrows : 0;
}

const wh_row_t *wh_batch_row(const wh_batch_t *b, size_t table, size_t i) {
    return &b->tables[table].rows[i];
}

const wh_cell_t *wh_batch_cells(const wh_batch_t *b, size_t table) {
    return b->tables[table].cells;
}

int wh_batch_row_live(const wh_batch_t *b, const wh_row_t *r) {
    return b->recs[r->rec].live;
}

int64_t wh_batch_row_sequence(const wh_batch_t *b, const wh_row_t *r) {
    return b->recs[r->rec].sequence;
}

size_t wh_batch_live_rows(const wh_batch_t *b, size_t table) {
    size_t n = 0;
    for (size_t i = 0; i < wh_batch_nrows(b, table); i++)
        n += (size_t)wh_batch_row_live(b, &b->tables[table].rows[i]);
    return n;
}

void wh_batch_row_values(const wh_batch_t *b, size_t table, const wh_row_t *r,
                         const wh_cell_t **by_col, size_t ncols) {
    for (size_t i = 0; i < ncols; i++)
        by_col[i] = NULL;
    const wh_cell_t *cells = b->tables[table].cells + r->first;
    for (size_t i = 0; i < r->ncells; i++)
        if (cells[i].col < ncols)
            by_col[cells[i].col] = &cells[i];
}

size_t wh_batch_nrejects(const wh_batch_t *b) { return b->nrejects; }
const wh_reject_t *wh_batch_reject_at(const wh_batch_t *b, size_t i) { return &b->rejects[i]; }
size_t wh_batch_noffsets(const wh_batch_t *b) { return b->noffsets; }
const wh_offset_t *wh_batch_offset_at(const wh_batch_t *b, size_t i) { return &b->offsets[i]; }
size_t wh_batch_nrecords(const wh_batch_t *b) { return b->nrecs; }

size_t wh_batch_nkept(const wh_batch_t *b) {
    size_t n = 0;
    for (size_t i = 0; i < b->nrecs; i++)
        n += (size_t)b->recs[i].live;
    return n;
}

void wh_format_time(int64_t us, char out[64]) {
    rfc3339_format(us, RFC3339_SQL_MICROS, out, 64);
}

int wh_floors_add(wh_floors_t *f, const char *topic, int32_t partition, int64_t next) {
    if (wh_batch_grow((void **)&f->v, &f->cap, f->n + 1, sizeof(wh_offset_t)) < 0)
        return -1;
    char *t = strdup(topic);
    if (!t)
        return -1;
    f->v[f->n++] = (wh_offset_t){t, partition, next};
    return 0;
}

int wh_floors_done(const wh_floors_t *f, const wh_msg_t *msg) {
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].partition == msg->partition && strcmp(f->v[i].topic, msg->topic) == 0)
            return msg->offset < f->v[i].next;
    return 0;
}

void wh_floors_clear(wh_floors_t *f) {
    for (size_t i = 0; i < f->n; i++)
        free((char *)f->v[i].topic);
    free(f->v);
    memset(f, 0, sizeof(*f));
}
