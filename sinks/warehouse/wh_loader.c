/* wh_loader: the warehouse driver: batch, schema rounds, write, commit, retries (wh_loader.h). */
#include "wh_loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errstr.h"
#include "log.h"
#include "sink_json.h"

/* One payload of the write in progress, parsed when first laid out. */
typedef struct wh_loader_doc {
    int parsed;
    const sink_json_node_t *root;   /* in the loader's parser; NULL: not JSON */
    size_t why;                     /* then: its reason, at errs.p + why */
} wh_loader_doc_t;

struct wh_loader {
    const wh_db_ops_t *ops;
    void *db;                       /* owned: ops->destroy */
    char *group;                    /* owned */
    volatile sig_atomic_t *stop;    /* borrowed; NULL: never stop waiting */
    int backoff_min, backoff_max;   /* ms */
    wh_loader_entry_t *entries;     /* owned, nentries of them */
    size_t nentries;
    sink_json_parser_t *parser;     /* owned: the trees of the write's payloads */
    wh_loader_doc_t *docs;          /* owned: one per message of the write */
    size_t doccap;
    buf_t errs;                  /* the reasons of payloads that are not JSON */
    wh_batch_t *batch;              /* owned: reused from one batch to the next */
    int transient;                  /* the last error is worth waiting out */
    int oom;                        /* an allocation failed in this call */
    wh_loader_stats_t stats;
    char err[512];                  /* the last error, one line */
};

wh_loader_t *wh_loader_new(const wh_db_ops_t *ops, void *db, const char *group, char *errstr,
                           size_t errstr_size) {
    wh_loader_t *wl = calloc(1, sizeof(*wl));
    if (!wl) {
        ops->destroy(db);
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    wl->ops = ops;
    wl->db = db;
    wl->backoff_min = 100;
    wl->backoff_max = 5000;
    if (!(wl->group = strdup(group)) || !(wl->parser = sink_json_parser_new(0, 0))) {
        wh_loader_destroy(wl);
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    return wl;
}

void wh_loader_destroy(wh_loader_t *wl) {
    if (!wl)
        return;
    wl->ops->destroy(wl->db);
    for (size_t i = 0; i < wl->nentries; i++) {
        free(wl->entries[i].name);
        wh_layout_destroy(wl->entries[i].layout);
    }
    free(wl->entries);
    wh_batch_destroy(wl->batch);
    sink_json_parser_destroy(wl->parser);
    free(wl->docs);
    buf_free(&wl->errs);
    free(wl->group);
    free(wl);
}

void wh_loader_set_stop(wh_loader_t *wl, volatile sig_atomic_t *stop) { wl->stop = stop; }

void wh_loader_set_backoff(wh_loader_t *wl, int min_ms, int max_ms) {
    wl->backoff_min = min_ms > 0 ? min_ms : 1;
    wl->backoff_max = max_ms >= wl->backoff_min ? max_ms : wl->backoff_min;
}

void wh_loader_stats(const wh_loader_t *wl, wh_loader_stats_t *out) { *out = wl->stats; }

static int wh_loader_stopped(const wh_loader_t *wl) { return wl->stop && *wl->stop; }

void wh_loader_nap(const wh_loader_t *wl, int ms) {
    while (ms > 0 && !wh_loader_stopped(wl)) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        ms -= step;
    }
}

/* database messages span lines; a log event is one line */
static void wh_loader_one_line(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\n' || *r == '\t' || *r == '\r') {
            if (w > s && w[-1] != ' ')
                *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

int wh_loader_fail(wh_loader_t *wl, int transient, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wl->err, sizeof(wl->err), fmt, ap);
    va_end(ap);
    wh_loader_one_line(wl->err);
    wl->transient = transient;
    return -1;
}

int wh_loader_oom(wh_loader_t *wl) {
    wl->oom = 1;
    return wh_loader_fail(wl, 0, "out of memory");
}

const char *wh_loader_error(const wh_loader_t *wl) { return wl->err; }
int wh_loader_transient(const wh_loader_t *wl) { return wl->transient; }
const char *wh_loader_group(const wh_loader_t *wl) { return wl->group; }

/* the entry of integration in (found, or made with a new empty layout);
   NULL with the error noted on out of memory or a primary key that cannot
   be a column name. Valid until the next call that adds an entry. */
static wh_loader_entry_t *wh_loader_entry(wh_loader_t *wl, const wh_integration_t *in) {
    for (size_t i = 0; i < wl->nentries; i++)
        if (strcmp(wl->entries[i].name, in->name) == 0)
            return &wl->entries[i];
    wh_loader_entry_t *ne = realloc(wl->entries, (wl->nentries + 1) * sizeof(*ne));
    if (!ne) {
        wh_loader_oom(wl);
        return NULL;
    }
    wl->entries = ne;
    wh_loader_entry_t *e = &ne[wl->nentries];
    memset(e, 0, sizeof(*e));
    char why[256] = "";
    e->layout = wh_layout_new(in->name, in->pk, in->npk, why, sizeof(why));
    if (!e->layout || !(e->name = strdup(in->name))) {
        if (!e->layout && strcmp(why, "out of memory") != 0)
            wh_loader_fail(wl, 0, "%s", why);
        else
            wh_loader_oom(wl);
        wh_layout_destroy(e->layout);
        return NULL;
    }
    wl->nentries++;
    return e;
}

void wh_loader_invalidate(wh_loader_t *wl) {
    for (size_t i = 0; i < wl->nentries; i++)
        wl->entries[i].loaded = 0;
}

/* Runs attempt(wl, ctx) until it returns 0, waiting between failures as
   wh_loader.h describes: WH_OK; WH_FAIL with errstr ("stopped: ..." or
   "out of memory") if stopped or out of memory; WH_HOLD with errstr (the
   last error) once a non-transient error persists. */
static wh_rc_t wh_loader_retry(wh_loader_t *wl, int (*attempt)(wh_loader_t *wl, void *ctx),
                               void *ctx, char *errstr, size_t errstr_size) {
    int delay = wl->backoff_min, hard = 0;
    wl->err[0] = '\0';
    wl->oom = 0;
    for (;;) {
        if (attempt(wl, ctx) == 0)
            return WH_OK;
        if (wl->oom)
            return errstr_fmt(WH_FAIL, errstr, errstr_size, "out of memory");
        if (wh_loader_stopped(wl))
            break;
        if (!wl->transient && ++hard >= WH_LOADER_HARD_RETRIES)
            return errstr_fmt(WH_HOLD, errstr, errstr_size, "%s", wl->err);
        wl->stats.retries++;
        log_warn("%s: %s; retrying in %d ms", wl->ops->name, wl->err, delay);
        wh_loader_nap(wl, delay);
        delay = delay > wl->backoff_max / 2 ? wl->backoff_max : delay * 2;
        if (wh_loader_stopped(wl))
            break;
    }
    return errstr_fmt(WH_FAIL, errstr, errstr_size, "stopped: %s", wl->err);
}

typedef struct wh_loader_offset_ctx {
    const char *topic;
    int32_t partition;
    int64_t *next;
    int found;
} wh_loader_offset_ctx_t;

static int wh_loader_offset_try(wh_loader_t *wl, void *arg) {
    wh_loader_offset_ctx_t *c = arg;
    if (wl->ops->connect && wl->ops->connect(wl->db) < 0)
        return -1;
    return wl->ops->offset(wl->db, c->topic, c->partition, c->next, &c->found);
}

wh_rc_t wh_loader_offset(wh_loader_t *wl, const char *topic, int32_t partition, int64_t *next,
                         char *errstr, size_t errstr_size) {
    wh_loader_offset_ctx_t c = {topic, partition, next, 0};
    wh_rc_t rc = wh_loader_retry(wl, wh_loader_offset_try, &c, errstr, errstr_size);
    if (rc == WH_OK)
        return c.found ? WH_OK : WH_NONE;
    return WH_FAIL;
}

/* the batch over l of the messages of msgs[0..n) that the floors f do not
   mark as loaded already, each parsed the first time it is laid out. NULL
   on out of memory (noted). Owned by wl: valid until the next call. */
static wh_batch_t *wh_loader_lay_out(wh_loader_t *wl, wh_layout_t *l, const wh_msg_t *msgs,
                                     size_t n, const wh_floors_t *f, int64_t batched_at) {
    if (wl->batch)
        wh_batch_reset(wl->batch, l, batched_at);
    else
        wl->batch = wh_batch_new(l, batched_at);
    wh_batch_t *b = wl->batch;
    int rc = b ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (wh_floors_done(f, &msgs[i]))
            continue;
        wh_loader_doc_t *d = &wl->docs[i];
        if (!d->parsed) {
            char why[256];
            if (sink_json_parse_keep(wl->parser, msgs[i].value ? msgs[i].value : "",
                                     msgs[i].value_len, &d->root, why, sizeof(why)) < 0) {
                d->root = NULL;
                d->why = wl->errs.len;
                buf_append(&wl->errs, why, strlen(why) + 1);
                if (wl->errs.oom) {
                    rc = -1;
                    break;
                }
            }
            d->parsed = 1;
        }
        rc = wh_batch_add_parsed(b, &msgs[i], d->root, d->root ? NULL : wl->errs.p + d->why);
    }
    if (rc < 0) {
        /* "unusable" after a failed add: start afresh next time */
        wh_batch_destroy(b);
        wl->batch = NULL;
        wh_loader_oom(wl);
        return NULL;
    }
    return b;
}

typedef struct wh_loader_write_ctx {
    wh_loader_entry_t *e;
    const wh_msg_t *msgs;
    size_t n;
    int64_t batched_at;
} wh_loader_write_ctx_t;

/* 1 if the catalog of e must be read (again): never read, stale, or with
   tables made by something else, which change without our knowing */
static int wh_loader_stale(const wh_loader_entry_t *e) {
    return !e->loaded || wh_layout_mismatched(e->layout);
}

/* one try at the batch: the state machine of wh_loader.h */
static int wh_loader_write_try(wh_loader_t *wl, void *arg) {
    const wh_loader_write_ctx_t *c = arg;
    const wh_db_ops_t *ops = wl->ops;
    void *db = wl->db;
    wh_loader_entry_t *e = c->e;
    wh_floors_t floors = {0};
    int rc = ops->connect ? ops->connect(db) : 0;
    if (rc == 0 && !ops->ddl_in_batch && wh_loader_stale(e))
        rc = ops->catalog(db, e);
    for (int round = 0; rc == 0; round++) {
        if (round == WH_LOADER_DDL_ROUNDS) {
            rc = wh_loader_fail(wl, 0, "schema still changing after %d rounds",
                                WH_LOADER_DDL_ROUNDS);
            break;
        }
        wh_floors_clear(&floors);
        if ((rc = ops->begin(db, e, c->msgs, c->n, &floors)) < 0)
            break;
        if (ops->ddl_in_batch ? wh_loader_stale(e) : !e->loaded) {
            if (!ops->ddl_in_batch) {
                /* another process changed the schema since we read it:
                   read it outside the batch, then begin again */
                ops->rollback(db);
                rc = ops->catalog(db, e);
                continue;
            }
            if ((rc = ops->catalog(db, e)) < 0)
                break;
        }
        wh_batch_t *b = wh_loader_lay_out(wl, e->layout, c->msgs, c->n, &floors, c->batched_at);
        if (!b) {
            rc = -1;
            break;
        }
        const char *rej = wh_layout_rejected_mismatch(e->layout);
        if (rej && wh_batch_nrejects(b) > 0) {
            /* nowhere to put this batch's rejections: hold the integration */
            rc = wh_loader_fail(wl, 0, "%s", rej);
            break;
        }
        /* rejections need their table: a batch of nothing else may be the
           integration's first */
        if (wh_layout_pending(e->layout) ||
            (wh_batch_nrejects(b) > 0 && !wh_layout_has_rejected(e->layout))) {
            if (!ops->ddl_in_batch) {
                /* create what is missing, read back what is there (another
                   process may have made a column first, with another
                   type), lay out again */
                ops->rollback(db);
                e->loaded = 0;
                if ((rc = ops->ddl(db, e->layout)) == 0)
                    rc = ops->catalog(db, e);
                continue;
            }
            if ((rc = ops->ddl(db, e->layout)) < 0)
                break;
        }
        if ((rc = ops->write(db, e->layout, b)) < 0)
            break;
        wh_floors_clear(&floors);
        wl->stats.batches++;
        wl->stats.rejected += wh_batch_nrejects(b);
        wh_table_t *root = wh_layout_find_table(e->layout, WH_ROOT_TABLE);
        size_t root_i = root ? (size_t)(root - wh_layout_table(e->layout, 0)) : 0;
        if (root && !root->mismatch && wh_batch_live_rows(b, root_i) > 0)
            for (size_t ti = 0; ti < wh_layout_ntables(e->layout); ti++)
                wl->stats.rows += wh_batch_live_rows(b, ti);
        return 0;
    }
    wh_floors_clear(&floors);
    ops->rollback(db);
    /* the catalog may be what failed: read it again next time */
    e->loaded = 0;
    return -1;
}

/* forgets the trees of the last write; room for n payloads. -1 on out of memory */
static int wh_loader_docs_reset(wh_loader_t *wl, size_t n) {
    sink_json_parser_reset(wl->parser);
    buf_reset(&wl->errs);
    if (n > wl->doccap) {
        wh_loader_doc_t *d = realloc(wl->docs, n * sizeof(*d));
        if (!d)
            return -1;
        wl->docs = d;
        wl->doccap = n;
    }
    if (n)
        memset(wl->docs, 0, n * sizeof(*wl->docs));
    return 0;
}

wh_rc_t wh_loader_write(wh_loader_t *wl, const wh_integration_t *in, const wh_msg_t *msgs,
                        size_t n, int64_t batched_at, char *errstr, size_t errstr_size) {
    wl->oom = 0;
    wh_loader_entry_t *e = wh_loader_entry(wl, in);
    if (!e)
        /* an unusable key name is this integration's alone */
        return errstr_fmt(wl->oom ? WH_FAIL : WH_HOLD, errstr, errstr_size, "integration %s: %s",
                          in->name, wl->err);
    if (wh_loader_docs_reset(wl, n) < 0)
        return errstr_fmt(WH_FAIL, errstr, errstr_size, "out of memory");
    wh_loader_write_ctx_t c = {e, msgs, n, batched_at ? batched_at : wh_now_us()};
    wh_rc_t rc = wh_loader_retry(wl, wh_loader_write_try, &c, errstr, errstr_size);
    if (rc != WH_HOLD)
        return rc;
    char why[512];
    snprintf(why, sizeof(why), "%s", errstr);
    return errstr_fmt(WH_HOLD, errstr, errstr_size, "integration %s: %s", in->name, why);
}

int64_t wh_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int wh_loader_topics(const wh_msg_t *msgs, size_t n, int (*fn)(void *ctx, const char *topic),
                     void *ctx) {
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = msgs[j].topic == msgs[i].topic || strcmp(msgs[j].topic, msgs[i].topic) == 0;
        if (!seen && fn(ctx, msgs[i].topic) < 0)
            return -1;
    }
    return 0;
}

void wh_loader_sql_columns(buf_t *q, const wh_table_t *t) {
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            buf_puts(q, ", ");
        wh_sql_ident(q, t->cols[c].name);
    }
}

void wh_loader_sql_create(buf_t *q, const wh_layout_t *l, const wh_table_t *t,
                          wh_loader_ident_fn ident, const char *(*type_name)(wh_type_t)) {
    /* the key and system columns come first in a new table */
    size_t nkey = wh_table_nkeys(l, t);
    buf_puts(q, "CREATE TABLE IF NOT EXISTS ");
    ident(q, l, t->name);
    buf_puts(q, " (");
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            buf_puts(q, ", ");
        wh_sql_ident(q, t->cols[c].name);
        buf_printf(q, " %s%s", type_name(t->cols[c].type), c < nkey ? " NOT NULL" : "");
    }
    buf_puts(q, ", PRIMARY KEY (");
    for (size_t c = 0; c < nkey; c++) {
        if (c)
            buf_puts(q, ", ");
        wh_sql_ident(q, t->cols[c].name);
    }
    buf_puts(q, "));\n");
}

void wh_loader_sql_upsert(buf_t *q, const wh_layout_t *l, const wh_table_t *root,
                          const char *alias) {
    size_t nkey = wh_layout_nkeys(l);
    buf_puts(q, " ON CONFLICT (");
    for (size_t k = 0; k < nkey; k++) {
        if (k)
            buf_puts(q, ", ");
        wh_sql_ident(q, wh_layout_key(l, k));
    }
    if (!wh_layout_has_pk(l)) {
        buf_puts(q, ") DO NOTHING");
        return;
    }
    /* the newer record replaces the whole row */
    buf_puts(q, ") DO UPDATE SET ");
    for (size_t c = nkey; c < root->ncols; c++) {
        if (c > nkey)
            buf_puts(q, ", ");
        wh_sql_ident(q, root->cols[c].name);
        buf_puts(q, " = excluded.");
        wh_sql_ident(q, root->cols[c].name);
    }
    buf_printf(q, " WHERE excluded._sdc_sequence > %s._sdc_sequence", alias);
}
