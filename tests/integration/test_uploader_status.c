/*  Final status reports FAILED and TIMEOUT, against the real coordinator binary (its own
    database, a metagraph of dev keys, 20 s epochs) and the real S3 server (direct mode):
      - miner F: one zipcode lands (IN_PROGRESS), then one more lands and the other two fail
        (scraper garbage, attempts exhausted): every task settled with failures -> FAILED,
        recorded by the coordinator with the landed zipcodes, recorded in miner_epochs, and
        never sent again (not by this uploader, not by a restarted one);
      - miner T: one zipcode lands (IN_PROGRESS), the others are still leased when the
        submission deadline passes -> TIMEOUT, recorded by the coordinator, sent once;
      - a final report the coordinator refuses (an epoch it does not know: 404) is marked in
        miner_epochs and not retried before the status interval, and does not hold up the
        other epochs' reports;
      - the status decision itself (uploader_status_for) for every combination.
    The coordinator keeps its default rate limit (status 5/min per hotkey): the test sends
    at most three reports per hotkey.                                                        */
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

static void
test_status_for (void)
{
    CHECK_EQ_STR (uploader_status_for (4, 4, 0, false), "COMPLETED");
    CHECK_EQ_STR (uploader_status_for (4, 4, 0, true), "COMPLETED");
    CHECK_EQ_STR (uploader_status_for (4, 2, 2, false), "FAILED");
    CHECK_EQ_STR (uploader_status_for (4, 0, 4, false), "FAILED");
    CHECK_EQ_STR (uploader_status_for (4, 2, 2, true), "FAILED");
    CHECK_EQ_STR (uploader_status_for (4, 2, 1, true), "TIMEOUT");
    CHECK_EQ_STR (uploader_status_for (4, 0, 0, true), "TIMEOUT");
    CHECK_EQ_STR (uploader_status_for (4, 2, 1, false), "IN_PROGRESS");
    CHECK_EQ_STR (uploader_status_for (4, 0, 0, false), "IN_PROGRESS");
}

//  The coordinator's record for (epoch, hotkey): status into out, returns zipcodes_completed.
static int64_t
s_coord_status (db_t *coord, const char *epoch, const char *hotkey, char *out, size_t size,
                int64_t *reports)
{
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (coord, "SELECT status, zipcodes_completed, reports FROM "
                                  "coord_miner_status WHERE epoch_id = $1 AND hotkey = $2",
                           DB_P (epoch, hotkey), &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    snprintf (out, size, "%s", db_result_get (res, 0, 0));
    int64_t n = -1;
    db_result_int64 (res, 0, 1, &n);
    db_result_int64 (res, 0, 2, reports);
    db_result_destroy (&res);
    return n;
}

static void
s_fail_task (db_t *db, const char *epoch, const char *zip, const char *reason)
{
    CHECK_EQ_INT (db_exec (db, "UPDATE miner_tasks SET status = 'failed', reason = $3, "
                               "lease_id = NULL, lease_deadline = NULL "
                               "WHERE epoch_id = $1 AND zipcode = $2",
                           DB_P (epoch, zip, reason), NULL), 0);
}

int
main (void)
{
    test_status_for ();
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    const char *bucket = TEST_ENV ("ZM_TEST_S3_BUCKET");
    tdb_t coord_db, db_f, db_t_;
    tdb_create (&coord_db, "upstatus_coord");
    tdb_create (&db_f, "upstatus_f");
    tdb_create (&db_t_, "upstatus_t");
    char name [64];
    snprintf (name, sizeof name, "upstatus-f-%d-%lld", (int) getpid (), (long long) time (NULL));
    wallet_t *mf = wallet_new_dev (name);
    snprintf (name, sizeof name, "upstatus-t-%d-%lld", (int) getpid (), (long long) time (NULL));
    wallet_t *mt = wallet_new_dev (name);
    char metagraph [] = "/tmp/zm_metagraph_upstatus_XXXXXX";
    int fd = mkstemp (metagraph);
    CHECK (fd >= 0);
    dprintf (fd, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"role\":\"miner\"},"
                 "{\"hotkey\":\"%s\",\"role\":\"miner\"}]}", wallet_ss58 (mf), wallet_ss58 (mt));
    close (fd);

    atexit (s_kill_coord);
    const char *coord_env [] = { "ZM_COORDINATOR_ZIPCODES=4", NULL };
    tcoord_start_env (&s_coord, build, coord_db.dsn, metagraph, 20, NULL, NULL, coord_env);
    const char *base = s_coord.base;

    //  The current 20 s epoch, with at least 10 s left (the FAILED part must end before its
    //  deadline, so that FAILED is not mistaken for TIMEOUT).
    epoch_slot_t slot;
    epoch_slot_at ((int64_t) time (NULL), 20, &slot);
    if (slot.end - (int64_t) time (NULL) < 10)
        sleep ((unsigned) (slot.end - (int64_t) time (NULL) + 1));
    json_t *doc_f = tcoord_current (&s_coord, mf);
    json_t *doc_t = tcoord_current (&s_coord, mt);
    char epoch [EPOCH_ID_LEN + 1];
    snprintf (epoch, sizeof epoch, "%s", json_string_value (json_object_get (doc_f, "epochId")));
    CHECK_EQ_STR (json_string_value (json_object_get (doc_t, "epochId")), epoch);
    int64_t start_s = 0;
    CHECK (epoch_id_parse (epoch, &start_s) == 0);
    int64_t deadline_s = start_s + 20;
    char zf [4][6], zt [4][6];
    const char *zpf [4], *zpt [4];
    for (int i = 0; i < 4; i++) {
        snprintf (zf [i], 6, "%s", json_string_value (json_object_get (
            json_array_get (json_object_get (doc_f, "zipcodes"), (size_t) i), "zipcode")));
        snprintf (zt [i], 6, "%s", json_string_value (json_object_get (
            json_array_get (json_object_get (doc_t, "zipcodes"), (size_t) i), "zipcode")));
        zpf [i] = zf [i];
        zpt [i] = zt [i];
    }
    printf ("epoch %s, deadline in %lld s\n", epoch,
            (long long) (deadline_s - (int64_t) time (NULL)));

    db_t *cf = tdb_connect (&db_f, "test-check");
    db_t *ct = tdb_connect (&db_t_, "test-check");
    db_t *cc = tdb_connect (&coord_db, "test-check");
    CHECK_EQ_INT (db_migrate (cf), 0);
    CHECK_EQ_INT (db_migrate (ct), 0);
    //  the miner's copy of the deadline is the coordinator's
    tdb_seed (cf, epoch, zpf, 4, deadline_s - (int64_t) time (NULL));
    tdb_seed (ct, epoch, zpt, 4, deadline_s - (int64_t) time (NULL));
    //  F also has an epoch the coordinator never assigned, all failed: its FAILED is refused
    const char *oldzip [] = { "99501" };
    tdb_seed (cf, "2020-01-01T00-00-00", oldzip, 1, 600);
    s_fail_task (cf, "2020-01-01T00-00-00", "99501", "attempts exhausted");

    setenv ("ZM_S3_MODE", "direct", 1);
    t_env_s3 (bucket);
    setenv ("ZM_S3_TIMEOUT_MS", "5000", 1);
    setenv ("ZM_COORDINATOR_URL", base, 1);
    setenv ("ZM_UPLOADER_STATUS_INTERVAL_MS", "60000", 1);
    zm_config_t cfg;
    t_config (&cfg);
    metrics_t *metrics = metrics_new ();
    db_t *dbf = tdb_connect (&db_f, "zipmine-uploader");
    db_t *dbt = tdb_connect (&db_t_, "zipmine-uploader");
    uploader_t *upf = uploader_new (&cfg, &dbf, mf, "", metrics);
    uploader_t *upt = uploader_new (&cfg, &dbt, mt, "", metrics);
    CHECK (upf && upt);
    char status [32];
    int64_t reports = 0;

    //  F: progress, then settled with failures
    t_store (cf, epoch, zpf [0], 100, 5);
    CHECK_EQ_INT (uploader_sweep (upf), 1);
    //  the unknown epoch's FAILED is refused (404), this epoch's IN_PROGRESS goes through
    CHECK_EQ_INT (uploader_report (upf), 1);
    CHECK_EQ_INT (s_coord_status (cc, epoch, wallet_ss58 (mf), status, sizeof status,
                                  &reports), 1);
    CHECK_EQ_STR (status, "IN_PROGRESS");
    CHECK_EQ_INT (tdb_int (cf, "SELECT status_reported_uploads FROM miner_epochs "
                               "WHERE epoch_id = '2020-01-01T00-00-00'", 0, NULL), -2);
    char refused_at [64];
    {
        db_result_t *res = NULL;
        CHECK_EQ_INT (db_exec (cf, "SELECT status_reported_at::text FROM miner_epochs WHERE "
                                   "epoch_id = '2020-01-01T00-00-00' AND status_reported IS NULL",
                               0, NULL, &res), 0);
        CHECK_EQ_INT (db_result_rows (res), 1);
        snprintf (refused_at, sizeof refused_at, "%s", db_result_get (res, 0, 0));
        db_result_destroy (&res);
    }
    t_store (cf, epoch, zpf [1], 200, 7);
    s_fail_task (cf, epoch, zpf [2], "scraper output is not listings (garbage)");
    s_fail_task (cf, epoch, zpf [3], "lease expired (attempt 3): attempts exhausted");
    CHECK_EQ_INT (uploader_sweep (upf), 1);
    CHECK ((int64_t) time (NULL) < deadline_s);
    CHECK_EQ_INT (uploader_report (upf), 1);
    CHECK_EQ_INT (s_coord_status (cc, epoch, wallet_ss58 (mf), status, sizeof status,
                                  &reports), 2);
    CHECK_EQ_STR (status, "FAILED");
    CHECK_EQ_INT (reports, 2);
    CHECK_EQ_INT (tdb_int (cf, "SELECT count(*) FROM miner_epochs WHERE status_reported = "
                               "'FAILED' AND epoch_id = $1", 1, (const char *[]) { epoch }), 1);
    //  sent once: not again, not after a restart, and the refused one waits for its interval
    CHECK_EQ_INT (uploader_report (upf), 0);
    uploader_destroy (&upf);
    dbf = tdb_connect (&db_f, "zipmine-uploader");
    upf = uploader_new (&cfg, &dbf, mf, "", metrics);
    CHECK (upf);
    CHECK_EQ_INT (uploader_report (upf), 0);
    CHECK_EQ_INT (s_coord_status (cc, epoch, wallet_ss58 (mf), status, sizeof status,
                                  &reports), 2);
    CHECK_EQ_STR (status, "FAILED");
    CHECK_EQ_INT (reports, 2);
    {
        db_result_t *res = NULL;
        CHECK_EQ_INT (db_exec (cf, "SELECT status_reported_at::text FROM miner_epochs WHERE "
                                   "epoch_id = '2020-01-01T00-00-00'", 0, NULL, &res), 0);
        CHECK_EQ_STR (db_result_get (res, 0, 0), refused_at);
        db_result_destroy (&res);
    }
    printf ("FAILED recorded by the coordinator once (2 zipcodes landed, 2 failed)\n");

    //  T: progress, then the deadline passes with zipcodes still leased
    t_store (ct, epoch, zpt [0], 500, 3);
    CHECK_EQ_INT (uploader_sweep (upt), 1);
    CHECK_EQ_INT (uploader_report (upt), 1);
    CHECK_EQ_INT (s_coord_status (cc, epoch, wallet_ss58 (mt), status, sizeof status,
                                  &reports), 1);
    CHECK_EQ_STR (status, "IN_PROGRESS");
    CHECK_EQ_INT (uploader_report (upt), 0);            //  nothing new, not final yet
    while ((int64_t) time (NULL) <= deadline_s)
        usleep (200 * 1000);
    usleep (200 * 1000);
    CHECK_EQ_INT (uploader_report (upt), 1);
    CHECK_EQ_INT (s_coord_status (cc, epoch, wallet_ss58 (mt), status, sizeof status,
                                  &reports), 1);
    CHECK_EQ_STR (status, "TIMEOUT");
    CHECK_EQ_INT (reports, 2);
    CHECK_EQ_INT (tdb_int (ct, "SELECT count(*) FROM miner_epochs WHERE status_reported = "
                               "'TIMEOUT'", 0, NULL), 1);
    CHECK_EQ_INT (uploader_report (upt), 0);
    CHECK_EQ_INT (s_coord_status (cc, epoch, wallet_ss58 (mt), status, sizeof status,
                                  &reports), 1);
    CHECK_EQ_INT (reports, 2);
    printf ("TIMEOUT recorded by the coordinator once (1 zipcode landed, 3 not by the deadline)\n");

    uploader_destroy (&upf);
    uploader_destroy (&upt);
    metrics_destroy (&metrics);
    zm_config_free (&cfg);
    CHECK (tcoord_stop (&s_coord));
    json_decref (doc_f);
    json_decref (doc_t);
    db_destroy (&cf);
    db_destroy (&ct);
    db_destroy (&cc);
    wallet_destroy (&mf);
    wallet_destroy (&mt);
    tdb_drop (&db_f);
    tdb_drop (&db_t_);
    tdb_drop (&coord_db);
    unlink (metagraph);
    TEST_DONE ();
}
