/*  The storage worker binary, killed -9 in the middle of a batch's transaction: the test
    holds a SHARE lock on miner_batches so storage blocks after it has written the batch's
    listings (uncommitted) and before its bookkeeping row; pg_stat_activity shows it waiting;
    kill -9. Nothing of the batch may survive. A restarted storage then stores the same batch
    re-sent whole, exactly once, marks the zipcode stored, and a third delivery changes
    nothing. SIGTERM then exits 0.                                                          */
#include "common/zmqx.h"
#include "tests/integration/test_storage_lib.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static const char *EPOCH = "2026-11-25T12-00-00";
static pid_t s_child = 0;

static void
s_kill_child (void)
{
    if (s_child > 0)
        kill (s_child, SIGKILL);
}

static pid_t
s_start (const char *dsn, const char *run_dir, const char *logpath)
{
    const char *env [] = { "ZM_DB_DSN", dsn, "ZM_RUN_DIR", run_dir, "ZM_NODE_NAME", "killtest",
                           NULL };
    s_child = t_spawn ("storage", logpath, env, NULL);
    return s_child;
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    tdb_t t;
    tdb_create (&t, "storage_kill");
    db_t *check = tdb_connect (&t, "test-check");
    db_t *locker = tdb_connect (&t, "test-locker");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494" };
    tdb_seed (check, EPOCH, zips, 1, 3600);
    atexit (s_kill_child);

    char run_dir [] = "/tmp/zm_storage_kill_XXXXXX";
    CHECK (mkdtemp (run_dir));
    char logpath [256], endpoint [512];
    snprintf (logpath, sizeof logpath, "%s/storage.log", run_dir);
    snprintf (endpoint, sizeof endpoint, ">ipc://%s/killtest/storage.ipc", run_dir);

    //  a 500-listing final batch
    enum { N = 500 };
    char **texts = calloc (N, sizeof *texts);
    for (int i = 0; i < N; i++) {
        texts [i] = malloc (1024);
        t_listing (texts [i], 1024, 1000 + i, "77494");
    }
    msgpack_sbuffer sb;
    t_batch (&sb, EPOCH, "77494", 7, 0, true, (const char *const *) texts, N);

    pid_t pid = s_start (t.dsn, run_dir, logpath);
    CHECK (t_wait_log (logpath, "\"event\":\"worker_ready\"", 1, 15000));
    zsock_t *push = zmqx_new (ZMQ_PUSH, endpoint, NULL);
    CHECK (push);

    //  block storage inside its transaction, after the listings went in
    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE miner_batches IN SHARE MODE", 0, NULL, NULL), 0);
    CHECK_EQ_INT (zmqx_send (push, sb.data, sb.size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_q (check, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'zipmine-storage' AND wait_event_type = 'Lock' AND state = 'active' "
                            "AND datname = current_database()",
                     1, 10000));
    printf ("storage is blocked mid-transaction; kill -9\n");
    CHECK (kill (pid, SIGKILL) == 0);
    int status = 0;
    CHECK (waitpid (pid, &status, 0) == pid);
    CHECK (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
    s_child = 0;
    CHECK_EQ_INT (db_rollback (locker), 0);
    //  the orphaned backend finishes or aborts its statement and notices its client is gone
    CHECK (t_wait_q (check, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'zipmine-storage' AND datname = current_database()", 0, 15000));
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), 0);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_batches"), 0);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_tasks WHERE status = 'leased'"), 1);
    printf ("nothing partial survived the kill\n");

    //  restart; the scraper side re-sends the batch (a new lease attempt would do the same)
    pid = s_start (t.dsn, run_dir, logpath);
    CHECK (t_wait_log (logpath, "\"event\":\"worker_ready\"", 2, 15000));
    CHECK_EQ_INT (zmqx_send (push, sb.data, sb.size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_q (check, "SELECT count(*) FROM miner_tasks WHERE status = 'stored' "
                            "AND listing_count = 500", 1, 15000));
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), N);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_batches"), 1);
    //  a third delivery: refused as closed, nothing changes
    CHECK_EQ_INT (zmqx_send (push, sb.data, sb.size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_log (logpath, "\"event\":\"batch_refused\"", 1, 10000));
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), N);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_batches"), 1);
    printf ("re-sent batch stored exactly once\n");

    CHECK_EQ_INT (t_term (&s_child, NULL), 0);

    zsock_destroy (&push);
    msgpack_sbuffer_destroy (&sb);
    for (int i = 0; i < N; i++)
        free (texts [i]);
    free (texts);
    db_destroy (&locker);
    db_destroy (&check);
    tdb_drop (&t);
    unlink (logpath);
    TEST_DONE ();
}
