/*  Helpers shared by the assigner and scraper integration tests (not a test itself: only
    test_*.c files are built). Real processes with their logs in files, a fresh database per
    test, polling with deadlines. Every helper fails the test (CHECK) rather than return an
    error.                                                                                    */
#ifndef ZM_TEST_ASSIGNER_LIB_H
#define ZM_TEST_ASSIGNER_LIB_H

#include "common/clock.h"
#include "common/db.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TL_CHILDREN_MAX 32
static pid_t tl_children [TL_CHILDREN_MAX];
static int tl_nchildren;

static inline void
tl_kill_all (void)
{
    for (int i = 0; i < tl_nchildren; i++)
        if (tl_children [i] > 0)
            kill (tl_children [i], SIGKILL);
}

//  Starts bin with the current environment plus env ("K=V", NULL-terminated), stdout and
//  stderr appended to log_path. Killed at exit.
static inline pid_t
tl_spawn (const char *bin, const char *log_path, const char *const *env)
{
    static bool registered;
    if (!registered) {
        atexit (tl_kill_all);
        registered = true;
    }
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        int fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0)
            _exit (126);
        dup2 (fd, 1);
        dup2 (fd, 2);
        for (const char *const *e = env; e && *e; e++)
            putenv ((char *) *e);
        execl (bin, bin, (char *) NULL);
        _exit (127);
    }
    CHECK (tl_nchildren < TL_CHILDREN_MAX);
    tl_children [tl_nchildren++] = pid;
    return pid;
}

//  Kills pid with sig and reaps it.
static inline void
tl_kill (pid_t pid, int sig)
{
    kill (pid, sig);
    int status;
    waitpid (pid, &status, 0);
    for (int i = 0; i < tl_nchildren; i++)
        if (tl_children [i] == pid)
            tl_children [i] = 0;
}

//  Waits for the child to exit; returns its exit code (128 + signal for a signal), -1 on
//  timeout.
static inline int
tl_wait_exit (pid_t pid, int64_t timeout_ms)
{
    int64_t end = clock_mono_ms () + timeout_ms;
    while (clock_mono_ms () < end) {
        int status;
        if (waitpid (pid, &status, WNOHANG) == pid) {
            for (int i = 0; i < tl_nchildren; i++)
                if (tl_children [i] == pid)
                    tl_children [i] = 0;
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
        usleep (20000);
    }
    return -1;
}

//  Counts lines of path containing all of needle and (if not NULL) also2.
static inline int
tl_log_count (const char *path, const char *needle, const char *also2)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    static char line [65536];
    int n = 0;
    while (fgets (line, sizeof line, f))
        if (strstr (line, needle) && (!also2 || strstr (line, also2)))
            n++;
    fclose (f);
    return n;
}

//  Waits until path has at least count lines with needle (and also2). Returns true if so.
static inline bool
tl_wait_log (const char *path, const char *needle, const char *also2, int count,
             int64_t timeout_ms)
{
    int64_t end = clock_mono_ms () + timeout_ms;
    do {
        if (tl_log_count (path, needle, also2) >= count)
            return true;
        usleep (50000);
    } while (clock_mono_ms () < end);
    return false;
}

//  The integer after "key": on the first line with needle, or 0.
static inline int64_t
tl_log_int (const char *path, const char *needle, const char *key)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    static char line [65536];
    char pat [64];
    snprintf (pat, sizeof pat, "\"%s\":", key);
    int64_t v = 0;
    while (fgets (line, sizeof line, f)) {
        char *p;
        if (strstr (line, needle) && (p = strstr (line, pat))) {
            v = atoll (p + strlen (pat));
            break;
        }
    }
    fclose (f);
    return v;
}

//  Creates a fresh database zmtest_<tag>_<pid> and returns its DSN (caller frees).
static inline char *
tl_database (const char *tag)
{
    const char *dsn = TEST_ENV ("ZM_TEST_PG_DSN");
    char err [256], sql [160], *mydsn;
    db_t *admin = db_new (dsn, "test", 5, 30000, err, sizeof err);
    CHECK (admin);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS zmtest_%s_%d", tag, (int) getpid ());
    CHECK_EQ_INT (db_exec (admin, sql, 0, NULL, NULL), 0);
    snprintf (sql, sizeof sql, "CREATE DATABASE zmtest_%s_%d", tag, (int) getpid ());
    CHECK_EQ_INT (db_exec (admin, sql, 0, NULL, NULL), 0);
    db_destroy (&admin);
    CHECK (asprintf (&mydsn, "%s dbname=zmtest_%s_%d", dsn, tag, (int) getpid ()) > 0);
    return mydsn;
}

//  Runs sql (printf-formatted with trusted test values) and returns the first column of the
//  first row as an integer (-1 for no row or NULL).
__attribute__ ((format (printf, 2, 3)))
static inline int64_t
tl_int (db_t *db, const char *fmt, ...)
{
    char sql [2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    db_result_t *res = NULL;
    int rc = db_exec (db, sql, 0, NULL, &res);
    if (rc != 0)
        fprintf (stderr, "sql failed: %s: %s\n", sql, db_error (db));
    CHECK_EQ_INT (rc, 0);
    int64_t v = -1;
    if (db_result_rows (res) > 0 && !db_result_is_null (res, 0, 0))
        CHECK (db_result_int64 (res, 0, 0, &v) == 0);
    db_result_destroy (&res);
    return v;
}

//  Same, first column as text into out ("" for no row / NULL).
__attribute__ ((format (printf, 4, 5)))
static inline void
tl_text (db_t *db, char *out, size_t size, const char *fmt, ...)
{
    char sql [2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, sql, 0, NULL, &res), 0);
    out [0] = 0;
    if (db_result_rows (res) > 0 && !db_result_is_null (res, 0, 0))
        snprintf (out, size, "%s", db_result_get (res, 0, 0));
    db_result_destroy (&res);
}

//  Waits until the query's integer equals want. Returns true if it did.
static inline bool
tl_wait_int (db_t *db, int64_t want, int64_t timeout_ms, const char *sql)
{
    int64_t end = clock_mono_ms () + timeout_ms;
    do {
        if (tl_int (db, "%s", sql) == want)
            return true;
        usleep (100000);
    } while (clock_mono_ms () < end);
    return false;
}

//  Writes text to path with mode.
static inline void
tl_write_file (const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen (path, "w");
    CHECK (f);
    fputs (text, f);
    fclose (f);
    chmod (path, mode);
}

//  A scripted external scraper (python3): argv [1] is the mode: ok, hang (argv [2]: file
//  for its grandchild's pid), crash, badjson, bigline, wrongzip, flood, exit3.
__attribute__ ((unused)) static const char tl_scraper_py [] =
    "import json, os, signal, subprocess, sys, time\n"
    "mode = sys.argv[1]\n"
    "req = json.loads(sys.stdin.readline())\n"
    "zipcode, target = req[\"zipcode\"], req[\"target_count\"]\n"
    "def listing(i, zipcode=zipcode):\n"
    "    return json.dumps({\"zpid\": 1000 + i, \"address\": \"%d Test St\" % i, \"price\": 100000 + i,\n"
    "                       \"bedrooms\": 3, \"bathrooms\": 2.0, \"sqft\": 1500,\n"
    "                       \"listing_date\": \"2026-10-01\", \"property_type\": \"SINGLE_FAMILY\",\n"
    "                       \"listing_status\": \"FOR_SALE\", \"days_on_market\": 3,\n"
    "                       \"source_url\": \"http://x/%d\" % i, \"zipcode\": zipcode})\n"
    "out = sys.stdout\n"
    "if mode == \"ok\":\n"
    "    for i in range(target):\n"
    "        print(listing(i))\n"
    "    print(\"done\", file=sys.stderr)\n"
    "elif mode == \"hang\":\n"
    "    print(listing(0)); out.flush()\n"
    "    child = subprocess.Popen([\"sleep\", \"300\"])\n"
    "    open(sys.argv[2], \"w\").write(\"%d\\n\" % child.pid)\n"
    "    time.sleep(300)\n"
    "elif mode == \"crash\":\n"
    "    print(listing(0)); print(listing(1)); out.flush()\n"
    "    os.kill(os.getpid(), signal.SIGSEGV)\n"
    "elif mode == \"badjson\":\n"
    "    for i in range(10):\n"
    "        print('{\"zpid\": %d, not json' % i)\n"
    "    print(listing(0))\n"
    "elif mode == \"bigline\":\n"
    "    out.write(\"x\" * (10 << 20) + \"\\n\")\n"
    "    for i in range(3):\n"
    "        print(listing(i))\n"
    "elif mode == \"wrongzip\":\n"
    "    for i in range(target):\n"
    "        print(listing(i, \"99999\"))\n"
    "elif mode == \"flood\":\n"
    "    i = 0\n"
    "    while True:\n"
    "        print(listing(i)); i += 1\n"
    "elif mode == \"exit3\":\n"
    "    print(listing(0))\n"
    "    sys.exit(3)\n"
    "\n"
    ;

#endif
