/* pg_loader: the PostgreSQL warehouse target — Stitch-layout tables per
 * integration (wh_layout.h, wh_batch.h), loaded exactly once.
 *
 * Layout in the database:
 *   schema "<integration>": "data", its subtables "data__<path>", and
 *   "_sdc_rejected"(_sdc_rejected_at timestamptz, table_name text, reason
 *   text, record text). Root key: PRIMARY KEY on the primary-key columns,
 *   or on "__sdc_primary_key" without one; subtables: PRIMARY KEY on their
 *   _sdc_source_key_* and _sdc_level_N_id columns.
 *   schema "hookpipe-sink" (a name no integration can have): table
 *   "offsets"(consumer_group, topic, partition, next_offset, updated_at),
 *   the next Kafka offset to read, per group and partition; table
 *   "layouts"(schema_name, version), a counter each schema change bumps.
 *
 * One batch (wh_loader_write) is one transaction: it share-locks its
 * schema's layout version (a stale catalog is read again first) and locks
 * its partitions' offsets rows, skips messages below the stored offsets (a
 * redelivery loads nothing twice, rejections included), COPYs the
 * rejections, then looks up each of the batch's keys in the root table
 * (one index probe each, reading the row's _sdc_sequence). A record is
 * written when its key is new, or — with a primary key — when its
 * _sdc_sequence is higher than the row's: that row is deleted (by the
 * ctid the probe read; a row another writer changed meanwhile is not, and
 * the batch is tried again). An older or replayed record is left out (the
 * sequence guard), and so is, without a primary key, a key the table holds
 * (a replayed message). The subtable rows of the written parents are
 * deleted (a replaced parent's, or any a hand-deleted parent left), the
 * written records' rows are COPYed straight into their tables (in COPY's
 * binary format, which spares the server parsing text: each value in its
 * column type's binary form, text as its bytes, which the server checks
 * against its encoding as it does text input; a table whose cells are not
 * all of their columns' types, or have no binary form, goes as text), the
 * offsets
 * are advanced (never backwards) and the transaction committed, these two
 * in one round trip. A crash at any point leaves either all of it or none,
 * so reading the offsets back on assignment (wh_loader_offset) gives
 * exactly-once tables. (Another process inserting a key between the probe
 * and the COPY makes the COPY fail; the batch is then tried again.)
 *
 * Commits are synchronous (the server's synchronous_commit, on by default),
 * on purpose. With it off, a server crash can lose the last commits that
 * wh_loader_write already reported as done, and exactly once would not
 * survive that: (1) the sink keeps consuming after such a crash (it
 * reconnects; nothing reassigns its partitions), so the records of a lost
 * commit are behind its position and never loaded again; (2) a partition
 * whose offsets row was created by a lost commit has no stored offset, and
 * the sink then starts it from the group's Kafka commit, which it made
 * once the lost commit had been reported. In the benchmark (1 KB events,
 * batches of 5000) async commit made no difference beyond the noise
 * (tests/bench/RESULTS.md): a batch is CPU-bound, not waiting on fsync.
 *
 * Schema changes run first, in their own transaction, serialised between
 * sink processes by an advisory lock on the schema name: CREATE SCHEMA /
 * TABLE IF NOT EXISTS and ALTER TABLE ... ADD COLUMN IF NOT EXISTS; the
 * catalog is then read back from information_schema and the batch laid out
 * again, so two processes meeting the same new field agree on its column.
 *
 * Errors: a lost connection, a server shutting down or starting, too many
 * connections, a deadlock or serialisation failure are waited out with
 * exponential backoff (reconnecting) until they pass or the stop flag is
 * set; any other error is retried a few times with a fresh catalog, then
 * returned (wh_loader's driver runs the batch, its schema rounds and the
 * retries; this module is PostgreSQL's side of it, wh_db_ops_t).
 *
 * A loader is used by one thread at a time. */
#ifndef HOOKPIPE_PG_LOADER_H
#define HOOKPIPE_PG_LOADER_H

#include <stddef.h>

#include "wh_loader.h"

#define PG_OFFSETS_SCHEMA "hookpipe-sink"
#define PG_OFFSETS_TABLE  "offsets"

/* A loader (wh_loader.h: write, offset, stop, backoff, stats, destroy)
 * into the server at `url` (a libpq connection string or postgresql://
 * URL; copied), storing offsets under `group` (copied). Does not connect
 * yet. NULL with errstr on out of memory.
 *
 * wh_loader_write writes msgs[0..n) and their offsets in one transaction,
 * as described above; WH_HOLD when, for instance, the integration's
 * _sdc_rejected table is not ours or the server refuses its statements.
 * wh_loader_offset reads the next offset as committed with the rows. */
wh_loader_t *pg_loader_new(const char *url, const char *group, char *errstr, size_t errstr_size);

#endif
