/* Benchmark: rows/s of pg_loader (key probe, rows of newer records replaced, COPY straight into the tables) for ~1 KB events with a primary key, half of them updates, against a raw COPY of the same rows in the same run. Prints a markdown section. */
#include <postgresql/libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../sinks/pg_loader.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void quiet(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

static int exec_ok(PGconn *db, const char *sql) {
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* rows/s of the rows by plain COPY, in batches of `batch`, into a table
   with the same columns and no key (schema bench_raw_<pid>_<r>); -1 on
   error */
static double raw_copy(PGconn *db, char **copy, int n, int batch, int r) {
    char sql[2048];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA bench_raw_%d_%d; CREATE TABLE bench_raw_%d_%d.raw "
             "(id bigint, _sdc_sequence bigint, _sdc_received_at timestamptz, "
             "_sdc_batched_at timestamptz, _sdc_table_version bigint, name text, email text, amount "
             "double precision, active boolean, address__street text, address__city text, address__zip "
             "text, status text, notes text)", (int)getpid(), r, (int)getpid(), r);
    if (exec_ok(db, sql) < 0)
        return -1;
    snprintf(sql, sizeof(sql), "COPY bench_raw_%d_%d.raw FROM STDIN", (int)getpid(), r);
    double t0 = now_s();
    for (int i = 1; i < n; i += batch) {
        int k = n - i < batch ? n - i : batch;
        if (exec_ok(db, "BEGIN") < 0)
            return -1;
        PGresult *res = PQexec(db, sql);
        PQclear(res);
        for (int j = i; j < i + k; j++)
            PQputCopyData(db, copy[j], (int)strlen(copy[j]));
        PQputCopyEnd(db, NULL);
        while ((res = PQgetResult(db)))
            PQclear(res);
        if (exec_ok(db, "COMMIT") < 0)
            return -1;
    }
    double rate = (double)(n - 1) / (now_s() - t0);
    snprintf(sql, sizeof(sql), "DROP SCHEMA bench_raw_%d_%d CASCADE", (int)getpid(), r);
    exec_ok(db, sql);
    return rate;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("HOOKPIPE_PG_URL");
    int n = argc > 2 ? atoi(argv[2]) : 50000;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    if (!url || n < 2 || runs < 1) {
        fprintf(stderr, "usage: bench_warehouse PG_URL [RECORDS] [RUNS]\n");
        return 2;
    }
    PGconn *db = PQconnectdb(url);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(db));
        return 1;
    }
    PQsetNoticeProcessor(db, quiet, NULL);
    /* events: the second half updates the keys of the first */
    char **json = calloc((size_t)n, sizeof(char *));
    char **copy = calloc((size_t)n, sizeof(char *));
    wh_msg_t *msgs = calloc((size_t)n, sizeof(wh_msg_t));
    char notes[701];
    memset(notes, 'x', 700);
    notes[700] = '\0';
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        int key = i < n / 2 ? i : i - n / 2;
        json[i] = malloc(1200);
        copy[i] = malloc(1200);
        int len = snprintf(json[i], 1200,
                           "{\"id\":%d,\"name\":\"customer %d\",\"email\":\"c%d@example.com\",\"amount\":%d.25,"
                           "\"active\":%s,\"address\":{\"street\":\"%d Main Street\",\"city\":\"Springfield\","
                           "\"zip\":\"%05d\"},\"status\":\"paid\",\"notes\":\"%s\"}",
                           key, i, i, i, i % 2 ? "true" : "false", i, i % 100000, notes);
        snprintf(copy[i], 1200, "%d\t%d\t2026-11-26 20:14:37+00\t2026-11-26 20:14:37+00\t\\N\tcustomer %d\t"
                                "c%d@example.com\t%d.25\t%s\t%d Main Street\tSpringfield\t%05d\tpaid\t%s\n",
                 key, i + 1, i, i, i, i % 2 ? "t" : "f", i, i % 100000, notes);
        bytes += (size_t)len;
        msgs[i] = (wh_msg_t){.topic = "bench", .partition = 0, .offset = i, .value = json[i],
                             .value_len = (size_t)len};
        msgs[i].sys.sequence = i + 1;
        msgs[i].sys.received_at = 1795724077000000LL;
    }
    double *loader = calloc((size_t)runs, sizeof(double)), *raw = calloc((size_t)runs, sizeof(double));
    double *ratio = calloc((size_t)runs, sizeof(double));
    const int batch = 5000;
    for (int r = 0; r < runs; r++) {
        /* the machine's load drifts: odd runs time the raw COPY first */
        double raw_first = -1;
        if (r % 2 && (raw_first = raw_copy(db, copy, n, batch, r)) < 0)
            return 1;
        char schema[64], group[64], err[512], sql[256];
        snprintf(schema, sizeof(schema), "bench_%d_%d", (int)getpid(), r);
        snprintf(group, sizeof(group), "bench-%d-%d", (int)getpid(), r);
        const char *pk = "id";
        wh_integration_t in = {schema, &pk, 1};
        pg_loader_t *ld = pg_loader_new(url, group, err, sizeof(err));
        /* the first batch creates the tables: not part of the figure */
        if (pg_loader_write(ld, &in, msgs, 1, 0, err, sizeof(err)) != 0) {
            fprintf(stderr, "loader: %s\n", err);
            return 1;
        }
        double t0 = now_s();
        for (int i = 1; i < n; i += batch) {
            int k = n - i < batch ? n - i : batch;
            if (pg_loader_write(ld, &in, msgs + i, (size_t)k, 0, err, sizeof(err)) != 0) {
                fprintf(stderr, "loader: %s\n", err);
                return 1;
            }
        }
        loader[r] = (double)(n - 1) / (now_s() - t0);
        pg_loader_destroy(ld);
        raw[r] = raw_first >= 0 ? raw_first : raw_copy(db, copy, n, batch, r);
        if (raw[r] < 0)
            return 1;
        ratio[r] = loader[r] / raw[r];
        snprintf(sql, sizeof(sql), "DROP SCHEMA \"%s\" CASCADE", schema);
        exec_ok(db, sql);
    }
    qsort(loader, (size_t)runs, sizeof(double), cmp_double);
    qsort(raw, (size_t)runs, sizeof(double), cmp_double);
    qsort(ratio, (size_t)runs, sizeof(double), cmp_double);
    double lm = loader[runs / 2], rm = raw[runs / 2];
    printf("## warehouse (PostgreSQL)\n\n");
    printf("pg_loader into Stitch-layout tables vs a raw COPY of the same rows, %d events of ~%zu bytes "
           "with a primary key (the second half updates the first), batches of %d, median of %d runs.\n\n",
           n, bytes / (size_t)n, batch, runs);
    printf("| path | rows/s |\n|---|---|\n");
    printf("| pg_loader (key probe, newer rows replaced, COPY into the tables, offsets; one "
           "transaction per batch) | %.0f |\n", lm);
    printf("| raw COPY into a table without key | %.0f |\n", rm);
    printf("\nRatio: %.0f%% of the raw COPY rate (target: at least 50%%); per run, the two timed "
           "back to back (raw first in odd runs): min %.0f%%, median %.0f%%, max %.0f%%.\n",
           100.0 * lm / rm, 100.0 * ratio[0], 100.0 * ratio[runs / 2], 100.0 * ratio[runs - 1]);
    for (int i = 0; i < n; i++) {
        free(json[i]);
        free(copy[i]);
    }
    free(json);
    free(copy);
    free(msgs);
    free(loader);
    free(raw);
    free(ratio);
    PQfinish(db);
    return 0;
}
