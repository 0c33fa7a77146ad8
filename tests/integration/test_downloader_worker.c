/*  The downloader binary end to end, with the real coordinator binary (10 s epochs, its own
    database, a metagraph naming our validator hotkey), the real S3 server and PostgreSQL:
      - after the epoch's deadline the downloader fetches the epoch from the coordinator
        with a signed request (commitment zipcode:assignment:epoch:{id}:{ts}) and caches it
        exactly (nonce, zipcodes);
      - it lists the miners' submissions and, in mode "all", announces the two valid ones
        to tier 1 (submission_ready over ipc) and the hostile one to consensus (tier_result
        fail, count_mismatch);
      - SIGTERM: it exits 0.                                                               */
#include "common/epoch.h"
#include "common/http.h"
#include "common/wallet.h"
#include "tests/integration/test_coord_lib.h"
#include "tests/integration/test_downloader_lib.h"

#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>

static tcoord_t s_coord;
static pid_t s_downloader = 0;

static void
s_kill_children (void)
{
    tcoord_kill (&s_coord);
    if (s_downloader > 0)
        kill (s_downloader, SIGKILL);
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    tdb_t coord_db, val_db;
    tdb_create (&coord_db, "dlw_coord");
    tdb_create (&val_db, "dlw_val");
    char dir [] = "/tmp/zm_dlworker_XXXXXX";
    CHECK (mkdtemp (dir));
    char name [64];
    snprintf (name, sizeof name, "dlworker-val-%d", (int) getpid ());
    wallet_t *val = wallet_new_dev (name);
    CHECK (val);
    const char *reason = NULL;
    char wallets [256];
    snprintf (wallets, sizeof wallets, "%s/wallets", dir);
    CHECK_EQ_INT (wallet_write_hotkey (val, wallets, "val", "default", &reason), 0);
    char metagraph [300];
    snprintf (metagraph, sizeof metagraph, "%s/metagraph.json", dir);
    FILE *f = fopen (metagraph, "w");
    CHECK (f);
    fprintf (f, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"role\":\"validator\"}]}", wallet_ss58 (val));
    fclose (f);

    //  our own bucket
    char bucket [64];
    snprintf (bucket, sizeof bucket, "zmdl-worker-%d", (int) getpid ());
    s3_config_t c = tcoord_s3_config ();
    s3_t *s3 = s3_new (&c);
    CHECK (s3);
    CHECK_EQ_INT (s3_create_bucket (s3, bucket), 0);

    //  the coordinator
    tcoord_start (&s_coord, build, coord_db.dsn, metagraph, 10, &c, bucket);
    atexit (s_kill_children);
    const char *base = s_coord.base;

    //  the current epoch, with a few seconds left to upload in
    json_t *doc = tcoord_current (&s_coord, val);
    epoch_slot_t slot;
    epoch_slot_at ((int64_t) time (NULL), 10, &slot);
    if (slot.end - (int64_t) time (NULL) < 5) {
        sleep ((unsigned) (slot.end - (int64_t) time (NULL) + 1));
        json_decref (doc);
        doc = tcoord_current (&s_coord, val);
    }
    char epoch [EPOCH_ID_LEN + 1], nonce [32], z0 [6], z1 [6];
    snprintf (epoch, sizeof epoch, "%s", json_string_value (json_object_get (doc, "epochId")));
    snprintf (nonce, sizeof nonce, "%s", json_string_value (json_object_get (doc, "nonce")));
    json_t *zips = json_object_get (doc, "zipcodes");
    CHECK (json_array_size (zips) >= 2);
    snprintf (z0, sizeof z0, "%s", json_string_value (json_object_get (json_array_get (zips, 0),
                                                                        "zipcode")));
    snprintf (z1, sizeof z1, "%s", json_string_value (json_object_get (json_array_get (zips, 1),
                                                                        "zipcode")));
    size_t nzips = json_array_size (zips);
    json_decref (doc);
    printf ("epoch %s nonce %s zipcodes %s %s\n", epoch, nonce, z0, z1);

    //  two valid submissions and a lying one
    const char *miners [3] = { "5MinerA", "5MinerB", "5MinerC" };
    const char *mzips [3] = { z0, z0, z1 };
    for (int i = 0; i < 3; i++) {
        char key [512];
        tdl_key (key, sizeof key, miners [i], epoch, mzips [i]);
        char *b = tdl_body (epoch, miners [i], mzips [i], i == 2 ? 9 : 3, 3);
        CHECK_EQ_INT (s3_put (s3, bucket, key, b, strlen (b), "application/json"), 0);
        free (b);
    }

    //  tier 1 and consensus stand-ins
    char t1 [300], co [300], ep [310];
    snprintf (t1, sizeof t1, "ipc://%s/t1.ipc", dir);
    snprintf (co, sizeof co, "ipc://%s/co.ipc", dir);
    zmqx_opts_t o = zmqx_opts_default ();
    o.rcvtimeo_ms = 500;
    snprintf (ep, sizeof ep, "@%s", t1);
    zsock_t *t1_pull = zmqx_new (ZMQ_PULL, ep, &o);
    snprintf (ep, sizeof ep, "@%s", co);
    zsock_t *co_pull = zmqx_new (ZMQ_PULL, ep, &o);
    CHECK (t1_pull && co_pull);

    //  the downloader
    const char *env [] = {
        "ZM_DB_DSN", val_db.dsn, "ZM_COORDINATOR_URL", base, "ZM_COORDINATOR_EPOCH_S", "10",
        "ZM_WALLET_PATH", wallets, "ZM_WALLET_NAME", "val", "ZM_WALLET_HOTKEY", "default",
        "ZM_S3_ENDPOINT", c.endpoint, "ZM_S3_BUCKET", bucket, "ZM_S3_ACCESS_KEY", c.access_key,
        "ZM_S3_SECRET_KEY", c.secret_key, "ZM_S3_REGION", c.region, "ZM_RUN_DIR", dir,
        "ZM_NODE_NAME", "val", "ZM_DOWNLOADER_GRACE_MS", "0",
        "ZM_DOWNLOADER_MODE", "all",                    //  no consensus here to ask
        "ZM_DOWNLOADER_TIER1_ENDPOINT", t1, "ZM_DOWNLOADER_CONSENSUS_ENDPOINT", co, NULL
    };
    pid_t pid = t_spawn ("downloader", NULL, env, NULL);
    s_downloader = pid;

    //  wait for the deadline, then for the answers (epoch checks every 5 s)
    int ready_n = 0, failed_n = 0;
    int64_t until = (int64_t) time (NULL) + 40;
    while ((ready_n < 2 || failed_n < 1) && (int64_t) time (NULL) < until) {
        zmqx_frame_t fr;
        if (zmqx_recv (t1_pull, &fr, 1 << 20, 0) == 0) {
            proto_submission_ready_t m;
            CHECK_EQ_INT (proto_submission_ready_decode (zmqx_frame_data (&fr),
                                                         zmqx_frame_size (&fr), &m, NULL), 0);
            zmqx_frame_close (&fr);
            CHECK_EQ_STR (m.epoch, epoch);
            CHECK_EQ_STR (m.zipcode, z0);
            CHECK_EQ_STR (m.hotkey, ready_n == 0 ? "5MinerA" : "5MinerB");
            CHECK_EQ_INT (m.count, 3);
            ready_n++;
        }
        if (zmqx_recv (co_pull, &fr, 1 << 20, ZMQ_DONTWAIT) == 0) {
            proto_tier_result_t r;
            CHECK_EQ_INT (proto_tier_result_decode (zmqx_frame_data (&fr), zmqx_frame_size (&fr),
                                                    &r, NULL), 0);
            zmqx_frame_close (&fr);
            CHECK_EQ_STR (r.hotkey, "5MinerC");
            CHECK_EQ_INT (r.verdict, PROTO_VERDICT_FAIL);
            CHECK (strncmp (r.reason, "count_mismatch:", 15) == 0);
            failed_n++;
        }
    }
    CHECK_EQ_INT (ready_n, 2);
    CHECK_EQ_INT (failed_n, 1);

    //  the epoch as the coordinator served it
    db_t *db = tdb_connect (&val_db, "check");
    char *got = NULL;
    {
        db_result_t *res = NULL;
        CHECK_EQ_INT (db_exec (db, "SELECT nonce FROM validator_epochs WHERE epoch_id = $1",
                               DB_P (epoch), &res), 0);
        CHECK_EQ_INT (db_result_rows (res), 1);
        got = strdup (db_result_get (res, 0, 0));
        db_result_destroy (&res);
    }
    CHECK_EQ_STR (got, nonce);
    free (got);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_epoch_zipcodes WHERE epoch_id = $1",
                           DB_P (epoch)), (int64_t) nzips);

    //  SIGTERM: exit 0
    CHECK_EQ_INT (t_term (&s_downloader, NULL), 0);

    db_destroy (&db);
    zsock_destroy (&t1_pull);
    zsock_destroy (&co_pull);
    s3_destroy (&s3);
    wallet_destroy (&val);
    tcoord_stop (&s_coord);
    tdb_drop (&coord_db);
    tdb_drop (&val_db);
    char cmd [400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
