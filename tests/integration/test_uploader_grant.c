/*  uploader in s3.mode=grant against the real coordinator binary (its own database, the S3
    server, a metagraph of dev keys, 5 min epochs) and the real S3 server:
      - grants are asked with the signed commitment s3:data:access:{coldkey}:{hotkey}:{ts};
        the objects land under the granted prefix data/hotkey={hotkey}/epoch={epochId}/ at
        the keys the ledger recorded;
      - a refused grant (wrong coldkey: 403) leaves an intent and uploads nothing; the next
        uploader finishes it under the same key;
      - status reports: IN_PROGRESS with the landed zipcodes, then COMPLETED once every
        assigned zipcode landed, as the coordinator recorded them; nothing more once
        COMPLETED was accepted;
      - a zipcode of an epoch the coordinator has moved past is marked failed in the ledger
        and the task, and nothing is uploaded for it.                                       */
#include "common/epoch.h"
#include "common/http.h"
#include "common/wallet.h"
#include "tests/integration/test_coord_lib.h"
#include "tests/integration/test_uploader_lib.h"
#include "workers/uploader/uploader.h"

#include <jansson.h>
#include <time.h>

static tcoord_t s_coord;

static void
s_kill_coord (void)
{
    tcoord_kill (&s_coord);
}

typedef struct {
    int count;
    char keys [8][512];
} s_list_t;

static int
s_collect (void *arg, const s3_object_t *o)
{
    s_list_t *l = arg;
    if (l->count < 8)
        snprintf (l->keys [l->count], sizeof l->keys [0], "%s", o->key);
    l->count++;
    return 0;
}

static bool
s_listed (const s_list_t *l, const char *key)
{
    for (int i = 0; i < l->count && i < 8; i++)
        if (strcmp (l->keys [i], key) == 0)
            return true;
    return false;
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    const char *bucket = TEST_ENV ("ZM_TEST_S3_BUCKET");
    tdb_t coord_db, miner_db;
    tdb_create (&coord_db, "upgrant_coord");
    tdb_create (&miner_db, "upgrant_miner");
    //  a hotkey of its own per run: the bucket is shared by every run and test
    char miner_name [64];
    snprintf (miner_name, sizeof miner_name, "upgrant-miner-%d-%lld", (int) getpid (),
              (long long) time (NULL));
    wallet_t *miner = wallet_new_dev (miner_name);
    wallet_t *cold = wallet_new_dev ("upgrant-cold");
    wallet_t *other = wallet_new_dev ("upgrant-other");
    char metagraph [] = "/tmp/zm_metagraph_upgrant_XXXXXX";
    int fd = mkstemp (metagraph);
    CHECK (fd >= 0);
    dprintf (fd, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"coldkey\":\"%s\",\"role\":\"miner\"}]}",
             wallet_ss58 (miner), wallet_ss58 (cold));
    close (fd);

    atexit (s_kill_coord);
    s3_config_t s3c = tcoord_s3_config ();
    tcoord_start (&s_coord, build, coord_db.dsn, metagraph, 300, &s3c, bucket);
    const char *base = s_coord.base;

    //  the current epoch, with room to finish inside it
    json_t *epoch_doc = tcoord_current (&s_coord, miner);
    epoch_slot_t slot;
    epoch_slot_at ((int64_t) time (NULL), 300, &slot);
    if (slot.end - (int64_t) time (NULL) < 30) {
        sleep ((unsigned) (slot.end - (int64_t) time (NULL) + 1));
        json_decref (epoch_doc);
        epoch_doc = tcoord_current (&s_coord, miner);
    }
    char epoch [EPOCH_ID_LEN + 1];
    snprintf (epoch, sizeof epoch, "%s", json_string_value (json_object_get (epoch_doc, "epochId")));
    json_t *zdocs = json_object_get (epoch_doc, "zipcodes");
    CHECK (json_array_size (zdocs) >= 4);
    char zips [4][6];
    const char *zp [4];
    for (int i = 0; i < 4; i++) {
        snprintf (zips [i], 6, "%s",
                  json_string_value (json_object_get (json_array_get (zdocs, (size_t) i), "zipcode")));
        zp [i] = zips [i];
    }
    printf ("epoch %s, zipcodes %s %s %s %s\n", epoch, zp [0], zp [1], zp [2], zp [3]);

    db_t *check = tdb_connect (&miner_db, "test-check");
    db_t *coord_check = tdb_connect (&coord_db, "test-check");
    CHECK_EQ_INT (db_migrate (check), 0);
    tdb_seed (check, epoch, zp, 4, 300);
    t_store (check, epoch, zp [0], 100, 10);
    t_store (check, epoch, zp [1], 200, 7);

    unsetenv ("ZM_S3_ENDPOINT");
    setenv ("ZM_S3_MODE", "grant", 1);
    setenv ("ZM_COORDINATOR_URL", base, 1);
    setenv ("ZM_UPLOADER_STATUS_INTERVAL_MS", "0", 1);
    setenv ("ZM_S3_TIMEOUT_MS", "5000", 1);
    zm_config_t cfg;
    t_config (&cfg);
    metrics_t *metrics = metrics_new ();
    db_t *db = tdb_connect (&miner_db, "zipmine-uploader");
    uploader_t *up = uploader_new (&cfg, &db, miner, wallet_ss58 (cold), metrics);
    CHECK (up);
    CHECK_EQ_INT (uploader_sweep (up), 2);

    s3_t *s3 = t_s3 ();
    char prefix [256];
    snprintf (prefix, sizeof prefix, "data/hotkey=%s/epoch=%s/", wallet_ss58 (miner), epoch);
    s_list_t listed = { 0 };
    CHECK_EQ_INT (s3_list_all (s3, bucket, prefix, 100, s_collect, &listed), 0);
    CHECK_EQ_INT (listed.count, 2);
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (check, "SELECT s3_key FROM miner_uploads WHERE state = 'uploaded'",
                           0, NULL, &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 2);
    for (int i = 0; i < 2; i++)
        CHECK (s_listed (&listed, db_result_get (res, i, 0)));
    db_result_destroy (&res);
    printf ("2 objects landed under %s\n", prefix);

    //  progress report
    CHECK_EQ_INT (uploader_report (up), 1);
    CHECK_EQ_INT (tdb_int (coord_check, "SELECT zipcodes_completed FROM coord_miner_status "
                                        "WHERE status = 'IN_PROGRESS' AND epoch_id = $1",
                           DB_P (epoch)), 2);
    CHECK_EQ_INT (tdb_int (coord_check, "SELECT listings_scraped FROM coord_miner_status "
                                        "WHERE epoch_id = $1", DB_P (epoch)), 17);
    CHECK_EQ_INT (uploader_report (up), 0);         //  no progress since: nothing sent

    //  a refused grant (this coldkey does not own the hotkey): intent, nothing uploaded
    t_store (check, epoch, zp [2], 300, 4);
    db_t *db2 = tdb_connect (&miner_db, "zipmine-uploader");
    uploader_t *bad = uploader_new (&cfg, &db2, miner, wallet_ss58 (other), metrics);
    CHECK_EQ_INT (uploader_upload (bad, epoch, zp [2]), RC_RETRY);
    uploader_destroy (&bad);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE state = 'uploading'",
                           0, NULL), 1);
    memset (&listed, 0, sizeof listed);
    CHECK_EQ_INT (s3_list_all (s3, bucket, prefix, 100, s_collect, &listed), 0);
    CHECK_EQ_INT (listed.count, 2);
    res = NULL;
    CHECK_EQ_INT (db_exec (check, "SELECT s3_key FROM miner_uploads WHERE state = 'uploading'",
                           0, NULL, &res), 0);
    char intent_key [512];
    snprintf (intent_key, sizeof intent_key, "%s", db_result_get (res, 0, 0));
    db_result_destroy (&res);

    //  the good uploader finishes it under the same key, then the last zipcode
    sleep (1);
    t_store (check, epoch, zp [3], 400, 2);
    CHECK_EQ_INT (uploader_sweep (up), 2);
    memset (&listed, 0, sizeof listed);
    CHECK_EQ_INT (s3_list_all (s3, bucket, prefix, 100, s_collect, &listed), 0);
    CHECK_EQ_INT (listed.count, 4);
    CHECK (s_listed (&listed, intent_key));
    CHECK_EQ_INT (uploader_report (up), 1);
    CHECK_EQ_INT (tdb_int (coord_check, "SELECT zipcodes_completed FROM coord_miner_status "
                                        "WHERE status = 'COMPLETED' AND epoch_id = $1",
                           DB_P (epoch)), 4);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_epochs WHERE status_reported = 'COMPLETED'",
                           0, NULL), 1);
    CHECK_EQ_INT (uploader_report (up), 0);
    printf ("IN_PROGRESS then COMPLETED recorded by the coordinator\n");

    //  an epoch the coordinator has moved past: no grant can be had for it, the ledger says
    //  failed and nothing is uploaded
    int64_t start_s = 0;
    CHECK (epoch_id_parse (epoch, &start_s) == 0);
    char old [EPOCH_ID_LEN + 1];
    epoch_id_format (start_s - 300, old);
    const char *oldzip [] = { "99501" };
    tdb_seed (check, old, oldzip, 1, 60);
    t_store (check, old, "99501", 900, 2);
    CHECK_EQ_INT (uploader_upload (up, old, "99501"), RC_ERR);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE epoch_id = $1 AND "
                                  "state = 'failed' AND reason <> ''", DB_P (old)), 1);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE epoch_id = $1 AND "
                                  "status = 'failed'", DB_P (old)), 1);
    CHECK_EQ_INT (uploader_upload (up, old, "99501"), RC_ERR);      //  stays failed
    //  Every task of the past epoch is settled and one failed: its final status is FAILED.
    //  The coordinator records it only if it was running when that epoch began (it started
    //  in the previous grid slot); otherwise it refuses the unknown epoch. Either way the
    //  report goes out once: the next call sends nothing.
    int reported = uploader_report (up);
    CHECK (reported == 0 || reported == 1);
    CHECK_EQ_INT (tdb_int (coord_check, "SELECT count(*) FROM coord_miner_status "
                                        "WHERE status = 'FAILED' AND epoch_id = $1", DB_P (old)),
                  reported);
    CHECK_EQ_INT (uploader_report (up), 0);
    snprintf (prefix, sizeof prefix, "data/hotkey=%s/epoch=%s/", wallet_ss58 (miner), old);
    memset (&listed, 0, sizeof listed);
    CHECK_EQ_INT (s3_list_all (s3, bucket, prefix, 100, s_collect, &listed), 0);
    CHECK_EQ_INT (listed.count, 0);
    printf ("a past epoch's zipcode is marked failed, not uploaded\n");

    uploader_destroy (&up);
    metrics_destroy (&metrics);
    zm_config_free (&cfg);
    s3_destroy (&s3);
    CHECK (tcoord_stop (&s_coord));
    json_decref (epoch_doc);
    db_destroy (&check);
    db_destroy (&coord_check);
    wallet_destroy (&miner);
    wallet_destroy (&cold);
    wallet_destroy (&other);
    tdb_drop (&miner_db);
    tdb_drop (&coord_db);
    unlink (metagraph);
    TEST_DONE ();
}
