/*  The tier chain as processes: the real tier1, tier2 and two tier3 binaries, the real world
    and PostgreSQL; this test stands in for the downloader (PUSH to tier1.ipc) and consensus
    (PULL bound at consensus.ipc), all over ipc:// in a temp run dir.
      - an honest submission gets tier 1, 2 and 3 "pass", in that order per submission;
      - a short one (tier 1 fail) goes no further; one with fabricated prices passes tiers 1
        and 2 and fails tier 3;
      - tier3 instances killed with SIGKILL and restarted: the same submission sent again
        gets the stored results re-sent (same verdicts and metrics, event
        tier_result_resent), and validator_tier_results still holds one row per tier.      */
#include "common/http.h"
#include "tests/integration/test_tier1_lib.h"

#define ZIP "59101"

static json_t *
s_scrape (const char *url)
{
    http_t *http = http_new (NULL);
    CHECK (http);
    char u [200];
    snprintf (u, sizeof u, "%s/zipcode/%s/listings?page=1&page_size=500", url, ZIP);
    http_response_t *resp = NULL;
    CHECK_EQ_INT (http_get (http, u, NULL, &resp), 0);
    size_t len;
    const char *body = http_response_body (resp, &len);
    json_t *doc = json_loadb (body, len, 0, NULL);
    http_response_destroy (&resp);
    http_destroy (&http);
    json_t *listings = json_incref (json_object_get (doc, "listings"));
    json_decref (doc);
    CHECK (json_array_size (listings) >= 30 && json_array_size (listings) < 500);
    for (size_t i = 0; i < json_array_size (listings); i++)
        json_object_set_new (json_array_get (listings, i), "scraped_timestamp",
                             json_string ("2026-11-25T15:00:00Z"));
    return listings;
}

//  Collects tier_results until `count` arrived (or 30 s): verdicts [db_id index][tier].
static void
s_collect (zsock_t *co, int count, const int64_t *ids, int nids, int verdicts [][4],
           proto_tier_result_t results [][4])
{
    int64_t end = clock_mono_ms () + 30000;
    for (int got = 0; got < count && clock_mono_ms () < end;) {
        proto_tier_result_t r;
        if (tt_recv_result (co, &r, 0) != 0)
            continue;
        for (int i = 0; i < nids; i++)
            if ((int64_t) r.submission_id == ids [i]) {
                CHECK (r.tier >= 1 && r.tier <= 3);
                //  tiers arrive in order for one submission
                for (uint32_t t = 1; t < r.tier; t++)
                    CHECK (verdicts [i][t] == PROTO_VERDICT_PASS);
                verdicts [i][r.tier] = (int) r.verdict;
                results [i][r.tier] = r;
                got++;
            }
    }
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    db_t *db = tt_setup ("tierchain");
    char bin [256], log [300], url [64], run [200];
    snprintf (bin, sizeof bin, "%s/bin/world", build);
    snprintf (log, sizeof log, "%s/world.log", tt_dir);
    tl_spawn (bin, log, (const char *[]) { "ZM_WORLD_PORT=0", NULL });
    CHECK (tl_wait_log (log, "\"world_listening\"", NULL, 1, 20000));
    snprintf (url, sizeof url, "http://127.0.0.1:%d",
              (int) tl_log_int (log, "\"world_listening\"", "port"));
    json_t *honest = s_scrape (url);
    size_t n = json_array_size (honest);
    tt_epoch (db, TT_EPOCH, ZIP, (int) n);
    const char *lm = "2026-11-25T15:00:00.000Z";
    int64_t ids [3];
    ids [0] = tt_submission (db, TT_EPOCH, "hkhonest", ZIP, lm, honest);
    json_t *shortl = json_array ();
    json_array_append (shortl, json_array_get (honest, 0));
    ids [1] = tt_submission (db, TT_EPOCH, "hkshort", ZIP, lm, shortl);
    json_decref (shortl);
    json_t *fake = json_deep_copy (honest);
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get (fake, i);
        json_object_set_new (l, "price", json_integer (
            (json_int_t) (json_number_value (json_object_get (l, "price")) * 1.5)));
    }
    ids [2] = tt_submission (db, TT_EPOCH, "hkfake", ZIP, lm, fake);
    json_decref (fake);
    json_decref (honest);

    //  consensus and the downloader's side
    snprintf (run, sizeof run, "%s/run", tt_dir);
    char ep [400];
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 500;
    snprintf (ep, sizeof ep, "@ipc://%s/v/consensus.ipc", run);
    CHECK (zmqx_mkdir_p (run) == 0);
    char vdir [300];
    snprintf (vdir, sizeof vdir, "%s/v", run);
    CHECK (zmqx_mkdir_p (vdir) == 0);
    zsock_t *co = zmqx_new (ZMQ_PULL, ep, &opts);
    snprintf (ep, sizeof ep, ">ipc://%s/v/tier1.ipc", run);
    zsock_t *push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (co && push);

    char e_dsn [600], e_run [260], e_url [120];
    snprintf (e_dsn, sizeof e_dsn, "ZM_DB_DSN=%s", tt_dsn);
    snprintf (e_run, sizeof e_run, "ZM_RUN_DIR=%s", run);
    snprintf (e_url, sizeof e_url, "ZM_TIER3_SOURCE_URL=%s", url);
    const char *env [] = { e_dsn, e_run, e_url, "ZM_NODE_NAME=v", NULL };
    const char *names [] = { "tier1", "tier2", "tier3", "tier3" };
    pid_t pids [4];
    char logs [4][300];
    for (int i = 0; i < 4; i++) {
        snprintf (bin, sizeof bin, "%s/bin/%s", build, names [i]);
        snprintf (logs [i], sizeof logs [i], "%s/%s.%d.log", tt_dir, names [i], i);
        pids [i] = tl_spawn (bin, logs [i], env);
    }
    for (int i = 0; i < 4; i++)
        CHECK (tl_wait_log (logs [i], "\"worker_ready\"", NULL, 1, 30000));

    for (int i = 0; i < 3; i++)
        tt_send_ready (push, ids [i]);
    int verdicts [3][4] = { { 0 } };
    proto_tier_result_t results [3][4];
    //  honest: 3 results; short: 1; fake: 3
    s_collect (co, 7, ids, 3, verdicts, results);
    CHECK_EQ_INT (verdicts [0][1], PROTO_VERDICT_PASS);
    CHECK_EQ_INT (verdicts [0][2], PROTO_VERDICT_PASS);
    CHECK_EQ_INT (verdicts [0][3], PROTO_VERDICT_PASS);
    CHECK_EQ_INT (verdicts [1][1], PROTO_VERDICT_FAIL);
    CHECK_EQ_INT (verdicts [1][2], 0);
    CHECK_EQ_INT (verdicts [2][1], PROTO_VERDICT_PASS);
    CHECK_EQ_INT (verdicts [2][2], PROTO_VERDICT_PASS);
    CHECK_EQ_INT (verdicts [2][3], PROTO_VERDICT_FAIL);

    //  kill -9 both tier3 instances, restart them, send everything again
    for (int i = 2; i < 4; i++) {
        tl_kill (pids [i], SIGKILL);
        snprintf (bin, sizeof bin, "%s/bin/tier3", build);
        pids [i] = tl_spawn (bin, logs [i], env);
    }
    for (int i = 2; i < 4; i++)
        CHECK (tl_wait_log (logs [i], "\"worker_ready\"", NULL, 2, 30000));
    int again [3][4] = { { 0 } };
    proto_tier_result_t results2 [3][4];
    for (int i = 0; i < 3; i++)
        tt_send_ready (push, ids [i]);
    s_collect (co, 7, ids, 3, again, results2);
    for (int i = 0; i < 3; i++)
        for (int t = 1; t <= 3; t++) {
            CHECK_EQ_INT (again [i][t], verdicts [i][t]);
            if (verdicts [i][t])
                CHECK (proto_tier_result_equal (&results [i][t], &results2 [i][t]));
        }
    CHECK (tl_log_count (logs [2], "tier_result_resent", NULL)
         + tl_log_count (logs [3], "tier_result_resent", NULL) == 2);
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM validator_tier_results"), 7);

    //  SIGTERM: every tier exits 0
    for (int i = 0; i < 4; i++)
        kill (pids [i], SIGTERM);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT (tl_wait_exit (pids [i], 10000), 0);

    zsock_destroy (&co);
    zsock_destroy (&push);
    tt_teardown (&db);
    TEST_DONE ();
}
