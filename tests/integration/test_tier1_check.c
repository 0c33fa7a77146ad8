/*  tier1 against real PostgreSQL, in process (tier_process with tier1_check):
      - the bounds at their edges: E = 100 gives 85..114 (84 and 115 fail, 85 and 114 pass),
        E = 7 gives 5..8 (4 and 9 fail);
      - a zipcode the epoch does not list fails ("no_expected_count");
      - every verdict is stored once and pushed to consensus with its metrics; only passes
        are forwarded to the next tier, as the same submission_ready;
      - a submission processed again (a new tier_t on a new connection: a restarted worker)
        re-sends the stored result byte for byte and does not store a second row;
      - an unknown or not yet downloaded submission is dropped (RC_ERR), nothing sent;
      - a malformed frame is dropped without harm.                                          */
#include "tests/integration/test_tier1_lib.h"
#include "workers/tier1/tier1.h"

static json_t *
s_listings (int n)
{
    json_t *a = json_array ();
    for (int i = 0; i < n; i++)
        json_array_append_new (a, json_pack ("{s:i, s:s}", "zpid", i, "zipcode", "10001"));
    return a;
}

static int64_t
s_sub (db_t *db, const char *hotkey, const char *zip, int n)
{
    json_t *a = s_listings (n);
    int64_t id = tt_submission (db, TT_EPOCH, hotkey, zip, "2026-11-25T15:00:00.000Z", a);
    json_decref (a);
    return id;
}

int
main (void)
{
    db_t *db = tt_setup ("tier1");
    tt_epoch (db, TT_EPOCH, "10001", 100);
    CHECK_EQ_INT (db_exec (db, "INSERT INTO validator_epoch_zipcodes VALUES ($1, '10002', 7)",
                           DB_P (TT_EPOCH), NULL), 0);
    zsock_t *co_push, *next_push;
    zsock_t *co = tt_pair ("consensus", &co_push);
    zsock_t *next = tt_pair ("tier2", &next_push);

    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    db_t *tdb = tt_connect ();
    tier_t *tier = tier_new (1, &tdb, tier1_check, &scoring);
    CHECK (tdb == NULL);
    CHECK_EQ_INT (tier_prepare (tier), 0);
    tier_set_outputs (tier, next_push, co_push);

    struct { const char *hotkey, *zip; int n; int pass; } cases [] = {
        { "hk84", "10001", 84, 0 }, { "hk85", "10001", 85, 1 }, { "hk114", "10001", 114, 1 },
        { "hk115", "10001", 115, 0 }, { "hk4", "10002", 4, 0 }, { "hk5", "10002", 5, 1 },
        { "hk8", "10002", 8, 1 }, { "hk9", "10002", 9, 0 },
    };
    int64_t ids [8];
    proto_tier_result_t first [8];
    for (int i = 0; i < 8; i++) {
        ids [i] = s_sub (db, cases [i].hotkey, cases [i].zip, cases [i].n);
        proto_tier_result_t r, got;
        CHECK_EQ_INT (tier_process (tier, ids [i], &r), 0);
        CHECK_EQ_INT ((int) r.verdict, cases [i].pass ? PROTO_VERDICT_PASS : PROTO_VERDICT_FAIL);
        CHECK_EQ_INT (tt_stored (db, ids [i], 1), cases [i].pass);
        CHECK_EQ_INT (tt_recv_result (co, &got, 0), 0);
        CHECK (proto_tier_result_equal (&r, &got));
        CHECK_EQ_INT ((int) got.tier, 1);
        CHECK_EQ_INT ((int) got.submission_id, (int) ids [i]);
        CHECK_EQ_STR (got.hotkey, cases [i].hotkey);
        CHECK_EQ_STR (got.epoch, TT_EPOCH);
        CHECK_EQ_INT (got.nmetrics, 4);
        //  sorted names: expected, high, listings, low
        CHECK_EQ_STR (got.metrics [0].name, "expected");
        CHECK_EQ_STR (got.metrics [2].name, "listings");
        CHECK (got.metrics [2].value == (double) cases [i].n);
        CHECK (got.metrics [1].value == (strcmp (cases [i].zip, "10001") == 0 ? 114.0 : 8.0));
        CHECK (got.metrics [3].value == (strcmp (cases [i].zip, "10001") == 0 ? 85.0 : 5.0));
        proto_submission_ready_t ready;
        if (cases [i].pass) {
            CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
            CHECK_EQ_INT ((int) ready.db_id, (int) ids [i]);
            CHECK_EQ_INT ((int) ready.count, cases [i].n);
            CHECK_EQ_STR (ready.last_modified, "2026-11-25T15:00:00.000Z");
            CHECK_EQ_STR (ready.zipcode, cases [i].zip);
        }
        else {
            CHECK (strstr (got.reason, "outside"));
            usleep (50000);
            CHECK (tt_recv_ready (next, &ready, ZMQ_DONTWAIT) != 0);
        }
        first [i] = got;
    }

    //  no expected count for the zipcode
    int64_t stray = s_sub (db, "hkstray", "10003", 10);
    proto_tier_result_t r;
    CHECK_EQ_INT (tier_process (tier, stray, &r), 0);
    CHECK_EQ_INT ((int) r.verdict, PROTO_VERDICT_FAIL);
    CHECK_EQ_STR (r.reason, "no_expected_count");
    CHECK_EQ_INT (tt_recv_result (co, &r, 0), 0);

    //  unknown id, and a submission not downloaded yet: dropped, nothing sent
    CHECK_EQ_INT (tier_process (tier, 999999, &r), RC_ERR);
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_submissions SET downloaded_at = NULL "
                               "WHERE miner_hotkey = 'hkstray'", 0, NULL, NULL), 0);
    CHECK_EQ_INT (tier_process (tier, stray, &r), RC_ERR);
    usleep (50000);
    CHECK (tt_recv_result (co, &r, ZMQ_DONTWAIT) != 0);

    //  malformed frame
    CHECK_EQ_INT (tier_handle (tier, (const uint8_t *) "\x93\x01", 2), 0);

    //  a restarted tier: same bytes re-sent, nothing recomputed or stored twice
    tier_destroy (&tier);
    tdb = tt_connect ();
    tier = tier_new (1, &tdb, tier1_check, &scoring);
    tier_set_outputs (tier, next_push, co_push);
    metrics_t *metrics = metrics_new ();
    tier_set_metrics (tier, metrics);
    //  tamper with the stored row: a re-send must carry what is stored, not a recomputation
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_tier_results SET reason = 'as stored' "
                               "WHERE s3_key LIKE '%hotkey=hk84/%'", 0, NULL, NULL), 0);
    for (int i = 0; i < 8; i++) {
        proto_tier_result_t again;
        CHECK_EQ_INT (tier_process (tier, ids [i], &r), 0);
        CHECK_EQ_INT (tt_recv_result (co, &again, 0), 0);
        if (i == 0) {
            CHECK_EQ_STR (again.reason, "as stored");
            snprintf (first [0].reason, sizeof first [0].reason, "as stored");
        }
        CHECK (proto_tier_result_equal (&again, &first [i]));
        if (cases [i].pass) {
            proto_submission_ready_t ready;
            CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
        }
    }
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM validator_tier_results"), 9);
    //  the counters: checked vs resent, by verdict
    CHECK (metrics_value (metrics_series (metrics_counter (metrics, "zipmine_tier_results_total",
        "Tier verdicts sent to consensus: checked now, or resent as stored", "tier,verdict,how"),
        "1", "pass", "resent")) == 4.0);
    CHECK (metrics_value (metrics_series (metrics_counter (metrics, "zipmine_tier_results_total",
        "Tier verdicts sent to consensus: checked now, or resent as stored", "tier,verdict,how"),
        "1", "fail", "resent")) == 4.0);

    //  through tier_handle: a real submission_ready frame
    proto_submission_ready_t msg;
    memset (&msg, 0, sizeof msg);
    snprintf (msg.epoch, sizeof msg.epoch, TT_EPOCH);
    snprintf (msg.hotkey, sizeof msg.hotkey, "hk85");
    snprintf (msg.zipcode, sizeof msg.zipcode, "10001");
    snprintf (msg.s3_key, sizeof msg.s3_key, "k");
    snprintf (msg.last_modified, sizeof msg.last_modified, "x");
    msg.count = 85;
    msg.db_id = (uint64_t) ids [1];
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    proto_err_t err;
    CHECK_EQ_INT (proto_submission_ready_encode (&msg, &buf, &err), 0);
    CHECK_EQ_INT (tier_handle (tier, (const uint8_t *) buf.data, buf.size), 0);
    msgpack_sbuffer_destroy (&buf);
    CHECK_EQ_INT (tt_recv_result (co, &r, 0), 0);
    CHECK (proto_tier_result_equal (&r, &first [1]));

    tier_destroy (&tier);
    metrics_destroy (&metrics);
    zsock_destroy (&co);
    zsock_destroy (&co_push);
    zsock_destroy (&next);
    zsock_destroy (&next_push);
    tt_teardown (&db);
    TEST_DONE ();
}
