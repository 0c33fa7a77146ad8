/*  tier3 against the real world binary and real PostgreSQL, in process (tier_process with
    tier3_check):
      - honest listings scraped from the world pass: every sampled listing verified, the
        sample is pyrandom_tier3_sample's, each sampled property cached once per epoch in
        validator_spot_checks;
      - prices within 5 % still pass; fabricated prices (+10 %) fail, first_bad_index being
        the first sampled index;
      - a restarted tier (new tier_t, new tier3_t, new connection) re-sends the same result,
        and recomputing it after the stored verdict is deleted, with the world now DOWN, gives
        the same verdict from the per-epoch cache;
      - world down and nothing cached (another epoch): "unverifiable" (stored with passed
        NULL, never "fail"), within the bounded attempts; with the world back on the same
        port the same submission is checked again and passes;
      - the command verifier (a sh + curl program speaking {zpid, zipcode} -> JSON) passes the
        honest submission; a verifier that hangs (killed at the timeout) or exits non-zero
        makes it unverifiable; one that answers not_found fails it;
      - a rate limit that cannot be waited out within the timeout gives unverifiable.                        */
#include "common/http.h"
#include "common/pyrandom.h"
#include "tests/integration/test_tier1_lib.h"
#include "workers/tier3/tier3.h"

#define ZIP "59101"

//  The external verifier: POSIX sh and curl (python3 takes seconds to start on a loaded
//  machine). $1 = mode (ok, hang, exit, none), $2 = the world's URL.
static const char s_verifier_sh [] =
    "#!/bin/sh\n"
    "read req\n"
    "zpid=$(printf '%s' \"$req\" | sed 's/.*\"zpid\":\"\\([0-9]*\\)\".*/\\1/')\n"
    "case \"$1\" in\n"
    "  hang) exec sleep 30 ;;\n"
    "  exit) exit 3 ;;\n"
    "  none) echo '{\"status\":\"not_found\"}'; exit 0 ;;\n"
    "esac\n"
    "code=$(curl -s -o /dev/stdout -w '\\n%{http_code}' \"$2/property/$zpid\") || "
    "{ echo '{\"status\":\"unavailable\"}'; exit 0; }\n"
    "status=$(printf '%s' \"$code\" | tail -n 1)\n"
    "body=$(printf '%s' \"$code\" | sed '$d')\n"
    "case \"$status\" in\n"
    "  200) printf '{\"status\":\"found\",\"property\":%s}\\n' \"$body\" ;;\n"
    "  404) echo '{\"status\":\"not_found\"}' ;;\n"
    "  *) echo '{\"status\":\"unavailable\"}' ;;\n"
    "esac\n";

//  Every listing of ZIP from the world, stamped 1 h before the deadline.
static json_t *
s_scrape (const char *url)
{
    http_t *http = http_new (NULL);
    CHECK (http);
    json_t *all = json_array ();
    for (int page = 1;; page++) {
        char u [200];
        snprintf (u, sizeof u, "%s/zipcode/%s/listings?page=%d&page_size=500", url, ZIP, page);
        http_response_t *resp = NULL;
        CHECK_EQ_INT (http_get (http, u, NULL, &resp), 0);
        CHECK_EQ_INT ((int) http_response_status (resp), 200);
        size_t len;
        const char *body = http_response_body (resp, &len);
        json_t *doc = json_loadb (body, len, 0, NULL);
        http_response_destroy (&resp);
        json_t *listings = json_object_get (doc, "listings");
        CHECK (json_is_array (listings));
        size_t n = json_array_size (listings);
        for (size_t i = 0; i < n; i++) {
            json_t *l = json_array_get (listings, i);
            json_object_set_new (l, "scraped_timestamp", json_string ("2026-11-25T15:00:00Z"));
            json_array_append (all, l);
        }
        json_decref (doc);
        if (n < 500)
            break;
    }
    http_destroy (&http);
    CHECK (json_array_size (all) >= 30);
    return all;
}

static json_t *
s_scaled (const json_t *honest, double factor)
{
    json_t *a = json_deep_copy (honest);
    for (size_t i = 0; i < json_array_size (a); i++) {
        json_t *l = json_array_get (a, i);
        double p = json_number_value (json_object_get (l, "price"));
        json_object_set_new (l, "price", json_integer ((json_int_t) (p * factor)));
    }
    return a;
}

typedef struct {
    db_t *db;
    zsock_t *co, *co_push;
    tier3_t *t3;
    tier_t *tier;
    scoring_cfg_t scoring;
} s_ctx_t;

static void
s_restart (s_ctx_t *c, const tier3_options_t *opts)
{
    tier_destroy (&c->tier);
    tier3_destroy (&c->t3);
    c->t3 = tier3_new (opts, &c->scoring);
    CHECK (c->t3);
    db_t *tdb = tt_connect ();
    c->tier = tier_new (3, &tdb, tier3_check, c->t3);
    tier_set_outputs (c->tier, NULL, c->co_push);
}

static proto_tier_result_t
s_judge (s_ctx_t *c, int64_t id, int want)
{
    proto_tier_result_t r, got;
    CHECK_EQ_INT (tier_process (c->tier, id, &r), 0);
    if ((int) r.verdict != want)
        fprintf (stderr, "db_id %d: verdict %s reason %s\n", (int) id,
                 proto_verdict_name ((int) r.verdict), r.reason);
    CHECK_EQ_INT ((int) r.verdict, want);
    CHECK_EQ_INT (tt_recv_result (c->co, &got, 0), 0);
    CHECK (proto_tier_result_equal (&r, &got));
    CHECK_EQ_INT (tt_stored (c->db, id, 3), want == PROTO_VERDICT_PASS ? 1
                                            : want == PROTO_VERDICT_FAIL ? 0 : -1);
    return r;
}

static double
s_metric (const proto_tier_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (strcmp (r->metrics [i].name, name) == 0)
            return r->metrics [i].value;
    return -1;
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    s_ctx_t c = { 0 };
    scoring_cfg_defaults (&c.scoring);
    c.db = tt_setup ("tier3");
    c.co = tt_pair ("consensus", &c.co_push);
    char bin [256], log [200], url [64];
    snprintf (bin, sizeof bin, "%s/bin/world", build);
    snprintf (log, sizeof log, "%s/world.log", tt_dir);
    pid_t world = tl_spawn (bin, log, (const char *[]) { "ZM_WORLD_PORT=0", NULL });
    CHECK (tl_wait_log (log, "\"world_listening\"", NULL, 1, 20000));
    int port = (int) tl_log_int (log, "\"world_listening\"", "port");
    snprintf (url, sizeof url, "http://127.0.0.1:%d", port);
    json_t *honest = s_scrape (url);
    size_t n = json_array_size (honest);
    const char *lm = "2026-11-25T15:00:00.000Z";

    tier3_options_t opts = { .verifier = "http", .source_url = url, .timeout_ms = 1000,
                             .attempts = 2, .rate_per_minute = 60000 };
    s_restart (&c, &opts);

    //  honest
    tt_epoch (c.db, TT_EPOCH, ZIP, (int) n);
    int64_t id_honest = tt_submission (c.db, TT_EPOCH, "hkhonest", ZIP, lm, honest);
    proto_tier_result_t honest_r = s_judge (&c, id_honest, PROTO_VERDICT_PASS);
    size_t k = pyrandom_tier3_k (n);
    CHECK (k >= 3);
    CHECK (s_metric (&honest_r, "sampled") == (double) k);
    CHECK (s_metric (&honest_r, "verified") == (double) k);
    CHECK (s_metric (&honest_r, "verified_ratio") == 1.0);
    uint64_t idx [PYRANDOM_TIER3_MAX_K];
    CHECK_EQ_INT (pyrandom_tier3_sample (TT_NONCE, "hkhonest", lm, n, idx), k);
    for (size_t i = 0; i < k; i++) {
        json_t *l = json_array_get (honest, idx [i]);
        CHECK_EQ_INT (tl_int (c.db, "SELECT count (*) FROM validator_spot_checks WHERE "
                              "epoch_id = '%s' AND property_id = '%" JSON_INTEGER_FORMAT
                              "' AND outcome = 'found'", TT_EPOCH,
                              json_integer_value (json_object_get (l, "zpid"))), 1);
    }

    //  within 5 %: pass; fabricated +10 %: fail
    json_t *a = s_scaled (honest, 1.04);
    int64_t id = tt_submission (c.db, TT_EPOCH, "hkclose", ZIP, lm, a);
    json_decref (a);
    s_judge (&c, id, PROTO_VERDICT_PASS);
    a = s_scaled (honest, 1.10);
    id = tt_submission (c.db, TT_EPOCH, "hkfake", ZIP, lm, a);
    json_decref (a);
    proto_tier_result_t r = s_judge (&c, id, PROTO_VERDICT_FAIL);
    CHECK (s_metric (&r, "verified") == 0.0);
    uint64_t fidx [PYRANDOM_TIER3_MAX_K];
    pyrandom_tier3_sample (TT_NONCE, "hkfake", lm, n, fidx);
    CHECK (s_metric (&r, "first_bad_index") == (double) fidx [0]);
    CHECK (strstr (r.reason, "verified 0 of"));

    //  restarted tier: same result re-sent
    s_restart (&c, &opts);
    proto_tier_result_t again = s_judge (&c, id_honest, PROTO_VERDICT_PASS);
    CHECK (proto_tier_result_equal (&again, &honest_r));

    //  world down: the cached epoch still reproduces its verdicts
    tl_kill (world, SIGKILL);
    CHECK_EQ_INT (db_exec (c.db, "DELETE FROM validator_tier_results", 0, NULL, NULL), 0);
    again = s_judge (&c, id_honest, PROTO_VERDICT_PASS);
    CHECK (proto_tier_result_equal (&again, &honest_r));

    //  world down, another epoch (nothing cached): unverifiable, never fail, bounded time
    const char *epoch2 = "2026-11-25T08-00-00";
    tt_epoch (c.db, epoch2, ZIP, (int) n);
    int64_t id2 = tt_submission (c.db, epoch2, "hkhonest", ZIP, lm, honest);
    int64_t t0 = clock_mono_ms ();
    r = s_judge (&c, id2, PROTO_VERDICT_UNVERIFIABLE);
    CHECK (clock_mono_ms () - t0 < 5000);
    CHECK (strncmp (r.reason, "source_unavailable: ", 20) == 0);
    CHECK_EQ_INT (tl_int (c.db, "SELECT count (*) FROM validator_spot_checks WHERE "
                          "epoch_id = '%s'", epoch2), 0);
    //  sent again while still down: still unverifiable (re-checked, not a stored fail)
    s_judge (&c, id2, PROTO_VERDICT_UNVERIFIABLE);

    //  the world is back on the same port: checked again, passes
    char portenv [32];
    snprintf (portenv, sizeof portenv, "ZM_WORLD_PORT=%d", port);
    char log2 [200];
    snprintf (log2, sizeof log2, "%s/world2.log", tt_dir);
    world = tl_spawn (bin, log2, (const char *[]) { portenv, NULL });
    CHECK (tl_wait_log (log2, "\"world_listening\"", NULL, 1, 20000));
    r = s_judge (&c, id2, PROTO_VERDICT_PASS);
    CHECK (s_metric (&r, "verified") == (double) k);

    //  the command verifier
    char script [200], cmd [400];
    snprintf (script, sizeof script, "%s/verifier.sh", tt_dir);
    tl_write_file (script, s_verifier_sh, 0755);
    const char *epoch3 = "2026-11-25T04-00-00";
    tt_epoch (c.db, epoch3, ZIP, (int) n);
    snprintf (cmd, sizeof cmd, "%s ok %s", script, url);
    tier3_options_t copts = { .verifier = "command", .command = cmd, .timeout_ms = 5000,
                              .attempts = 2, .rate_per_minute = 60000 };
    s_restart (&c, &copts);
    id = tt_submission (c.db, epoch3, "hkhonest", ZIP, lm, honest);
    r = s_judge (&c, id, PROTO_VERDICT_PASS);
    CHECK (s_metric (&r, "verified") == (double) k);
    a = s_scaled (honest, 1.10);
    id = tt_submission (c.db, epoch3, "hkfake", ZIP, lm, a);
    json_decref (a);
    s_judge (&c, id, PROTO_VERDICT_FAIL);

    const char *epoch4 = "2026-11-25T00-00-00";
    tt_epoch (c.db, epoch4, ZIP, (int) n);
    id = tt_submission (c.db, epoch4, "hkhonest", ZIP, lm, honest);
    snprintf (cmd, sizeof cmd, "%s hang %s", script, url);
    copts.timeout_ms = 1000;
    copts.attempts = 1;
    s_restart (&c, &copts);
    t0 = clock_mono_ms ();
    r = s_judge (&c, id, PROTO_VERDICT_UNVERIFIABLE);
    CHECK (clock_mono_ms () - t0 < 4000);
    CHECK (strstr (r.reason, "timed out"));
    snprintf (cmd, sizeof cmd, "%s exit %s", script, url);
    copts.timeout_ms = 5000;
    s_restart (&c, &copts);
    r = s_judge (&c, id, PROTO_VERDICT_UNVERIFIABLE);
    CHECK (strstr (r.reason, "status 3"));
    snprintf (cmd, sizeof cmd, "%s none %s", script, url);
    copts.timeout_ms = 5000;
    s_restart (&c, &copts);
    r = s_judge (&c, id, PROTO_VERDICT_FAIL);
    CHECK (s_metric (&r, "verified") == 0.0);

    //  the rate limiter: one lookup a minute (burst 1) and a 300 ms timeout: the second
    //  lookup cannot wait long enough, so the submission is unverifiable, not failed
    const char *epoch5 = "2026-11-24T20-00-00";
    tt_epoch (c.db, epoch5, ZIP, (int) n);
    id = tt_submission (c.db, epoch5, "hkhonest", ZIP, lm, honest);
    tier3_options_t ropts = { .verifier = "http", .source_url = url, .timeout_ms = 300,
                              .attempts = 1, .rate_per_minute = 1 };
    s_restart (&c, &ropts);
    r = s_judge (&c, id, PROTO_VERDICT_UNVERIFIABLE);
    CHECK (strstr (r.reason, "rate limit"));
    CHECK (s_metric (&r, "checked") == 1.0);
    CHECK_EQ_INT (tl_int (c.db, "SELECT count (*) FROM validator_spot_checks WHERE "
                          "epoch_id = '%s'", epoch5), 1);

    //  configuration errors
    tier3_options_t bad = { .verifier = "command", .command = "", .timeout_ms = 100,
                            .attempts = 1, .rate_per_minute = 60 };
    CHECK (tier3_new (&bad, &c.scoring) == NULL);
    bad.verifier = "ftp";
    CHECK (tier3_new (&bad, &c.scoring) == NULL);

    json_decref (honest);
    tier_destroy (&c.tier);
    tier3_destroy (&c.t3);
    zsock_destroy (&c.co);
    zsock_destroy (&c.co_push);
    tl_kill (world, SIGTERM);
    tt_teardown (&c.db);
    TEST_DONE ();
}
