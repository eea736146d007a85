/* sqlite_loader: the SQLite warehouse target, exactly-once batches (see sqlite_loader.h). */
#include "sqlite_loader.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "utf8.h"
#include "wh_loader.h"
#include "wh_sql.h"

#define SQLITE_LOADER_NAME_MAX 256

typedef struct sqlite_loader {
    wh_loader_t *wl;      /* the driver: errors, group; borrowed (it owns us) */
    sqlite3 *db;
    int schema_version;   /* when the catalogs were read */
    int txn_version;      /* the open batch's, after its own schema changes */
} sqlite_loader_t;

int sqlite_table_name(const char *integration, const char *table, char *out, size_t out_size) {
    int n = snprintf(out, out_size, "%s.%s", integration, table);
    return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}

/* notes the connection's last error; busy, locked, full and I/O errors
 * are worth waiting out, and SQLite's own allocation failures are ours */
static int sqlite_fail(sqlite_loader_t *ld, const char *what) {
    int code = sqlite3_extended_errcode(ld->db);
    if ((code & 0xff) == SQLITE_NOMEM || code == SQLITE_IOERR_NOMEM)
        return wh_loader_oom(ld->wl);
    code &= 0xff;
    return wh_loader_fail(ld->wl,
                          code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_FULL ||
                              code == SQLITE_IOERR || code == SQLITE_CANTOPEN,
                          "%s: %s", what, sqlite3_errmsg(ld->db));
}

static int sqlite_run(sqlite_loader_t *ld, const char *sql) {
    if (sqlite3_exec(ld->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_fail(ld, "exec");
    return 0;
}

static int sqlite_oom(sqlite_loader_t *ld) { return wh_loader_oom(ld->wl); }

static int sqlite_run_sql(sqlite_loader_t *ld, buf_t *q) {
    if (q->oom)
        return sqlite_oom(ld);
    return sqlite_run(ld, q->p);
}

static int sqlite_prepare(sqlite_loader_t *ld, buf_t *q, sqlite3_stmt **st) {
    if (q->oom)
        return sqlite_oom(ld);
    if (sqlite3_prepare_v2(ld->db, q->p, (int)q->len, st, NULL) != SQLITE_OK)
        return sqlite_fail(ld, "prepare");
    return 0;
}

/* wh_db_ops_t.offset */
static int sqlite_offset(void *db, const char *topic, int32_t partition, int64_t *next,
                         int *found) {
    sqlite_loader_t *ld = db;
    buf_t q = {0};
    sqlite3_stmt *st = NULL;
    buf_puts(&q, "SELECT next_offset FROM ");
    wh_sql_ident(&q, SQLITE_OFFSETS_TABLE);
    buf_puts(&q, " WHERE consumer_group = ?1 AND topic = ?2 AND partition = ?3");
    int rc = sqlite_prepare(ld, &q, &st);
    buf_free(&q);
    if (rc < 0)
        return -1;
    sqlite3_bind_text(st, 1, wh_loader_group(ld->wl), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *next = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sqlite_fail(ld, "offsets");
    *found = step == SQLITE_ROW;
    return 0;
}

/* reads "<integration>.*" tables, their columns and unique indexes, and
   checks them against the layout (inside the write lock; wh_db_ops_t.catalog) */
static int sqlite_catalog(void *db, wh_loader_entry_t *e) {
    sqlite_loader_t *ld = db;
    const char *integ = wh_layout_integration(e->layout);
    char prefix[SQLITE_LOADER_NAME_MAX];
    if (sqlite_table_name(integ, "", prefix, sizeof(prefix)) < 0) {
        return wh_loader_fail(ld->wl, 0, "integration name too long");
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ld->db,
                           "SELECT m.name, p.name, p.type FROM sqlite_master AS m "
                           "JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' "
                           "AND substr(m.name, 1, length(?1)) = ?1 "
                           "ORDER BY m.name, p.cid",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(ld, "catalog");
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    wh_layout_reset(e->layout);
    size_t plen = strlen(prefix);
    int step, rc = 0;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *col = (const char *)sqlite3_column_text(st, 1);
        const char *decl = (const char *)sqlite3_column_text(st, 2);
        int t = wh_type_from_sqlite(decl);
        if (!table || !col)
            continue;
        if (wh_layout_load_column_decl(e->layout, table + plen, col,
                                       t < 0 ? WH_NTYPES : (wh_type_t)t,
                                       decl && *decl ? decl : "untyped") < 0)
            rc = sqlite_oom(ld);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sqlite_fail(ld, "catalog");
    sqlite3_finalize(st);
    /* unique indexes, the primary key's among them (a rowid alias has no
       index: its pk column counts) — an upsert's ON CONFLICT needs one */
    if (rc == 0 &&
        sqlite3_prepare_v2(ld->db,
                           "SELECT m.name, 'pk', p.name FROM sqlite_master AS m "
                           "JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' "
                           "AND substr(m.name, 1, length(?1)) = ?1 AND p.pk > 0 "
                           "UNION ALL SELECT m.name, 'i' || il.name, ii.name "
                           "FROM sqlite_master AS m JOIN pragma_index_list(m.name) AS il "
                           "JOIN pragma_index_info(il.name) AS ii WHERE m.type = 'table' "
                           "AND substr(m.name, 1, length(?1)) = ?1 AND il.\"unique\" "
                           "AND il.partial = 0 ORDER BY 1, 2",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(ld, "catalog");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
        char table[SQLITE_LOADER_NAME_MAX] = "", index[SQLITE_LOADER_NAME_MAX] = "";
        char *cols[64];
        size_t ncols = 0;
        for (;;) {
            step = sqlite3_step(st);
            const char *tn = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
            const char *in = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
            const char *cn = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 2) : NULL;
            if (step == SQLITE_ROW && (!tn || !in || !cn))
                continue;
            if (ncols && (step != SQLITE_ROW || strcmp(tn, table) || strcmp(in, index))) {
                if (strlen(table) >= plen && rc == 0 &&
                    wh_layout_load_unique(e->layout, table + plen, (const char *const *)cols,
                                          ncols) < 0)
                    rc = sqlite_oom(ld);
                for (size_t i = 0; i < ncols; i++)
                    free(cols[i]);
                ncols = 0;
            }
            if (step != SQLITE_ROW)
                break;
            snprintf(table, sizeof(table), "%s", tn);
            snprintf(index, sizeof(index), "%s", in);
            if (ncols < 64 && !(cols[ncols++] = strdup(cn))) {
                ncols--;
                rc = sqlite_oom(ld);
            }
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = sqlite_fail(ld, "catalog");
        sqlite3_finalize(st);
    }
    if (rc == 0 && wh_layout_check(e->layout, wh_type_sqlite) < 0)
        rc = sqlite_oom(ld);
    if (rc == 0)
        e->loaded = 1;
    return rc;
}

static void sqlite_ident(buf_t *q, const wh_layout_t *l, const char *table) {
    char name[SQLITE_LOADER_NAME_MAX];
    if (sqlite_table_name(wh_layout_integration(l), table, name, sizeof(name)) < 0)
        q->oom = 1;
    else
        wh_sql_ident(q, name);
}

static int sqlite_schema_version(sqlite_loader_t *ld, int *out) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ld->db, "PRAGMA schema_version", -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(ld, "schema_version");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : sqlite_fail(ld, "schema_version");
}

/* creates what is pending; we hold the write lock and a fresh catalog
   (wh_db_ops_t.ddl) */
static int sqlite_ddl(void *db, wh_layout_t *l) {
    sqlite_loader_t *ld = db;
    buf_t q = {0};
    buf_puts(&q, "CREATE TABLE IF NOT EXISTS ");
    sqlite_ident(&q, l, WH_REJECTED_TABLE);
    buf_puts(&q, " (_sdc_rejected_at TIMESTAMP, table_name TEXT, reason TEXT, record TEXT);\n");
    for (size_t i = 0; i < wh_layout_ntables(l); i++) {
        wh_table_t *t = wh_layout_table(l, i);
        if (t->pending) {
            wh_loader_sql_create(&q, l, t, sqlite_ident, wh_type_sqlite);
            continue;
        }
        for (size_t c = 0; c < t->ncols; c++) {
            if (!t->cols[c].pending)
                continue;
            buf_puts(&q, "ALTER TABLE ");
            sqlite_ident(&q, l, t->name);
            buf_puts(&q, " ADD COLUMN ");
            wh_sql_ident(&q, t->cols[c].name);
            buf_printf(&q, " %s;\n", wh_type_sqlite(t->cols[c].type));
        }
    }
    int rc = sqlite_run_sql(ld, &q);
    buf_free(&q);
    if (rc == 0)
        wh_layout_clear_pending(l);
    /* read inside the lock: the version our own change made */
    if (rc == 0)
        rc = sqlite_schema_version(ld, &ld->txn_version);
    return rc;
}

static void sqlite_bind_cell(sqlite3_stmt *st, int i, const wh_cell_t *v) {
    char tmp[64];
    if (!v) {
        sqlite3_bind_null(st, i);
        return;
    }
    switch (v->type) {
    case WH_BIGINT:
    case WH_BOOLEAN:
        sqlite3_bind_int64(st, i, v->i);
        break;
    case WH_DOUBLE:
        sqlite3_bind_double(st, i, v->d);
        break;
    case WH_TIMESTAMP:
        wh_format_time(v->i, tmp);
        sqlite3_bind_text(st, i, tmp, -1, SQLITE_TRANSIENT);
        break;
    default:
        sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC);
    }
}

/* the INSERT of table t; for the root an upsert guarded by _sdc_sequence */
static int sqlite_prepare_insert(sqlite_loader_t *ld, wh_layout_t *l, wh_table_t *t,
                                 sqlite3_stmt **st) {
    buf_t q = {0};
    buf_puts(&q, "INSERT INTO ");
    sqlite_ident(&q, l, t->name);
    buf_puts(&q, " AS t (");
    wh_loader_sql_columns(&q, t);
    buf_puts(&q, ") VALUES (");
    for (size_t c = 0; c < t->ncols; c++)
        buf_printf(&q, "%s?%zu", c ? ", " : "", c + 1);
    buf_puts(&q, ")");
    if (t->level == 0)
        wh_loader_sql_upsert(&q, l, t, "t");
    int rc = sqlite_prepare(ld, &q, st);
    buf_free(&q);
    return rc;
}

/* DELETE of a subtable's rows for one parent key */
static int sqlite_prepare_delete(sqlite_loader_t *ld, wh_layout_t *l, wh_table_t *t,
                                 sqlite3_stmt **st) {
    buf_t q = {0};
    buf_puts(&q, "DELETE FROM ");
    sqlite_ident(&q, l, t->name);
    buf_puts(&q, " WHERE ");
    for (size_t k = 0; k < wh_layout_nkeys(l); k++) {
        buf_printf(&q, "%s", k ? " AND " : "");
        wh_sql_ident(&q, t->cols[k].name);
        buf_printf(&q, " = ?%zu", k + 1);
    }
    int rc = sqlite_prepare(ld, &q, st);
    buf_free(&q);
    return rc;
}

static int sqlite_step_done(sqlite_loader_t *ld, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(ld, what);
}

static int sqlite_write_rows(sqlite_loader_t *ld, wh_layout_t *l, const wh_batch_t *b) {
    wh_table_t *root = wh_layout_find_table(l, WH_ROOT_TABLE);
    /* a root table that is not ours gets no rows (they were rejected) */
    if (!root || root->mismatch)
        return 0;
    size_t ri = (size_t)(root - wh_layout_table(l, 0));
    if (wh_batch_live_rows(b, ri) == 0)
        return 0;
    size_t nrec = wh_batch_nrecords(b), nt = wh_layout_ntables(l);
    char *won = calloc(nrec ? nrec : 1, 1);
    const wh_cell_t **by_col = NULL;
    size_t maxcols = 1;
    for (size_t ti = 0; ti < nt; ti++)
        if (wh_layout_table(l, ti)->ncols > maxcols)
            maxcols = wh_layout_table(l, ti)->ncols;
    by_col = calloc(maxcols, sizeof(*by_col));
    sqlite3_stmt *ins = NULL, *del = NULL;
    int rc = won && by_col ? 0 : sqlite_oom(ld);
    if (rc == 0)
        rc = sqlite_prepare_insert(ld, l, root, &ins);
    for (size_t r = 0; rc == 0 && r < wh_batch_nrows(b, ri); r++) {
        const wh_row_t *row = wh_batch_row(b, ri, r);
        if (!wh_batch_row_live(b, row))
            continue;
        wh_batch_row_values(b, ri, row, by_col, root->ncols);
        for (size_t c = 0; c < root->ncols; c++)
            sqlite_bind_cell(ins, (int)c + 1, by_col[c]);
        rc = sqlite_step_done(ld, ins, "upsert");
        if (rc == 0 && sqlite3_changes(ld->db) > 0)
            won[row->rec] = 1;
    }
    sqlite3_finalize(ins);
    ins = NULL;
    for (size_t ti = 0; rc == 0 && ti < nt; ti++) {
        wh_table_t *t = wh_layout_table(l, ti);
        /* a table that is not ours is never written (its rows were rejected) */
        if (t->level == 0 || t->mismatch)
            continue;
        if (wh_layout_has_pk(l)) {
            /* an updated parent's old subtable rows go with it */
            rc = sqlite_prepare_delete(ld, l, t, &del);
            for (size_t r = 0; rc == 0 && r < wh_batch_nrows(b, ri); r++) {
                const wh_row_t *row = wh_batch_row(b, ri, r);
                if (!won[row->rec])
                    continue;
                wh_batch_row_values(b, ri, row, by_col, root->ncols);
                for (size_t k = 0; k < wh_layout_nkeys(l); k++)
                    sqlite_bind_cell(del, (int)k + 1, by_col[k]);
                rc = sqlite_step_done(ld, del, "delete");
            }
            sqlite3_finalize(del);
            del = NULL;
        }
        if (rc == 0 && wh_batch_live_rows(b, ti) > 0)
            rc = sqlite_prepare_insert(ld, l, t, &ins);
        for (size_t r = 0; rc == 0 && ins && r < wh_batch_nrows(b, ti); r++) {
            const wh_row_t *row = wh_batch_row(b, ti, r);
            if (!wh_batch_row_live(b, row) || !won[row->rec])
                continue;
            wh_batch_row_values(b, ti, row, by_col, t->ncols);
            for (size_t c = 0; c < t->ncols; c++)
                sqlite_bind_cell(ins, (int)c + 1, by_col[c]);
            rc = sqlite_step_done(ld, ins, "insert");
        }
        sqlite3_finalize(ins);
        ins = NULL;
    }
    free(won);
    free(by_col);
    return rc;
}

static int sqlite_write_rejects(sqlite_loader_t *ld, wh_layout_t *l, const wh_batch_t *b) {
    if (wh_batch_nrejects(b) == 0)
        return 0;
    buf_t q = {0};
    sqlite3_stmt *st = NULL;
    buf_puts(&q, "INSERT INTO ");
    sqlite_ident(&q, l, WH_REJECTED_TABLE);
    buf_puts(&q, " (_sdc_rejected_at, table_name, reason, record) VALUES (?1, ?2, ?3, ?4)");
    int rc = sqlite_prepare(ld, &q, &st);
    buf_free(&q);
    for (size_t i = 0; rc == 0 && i < wh_batch_nrejects(b); i++) {
        const wh_reject_t *rj = wh_batch_reject_at(b, i);
        char tmp[64];
        wh_format_time(rj->rejected_at, tmp);
        sqlite3_bind_text(st, 1, tmp, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, rj->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rj->reason, -1, SQLITE_STATIC);
        /* a record that is not text is kept as the bytes received */
        if (utf8_valid(rj->record, rj->record_len))
            sqlite3_bind_text(st, 4, rj->record, (int)rj->record_len, SQLITE_STATIC);
        else
            sqlite3_bind_blob(st, 4, rj->record, (int)rj->record_len, SQLITE_STATIC);
        rc = sqlite_step_done(ld, st, "rejects");
    }
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_write_offsets(sqlite_loader_t *ld, const wh_batch_t *b) {
    buf_t q = {0};
    sqlite3_stmt *st = NULL;
    buf_puts(&q, "INSERT INTO ");
    wh_sql_ident(&q, SQLITE_OFFSETS_TABLE);
    buf_puts(&q, " (consumer_group, topic, partition, next_offset, updated_at) "
                 "VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')) "
                 "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
                 "next_offset = excluded.next_offset, updated_at = excluded.updated_at "
                 "WHERE excluded.next_offset > next_offset");
    int rc = sqlite_prepare(ld, &q, &st);
    buf_free(&q);
    for (size_t i = 0; rc == 0 && i < wh_batch_noffsets(b); i++) {
        const wh_offset_t *o = wh_batch_offset_at(b, i);
        sqlite3_bind_text(st, 1, wh_loader_group(ld->wl), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, o->topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, o->partition);
        sqlite3_bind_int64(st, 4, o->next);
        rc = sqlite_step_done(ld, st, "offsets");
    }
    sqlite3_finalize(st);
    return rc;
}

typedef struct sqlite_floors_ctx {
    sqlite_loader_t *ld;
    sqlite3_stmt *st;
    wh_floors_t *f;
} sqlite_floors_ctx_t;

static int sqlite_topic_floors(void *arg, const char *topic) {
    sqlite_floors_ctx_t *c = arg;
    sqlite3_bind_text(c->st, 1, wh_loader_group(c->ld->wl), -1, SQLITE_STATIC);
    sqlite3_bind_text(c->st, 2, topic, -1, SQLITE_STATIC);
    int step, rc = 0;
    while (rc == 0 && (step = sqlite3_step(c->st)) == SQLITE_ROW)
        if (wh_floors_add(c->f, topic, sqlite3_column_int(c->st, 0),
                          sqlite3_column_int64(c->st, 1)) < 0)
            rc = sqlite_oom(c->ld);
    if (rc == 0 && step != SQLITE_DONE)
        rc = sqlite_fail(c->ld, "offsets");
    sqlite3_reset(c->st);
    return rc;
}

/* offsets stored for the partitions of msgs (inside the write lock) */
static int sqlite_floors(sqlite_loader_t *ld, const wh_msg_t *msgs, size_t n, wh_floors_t *f) {
    buf_t q = {0};
    sqlite_floors_ctx_t c = {ld, NULL, f};
    buf_puts(&q, "SELECT partition, next_offset FROM ");
    wh_sql_ident(&q, SQLITE_OFFSETS_TABLE);
    buf_puts(&q, " WHERE consumer_group = ?1 AND topic = ?2");
    int rc = sqlite_prepare(ld, &q, &c.st);
    buf_free(&q);
    if (rc == 0)
        rc = wh_loader_topics(msgs, n, sqlite_topic_floors, &c);
    sqlite3_finalize(c.st);
    return rc;
}

/* wh_db_ops_t.begin: the write lock (BEGIN IMMEDIATE: it also serialises
   schema changes between processes), every catalog stale if another
   process changed the schema, and the floors */
static int sqlite_begin(void *db, wh_loader_entry_t *e, const wh_msg_t *msgs, size_t n,
                        wh_floors_t *floors) {
    sqlite_loader_t *ld = db;
    (void)e;
    if (sqlite_run(ld, "BEGIN IMMEDIATE") < 0)
        return -1;
    int version = 0;
    if (sqlite_schema_version(ld, &version) < 0)
        return -1;
    if (version != ld->schema_version) {
        /* another process changed the schema: every catalog is stale */
        wh_loader_invalidate(ld->wl);
        ld->schema_version = version;
    }
    ld->txn_version = version;
    return sqlite_floors(ld, msgs, n, floors);
}

/* wh_db_ops_t.write: rows, rejections, offsets, commit */
static int sqlite_write(void *db, wh_layout_t *l, const wh_batch_t *b) {
    sqlite_loader_t *ld = db;
    int rc = sqlite_write_rows(ld, l, b);
    if (rc == 0)
        rc = sqlite_write_rejects(ld, l, b);
    if (rc == 0)
        rc = sqlite_write_offsets(ld, b);
    if (rc == 0)
        rc = sqlite_run(ld, "COMMIT");
    /* our own schema change moved the version: the catalog is current */
    if (rc == 0)
        ld->schema_version = ld->txn_version;
    return rc;
}

/* wh_db_ops_t.rollback */
static void sqlite_rollback(void *db) {
    sqlite_loader_t *ld = db;
    if (!sqlite3_get_autocommit(ld->db))
        sqlite3_exec(ld->db, "ROLLBACK", NULL, NULL, NULL);
}

/* wh_db_ops_t.destroy */
static void sqlite_destroy(void *db) {
    sqlite_loader_t *ld = db;
    sqlite3_close(ld->db);
    free(ld);
}

static const wh_db_ops_t sqlite_ops = {
    .name = "sqlite",
    .ddl_in_batch = 1,
    .connect = NULL,
    .begin = sqlite_begin,
    .catalog = sqlite_catalog,
    .ddl = sqlite_ddl,
    .write = sqlite_write,
    .rollback = sqlite_rollback,
    .offset = sqlite_offset,
    .destroy = sqlite_destroy,
};

wh_loader_t *sqlite_loader_new(const char *path, const char *group, char *errstr,
                               size_t errstr_size) {
    sqlite_loader_t *ld = calloc(1, sizeof(*ld));
    if (!ld) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    /* takes ld over, and frees it if it fails */
    wh_loader_t *wl = wh_loader_new(&sqlite_ops, ld, group, errstr, errstr_size);
    if (!wl)
        return NULL;
    ld->wl = wl;
    if (sqlite3_open_v2(path, &ld->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        errstr_fmt(0, errstr, errstr_size, "%s: %s", path,
                   ld->db ? sqlite3_errmsg(ld->db) : "out of memory");
        wh_loader_destroy(wl);
        return NULL;
    }
    sqlite3_busy_timeout(ld->db, 5000);
    buf_t q = {0};
    buf_puts(&q, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                 "CREATE TABLE IF NOT EXISTS ");
    wh_sql_ident(&q, SQLITE_OFFSETS_TABLE);
    buf_puts(&q, " (consumer_group TEXT NOT NULL, topic TEXT NOT NULL, "
                 "partition INTEGER NOT NULL, next_offset BIGINT NOT NULL, "
                 "updated_at TIMESTAMP NOT NULL, PRIMARY KEY (consumer_group, topic, partition))");
    /* switching a new file to WAL while another process does the same can
       fail at once with SQLITE_BUSY, without the busy handler: try again */
    int rc = -1;
    for (int i = 0; i < 100; i++) {
        if ((rc = sqlite_run_sql(ld, &q)) == 0 || !wh_loader_transient(wl))
            break;
        wh_loader_nap(wl, 50);
    }
    buf_free(&q);
    if (rc < 0) {
        errstr_fmt(0, errstr, errstr_size, "%s: %s", path, wh_loader_error(wl));
        wh_loader_destroy(wl);
        return NULL;
    }
    return wl;
}
