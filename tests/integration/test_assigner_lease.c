/*  Leases with the real assigner and scraper binaries, real PostgreSQL, and a PULL socket
    standing in for storage (so the test sees exactly the listing_batch messages):
      - a scraper killed with -9 mid-task loses its lease: the external scraper child dies with
        it (PDEATHSIG), the lease expires at its deadline (not before), the task goes back to
        pending, and the next scraper gets it as attempt 2 with a new lease id; every batch
        it sends carries the new lease, the last one final, and the task ends 'scraped';
      - a scraper that keeps failing (exit 3) is retried until assigner.attempts, then the
        task is FAILED with the reason;
      - a scraper whose output is garbage (listings of another zipcode) fails the task at
        once, with the reason, and it is not retried;
      - a task left 'scraped' but never stored (final batch lost) is re-leased after its
        lease and the grace period;
      - SIGTERM stops the assigner and a scraper with exit 0.
    The coordinator is unreachable throughout (the epoch is in the database already).         */
#include "tests/integration/test_assigner_lib.h"
#include "common/epoch.h"
#include "common/wallet.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"

#include <sys/stat.h>

static char s_dir [64];
static zsock_t *s_pull;

static void
s_close (void)
{
    zsock_destroy (&s_pull);
}

static bool
s_dead (pid_t pid)
{
    char path [64], buf [256];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return true;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf [n] = 0;
    char *p = strrchr (buf, ')');
    return p && p [1] == ' ' && p [2] == 'Z';
}

//  Receives batches for up to timeout_ms or until a final one; counts listings per lease.
static int
s_batches (uint64_t lease, int64_t timeout_ms, bool *final, int *foreign)
{
    int listings = 0;
    *final = false;
    int64_t end = clock_mono_ms () + timeout_ms;
    while (!*final && clock_mono_ms () < end) {
        zmqx_frame_t frame;
        if (zmqx_recv (s_pull, &frame, ZMQX_FRAME_MAX_DEFAULT, 0) != 0)
            continue;
        proto_listing_batch_t b;
        proto_err_t err;
        CHECK_EQ_INT (proto_listing_batch_decode (zmqx_frame_data (&frame),
                                                  zmqx_frame_size (&frame), &b, &err), 0);
        zmqx_frame_close (&frame);
        if (b.lease_id != lease)
            (*foreign)++;
        else {
            listings += (int) b.nlistings;
            *final = b.final;
        }
        proto_listing_batch_free (&b);
    }
    return listings;
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_lease_%d", (int) getpid ());
    CHECK (mkdir (s_dir, 0700) == 0);
    char *dsn = tl_database ("lease");
    char err [256];
    db_t *db = db_new (dsn, "test", 5, 30000, err, sizeof err);
    CHECK (db);
    CHECK_EQ_INT (db_migrate (db), 0);

    //  an epoch already recorded, one task
    epoch_slot_t slot;
    epoch_slot_at ((int64_t) time (NULL), 86400, &slot);
    char sql [1024];
    snprintf (sql, sizeof sql,
              "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
              "submission_deadline, target_listings, tolerance_percent, assignment) VALUES "
              "('%s', '0123456789abcdef', now () - interval '1 minute', now () + interval '1 hour', "
              "now () + interval '1 hour', 10, 10, '{}')", slot.id);
    CHECK_EQ_INT (db_exec (db, sql, 0, NULL, NULL), 0);
    snprintf (sql, sizeof sql, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
              "VALUES ('%s', '77494', 5)", slot.id);
    CHECK_EQ_INT (db_exec (db, sql, 0, NULL, NULL), 0);

    //  hotkey, script, storage stand-in
    char wallets [128], script [128], pidfile [128], run [128], ep [256];
    snprintf (wallets, sizeof wallets, "%s/wallets", s_dir);
    wallet_t *w = wallet_new_dev ("lease-miner");
    const char *reason = NULL;
    CHECK (wallet_write_hotkey (w, wallets, "miner", "default", &reason) == 0);
    wallet_destroy (&w);
    snprintf (script, sizeof script, "%s/scraper.py", s_dir);
    tl_write_file (script, tl_scraper_py, 0644);
    snprintf (pidfile, sizeof pidfile, "%s/grandchild.pid", s_dir);
    snprintf (run, sizeof run, "%s/run", s_dir);
    snprintf (ep, sizeof ep, "@ipc://%s/m1/storage.ipc", run);
    CHECK (zmqx_mkdir_p (run) == 0);
    char node_dir [160];
    snprintf (node_dir, sizeof node_dir, "%s/m1", run);
    CHECK (zmqx_mkdir_p (node_dir) == 0);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 200;
    s_pull = zmqx_new (ZMQ_PULL, ep, &opts);
    CHECK (s_pull);
    atexit (s_close);

    char e_dsn [512], e_run [200], e_wallets [200], e_hang [400], e_ok [300], e_exit3 [300],
         e_wrong [300];
    snprintf (e_dsn, sizeof e_dsn, "ZM_DB_DSN=%s", dsn);
    snprintf (e_run, sizeof e_run, "ZM_RUN_DIR=%s", run);
    snprintf (e_wallets, sizeof e_wallets, "ZM_WALLET_PATH=%s", wallets);
    snprintf (e_hang, sizeof e_hang, "ZM_SCRAPER_COMMAND=python3 %s hang %s", script, pidfile);
    snprintf (e_ok, sizeof e_ok, "ZM_SCRAPER_COMMAND=python3 %s ok", script);
    snprintf (e_exit3, sizeof e_exit3, "ZM_SCRAPER_COMMAND=python3 %s exit3", script);
    snprintf (e_wrong, sizeof e_wrong, "ZM_SCRAPER_COMMAND=python3 %s wrongzip", script);
    char assigner_bin [256], scraper_bin [256], alog [160], slog [4][160];
    snprintf (assigner_bin, sizeof assigner_bin, "%s/bin/assigner", build);
    snprintf (scraper_bin, sizeof scraper_bin, "%s/bin/scraper", build);
    snprintf (alog, sizeof alog, "%s/assigner.log", s_dir);
    for (int i = 0; i < 4; i++)
        snprintf (slog [i], sizeof slog [i], "%s/scraper%d.log", s_dir, i);
#define COMMON e_dsn, e_run, e_wallets, "ZM_NODE_NAME=m1", "ZM_WALLET_NAME=miner", \
               "ZM_WALLET_HOTKEY=default", "ZM_COORDINATOR_URL=http://127.0.0.1:9", \
               "ZM_ASSIGNER_POLL_MS=1000", "ZM_ASSIGNER_LEASE_MS=6000", \
               "ZM_ASSIGNER_ATTEMPTS=3", "ZM_SCRAPER_KIND=command", "ZM_SCRAPER_TIMEOUT_S=60", \
               "ZM_SCRAPER_BATCH=2", "ZM_ASSIGNER_SCRAPED_GRACE_MS=1000"

    pid_t assigner = tl_spawn (assigner_bin, alog, (const char *[]) { COMMON, NULL });
    CHECK (tl_wait_log (alog, "\"worker_ready\"", NULL, 1, 20000));
    CHECK (tl_wait_log (alog, "\"assignment_cached\"", NULL, 1, 5000));
    CHECK (tl_wait_log (alog, "\"assignment_poll_failed\"", NULL, 1, 10000));

    //  1. scraper A takes the task and is killed -9 in the middle of it
    pid_t a = tl_spawn (scraper_bin, slog [0], (const char *[]) { COMMON, e_hang,
                        "ZM_WORKER_INDEX=0", NULL });
    CHECK (tl_wait_log (alog, "\"task_leased\"", "77494", 1, 20000));
    CHECK (tl_wait_log (slog [0], "\"scraper_command_started\"", NULL, 1, 10000));
    int64_t leased_at = clock_mono_ms ();
    int64_t lease1 = tl_int (db, "SELECT lease_id::bigint FROM miner_tasks WHERE zipcode = '77494'");
    CHECK (lease1 > 0);
    CHECK_EQ_INT (tl_int (db, "SELECT attempts FROM miner_tasks WHERE zipcode = '77494'"), 1);
    pid_t child = (pid_t) tl_log_int (slog [0], "\"scraper_command_started\"", "pid");
    CHECK (child > 0);
    tl_kill (a, SIGKILL);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = s_dead (child);
        if (!gone)
            usleep (20000);
    }
    CHECK (gone);                           //  the external scraper died with its parent
    CHECK (tl_wait_log (alog, "\"lease_expired\"", "77494", 1, 15000));
    int64_t expired_after = clock_mono_ms () - leased_at;
    printf ("lease expired %lld ms after the lease was seen\n", (long long) expired_after);
    CHECK (expired_after >= 4000);          //  6 s lease, seen up to ~2 s late (python start)
    char text [256];
    tl_text (db, text, sizeof text, "SELECT status || ':' || reason FROM miner_tasks "
             "WHERE zipcode = '77494'");
    CHECK_EQ_STR (text, "pending:lease expired (attempt 1)");

    //  2. scraper B gets it as attempt 2, with a new lease, and completes it
    pid_t b = tl_spawn (scraper_bin, slog [1], (const char *[]) { COMMON, e_ok,
                        "ZM_WORKER_INDEX=1", NULL });
    CHECK (tl_wait_log (alog, "\"task_leased\"", "77494", 2, 20000));
    int64_t lease2 = tl_int (db, "SELECT lease_id::bigint FROM miner_tasks WHERE zipcode = '77494'");
    CHECK (lease2 > lease1);
    bool final = false;
    int foreign = 0;
    int listings = s_batches ((uint64_t) lease2, 30000, &final, &foreign);
    CHECK (final);
    CHECK_EQ_INT (listings, 5);
    CHECK_EQ_INT (foreign, 0);              //  scraper A never sent a batch of lease 1
    CHECK (tl_wait_int (db, 1, 10000, "SELECT count (*) FROM miner_tasks WHERE zipcode = '77494' "
                        "AND status = 'scraped' AND attempts = 2 AND reason IS NULL"));
    CHECK (tl_wait_log (alog, "\"task_leased\"", "\"attempt\":2", 1, 100));

    //  SIGTERM drains scraper B with exit 0
    kill (b, SIGTERM);
    CHECK_EQ_INT (tl_wait_exit (b, 10000), 0);

    //  3. a scraper that always exits 3: retried up to 3 leases, then FAILED with the reason
    snprintf (sql, sizeof sql, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
              "VALUES ('%s', '10001', 3)", slot.id);
    CHECK_EQ_INT (db_exec (db, sql, 0, NULL, NULL), 0);
    pid_t c = tl_spawn (scraper_bin, slog [2], (const char *[]) { COMMON, e_exit3,
                        "ZM_WORKER_INDEX=2", NULL });
    CHECK (tl_wait_int (db, 1, 60000, "SELECT count (*) FROM miner_tasks WHERE zipcode = '10001' "
                        "AND status = 'failed'"));
    tl_text (db, text, sizeof text, "SELECT attempts || ':' || reason FROM miner_tasks "
             "WHERE zipcode = '10001'");
    CHECK_EQ_STR (text, "3:scraper exited with status 3");
    CHECK_EQ_INT (tl_log_count (alog, "\"task_leased\"", "10001"), 3);
    kill (c, SIGTERM);
    CHECK_EQ_INT (tl_wait_exit (c, 10000), 0);

    //  4. garbage (another zipcode's listings): failed at once, not retried
    snprintf (sql, sizeof sql, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
              "VALUES ('%s', '60614', 4)", slot.id);
    CHECK_EQ_INT (db_exec (db, sql, 0, NULL, NULL), 0);
    pid_t d = tl_spawn (scraper_bin, slog [3], (const char *[]) { COMMON, e_wrong,
                        "ZM_WORKER_INDEX=3", NULL });
    CHECK (tl_wait_int (db, 1, 30000, "SELECT count (*) FROM miner_tasks WHERE zipcode = '60614' "
                        "AND status = 'failed'"));
    tl_text (db, text, sizeof text, "SELECT attempts || ':' || reason FROM miner_tasks "
             "WHERE zipcode = '60614'");
    CHECK_EQ_STR (text, "1:garbage output: 4 of 4 lines rejected (wrong zipcode 4)");
    usleep (1500000);
    CHECK_EQ_INT (tl_log_count (alog, "\"task_leased\"", "60614"), 1);

    //  5. a task scraped but never confirmed by storage (its final batch was lost with a
    //  dying storage) goes back to the pool once its lease and the grace are over
    snprintf (sql, sizeof sql, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, "
              "status, lease_id, lease_deadline, attempts) VALUES ('%s', '94110', 4, 'scraped', "
              "'999999', now () - interval '2 seconds', 1)", slot.id);
    CHECK_EQ_INT (db_exec (db, sql, 0, NULL, NULL), 0);
    CHECK (tl_wait_log (alog, "\"lease_expired\"",
                        "\"reason\":\"scraped but not stored before the lease ended (attempt 1)\"",
                        1, 10000));
    CHECK (tl_wait_log (alog, "\"task_leased\"", "94110", 1, 10000));

    kill (d, SIGTERM);
    CHECK_EQ_INT (tl_wait_exit (d, 10000), 0);
    kill (assigner, SIGTERM);
    CHECK_EQ_INT (tl_wait_exit (assigner, 10000), 0);
    db_destroy (&db);
    free (dsn);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
