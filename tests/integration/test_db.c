/*  test_db: common/db against a real PostgreSQL (ZM_TEST_PG_DSN, a superuser conninfo).

    Each run creates its own databases (zmtest_db_<pid>, zmtest_db_<pid>_m) and drops them at
    the end. Proves: parameters round-trip hostile strings unchanged; server errors come back
    as RC_ERR with their SQLSTATE; transactions commit, roll back, and a serialization failure
    and a deadlock are RC_RETRY; COPY stores 100k hostile rows exactly (text and binary), skips a malformed row
    without sinking the batch, aborts cleanly; migrations apply once, are a no-op the second
    time and from four processes at once, detect a changed checksum and an unknown version,
    and a failing migration leaves no trace; statement_timeout fires; a killed backend gives
    RC_RETRY and the next call reconnects (also inside a transaction, which must be redone);
    reconnects back off; the DSN password never reaches the log.                            */
#include "common/db.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

static char s_admin_dsn [1024];
static char s_dsn [1200];           //  the test database
static char s_dsn_m [1200];         //  a second one for the concurrent migration test
static char s_dbname [64];
static char s_dbname_m [64];

static db_t *
s_connect (const char *dsn, int64_t statement_timeout_ms)
{
    char err [256];
    db_t *db = db_new (dsn, "zipmine-test", 5, statement_timeout_ms, err, sizeof err);
    if (!db)
        fprintf (stderr, "db_new: %s\n", err);
    CHECK (db);
    int rc = db_connect (db);
    if (rc != 0)
        fprintf (stderr, "db_connect: %s\n", db_error (db));
    CHECK_EQ_INT (rc, 0);
    return db;
}

static void
s_exec_ok (db_t *db, const char *sql)
{
    int rc = db_exec (db, sql, 0, NULL, NULL);
    if (rc != 0)
        fprintf (stderr, "%s: %s\n", sql, db_error (db));
    CHECK_EQ_INT (rc, 0);
}

//  The single value of a one-row, one-column query, as a heap string ("(null)" for NULL).
static char *
s_scalar (db_t *db, const char *sql, int nparams, const char *const *params)
{
    db_result_t *res = NULL;
    int rc = db_exec (db, sql, nparams, params, &res);
    if (rc != 0)
        fprintf (stderr, "%s: %s\n", sql, db_error (db));
    CHECK_EQ_INT (rc, 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    const char *v = db_result_get (res, 0, 0);
    char *copy = strdup (v ? v : "(null)");
    db_result_destroy (&res);
    return copy;
}

static int64_t
s_scalar_int (db_t *db, const char *sql, int nparams, const char *const *params)
{
    char *v = s_scalar (db, sql, nparams, params);
    int64_t n = strtoll (v, NULL, 10);
    free (v);
    return n;
}

static void s_drop_databases (void);

static void
s_create_databases (void)
{
    snprintf (s_dbname, sizeof s_dbname, "zmtest_db_%d", (int) getpid ());
    snprintf (s_dbname_m, sizeof s_dbname_m, "zmtest_db_%d_m", (int) getpid ());
    db_t *admin = s_connect (s_admin_dsn, 30000);
    char sql [256];
    //  database names cannot be parameters; these are built from our pid, not from input
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", s_dbname);
    s_exec_ok (admin, sql);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", s_dbname_m);
    s_exec_ok (admin, sql);
    db_destroy (&admin);
    atexit (s_drop_databases);
    //  later keywords win in a libpq conninfo string
    snprintf (s_dsn, sizeof s_dsn, "%s dbname=%s password=hunter2-secret", s_admin_dsn,
              s_dbname);
    snprintf (s_dsn_m, sizeof s_dsn_m, "%s dbname=%s", s_admin_dsn, s_dbname_m);
}

//  Runs at exit, also after a failed CHECK: no CHECKs here (exit must not re-enter).
static void
s_drop_databases (void)
{
    char err [256];
    db_t *admin = db_new (s_admin_dsn, "zipmine-test", 5, 30000, err, sizeof err);
    if (!admin)
        return;
    const char *names [] = { s_dbname, s_dbname_m };
    for (int i = 0; i < 2; i++) {
        char sql [256];
        snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", names [i]);
        if (db_exec (admin, sql, 0, NULL, NULL) != 0)
            fprintf (stderr, "%s: %s\n", sql, db_error (admin));
    }
    db_destroy (&admin);
}

static void
s_test_new (void)
{
    char err [256];
    db_t *db = db_new ("host=x password=sekrit-1 'unterminated", "t", 5, 1000, err, sizeof err);
    CHECK (db == NULL);
    CHECK (strstr (err, "not a valid") && !strstr (err, "sekrit"));
    db = db_new ("postgresql://u:sekrit-2@h:99999999/d?bogus_option=1", "t", 5, 1000, err,
                 sizeof err);
    CHECK (db == NULL);
    CHECK (!strstr (err, "sekrit"));

    //  a database that does not exist is a configuration error, not a retry
    char dsn [1200];
    snprintf (dsn, sizeof dsn, "%s dbname=zmtest_no_such_db", s_admin_dsn);
    db = db_new (dsn, "t", 5, 1000, err, sizeof err);
    CHECK (db);
    CHECK_EQ_INT (db_connect (db), RC_ERR);
    CHECK (strstr (db_error (db), "does not exist"));
    db_destroy (&db);
    db_destroy (&db);       //  no-op on NULL
}

static void
s_test_params (db_t *db)
{
    s_exec_ok (db, "CREATE TABLE t_params (id int PRIMARY KEY, s text)");
    char *big = malloc (1 << 20);
    CHECK (big);
    for (size_t i = 0; i < (1 << 20) - 1; i++)
        big [i] = "a'\"\\;$\t\n%_"[i % 10];
    big [(1 << 20) - 1] = 0;
    const char *hostile [] = {
        "'); DROP TABLE t_params; --",
        "\\", "\\N", "\\.", "\t\n\r", "$1", "$$ quoted $$", "%s%n%x",
        "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xae rtl", "", " leading and trailing ",
        "E'\\x41'", big, NULL
    };
    size_t n = sizeof hostile / sizeof hostile [0];
    CHECK_EQ_INT (db_prepare (db, "ins", "INSERT INTO t_params (id, s) VALUES ($1, $2)"), 0);
    CHECK_EQ_INT (db_prepare (db, "ins", "SELECT 1"), RC_ERR);      //  name taken
    for (size_t i = 0; i < n; i++) {
        char id [16];
        snprintf (id, sizeof id, "%zu", i);
        int rc = (i % 2)
            ? db_exec (db, "INSERT INTO t_params (id, s) VALUES ($1, $2)",
                       DB_P (id, hostile [i]), NULL)
            : db_exec_prepared (db, "ins", DB_P (id, hostile [i]), NULL);
        CHECK_EQ_INT (rc, 0);
    }
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, "SELECT id, s, length (s) FROM t_params ORDER BY id", 0, NULL,
                           &res), 0);
    CHECK_EQ_INT (db_result_rows (res), (int) n);
    CHECK_EQ_INT (db_result_cols (res), 3);
    for (size_t i = 0; i < n; i++) {
        int64_t id = -1;
        CHECK_EQ_INT (db_result_int64 (res, (int) i, 0, &id), 0);
        CHECK_EQ_INT (id, (int64_t) i);
        if (hostile [i] == NULL) {
            CHECK (db_result_is_null (res, (int) i, 1));
            CHECK (db_result_get (res, (int) i, 1) == NULL);
            CHECK_EQ_INT (db_result_int64 (res, (int) i, 2, &id), -1);   //  NULL
        }
        else {
            CHECK_EQ_STR (db_result_get (res, (int) i, 1), hostile [i]);
            CHECK_EQ_INT (db_result_length (res, (int) i, 1), strlen (hostile [i]));
        }
    }
    db_result_destroy (&res);
    db_result_destroy (&res);
    //  the table survived its hostile rows
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_params", 0, NULL), (int64_t) n);
    //  a non-integer is not parsed as one
    char *v = s_scalar (db, "SELECT '12abc'", 0, NULL);
    CHECK_EQ_STR (v, "12abc");
    free (v);
    CHECK_EQ_INT (db_exec (db, "SELECT '12abc'", 0, NULL, &res), 0);
    int64_t out = 0;
    CHECK_EQ_INT (db_result_int64 (res, 0, 0, &out), -1);
    db_result_destroy (&res);
    free (big);
}

static void
s_test_errors (db_t *db)
{
    //  unique violation: RC_ERR with the SQLSTATE and the server's words
    CHECK_EQ_INT (db_exec (db, "INSERT INTO t_params (id, s) VALUES (0, 'dup')", 0, NULL, NULL),
                  RC_ERR);
    CHECK_EQ_STR (db_sqlstate (db), "23505");
    CHECK (strstr (db_error (db), "duplicate key"));
    CHECK (strstr (db_error (db), "SQLSTATE 23505"));
    CHECK (!strchr (db_error (db), '\n'));
    //  syntax error
    CHECK_EQ_INT (db_exec (db, "SELEC 1", 0, NULL, NULL), RC_ERR);
    CHECK_EQ_STR (db_sqlstate (db), "42601");
    //  invalid UTF-8 in a parameter is the server's to refuse
    CHECK_EQ_INT (db_exec (db, "SELECT $1::text", DB_P ("\xff\xfe"), NULL), RC_ERR);
    CHECK_EQ_STR (db_sqlstate (db), "22021");
    //  and the connection is still good
    CHECK_EQ_INT (s_scalar_int (db, "SELECT 1 + $1::int", DB_P ("41")), 42);
    CHECK (db_connected (db));
}

static void
s_test_transactions (db_t *db)
{
    s_exec_ok (db, "CREATE TABLE t_tx (id int PRIMARY KEY, v int NOT NULL)");
    CHECK_EQ_INT (db_begin (db), 0);
    CHECK (db_in_transaction (db));
    s_exec_ok (db, "INSERT INTO t_tx VALUES (1, 1)");
    CHECK_EQ_INT (db_rollback (db), 0);
    CHECK (!db_in_transaction (db));
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx", 0, NULL), 0);

    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "INSERT INTO t_tx VALUES (1, 1)");
    CHECK_EQ_INT (db_commit (db), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx", 0, NULL), 1);

    //  a failed statement dooms the transaction: COMMIT must not report success
    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "INSERT INTO t_tx VALUES (2, 2)");
    CHECK_EQ_INT (db_exec (db, "INSERT INTO t_tx VALUES (1, 1)", 0, NULL, NULL), RC_ERR);
    CHECK_EQ_INT (db_commit (db), RC_ERR);
    CHECK_EQ_STR (db_sqlstate (db), "25P02");
    CHECK (!db_in_transaction (db));
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx", 0, NULL), 1);

    //  a serialization failure is RC_RETRY, and redoing the transaction works
    db_t *other = s_connect (s_dsn, 30000);
    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    CHECK_EQ_INT (s_scalar_int (db, "SELECT v FROM t_tx WHERE id = 1", 0, NULL), 1);
    s_exec_ok (other, "UPDATE t_tx SET v = 10 WHERE id = 1");
    CHECK_EQ_INT (db_exec (db, "UPDATE t_tx SET v = v + 1 WHERE id = 1", 0, NULL, NULL),
                  RC_RETRY);
    CHECK_EQ_STR (db_sqlstate (db), "40001");
    CHECK (db_connected (db));              //  the connection itself is fine
    CHECK_EQ_INT (db_rollback (db), 0);
    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    s_exec_ok (db, "UPDATE t_tx SET v = v + 1 WHERE id = 1");
    CHECK_EQ_INT (db_commit (db), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT v FROM t_tx WHERE id = 1", 0, NULL), 11);
    db_destroy (&other);
}

//  The i-th value of the COPY test: every byte COPY's text format treats specially.
static void
s_copy_value (size_t i, char *buf, size_t size)
{
    static const char *parts [] = {
        "plain", "tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "\\N", "\\.",
        "end-of-data\n\\.\n", "\xc3\xa9t\xc3\xa9", "{\"json\": [1, \"x\\ty\"]}", ""
    };
    snprintf (buf, size, "%zu:%s", i, parts [i % (sizeof parts / sizeof parts [0])]);
}

static void
s_test_copy (db_t *db)
{
    s_exec_ok (db, "CREATE TABLE t_copy (id int PRIMARY KEY, s text, n text)");
    const size_t rows = 100000;
    int64_t started = clock_mono_ms ();
    CHECK_EQ_INT (db_copy_begin (db, "COPY t_copy (id, s, n) FROM STDIN", false), 0);
    for (size_t i = 0; i < rows; i++) {
        char id [16], value [64];
        snprintf (id, sizeof id, "%zu", i);
        s_copy_value (i, value, sizeof value);
        const char *vals [] = { id, value, (i % 7 == 0) ? NULL : "\\N" };
        CHECK_EQ_INT (db_copy_row (db, 3, vals, NULL), 0);
        if (i == 500) {
            //  hostile rows are refused one by one; the COPY goes on
            const char *bad_utf8 [] = { "999999999", "\xc0\xaf overlong", "x" };
            CHECK_EQ_INT (db_copy_row (db, 3, bad_utf8, NULL), RC_MALFORMED);
            const char *surrogate [] = { "999999998", "\xed\xa0\x80", "x" };
            CHECK_EQ_INT (db_copy_row (db, 3, surrogate, NULL), RC_MALFORMED);
            const char with_nul [] = { 'a', 0, 'b' };
            const char *nul_row [] = { "999999997", with_nul, "x" };
            const size_t lens [] = { 9, 3, 1 };
            CHECK_EQ_INT (db_copy_row (db, 3, nul_row, lens), RC_MALFORMED);
        }
    }
    int64_t stored = 0;
    int rc = db_copy_end (db, &stored);
    if (rc != 0)
        fprintf (stderr, "copy: %s\n", db_error (db));
    CHECK_EQ_INT (rc, 0);
    CHECK_EQ_INT (stored, (int64_t) rows);
    printf ("COPY of %zu rows: %" PRId64 " ms\n", rows, clock_mono_ms () - started);

    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, "SELECT id, s, n FROM t_copy ORDER BY id", 0, NULL, &res), 0);
    CHECK_EQ_INT (db_result_rows (res), (int) rows);
    for (size_t i = 0; i < rows; i++) {
        char value [64];
        s_copy_value (i, value, sizeof value);
        const char *got = db_result_get (res, (int) i, 1);
        if (!got || strcmp (got, value) != 0) {
            fprintf (stderr, "row %zu: got \"%s\" want \"%s\"\n", i, got ? got : "NULL", value);
            CHECK (false);
        }
        if (i % 7 == 0)
            CHECK (db_result_is_null (res, (int) i, 2));
        else
            CHECK_EQ_STR (db_result_get (res, (int) i, 2), "\\N");
    }
    db_result_destroy (&res);

    //  a value the column cannot take fails the whole COPY, which stores nothing
    CHECK_EQ_INT (db_copy_begin (db, "COPY t_copy (id, s) FROM STDIN", false), 0);
    const char *good [] = { "200000", "ok" };
    const char *bad [] = { "not-a-number", "x" };
    CHECK_EQ_INT (db_copy_row (db, 2, good, NULL), 0);
    CHECK_EQ_INT (db_copy_row (db, 2, bad, NULL), 0);
    CHECK_EQ_INT (db_copy_end (db, &stored), RC_ERR);
    CHECK_EQ_STR (db_sqlstate (db), "22P02");
    CHECK_EQ_INT (stored, 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_copy", 0, NULL), (int64_t) rows);

    //  abort: nothing stored, connection usable
    CHECK_EQ_INT (db_copy_begin (db, "COPY t_copy (id, s) FROM STDIN", false), 0);
    CHECK_EQ_INT (db_copy_row (db, 2, good, NULL), 0);
    CHECK_EQ_INT (db_copy_abort (db, "test abort"), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_copy", 0, NULL), (int64_t) rows);

    //  binary format: int8, text with any byte but NUL, jsonb, NULL
    s_exec_ok (db, "CREATE TABLE t_copy_bin (id bigint PRIMARY KEY, s text, doc jsonb)");
    CHECK_EQ_INT (db_copy_begin (db, "COPY t_copy_bin FROM STDIN WITH (FORMAT binary)", true),
                  0);
    for (int64_t i = 0; i < 1000; i++) {
        char be [8];
        uint64_t u = (uint64_t) (i - 500) * 1000000007ULL;
        for (int k = 0; k < 8; k++)
            be [k] = (char) (u >> (56 - 8 * k));
        char text [64], doc [80];
        int tl = snprintf (text, sizeof text, "t\\\t\n%" PRId64, i);
        int dl = snprintf (doc, sizeof doc, "\x01{\"i\": %" PRId64 ", \"s\": \"a\\tb\"}", i);
        const char *vals [] = { be, text, (i % 10) ? doc : NULL };
        const size_t lens [] = { 8, (size_t) tl, (size_t) dl };
        CHECK_EQ_INT (db_copy_row (db, 3, vals, lens), 0);
    }
    rc = db_copy_end (db, &stored);
    if (rc != 0)
        fprintf (stderr, "binary copy: %s\n", db_error (db));
    CHECK_EQ_INT (rc, 0);
    CHECK_EQ_INT (stored, 1000);
    char *v = s_scalar (db, "SELECT s || '|' || (doc->>'i') || '|' || (doc->>'s') "
                        "FROM t_copy_bin WHERE id = $1", DB_P ("-499000003493"));
    CHECK_EQ_STR (v, "t\\\t\n1|1|a\tb");
    free (v);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_copy_bin WHERE doc IS NULL", 0,
                                NULL), 100);
}

static void
s_test_migrations (db_t *db)
{
    size_t count = 0;
    const db_migration_t *list = db_migrations (&count);
    CHECK (count >= 1);
    CHECK_EQ_INT (list [0].version, 1);
    CHECK_EQ_STR (list [0].name, "base");
    CHECK (list [0].sql_end > list [0].sql);
    CHECK (strstr (list [0].sql, "CREATE TABLE miner_listings"));

    CHECK_EQ_INT (db_migrate (db), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM schema_migrations", 0, NULL),
                  (int64_t) count);
    char *applied = s_scalar (db, "SELECT string_agg(version || name || applied_at, ',' "
                              "ORDER BY version) FROM schema_migrations", 0, NULL);
    //  the tables exist and take a listing
    s_exec_ok (db, "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
               "submission_deadline, target_listings, tolerance_percent, assignment) VALUES "
               "('2026-11-25T12-00-00', 'abcdef0123456789', now(), now(), now(), 10000, 10, '{}')");
    s_exec_ok (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
               "VALUES ('2026-11-25T12-00-00', '02139', 100)");
    s_exec_ok (db, "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) "
               "VALUES ('2026-11-25T12-00-00', '02139', '123', '{\"zpid\": \"123\"}')");
    CHECK_EQ_INT (db_exec (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
                           "VALUES ('2026-11-25 12:00', '2139', 1)", 0, NULL, NULL), RC_ERR);
    CHECK_EQ_STR (db_sqlstate (db), "23514");       //  the domains check ids

    //  second run: a no-op
    CHECK_EQ_INT (db_migrate (db), 0);
    char *again = s_scalar (db, "SELECT string_agg(version || name || applied_at, ',' "
                            "ORDER BY version) FROM schema_migrations", 0, NULL);
    CHECK_EQ_STR (again, applied);
    free (again);
    free (applied);

    //  a migration edited after it was applied stops the node
    db_migration_t *edited = calloc (count, sizeof *edited);
    CHECK (edited);
    memcpy (edited, list, count * sizeof *edited);
    const char *changed = "-- 0001 edited after release\nSELECT 1;\n";
    edited [0].sql = changed;
    edited [0].sql_end = changed + strlen (changed);
    CHECK_EQ_INT (db_migrate_list (db, edited, count), RC_ERR);
    CHECK (strstr (db_error (db), "0001_base was changed after it was applied"));

    //  a database migrated by a newer binary (a version this one lacks) stops it too
    if (count > 1) {
        CHECK_EQ_INT (db_migrate_list (db, list, count - 1), RC_ERR);
        CHECK (strstr (db_error (db), "does not know"));
    }
    //  the advisory lock was released on every path: another session can take it at once
    db_t *other = s_connect (s_dsn, 30000);
    char *got = s_scalar (other, "SELECT pg_try_advisory_lock(7885159271834009185)", 0, NULL);
    CHECK_EQ_STR (got, "t");
    free (got);
    db_destroy (&other);

    //  a failing migration is not recorded and leaves nothing behind; those before it stay
    memcpy (edited, list, count * sizeof *edited);
    db_migration_t *more = calloc (count + 2, sizeof *more);
    CHECK (more);
    memcpy (more, list, count * sizeof *more);
    const char *good = "CREATE TABLE t_mig_good (x int);\nINSERT INTO t_mig_good VALUES (1);\n";
    const char *bad = "CREATE TABLE t_mig_bad (x int);\nINSERT INTO t_mig_bad VALUES ('x');\n";
    more [count] = (db_migration_t) { 9998, "good", good, good + strlen (good) };
    more [count + 1] = (db_migration_t) { 9999, "bad", bad, bad + strlen (bad) };
    CHECK_EQ_INT (db_migrate_list (db, more, count + 2), RC_ERR);
    CHECK (strstr (db_error (db), "migration 9999_bad failed"));
    CHECK_EQ_STR (db_sqlstate (db), "22P02");
    CHECK_EQ_INT (s_scalar_int (db, "SELECT max(version) FROM schema_migrations", 0, NULL),
                  9998);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                "'t_mig_bad'", 0, NULL), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT x FROM t_mig_good", 0, NULL), 1);
    CHECK (!db_in_transaction (db));
    free (more);
    free (edited);
}

//  Four processes of one node start together on an empty database: each migration is
//  applied exactly once (a second application would fail on CREATE TABLE, so every child
//  must exit 0) and all of them find the schema complete.
static void
s_test_migrations_concurrent (void)
{
    enum { CHILDREN = 4 };
    pid_t pids [CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        pids [i] = fork ();
        CHECK (pids [i] >= 0);
        if (pids [i] == 0) {
            char err [256];
            db_t *db = db_new (s_dsn_m, "zipmine-test-child", 5, 30000, err, sizeof err);
            int rc = db ? db_migrate (db) : RC_ERR;
            if (rc != 0)
                fprintf (stderr, "child %d: %s\n", i, db ? db_error (db) : err);
            db_destroy (&db);
            _exit (rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < CHILDREN; i++) {
        int status = 0;
        CHECK (waitpid (pids [i], &status, 0) == pids [i]);
        CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    size_t count;
    db_migrations (&count);
    db_t *db = s_connect (s_dsn_m, 30000);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(DISTINCT version) FROM schema_migrations",
                                0, NULL), (int64_t) count);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM schema_migrations", 0, NULL),
                  (int64_t) count);
    db_destroy (&db);
}

//  Two transactions lock two rows in opposite orders: PostgreSQL aborts one with 40P01, which
//  must come back as RC_RETRY; the other commits.
static void
s_test_deadlock (void)
{
    db_t *db = s_connect (s_dsn, 30000);
    s_exec_ok (db, "CREATE TABLE t_dead (id int PRIMARY KEY, v int)");
    s_exec_ok (db, "INSERT INTO t_dead VALUES (1, 0), (2, 0)");
    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "SET LOCAL deadlock_timeout = '100ms'");
    s_exec_ok (db, "UPDATE t_dead SET v = v + 1 WHERE id = 1");
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        char err [256];
        db_t *child = db_new (s_dsn, "zipmine-test-deadlock", 5, 30000, err, sizeof err);
        int rc = child ? db_begin (child) : RC_ERR;
        if (rc == 0)
            rc = db_exec (child, "SET LOCAL deadlock_timeout = '100ms'", 0, NULL, NULL);
        if (rc == 0)
            rc = db_exec (child, "UPDATE t_dead SET v = v + 10 WHERE id = 2", 0, NULL, NULL);
        if (rc == 0)
            rc = db_exec (child, "UPDATE t_dead SET v = v + 10 WHERE id = 1", 0, NULL, NULL);
        int code = 3;
        if (rc == 0)
            code = db_commit (child) == 0 ? 0 : 3;
        else
        if (rc == RC_RETRY && strcmp (db_sqlstate (child), "40P01") == 0)
            code = 2;
        db_destroy (&child);
        _exit (code);
    }
    //  wait until the child blocks on row 1, then ask for row 2
    db_t *watch = s_connect (s_dsn, 30000);
    int waited = 0;
    while (s_scalar_int (watch, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                         "AND application_name = 'zipmine-test-deadlock' "
                         "AND wait_event_type = 'Lock'", DB_P (s_dbname)) == 0) {
        CHECK (waited++ < 500);
        usleep (10000);
    }
    db_destroy (&watch);
    int rc = db_exec (db, "UPDATE t_dead SET v = v + 1 WHERE id = 2", 0, NULL, NULL);
    if (rc == 0)
        CHECK_EQ_INT (db_commit (db), 0);
    else {
        CHECK_EQ_INT (rc, RC_RETRY);
        CHECK_EQ_STR (db_sqlstate (db), "40P01");
        CHECK (db_connected (db));
        CHECK_EQ_INT (db_rollback (db), 0);
    }
    int status = 0;
    CHECK (waitpid (pid, &status, 0) == pid && WIFEXITED (status));
    int child = WEXITSTATUS (status);
    //  exactly one side was chosen as the victim
    CHECK ((rc == RC_RETRY && child == 0) || (rc == 0 && child == 2));
    CHECK_EQ_INT (s_scalar_int (db, "SELECT sum(v) FROM t_dead", 0, NULL), rc == 0 ? 2 : 20);
    db_destroy (&db);
}

static void
s_test_statement_timeout (void)
{
    db_t *db = s_connect (s_dsn, 300);
    int64_t started = clock_mono_ms ();
    CHECK_EQ_INT (db_exec (db, "SELECT pg_sleep(5)", 0, NULL, NULL), RC_ERR);
    int64_t took = clock_mono_ms () - started;
    CHECK_EQ_STR (db_sqlstate (db), "57014");
    CHECK (took >= 250 && took < 2000);
    char *v = s_scalar (db, "SHOW statement_timeout", 0, NULL);
    CHECK_EQ_STR (v, "300ms");
    free (v);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT 7", 0, NULL), 7);
    db_destroy (&db);
}

//  Terminates the backend serving db from another session, and waits until it is gone.
static void
s_kill_backend (db_t *db, db_t *admin)
{
    char *pid = s_scalar (db, "SELECT pg_backend_pid()", 0, NULL);
    char *ok = s_scalar (admin, "SELECT pg_terminate_backend($1::int)", DB_P (pid));
    CHECK_EQ_STR (ok, "t");
    free (ok);
    for (int i = 0; i < 100; i++) {
        if (s_scalar_int (admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
                          DB_P (pid)) == 0)
            break;
        usleep (20000);
    }
    free (pid);
}

static void
s_test_reconnect (void)
{
    db_t *admin = s_connect (s_admin_dsn, 30000);
    db_t *db = s_connect (s_dsn, 30000);
    CHECK_EQ_INT (db_prepare (db, "add", "SELECT $1::int + 1"), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx", 0, NULL), 1);
    char *pid_before = s_scalar (db, "SELECT pg_backend_pid()", 0, NULL);
    CHECK_EQ_INT (db_exec_prepared (db, "add", DB_P ("1"), NULL), 0);

    s_kill_backend (db, admin);
    CHECK_EQ_INT (db_exec (db, "SELECT 1", 0, NULL, NULL), RC_RETRY);
    CHECK (!db_connected (db));
    //  the next call reconnects, and prepared statements are prepared again
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec_prepared (db, "add", DB_P ("41"), &res), 0);
    CHECK_EQ_STR (db_result_get (res, 0, 0), "42");
    db_result_destroy (&res);
    char *pid_after = s_scalar (db, "SELECT pg_backend_pid()", 0, NULL);
    CHECK (strcmp (pid_before, pid_after) != 0);
    free (pid_before);
    free (pid_after);
    //  the session settings came back with the new connection
    char *v = s_scalar (db, "SELECT current_setting('application_name') || ' ' || "
                        "current_setting('statement_timeout')", 0, NULL);
    CHECK_EQ_STR (v, "zipmine-test 30s");
    free (v);

    //  lost inside a transaction: nothing may run until the caller rolls back and redoes it
    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "INSERT INTO t_tx VALUES (100, 100)");
    s_kill_backend (db, admin);
    CHECK_EQ_INT (db_exec (db, "INSERT INTO t_tx VALUES (101, 101)", 0, NULL, NULL), RC_RETRY);
    CHECK_EQ_INT (db_exec (db, "INSERT INTO t_tx VALUES (102, 102)", 0, NULL, NULL), RC_RETRY);
    CHECK (strstr (db_error (db), "inside a transaction"));
    CHECK_EQ_INT (db_commit (db), RC_RETRY);
    CHECK_EQ_INT (db_rollback (db), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx WHERE id >= 100", 0, NULL), 0);
    CHECK_EQ_INT (db_begin (db), 0);
    s_exec_ok (db, "INSERT INTO t_tx VALUES (100, 100)");
    CHECK_EQ_INT (db_commit (db), 0);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx WHERE id >= 100", 0, NULL), 1);

    //  lost during a COPY
    CHECK_EQ_INT (db_copy_begin (db, "COPY t_tx (id, v) FROM STDIN", false), 0);
    const char *row [] = { "300", "300" };
    CHECK_EQ_INT (db_copy_row (db, 2, row, NULL), 0);
    char *pid = s_scalar (admin, "SELECT pid FROM pg_stat_activity WHERE datname = $1 "
                          "AND application_name = 'zipmine-test' AND query LIKE 'COPY t_tx%'",
                          DB_P (s_dbname));
    char *ok = s_scalar (admin, "SELECT pg_terminate_backend($1::int)", DB_P (pid));
    CHECK_EQ_STR (ok, "t");
    free (ok);
    free (pid);
    usleep (200000);
    CHECK_EQ_INT (db_copy_end (db, NULL), RC_RETRY);
    CHECK_EQ_INT (s_scalar_int (db, "SELECT count(*) FROM t_tx WHERE id = 300", 0, NULL), 0);
    db_destroy (&db);
    db_destroy (&admin);

    //  a server that is not there: RC_RETRY, then attempts are spaced by the backoff
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)
    };
    CHECK (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0);
    socklen_t alen = sizeof addr;
    CHECK (getsockname (fd, (struct sockaddr *) &addr, &alen) == 0);
    close (fd);             //  nobody listens there now
    char dsn [256], err [256];
    snprintf (dsn, sizeof dsn, "host=127.0.0.1 port=%d user=postgres dbname=x "
              "password=hunter2-secret", ntohs (addr.sin_port));
    db = db_new (dsn, "zipmine-test", 2, 1000, err, sizeof err);
    CHECK (db);
    CHECK_EQ_INT (db_connect (db), RC_RETRY);
    CHECK (strstr (db_error (db), "connect"));
    CHECK_EQ_INT (db_exec (db, "SELECT 1", 0, NULL, NULL), RC_RETRY);     //  immediate retry
    CHECK (db_retry_in_ms (db) > 0);                                      //  now backing off
    int64_t started = clock_mono_ms ();
    CHECK_EQ_INT (db_exec (db, "SELECT 1", 0, NULL, NULL), RC_RETRY);
    CHECK (strstr (db_error (db), "next attempt in"));
    CHECK (clock_mono_ms () - started < 200);                             //  did not block
    db_destroy (&db);
}

int
main (void)
{
    snprintf (s_admin_dsn, sizeof s_admin_dsn, "%s", TEST_ENV ("ZM_TEST_PG_DSN"));
    //  logs go to a file, checked at the end for the password
    char logpath [] = "/tmp/zm_test_db_log_XXXXXX";
    int logfd = mkstemp (logpath);
    CHECK (logfd >= 0);
    log_set_proc ("test_db");
    log_set_fd (logfd);

    s_test_new ();
    s_create_databases ();
    db_t *db = s_connect (s_dsn, 30000);
    s_test_params (db);
    s_test_errors (db);
    s_test_transactions (db);
    s_test_copy (db);
    s_test_migrations (db);
    db_destroy (&db);
    s_test_migrations_concurrent ();
    s_test_deadlock ();
    s_test_statement_timeout ();
    s_test_reconnect ();

    //  the DSN's password never reached a log line, though connections were logged
    char logbuf [1 << 16];
    ssize_t n = pread (logfd, logbuf, sizeof logbuf - 1, 0);
    CHECK (n > 0);
    logbuf [n] = 0;
    CHECK (strstr (logbuf, "\"event\":\"db_connected\""));
    CHECK (strstr (logbuf, "\"event\":\"db_connection_lost\""));
    CHECK (strstr (logbuf, "\"event\":\"db_migration_applied\""));
    CHECK (!strstr (logbuf, "hunter2"));
    CHECK (!strstr (logbuf, "sekrit"));
    log_set_fd (2);         //  before logfd's number can be reused by a socket
    close (logfd);
    unlink (logpath);
    TEST_DONE ();
}
