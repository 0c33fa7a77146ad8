/*  The uploader binary keeps heartbeating while an S3 call hangs: S3 is a black hole (a
    listener that never answers), the test plays the supervisor's ROUTER and counts the
    heartbeats that arrive while the upload is stuck. Then SIGTERM: the worker exits within
    its shutdown budget (with 1, as the call in flight could not finish), and the intent it
    left is in the ledger for the next start.                                              */
#include "common/clock.h"
#include "common/wallet.h"
#include "common/zmqx.h"
#include "tests/integration/test_uploader_lib.h"

#include <signal.h>
#include <sys/wait.h>

static const char *EPOCH = "2026-11-25T12-00-00";
static pid_t s_child = 0;

static void
s_kill_child (void)
{
    if (s_child > 0)
        kill (s_child, SIGKILL);
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    tdb_t t;
    tdb_create (&t, "uploader_hb");
    db_t *check = tdb_connect (&t, "test-check");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494" };
    tdb_seed (check, EPOCH, zips, 1, 3600);
    t_store (check, EPOCH, "77494", 100, 5);
    atexit (s_kill_child);

    //  the black hole: accepts connections (backlog) and never answers
    int hole = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK (bind (hole, (struct sockaddr *) &a, sizeof a) == 0 && listen (hole, 16) == 0);
    socklen_t alen = sizeof a;
    CHECK (getsockname (hole, (struct sockaddr *) &a, &alen) == 0);
    char s3ep [64];
    snprintf (s3ep, sizeof s3ep, "http://127.0.0.1:%d", ntohs (a.sin_port));

    char dir [] = "/tmp/zm_uploader_hb_XXXXXX";
    CHECK (mkdtemp (dir));
    char wallets [256], logpath [256], sup [300];
    snprintf (wallets, sizeof wallets, "%s/wallets", dir);
    snprintf (logpath, sizeof logpath, "%s/uploader.log", dir);
    wallet_t *hot = wallet_new_dev ("hb-miner");
    const char *reason = NULL;
    CHECK (wallet_write_hotkey (hot, wallets, "miner", "default", &reason) == 0);
    zsock_t *router = t_sup_router (dir, "sup", sup, sizeof sup);

    const char *env [] = {
        "ZM_DB_DSN", t.dsn, "ZM_RUN_DIR", dir, "ZM_NODE_NAME", "hb",
        "ZM_WALLET_PATH", wallets, "ZM_WALLET_NAME", "miner",
        "ZM_WALLET_COLDKEY", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        "ZM_S3_MODE", "direct", "ZM_S3_ENDPOINT", s3ep, "ZM_S3_BUCKET", "zipmine",
        "ZM_S3_ACCESS_KEY", "k", "ZM_S3_SECRET_KEY", "s", "ZM_S3_TIMEOUT_MS", "20000",
        "ZM_COORDINATOR_URL", "http://127.0.0.1:1", "ZM_HEARTBEAT_MS", "200",
        "ZM_SHUTDOWN_BUDGET_MS", "2000", "ZM_SUP_ENDPOINT", sup,
        "ZM_WORKER_NAME", "uploader", "ZM_WORKER_INDEX", "0", NULL
    };
    pid_t pid = t_spawn ("uploader", logpath, env, NULL);
    s_child = pid;

    //  wait until the upload is under way (intent written, PUT hanging)
    CHECK (t_wait_log (logpath, "\"event\":\"upload_intent\"", 1, 15000));
    CHECK (t_log_count (logpath, "\"coldkey_known\":true") > 0);        //  from wallet.coldkey
    usleep (300 * 1000);
    //  count heartbeats over 2 s while S3 hangs
    zsock_set_rcvtimeo (router, 100);
    int beats = 0;
    int64_t t0 = clock_mono_ms ();
    while (clock_mono_ms () - t0 < 2000) {
        uint8_t id [256];
        size_t idlen;
        zmqx_frame_t f;
        if (zmqx_recv_routed (router, id, sizeof id, &idlen, &f, 1 << 20, 0) == 0) {
            beats++;
            zmqx_frame_close (&f);
        }
    }
    printf ("%d heartbeats in 2 s while the S3 call hangs\n", beats);
    CHECK (beats >= 6);
    CHECK_EQ_INT (t_log_count (logpath, "\"event\":\"upload_landed\""), 0);

    //  SIGTERM: out within the budget (2 s) plus teardown
    int64_t took = 0;
    int code = t_term (&s_child, &took);
    printf ("exited %d after SIGTERM in %lld ms\n", code, (long long) took);
    CHECK (code >= 0);
    CHECK (took < 4500);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE state = 'uploading'",
                           0, NULL), 1);

    close (hole);
    zsock_destroy (&router);
    wallet_destroy (&hot);
    db_destroy (&check);
    tdb_drop (&t);
    TEST_DONE ();
}
