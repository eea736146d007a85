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
 * (wh_loader's retry loop, shared with pg_loader). A loader is used by one thread at a time. */
#ifndef HOOKPIPE_SQLITE_LOADER_H
#define HOOKPIPE_SQLITE_LOADER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_batch.h"

#define SQLITE_OFFSETS_TABLE "hookpipe_offsets"

typedef struct sqlite_loader sqlite_loader_t;

/* Opens (creating) the database file at `path` in WAL mode and makes the
 * offsets table; offsets are stored under `group` (copied). NULL with
 * errstr if the file cannot be opened or written. */
sqlite_loader_t *sqlite_loader_new(const char *path, const char *group, char *errstr,
                                   size_t errstr_size);

/* Closes the database; sqlite_loader_destroy(NULL) is a no-op. */
void sqlite_loader_destroy(sqlite_loader_t *ld);

/* While *stop is non-zero, retries end early with an error (borrowed). */
void sqlite_loader_set_stop(sqlite_loader_t *ld, volatile sig_atomic_t *stop);

/* Backoff between retries, doubling from min_ms to max_ms (100, 5000). */
void sqlite_loader_set_backoff(sqlite_loader_t *ld, int min_ms, int max_ms);

/* The next offset for group/topic/partition, as committed with the rows:
 * 0 and *next, 1 if none is stored, -1 with errstr. Call on assignment. */
int sqlite_loader_offset(sqlite_loader_t *ld, const char *topic, int32_t partition, int64_t *next,
                         char *errstr, size_t errstr_size);

/* Writes msgs[0..n) of one integration (borrowed for the call) and their
 * offsets in one transaction. batched_at: µs since the epoch (0: now).
 * 0 once committed; 1 if nothing was committed for a persistent reason of
 * this integration alone (errstr: which integration, and why): hold its
 * records and retry later; -1 if nothing was committed because of a stop
 * or out of memory. Existing tables without the layout are never written:
 * their records go to _sdc_rejected with the reason (as pg_loader_write). */
int sqlite_loader_write(sqlite_loader_t *ld, const wh_integration_t *in, const wh_msg_t *msgs,
                        size_t n, int64_t batched_at, char *errstr, size_t errstr_size);

/* The SQLite name of an integration's table: "<integration>.<table>", into
 * out; -1 if it does not fit. */
int sqlite_table_name(const char *integration, const char *table, char *out, size_t out_size);

#endif
