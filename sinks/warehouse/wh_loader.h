/* wh_loader: the warehouse loader — one driver that loads batches into a
 * database through a small per-database interface (wh_db_ops_t, made by
 * pg_loader_new and sqlite_loader_new).
 *
 * A write (wh_loader_write) of one integration's messages:
 *   1. each payload is parsed once, when first laid out; the trees are kept
 *      for the whole call, so that every round and retry below lays the
 *      batch out again from them, not from the JSON;
 *   2. one try, repeated as under "Retries":
 *        connect (ops->connect);
 *        databases that change their schema outside the batch's
 *          transaction (ddl_in_batch 0): read the catalog first if it is
 *          not current (never read, or tables made by something else);
 *        then at most WH_LOADER_DDL_ROUNDS rounds of:
 *          begin the batch's transaction, reading the stored offsets of its
 *            partitions (the floors) and whether the catalog is current;
 *          a catalog that is not: read it (inside the transaction; or
 *            rollback, read, next round);
 *          lay out (wh_batch) the messages the floors do not mark as
 *            loaded, so that a redelivery loads nothing twice;
 *          rejections with nowhere to go (the integration's _sdc_rejected
 *            is not ours): fail, not transient (the integration is held);
 *          tables or columns missing (or the rejections table, when there
 *            are rejections): create them — inside the transaction, or
 *            rollback, change the schema in a transaction of its own, read
 *            the catalog back (another process may have made a column
 *            first, with another type) and go to the next round;
 *          write the rows, the rejections and the offsets, and commit.
 *        A failed try is rolled back and its catalog read again next time.
 *
 * Retries: a transient error (the database is away, busy, restarting...)
 * is waited out, doubling the wait from backoff_min to backoff_max, until
 * it passes or *stop is set; out of memory is reported at once; any other
 * error is tried WH_LOADER_HARD_RETRIES times in all, then reported as
 * persistent (the integration is held). Every wait is logged at warn level.
 *
 * Memory: the loader keeps, from one write to the next, the largest batch
 * it laid out and the trees of its payloads (a steady stream of batches
 * does not allocate).
 *
 * A loader is used by one thread at a time. */
#ifndef HOOKPIPE_WH_LOADER_H
#define HOOKPIPE_WH_LOADER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_batch.h"
#include "wh_layout.h"
#include "wh_sql.h"

/* tries of something that fails with a non-transient error */
#define WH_LOADER_HARD_RETRIES 3
/* schema-change rounds of one try (each adds what the last one found) */
#define WH_LOADER_DDL_ROUNDS 8

/* What a loader call came to. */
typedef enum wh_rc {
    WH_FAIL = -1,   /* nothing done: stopped, out of memory, or (offset
                       reads) an error that persists; errstr says which */
    WH_OK = 0,      /* written and committed; or the offset was found */
    WH_NONE,        /* wh_loader_offset: no offset stored */
    WH_HOLD         /* wh_loader_write: nothing committed, for a reason of
                       this integration alone that retrying now does not
                       cure: hold its records and try again later */
} wh_rc_t;

typedef struct wh_loader wh_loader_t;

/* One integration's layout and what the database side knows of it. */
typedef struct wh_loader_entry {
    char *name;             /* the integration (owned by the loader) */
    wh_layout_t *layout;    /* owned by the loader */
    int loaded;             /* the catalog is current (0: read it again) */
    long long version;      /* the database's marker of when it was read */
} wh_loader_entry_t;

/* A database, for the driver. db is the database's own state, given to
 * wh_loader_new. Every function returning int returns 0, or -1 with the
 * error noted in the loader (wh_loader_fail, wh_loader_oom); pointers are
 * borrowed for the call. */
typedef struct wh_db_ops {
    const char *name;       /* "postgres", "sqlite": the log prefix */
    /* 1: the batch's transaction holds the schema lock (SQLite's write
       lock): the catalog is read and the schema changed inside it. 0
       (PostgreSQL): outside it, each schema change in a transaction of its
       own, the batch then begun again. */
    int ddl_in_batch;
    /* a working connection; NULL: always has one */
    int (*connect)(void *db);
    /* begins the batch's transaction: adds the stored offsets of the
       partitions of msgs to floors (locked until its end, so that another
       process loading them waits, then skips what this one loaded), and
       clears e->loaded if the catalog is no longer current */
    int (*begin)(void *db, wh_loader_entry_t *e, const wh_msg_t *msgs, size_t n,
                 wh_floors_t *floors);
    /* reads e's tables, columns and unique indexes into e->layout
       (wh_layout_reset, wh_layout_load_*, wh_layout_check); sets e->loaded */
    int (*catalog)(void *db, wh_loader_entry_t *e);
    /* creates l's pending tables and columns, and the rejections table */
    int (*ddl)(void *db, wh_layout_t *l);
    /* writes b's rows (the root's guarded by _sdc_sequence), rejections
       and offsets (never backwards), then commits */
    int (*write)(void *db, wh_layout_t *l, const wh_batch_t *b);
    /* ends an open transaction without committing; else nothing */
    void (*rollback)(void *db);
    /* the stored next offset of topic/partition: *found, and *next if so */
    int (*offset)(void *db, const char *topic, int32_t partition, int64_t *next, int *found);
    /* frees db (never NULL) */
    void (*destroy)(void *db);
} wh_db_ops_t;

/* ---- for the loader's user (wh_sink, tests) ---- */

/* A loader over ops (static) and db, which it takes over (ops->destroy
 * frees it, here on failure too), storing offsets under group (copied);
 * backoff 100 to 5000 ms. NULL with errstr on out of memory. */
wh_loader_t *wh_loader_new(const wh_db_ops_t *ops, void *db, const char *group, char *errstr,
                           size_t errstr_size);

/* Frees the loader and its database state; NULL is a no-op. */
void wh_loader_destroy(wh_loader_t *wl);

/* While *stop is non-zero, waits end early with an error (borrowed, e.g.
 * set by a signal handler). */
void wh_loader_set_stop(wh_loader_t *wl, volatile sig_atomic_t *stop);

/* Backoff between retries, doubling from min_ms to max_ms. */
void wh_loader_set_backoff(wh_loader_t *wl, int min_ms, int max_ms);

/* The next offset to consume for the loader's group and topic/partition,
 * as committed with the rows (call on partition assignment), with retries:
 * WH_OK and *next; WH_NONE if none is stored (start from the group's
 * committed offset or the reset policy); WH_FAIL with errstr (stopped, out
 * of memory, or an error that persists). */
wh_rc_t wh_loader_offset(wh_loader_t *wl, const char *topic, int32_t partition, int64_t *next,
                         char *errstr, size_t errstr_size);

/* Writes msgs[0..n) (one integration; all borrowed for the call) and their
 * offsets in one transaction, as described above. batched_at (µs since
 * the epoch, 0: now) is every row's _sdc_batched_at. WH_OK once committed;
 * WH_HOLD (errstr "integration <name>: <why>", e.g. its _sdc_rejected table
 * is not ours, or the database keeps refusing its statements; other
 * integrations are not affected); WH_FAIL with errstr if stopped or out of
 * memory. Existing tables that do not have the layout (wh_layout_check)
 * are never written or altered: the records meant for them go to
 * _sdc_rejected with the precise reason. */
wh_rc_t wh_loader_write(wh_loader_t *wl, const wh_integration_t *in, const wh_msg_t *msgs,
                        size_t n, int64_t batched_at, char *errstr, size_t errstr_size);

/* Counters since creation: batches committed, rows laid out in them (all
 * tables; older or replayed records included), records rejected, waits
 * after errors. */
typedef struct wh_loader_stats {
    uint64_t batches, rows, rejected, retries;
} wh_loader_stats_t;
void wh_loader_stats(const wh_loader_t *wl, wh_loader_stats_t *out);

/* ---- for the database side (pg_loader, sqlite_loader) ---- */

/* Notes an error: the message (printf-style, kept to one line) and whether
 * it is worth waiting out. Returns -1. */
int wh_loader_fail(wh_loader_t *wl, int transient, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Notes an allocation failure (error "out of memory"). Returns -1. */
int wh_loader_oom(wh_loader_t *wl);

/* The last error noted, and whether it is worth waiting out. */
const char *wh_loader_error(const wh_loader_t *wl);
int wh_loader_transient(const wh_loader_t *wl);

/* The consumer group the offsets are stored under (valid as wl). */
const char *wh_loader_group(const wh_loader_t *wl);

/* Sleeps ms in short steps, so that a stop is seen within 50 ms. */
void wh_loader_nap(const wh_loader_t *wl, int ms);

/* Marks every catalog as to be read again (reconnected, or another process
 * changed the schema). */
void wh_loader_invalidate(wh_loader_t *wl);

/* Calls fn(ctx, topic) once for each distinct topic of msgs[0..n). 0, or
 * the first -1 of fn. */
int wh_loader_topics(const wh_msg_t *msgs, size_t n, int (*fn)(void *ctx, const char *topic),
                     void *ctx);

/* µs since the epoch. */
int64_t wh_now_us(void);

/* ---- SQL text the same for both databases ---- */

/* How a database names table `table` of l in SQL (pg: "schema"."table",
 * SQLite: "integration.table"). */
typedef void (*wh_loader_ident_fn)(buf_t *q, const wh_layout_t *l, const char *table);

/* The columns of t, quoted, comma-separated. */
void wh_loader_sql_columns(buf_t *q, const wh_table_t *t);

/* "CREATE TABLE IF NOT EXISTS <t> (<columns and types>, PRIMARY KEY
 * (<key columns>));": the key columns (the first wh_table_nkeys) NOT NULL,
 * types named by type_name. */
void wh_loader_sql_create(buf_t *q, const wh_layout_t *l, const wh_table_t *t,
                          wh_loader_ident_fn ident, const char *(*type_name)(wh_type_t));

/* The conflict clause of the root table's INSERT ... AS <alias>: with a
 * primary key "ON CONFLICT (<keys>) DO UPDATE SET <every other column> =
 * excluded.<column> WHERE excluded._sdc_sequence > <alias>._sdc_sequence"
 * (an older or replayed record never overwrites a newer one), without one
 * "ON CONFLICT (__sdc_primary_key) DO NOTHING". */
void wh_loader_sql_upsert(buf_t *q, const wh_layout_t *l, const wh_table_t *root,
                          const char *alias);

#endif
