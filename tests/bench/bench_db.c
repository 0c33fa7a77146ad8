/*  bench_db: rows/s storing 200k listing-like rows into miner_listings (the real schema,
    foreign key and jsonb included), four ways in one run:

      helper-text    db_copy_begin/db_copy_row/db_copy_end, text format (escaping, UTF-8 check)
      helper-binary  the same helper in binary format (jsonb as 0x01 + text)
      raw-copy       libpq alone: one prepared buffer of the whole COPY text, PQputCopyData
                     in 256 KiB pieces (the floor: no per-row work at all while timed)
      insert-batch   INSERT … VALUES ($1..$4), … 250 rows per prepared statement, one
                     transaction

    Usage: bench_db [rows]   (needs ZM_TEST_PG_DSN; creates and drops zmbench_<pid>).
    Prints rows/s per method, the client's own CPU time, and the process's peak RSS after
    each (peak RSS only grows: read each method's cost as the increase).                          */
#include "common/db.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define ZIPCODES 200
#define EPOCH "2026-11-25T12-00-00"
#define BATCH 250

static void
s_die (const char *what, db_t *db)
{
    fprintf (stderr, "bench_db: %s: %s\n", what, db ? db_error (db) : "");
    exit (1);
}

static void
s_exec (db_t *db, const char *sql)
{
    if (db_exec (db, sql, 0, NULL, NULL) != 0)
        s_die (sql, db);
}

static long
s_peak_rss_kb (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

//  The i-th listing: keys, and a document shaped like the reference's listing.
static void
s_listing (size_t i, char *zipcode, char *id, char *doc, size_t docsize)
{
    snprintf (zipcode, 6, "%05zu", 10000 + i % ZIPCODES);
    snprintf (id, 24, "%zu", 20000000 + i);
    snprintf (doc, docsize,
              "{\"zpid\":\"%zu\",\"address\":\"%zu Main St, Springfield, IL %s\","
              "\"price\":%zu,\"bedrooms\":%zu,\"bathrooms\":%zu.5,\"sqft\":%zu,"
              "\"listing_date\":\"2026-11-%02zuT10:00:00Z\",\"property_type\":\"SINGLE_FAMILY\","
              "\"listing_status\":\"FOR_SALE\",\"days_on_market\":%zu,"
              "\"source_url\":\"https://example.com/homedetails/%zu_zpid/\","
              "\"scraped_timestamp\":\"2026-11-25T11:30:00Z\",\"zipcode\":\"%s\"}",
              20000000 + i, i % 9000 + 1, zipcode, 100000 + (i * 7919) % 900000,
              i % 6 + 1, i % 4 + 1, 800 + i % 3000, i % 28 + 1, i % 120, 20000000 + i,
              zipcode);
}

//  This process's CPU time (user + system), ms: the client's own cost, which the load of a
//  shared machine disturbs much less than wall time.
static int64_t
s_cpu_ms (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (int64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void
s_report (const char *method, size_t rows, int64_t ms, int64_t cpu_ms)
{
    printf ("%-14s %8zu rows %7lld ms %10.0f rows/s   client CPU %6lld ms   peak RSS %ld KiB\n",
            method, rows, (long long) ms,
            ms > 0 ? (double) rows * 1000.0 / (double) ms : 0.0, (long long) cpu_ms,
            s_peak_rss_kb ());
    fflush (stdout);
}

static void
s_check_count (db_t *db, size_t rows)
{
    db_result_t *res = NULL;
    if (db_exec (db, "SELECT count(*) FROM miner_listings", 0, NULL, &res) != 0)
        s_die ("count", db);
    int64_t n = 0;
    db_result_int64 (res, 0, 0, &n);
    db_result_destroy (&res);
    if (n != (int64_t) rows) {
        fprintf (stderr, "bench_db: stored %lld rows, expected %zu\n", (long long) n, rows);
        exit (1);
    }
    s_exec (db, "TRUNCATE miner_listings");
}

static void
s_helper (db_t *db, size_t rows, bool binary)
{
    int64_t started = clock_mono_ms ();
    int64_t cpu = s_cpu_ms ();
    if (db_copy_begin (db, binary
            ? "COPY miner_listings (epoch_id, zipcode, listing_id, doc) FROM STDIN "
              "WITH (FORMAT binary)"
            : "COPY miner_listings (epoch_id, zipcode, listing_id, doc) FROM STDIN",
            binary) != 0)
        s_die ("copy begin", db);
    char zipcode [6], id [24], doc [1024];
    for (size_t i = 0; i < rows; i++) {
        s_listing (i, zipcode, id, doc + 1, sizeof doc - 1);
        doc [0] = 1;                        //  jsonb binary version byte
        const char *vals [] = { EPOCH, zipcode, id, binary ? doc : doc + 1 };
        size_t lens [] = { strlen (EPOCH), 5, strlen (id), strlen (doc + 1) + (binary ? 1 : 0) };
        if (db_copy_row (db, 4, vals, lens) != 0)
            s_die ("copy row", db);
    }
    int64_t stored = 0;
    if (db_copy_end (db, &stored) != 0 || stored != (int64_t) rows)
        s_die ("copy end", db);
    s_report (binary ? "helper-binary" : "helper-text", rows, clock_mono_ms () - started,
              s_cpu_ms () - cpu);
    s_check_count (db, rows);
}

static void
s_raw (const char *dsn, db_t *db, size_t rows)
{
    //  the whole COPY text, built before the clock starts
    size_t cap = rows * 700, len = 0;
    char *buf = malloc (cap);
    if (!buf)
        abort ();
    char zipcode [6], id [24], doc [1024];
    for (size_t i = 0; i < rows; i++) {
        s_listing (i, zipcode, id, doc, sizeof doc);
        len += (size_t) snprintf (buf + len, cap - len, "%s\t%s\t%s\t%s\n", EPOCH, zipcode, id,
                                  doc);
    }
    PGconn *conn = PQconnectdb (dsn);
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "bench_db: raw connect: %s", PQerrorMessage (conn));
        exit (1);
    }
    int64_t started = clock_mono_ms ();
    int64_t cpu = s_cpu_ms ();
    PGresult *res = PQexec (conn, "COPY miner_listings (epoch_id, zipcode, listing_id, doc) "
                            "FROM STDIN");
    if (PQresultStatus (res) != PGRES_COPY_IN) {
        fprintf (stderr, "bench_db: raw copy: %s", PQerrorMessage (conn));
        exit (1);
    }
    PQclear (res);
    for (size_t at = 0; at < len; at += 256 * 1024) {
        size_t n = len - at < 256 * 1024 ? len - at : 256 * 1024;
        if (PQputCopyData (conn, buf + at, (int) n) != 1) {
            fprintf (stderr, "bench_db: raw put: %s", PQerrorMessage (conn));
            exit (1);
        }
    }
    PQputCopyEnd (conn, NULL);
    res = PQgetResult (conn);
    if (PQresultStatus (res) != PGRES_COMMAND_OK) {
        fprintf (stderr, "bench_db: raw end: %s", PQerrorMessage (conn));
        exit (1);
    }
    PQclear (res);
    while ((res = PQgetResult (conn)))
        PQclear (res);
    s_report ("raw-copy", rows, clock_mono_ms () - started,
              s_cpu_ms () - cpu);
    PQfinish (conn);
    free (buf);
    s_check_count (db, rows);
}

static void
s_insert (db_t *db, size_t rows)
{
    //  INSERT … VALUES ($1,$2,$3,$4),($5,…) … for BATCH rows
    char *sql = malloc (BATCH * 48 + 256);
    if (!sql)
        abort ();
    size_t at = (size_t) sprintf (sql, "INSERT INTO miner_listings (epoch_id, zipcode, "
                                  "listing_id, doc) VALUES ");
    for (int r = 0; r < BATCH; r++)
        at += (size_t) sprintf (sql + at, "%s($%d,$%d,$%d,$%d)", r ? "," : "", 4 * r + 1,
                                4 * r + 2, 4 * r + 3, 4 * r + 4);
    if (db_prepare (db, "bench_insert", sql) != 0)
        s_die ("prepare", db);
    free (sql);

    char (*zipcodes) [6] = malloc (BATCH * sizeof *zipcodes);
    char (*ids) [24] = malloc (BATCH * sizeof *ids);
    char (*docs) [1024] = malloc (BATCH * sizeof *docs);
    const char **params = malloc (4 * BATCH * sizeof *params);
    if (!zipcodes || !ids || !docs || !params)
        abort ();
    int64_t started = clock_mono_ms ();
    int64_t cpu = s_cpu_ms ();
    if (db_begin (db) != 0)
        s_die ("begin", db);
    for (size_t i = 0; i < rows; i += BATCH) {
        size_t n = rows - i < BATCH ? rows - i : BATCH;
        for (size_t r = 0; r < n; r++) {
            s_listing (i + r, zipcodes [r], ids [r], docs [r], sizeof docs [r]);
            params [4 * r] = EPOCH;
            params [4 * r + 1] = zipcodes [r];
            params [4 * r + 2] = ids [r];
            params [4 * r + 3] = docs [r];
        }
        int rc = n == BATCH
            ? db_exec_prepared (db, "bench_insert", 4 * BATCH, params, NULL)
            : 0;
        for (size_t r = 0; rc == 0 && n < BATCH && r < n; r++)
            rc = db_exec (db, "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) "
                          "VALUES ($1, $2, $3, $4)", 4, params + 4 * r, NULL);
        if (rc != 0)
            s_die ("insert", db);
    }
    if (db_commit (db) != 0)
        s_die ("commit", db);
    s_report ("insert-batch", rows, clock_mono_ms () - started,
              s_cpu_ms () - cpu);
    free (zipcodes);
    free (ids);
    free (docs);
    free (params);
    s_check_count (db, rows);
}

int
main (int argc, char **argv)
{
    size_t rows = argc > 1 ? (size_t) strtoull (argv [1], NULL, 10) : 200000;
    const char *admin_dsn = getenv ("ZM_TEST_PG_DSN");
    if (!admin_dsn || !*admin_dsn) {
        fprintf (stderr, "bench_db: set ZM_TEST_PG_DSN (tests/services start DIR pg)\n");
        return 1;
    }
    log_set_level (LOGL_WARN);
    char err [256], dbname [64], sql [128], dsn [1200];
    snprintf (dbname, sizeof dbname, "zmbench_%d", (int) getpid ());
    db_t *admin = db_new (admin_dsn, "zipmine-bench", 5, 0, err, sizeof err);
    if (!admin)
        s_die (err, NULL);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", dbname);
    s_exec (admin, sql);
    snprintf (dsn, sizeof dsn, "%s dbname=%s", admin_dsn, dbname);

    db_t *db = db_new (dsn, "zipmine-bench", 5, 0, err, sizeof err);
    if (!db || db_migrate (db) != 0)
        s_die ("migrate", db);
    s_exec (db, "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
            "submission_deadline, target_listings, tolerance_percent, assignment) VALUES "
            "('" EPOCH "', '0123456789abcdef', now(), now(), now(), 200000, 10, '{}')");
    s_exec (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
            "SELECT '" EPOCH "', lpad((10000 + g)::text, 5, '0'), 1000 "
            "FROM generate_series(0, 199) g");
    printf ("bench_db: %zu listing rows (%d zipcodes) into miner_listings, libpq %d\n",
            rows, ZIPCODES, PQlibVersion ());
    s_helper (db, rows, false);
    s_helper (db, rows, true);
    s_insert (db, rows);
    s_raw (dsn, db, rows);
    db_destroy (&db);
    snprintf (sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", dbname);
    s_exec (admin, sql);
    db_destroy (&admin);
    return 0;
}
