/* pg_loader: the PostgreSQL warehouse target, exactly-once batches (see pg_loader.h). */
#include "pg_loader.h"

/* the Makefile has no -I for libpq: its headers include each other with
   quotes, so the subdirectory path is enough */
#include <postgresql/libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wh_loader.h"
#include "wh_sql.h"

/* schema-change rounds for one batch (each adds what the last one found) */
#define PG_DDL_ROUNDS 8
/* per integration schema, a counter every schema change increments: a
   batch checks that its catalog is current, so that a process never merges
   with a stale column or subtable list */
#define PG_LAYOUTS_TABLE "layouts"
/* advisory lock class of our schema changes */
#define PG_LOCK_CLASS 0x486b

struct pg_loader {
    wh_loader_t base;    /* group, layouts, errors, retries */
    char *url;
    PGconn *conn;
    int ready;           /* offsets table made on this connection */
    pg_loader_stats_t stats;
};

pg_loader_t *pg_loader_new(const char *url, const char *group, char *errstr, size_t errstr_size) {
    pg_loader_t *ld = calloc(1, sizeof(*ld));
    if (!ld) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (wh_loader_init(&ld->base, "postgres", group, errstr, errstr_size) < 0) {
        free(ld);
        return NULL;
    }
    if (!(ld->url = strdup(url))) {
        snprintf(errstr, errstr_size, "out of memory");
        pg_loader_destroy(ld);
        return NULL;
    }
    return ld;
}

void pg_loader_destroy(pg_loader_t *ld) {
    if (!ld)
        return;
    if (ld->conn)
        PQfinish(ld->conn);
    wh_loader_fini(&ld->base);
    free(ld->url);
    free(ld);
}

void pg_loader_set_stop(pg_loader_t *ld, volatile sig_atomic_t *stop) {
    wh_loader_set_stop(&ld->base, stop);
}

void pg_loader_set_backoff(pg_loader_t *ld, int min_ms, int max_ms) {
    wh_loader_set_backoff(&ld->base, min_ms, max_ms);
}

void pg_loader_stats(const pg_loader_t *ld, pg_loader_stats_t *out) {
    *out = ld->stats;
    out->retries = ld->base.retries;
}

static void quiet_notices(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

/* classifies a failed result (or a NULL one) into the loader's error */
static void note_error(pg_loader_t *ld, const PGresult *res, const char *what) {
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
    wh_loader_fail(&ld->base, transient, "%s: %s%s%s", what, state ? state : "",
                   state ? " " : "", msg);
}

/* runs one statement (text or with parameters); 0 or -1 (the loader's error) */
static int run(pg_loader_t *ld, const char *sql, int nparams, const char *const *params,
               PGresult **out) {
    PGresult *res = nparams ? PQexecParams(ld->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                            : PQexec(ld->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        note_error(ld, res, "query");
        PQclear(res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

static int out_of_memory(pg_loader_t *ld) { return wh_loader_oom(&ld->base); }

static int run_sql(pg_loader_t *ld, wh_sql_t *q) {
    if (q->oom)
        return out_of_memory(ld);
    return run(ld, q->p, 0, NULL, NULL);
}

static void rollback(pg_loader_t *ld) {
    if (ld->conn && PQstatus(ld->conn) == CONNECTION_OK &&
        PQtransactionStatus(ld->conn) != PQTRANS_IDLE)
        PQclear(PQexec(ld->conn, "ROLLBACK"));
}

/* a working connection with the offsets table; 0 or -1 (the loader's error) */
static int connect_db(pg_loader_t *ld) {
    if (ld->conn && PQstatus(ld->conn) == CONNECTION_OK && ld->ready)
        return 0;
    if (ld->conn) {
        PQfinish(ld->conn);
        ld->conn = NULL;
        /* catalogs may have changed while we were away */
        wh_loader_invalidate(&ld->base);
    }
    ld->ready = 0;
    /* the URL may name the application; else we do */
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {ld->url, "hookpipe-sink", NULL};
    ld->conn = PQconnectdbParams(keys, vals, 1);
    if (!ld->conn || PQstatus(ld->conn) != CONNECTION_OK)
        return wh_loader_fail(&ld->base, 1, "connect: %s",
                              ld->conn ? PQerrorMessage(ld->conn) : "out of memory");
    PQsetNoticeProcessor(ld->conn, quiet_notices, NULL);
    wh_sql_t q = {0};
    /* staging tables live in temp buffers: room for a whole batch, so
       that they never spill to disk */
    wh_sql_addf(&q, "SET temp_buffers = '64MB'; BEGIN; "
                    "SELECT pg_advisory_xact_lock(%d, 0); CREATE SCHEMA IF NOT EXISTS ",
                PG_LOCK_CLASS);
    wh_sql_ident(&q, PG_OFFSETS_SCHEMA);
    wh_sql_add(&q, "; CREATE TABLE IF NOT EXISTS ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
    wh_sql_add(&q, " (consumer_group text NOT NULL, topic text NOT NULL, partition integer NOT NULL, "
                   "next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
                   "PRIMARY KEY (consumer_group, topic, partition)); CREATE TABLE IF NOT EXISTS ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    wh_sql_add(&q, " (schema_name text PRIMARY KEY, version bigint NOT NULL); COMMIT");
    int rc = run_sql(ld, &q);
    wh_sql_free(&q);
    if (rc < 0) {
        rollback(ld);
        return -1;
    }
    ld->ready = 1;
    return 0;
}

/* one try at reading an offset: 0 found, 1 none, -1 failed */
static int offset_once(void *arg, const char *topic, int32_t partition, int64_t *next) {
    pg_loader_t *ld = arg;
    if (connect_db(ld) < 0)
        return -1;
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)partition);
    const char *params[] = {ld->base.group, topic, part};
    wh_sql_t q = {0};
    wh_sql_add(&q, "SELECT next_offset FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
    wh_sql_add(&q, " WHERE consumer_group = $1 AND topic = $2 AND partition = $3");
    PGresult *res = NULL;
    int rc = q.oom ? out_of_memory(ld) : run(ld, q.p, 3, params, &res);
    wh_sql_free(&q);
    if (rc < 0)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        *next = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return found ? 0 : 1;
}

int pg_loader_offset(pg_loader_t *ld, const char *topic, int32_t partition, int64_t *next,
                     char *errstr, size_t errstr_size) {
    return wh_loader_offset(&ld->base, topic, partition, next, offset_once, ld, errstr,
                            errstr_size);
}

/* the layout version of a schema (0 before its first change); lock: share
   the row until the end of the transaction (a schema change waits) */
static int read_version(pg_loader_t *ld, const char *schema, int lock, long long *version) {
    wh_sql_t q = {0};
    wh_sql_add(&q, "SELECT version FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    wh_sql_add(&q, lock ? " WHERE schema_name = $1 FOR SHARE" : " WHERE schema_name = $1");
    PGresult *res = NULL;
    const char *params[] = {schema};
    int rc = q.oom ? -1 : run(ld, q.p, 1, params, &res);
    wh_sql_free(&q);
    if (rc < 0)
        return -1;
    *version = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

/* reads the integration's tables and columns back from the database (the
   version first: a change in between only makes the next batch read again) */
static int load_catalog(pg_loader_t *ld, wh_loader_entry_t *e) {
    const char *schema = wh_layout_integration(e->layout);
    PGresult *res = NULL;
    const char *params[] = {schema};
    if (read_version(ld, schema, 0, &e->version) < 0)
        return -1;
    if (run(ld,
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
        run(ld,
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
        return out_of_memory(ld);
    e->loaded = 1;
    return 0;
}

static void column_def(wh_sql_t *q, const wh_column_t *c) {
    wh_sql_ident(q, c->name);
    wh_sql_addf(q, " %s", wh_type_pg(c->type));
}

/* "schema"."table" */
static void pg_ident(wh_sql_t *q, const wh_layout_t *l, const char *table) {
    wh_sql_qualified(q, wh_layout_integration(l), table);
}

/* creates what the catalog has pending; its own transaction */
static int apply_ddl(pg_loader_t *ld, wh_layout_t *l) {
    const char *schema = wh_layout_integration(l);
    wh_sql_t q = {0};
    wh_sql_addf(&q, "BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext(", PG_LOCK_CLASS);
    wh_sql_literal(&q, schema);
    /* first, so that batches holding the version row are waited for before
       this takes any lock they might wait for */
    wh_sql_add(&q, ")); INSERT INTO ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_LAYOUTS_TABLE);
    wh_sql_add(&q, " AS v VALUES (");
    wh_sql_literal(&q, schema);
    wh_sql_add(&q, ", 1) ON CONFLICT (schema_name) DO UPDATE SET version = v.version + 1;\n"
                   "CREATE SCHEMA IF NOT EXISTS ");
    wh_sql_ident(&q, schema);
    wh_sql_add(&q, "; CREATE TABLE IF NOT EXISTS ");
    wh_sql_qualified(&q, schema, WH_REJECTED_TABLE);
    wh_sql_add(&q, " (_sdc_rejected_at timestamptz, table_name text, reason text, record text);\n");
    for (size_t i = 0; i < wh_layout_ntables(l); i++) {
        wh_table_t *t = wh_layout_table(l, i);
        if (t->pending)
            wh_loader_sql_create(&q, l, t, pg_ident, wh_type_pg);
        /* also for a new table: another process may have made it first */
        for (size_t c = 0; c < t->ncols; c++) {
            if (!t->cols[c].pending)
                continue;
            wh_sql_add(&q, "ALTER TABLE ");
            wh_sql_qualified(&q, schema, t->name);
            wh_sql_add(&q, " ADD COLUMN IF NOT EXISTS ");
            column_def(&q, &t->cols[c]);
            wh_sql_add(&q, ";\n");
        }
    }
    wh_sql_add(&q, "COMMIT");
    int rc = run_sql(ld, &q);
    wh_sql_free(&q);
    if (rc < 0)
        rollback(ld);
    return rc;
}

/* COPY rows[] of catalog table ti into the staging table "_hp_s<ti>" */
static int copy_rows(pg_loader_t *ld, const wh_batch_t *b, wh_layout_t *l, size_t ti) {
    wh_table_t *t = wh_layout_table(l, ti);
    wh_sql_t q = {0};
    wh_sql_addf(&q, "CREATE TEMP TABLE \"_hp_s%zu\" (LIKE ", ti);
    wh_sql_qualified(&q, wh_layout_integration(l), t->name);
    wh_sql_addf(&q, ") ON COMMIT DROP; COPY \"_hp_s%zu\" (", ti);
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            wh_sql_add(&q, ", ");
        wh_sql_ident(&q, t->cols[c].name);
    }
    wh_sql_add(&q, ") FROM STDIN");
    if (q.oom) {
        wh_sql_free(&q);
        return out_of_memory(ld);
    }
    PGresult *res = PQexec(ld->conn, q.p);
    wh_sql_free(&q);
    /* a multi-statement string returns the last result: the COPY */
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        note_error(ld, res, "copy");
        PQclear(res);
        return -1;
    }
    PQclear(res);
    const wh_cell_t **by_col = calloc(t->ncols ? t->ncols : 1, sizeof(*by_col));
    int64_t tcache_us[2] = {INT64_MIN, INT64_MIN};
    char tcache[2][64];
    int tnext = 0;
    wh_sql_t buf = {0};
    int rc = by_col ? 0 : out_of_memory(ld);
    for (size_t r = 0; rc == 0 && r < wh_batch_nrows(b, ti); r++) {
        const wh_row_t *row = wh_batch_row(b, ti, r);
        if (!wh_batch_row_live(b, row))
            continue;
        wh_batch_row_values(b, ti, row, by_col, t->ncols);
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                wh_sql_add(&buf, "\t");
            const wh_cell_t *v = by_col[c];
            if (!v)
                wh_sql_add(&buf, "\\N");
            else if (v->type == WH_TIMESTAMP) {
                /* rows of a batch share their times: format each once */
                int slot = v->i == tcache_us[0] ? 0 : v->i == tcache_us[1] ? 1 : -1;
                if (slot < 0) {
                    slot = tnext;
                    tnext ^= 1;
                    tcache_us[slot] = v->i;
                    wh_format_time(v->i, tcache[slot]);
                }
                wh_sql_add(&buf, tcache[slot]);
            } else if (v->type == WH_BOOLEAN)
                wh_sql_add(&buf, v->i ? "t" : "f");
            else if (v->s)
                wh_sql_copy_text(&buf, v->s, v->len);
            else
                wh_sql_addf(&buf, "%lld", (long long)v->i);
        }
        wh_sql_add(&buf, "\n");
        if (buf.len > 256 * 1024) {
            if (buf.oom || PQputCopyData(ld->conn, buf.p, (int)buf.len) != 1)
                rc = -1;
            wh_sql_clear(&buf);
        }
    }
    if (rc == 0 && buf.len && (buf.oom || PQputCopyData(ld->conn, buf.p, (int)buf.len) != 1))
        rc = -1;
    wh_sql_free(&buf);
    free(by_col);
    if (PQputCopyEnd(ld->conn, rc == 0 ? NULL : "aborted by hookpipe-sink") != 1)
        rc = -1;
    res = PQgetResult(ld->conn);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        note_error(ld, res, "copy");
        rc = -1;
    }
    PQclear(res);
    while ((res = PQgetResult(ld->conn)))
        PQclear(res);
    return rc;
}

/* a rejected record as text PostgreSQL accepts: hex when not UTF-8 or NUL-free */
static void reject_copy_line(wh_sql_t *buf, const wh_reject_t *rj) {
    char tmp[64];
    wh_format_time(rj->rejected_at, tmp);
    wh_sql_add(buf, tmp);
    wh_sql_add(buf, "\t");
    wh_sql_copy_text(buf, rj->table, strlen(rj->table));
    wh_sql_add(buf, "\t");
    int text_ok = sink_json_utf8_valid(rj->record, rj->record_len) &&
                  !memchr(rj->record, '\0', rj->record_len);
    wh_sql_copy_text(buf, rj->reason, strlen(rj->reason));
    if (!text_ok)
        wh_sql_add(buf, " (record not UTF-8 text: stored as hex)");
    wh_sql_add(buf, "\t");
    if (text_ok) {
        wh_sql_copy_text(buf, rj->record, rj->record_len);
    } else {
        wh_sql_add(buf, "\\\\x");
        for (size_t i = 0; i < rj->record_len; i++)
            wh_sql_addf(buf, "%02x", (unsigned char)rj->record[i]);
    }
    wh_sql_add(buf, "\n");
}

static int copy_rejects(pg_loader_t *ld, const wh_batch_t *b, const char *schema) {
    wh_sql_t q = {0};
    wh_sql_add(&q, "COPY ");
    wh_sql_qualified(&q, schema, WH_REJECTED_TABLE);
    wh_sql_add(&q, " (_sdc_rejected_at, table_name, reason, record) FROM STDIN");
    PGresult *res = q.oom ? NULL : PQexec(ld->conn, q.p);
    wh_sql_free(&q);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        note_error(ld, res, "copy rejects");
        PQclear(res);
        return -1;
    }
    PQclear(res);
    wh_sql_t buf = {0};
    for (size_t i = 0; i < wh_batch_nrejects(b); i++)
        reject_copy_line(&buf, wh_batch_reject_at(b, i));
    int rc = 0;
    if (buf.oom || (buf.len && PQputCopyData(ld->conn, buf.p, (int)buf.len) != 1))
        rc = -1;
    wh_sql_free(&buf);
    if (PQputCopyEnd(ld->conn, rc == 0 ? NULL : "aborted by hookpipe-sink") != 1)
        rc = -1;
    res = PQgetResult(ld->conn);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        note_error(ld, res, "copy rejects");
        rc = -1;
    }
    PQclear(res);
    while ((res = PQgetResult(ld->conn)))
        PQclear(res);
    return rc;
}

/* "a"."k1" = "b"."k1" AND ... over the key columns */
static void key_join(wh_sql_t *q, const wh_layout_t *l, const char *a, int a_source,
                     const char *b) {
    char name[WH_COLUMN_MAX * 2 + 64];
    for (size_t k = 0; k < wh_layout_nkeys(l); k++) {
        if (k)
            wh_sql_add(q, " AND ");
        const char *key = wh_layout_key(l, k);
        if (a_source)
            wh_source_key_name(key, name, sizeof(name));
        wh_sql_addf(q, "%s.", a);
        wh_sql_ident(q, a_source ? name : key);
        wh_sql_addf(q, " = %s.", b);
        wh_sql_ident(q, key);
    }
}

/* the data transaction (begun by the caller): staging, merge, subtables,
   rejects, offsets, commit */
static int write_batch(pg_loader_t *ld, wh_layout_t *l, const wh_batch_t *b) {
    const char *schema = wh_layout_integration(l);
    wh_table_t *root = wh_layout_find_table(l, WH_ROOT_TABLE);
    size_t root_i = root ? (size_t)(root - wh_layout_table(l, 0)) : 0;
    int rc = 0;
    size_t rows = 0;
    if (root && wh_batch_live_rows(b, root_i) > 0) {
        for (size_t ti = 0; rc == 0 && ti < wh_layout_ntables(l); ti++)
            if (wh_batch_live_rows(b, ti) > 0) {
                rc = copy_rows(ld, b, l, ti);
                rows += wh_batch_live_rows(b, ti);
            }
        int subs = 0;
        for (size_t ti = 0; ti < wh_layout_ntables(l); ti++)
            subs |= wh_layout_table(l, ti)->level > 0;
        /* the merge; with subtables, it also keeps the keys of the root rows
           it inserted or updated, whose subtable rows are replaced */
        wh_sql_t ins = {0};
        wh_sql_add(&ins, "INSERT INTO ");
        wh_sql_qualified(&ins, schema, WH_ROOT_TABLE);
        wh_sql_add(&ins, " AS t (");
        wh_loader_sql_columns(&ins, root, NULL);
        wh_sql_add(&ins, ") SELECT ");
        wh_loader_sql_columns(&ins, root, NULL);
        wh_sql_addf(&ins, " FROM \"_hp_s%zu\"", root_i);
        wh_loader_sql_upsert(&ins, l, root, "t");
        wh_sql_t q = {0};
        if (!subs) {
            wh_sql_addf(&q, "%s;\n", ins.p ? ins.p : "");
        } else {
            wh_sql_add(&q, "CREATE TEMP TABLE \"_hp_w\" ON COMMIT DROP AS SELECT ");
            for (size_t k = 0; k < wh_layout_nkeys(l); k++) {
                if (k)
                    wh_sql_add(&q, ", ");
                wh_sql_ident(&q, wh_layout_key(l, k));
            }
            wh_sql_add(&q, " FROM ");
            wh_sql_qualified(&q, schema, WH_ROOT_TABLE);
            wh_sql_addf(&q, " WITH NO DATA;\nWITH up AS (%s RETURNING ", ins.p ? ins.p : "");
            for (size_t k = 0; k < wh_layout_nkeys(l); k++) {
                if (k)
                    wh_sql_add(&q, ", ");
                wh_sql_add(&q, "t.");
                wh_sql_ident(&q, wh_layout_key(l, k));
            }
            wh_sql_add(&q, ") INSERT INTO \"_hp_w\" SELECT * FROM up;\n");
        }
        if (ins.oom)
            q.oom = 1;
        wh_sql_free(&ins);
        for (size_t ti = 0; ti < wh_layout_ntables(l); ti++) {
            wh_table_t *t = wh_layout_table(l, ti);
            /* a table that is not ours is never written (its rows were
               rejected) */
            if (t->level == 0 || t->mismatch)
                continue;
            if (wh_layout_has_pk(l)) {
                /* an updated parent's old subtable rows go with it */
                wh_sql_add(&q, "DELETE FROM ");
                wh_sql_qualified(&q, schema, t->name);
                wh_sql_add(&q, " AS d USING \"_hp_w\" AS w WHERE ");
                key_join(&q, l, "d", 1, "w");
                wh_sql_add(&q, ";\n");
            }
            if (wh_batch_live_rows(b, ti) == 0)
                continue;
            wh_sql_add(&q, "INSERT INTO ");
            wh_sql_qualified(&q, schema, t->name);
            wh_sql_add(&q, " (");
            wh_loader_sql_columns(&q, t, NULL);
            wh_sql_add(&q, ") SELECT ");
            wh_loader_sql_columns(&q, t, "s");
            wh_sql_addf(&q, " FROM \"_hp_s%zu\" AS s JOIN \"_hp_w\" AS w ON ", ti);
            key_join(&q, l, "s", 1, "w");
            wh_sql_add(&q, ";\n");
        }
        if (rc == 0)
            rc = run_sql(ld, &q);
        wh_sql_free(&q);
    }
    if (rc == 0 && wh_batch_nrejects(b) > 0)
        rc = copy_rejects(ld, b, schema);
    for (size_t i = 0; rc == 0 && i < wh_batch_noffsets(b); i++) {
        const wh_offset_t *o = wh_batch_offset_at(b, i);
        char part[16], next[32];
        snprintf(part, sizeof(part), "%d", (int)o->partition);
        snprintf(next, sizeof(next), "%lld", (long long)o->next);
        const char *params[] = {ld->base.group, o->topic, part, next};
        wh_sql_t q = {0};
        wh_sql_add(&q, "INSERT INTO ");
        wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
        wh_sql_add(&q, " AS o (consumer_group, topic, partition, next_offset) VALUES ($1, $2, $3, $4) "
                       "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
                       "next_offset = EXCLUDED.next_offset, updated_at = now() "
                       "WHERE EXCLUDED.next_offset > o.next_offset");
        rc = q.oom ? out_of_memory(ld) : run(ld, q.p, 4, params, NULL);
        wh_sql_free(&q);
    }
    if (rc == 0)
        rc = run(ld, "COMMIT", 0, NULL, NULL);
    if (rc < 0) {
        rollback(ld);
        return -1;
    }
    ld->stats.batches++;
    ld->stats.rows += rows;
    ld->stats.rejected += wh_batch_nrejects(b);
    return 0;
}

/* the offsets stored for the topics of msgs, locked until the end of the
   transaction so that a second process holding the same partitions (a
   zombie after a rebalance) waits and then skips what we loaded */
typedef struct floors_ctx {
    pg_loader_t *ld;
    const char *sql;
    wh_floors_t *f;
} floors_ctx_t;

static int read_topic_floors(void *arg, const char *topic) {
    floors_ctx_t *c = arg;
    const char *params[] = {c->ld->base.group, topic};
    PGresult *res = NULL;
    if (run(c->ld, c->sql, 2, params, &res) < 0)
        return -1;
    int rc = 0;
    for (int r = 0; rc == 0 && r < PQntuples(res); r++)
        if (wh_floors_add(c->f, topic, (int32_t)atoi(PQgetvalue(res, r, 0)),
                          strtoll(PQgetvalue(res, r, 1), NULL, 10)) < 0)
            rc = out_of_memory(c->ld);
    PQclear(res);
    return rc;
}

static int read_floors(pg_loader_t *ld, const wh_msg_t *msgs, size_t n, wh_floors_t *f) {
    wh_sql_t q = {0};
    wh_sql_add(&q, "SELECT partition, next_offset FROM ");
    wh_sql_qualified(&q, PG_OFFSETS_SCHEMA, PG_OFFSETS_TABLE);
    wh_sql_add(&q, " WHERE consumer_group = $1 AND topic = $2 FOR UPDATE");
    floors_ctx_t c = {ld, q.p, f};
    int rc = q.oom ? out_of_memory(ld) : wh_loader_floors(msgs, n, read_topic_floors, &c);
    wh_sql_free(&q);
    return rc;
}

/* one attempt: lay the batch out, create what is missing, write it */
static int attempt(pg_loader_t *ld, wh_loader_entry_t *e, const wh_msg_t *msgs, size_t n,
                   int64_t batched_at) {
    /* tables made by something else change without our version counter:
       while there are any, read the catalog afresh */
    if ((!e->loaded || wh_layout_mismatched(e->layout)) && load_catalog(ld, e) < 0)
        return -1;
    for (int round = 0; round < PG_DDL_ROUNDS; round++) {
        wh_floors_t floors = {0};
        long long version = 0;
        if (run(ld, "BEGIN", 0, NULL, NULL) < 0 ||
            read_version(ld, wh_layout_integration(e->layout), 1, &version) < 0 ||
            read_floors(ld, msgs, n, &floors) < 0) {
            wh_floors_clear(&floors);
            rollback(ld);
            return -1;
        }
        if (version != e->version) {
            /* another process changed the schema since we read it */
            wh_floors_clear(&floors);
            rollback(ld);
            if (load_catalog(ld, e) < 0)
                return -1;
            continue;
        }
        wh_batch_t *b = wh_loader_batch(&ld->base, e->layout, msgs, n, &floors, batched_at);
        wh_floors_clear(&floors);
        if (!b) {
            rollback(ld);
            return -1;
        }
        const char *rej = wh_layout_rejected_mismatch(e->layout);
        if (rej && wh_batch_nrejects(b) > 0) {
            /* nowhere to put this batch's rejections: hold the integration */
            wh_batch_destroy(b);
            rollback(ld);
            e->loaded = 0;
            return wh_loader_fail(&ld->base, 0, "%s", rej);
        }
        /* rejections need their table: a batch of nothing else may be
           the integration's first */
        if (!wh_layout_pending(e->layout) &&
            (wh_batch_nrejects(b) == 0 || wh_layout_has_rejected(e->layout))) {
            int rc = write_batch(ld, e->layout, b);
            wh_batch_destroy(b);
            return rc;
        }
        wh_batch_destroy(b);
        rollback(ld);
        /* create what is missing, read back what is there (another process
           may have made a column first, with another type), lay out again */
        e->loaded = 0;
        if (apply_ddl(ld, e->layout) < 0 || load_catalog(ld, e) < 0)
            return -1;
    }
    e->loaded = 0;
    return wh_loader_fail(&ld->base, 0, "schema still changing after %d rounds", PG_DDL_ROUNDS);
}

/* one try at a batch (wh_loader_write_fn) */
static int write_once(void *db, wh_loader_entry_t *e, const wh_msg_t *msgs, size_t n,
                      int64_t batched_at) {
    pg_loader_t *ld = db;
    if (connect_db(ld) == 0 && attempt(ld, e, msgs, n, batched_at) == 0)
        return 0;
    /* the catalog may be what failed: read it again next time */
    e->loaded = 0;
    return -1;
}

int pg_loader_write(pg_loader_t *ld, const wh_integration_t *in, const wh_msg_t *msgs, size_t n,
                    int64_t batched_at, char *errstr, size_t errstr_size) {
    return wh_loader_write(&ld->base, in, msgs, n, batched_at, write_once, ld, errstr,
                           errstr_size);
}
