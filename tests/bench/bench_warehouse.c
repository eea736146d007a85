/* Benchmark: rows/s of pg_loader (key probe, rows of newer records replaced, binary COPY straight into the tables) for ~1 KB events with a primary key, half of them updates, against a raw COPY of the same rows in the same run, by wall time and by CPU time (this process and, when it runs here, the server's processes). Prints a markdown section. */
#include <postgresql/libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "pg_loader.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the postmaster of the server (the parent of our backend), when it runs
   on this machine; 0 if not */
static long postmaster;

/* CPU seconds (user + system) of process pid from /proc; -1 if unreadable */
static double proc_cpu(long pid, long *ppid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    long pp = 0;
    /* after "pid (comm)": state ppid ... utime (14th field) stime (15th) */
    if (!p || sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &pp, &ut,
                     &st) != 3)
        return -1;
    if (ppid)
        *ppid = pp;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds so far of the server's processes: the postmaster and all its
   children (backends, WAL writer, checkpointer, autovacuum), one per
   pid, so that a process ending between two readings adds nothing */
#define BENCH_PIDS 1024
typedef struct cpu_snap {
    long pid[BENCH_PIDS];
    double cpu[BENCH_PIDS];
    int n;
    double self;    /* this process (the loader runs in it) */
} cpu_snap_t;

static void cpu_take(cpu_snap_t *s) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    s->n = 0;
    DIR *d = postmaster ? opendir("/proc") : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) && s->n < BENCH_PIDS) {
        long pid = atol(de->d_name), pp = 0;
        double c;
        if (pid > 0 && (c = proc_cpu(pid, &pp)) >= 0 && (pid == postmaster || pp == postmaster)) {
            s->pid[s->n] = pid;
            s->cpu[s->n++] = c;
        }
    }
    if (d)
        closedir(d);
}

/* server CPU seconds from a to b (processes that ended in between: lost) */
static double cpu_server(const cpu_snap_t *a, const cpu_snap_t *b) {
    double t = 0;
    for (int i = 0; i < b->n; i++) {
        double before = 0;
        for (int j = 0; j < a->n; j++)
            if (a->pid[j] == b->pid[i])
                before = a->cpu[j];
        t += b->cpu[i] - before;
    }
    return t;
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
static cpu_snap_t snap0, snap1;

/* CPU µs per row between snap0 and now: *client, *server */
static void cpu_per_row(int rows, double *client, double *server) {
    cpu_take(&snap1);
    *client = (snap1.self - snap0.self) * 1e6 / rows;
    *server = cpu_server(&snap0, &snap1) * 1e6 / rows;
}

static double raw_copy(PGconn *db, char **copy, int n, int batch, int r, double *cpu) {
    char sql[2048];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA bench_raw_%d_%d; CREATE TABLE bench_raw_%d_%d.raw "
             "(id bigint, _sdc_sequence bigint, _sdc_received_at timestamptz, "
             "_sdc_batched_at timestamptz, _sdc_table_version bigint, name text, email text, amount "
             "double precision, active boolean, address__street text, address__city text, address__zip "
             "text, status text, notes text)", (int)getpid(), r, (int)getpid(), r);
    if (exec_ok(db, sql) < 0)
        return -1;
    snprintf(sql, sizeof(sql), "COPY bench_raw_%d_%d.raw FROM STDIN", (int)getpid(), r);
    cpu_take(&snap0);
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
    cpu_per_row(n - 1, &cpu[0], &cpu[1]);
    snprintf(sql, sizeof(sql), "DROP SCHEMA bench_raw_%d_%d CASCADE", (int)getpid(), r);
    exec_ok(db, sql);
    return rate;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("HOOKPIPE_PG_URL");
    int n = argc > 2 ? atoi(argv[2]) : 50000;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    const int batch = argc > 4 ? atoi(argv[4]) : 5000;
    if (!url || n < 2 || runs < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_warehouse PG_URL [RECORDS] [RUNS] [BATCH]\n"
                        "  BENCH_LOADER_URL: the loader's connection (default PG_URL)\n");
        return 2;
    }
    PGconn *db = PQconnectdb(url);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(db));
        return 1;
    }
    PQsetNoticeProcessor(db, quiet, NULL);
    /* server CPU is counted when the server runs here (our backend's parent) */
    PGresult *pr = PQexec(db, "SELECT pg_backend_pid()");
    if (PQresultStatus(pr) == PGRES_TUPLES_OK && PQntuples(pr) == 1 &&
        proc_cpu(atol(PQgetvalue(pr, 0, 0)), &postmaster) < 0)
        postmaster = 0;
    PQclear(pr);
    /* a process of ours with that pid is not the server's backend */
    char comm[64] = "", cpath[64];
    snprintf(cpath, sizeof(cpath), "/proc/%ld/comm", postmaster);
    FILE *cf = postmaster ? fopen(cpath, "r") : NULL;
    if (cf) {
        if (!fgets(comm, sizeof(comm), cf))
            comm[0] = '\0';
        fclose(cf);
    }
    if (strncmp(comm, "postgres", 8) != 0)
        postmaster = 0;
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
    /* CPU µs per row (this process + the server), and their ratio per run */
    double *lcpu = calloc((size_t)runs, sizeof(double)), *rcpu = calloc((size_t)runs, sizeof(double));
    double *cratio = calloc((size_t)runs, sizeof(double));
    double *lcl = calloc((size_t)runs, sizeof(double)), *lsv = calloc((size_t)runs, sizeof(double));
    double *rcl = calloc((size_t)runs, sizeof(double)), *rsv = calloc((size_t)runs, sizeof(double));
    const char *lurl = getenv("BENCH_LOADER_URL") ? getenv("BENCH_LOADER_URL") : url;
    for (int r = 0; r < runs; r++) {
        /* the machine's load drifts: odd runs time the raw COPY first */
        double raw_first = -1, cpu[2] = {0, 0};
        if (r % 2 && (raw_first = raw_copy(db, copy, n, batch, r, cpu)) < 0)
            return 1;
        char schema[64], group[64], err[512], sql[256];
        snprintf(schema, sizeof(schema), "bench_%d_%d", (int)getpid(), r);
        snprintf(group, sizeof(group), "bench-%d-%d", (int)getpid(), r);
        const char *pk = "id";
        wh_integration_t in = {schema, &pk, 1};
        wh_loader_t *ld = pg_loader_new(lurl, group, err, sizeof(err));
        /* the first batch creates the tables: not part of the figure */
        if (wh_loader_write(ld, &in, msgs, 1, 0, err, sizeof(err)) != WH_OK) {
            fprintf(stderr, "loader: %s\n", err);
            return 1;
        }
        cpu_take(&snap0);
        double t0 = now_s();
        for (int i = 1; i < n; i += batch) {
            int k = n - i < batch ? n - i : batch;
            if (wh_loader_write(ld, &in, msgs + i, (size_t)k, 0, err, sizeof(err)) != WH_OK) {
                fprintf(stderr, "loader: %s\n", err);
                return 1;
            }
        }
        loader[r] = (double)(n - 1) / (now_s() - t0);
        cpu_per_row(n - 1, &lcl[r], &lsv[r]);
        lcpu[r] = lcl[r] + lsv[r];
        wh_loader_destroy(ld);
        raw[r] = raw_first >= 0 ? raw_first : raw_copy(db, copy, n, batch, r, cpu);
        if (raw[r] < 0)
            return 1;
        rcl[r] = cpu[0];
        rsv[r] = cpu[1];
        rcpu[r] = cpu[0] + cpu[1];
        ratio[r] = loader[r] / raw[r];
        cratio[r] = rcpu[r] / lcpu[r];
        snprintf(sql, sizeof(sql), "DROP SCHEMA \"%s\" CASCADE", schema);
        exec_ok(db, sql);
    }
    qsort(loader, (size_t)runs, sizeof(double), cmp_double);
    qsort(raw, (size_t)runs, sizeof(double), cmp_double);
    qsort(ratio, (size_t)runs, sizeof(double), cmp_double);
    qsort(lcpu, (size_t)runs, sizeof(double), cmp_double);
    qsort(rcpu, (size_t)runs, sizeof(double), cmp_double);
    qsort(cratio, (size_t)runs, sizeof(double), cmp_double);
    qsort(lcl, (size_t)runs, sizeof(double), cmp_double);
    qsort(lsv, (size_t)runs, sizeof(double), cmp_double);
    qsort(rcl, (size_t)runs, sizeof(double), cmp_double);
    qsort(rsv, (size_t)runs, sizeof(double), cmp_double);
    double lm = loader[runs / 2], rm = raw[runs / 2];
    printf("## warehouse (PostgreSQL)\n\n");
    printf("pg_loader into Stitch-layout tables vs a raw COPY of the same rows, %d events of ~%zu bytes "
           "with a primary key (the second half updates the first), batches of %d, median of %d runs.\n\n",
           n, bytes / (size_t)n, batch, runs);
    printf("| path | rows/s | CPU µs per row: client | server%s | total |\n|---|---|---|---|---|\n",
           postmaster ? "" : " (elsewhere: not counted)");
    int m = runs / 2;
    printf("| pg_loader (key probe, newer rows replaced, binary COPY into the tables, offsets; one "
           "transaction per batch) | %.0f | %.1f | %.1f | %.1f |\n", lm, lcl[m], lsv[m], lcpu[m]);
    printf("| raw COPY (text format) into a table without key | %.0f | %.1f | %.1f | %.1f |\n",
           rm, rcl[m], rsv[m], rcpu[m]);
    printf("\nRatio: %.0f%% of the raw COPY rate (target: at least 50%%); per run, the two timed "
           "back to back (raw first in odd runs): min %.0f%%, median %.0f%%, max %.0f%%.\n",
           100.0 * lm / rm, 100.0 * ratio[0], 100.0 * ratio[runs / 2], 100.0 * ratio[runs - 1]);
    printf("\nBy CPU time (less sensitive to the machine's other load, blind to waits such as "
           "fsync): the loader runs at "
           "%.0f%% of the raw COPY's rows per CPU-second (per run: min %.0f%%, max %.0f%%).\n",
           100.0 * cratio[runs / 2],
           100.0 * cratio[0], 100.0 * cratio[runs - 1]);
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
    free(lcpu);
    free(rcpu);
    free(cratio);
    free(lcl);
    free(lsv);
    free(rcl);
    free(rsv);
    PQfinish(db);
    return 0;
}
