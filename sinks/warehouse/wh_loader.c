/* wh_loader: layout cache, errors and retries shared by the warehouse loaders (see wh_loader.h). */
#include "wh_loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int wh_loader_init(wh_loader_t *b, const char *what, const char *group, char *errstr,
                   size_t errstr_size) {
    memset(b, 0, sizeof(*b));
    b->what = what;
    b->backoff_min = 100;
    b->backoff_max = 5000;
    if (!(b->group = strdup(group)) || !(b->parser = sink_json_parser_new(0, 0))) {
        snprintf(errstr, errstr_size, "out of memory");
        wh_loader_fini(b);
        return -1;
    }
    return 0;
}

void wh_loader_fini(wh_loader_t *b) {
    for (size_t i = 0; i < b->nentries; i++) {
        free(b->entries[i].name);
        wh_layout_destroy(b->entries[i].layout);
    }
    free(b->entries);
    wh_batch_destroy(b->batch);
    b->batch = NULL;
    sink_json_parser_destroy(b->parser);
    free(b->group);
    b->entries = NULL;
    b->nentries = 0;
    b->parser = NULL;
    b->group = NULL;
}

void wh_loader_set_stop(wh_loader_t *b, volatile sig_atomic_t *stop) { b->stop = stop; }

void wh_loader_set_backoff(wh_loader_t *b, int min_ms, int max_ms) {
    b->backoff_min = min_ms > 0 ? min_ms : 1;
    b->backoff_max = max_ms >= b->backoff_min ? max_ms : b->backoff_min;
}

int wh_loader_stopped(const wh_loader_t *b) { return b->stop && *b->stop; }

void wh_loader_nap(const wh_loader_t *b, int ms) {
    while (ms > 0 && !wh_loader_stopped(b)) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        ms -= step;
    }
}

/* database messages span lines; a log event is one line */
static void one_line(char *s) {
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

int wh_loader_fail(wh_loader_t *b, int transient, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof(b->err), fmt, ap);
    va_end(ap);
    one_line(b->err);
    b->transient = transient;
    return -1;
}

int wh_loader_oom(wh_loader_t *b) {
    b->oom = 1;
    return wh_loader_fail(b, 0, "out of memory");
}

wh_loader_entry_t *wh_loader_entry(wh_loader_t *b, const wh_integration_t *in) {
    for (size_t i = 0; i < b->nentries; i++)
        if (strcmp(b->entries[i].name, in->name) == 0)
            return &b->entries[i];
    wh_loader_entry_t *ne = realloc(b->entries, (b->nentries + 1) * sizeof(*ne));
    if (!ne) {
        wh_loader_oom(b);
        return NULL;
    }
    b->entries = ne;
    wh_loader_entry_t *e = &ne[b->nentries];
    memset(e, 0, sizeof(*e));
    char why[256] = "";
    e->layout = wh_layout_new(in->name, in->pk, in->npk, why, sizeof(why));
    if (!e->layout || !(e->name = strdup(in->name))) {
        if (!e->layout && strcmp(why, "out of memory") != 0)
            wh_loader_fail(b, 0, "%s", why);
        else
            wh_loader_oom(b);
        wh_layout_destroy(e->layout);
        return NULL;
    }
    b->nentries++;
    return e;
}

void wh_loader_invalidate(wh_loader_t *b) {
    for (size_t i = 0; i < b->nentries; i++)
        b->entries[i].loaded = 0;
}

int wh_loader_retry(wh_loader_t *b, int (*attempt)(void *ctx), void *ctx, char *errstr,
                    size_t errstr_size) {
    int delay = b->backoff_min, hard = 0;
    b->err[0] = '\0';
    b->oom = 0;
    for (;;) {
        int rc = attempt(ctx);
        if (rc >= 0)
            return rc;
        if (b->oom) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        if (wh_loader_stopped(b))
            break;
        if (!b->transient && ++hard >= WH_LOADER_HARD_RETRIES) {
            snprintf(errstr, errstr_size, "%s", b->err);
            return -2;
        }
        b->retries++;
        log_warn("%s: %s; retrying in %d ms", b->what, b->err, delay);
        wh_loader_nap(b, delay);
        delay = delay > b->backoff_max / 2 ? b->backoff_max : delay * 2;
        if (wh_loader_stopped(b))
            break;
    }
    snprintf(errstr, errstr_size, "stopped: %s", b->err);
    return -1;
}

typedef struct write_ctx {
    wh_loader_write_fn attempt;
    void *db;
    wh_loader_entry_t *e;
    const wh_msg_t *msgs;
    size_t n;
    int64_t batched_at;
} write_ctx_t;

static int write_once(void *arg) {
    write_ctx_t *c = arg;
    return c->attempt(c->db, c->e, c->msgs, c->n, c->batched_at);
}

int wh_loader_write(wh_loader_t *b, const wh_integration_t *in, const wh_msg_t *msgs, size_t n,
                    int64_t batched_at, wh_loader_write_fn attempt, void *db, char *errstr,
                    size_t errstr_size) {
    b->oom = 0;
    wh_loader_entry_t *e = wh_loader_entry(b, in);
    if (!e) {
        snprintf(errstr, errstr_size, "integration %s: %s", in->name, b->err);
        /* an unusable key name is this integration's alone */
        return b->oom ? -1 : 1;
    }
    write_ctx_t c = {attempt, db, e, msgs, n, batched_at ? batched_at : wh_now_us()};
    int rc = wh_loader_retry(b, write_once, &c, errstr, errstr_size);
    if (rc != -2)
        return rc < 0 ? -1 : 0;
    char why[512];
    snprintf(why, sizeof(why), "%s", errstr);
    snprintf(errstr, errstr_size, "integration %s: %s", in->name, why);
    return 1;
}

typedef struct offset_ctx {
    wh_loader_offset_fn read;
    void *db;
    const char *topic;
    int32_t partition;
    int64_t *next;
} offset_ctx_t;

static int offset_once(void *arg) {
    offset_ctx_t *c = arg;
    return c->read(c->db, c->topic, c->partition, c->next);
}

int wh_loader_offset(wh_loader_t *b, const char *topic, int32_t partition, int64_t *next,
                     wh_loader_offset_fn read, void *db, char *errstr, size_t errstr_size) {
    offset_ctx_t c = {read, db, topic, partition, next};
    int rc = wh_loader_retry(b, offset_once, &c, errstr, errstr_size);
    return rc < 0 ? -1 : rc;
}

int64_t wh_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int wh_loader_floors(const wh_msg_t *msgs, size_t n, int (*read)(void *ctx, const char *topic),
                     void *ctx) {
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = msgs[j].topic == msgs[i].topic || strcmp(msgs[j].topic, msgs[i].topic) == 0;
        if (!seen && read(ctx, msgs[i].topic) < 0)
            return -1;
    }
    return 0;
}

wh_batch_t *wh_loader_batch(wh_loader_t *b, wh_layout_t *l, const wh_msg_t *msgs, size_t n,
                            const wh_floors_t *f, int64_t batched_at) {
    if (b->batch)
        wh_batch_reset(b->batch, l, batched_at);
    else
        b->batch = wh_batch_new(l, batched_at);
    wh_batch_t *batch = b->batch;
    int rc = batch ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!wh_floors_done(f, &msgs[i]))
            rc = wh_batch_add(batch, b->parser, &msgs[i]);
    if (rc < 0) {
        /* "unusable" after a failed add: start afresh next time */
        wh_batch_destroy(batch);
        b->batch = NULL;
        wh_loader_oom(b);
        return NULL;
    }
    return batch;
}

void wh_loader_sql_columns(wh_sql_t *q, const wh_table_t *t, const char *prefix) {
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            wh_sql_add(q, ", ");
        if (prefix)
            wh_sql_addf(q, "%s.", prefix);
        wh_sql_ident(q, t->cols[c].name);
    }
}

void wh_loader_sql_create(wh_sql_t *q, const wh_layout_t *l, const wh_table_t *t,
                          wh_loader_ident_fn ident, const char *(*type_name)(wh_type_t)) {
    /* the key and system columns come first in a new table */
    size_t nkey = wh_table_nkeys(l, t);
    wh_sql_add(q, "CREATE TABLE IF NOT EXISTS ");
    ident(q, l, t->name);
    wh_sql_add(q, " (");
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            wh_sql_add(q, ", ");
        wh_sql_ident(q, t->cols[c].name);
        wh_sql_addf(q, " %s%s", type_name(t->cols[c].type), c < nkey ? " NOT NULL" : "");
    }
    wh_sql_add(q, ", PRIMARY KEY (");
    for (size_t c = 0; c < nkey; c++) {
        if (c)
            wh_sql_add(q, ", ");
        wh_sql_ident(q, t->cols[c].name);
    }
    wh_sql_add(q, "));\n");
}

void wh_loader_sql_upsert(wh_sql_t *q, const wh_layout_t *l, const wh_table_t *root,
                          const char *alias) {
    size_t nkey = wh_layout_nkeys(l);
    wh_sql_add(q, " ON CONFLICT (");
    for (size_t k = 0; k < nkey; k++) {
        if (k)
            wh_sql_add(q, ", ");
        wh_sql_ident(q, wh_layout_key(l, k));
    }
    if (!wh_layout_has_pk(l)) {
        wh_sql_add(q, ") DO NOTHING");
        return;
    }
    /* the newer record replaces the whole row */
    wh_sql_add(q, ") DO UPDATE SET ");
    for (size_t c = nkey; c < root->ncols; c++) {
        if (c > nkey)
            wh_sql_add(q, ", ");
        wh_sql_ident(q, root->cols[c].name);
        wh_sql_add(q, " = excluded.");
        wh_sql_ident(q, root->cols[c].name);
    }
    wh_sql_addf(q, " WHERE excluded._sdc_sequence > %s._sdc_sequence", alias);
}
