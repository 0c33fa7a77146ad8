/*  The storage binary through a database outage, with real PostgreSQL: the test closes the
    database to new connections (ALTER DATABASE ... ALLOW_CONNECTIONS false) and terminates
    storage's backend, so every reconnect is refused until it opens the database again.
      - two batches of one zipcode sent during the outage: the writer thread keeps the batch
        in hand and retries (batch_retry logged), the process stays up, nothing is stored;
        once the database opens, both are stored exactly once and the zipcode completes;
      - SIGTERM during an outage with a batch in hand: the batch is tried once more and
        given up (storage_drain_batch_kept_unstored), storage exits 0 within a second or two,
        nothing of it is stored (its lease expires and it is scraped again).
    First, a frame that is no batch at all is refused (malformed) and the worker goes on.     */
#include "common/clock.h"
#include "common/zmqx.h"
#include "tests/integration/test_storage_lib.h"

#include <signal.h>
#include <sys/wait.h>

static const char *EPOCH = "2026-11-25T12-00-00";
static pid_t s_child = 0;
static tdb_t *s_tdb = NULL;
static char s_run_dir [64];

static void
s_cleanup (void)
{
    if (s_child > 0) {
        kill (s_child, SIGKILL);
        waitpid (s_child, NULL, 0);
        s_child = 0;
    }
    tdb_cleanup (s_tdb, s_run_dir);
}

static pid_t
s_start (const char *dsn, const char *run_dir, const char *logpath)
{
    const char *env [] = { "ZM_DB_DSN", dsn, "ZM_RUN_DIR", run_dir, "ZM_NODE_NAME", "outage",
                           "ZM_DB_CONNECT_TIMEOUT_S", "2", NULL };
    s_child = t_spawn ("storage", logpath, env, NULL);
    return s_child;
}

//  Closes (or opens) the test database to new connections; on close, ends storage's session.
static void
s_outage (tdb_t *t, bool on)
{
    char sql [200];
    snprintf (sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS %s", t->name,
              on ? "false" : "true");
    CHECK_EQ_INT (db_exec (t->admin, sql, 0, NULL, NULL), 0);
    if (on)
        CHECK_EQ_INT (db_exec (t->admin, "SELECT pg_terminate_backend (pid) FROM pg_stat_activity "
                                         "WHERE application_name = 'zipmine-storage' AND datname = $1",
                               DB_P (t->name), NULL), 0);
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    tdb_t t;
    tdb_create (&t, "storage_outage");
    s_tdb = &t;
    atexit (s_cleanup);
    db_t *check = tdb_connect (&t, "test-check");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494", "10001" };
    tdb_seed (check, EPOCH, zips, 2, 3600);

    char run_dir [] = "/tmp/zm_storage_outage_XXXXXX";
    CHECK (mkdtemp (run_dir));
    snprintf (s_run_dir, sizeof s_run_dir, "%s", run_dir);
    char logpath [256], endpoint [512];
    snprintf (logpath, sizeof logpath, "%s/storage.log", run_dir);
    snprintf (endpoint, sizeof endpoint, ">ipc://%s/outage/storage.ipc", run_dir);

    enum { N = 200 };
    char **texts = calloc (N, sizeof *texts);
    for (int i = 0; i < N; i++)
        texts [i] = malloc (1024);
    msgpack_sbuffer sb [3];
    for (int b = 0; b < 3; b++) {
        const char *zip = b < 2 ? "77494" : "10001";
        for (int i = 0; i < N; i++)
            t_listing (texts [i], 1024, 1000 + b * N + i, zip);
        t_batch (&sb [b], EPOCH, zip, 7, b < 2 ? (uint32_t) b : 0, b >= 1,
                 (const char *const *) texts, N);
    }

    pid_t pid = s_start (t.dsn, run_dir, logpath);
    CHECK (t_wait_log (logpath, "\"event\":\"worker_ready\"", 1, 30000));
    zsock_t *push = zmqx_new (ZMQ_PUSH, endpoint, NULL);
    CHECK (push);
    //  bytes that are no batch: refused on the writer thread, counted on the loop, no harm
    CHECK_EQ_INT (zmqx_send (push, "\xdd\xff\xff\xff\xff", 5, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_log (logpath, "\"event\":\"batch_refused\",\"outcome\":\"malformed\"", 1, 10000));

    //  outage with two batches of a zipcode sent
    s_outage (&t, true);
    CHECK_EQ_INT (zmqx_send (push, sb [0].data, sb [0].size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK_EQ_INT (zmqx_send (push, sb [1].data, sb [1].size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_log (logpath, "\"event\":\"batch_retry\"", 1, 15000));
    usleep (1500 * 1000);
    CHECK (kill (pid, 0) == 0);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), 0);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_batches"), 0);
    printf ("outage: batches kept, retried, nothing stored\n");
    s_outage (&t, false);
    CHECK (t_wait_q (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '77494' AND "
                            "status = 'stored' AND listing_count = 400", 1, 30000));
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_batches"), 2);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), 2 * N);
    CHECK_EQ_INT (t_log_count (logpath, "\"event\":\"zipcode_stored\""), 1);
    printf ("database back: both batches stored once, zipcode complete\n");

    //  SIGTERM during an outage with a batch in hand
    s_outage (&t, true);
    CHECK_EQ_INT (zmqx_send (push, sb [2].data, sb [2].size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_log (logpath, "\"event\":\"batch_retry\"", 2, 15000));
    int64_t ms = 0;
    int code = t_term (&s_child, &ms);
    printf ("SIGTERM during the outage: exit %d after %lld ms\n", code, (long long) ms);
    CHECK_EQ_INT (code, 0);
    CHECK (ms < 5000);
    CHECK_EQ_INT (t_log_count (logpath, "\"event\":\"storage_drain_batch_kept_unstored\""), 1);
    s_outage (&t, false);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings WHERE zipcode = '10001'"), 0);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '10001' AND "
                              "status = 'leased'"), 1);

    zsock_destroy (&push);
    for (int b = 0; b < 3; b++)
        msgpack_sbuffer_destroy (&sb [b]);
    for (int i = 0; i < N; i++)
        free (texts [i]);
    free (texts);
    db_destroy (&check);
    s_tdb = NULL;
    tdb_drop (&t);
    TEST_DONE ();
}
