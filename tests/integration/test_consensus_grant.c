/*  consensus in s3.mode=grant (the default) against the real coordinator binary (its own
    database, a metagraph naming a validator and a miner) and the real S3 server:
      - the scored result is published through the coordinator's validator upload grant:
        POST /api/v1/s3-access/validator-upload signed over s3:validator:upload:{ts} with
        epochId, then a presigned POST to validators/{hotkey}/{epochId}/…; the object in S3
        is the stored document byte for byte, the coordinator recorded a validator grant for
        that prefix, published_at is set, grants_total{result="ok"} counts it;
      - a hotkey the coordinator does not know as a validator (a miner's) is refused: nothing
        lands, published_at stays NULL, the refusal is counted once and the next step within
        the backoff does not ask again;
      - a consensus named with another hotkey than its wallet signs for is refused (the
        signature does not verify for the named hotkey), nothing lands;
      - grant mode without coordinator.url, or without the read credentials, is a config
        error (consensus_new NULL).                                                          */
#include "common/clock.h"
#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/s3.h"
#include "common/wallet.h"
#include "tests/integration/test_coord_lib.h"
#include "tests/integration/test_storage_lib.h"
#include "workers/consensus/consensus.h"

static tcoord_t s_coord;

static void
s_kill_children (void)
{
    tcoord_kill (&s_coord);
}

static void
s_config (zm_config_t *cfg, const char *mode, const char *url, bool creds)
{
    setenv ("ZM_S3_MODE", mode, 1);
    setenv ("ZM_COORDINATOR_URL", url, 1);
    setenv ("ZM_S3_ACCESS_KEY", creds ? TEST_ENV ("ZM_TEST_S3_ACCESS_KEY") : "", 1);
    setenv ("ZM_S3_SECRET_KEY", creds ? TEST_ENV ("ZM_TEST_S3_SECRET_KEY") : "", 1);
    t_config (cfg);
}

//  The epoch scored with doc stored at key (what s_score leaves), listed by the downloader.
static void
s_scored (db_t *db, const char *epoch, const char *key, const char *doc)
{
    CHECK_EQ_INT (db_exec (db, "DELETE FROM validator_epochs WHERE epoch_id = $1", DB_P (epoch),
                           NULL), 0);
    CHECK_EQ_INT (db_exec (db, "INSERT INTO validator_epochs (epoch_id, nonce, epoch_start, "
                           "epoch_end, submission_deadline, assignment, listed_at, status) "
                           "VALUES ($1, '9f86d081884c7d65', now(), now(), now(), '{}', now(), "
                           "'scored')", DB_P (epoch), NULL), 0);
    CHECK_EQ_INT (db_exec (db, "INSERT INTO validator_consensus_epochs (epoch_id, "
                           "consensus_hash, result_key, result_doc) VALUES ($1, "
                           "repeat ('ab', 32), $2, $3)", DB_P (epoch, key, doc), NULL), 0);
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    tdb_t coord_db, val_db;
    tdb_create (&coord_db, "cgr_coord");
    tdb_create (&val_db, "cgr_val");
    atexit (s_kill_children);
    char dir [] = "/tmp/zm_cgrant_XXXXXX";
    CHECK (mkdtemp (dir));
    char name [64];
    snprintf (name, sizeof name, "cgrant-val-%d", (int) getpid ());
    wallet_t *val = wallet_new_dev (name);
    snprintf (name, sizeof name, "cgrant-miner-%d", (int) getpid ());
    wallet_t *miner = wallet_new_dev (name);
    CHECK (val && miner);
    char metagraph [300];
    snprintf (metagraph, sizeof metagraph, "%s/metagraph.json", dir);
    FILE *f = fopen (metagraph, "w");
    CHECK (f);
    fprintf (f, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"role\":\"validator\"},"
                "{\"hotkey\":\"%s\",\"role\":\"miner\"}]}", wallet_ss58 (val),
             wallet_ss58 (miner));
    fclose (f);

    char bucket [64];
    snprintf (bucket, sizeof bucket, "zmco-grant-%d", (int) getpid ());
    s3_config_t c = tcoord_s3_config ();
    s3_t *s3 = s3_new (&c);
    CHECK (s3);
    CHECK_EQ_INT (s3_create_bucket (s3, bucket), 0);

    //  the coordinator (5 min epochs: the grant outlives the test)
    tcoord_start (&s_coord, build, coord_db.dsn, metagraph, 300, &c, bucket);
    const char *base = s_coord.base;
    json_t *cur = tcoord_current (&s_coord, val);
    char epoch [32];
    snprintf (epoch, sizeof epoch, "%s", json_string_value (json_object_get (cur, "epochId")));
    json_decref (cur);

    setenv ("ZM_DB_DSN", val_db.dsn, 1);
    setenv ("ZM_S3_ENDPOINT", c.endpoint, 1);
    setenv ("ZM_S3_BUCKET", bucket, 1);
    setenv ("ZM_S3_REGION", c.region, 1);
    setenv ("ZM_S3_TIMEOUT_MS", "5000", 1);
    setenv ("ZM_LOG_LEVEL", "warn", 1);
    setenv ("ZM_CONSENSUS_VERDICT_DELAY_MS", "600000", 1);

    //  configuration errors
    zm_config_t cfg;
    db_t *db = tdb_connect (&val_db, "consensus");
    s_config (&cfg, "grant", "", true);
    CHECK (!consensus_new (&cfg, &db, wallet_ss58 (val)) && db);
    zm_config_free (&cfg);
    s_config (&cfg, "grant", base, false);
    CHECK (!consensus_new (&cfg, &db, wallet_ss58 (val)) && db);
    zm_config_free (&cfg);
    s_config (&cfg, "grant", base, true);

    db_t *check = tdb_connect (&val_db, "test");
    consensus_t *con = consensus_new (&cfg, &db, wallet_ss58 (val));
    CHECK (con && !db);
    CHECK_EQ_INT (consensus_prepare (con), 0);
    metrics_t *metrics = metrics_new ();
    consensus_set_metrics (con, metrics);

    //  1. a miner's hotkey: the coordinator refuses the validator grant
    consensus_t *wrong = NULL;
    {
        db_t *db2 = tdb_connect (&val_db, "consensus-miner");
        wrong = consensus_new (&cfg, &db2, wallet_ss58 (miner));
        CHECK (wrong);
        consensus_set_wallet (wrong, miner);
    }
    metrics_t *wm = metrics_new ();
    consensus_set_metrics (wrong, wm);
    char key [300];
    snprintf (key, sizeof key, "validators/%s/%s/validation_results/1764072000.json",
              wallet_ss58 (miner), epoch);
    const char *doc_m = "{\"consensus_hash\":\"x\",\"from\":\"miner\"}";
    s_scored (check, epoch, key, doc_m);
    CHECK_EQ_INT (consensus_step (wrong, epoch), RC_RETRY);
    CHECK_EQ_INT (consensus_step (wrong, epoch), RC_RETRY);     //  within the backoff
    CHECK_EQ_INT ((int) t_metric (wm, "zipmine_consensus_grants_total{result=\"refused\"}"), 1);
    CHECK_EQ_INT ((int) t_metric (wm, "zipmine_consensus_grants_total{result=\"ok\"}"), 0);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM validator_consensus_epochs WHERE "
                           "published_at IS NOT NULL", 0, NULL), 0);
    char *data = NULL;
    size_t size = 0;
    CHECK (s3_get_buffer (s3, bucket, key, 1 << 20, &data, &size) != 0);
    CHECK_EQ_INT ((int) s3_status (s3), 404);
    consensus_destroy (&wrong);
    metrics_destroy (&wm);

    //  2. a consensus named with one hotkey and signing with another: refused
    {
        db_t *db2 = tdb_connect (&val_db, "consensus-mismatch");
        wrong = consensus_new (&cfg, &db2, "5SomeoneElse");
        CHECK (wrong);
        consensus_set_wallet (wrong, val);
        wm = metrics_new ();
        consensus_set_metrics (wrong, wm);
        snprintf (key, sizeof key, "validators/5SomeoneElse/%s/validation_results/1.json", epoch);
        s_scored (check, epoch, key, doc_m);
        CHECK_EQ_INT (consensus_step (wrong, epoch), RC_RETRY);
        CHECK_EQ_INT ((int) t_metric (wm, "zipmine_consensus_grants_total{result=\"refused\"}"),
                      1);
        CHECK (s3_get_buffer (s3, bucket, key, 1 << 20, &data, &size) != 0);
        consensus_destroy (&wrong);
        metrics_destroy (&wm);
    }

    //  3. our validator: published through the grant
    consensus_set_wallet (con, val);
    snprintf (key, sizeof key, "validators/%s/%s/validation_results/1764072000.json",
              wallet_ss58 (val), epoch);
    const char *doc = "{\"consensus_hash\":\"abab\",\"epoch_id\":\"e\",\"validator\":\"us\"}";
    s_scored (check, epoch, key, doc);
    CHECK_EQ_INT (consensus_step (con, epoch), CONSENSUS_PUBLISHED);
    CHECK_EQ_INT ((int) t_metric (metrics, "zipmine_consensus_grants_total{result=\"ok\"}"), 1);
    CHECK_EQ_INT (s3_get_buffer (s3, bucket, key, 1 << 20, &data, &size), 0);
    CHECK_EQ_INT ((int) size, (int) strlen (doc));
    CHECK_EQ_MEM (data, doc, size);
    free (data);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM validator_consensus_epochs WHERE "
                           "published_at IS NOT NULL", 0, NULL), 1);
    db_t *cdb = tdb_connect (&coord_db, "test-coord");
    char prefix [200];
    snprintf (prefix, sizeof prefix, "validators/%s/%s/", wallet_ss58 (val), epoch);
    //  one grant, for our prefix; none for the miner
    CHECK_EQ_INT (tdb_int (cdb, "SELECT count(*) FROM coord_grants WHERE role = 'validator' "
                           "AND key_prefix = $1 AND epoch_id = $2", DB_P (prefix, epoch)), 1);
    CHECK_EQ_INT (tdb_int (cdb, "SELECT count(*) FROM coord_grants", 0, NULL), 1);
    CHECK_EQ_INT (tdb_int (cdb, "SELECT count(*) FROM coord_grants WHERE hotkey = $1",
                           DB_P (wallet_ss58 (miner))), 0);
    //  published once: the next step waits for the verdict delay, asks for nothing
    CHECK_EQ_INT (consensus_step (con, epoch), CONSENSUS_PUBLISHED);
    CHECK_EQ_INT ((int) t_metric (metrics, "zipmine_consensus_grants_total{result=\"ok\"}"), 1);

    //  exactly one object under our prefix
    s3_list_query_t q = { .prefix = prefix };
    s3_list_page_t page;
    memset (&page, 0, sizeof page);
    CHECK_EQ_INT (s3_list (s3, bucket, &q, &page), 0);
    CHECK_EQ_INT ((int) page.nobjects, 1);
    s3_list_page_clear (&page);

    db_destroy (&cdb);
    consensus_destroy (&con);
    metrics_destroy (&metrics);
    zm_config_free (&cfg);
    db_destroy (&check);
    tcoord_stop (&s_coord);
    s3_destroy (&s3);
    wallet_destroy (&val);
    wallet_destroy (&miner);
    tdb_drop (&val_db);
    tdb_drop (&coord_db);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT (system (cmd), 0);
    TEST_DONE ();
}
