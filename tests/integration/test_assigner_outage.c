/*  The assignment survives a coordinator outage, end to end with real binaries: coordinator
    (dev hotkey in its metagraph, port 0, its own database), world, assigner, two scrapers of
    the built-in world kind, real PostgreSQL; a PULL socket stands in for storage.
      - the assigner polls the signed current assignment and records the epoch and one task
        per zipcode;
      - the coordinator is killed -9, then the assigner too; the restarted assigner cannot
        reach the coordinator, finds the epoch in PostgreSQL (assignment_cached) and leases
        its tasks anyway;
      - the world scrapers deliver, per zipcode, exactly the expected number of listings
        (= catalog_expected_listings, what the world serves), each of that zipcode, with a
        scraped_timestamp, no zpid twice, the last batch final; every task ends 'scraped'. */
#include "tests/integration/test_assigner_lib.h"
#include "common/catalog.h"
#include "common/wallet.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"

#include <jansson.h>
#include <sys/stat.h>

static char s_dir [64];
static zsock_t *s_pull;

static void
s_close (void)
{
    zsock_destroy (&s_pull);
}

#define ZIPS_MAX 8
typedef struct {
    char zipcode [6];
    int listings;
    bool final;
    json_t *zpids;              //  object used as a set
} s_zip_t;

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_outage_%d", (int) getpid ());
    CHECK (mkdir (s_dir, 0700) == 0);
    char *coord_dsn = tl_database ("outcoord");
    char *miner_dsn = tl_database ("outminer");
    char err [256];
    db_t *db = db_new (miner_dsn, "test", 5, 30000, err, sizeof err);
    CHECK (db);

    char wallets [128], metagraph [128], run [128], ep [256], node_dir [160];
    snprintf (wallets, sizeof wallets, "%s/wallets", s_dir);
    snprintf (metagraph, sizeof metagraph, "%s/metagraph.json", s_dir);
    snprintf (run, sizeof run, "%s/run", s_dir);
    snprintf (node_dir, sizeof node_dir, "%s/m1", run);
    wallet_t *w = wallet_new_dev ("outage-miner");
    const char *reason = NULL;
    CHECK (wallet_write_hotkey (w, wallets, "miner", "default", &reason) == 0);
    char mg [256];
    snprintf (mg, sizeof mg, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"role\":\"miner\"}]}",
              wallet_ss58 (w));
    tl_write_file (metagraph, mg, 0644);
    wallet_destroy (&w);
    CHECK (zmqx_mkdir_p (node_dir) == 0);
    snprintf (ep, sizeof ep, "@ipc://%s/storage.ipc", node_dir);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 200;
    s_pull = zmqx_new (ZMQ_PULL, ep, &opts);
    CHECK (s_pull);
    atexit (s_close);

    char bin [5][256], log [6][160];
    const char *names [] = { "coordinator", "world", "assigner", "scraper", "scraper" };
    for (int i = 0; i < 5; i++)
        snprintf (bin [i], sizeof bin [i], "%s/bin/%s", build, names [i]);
    for (int i = 0; i < 6; i++)
        snprintf (log [i], sizeof log [i], "%s/p%d.log", s_dir, i);

    //  coordinator and world
    char e_cdsn [512], e_mg [200];
    snprintf (e_cdsn, sizeof e_cdsn, "ZM_DB_DSN=%s", coord_dsn);
    snprintf (e_mg, sizeof e_mg, "ZM_COORDINATOR_METAGRAPH=%s", metagraph);
    pid_t coord = tl_spawn (bin [0], log [0], (const char *[]) { e_cdsn, e_mg,
        "ZM_COORDINATOR_PORT=0", "ZM_COORDINATOR_EPOCH_S=86400", "ZM_COORDINATOR_ZIPCODES=3",
        "ZM_COORDINATOR_RATE_ASSIGNMENTS=1000", "ZM_NODE_NAME=c1", NULL });
    pid_t world = tl_spawn (bin [1], log [1], (const char *[]) { "ZM_WORLD_PORT=0",
        "ZM_NODE_NAME=c1", NULL });
    CHECK (tl_wait_log (log [0], "\"worker_ready\"", NULL, 1, 30000));
    CHECK (tl_wait_log (log [1], "\"world_listening\"", NULL, 1, 30000));
    int64_t cport = tl_log_int (log [0], "\"coordinator_listening\"", "port");
    int64_t wport = tl_log_int (log [1], "\"world_listening\"", "port");
    CHECK (cport > 0 && wport > 0);

    char e_dsn [512], e_run [200], e_wallets [200], e_curl [100], e_wurl [100];
    snprintf (e_dsn, sizeof e_dsn, "ZM_DB_DSN=%s", miner_dsn);
    snprintf (e_run, sizeof e_run, "ZM_RUN_DIR=%s", run);
    snprintf (e_wallets, sizeof e_wallets, "ZM_WALLET_PATH=%s", wallets);
    snprintf (e_curl, sizeof e_curl, "ZM_COORDINATOR_URL=http://127.0.0.1:%d", (int) cport);
    snprintf (e_wurl, sizeof e_wurl, "ZM_SCRAPER_WORLD_URL=http://127.0.0.1:%d", (int) wport);
#define COMMON e_dsn, e_run, e_wallets, e_curl, e_wurl, "ZM_NODE_NAME=m1", \
               "ZM_WALLET_NAME=miner", "ZM_WALLET_HOTKEY=default", "ZM_ASSIGNER_POLL_MS=500", \
               "ZM_ASSIGNER_LEASE_MS=60000", "ZM_SCRAPER_KIND=world", \
               "ZM_SCRAPER_WORLD_PAGE_SIZE=50"

    //  the assigner records the epoch from the coordinator
    pid_t assigner = tl_spawn (bin [2], log [2], (const char *[]) { COMMON, NULL });
    CHECK (tl_wait_log (log [2], "\"assignment_recorded\"", NULL, 1, 30000));
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM miner_epochs"), 1);
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM miner_tasks WHERE status = 'pending'"), 3);

    //  outage: coordinator gone, assigner restarted in the middle of it
    tl_kill (coord, SIGKILL);
    int fails = tl_log_count (log [2], "\"assignment_poll_failed\"", NULL);
    CHECK (tl_wait_log (log [2], "\"assignment_poll_failed\"", NULL, fails + 1, 10000));
    tl_kill (assigner, SIGKILL);
    assigner = tl_spawn (bin [2], log [3], (const char *[]) { COMMON, NULL });
    CHECK (tl_wait_log (log [3], "\"assignment_cached\"", "\"open\":3", 1, 30000));
    CHECK (tl_wait_log (log [3], "\"assignment_poll_failed\"", NULL, 1, 10000));
    CHECK_EQ_INT (tl_log_count (log [3], "\"assignment_recorded\"", NULL), 0);

    //  two world scrapers do the epoch's work while the coordinator is down
    pid_t s1 = tl_spawn (bin [3], log [4], (const char *[]) { COMMON, "ZM_WORKER_INDEX=0", NULL });
    pid_t s2 = tl_spawn (bin [4], log [5], (const char *[]) { COMMON, "ZM_WORKER_INDEX=1", NULL });
    s_zip_t zips [ZIPS_MAX];
    int nzips = 0, finals = 0;
    int64_t end = clock_mono_ms () + 90000;
    while (finals < 3 && clock_mono_ms () < end) {
        zmqx_frame_t frame;
        if (zmqx_recv (s_pull, &frame, ZMQX_FRAME_MAX_DEFAULT, 0) != 0)
            continue;
        proto_listing_batch_t b;
        proto_err_t perr;
        CHECK_EQ_INT (proto_listing_batch_decode (zmqx_frame_data (&frame),
                                                  zmqx_frame_size (&frame), &b, &perr), 0);
        zmqx_frame_close (&frame);
        s_zip_t *z = NULL;
        for (int i = 0; i < nzips; i++)
            if (strcmp (zips [i].zipcode, b.zipcode) == 0)
                z = &zips [i];
        if (!z) {
            CHECK (nzips < ZIPS_MAX);
            z = &zips [nzips++];
            memset (z, 0, sizeof *z);
            memcpy (z->zipcode, b.zipcode, 6);
            z->zpids = json_object ();
        }
        CHECK (!z->final);
        for (size_t i = 0; i < b.nlistings; i++) {
            json_t *doc = json_loads (b.listings [i].json, 0, NULL);
            CHECK (doc);
            CHECK_EQ_STR (json_string_value (json_object_get (doc, "zipcode")), b.zipcode);
            CHECK (json_is_string (json_object_get (doc, "scraped_timestamp")));
            char key [32];
            snprintf (key, sizeof key, "%lld",
                      (long long) json_integer_value (json_object_get (doc, "zpid")));
            CHECK (!json_object_get (z->zpids, key));
            json_object_set_new (z->zpids, key, json_true ());
            json_decref (doc);
        }
        z->listings += (int) b.nlistings;
        if (b.final) {
            z->final = true;
            finals++;
        }
        proto_listing_batch_free (&b);
    }
    CHECK_EQ_INT (finals, 3);
    CHECK_EQ_INT (nzips, 3);
    catalog_t *catalog = catalog_new ();
    CHECK (catalog);
    for (int i = 0; i < nzips; i++) {
        int64_t expected = tl_int (db, "SELECT expected_listings FROM miner_tasks "
                                   "WHERE zipcode = '%s'", zips [i].zipcode);
        printf ("zipcode %s: %d listings, expected %lld\n", zips [i].zipcode, zips [i].listings,
                (long long) expected);
        CHECK_EQ_INT (zips [i].listings, expected);
        CHECK_EQ_INT (expected, catalog_expected_listings (catalog_lookup (catalog,
                                                                            zips [i].zipcode)));
        json_decref (zips [i].zpids);
    }
    catalog_destroy (&catalog);
    CHECK (tl_wait_int (db, 3, 10000, "SELECT count (*) FROM miner_tasks WHERE status = 'scraped'"));

    pid_t stop [] = { s1, s2, assigner, world };
    for (int i = 0; i < 4; i++) {
        kill (stop [i], SIGTERM);
        CHECK_EQ_INT (tl_wait_exit (stop [i], 15000), 0);
    }
    db_destroy (&db);
    free (coord_dsn);
    free (miner_dsn);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
