/*  kill -9 of the downloader binary while it works loses nothing and duplicates nothing:
    60 submissions, tier 1 absent (so nothing can be announced), the downloader is killed
    with SIGKILL as soon as it has stored some; a second downloader finishes: every
    submission ends 'downloaded' with exactly its listings (no row twice), and once tier 1
    is there each db_id is announced (at least once), all 60.                              */
#include "common/wallet.h"
#include "tests/integration/test_downloader_lib.h"

#include <signal.h>
#include <sys/wait.h>

#define EP "2026-11-25T20-00-00"
#define N  60

static pid_t s_child = 0;

static void
s_kill_child (void)
{
    if (s_child > 0)
        kill (s_child, SIGKILL);
}

static pid_t
s_start (const char *dsn, const char *wallets, const char *bucket, const char *dir,
         const char *t1)
{
    const char *env [] = {
        "ZM_DB_DSN", dsn, "ZM_WALLET_PATH", wallets, "ZM_WALLET_NAME", "val",
        "ZM_WALLET_HOTKEY", "default", "ZM_S3_ENDPOINT", TEST_ENV ("ZM_TEST_S3_ENDPOINT"),
        "ZM_S3_BUCKET", bucket, "ZM_S3_ACCESS_KEY", TEST_ENV ("ZM_TEST_S3_ACCESS_KEY"),
        "ZM_S3_SECRET_KEY", TEST_ENV ("ZM_TEST_S3_SECRET_KEY"),
        "ZM_S3_REGION", TEST_ENV ("ZM_TEST_S3_REGION"), "ZM_RUN_DIR", dir,
        "ZM_NODE_NAME", "val", "ZM_DOWNLOADER_EPOCH", EP, "ZM_DOWNLOADER_GRACE_MS", "0",
        "ZM_DOWNLOADER_TIER1_ENDPOINT", t1, "ZM_DOWNLOADER_CONSENSUS_ENDPOINT", "",
        "ZM_COORDINATOR_URL", "http://127.0.0.1:1", NULL
    };
    s_child = t_spawn ("downloader", NULL, env, NULL);
    return s_child;
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    tdl_t t;
    tdl_setup (&t, "dlkill", "all");
    atexit (s_kill_child);
    db_t *db = tdb_connect (&t.tdb, "check");
    tdl_epoch (&t, EP);
    //  60 miners on 20 zipcodes, 200 listings each
    for (int i = 0; i < N; i++) {
        char hk [32], zip [6];
        snprintf (hk, sizeof hk, "5Miner%02d", i);
        snprintf (zip, sizeof zip, "%05d", 10001 + i % 20);
        tdl_put_body (&t, hk, EP, zip, 200);
    }
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_epochs SET submission_deadline = now()",
                           0, NULL, NULL), 0);

    char dir [] = "/tmp/zm_dlkill_XXXXXX";
    CHECK (mkdtemp (dir));
    char wallets [256], t1 [300], ep [310];
    snprintf (wallets, sizeof wallets, "%s/wallets", dir);
    wallet_t *val = wallet_new_dev ("dlkill-val");
    const char *reason = NULL;
    CHECK_EQ_INT (wallet_write_hotkey (val, wallets, "val", "default", &reason), 0);
    wallet_destroy (&val);
    snprintf (t1, sizeof t1, "ipc://%s/t1.ipc", dir);

    //  first downloader: killed once it has stored some
    pid_t pid = s_start (t.tdb.dsn, wallets, t.bucket, dir, t1);
    int64_t stored = 0;
    for (int i = 0; i < 400 && stored == 0; i++) {
        usleep (25000);
        stored = tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE state = "
                              "'downloaded'", 0, NULL);
    }
    CHECK (kill (pid, SIGKILL) == 0);
    CHECK (waitpid (pid, NULL, 0) == pid);
    s_child = 0;
    printf ("killed after %lld of %d stored\n", (long long) stored, N);
    CHECK (stored > 0);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE announced_at "
                               "IS NOT NULL", 0, NULL), 0);

    //  second downloader, tier 1 there
    zmqx_opts_t o = zmqx_opts_default ();
    o.rcvtimeo_ms = 500;
    snprintf (ep, sizeof ep, "@%s", t1);
    zsock_t *pull = zmqx_new (ZMQ_PULL, ep, &o);
    CHECK (pull);
    pid = s_start (t.tdb.dsn, wallets, t.bucket, dir, t1);
    bool seen [N + 1];
    memset (seen, 0, sizeof seen);
    int distinct = 0;
    int64_t until = (int64_t) time (NULL) + 60;
    while (distinct < N && (int64_t) time (NULL) < until) {
        zmqx_frame_t f;
        if (zmqx_recv (pull, &f, 1 << 20, 0) != 0)
            continue;
        proto_submission_ready_t m;
        CHECK_EQ_INT (proto_submission_ready_decode (zmqx_frame_data (&f), zmqx_frame_size (&f),
                                                     &m, NULL), 0);
        zmqx_frame_close (&f);
        CHECK (m.db_id >= 1 && m.db_id <= N);
        CHECK_EQ_INT (m.count, 200);
        if (!seen [m.db_id]) {
            seen [m.db_id] = true;
            distinct++;
        }
    }
    CHECK_EQ_INT (distinct, N);
    CHECK_EQ_INT (t_term (&s_child, NULL), 0);

    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE state = "
                               "'downloaded' AND listing_count = 200", 0, NULL), N);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submission_listings", 0, NULL),
                  N * 200);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(DISTINCT (submission_id, doc ->> 'zpid')) FROM "
                               "validator_submission_listings", 0, NULL), N * 200);

    zsock_destroy (&pull);
    db_destroy (&db);
    tdl_teardown (&t);
    char cmd [400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
