/* wh_batch: turns Kafka messages of one integration into warehouse rows by
 * the Stitch layout (wh_layout.h): one row in "data" per record, one row per
 * array element in the subtables, rejections for `_sdc_rejected`, and the
 * next offset of each partition. Shared by the PostgreSQL and SQLite
 * targets, which only write what a batch holds.
 *
 * Rules applied per record:
 *   - not a JSON object, invalid JSON, a missing/null/non-scalar primary-key
 *     value, a primary-key value of another type than the key column, or no
 *     Kafka key without a primary key: the whole record is rejected;
 *   - a field with a reserved or empty name, a column name over
 *     WH_COLUMN_MAX, a subtable name over WH_TABLE_MAX, two fields that give
 *     the same column ("Field collision", duplicate keys included), a value
 *     out of range (a number beyond numeric(76,38), a string holding NUL):
 *     that field is left out of the row, and the whole record is written to
 *     `_sdc_rejected` once, with the first reason ("... (and N more)"), so
 *     nothing is dropped silently;
 *   - null values give no cell (and so no column until a value appears);
 *   - in one batch, only the record with the highest _sdc_sequence per key
 *     is kept (ties: the first), so a merge never touches a row twice.
 *
 * A batch is used by one thread at a time. */
#ifndef HOOKPIPE_WH_BATCH_H
#define HOOKPIPE_WH_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "sink_json.h"
#include "sink_record.h"
#include "wh_layout.h"

/* One Kafka message as a warehouse target receives it; all borrowed for
 * the call. */
typedef struct wh_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *value;      /* the JSON payload bytes */
    size_t value_len;
    sink_sys_t sys;         /* received_at, sequence, key (batched_at unused) */
} wh_msg_t;

/* What a target needs to know of an integration (all borrowed). */
typedef struct wh_integration {
    const char *name;             /* [a-z0-9_] */
    const char *const *pk;        /* primary-key JSON field names */
    size_t npk;                   /* 0: no primary key */
} wh_integration_t;

/* One value of a row. */
typedef struct wh_cell {
    uint32_t col;           /* index in the table's columns */
    uint8_t type;           /* wh_type_t */
    int64_t i;              /* WH_BIGINT, WH_BOOLEAN (0/1), WH_TIMESTAMP (µs) */
    double d;               /* WH_DOUBLE */
    const char *s;          /* text: of WH_TEXT, the WH_NUMERIC lexeme, and
                               for key cells (the root's keys and their
                               copies in subtables) WH_BIGINT/WH_DOUBLE
                               printed exactly (wh_format_double); NULL for
                               other numbers and system cells */
    size_t len;
} wh_cell_t;

typedef struct wh_row {
    size_t first, ncells;   /* cells of the table, wh_batch_cells() */
    size_t rec;             /* record index; rows of dropped records are skipped */
} wh_row_t;

typedef struct wh_reject {
    const char *table;      /* table the record or field was meant for */
    const char *reason;
    const char *record;     /* the payload as received (may be invalid) */
    size_t record_len;
    int64_t rejected_at;    /* µs since the epoch */
} wh_reject_t;

typedef struct wh_offset {
    const char *topic;
    int32_t partition;
    int64_t next;           /* last offset in the batch + 1 */
} wh_offset_t;

/* Offsets already stored in the target, read in the batch's transaction:
 * a message below its partition's `next` was loaded before (a redelivery
 * after a crash or a rebalance) and is skipped, so that even rejections
 * are written once. */
typedef struct wh_floors {
    wh_offset_t *v;
    size_t n, cap;
} wh_floors_t;

/* Adds a stored offset (topic copied). 0, or -1 on out of memory. */
int wh_floors_add(wh_floors_t *f, const char *topic, int32_t partition, int64_t next);
/* 1 if msg was already loaded by the floors. */
int wh_floors_done(const wh_floors_t *f, const wh_msg_t *msg);
void wh_floors_clear(wh_floors_t *f);

typedef struct wh_batch wh_batch_t;

/* An empty batch over layout l (borrowed; must outlive the batch; adding
 * records may add pending tables and columns to it). batched_at: µs since
 * the epoch, the _sdc_batched_at of every row. NULL on out of memory. */
wh_batch_t *wh_batch_new(wh_layout_t *l, int64_t batched_at);

/* Empties b for another batch over layout l (borrowed, as for
 * wh_batch_new; it may be another layout), keeping the memory it has, so
 * that a steady stream of batches does not allocate. */
void wh_batch_reset(wh_batch_t *b, wh_layout_t *l, int64_t batched_at);

/* wh_batch_destroy(NULL) is a no-op. */
void wh_batch_destroy(wh_batch_t *b);

/* Parses and shreds one message (copying what it keeps; msg is borrowed for
 * the call) and records its offset. 0, or -1 on out of memory (the batch is
 * then unusable). A rejected record is not an error. */
int wh_batch_add(wh_batch_t *b, sink_json_parser_t *p, const wh_msg_t *msg);

/* Rows of catalog table i (wh_layout_table index), including rows of
 * dropped records: check wh_batch_row_live. */
size_t wh_batch_nrows(const wh_batch_t *b, size_t table);
const wh_row_t *wh_batch_row(const wh_batch_t *b, size_t table, size_t i);
const wh_cell_t *wh_batch_cells(const wh_batch_t *b, size_t table);
int wh_batch_row_live(const wh_batch_t *b, const wh_row_t *r);

/* The _sdc_sequence of a row's record. */
int64_t wh_batch_row_sequence(const wh_batch_t *b, const wh_row_t *r);

/* Live rows of table i. */
size_t wh_batch_live_rows(const wh_batch_t *b, size_t table);

/* Spreads a row's cells over by_col[0..ncols) (NULL where the row has no
 * value) for table i; by_col must have room for the table's columns. */
void wh_batch_row_values(const wh_batch_t *b, size_t table, const wh_row_t *r,
                         const wh_cell_t **by_col, size_t ncols);

size_t wh_batch_nrejects(const wh_batch_t *b);
const wh_reject_t *wh_batch_reject_at(const wh_batch_t *b, size_t i);

size_t wh_batch_noffsets(const wh_batch_t *b);
const wh_offset_t *wh_batch_offset_at(const wh_batch_t *b, size_t i);

/* Records added, and records kept (not rejected whole, not superseded). */
size_t wh_batch_nrecords(const wh_batch_t *b);
size_t wh_batch_nkept(const wh_batch_t *b);

/* Formats a double as the shortest text that reads back as the same
 * value ("%.15g" to "%.17g"); out needs 40 bytes. */
void wh_format_double(double d, char out[40]);

/* Formats µs since the epoch as "YYYY-MM-DD HH:MM:SS.ffffff+00:00" (read by
 * PostgreSQL timestamptz and by SQLite date functions); out needs 64 bytes. */
void wh_format_time(int64_t us, char out[64]);

#endif
