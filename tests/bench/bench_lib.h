/*  Shared by the benchmarks that run worker processes against PostgreSQL: failing loudly,
    one-line queries, and what /proc says about a child.                                    */
#ifndef ZM_BENCH_LIB_H
#define ZM_BENCH_LIB_H

#include "common/db.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

//  Prints "<program>: what: <the database's last error>" and exits 1 (atexit handlers run).
static inline void
bench_die (const char *what, db_t *db)
{
    fprintf (stderr, "%s: %s%s%s\n", program_invocation_short_name, what, db ? ": " : "",
             db ? db_error (db) : "");
    exit (1);
}

//  Runs a statement or dies.
static inline void
bench_exec (db_t *db, const char *sql, int n, const char *const *p)
{
    if (db_exec (db, sql, n, p, NULL) != 0)
        bench_die (sql, db);
}

//  One integer from a query without parameters, or dies.
static inline int64_t
bench_int (db_t *db, const char *sql)
{
    db_result_t *res = NULL;
    int64_t v = -1;
    if (db_exec (db, sql, 0, NULL, &res) != 0 || db_result_int64 (res, 0, 0, &v) != 0)
        bench_die (sql, db);
    db_result_destroy (&res);
    return v;
}

//  A /proc/<pid>/status field in kB (VmHWM: peak resident set), or -1.
static inline long
bench_status_kb (pid_t pid, const char *field)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    long kb = -1;
    size_t flen = strlen (field);
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, field, flen) == 0 && line [flen] == ':')
            kb = atol (line + flen + 1);
    if (f)
        fclose (f);
    return kb;
}

//  User + system CPU seconds of a process (all its threads) so far, or -1.
static inline double
bench_cpu_s (pid_t pid)
{
    char path [64], buf [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf [n] = 0;
    char *p = strrchr (buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double) (ut + st) / (double) sysconf (_SC_CLK_TCK);
}

#endif
