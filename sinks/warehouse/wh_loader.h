/* wh_loader: what the PostgreSQL and SQLite loaders (pg_loader, sqlite_loader)
 * share — their consumer group and JSON parser, the cache of one layout per
 * integration, the error of the last attempt, and the retry loop with
 * exponential backoff that turns attempts into their answers.
 *
 * A loader embeds a wh_loader_t, sets it up with wh_loader_init and
 * releases it with wh_loader_fini. Its attempts report errors through
 * wh_loader_fail / wh_loader_oom (or by filling err and transient
 * themselves), and wh_loader_retry decides what happens next:
 *   transient (the database is away, busy, restarting...): wait and try
 *     again, doubling the wait from backoff_min to backoff_max, until it
 *     passes or *stop is set;
 *   out of memory: reported as such at once;
 *   anything else: tried WH_LOADER_HARD_RETRIES times in all, then
 *     reported as persistent.
 *
 * Used by one thread at a time (the loader's). */
#ifndef HOOKPIPE_WH_LOADER_H
#define HOOKPIPE_WH_LOADER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sink_json.h"
#include "wh_batch.h"
#include "wh_layout.h"
#include "wh_sql.h"

/* attempts at something that fails with a non-transient error */
#define WH_LOADER_HARD_RETRIES 3

/* One integration's layout and what its loader knows of it. */
typedef struct wh_loader_entry {
    char *name;             /* the integration (owned) */
    wh_layout_t *layout;    /* owned */
    int loaded;             /* the catalog was read from the database */
    long long version;      /* the loader's marker of when (pg: layout version) */
} wh_loader_entry_t;

typedef struct wh_loader {
    const char *what;               /* "postgres", "sqlite": log prefix (static) */
    char *group;                    /* consumer group of the offsets (owned) */
    volatile sig_atomic_t *stop;    /* borrowed; NULL: never stop waiting */
    int backoff_min, backoff_max;   /* ms */
    sink_json_parser_t *parser;     /* owned: for wh_batch_add */
    wh_loader_entry_t *entries;     /* owned, nentries of them */
    size_t nentries;
    int transient;                  /* the last error is worth waiting out */
    int oom;                        /* an allocation failed in this call */
    uint64_t retries;               /* waits after errors, since init */
    wh_batch_t *batch;              /* owned: reused by wh_loader_batch */
    char err[512];                  /* the last error, one line */
} wh_loader_t;

/* Sets up b (any previous content ignored) with a copy of group; backoff
 * 100 to 5000 ms. 0, or -1 with errstr on out of memory (b is then
 * finished already). */
int wh_loader_init(wh_loader_t *b, const char *what, const char *group, char *errstr,
                   size_t errstr_size);

/* Frees what b owns (every layout, the parser, the group). */
void wh_loader_fini(wh_loader_t *b);

void wh_loader_set_stop(wh_loader_t *b, volatile sig_atomic_t *stop);
/* Backoff between retries, doubling from min_ms to max_ms. */
void wh_loader_set_backoff(wh_loader_t *b, int min_ms, int max_ms);

/* 1 once *stop is set. */
int wh_loader_stopped(const wh_loader_t *b);

/* Sleeps ms in short steps, so that a stop is seen within 50 ms. */
void wh_loader_nap(const wh_loader_t *b, int ms);

/* Notes an error: err (printf-style, kept to one line) and whether it is
 * worth waiting out. Returns -1. */
int wh_loader_fail(wh_loader_t *b, int transient, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Notes an allocation failure (err "out of memory", oom set). Returns -1. */
int wh_loader_oom(wh_loader_t *b);

/* The entry of integration in (found, or made with a new empty layout; in
 * is borrowed for the call). NULL with b->err on out of memory (b->oom) or
 * a primary key that cannot be a column name. The pointer is valid until
 * the next call that adds an entry. */
wh_loader_entry_t *wh_loader_entry(wh_loader_t *b, const wh_integration_t *in);

/* Marks every catalog as to be read again (reconnected, or another process
 * changed the schema). */
void wh_loader_invalidate(wh_loader_t *b);

/* Runs attempt(ctx) until it returns a value >= 0, which is returned,
 * waiting between failures as described above. Clears b->err and b->oom
 * first. Returns -1 with errstr ("stopped: ..." or "out of memory") if
 * stopped or out of memory, -2 with errstr (the last error) once a
 * non-transient error persists. Logs every wait at warn level. */
int wh_loader_retry(wh_loader_t *b, int (*attempt)(void *ctx), void *ctx, char *errstr,
                    size_t errstr_size);

/* One try at writing a batch of one integration and its offsets in one
 * transaction: 0 committed, -1 failed (error noted in the loader). db is
 * the loader's own state; e, msgs borrowed for the call. */
typedef int (*wh_loader_write_fn)(void *db, wh_loader_entry_t *e, const wh_msg_t *msgs,
                                  size_t n, int64_t batched_at);

/* A loader's write (pg_loader_write, sqlite_loader_write): finds the
 * integration's entry, then runs attempt with retries. 0 committed; 1
 * nothing committed, for a reason of this integration alone that persists
 * (errstr "integration <name>: <why>"); -1 nothing committed, stopped or
 * out of memory. batched_at 0: now. */
int wh_loader_write(wh_loader_t *b, const wh_integration_t *in, const wh_msg_t *msgs, size_t n,
                    int64_t batched_at, wh_loader_write_fn attempt, void *db, char *errstr,
                    size_t errstr_size);

/* One try at reading a stored offset: 0 and *next, 1 none, -1 failed. */
typedef int (*wh_loader_offset_fn)(void *db, const char *topic, int32_t partition, int64_t *next);

/* A loader's offset read, with retries: 0 and *next, 1 none, -1 with
 * errstr (stopped, out of memory, or a persistent error). */
int wh_loader_offset(wh_loader_t *b, const char *topic, int32_t partition, int64_t *next,
                     wh_loader_offset_fn read, void *db, char *errstr, size_t errstr_size);

/* µs since the epoch. */
int64_t wh_now_us(void);

/* ---- what one batch needs, the same for both databases ---- */

/* Calls read(ctx, topic) once for each distinct topic of msgs[0..n), to
 * add its stored offsets to the floors. 0, or the first -1 of read. */
int wh_loader_floors(const wh_msg_t *msgs, size_t n, int (*read)(void *ctx, const char *topic),
                     void *ctx);

/* The batch over l of the messages of msgs[0..n) that the floors f do not
 * mark as loaded already. NULL on out of memory (noted in b). Owned by b:
 * valid until the next call (which reuses its memory) or wh_loader_fini. */
wh_batch_t *wh_loader_batch(wh_loader_t *b, wh_layout_t *l, const wh_msg_t *msgs, size_t n,
                            const wh_floors_t *f, int64_t batched_at);

/* How a database names table `table` of l in SQL (pg: "schema"."table",
 * SQLite: "integration.table"). */
typedef void (*wh_loader_ident_fn)(wh_sql_t *q, const wh_layout_t *l, const char *table);

/* The columns of t, quoted, comma-separated, each after "<prefix>." when
 * prefix is not NULL. */
void wh_loader_sql_columns(wh_sql_t *q, const wh_table_t *t, const char *prefix);

/* "CREATE TABLE IF NOT EXISTS <t> (<columns and types>, PRIMARY KEY
 * (<key columns>));": the key columns (the first wh_table_nkeys) NOT NULL,
 * types named by type_name. */
void wh_loader_sql_create(wh_sql_t *q, const wh_layout_t *l, const wh_table_t *t,
                          wh_loader_ident_fn ident, const char *(*type_name)(wh_type_t));

/* The conflict clause of the root table's INSERT ... AS <alias>: with a
 * primary key "ON CONFLICT (<keys>) DO UPDATE SET <every other column> =
 * excluded.<column> WHERE excluded._sdc_sequence > <alias>._sdc_sequence"
 * (an older or replayed record never overwrites a newer one), without one
 * "ON CONFLICT (__sdc_primary_key) DO NOTHING". */
void wh_loader_sql_upsert(wh_sql_t *q, const wh_layout_t *l, const wh_table_t *root,
                          const char *alias);

#endif
