/*  tier1 under a real supervisor keeps heartbeating while loading a submission is blocked
    in PostgreSQL, then judges correctly. tier1 runs the same work thread as tiers 2 and 3
    (tier_worker_run); its own database work is tier_load (the submission and the count of
    its stored listings).

    zipmined runs only tier1 (heartbeat.ms 300, heartbeat.misses 3: silent for 900 ms means
    SIGKILL). The test holds an ACCESS EXCLUSIVE lock on validator_submission_listings and
    sends two submissions (100 listings, E = 100: pass; 84: fail "count 84 outside
    85..114"). For 3.6 s tier1 waits on the lock in every sample, is the process first
    spawned, alive, never child_heartbeat_lost, and its heartbeat counter grows by at least
    5. After the release both verdicts arrive with every metric bit-equal to tier1_check
    in-process, only the pass is forwarded to tier 2, and SIGTERM ends tier1 and zipmined
    with 0.                                                                                 */
#include "tests/integration/test_tier_hb_lib.h"
#include "workers/tier1/tier1.h"

#define ZIP "77494"

static const char *WAITING =
    "SELECT count (*) FROM pg_stat_activity WHERE application_name = 'zipmine-tier1' "
    "AND wait_event_type = 'Lock' AND state = 'active' AND datname = current_database ()";

static json_t *
s_listings (int n)
{
    json_t *a = json_array ();
    for (int i = 0; i < n; i++)
        json_array_append_new (a, json_pack ("{s:i, s:s}", "zpid", 5000 + i, "zipcode", ZIP));
    return a;
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    db_t *db = th_setup ("tier1hb");
    db_t *locker = tt_connect ();
    tt_epoch (db, TT_EPOCH, ZIP, 100);
    json_t *l100 = s_listings (100), *l84 = s_listings (84);
    const char *lm = "2026-11-25T15:00:00.000Z";
    int64_t ids [2] = { tt_submission (db, TT_EPOCH, "hkpass", ZIP, lm, l100),
                        tt_submission (db, TT_EPOCH, "hkfail", ZIP, lm, l84) };
    json_decref (l100);
    json_decref (l84);

    zsock_t *in = th_socket (ZMQ_PUSH, '>', "tier1");
    zsock_t *co = th_socket (ZMQ_PULL, '@', "consensus");
    zsock_t *t2 = th_socket (ZMQ_PULL, '@', "tier2");
    pid_t tier1 = th_start ("tier1", "10000", NULL);

    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE validator_submission_listings IN ACCESS "
                                   "EXCLUSIVE MODE", 0, NULL, NULL), 0);
    tt_send_ready (in, ids [0]);
    tt_send_ready (in, ids [1]);
    CHECK (tl_wait_int (db, 1, 15000, WAITING));
    CHECK (th_blocked (db, WAITING, tier1, "tier1") == 2);

    CHECK_EQ_INT (db_rollback (locker), 0);
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    bool seen [2] = { false, false };
    for (int64_t end = clock_mono_ms () + 30000;
         !(seen [0] && seen [1]) && clock_mono_ms () < end;) {
        proto_tier_result_t r;
        if (tt_recv_result (co, &r, 0) != 0)
            continue;
        int i = (int64_t) r.submission_id == ids [0] ? 0 : 1;
        CHECK ((int64_t) r.submission_id == ids [i] && !seen [i]);
        seen [i] = true;
        CHECK_EQ_INT ((int) r.tier, 1);
        CHECK_EQ_INT ((int) r.verdict, i == 0 ? PROTO_VERDICT_PASS : PROTO_VERDICT_FAIL);
        if (i == 1)
            CHECK_EQ_STR (r.reason, "count 84 outside 85..114");
        tt_same_as_check (db, ids [i], tier1_check, &scoring, &r);
    }
    CHECK (seen [0] && seen [1]);
    proto_submission_ready_t fw;
    CHECK_EQ_INT (tt_recv_ready (t2, &fw, 0), 0);
    CHECK_EQ_INT ((int) fw.db_id, (int) ids [0]);
    proto_submission_ready_free (&fw);
    CHECK (tt_recv_ready (t2, &fw, 0) != 0);
    printf ("released: pass and fail judged as in-process, the pass forwarded, same tier1 "
            "pid %d\n", (int) tier1);

    CHECK (kill (th_sup, SIGTERM) == 0);
    CHECK_EQ_INT (th_wait_sup (15000), 0);
    CHECK_EQ_INT (tl_log_count (th_log, "\"exit\":\"exit 0 (clean)\"", NULL), 1);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_heartbeat_lost\"", NULL), 0);

    zsock_destroy (&in);
    zsock_destroy (&co);
    zsock_destroy (&t2);
    db_destroy (&locker);
    db_destroy (&db);
    TEST_DONE ();
}
