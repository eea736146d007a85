/* pg_loader: the PostgreSQL warehouse target, exactly-once batches (see pg_loader.h). */
#include "pg_loader.h"

/* the Makefile has no -I for libpq: its headers include each other with
   quotes, so the subdirectory path is enough */
#include <postgresql/libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "hex.h"
#include "utf8.h"
#include "wh_loader.h"
#include "wh_sql.h"

/* per integration schema, a counter every schema change increments: a
   batch checks that its catalog is current, so that a process never merges
   with a stale column or subtable list */
#define PG_LAYOUTS_TABLE "layouts"
/* advisory lock class of our schema changes */
#define PG_LOCK_CLASS 0x486b

typedef struct pg_loader {
    wh_loader_t *wl;     /* the driver: errors, group; borrowed (it owns us) */
    char *url;
    PGconn *conn;
    int ready;           /* offsets table made on this connection */
    buf_t copybuf;    /* COPY data, kept from one batch to the next */
} pg_loader_t;

/* wh_db_ops_t.destroy */
static void pg_destroy(void *db) {
    pg_loader_t *ld = db;
    if (ld->conn)
        PQfinish(ld->conn);
    buf_free(&ld->copybuf);
    free(ld->url);
    free(ld);
}

static void pg_quiet_notices(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

/* classifies a failed result (or a NULL one) into the loader's error */
static void pg_note_error(pg_loader_t *ld, const PGresult *res, const char *what) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(ld->conn);
    int transient = PQstatus(ld->conn) != CONNECTION_OK || !state ||
                    strncmp(state, "08", 2) == 0 ||      /* connection exception */
                    strncmp(state, "57P", 3) == 0 ||     /* shutdown, cannot connect now */
                    strcmp(state, "53300") == 0 ||       /* too many connections */
                    strcmp(state, "40001") == 0 ||       /* serialization failure */
                    strcmp(state, "40P01") == 0 ||       /* deadlock */
                    strcmp(state, "55P03") == 0;         /* lock not available */
    wh_loader_fail(ld->wl, transient, "%s: %s%s%s", what, state ? state : "",
                   state ? " " : "", msg);
}

/* runs one statement (text or with parameters); 0 or -1 (the loader's error) */
static int pg_run(pg_loader_t *ld, const char *sql, int nparams, const char *const *params,
               PGresult **out) {
    PGresult *res = nparams ? PQexecParams(ld->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                            : PQexec(ld->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_note_error(ld, res, "query");
        PQclear(res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

static int pg_oom(pg_loader_t *ld) { return wh_loader_oom(ld->wl); }

static int pg_run_sql(pg_loader_t *ld, buf_t *q) {
    if (q->oom)
        return pg_oom(ld);
    return pg_run(ld, q->p, 0, NULL, NULL);
}

/* wh_db_ops_t.rollback */
static void pg_rollback(void *db) {
    pg_loader_t *ld = db;
    if (ld->conn && PQstatus(ld->conn) == CONNECTION_OK &&
        PQtransactionStatus(ld->conn) != PQTRANS_IDLE)
        PQclear(PQexec(ld->conn, "ROLLBACK"));
}

/* a working connection with the offsets table (wh_db_ops_t.connect) */
static int pg_connect(void *db) {
    pg_loader_t *ld = db;
    if (ld->conn && PQstatus(ld->conn) == CONNECTION_OK && ld->ready)
        return 0;
    if (ld->conn) {
        PQfinish(ld->conn);
        ld->conn = NULL;
        /* catalogs may have changed while we were away */
        wh_loader_invalidate(ld->wl);
    }
    ld->ready = 0;
    /* the URL may name the application; else we do */
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {ld->url, "hookpipe-sink", NULL};
    ld->conn = PQconnectdbParams(keys, vals, 1);
    if (!ld->conn || PQstatus(ld->conn) != CONNECTION_OK)
        return wh_loader_fail(ld->wl, 1, "connect: %s",
                              ld->conn ? PQerrorMessage(ld->conn) : "out of memory");
    PQsetNoticeProcessor(ld->conn, pg_quiet_notices, NULL);
    buf_t q = {0};
    /* literals we write keep their backslashes as they are */
    buf_printf(&q, "SET standard_conforming_strings = on; BEGIN; "
                   "SELECT pg_advisory_xact_lock(%d, 0); CREATE SCHEMA IF NOT EXISTS ",
               PG_LOCK_CLASS);
    wh_sql_ident(&q, PG_OFFSETS_SCHEMA);
    buf_puts(&q, "; CREATE TABLE IF NOT EXISTS ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
    buf_puts(&q, " (consumer_group text NOT NULL, topic text NOT NULL, partition integer NOT NULL, "
                 "next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
                 "PRIMARY KEY (consumer_group, topic, partition)); CREATE TABLE IF NOT EXISTS ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    buf_puts(&q, " (schema_name text PRIMARY KEY, version bigint NOT NULL); COMMIT");
    int rc = pg_run_sql(ld, &q);
    buf_free(&q);
    if (rc < 0) {
        pg_rollback(ld);
        return -1;
    }
    ld->ready = 1;
    return 0;
}

/* the stored offset (wh_db_ops_t.offset) */
static int pg_offset(void *db, const char *topic, int32_t partition, int64_t *next, int *found) {
    pg_loader_t *ld = db;
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)partition);
    const char *params[] = {wh_loader_group(ld->wl), topic, part};
    buf_t q = {0};
    buf_puts(&q, "SELECT next_offset FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
    buf_puts(&q, " WHERE consumer_group = $1 AND topic = $2 AND partition = $3");
    PGresult *res = NULL;
    int rc = q.oom ? pg_oom(ld) : pg_run(ld, q.p, 3, params, &res);
    buf_free(&q);
    if (rc < 0)
        return -1;
    *found = PQntuples(res) == 1;
    if (*found)
        *next = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* the layout version of a schema (0 before its first change), read when
   the catalog is (pg_begin reads it again, locked) */
static int pg_read_version(pg_loader_t *ld, const char *schema, long long *version) {
    buf_t q = {0};
    buf_puts(&q, "SELECT version FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    buf_puts(&q, " WHERE schema_name = $1");
    PGresult *res = NULL;
    const char *params[] = {schema};
    int rc = q.oom ? pg_oom(ld) : pg_run(ld, q.p, 1, params, &res);
    buf_free(&q);
    if (rc < 0)
        return -1;
    *version = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

/* reads the integration's tables and columns back from the database (the
   version first: a change in between only makes the next batch read
   again); wh_db_ops_t.catalog */
static int pg_catalog(void *db, wh_loader_entry_t *e) {
    pg_loader_t *ld = db;
    const char *schema = wh_layout_integration(e->layout);
    PGresult *res = NULL;
    const char *params[] = {schema};
    if (pg_read_version(ld, schema, &e->version) < 0)
        return -1;
    if (pg_run(ld,
            "SELECT table_name::text, column_name::text, data_type::text "
            "FROM information_schema.columns WHERE table_schema = $1 "
            "ORDER BY table_name, ordinal_position",
            1, params, &res) < 0)
        return -1;
    wh_layout_reset(e->layout);
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        int t = wh_type_from_pg(PQgetvalue(res, i, 2));
        rc = wh_layout_load_column_decl(e->layout, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                        t < 0 ? WH_NTYPES : (wh_type_t)t, PQgetvalue(res, i, 2));
    }
    PQclear(res);
    /* unique indexes (primary keys included) on plain columns: the upsert's
       ON CONFLICT needs one on exactly the key columns */
    if (rc == 0 &&
        pg_run(ld,
            "SELECT c.relname::text, i.indexrelid::bigint, a.attname::text FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
            "WHERE n.nspname = $1 AND i.indisunique AND i.indpred IS NULL "
            "AND i.indexprs IS NULL ORDER BY 2",
            1, params, &res) < 0)
        return -1;
    int n = rc == 0 ? PQntuples(res) : 0;
    for (int i = 0; i < n && rc == 0;) {
        const char *cols[64];
        size_t ncols = 0;
        int j = i;
        for (; j < n && strcmp(PQgetvalue(res, j, 1), PQgetvalue(res, i, 1)) == 0; j++)
            if (ncols < 64)
                cols[ncols++] = PQgetvalue(res, j, 2);
        rc = wh_layout_load_unique(e->layout, PQgetvalue(res, i, 0), cols, ncols);
        i = j;
    }
    if (rc == 0 || n)
        PQclear(res);
    if (rc == 0)
        rc = wh_layout_check(e->layout, wh_type_pg);
    if (rc < 0)
        return pg_oom(ld);
    e->loaded = 1;
    return 0;
}

static void pg_column_def(buf_t *q, const wh_column_t *c) {
    wh_sql_ident(q, c->name);
    buf_printf(q, " %s", wh_type_pg(c->type));
}

/* "schema"."table" */
static void pg_ident(buf_t *q, const wh_layout_t *l, const char *table) {
    wh_sql_qualified(q, wh_layout_integration(l), table);
}

/* creates what the catalog has pending, in a transaction of its own
   (wh_db_ops_t.ddl: the driver reads the catalog back) */
static int pg_ddl(void *db, wh_layout_t *l) {
    pg_loader_t *ld = db;
    const char *schema = wh_layout_integration(l);
    buf_t q = {0};
    buf_printf(&q, "BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext(", PG_LOCK_CLASS);
    wh_sql_literal(&q, schema);
    /* first, so that batches holding the version row are waited for before
       this takes any lock they might wait for */
    buf_puts(&q, ")); INSERT INTO ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    buf_puts(&q, " AS v VALUES (");
    wh_sql_literal(&q, schema);
    buf_puts(&q, ", 1) ON CONFLICT (schema_name) DO UPDATE SET version = v.version + 1;\n"
                 "CREATE SCHEMA IF NOT EXISTS ");
    wh_sql_ident(&q, schema);
    buf_puts(&q, "; CREATE TABLE IF NOT EXISTS ");
    wh_sql_qualified(&q, schema, WH_REJECTED_TABLE);
    buf_puts(&q, " (_sdc_rejected_at timestamptz, table_name text, reason text, record text);\n");
    for (size_t i = 0; i < wh_layout_ntables(l); i++) {
        wh_table_t *t = wh_layout_table(l, i);
        if (t->pending)
            wh_loader_sql_create(&q, l, t, pg_ident, wh_type_pg);
        /* also for a new table: another process may have made it first */
        for (size_t c = 0; c < t->ncols; c++) {
            if (!t->cols[c].pending)
                continue;
            buf_puts(&q, "ALTER TABLE ");
            wh_sql_qualified(&q, schema, t->name);
            buf_puts(&q, " ADD COLUMN IF NOT EXISTS ");
            pg_column_def(&q, &t->cols[c]);
            buf_puts(&q, ";\n");
        }
    }
    buf_puts(&q, "COMMIT");
    int rc = pg_run_sql(ld, &q);
    buf_free(&q);
    return rc;
}

/* ends a COPY begun on the connection: sends the end (or an abort when
   rc < 0) and reads its result; rc, or -1 */
static int pg_copy_end(pg_loader_t *ld, int rc, const char *what) {
    if (PQputCopyEnd(ld->conn, rc == 0 ? NULL : "aborted by hookpipe-sink") != 1)
        rc = -1;
    PGresult *res = PQgetResult(ld->conn);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        if (rc == 0)
            pg_note_error(ld, res, what);
        rc = -1;
    }
    PQclear(res);
    /* statements sent after the COPY in the same string: each must succeed */
    while ((res = PQgetResult(ld->conn))) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK &&
            PQresultStatus(res) != PGRES_TUPLES_OK) {
            pg_note_error(ld, res, "query");
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/* starts `sql`, whose last statement is a COPY FROM STDIN; 0 or -1 */
static int pg_copy_begin(pg_loader_t *ld, buf_t *q, const char *what) {
    if (q->oom)
        return pg_oom(ld);
    PGresult *res = PQexec(ld->conn, q->p);
    /* a multi-statement string returns the last result: the COPY */
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        pg_note_error(ld, res, what);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* 1 if table ti's rows can go in COPY's binary format: every cell's type
   is its column's (so its binary form is what the column reads; the layout
   only ever puts a value in a column of its type) and every value has a
   binary form; else they go as text, which the server converts */
static int pg_binary_ok(const wh_batch_t *b, wh_layout_t *l, size_t ti, buf_t *scratch) {
    const wh_table_t *t = wh_layout_table(l, ti);
    const wh_cell_t *cells = wh_batch_cells(b, ti);
    for (size_t r = 0; r < wh_batch_nrows(b, ti); r++) {
        const wh_row_t *row = wh_batch_row(b, ti, r);
        for (size_t i = row->first; i < row->first + row->ncells; i++) {
            const wh_cell_t *v = &cells[i];
            if (v->col >= t->ncols || t->cols[v->col].type != (wh_type_t)v->type)
                return 0;
            buf_reset(scratch);
            if ((v->type == WH_NUMERIC && wh_sql_bin_numeric(scratch, v->s, v->len) < 0) ||
                (v->type == WH_TIMESTAMP && wh_sql_bin_timestamptz(scratch, v->i) < 0) ||
                (v->type == WH_TEXT && v->len >= WH_SQL_BIN_FIELD_MAX))
                return 0;
        }
    }
    return 1;
}

/* one row's fields in binary format (binary_ok vetted the cells) */
static void pg_row_binary(buf_t *buf, const wh_cell_t *const *by_col, size_t ncols) {
    wh_sql_bin_tuple(buf, (uint16_t)ncols);
    for (size_t c = 0; c < ncols; c++) {
        const wh_cell_t *v = by_col[c];
        if (!v) {
            wh_sql_bin_null(buf);
            continue;
        }
        switch (v->type) {
        case WH_BIGINT: wh_sql_bin_int8(buf, v->i); break;
        case WH_DOUBLE: wh_sql_bin_float8(buf, v->d); break;
        case WH_BOOLEAN: wh_sql_bin_bool(buf, (int)v->i); break;
        case WH_NUMERIC: wh_sql_bin_numeric(buf, v->s, v->len); break;
        case WH_TIMESTAMP: wh_sql_bin_timestamptz(buf, v->i); break;
        default: wh_sql_bin_text(buf, v->s, v->len); break;
        }
    }
}

/* one row's fields in text format */
static void pg_row_text(buf_t *buf, const wh_cell_t *const *by_col, size_t ncols,
                     int64_t tcache_us[2], char tcache[2][64], size_t tlen[2], int *tnext) {
    for (size_t c = 0; c < ncols; c++) {
        if (c)
            buf_append(buf, "\t", 1);
        const wh_cell_t *v = by_col[c];
        if (!v)
            buf_append(buf, "\\N", 2);
        else if (v->type == WH_TIMESTAMP) {
            /* rows of a batch share their times: format each once */
            int slot = v->i == tcache_us[0] ? 0 : v->i == tcache_us[1] ? 1 : -1;
            if (slot < 0) {
                slot = *tnext;
                *tnext ^= 1;
                tcache_us[slot] = v->i;
                wh_format_time(v->i, tcache[slot]);
                tlen[slot] = strlen(tcache[slot]);
            }
            buf_append(buf, tcache[slot], tlen[slot]);
        } else if (v->type == WH_BOOLEAN)
            buf_append(buf, v->i ? "t" : "f", 1);
        else if (v->s)
            wh_sql_copy_text(buf, v->s, v->len);
        else if (v->type == WH_DOUBLE) {
            char d[40];
            wh_format_double(v->d, d);
            buf_puts(buf, d);
        } else
            wh_sql_int(buf, v->i);
    }
    buf_append(buf, "\n", 1);
}

/* COPY the live rows of catalog table ti whose record is to be written
   (write[rec]) straight into the table, in binary format or not (started:
   its COPY, in that format, is already waiting for rows) */
static int pg_copy_rows(pg_loader_t *ld, const wh_batch_t *b, wh_layout_t *l, size_t ti,
                     const char *write, int started, int binary) {
    wh_table_t *t = wh_layout_table(l, ti);
    int rc = 0;
    if (!started) {
        buf_t q = {0};
        buf_puts(&q, "COPY ");
        wh_sql_qualified(&q, wh_layout_integration(l), t->name);
        buf_puts(&q, " (");
        wh_loader_sql_columns(&q, t);
        buf_puts(&q, binary ? ") FROM STDIN (FORMAT binary)" : ") FROM STDIN");
        rc = pg_copy_begin(ld, &q, "copy");
        buf_free(&q);
        if (rc < 0)
            return -1;
    }
    const wh_cell_t **by_col = calloc(t->ncols ? t->ncols : 1, sizeof(*by_col));
    int64_t tcache_us[2] = {INT64_MIN, INT64_MIN};
    char tcache[2][64];
    size_t tlen[2] = {0, 0};
    int tnext = 0;
    buf_t *buf = &ld->copybuf;
    buf_reset(buf);
    rc = by_col ? 0 : pg_oom(ld);
    if (binary)
        wh_sql_bin_header(buf);
    for (size_t r = 0; rc == 0 && r < wh_batch_nrows(b, ti); r++) {
        const wh_row_t *row = wh_batch_row(b, ti, r);
        if (!wh_batch_row_live(b, row) || !write[row->rec])
            continue;
        wh_batch_row_values(b, ti, row, by_col, t->ncols);
        /* every row passes here: lengths known, no printf */
        if (binary)
            pg_row_binary(buf, by_col, t->ncols);
        else
            pg_row_text(buf, by_col, t->ncols, tcache_us, tcache, tlen, &tnext);
        if (buf->len > 256 * 1024) {
            if (buf->oom)
                rc = pg_oom(ld);
            else if (PQputCopyData(ld->conn, buf->p, (int)buf->len) != 1)
                rc = wh_loader_fail(ld->wl, 1, "copy: %s", PQerrorMessage(ld->conn));
            buf_reset(buf);
        }
    }
    if (binary)
        wh_sql_bin_trailer(buf);
    if (rc == 0 && buf->oom)
        rc = pg_oom(ld);
    if (rc == 0 && buf->len && PQputCopyData(ld->conn, buf->p, (int)buf->len) != 1)
        rc = wh_loader_fail(ld->wl, 1, "copy: %s", PQerrorMessage(ld->conn));
    free(by_col);
    return pg_copy_end(ld, rc, "copy");
}

/* a rejected record as text PostgreSQL accepts: hex when not UTF-8 or NUL-free */
static void pg_reject_copy_line(buf_t *buf, const wh_reject_t *rj) {
    char tmp[64];
    wh_format_time(rj->rejected_at, tmp);
    buf_puts(buf, tmp);
    buf_puts(buf, "\t");
    wh_sql_copy_text(buf, rj->table, strlen(rj->table));
    buf_puts(buf, "\t");
    int text_ok = utf8_valid(rj->record, rj->record_len) &&
                  !memchr(rj->record, '\0', rj->record_len);
    wh_sql_copy_text(buf, rj->reason, strlen(rj->reason));
    if (!text_ok)
        buf_puts(buf, " (record not UTF-8 text: stored as hex)");
    buf_puts(buf, "\t");
    if (text_ok) {
        wh_sql_copy_text(buf, rj->record, rj->record_len);
    } else {
        buf_puts(buf, "\\\\x");
        if (buf_reserve(buf, 2 * rj->record_len) == 0) {
            hex_encode(rj->record, rj->record_len, buf->p + buf->len);
            buf->len += 2 * rj->record_len;
        }
    }
    buf_puts(buf, "\n");
}

static int pg_copy_rejects(pg_loader_t *ld, const wh_batch_t *b, const char *schema) {
    buf_t q = {0};
    buf_puts(&q, "COPY ");
    wh_sql_qualified(&q, schema, WH_REJECTED_TABLE);
    buf_puts(&q, " (_sdc_rejected_at, table_name, reason, record) FROM STDIN");
    int rc = pg_copy_begin(ld, &q, "copy rejects");
    buf_free(&q);
    if (rc < 0)
        return -1;
    buf_t buf = {0};
    for (size_t i = 0; i < wh_batch_nrejects(b); i++)
        pg_reject_copy_line(&buf, wh_batch_reject_at(b, i));
    if (buf.oom)
        rc = pg_oom(ld);
    else if (buf.len && PQputCopyData(ld->conn, buf.p, (int)buf.len) != 1)
        rc = wh_loader_fail(ld->wl, 1, "copy rejects: %s", PQerrorMessage(ld->conn));
    buf_free(&buf);
    return pg_copy_end(ld, rc, "copy rejects");
}

/* one array literal per key column ('{"v1","v2",...}') of the live root
   rows (write NULL), or of those whose record is to be written; in the
   order of the rows; with_seq: and one of their _sdc_sequence after them.
   The ordinality of an element is its place among them, from 1. */
static int pg_key_arrays(pg_loader_t *ld, const wh_batch_t *b, const wh_layout_t *l, size_t root_i,
                      const char *write, int with_seq, buf_t *arrays, size_t *count) {
    size_t nkeys = wh_layout_nkeys(l), n = 0;
    for (size_t k = 0; k < nkeys + (with_seq ? 1 : 0); k++)
        buf_puts(&arrays[k], "{");
    const wh_cell_t *cells = wh_batch_cells(b, root_i);
    for (size_t r = 0; r < wh_batch_nrows(b, root_i); r++) {
        const wh_row_t *row = wh_batch_row(b, root_i, r);
        if (!wh_batch_row_live(b, row) || (write && !write[row->rec]))
            continue;
        /* wh_batch_row_begin writes the key cells first, in key order */
        for (size_t k = 0; k < nkeys; k++) {
            const wh_cell_t *c = &cells[row->first + k];
            buf_t *a = &arrays[k];
            buf_puts(a, n ? ",\"" : "\"");
            if (c->type == WH_BOOLEAN) {
                buf_puts(a, c->i ? "t" : "f");
            } else {
                size_t start = 0;
                for (size_t i = 0; i < c->len; i++)
                    if (c->s[i] == '"' || c->s[i] == '\\') {
                        buf_append(a, c->s + start, i - start);
                        buf_puts(a, "\\");
                        start = i;
                    }
                buf_append(a, c->s + start, c->len - start);
            }
            buf_puts(a, "\"");
        }
        if (with_seq) {
            /* then the records' sequences, as one more array */
            if (n)
                buf_append(&arrays[nkeys], ",", 1);
            wh_sql_int(&arrays[nkeys], (long long)wh_batch_row_sequence(b, row));
        }
        n++;
    }
    for (size_t k = 0; k < nkeys + (with_seq ? 1 : 0); k++) {
        buf_puts(&arrays[k], "}");
        if (arrays[k].oom)
            return pg_oom(ld);
    }
    *count = n;
    return 0;
}

/* "unnest($1::t0[], ...) WITH ORDINALITY AS u(k0, ..., i)" over the key
   columns' types (with_seq: and a bigint[] of sequences, column s); with
   literals, the arrays written in instead of $n */
static void pg_key_unnest(buf_t *q, const wh_layout_t *l, wh_table_t *root, int with_seq,
                       const buf_t *literals) {
    size_t nkeys = wh_layout_nkeys(l);
    buf_puts(q, "unnest(");
    for (size_t k = 0; k < nkeys + (with_seq ? 1 : 0); k++) {
        const wh_column_t *c = k < nkeys ? wh_table_find(root, wh_layout_key(l, k), NULL) : NULL;
        const char *type = k < nkeys ? wh_type_pg(c ? c->type : WH_TEXT) : "bigint";
        if (k)
            buf_puts(q, ", ");
        if (literals)
            wh_sql_literal(q, literals[k].p);
        else
            buf_printf(q, "$%zu", k + 1);
        buf_printf(q, "::%s[]", type);
    }
    buf_puts(q, ") WITH ORDINALITY AS u(");
    for (size_t k = 0; k < nkeys; k++)
        buf_printf(q, "k%zu, ", k);
    buf_puts(q, with_seq ? "s, i)" : "i)");
}

/* runs q with the nkeys arrays (keys, then maybe sequences) as parameters */
static int pg_run_with_keys(pg_loader_t *ld, buf_t *q, buf_t *arrays, size_t nkeys,
                         PGresult **res) {
    const char *params[17];
    for (size_t k = 0; k < nkeys; k++)
        params[k] = arrays[k].p;
    return q->oom ? pg_oom(ld) : pg_run(ld, q->p, (int)nkeys, params, res);
}

/* decides, by record, which live root rows are written (write[rec]): a
 * key the table does not hold; with a primary key, also a key whose row
 * has a lower _sdc_sequence — that row is deleted in the same statement
 * (by the ctid the probe read). Others are older or replayed records, left
 * out. One round trip. */
static int pg_probe_keys(pg_loader_t *ld, const wh_batch_t *b, wh_layout_t *l, size_t root_i,
                      int binary, const char *tail, char *write, size_t *nwrite) {
    /* sent as one simple query with the COPY of the root rows after it
       (and `tail`, run once the COPY ends): the probe's answer comes first,
       then the server waits for the rows */
    wh_table_t *root = wh_layout_table(l, root_i);
    size_t nkeys = wh_layout_nkeys(l), n = 0;
    int pk = wh_layout_has_pk(l);
    buf_t arrays[17], q = {0};
    memset(arrays, 0, sizeof(arrays));
    int rc = pg_key_arrays(ld, b, l, root_i, NULL, pk, arrays, &n);
    /* one index probe per key (LATERAL ... LIMIT 1 is never turned into a
       join that scans the whole table) */
    buf_puts(&q, "WITH x AS MATERIALIZED (SELECT u.i, ");
    buf_puts(&q, pk ? "x._sdc_sequence < u.s AS newer, x.ctid FROM " : "false AS newer FROM ");
    if (rc == 0)
        pg_key_unnest(&q, l, root, pk, arrays);
    buf_puts(&q, " CROSS JOIN LATERAL (SELECT d._sdc_sequence, d.ctid FROM ");
    wh_sql_qualified(&q, wh_layout_integration(l), WH_ROOT_TABLE);
    buf_puts(&q, " AS d WHERE ");
    for (size_t k = 0; k < nkeys; k++) {
        buf_printf(&q, "%sd.", k ? " AND " : "");
        wh_sql_ident(&q, wh_layout_key(l, k));
        buf_printf(&q, " = u.k%zu", k);
    }
    buf_puts(&q, " LIMIT 1) AS x)");
    if (pk) {
        /* the rows newer records replace go now (by ctid: a TID scan); a
           row another writer changed since the probe is not deleted, and
           the count tells */
        buf_puts(&q, ", del AS (DELETE FROM ");
        wh_sql_qualified(&q, wh_layout_integration(l), WH_ROOT_TABLE);
        buf_puts(&q, " WHERE ctid = ANY (ARRAY(SELECT ctid FROM x WHERE newer)) RETURNING 1) "
                     "SELECT i, newer, (SELECT count(*) FROM del) FROM x");
    } else {
        buf_puts(&q, " SELECT i, newer, 0 FROM x");
    }
    buf_puts(&q, "; COPY ");
    wh_sql_qualified(&q, wh_layout_integration(l), WH_ROOT_TABLE);
    buf_puts(&q, " (");
    wh_loader_sql_columns(&q, root);
    buf_puts(&q, binary ? ") FROM STDIN (FORMAT binary)" : ") FROM STDIN");
    if (tail) {
        buf_puts(&q, ";\n");
        buf_puts(&q, tail);
    }
    PGresult *res = NULL;
    if (rc == 0 && q.oom)
        rc = pg_oom(ld);
    if (rc == 0 && PQsendQuery(ld->conn, q.p) != 1)
        rc = wh_loader_fail(ld->wl, 1, "query: %s", PQerrorMessage(ld->conn));
    if (rc == 0) {
        res = PQgetResult(ld->conn);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
            pg_note_error(ld, res, "probe");
            PQclear(res);
            res = NULL;
            rc = -1;
        }
    }
    int copying = 0;
    if (rc == 0) {
        /* the COPY is waiting for rows from here on */
        PGresult *cres = PQgetResult(ld->conn);
        if (!cres || PQresultStatus(cres) != PGRES_COPY_IN) {
            pg_note_error(ld, cres, "copy");
            rc = -1;
        } else {
            copying = 1;
        }
        PQclear(cres);
    }
    /* ordinal i (from 1) is the i-th live root row: 1 held, 2 replaced */
    char *held = rc == 0 ? calloc(n + 1, 1) : NULL;
    if (rc == 0 && !held)
        rc = pg_oom(ld);
    size_t replaced = 0, deleted = 0;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        long long at = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        int newer = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        if (at >= 1 && (size_t)at <= n)
            held[at] = newer ? 2 : 1;
        replaced += (size_t)newer;
        deleted = strtoull(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    /* not transient: a retry or two sees another writer's change; a row
       that can never be deleted (a trigger, a policy) must not stall the
       sink, so the integration is held after a few tries */
    if (rc == 0 && deleted != replaced)
        rc = wh_loader_fail(ld->wl, 0, "%zu of %zu rows of %s.%s to replace could not be "
                            "deleted (changed by another writer, or protected)", replaced - deleted,
                            replaced, wh_layout_integration(l), WH_ROOT_TABLE);
    *nwrite = 0;
    for (size_t r = 0, i = 0; rc == 0 && r < wh_batch_nrows(b, root_i); r++) {
        const wh_row_t *row = wh_batch_row(b, root_i, r);
        if (!wh_batch_row_live(b, row))
            continue;
        int h = held[++i];
        write[row->rec] = (char)(h != 1);
        *nwrite += (size_t)(h != 1);
    }
    free(held);
    for (size_t k = 0; k < nkeys + 1; k++)
        buf_free(&arrays[k]);
    buf_free(&q);
    if (rc < 0) {
        /* leave no COPY or result behind */
        if (copying)
            PQputCopyEnd(ld->conn, "aborted by hookpipe-sink");
        PGresult *r;
        while ((r = PQgetResult(ld->conn)))
            PQclear(r);
    }
    return rc;
}

/* the subtable rows of the parents about to be written go: a replaced
   parent's (its new record brings its own), and any a parent deleted by
   hand left behind */
static int pg_delete_subrows(pg_loader_t *ld, const wh_batch_t *b, wh_layout_t *l, size_t root_i,
                          const char *write) {
    size_t nkeys = wh_layout_nkeys(l), n = 0;
    buf_t arrays[17], q = {0};
    memset(arrays, 0, sizeof(arrays));
    int rc = pg_key_arrays(ld, b, l, root_i, write, 0, arrays, &n);
    char name[WH_COLUMN_MAX * 2 + 64];
    for (size_t ti = 0; rc == 0 && ti < wh_layout_ntables(l); ti++) {
        wh_table_t *t = wh_layout_table(l, ti);
        if (t->level == 0 || t->mismatch)
            continue;
        buf_reset(&q);
        buf_puts(&q, "DELETE FROM ");
        wh_sql_qualified(&q, wh_layout_integration(l), t->name);
        buf_puts(&q, " AS d USING ");
        pg_key_unnest(&q, l, wh_layout_table(l, root_i), 0, NULL);
        buf_puts(&q, " WHERE ");
        for (size_t k = 0; k < nkeys; k++) {
            wh_source_key_name(wh_layout_key(l, k), name, sizeof(name));
            buf_puts(&q, k ? " AND d." : "d.");
            wh_sql_ident(&q, name);
            buf_printf(&q, " = u.k%zu", k);
        }
        rc = pg_run_with_keys(ld, &q, arrays, nkeys, NULL);
    }
    for (size_t k = 0; k < nkeys; k++)
        buf_free(&arrays[k]);
    buf_free(&q);
    return rc;
}

/* 1 if table ti has live rows of records to be written */
static int pg_has_rows(const wh_batch_t *b, size_t ti, const char *write) {
    for (size_t r = 0; r < wh_batch_nrows(b, ti); r++) {
        const wh_row_t *row = wh_batch_row(b, ti, r);
        if (wh_batch_row_live(b, row) && write[row->rec])
            return 1;
    }
    return 0;
}

/* the data transaction (begun by the caller): rejections; which records
   are written (pg_probe_keys: new keys, and with a primary key newer records
   of existing keys, whose rows are deleted); their subtable rows' old
   versions deleted; their rows COPYed into every table; then the offsets
   and the commit, sent together */
static int pg_write(void *db, wh_layout_t *l, const wh_batch_t *b) {
    pg_loader_t *ld = db;
    const char *schema = wh_layout_integration(l);
    wh_table_t *root = wh_layout_find_table(l, WH_ROOT_TABLE);
    size_t root_i = root ? (size_t)(root - wh_layout_table(l, 0)) : 0;
    int rc = 0;
    if (wh_batch_nrejects(b) > 0)
        rc = pg_copy_rejects(ld, b, schema);
    /* the offsets and the commit, sent together */
    buf_t q = {0};
    for (size_t i = 0; i < wh_batch_noffsets(b); i++) {
        const wh_offset_t *o = wh_batch_offset_at(b, i);
        buf_puts(&q, "INSERT INTO ");
        wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
        buf_puts(&q, " AS o (consumer_group, topic, partition, next_offset) VALUES (");
        wh_sql_literal(&q, wh_loader_group(ld->wl));
        buf_puts(&q, ", ");
        wh_sql_literal(&q, o->topic);
        buf_printf(&q, ", %d, %lld) ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
                       "next_offset = EXCLUDED.next_offset, updated_at = now() "
                       "WHERE EXCLUDED.next_offset > o.next_offset;\n",
                   (int)o->partition, (long long)o->next);
    }
    buf_puts(&q, "COMMIT");
    if (rc == 0 && q.oom)
        rc = pg_oom(ld);
    char *write = NULL;
    int committed = 0;
    if (rc == 0 && root && !root->mismatch && wh_batch_live_rows(b, root_i) > 0 &&
        wh_layout_nkeys(l) <= 16) {
        size_t nwrite = 0;
        int subs = 0;
        for (size_t ti = 0; ti < wh_layout_ntables(l); ti++)
            subs |= wh_layout_table(l, ti)->level > 0 && !wh_layout_table(l, ti)->mismatch;
        /* without subtables the offsets and the commit follow the root's
           COPY in the probe's string: no round trip of their own */
        write = calloc(wh_batch_nrecords(b) + 1, 1);
        buf_t scratch = {0};
        int binary = pg_binary_ok(b, l, root_i, &scratch);
        rc = write ? pg_probe_keys(ld, b, l, root_i, binary, subs ? NULL : q.p, write, &nwrite)
                   : pg_oom(ld);
        if (rc == 0)
            rc = pg_copy_rows(ld, b, l, root_i, write, 1, binary);
        committed = rc == 0 && !subs;
        if (rc == 0 && nwrite > 0 && subs)
            rc = pg_delete_subrows(ld, b, l, root_i, write);
        for (size_t ti = 0; rc == 0 && nwrite > 0 && subs && ti < wh_layout_ntables(l); ti++)
            if (ti != root_i && !wh_layout_table(l, ti)->mismatch && pg_has_rows(b, ti, write))
                rc = pg_copy_rows(ld, b, l, ti, write, 0, pg_binary_ok(b, l, ti, &scratch));
        buf_free(&scratch);
    }
    if (rc == 0 && !committed)
        rc = pg_run_sql(ld, &q);
    buf_free(&q);
    free(write);
    return rc;
}

/* appends 'topic' to the IN list being built (wh_loader_topics) */
static int pg_topic_literal(void *arg, const char *topic) {
    buf_t *q = arg;
    if (q->len && q->p[q->len - 1] == '\'')
        buf_puts(q, ", ");
    wh_sql_literal(q, topic);
    return 0;
}

/* opens the batch's transaction in one round trip: BEGIN; the schema's
   layout version, share-locked (a schema change waits for us); the stored
   offsets of the topics of msgs, locked until the end of the transaction
   so that a second process holding the same partitions (a zombie after a
   rebalance) waits and then skips what we loaded. A layout version other
   than the catalog's: another process changed the schema since we read
   it, the catalog is stale (wh_db_ops_t.begin) */
static int pg_begin(void *db, wh_loader_entry_t *e, const wh_msg_t *msgs, size_t n,
                    wh_floors_t *f) {
    pg_loader_t *ld = db;
    const char *schema = wh_layout_integration(e->layout);
    buf_t q = {0};
    buf_puts(&q, "BEGIN; SELECT version FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    buf_puts(&q, " WHERE schema_name = ");
    wh_sql_literal(&q, schema);
    buf_puts(&q, " FOR SHARE; SELECT topic, partition, next_offset FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
    buf_puts(&q, " WHERE consumer_group = ");
    wh_sql_literal(&q, wh_loader_group(ld->wl));
    buf_puts(&q, " AND topic IN (");
    wh_loader_topics(msgs, n, pg_topic_literal, &q);
    buf_puts(&q, ") FOR UPDATE");
    if (q.oom) {
        buf_free(&q);
        return pg_oom(ld);
    }
    int rc = PQsendQuery(ld->conn, q.p) == 1 ? 0 : wh_loader_fail(ld->wl, 1, "query: %s",
                                                                  PQerrorMessage(ld->conn));
    buf_free(&q);
    long long version = 0;
    PGresult *res;
    /* results in order: BEGIN, the version, the offsets */
    for (int k = 0; rc == 0 && (res = PQgetResult(ld->conn)); k++) {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            pg_note_error(ld, res, "query");
            rc = -1;
        } else if (k == 1 && PQntuples(res) == 1) {
            version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        } else if (k == 2) {
            for (int r = 0; rc == 0 && r < PQntuples(res); r++)
                if (wh_floors_add(f, PQgetvalue(res, r, 0), (int32_t)atoi(PQgetvalue(res, r, 1)),
                                  strtoll(PQgetvalue(res, r, 2), NULL, 10)) < 0)
                    rc = pg_oom(ld);
        }
        PQclear(res);
    }
    while ((res = PQgetResult(ld->conn)))
        PQclear(res);
    if (rc == 0 && version != e->version)
        e->loaded = 0;
    return rc;
}

static const wh_db_ops_t pg_ops = {
    .name = "postgres",
    .ddl_in_batch = 0,
    .connect = pg_connect,
    .begin = pg_begin,
    .catalog = pg_catalog,
    .ddl = pg_ddl,
    .write = pg_write,
    .rollback = pg_rollback,
    .offset = pg_offset,
    .destroy = pg_destroy,
};

wh_loader_t *pg_loader_new(const char *url, const char *group, char *errstr, size_t errstr_size) {
    pg_loader_t *ld = calloc(1, sizeof(*ld));
    if (!ld || !(ld->url = strdup(url))) {
        free(ld);
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    /* takes ld over, and frees it if it fails */
    wh_loader_t *wl = wh_loader_new(&pg_ops, ld, group, errstr, errstr_size);
    if (wl)
        ld->wl = wl;
    return wl;
}
