/*  storage and uploader binaries together (as the supervisor runs them: same config, ipc
    endpoints in one run dir), s3.mode=direct, real PostgreSQL and S3:
      - listing batches pushed to storage end as an object in S3 (storage -> zipcode_stored
        -> uploader), with the hotkey loaded from a btcli-layout wallet and the coldkey from
        coldkeypub.txt;
      - the uploader killed -9; a zipcode stored meanwhile is uploaded by the restarted
        uploader (its sweep), and the zipcode that had landed is not sent again (S3
        LastModified and ETag unchanged, one attempt in the ledger);
      - SIGTERM: both exit 0.                                                              */
#include "common/wallet.h"
#include "common/zmqx.h"
#include "tests/integration/test_uploader_lib.h"

#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *EPOCH = "2026-11-25T12-00-00";
static pid_t s_pids [2];

static void
s_kill_all (void)
{
    for (int i = 0; i < 2; i++)
        if (s_pids [i] > 0)
            kill (s_pids [i], SIGKILL);
}

static void
s_send_zip (zsock_t *push, const char *zip, int base)
{
    char l [4][1024];
    const char *a [] = { t_listing (l [0], 1024, base, zip), t_listing (l [1], 1024, base + 1, zip) };
    const char *b [] = { t_listing (l [2], 1024, base + 2, zip) };
    msgpack_sbuffer sb;
    t_batch (&sb, EPOCH, zip, 7, 0, false, a, 2);
    CHECK_EQ_INT (zmqx_send (push, sb.data, sb.size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    msgpack_sbuffer_destroy (&sb);
    t_batch (&sb, EPOCH, zip, 7, 1, true, b, 1);
    CHECK_EQ_INT (zmqx_send (push, sb.data, sb.size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    msgpack_sbuffer_destroy (&sb);
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    const char *bucket = TEST_ENV ("ZM_TEST_S3_BUCKET");
    tdb_t t;
    tdb_create (&t, "uploader_pipe");
    db_t *check = tdb_connect (&t, "test-check");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494", "10001" };
    tdb_seed (check, EPOCH, zips, 2, 3600);
    atexit (s_kill_all);

    char dir [] = "/tmp/zm_uploader_pipe_XXXXXX";
    CHECK (mkdtemp (dir));
    char wallets [256], path [512], slog [256], ulog [256], endpoint [512];
    snprintf (wallets, sizeof wallets, "%s/wallets", dir);
    char dev_name [64];
    snprintf (dev_name, sizeof dev_name, "%s-%d-%lld",
              "pipe-miner", (int) getpid (),
              (long long) time (NULL));
    wallet_t *hot = wallet_new_dev (dev_name);
    wallet_t *cold = wallet_new_dev ("pipe-cold");
    const char *reason = NULL;
    CHECK (wallet_write_hotkey (hot, wallets, "miner", "default", &reason) == 0);
    snprintf (path, sizeof path, "%s/miner/coldkeypub.txt", wallets);
    FILE *f = fopen (path, "w");
    CHECK (f);
    fprintf (f, "{\"ss58Address\":\"%s\"}", wallet_ss58 (cold));
    fclose (f);
    snprintf (slog, sizeof slog, "%s/storage.log", dir);
    snprintf (ulog, sizeof ulog, "%s/uploader.log", dir);
    snprintf (endpoint, sizeof endpoint, ">ipc://%s/pipe/storage.ipc", dir);

    setenv ("ZM_DB_DSN", t.dsn, 1);
    setenv ("ZM_RUN_DIR", dir, 1);
    setenv ("ZM_NODE_NAME", "pipe", 1);
    setenv ("ZM_WALLET_PATH", wallets, 1);
    setenv ("ZM_WALLET_NAME", "miner", 1);
    setenv ("ZM_WALLET_HOTKEY", "default", 1);
    setenv ("ZM_S3_MODE", "direct", 1);
    t_env_s3 (bucket);
    setenv ("ZM_COORDINATOR_URL", "http://127.0.0.1:1", 1);
    setenv ("ZM_UPLOADER_SWEEP_MS", "500", 1);

    s_pids [0] = t_spawn ("storage", slog, NULL, NULL);
    s_pids [1] = t_spawn ("uploader", ulog, NULL, NULL);
    CHECK (t_wait_log (slog, "\"event\":\"worker_ready\"", 1, 15000));
    CHECK (t_wait_log (ulog, "\"event\":\"worker_ready\"", 1, 15000));
    CHECK (t_log_count (ulog, "\"coldkey_known\":true") == 1);
    zsock_t *push = zmqx_new (ZMQ_PUSH, endpoint, NULL);
    CHECK (push);

    s_send_zip (push, "77494", 100);
    CHECK (t_wait_q (check, "SELECT count(*) FROM miner_uploads WHERE zipcode = '77494' AND "
                            "state = 'uploaded'", 1, 15000));
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (check, "SELECT s3_key FROM miner_uploads WHERE zipcode = '77494'",
                           0, NULL, &res), 0);
    char key [512];
    snprintf (key, sizeof key, "%s", db_result_get (res, 0, 0));
    db_result_destroy (&res);
    char prefix [256];
    snprintf (prefix, sizeof prefix, "data/hotkey=%s/epoch=%s/zipcode=77494/data_",
              wallet_ss58 (hot), EPOCH);
    CHECK (strncmp (key, prefix, strlen (prefix)) == 0);
    s3_t *s3 = t_s3 ();
    char *data = NULL;
    size_t size = 0;
    CHECK_EQ_INT (s3_get_buffer (s3, bucket, key, 1 << 20, &data, &size), 0);
    CHECK (strstr (data, "\"listing_count\":3,"));
    free (data);
    s3_head_t before, after;
    CHECK_EQ_INT (s3_head (s3, bucket, key, &before), 0);
    printf ("batches -> storage -> uploader -> %s\n", key);

    //  uploader killed; a zipcode completes meanwhile
    CHECK (kill (s_pids [1], SIGKILL) == 0);
    int status = 0;
    CHECK (waitpid (s_pids [1], &status, 0) == s_pids [1]);
    s_pids [1] = 0;
    sleep (1);          //  a re-upload would show as a later LastModified
    s_send_zip (push, "10001", 200);
    CHECK (t_wait_q (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '10001' AND "
                            "status = 'stored'", 1, 15000));
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE zipcode = '10001'",
                           0, NULL), 0);
    s_pids [1] = t_spawn ("uploader", ulog, NULL, NULL);
    CHECK (t_wait_q (check, "SELECT count(*) FROM miner_uploads WHERE zipcode = '10001' AND "
                            "state = 'uploaded'", 1, 15000));
    CHECK_EQ_INT (s3_head (s3, bucket, key, &after), 0);
    CHECK_EQ_STR (after.last_modified, before.last_modified);
    CHECK_EQ_STR (after.etag, before.etag);
    CHECK_EQ_INT (tdb_int (check, "SELECT attempts FROM miner_uploads WHERE zipcode = '77494'",
                           0, NULL), 1);
    printf ("restarted uploader picked up the stored zipcode; the landed one stayed put\n");

    for (int i = 0; i < 2; i++) {
        CHECK (kill (s_pids [i], SIGTERM) == 0);
        CHECK (waitpid (s_pids [i], &status, 0) == s_pids [i]);
        CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        s_pids [i] = 0;
    }
    zsock_destroy (&push);
    s3_destroy (&s3);
    wallet_destroy (&hot);
    wallet_destroy (&cold);
    db_destroy (&check);
    tdb_drop (&t);
    TEST_DONE ();
}
