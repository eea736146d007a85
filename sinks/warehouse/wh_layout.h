/* wh_layout: the Stitch warehouse layout of one integration, shared by the
 * PostgreSQL and SQLite targets: identifier rules, column types, and the
 * catalog of tables and columns (what exists in the warehouse, plus what a
 * batch needs created).
 *
 * Names (decided here; Stitch documents the outline only):
 *   - a JSON member name becomes a column name segment: ASCII letters,
 *     digits and '_' are kept, non-ASCII UTF-8 is kept as is, space, '-' and
 *     '.' become '_', every other ASCII byte (quotes, ';', control bytes,
 *     NUL...) is removed; case is kept. An empty result is rejected.
 *   - objects flatten to "parent__child"; an array under table T at column
 *     path P is the table "T__P"; array elements that are not objects go to
 *     the column "value" (an array inside an array: table "T__value").
 *   - reserved (rejected): a segment starting with "_sdc" or "_rjm", or
 *     ending with a type suffix (__bi __it __do __de __bo __st __ti), in any
 *     letter case.
 *   - limits in bytes of UTF-8 (PostgreSQL's own unit): tables
 *     WH_TABLE_MAX, columns WH_COLUMN_MAX before a type suffix is added.
 * Types come from the JSON value alone (sink_num.h classifies numbers):
 *   integer fitting int64 -> bigint, other exactly representable number ->
 *   double precision, anything else exact -> numeric, boolean -> boolean,
 *   string -> text. A column keeps the type of the first value it saw; a
 *   value of another type goes to "<column>__<suffix>" (the original column
 *   is kept, unlike Stitch's PostgreSQL loader, so views keep working).
 *
 * A layout is used by one thread at a time. */
#ifndef HOOKPIPE_WH_LAYOUT_H
#define HOOKPIPE_WH_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define WH_TABLE_MAX  63
#define WH_COLUMN_MAX 59
/* columns in one table, below PostgreSQL's hard 1600 and SQLite's default
   2000: a field beyond it is rejected rather than failing every batch */
#define WH_TABLE_COLUMNS_MAX 1500
#define WH_ROOT_TABLE "data"
#define WH_REJECTED_TABLE "_sdc_rejected"
#define WH_SOURCE_KEY_PREFIX "_sdc_source_key_"
#define WH_NOPK_COLUMN "__sdc_primary_key"

typedef enum {
    WH_BIGINT = 0,
    WH_DOUBLE,
    WH_BOOLEAN,
    WH_TEXT,
    WH_NUMERIC,
    WH_TIMESTAMP,   /* timestamptz; values are µs since the epoch */
    WH_NTYPES
} wh_type_t;

/* Column suffix of a type without the "__" ("bi", "do", "bo", "st", "de",
 * "ti"). */
const char *wh_type_suffix(wh_type_t t);

/* PostgreSQL type name ("bigint", "double precision", "boolean", "text",
 * "numeric", "timestamp with time zone"), and the reverse (information_schema
 * data_type); -1 for a type the layout does not use. */
const char *wh_type_pg(wh_type_t t);
int wh_type_from_pg(const char *name);

/* SQLite declared type ("BIGINT", "DOUBLE PRECISION", "BOOLEAN", "TEXT",
 * "DECIMAL TEXT" (TEXT affinity, so exact decimals keep every digit),
 * "TIMESTAMP" (ISO 8601 text)), and the reverse; -1 if unknown. */
const char *wh_type_sqlite(wh_type_t t);
int wh_type_from_sqlite(const char *decl);

/* Normalises one JSON member name (json[0..len), valid UTF-8, may hold NUL)
 * into out (NUL-terminated, out_size >= len + 1 suffices). Returns the
 * length, or -1 if out is too small. 0 means the name is empty after
 * normalisation. */
long wh_name_segment(const char *json, size_t len, char *out, size_t out_size);

/* 1 if a normalised segment is reserved (prefix _sdc/_rjm, type suffix). */
int wh_name_reserved(const char *seg);

typedef struct wh_column {
    char *name;
    wh_type_t type;   /* WH_NTYPES: a type the layout does not use */
    int pending;      /* needed by a batch, not yet known to exist */
    char *decl;       /* the warehouse's name of that type when WH_NTYPES */
} wh_column_t;

typedef struct wh_table {
    char *name;       /* "data", "data__items", ... (no schema) */
    int level;        /* array depth: 0 for data, 1 for data__items ... */
    int pending;      /* the table itself must be created */
    wh_column_t *cols;
    size_t ncols, cap;
    size_t hint;      /* where the next lookup starts (records repeat their
                         field order, so this is usually the match) */
    int unique_key;   /* the warehouse has a unique index on exactly the
                         table's key columns (wh_layout_load_unique) */
    char *mismatch;   /* set by wh_layout_check: why this existing table
                         cannot be loaded (NULL: it can); its rows are then
                         rejected, never written or altered */
} wh_table_t;

typedef struct wh_layout wh_layout_t;

/* A layout for `integration` ([a-z0-9_]) with primary-key JSON field names
 * pk[0..npk) (borrowed during the call; npk 0: no primary key, and
 * __sdc_primary_key is the key). The catalog starts empty. NULL with errstr
 * on out of memory or an unusable key name. */
wh_layout_t *wh_layout_new(const char *integration, const char *const *pk, size_t npk,
                           char *errstr, size_t errstr_size);

/* wh_layout_destroy(NULL) is a no-op. */
void wh_layout_destroy(wh_layout_t *l);

const char *wh_layout_integration(const wh_layout_t *l);

/* Key columns of the root table: the normalised primary-key names, or
 * __sdc_primary_key. Borrowed while l lives. */
size_t wh_layout_nkeys(const wh_layout_t *l);
const char *wh_layout_key(const wh_layout_t *l, size_t i);
int wh_layout_has_pk(const wh_layout_t *l);
/* JSON name of primary-key field i (only when wh_layout_has_pk). */
const char *wh_layout_pk_json(const wh_layout_t *l, size_t i);

/* Tables in the catalog; pointers stay valid until the next call that adds
 * a table or wh_layout_reset. */
size_t wh_layout_ntables(const wh_layout_t *l);
wh_table_t *wh_layout_table(wh_layout_t *l, size_t i);

/* Key columns of table t, its first ones: the root's keys, or in a
 * subtable the _sdc_source_key_* and _sdc_level_N_id columns. */
size_t wh_table_nkeys(const wh_layout_t *l, const wh_table_t *t);

/* Finds a table or a column; NULL if absent. */
wh_table_t *wh_layout_find_table(wh_layout_t *l, const char *name);
wh_column_t *wh_table_find(wh_table_t *t, const char *name, size_t *index);

/* Empties the catalog (before reloading it from the warehouse). */
void wh_layout_reset(wh_layout_t *l);

/* Records an existing table/column as read from the warehouse (not
 * pending). A table is added by its first column. 0, or -1 on out of
 * memory. Columns are kept in the order given. */
int wh_layout_load_column(wh_layout_t *l, const char *table, const char *column, wh_type_t t);

/* The same, keeping the warehouse's own type name `decl` (copied; may be
 * NULL) for messages when t is WH_NTYPES. Columns of WH_REJECTED_TABLE are
 * kept apart (not a catalog table) for wh_layout_check. */
int wh_layout_load_column_decl(wh_layout_t *l, const char *table, const char *column,
                               wh_type_t t, const char *decl);

/* Records a unique index (or primary key) of an existing table over
 * cols[0..n) (borrowed): when they are exactly the table's key columns
 * (root: the primary-key columns or __sdc_primary_key), an upsert can use
 * it. Call after the table's columns are loaded. 0, or -1 on out of memory. */
int wh_layout_load_unique(wh_layout_t *l, const char *table, const char *const *cols, size_t n);

/* Checks every existing table (after loading the catalog and its unique
 * indexes) against the layout the loaders write: key columns, array index
 * columns, _sdc_sequence / _sdc_received_at / _sdc_batched_at with their
 * types, a unique index on the root table's key; and _sdc_rejected's four
 * columns. Sets each table's `mismatch` to a precise reason (which table,
 * which column, what was expected), type names given by type_name
 * (wh_type_pg or wh_type_sqlite). 0, or -1 on out of memory. */
int wh_layout_check(wh_layout_t *l, const char *(*type_name)(wh_type_t));

/* Why the existing _sdc_rejected table cannot take rejections, or NULL
 * (also when it does not exist yet). Borrowed while l lives. */
const char *wh_layout_rejected_mismatch(const wh_layout_t *l);

/* 1 if wh_layout_check found a table (or _sdc_rejected) it cannot load:
 * a loader reads such a catalog again before every batch, so that a table
 * its owner fixed is used at once. */
int wh_layout_mismatched(const wh_layout_t *l);

/* 1 if the catalog holds the integration's _sdc_rejected table. */
int wh_layout_has_rejected(const wh_layout_t *l);

/* Adds a pending table (with its system and key columns; key types taken
 * from the root table's key columns, level from its name) or a pending
 * column. Return the table/column, NULL on out of memory. */
wh_table_t *wh_layout_add_table(wh_layout_t *l, const char *name, int level,
                                const wh_type_t *key_types);
wh_column_t *wh_layout_add_column(wh_table_t *t, const char *name, wh_type_t type, size_t *index);

/* 1 if any table or column is pending. */
int wh_layout_pending(const wh_layout_t *l);

/* After the loader created what was pending: marks everything as existing. */
void wh_layout_clear_pending(wh_layout_t *l);

/* System columns of every table (after the key columns of subtables). */
#define WH_COL_RECEIVED_AT   "_sdc_received_at"
#define WH_COL_BATCHED_AT    "_sdc_batched_at"
#define WH_COL_SEQUENCE      "_sdc_sequence"
#define WH_COL_TABLE_VERSION "_sdc_table_version"

/* Column names a key column has in a subtable: "_sdc_source_key_<key>";
 * into out; -1 if too small. */
int wh_source_key_name(const char *key, char *out, size_t out_size);

#endif
