/*  tier2 under a real supervisor keeps heartbeating while its database work is blocked,
    stops reading its intake while its queue is full, and then judges correctly.

    zipmined runs only tier2 (heartbeat.ms 300, heartbeat.misses 3: silent for 900 ms means
    SIGKILL, event child_heartbeat_lost). The test holds an ACCESS EXCLUSIVE lock on
    validator_submission_listings and sends 7 submission_ready (5 honest, 1 with a foreign
    zipcode, 1 honest again), so tier2's first load blocks in PostgreSQL. For 3.6 s (four
    times the kill threshold) it checks that:
      - pg_stat_activity shows tier2 waiting on the lock the whole time;
      - the tier2 process is the one first spawned, alive, no child_heartbeat_lost;
      - its heartbeats keep arriving (the worker's own counter, as the supervisor serves it
        from the last beat, grows by at least 5; 12 expected);
      - zipmine_tier_queued_submissions is 5: one in hand, 4 queued, the other 2 wait in
        ZeroMQ (the PULL is not read while the queue is full).
    Then the lock is released and every submission is judged: the honest ones pass (and are
    forwarded to tier 3), the foreign one fails with wrong_zipcode, and each metric sent
    equals, bit for bit, tier2_check run in-process on the same data.

    Drain: the lock is taken again, an eighth submission is sent and blocks; SIGTERM to
    zipmined. tier2 stays up (draining) until the lock is released 1.5 s later; the
    submission is judged and sent, tier2 and zipmined exit 0.

    Drain timeout: tier2 alone with shutdown.budget.ms 2000, blocked on the lock with a ninth
    submission, gets SIGTERM: it exits 1 (drain_timeout) inside the budget, not waiting for
    its work thread still blocked in PostgreSQL (tier_thread_abandoned), and nothing is
    stored for that submission once the lock goes.                                          */
#include "tests/integration/test_tier_hb_lib.h"
#include "workers/tier2/tier2.h"

#define ZIP "77494"
#define NSUB 9                          //  the last one for the drain timeout

static const char *WAITING =
    "SELECT count (*) FROM pg_stat_activity WHERE application_name = 'zipmine-tier2' "
    "AND wait_event_type = 'Lock' AND state = 'active' AND datname = current_database ()";

static json_t *
s_listings (int n, int seed, const char *zip)
{
    json_t *a = json_array ();
    for (int i = 0; i < n; i++) {
        char addr [64], zpid [24];
        snprintf (addr, sizeof addr, "%d Main St #%d", 100 + seed, i);
        snprintf (zpid, sizeof zpid, "%d", seed * 1000 + i);
        json_array_append_new (a, json_pack (
            "{s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
            "zpid", zpid, "address", addr, "price", 250000 + 1000 * i, "bedrooms", 3,
            "bathrooms", 2, "sqft", 1500 + i, "listing_date", "2026-11-01",
            "property_type", "house", "listing_status", "for_sale", "days_on_market", 24,
            "source_url", "https://example.com/x", "scraped_timestamp",
            "2026-11-25T15:00:00Z", "zipcode", zip));
    }
    return a;
}

static void
s_wait_waiting (db_t *db)
{
    CHECK (tl_wait_int (db, 1, 15000, WAITING));
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    db_t *db = th_setup ("tier2hb");
    db_t *locker = tt_connect ();
    tt_epoch (db, TT_EPOCH, ZIP, 60);
    int64_t ids [NSUB];
    for (int i = 0; i < NSUB; i++) {
        char hk [32];
        snprintf (hk, sizeof hk, "hk%d", i);
        json_t *l = s_listings (60, i + 1, i == 5 ? "77495" : ZIP);
        ids [i] = tt_submission (db, TT_EPOCH, hk, ZIP, "2026-11-25T15:00:00.000Z", l);
        json_decref (l);
    }

    zsock_t *in = th_socket (ZMQ_PUSH, '>', "tier2");
    zsock_t *co = th_socket (ZMQ_PULL, '@', "consensus");
    zsock_t *t3 = th_socket (ZMQ_PULL, '>', "tier3");
    pid_t tier2 = th_start ("tier2", "10000", NULL);

    //  block tier2 inside its first load, then fill its queue and ZeroMQ behind it
    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE validator_submission_listings IN ACCESS "
                                   "EXCLUSIVE MODE", 0, NULL, NULL), 0);
    tt_send_ready (in, ids [0]);
    s_wait_waiting (db);
    for (int i = 1; i < NSUB - 2; i++)
        tt_send_ready (in, ids [i]);
    CHECK (th_blocked (db, WAITING, tier2, "tier2") == 5);
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM validator_tier_results"), 0);

    //  released: every submission judged, the sent metrics equal an in-process check
    CHECK_EQ_INT (db_rollback (locker), 0);
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    int got = 0, forwarded = 0;
    bool seen [NSUB] = { false };
    for (int64_t end = clock_mono_ms () + 30000; got < NSUB - 2 && clock_mono_ms () < end;) {
        proto_tier_result_t r;
        if (tt_recv_result (co, &r, 0) != 0)
            continue;
        int i = 0;
        while (i < NSUB && ids [i] != (int64_t) r.submission_id)
            i++;
        CHECK (i < NSUB - 2 && !seen [i]);
        seen [i] = true;
        got++;
        CHECK_EQ_INT ((int) r.tier, 2);
        CHECK_EQ_INT ((int) r.verdict, i == 5 ? PROTO_VERDICT_FAIL : PROTO_VERDICT_PASS);
        if (i == 5)
            CHECK_EQ_STR (r.reason, "wrong_zipcode");
        tt_same_as_check (db, ids [i], tier2_check, &scoring, &r);
    }
    CHECK_EQ_INT (got, NSUB - 2);
    proto_submission_ready_t fw;
    while (tt_recv_ready (t3, &fw, 0) == 0) {
        CHECK (fw.db_id != (uint64_t) ids [5]);
        forwarded++;
        proto_submission_ready_free (&fw);
    }
    CHECK_EQ_INT (forwarded, NSUB - 3);
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM validator_tier_results WHERE tier = 2"),
                  NSUB - 2);
    printf ("released: %d judged (%d passes forwarded), metrics equal the in-process check, "
            "same tier2 pid %d\n", got, forwarded, (int) tier2);

    //  drain with a submission blocked in hand: tier2 finishes it, then exits 0
    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE validator_submission_listings IN ACCESS "
                                   "EXCLUSIVE MODE", 0, NULL, NULL), 0);
    tt_send_ready (in, ids [NSUB - 2]);
    s_wait_waiting (db);
    CHECK (kill (th_sup, SIGTERM) == 0);
    CHECK (tl_wait_log (th_log, "\"event\":\"tier_draining\"", NULL, 1, 5000));
    usleep (1500 * 1000);
    CHECK (kill (tier2, 0) == 0);
    CHECK_EQ_INT (tl_int (db, "%s", WAITING), 1);
    CHECK_EQ_INT (db_rollback (locker), 0);
    CHECK_EQ_INT (th_wait_sup (15000), 0);
    CHECK_EQ_INT (tl_log_count (th_log, "\"exit\":\"exit 0 (clean)\"", NULL), 1);
    CHECK_EQ_INT (tt_stored (db, ids [NSUB - 2], 2), 1);
    proto_tier_result_t last;
    CHECK_EQ_INT (tt_recv_result (co, &last, 0), 0);
    CHECK_EQ_INT ((int) last.submission_id, (int) ids [NSUB - 2]);
    CHECK_EQ_INT ((int) last.verdict, PROTO_VERDICT_PASS);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_heartbeat_lost\"", NULL), 0);
    printf ("drained: the submission in hand judged and sent, tier2 exit 0\n");

    //  drain timeout: tier2 alone (no supervisor), shutdown.budget.ms 2000, blocked on the
    //  lock past it: it exits 1 inside the budget without waiting for its work thread
    char e_dsn [600], e_run [260], bin [300], log2 [300];
    snprintf (e_dsn, sizeof e_dsn, "ZM_DB_DSN=%s", tt_dsn);
    snprintf (e_run, sizeof e_run, "ZM_RUN_DIR=%s", th_run);
    snprintf (bin, sizeof bin, "%s/bin/tier2", getenv ("ZM_BUILD_DIR"));
    snprintf (log2, sizeof log2, "%s/tier2-alone.log", tt_dir);
    pid_t alone = tl_spawn (bin, log2, (const char *[]) { e_dsn, e_run, "ZM_NODE_NAME=hb",
                                                          "ZM_SHUTDOWN_BUDGET_MS=2000", NULL });
    CHECK (tl_wait_log (log2, "\"worker_ready\"", NULL, 1, 30000));
    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE validator_submission_listings IN ACCESS "
                                   "EXCLUSIVE MODE", 0, NULL, NULL), 0);
    tt_send_ready (in, ids [NSUB - 1]);
    s_wait_waiting (db);
    int64_t term = clock_mono_ms ();
    CHECK (kill (alone, SIGTERM) == 0);
    CHECK_EQ_INT (tl_wait_exit (alone, 5000), 1);
    int64_t took = clock_mono_ms () - term;
    printf ("drain timeout: tier2 exit 1 after %lld ms (budget 2000)\n", (long long) took);
    //  1800 ms (budget minus the runtime's 200 ms margin) + 100 ms for the thread; the lock
    //  is held until after the exit, so a worker waiting for its thread would never end
    CHECK (took < 2300);                //  slack for a loaded host only
    CHECK_EQ_INT (tl_log_count (log2, "\"event\":\"drain_timeout\"", NULL), 1);
    CHECK_EQ_INT (tl_log_count (log2, "\"event\":\"tier_thread_abandoned\"", NULL), 1);
    CHECK_EQ_INT (db_rollback (locker), 0);
    //  the abandoned session goes with the process: nothing is stored for the submission
    CHECK (tl_wait_int (db, 0, 10000, WAITING));
    usleep (300 * 1000);
    CHECK_EQ_INT (tt_stored (db, ids [NSUB - 1], 2), -2);

    zsock_destroy (&in);
    zsock_destroy (&co);
    zsock_destroy (&t3);
    db_destroy (&locker);
    db_destroy (&db);
    TEST_DONE ();
}
