/* sqlite_loader: the SQLite warehouse target (the embedded default) —
 * the Stitch layout (wh_layout.h, wh_batch.h) in one database file, loaded
 * exactly once.
 *
 * SQLite has no schemas, so (our decision) every table of an integration is
 * named "<integration>.<table>" in one file: "stripe.data",
 * "stripe.data__items", "stripe._sdc_rejected". Integration names are
 * [a-z0-9_] and layout names never hold '.', so these names cannot collide
 * with each other or between integrations; a query quotes them:
 *   SELECT * FROM "stripe.data";
 * (Attaching one file per integration would give real `stripe.data` names,
 * but a transaction over several attached files is not atomic in WAL mode,
 * and the offsets must commit with the rows.)
 * Offsets: table "hookpipe_offsets"(consumer_group, topic, partition,
 * next_offset, updated_at) — no '.', so no integration can own that name.
 *
 * Types: BIGINT, DOUBLE PRECISION, BOOLEAN (0/1), TEXT, "DECIMAL TEXT" for
 * exact numbers (TEXT affinity: the digits are kept as sent, where NUMERIC
 * affinity would round them to a double), TIMESTAMP as ISO 8601 text
 * "YYYY-MM-DD HH:MM:SS.ffffff+00:00" (SQLite date functions read it).
 *
 * One batch is one transaction (BEGIN IMMEDIATE: SQLite's write lock also
 * serialises schema changes between processes; PRAGMA schema_version tells
 * when another process changed the tables): skip messages below the stored
 * offsets (a redelivery loads nothing twice), create what is missing,
 * upsert each root row (ON CONFLICT DO UPDATE ... WHERE excluded._sdc_sequence
 * > current; without a primary key DO NOTHING), replace the subtable rows of
 * the rows that changed, insert rejections, advance the offsets (never
 * backwards), commit. The file is in WAL mode with synchronous=FULL.
 *
 * A busy database (another writer beyond the busy timeout), a full disk or
 * an I/O error is waited out with exponential backoff until it passes or
 * the stop flag is set; other errors are retried a few times, then returned
 * (wh_loader's driver runs the batch and the retries; this module is
 * SQLite's side of it, wh_db_ops_t). A loader is used by one thread at a
 * time. */
#ifndef HOOKPIPE_SQLITE_LOADER_H
#define HOOKPIPE_SQLITE_LOADER_H

#include <stddef.h>

#include "wh_loader.h"

#define SQLITE_OFFSETS_TABLE "hookpipe_offsets"

/* A loader (wh_loader.h: write, offset, stop, backoff, stats, destroy)
 * into the database file at `path`, opened (created) in WAL mode with the
 * offsets table made; offsets are stored under `group` (copied). NULL with
 * errstr if the file cannot be opened or written.
 *
 * wh_loader_write writes msgs[0..n) of one integration and their offsets
 * in one transaction, as described above; wh_loader_offset reads the next
 * offset as committed with the rows. */
wh_loader_t *sqlite_loader_new(const char *path, const char *group, char *errstr,
                               size_t errstr_size);

/* The SQLite name of an integration's table: "<integration>.<table>", into
 * out; -1 if it does not fit. */
int sqlite_table_name(const char *integration, const char *table, char *out, size_t out_size);

#endif
