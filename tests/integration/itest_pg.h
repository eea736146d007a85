/* itest_pg: what the PostgreSQL integration suites share, on top of the unit
 * harness: one connection `db` (the suite opens it with PQconnectdb and
 * closes it), a query's first value as text, and statements that must
 * succeed. Header-only, like harness.h: include it once per suite. */
#ifndef HOOKPIPE_ITEST_PG_H
#define HOOKPIPE_ITEST_PG_H

#include <postgresql/libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>

#include "harness.h"

static PGconn *db;

/* The first value of a query's result as text: "" for NULL, "(none)" for
 * no row, "ERROR: ..." on failure. The buffer is reused by the next call.
 * A connection broken by a server restart is reset first. */
static const char *q1(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *q1(const char *fmt, ...) {
    static char out[8192];
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (PQstatus(db) != CONNECTION_OK)
        PQreset(db);
    PGresult *res = PQexec(db, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        snprintf(out, sizeof(out), "ERROR: %s", PQresultErrorMessage(res));
    else if (PQntuples(res) < 1)
        snprintf(out, sizeof(out), "(none)");
    else
        snprintf(out, sizeof(out), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

/* Runs a statement that must succeed; a failure fails the current case. */
static void exec_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void exec_ok(const char *fmt, ...) {
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    PGresult *res = PQexec(db, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        HARNESS_FAIL("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

#endif
