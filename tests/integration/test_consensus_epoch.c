/*  consensus against real PostgreSQL and S3, in process: the tiers are played by the test
    (their tier_result frames are handed to consensus_handle), the downloader by a PULL
    socket that receives consensus's requests.

    Proves: requests go in validation order, within the in-flight bound, and stop at 3
    winners; the stored hash equals scoring_compute's over the same outcomes; the result
    file lands in S3 with scores, winners, totals, pending zipcodes and the hash; weights go
    to PostgreSQL, the weights file and the hook; PERFECT / MAJORITY / FAILED with outliers
    from planted peer results (newest per validator; unusable files ignored); a consensus
    destroyed mid-epoch and made anew gives the same hash; an unverifiable tier 3 leaves its
    zipcode pending and unscored, its miner unblamed.                                        */
#include "common/clock.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/s3.h"
#include "common/scoring.h"
#include "common/zmqx.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"
#include "tests/integration/test_storage_lib.h"
#include "workers/consensus/consensus.h"

#include <sys/stat.h>

#define SELF "5SelfValidator"

typedef struct {
    const char *zip;
    const char *hotkey;
    int offset_s;           //  LastModified = base + offset
    int listings;
    char behaviour;         //  P pass, F tier-2 fail, R rejected by the downloader, U unverifiable
} seed_t;

typedef struct {
    tdb_t tdb;
    char bucket [64];
    char dir [128];
    char weights [200], hook_out [200];
    s3_t *s3;
    zm_config_t cfg;
    db_t *db;               //  the test's own connection
    consensus_t *c;
    zsock_t *req_pull, *req_push;
    int64_t ids [64];
} t_t;

static void
s_new_consensus (t_t *t)
{
    db_t *db = tdb_connect (&t->tdb, "consensus");
    t->c = consensus_new (&t->cfg, &db, SELF);
    CHECK (t->c && !db);
    CHECK_EQ_INT (consensus_prepare (t->c), 0);
    consensus_set_requests (t->c, t->req_push);
}

static void
s_setup (t_t *t, const char *tag, const char *inflight)
{
    memset (t, 0, sizeof *t);
    tdb_create (&t->tdb, tag);
    snprintf (t->bucket, sizeof t->bucket, "zmco-%s-%d", tag, (int) getpid ());
    snprintf (t->dir, sizeof t->dir, "/tmp/zmco-%s-%d", tag, (int) getpid ());
    mkdir (t->dir, 0700);
    snprintf (t->weights, sizeof t->weights, "%s/weights.json", t->dir);
    snprintf (t->hook_out, sizeof t->hook_out, "%s/hook.out", t->dir);
    char hook [512], script [220];
    snprintf (script, sizeof script, "%s/hook.sh", t->dir);
    FILE *f = fopen (script, "w");
    CHECK (f);
    fprintf (f, "#!/bin/sh\ncat > \"$1\"\nexit 3\n");
    fclose (f);
    chmod (script, 0700);
    snprintf (hook, sizeof hook, "%s %s", script, t->hook_out);
    setenv ("ZM_DB_DSN", t->tdb.dsn, 1);
    t_env_s3 (t->bucket);
    setenv ("ZM_S3_TIMEOUT_MS", "5000", 1);
    setenv ("ZM_S3_MODE", "direct", 1);     //  grant mode: test_consensus_grant.c
    setenv ("ZM_LOG_LEVEL", "warn", 1);
    setenv ("ZM_CONSENSUS_VERDICT_DELAY_MS", "0", 1);
    setenv ("ZM_CONSENSUS_INFLIGHT_MAX", inflight, 1);
    setenv ("ZM_CONSENSUS_RESULT_MAX", "4096", 1);
    setenv ("ZM_CONSENSUS_WEIGHTS_FILE", t->weights, 1);
    setenv ("ZM_CONSENSUS_HOOK", hook, 1);
    setenv ("ZM_CONSENSUS_HOOK_TIMEOUT_MS", "5000", 1);
    t_config (&t->cfg);
    s3_config_t c = { .endpoint = t->cfg.s3_endpoint, .region = t->cfg.s3_region,
                      .access_key = t->cfg.s3_access_key, .secret_key = t->cfg.s3_secret_key,
                      .path_style = true, .max_attempts = 1 };
    t->s3 = s3_new (&c);
    CHECK (t->s3);
    CHECK_EQ_INT (s3_create_bucket (t->s3, t->bucket), 0);

    char ep [128];
    zmqx_opts_t o = zmqx_opts_default ();
    o.rcvtimeo_ms = 0;
    snprintf (ep, sizeof ep, "@inproc://req-%s", tag);
    t->req_pull = zmqx_new (ZMQ_PULL, ep, &o);
    snprintf (ep, sizeof ep, ">inproc://req-%s", tag);
    t->req_push = zmqx_new (ZMQ_PUSH, ep, &o);
    CHECK (t->req_pull && t->req_push);
    s_new_consensus (t);
    t->db = tdb_connect (&t->tdb, "test");
}

static void
s_teardown (t_t *t)
{
    consensus_destroy (&t->c);
    db_destroy (&t->db);
    zsock_destroy (&t->req_push);
    zsock_destroy (&t->req_pull);
    s3_destroy (&t->s3);
    zm_config_free (&t->cfg);
    tdb_drop (&t->tdb);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    CHECK_EQ_INT (system (cmd), 0);
}

//  The epoch (listed), its zipcodes and the submissions of seeds; ids in t->ids.
static void
s_seed (t_t *t, const char *epoch, const seed_t *seeds, size_t n)
{
    CHECK_EQ_INT (db_exec (t->db, "INSERT INTO validator_epochs (epoch_id, nonce, epoch_start, "
                           "epoch_end, submission_deadline, assignment, listed_at) VALUES "
                           "($1, '9f86d081884c7d65', '2026-11-25T12:00:00Z', "
                           "'2026-11-25T16:00:00Z', '2026-11-25T16:00:00Z', '{}', now())",
                           DB_P (epoch), NULL), 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT (db_exec (t->db, "INSERT INTO validator_epoch_zipcodes VALUES ($1, $2, 100) "
                               "ON CONFLICT DO NOTHING", DB_P (epoch, seeds [i].zip), NULL), 0);
        char key [200], off [16], cnt [16];
        snprintf (key, sizeof key, "data/hotkey=%s/epoch=%s/zipcode=%s/data_20261125_130000.json",
                  seeds [i].hotkey, epoch, seeds [i].zip);
        snprintf (off, sizeof off, "%d", seeds [i].offset_s);
        snprintf (cnt, sizeof cnt, "%d", seeds [i].listings);
        const char *state = seeds [i].behaviour == 'R' ? "rejected" : "listed";
        db_result_t *res = NULL;
        CHECK_EQ_INT (db_exec (t->db, "INSERT INTO validator_submissions (epoch_id, s3_key, "
                               "miner_hotkey, zipcode, last_modified, last_modified_raw, "
                               "size_bytes, state, listing_count) VALUES ($1, $2, $3, $4, "
                               "'2026-11-25T15:00:00Z'::timestamptz + make_interval(secs => $5::int), "
                               "'2026-11-25T15:00:00.000Z', 1000, $6, "
                               "CASE WHEN $6 = 'rejected' THEN NULL ELSE $7::int END) RETURNING id",
                               DB_P (epoch, key, seeds [i].hotkey, seeds [i].zip, off, state, cnt),
                               &res), 0);
        CHECK_EQ_INT (db_result_int64 (res, 0, 0, &t->ids [i]), 0);
        db_result_destroy (&res);
    }
}

static void
s_feed (t_t *t, const char *epoch, const seed_t *s, int64_t id, uint32_t tier, uint32_t verdict)
{
    proto_tier_result_t m;
    memset (&m, 0, sizeof m);
    snprintf (m.epoch, sizeof m.epoch, "%s", epoch);
    snprintf (m.hotkey, sizeof m.hotkey, "%s", s->hotkey);
    snprintf (m.zipcode, sizeof m.zipcode, "%s", s->zip);
    m.tier = tier;
    m.verdict = verdict;
    m.submission_id = (uint64_t) id;
    m.nmetrics = 1;
    snprintf (m.metrics [0].name, sizeof m.metrics [0].name, "ratio");
    m.metrics [0].value = 0.5;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    proto_err_t err;
    CHECK_EQ_INT (proto_tier_result_encode (&m, &sb, &err), 0);
    CHECK_EQ_INT (consensus_handle (t->c, (const uint8_t *) sb.data, sb.size), 0);
    msgpack_sbuffer_destroy (&sb);
}

//  What the tiers would say about seed i.
static void
s_judge (t_t *t, const char *epoch, const seed_t *seeds, size_t i)
{
    const seed_t *s = &seeds [i];
    switch (s->behaviour) {
        case 'P':
            for (uint32_t tier = 1; tier <= 3; tier++)
                s_feed (t, epoch, s, t->ids [i], tier, PROTO_VERDICT_PASS);
            break;
        case 'F':
            s_feed (t, epoch, s, t->ids [i], 1, PROTO_VERDICT_PASS);
            s_feed (t, epoch, s, t->ids [i], 2, PROTO_VERDICT_FAIL);
            break;
        case 'U':
            s_feed (t, epoch, s, t->ids [i], 1, PROTO_VERDICT_PASS);
            s_feed (t, epoch, s, t->ids [i], 2, PROTO_VERDICT_PASS);
            s_feed (t, epoch, s, t->ids [i], 3, PROTO_VERDICT_UNVERIFIABLE);
            break;
        default:        //  'R': the downloader's row says rejected; its report may be lost
            break;
    }
}

//  Receives the requests pending on the fake downloader; marks them in got []. Returns how
//  many arrived.
static int
s_requests (t_t *t, const char *epoch, const seed_t *seeds, size_t n, bool *got,
            size_t *order, size_t *norder)
{
    int count = 0;
    zmqx_frame_t f;
    while (zmqx_recv (t->req_pull, &f, 1 << 20, ZMQ_DONTWAIT) == 0) {
        proto_submission_ready_t m;
        proto_err_t err;
        CHECK_EQ_INT (proto_submission_ready_decode (zmqx_frame_data (&f), zmqx_frame_size (&f),
                                                     &m, &err), 0);
        zmqx_frame_close (&f);
        CHECK_EQ_STR (m.epoch, epoch);
        bool found = false;
        for (size_t i = 0; i < n; i++)
            if ((int64_t) m.db_id == t->ids [i]) {
                CHECK_EQ_STR (m.hotkey, seeds [i].hotkey);
                CHECK_EQ_STR (m.zipcode, seeds [i].zip);
                if (!got [i] && order)
                    order [(*norder)++] = i;
                got [i] = true;
                found = true;
            }
        CHECK (found);
        proto_submission_ready_free (&m);
        count++;
    }
    return count;
}

//  The hash scoring_compute gives for the seeds (pending zipcodes left out).
static void
s_expected (const seed_t *seeds, size_t n, const char *const *pending, size_t npending,
            char hex [65])
{
    scoring_zipcode_t zips [16];
    scoring_submission_t subs [16][16];
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t p = 0; p < npending; p++)
            skip |= strcmp (pending [p], seeds [i].zip) == 0;
        if (skip)
            continue;
        size_t z = 0;
        while (z < nz && strcmp (zips [z].zipcode, seeds [i].zip) != 0)
            z++;
        if (z == nz)
            zips [nz++] = (scoring_zipcode_t) { .zipcode = seeds [i].zip, .subs = subs [z] };
        subs [z][zips [z].nsubs++] = (scoring_submission_t) {
            .hotkey = seeds [i].hotkey, .last_modified = seeds [i].offset_s,
            .listings = seeds [i].behaviour == 'R' ? 0 : seeds [i].listings,
            .passed = seeds [i].behaviour == 'P' };
    }
    scoring_cfg_t cfg;
    scoring_cfg_defaults (&cfg);
    scoring_result_t *r = scoring_compute (&cfg, zips, nz);
    CHECK (r);
    CHECK_EQ_INT (scoring_result_consensus_hash (r, "9f86d081884c7d65", hex), 0);
    scoring_result_destroy (&r);
}

//  Steps until done, playing downloader and tiers. Returns the steps taken.
static int
s_run (t_t *t, const char *epoch, const seed_t *seeds, size_t n, bool *got, size_t *order,
       size_t *norder, int max_inflight)
{
    int steps = 0;
    for (; steps < 200; steps++) {
        int rc = consensus_step (t->c, epoch);
        CHECK (rc > 0);
        if (rc == CONSENSUS_DONE)
            return steps;
        bool fresh [64] = { 0 };
        bool before [64];
        memcpy (before, got, sizeof before);
        int k = s_requests (t, epoch, seeds, n, got, order, norder);
        CHECK (k <= max_inflight);
        for (size_t i = 0; i < n; i++)
            fresh [i] = got [i] && !before [i];
        for (size_t i = 0; i < n; i++)
            if (fresh [i])
                s_judge (t, epoch, seeds, i);
        if (rc != CONSENSUS_VALIDATING)
            usleep (20 * 1000);         //  the hook runs
    }
    CHECK (!"epoch never finished");
    return steps;
}

static char *
s_read_file (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    char *buf = calloc (1, 65536);
    CHECK (buf);
    size_t n = fread (buf, 1, 65535, f);
    buf [n] = 0;
    fclose (f);
    return buf;
}

static json_t *
s_published (t_t *t, const char *epoch)
{
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (t->db, "SELECT result_key FROM validator_consensus_epochs "
                           "WHERE epoch_id = $1", DB_P (epoch), &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    char prefix [128];
    snprintf (prefix, sizeof prefix, "validators/%s/%s/validation_results/", SELF, epoch);
    CHECK (strncmp (db_result_get (res, 0, 0), prefix, strlen (prefix)) == 0);
    char *body = NULL;
    size_t size = 0;
    CHECK_EQ_INT (s3_get_buffer (t->s3, t->bucket, db_result_get (res, 0, 0), 1 << 20, &body,
                                 &size), 0);
    db_result_destroy (&res);
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (body, size, 1 << 20, 16, &err);
    CHECK (doc);
    free (body);
    return doc;
}

static void
s_plant (t_t *t, const char *hotkey, const char *epoch, const char *ts, const char *body)
{
    char key [256];
    snprintf (key, sizeof key, "validators/%s/%s/validation_results/%s.json", hotkey, epoch, ts);
    CHECK_EQ_INT (s3_put (t->s3, t->bucket, key, body, strlen (body), "application/json"), 0);
}

static void
s_plant_hash (t_t *t, const char *hotkey, const char *epoch, const char *ts, const char *hash)
{
    char body [256];
    snprintf (body, sizeof body, "{\"consensus_hash\":\"%s\",\"epoch_id\":\"%s\"}", hash, epoch);
    s_plant (t, hotkey, epoch, ts, body);
}

static void
s_check_verdict (t_t *t, const char *epoch, const char *verdict, int agreeing, int total,
                 const char *outliers)
{
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (t->db, "SELECT verdict, agreeing, total, outliers::text FROM "
                           "validator_consensus_verdicts WHERE epoch_id = $1",
                           DB_P (epoch), &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    CHECK_EQ_STR (db_result_get (res, 0, 0), verdict);
    CHECK_EQ_INT (atoi (db_result_get (res, 0, 1)), agreeing);
    CHECK_EQ_INT (atoi (db_result_get (res, 0, 2)), total);
    CHECK_EQ_STR (db_result_get (res, 0, 3), outliers);
    db_result_destroy (&res);
}

//  ---------------------------------------------------------------------------------------

static const seed_t MAIN [] = {
    //  10001: A, B (fails tier 2), C, D pass -> winners A, C, D; E is never requested
    { "10001", "MinerA", 1, 100, 'P' },
    { "10001", "MinerB", 2, 90, 'F' },
    { "10001", "MinerC", 3, 110, 'P' },
    { "10001", "MinerD", 3, 95, 'P' },          //  tie with C: hotkey order
    { "10001", "MinerE", 9, 100, 'P' },
    //  10002: G rejected by the downloader (no report arrives), F passes
    { "10002", "MinerG", 1, 50, 'R' },
    { "10002", "MinerF", 5, 105, 'P' },
    //  10003: a lone failure (participant only)
    { "10003", "MinerH", 1, 100, 'F' },
};
#define NMAIN (sizeof MAIN / sizeof MAIN [0])

static void
test_epoch_end_to_end (void)
{
    t_t t;
    s_setup (&t, "e2e", "2");
    const char *epoch = "2026-11-25T12-00-00";
    s_seed (&t, epoch, MAIN, NMAIN);
    metrics_t *metrics = metrics_new ();
    consensus_set_metrics (t.c, metrics);
    bool got [64] = { 0 };
    size_t order [64], norder = 0;
    s_run (&t, epoch, MAIN, NMAIN, got, order, &norder, 2);
    //  lazy: E never requested, nor G (the downloader's row already says rejected);
    //  everything else was, zipcode by zipcode in LastModified order
    CHECK (!got [4] && !got [5]);
    for (size_t i = 0; i < NMAIN; i++)
        if (i != 4 && i != 5)
            CHECK (got [i]);
    CHECK_EQ_INT ((int) norder, (int) NMAIN - 2);
    for (size_t k = 1; k < norder; k++) {
        const seed_t *a = &MAIN [order [k - 1]], *b = &MAIN [order [k]];
        int zc = strcmp (a->zip, b->zip);
        CHECK (zc < 0 || (zc == 0 && (a->offset_s < b->offset_s
               || (a->offset_s == b->offset_s && strcmp (a->hotkey, b->hotkey) < 0))));
    }
    //  the hash equals scoring_compute's
    char expected [65], hash [65];
    s_expected (MAIN, NMAIN, NULL, 0, expected);
    CHECK_EQ_INT (consensus_hash (t.c, epoch, hash), 0);
    CHECK_EQ_STR (hash, expected);
    //  the published file
    json_t *doc = s_published (&t, epoch);
    jsonx_err_t err = { 0 };
    CHECK_EQ_STR (jsonx_str (doc, "consensus_hash", &err), expected);
    CHECK_EQ_STR (jsonx_str (doc, "validator_hotkey", &err), SELF);
    CHECK_EQ_INT ((int) json_array_size (jsonx_arr (doc, "pending_zipcodes", &err)), 0);
    const json_t *totals = jsonx_obj (doc, "totals", &err);
    CHECK_EQ_INT ((int) jsonx_int (totals, "total_epoch_listings", &err), 100 + 110 + 95 + 105);
    CHECK_EQ_INT ((int) jsonx_int (totals, "total_winners", &err), 4);
    CHECK_EQ_INT ((int) jsonx_int (totals, "total_participants", &err), 3);
    const json_t *w1 = jsonx_arr (jsonx_obj (doc, "zipcode_winners", &err), "10001", &err);
    CHECK_EQ_INT ((int) json_array_size (w1), 3);
    CHECK_EQ_STR (json_string_value (json_array_get (w1, 0)), "MinerA");
    CHECK_EQ_STR (json_string_value (json_array_get (w1, 1)), "MinerC");
    CHECK_EQ_STR (json_string_value (json_array_get (w1, 2)), "MinerD");
    CHECK_EQ_INT ((int) json_array_size (jsonx_arr (doc, "miner_scores", &err)), 7);
    CHECK (!err.failed);
    json_decref (doc);
    //  weights: PostgreSQL = scores, file = hook's stdin; alone, the verdict is PERFECT
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_weights w JOIN validator_scores s "
                           "USING (epoch_id, miner_hotkey) WHERE w.weight = s.score", 0, NULL), 7);
    s_check_verdict (&t, epoch, "PERFECT", 1, 1, "{}");
    char *wf = s_read_file (t.weights), *hf = s_read_file (t.hook_out);
    CHECK (wf && hf);
    CHECK (strstr (wf, expected) && strstr (wf, "\"MinerA\""));
    CHECK_EQ_STR (hf, wf);
    free (wf);
    free (hf);
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_consensus_epochs WHERE "
                           "hook_status = 'exit 3'", 0, NULL), 1);
    //  the counters saw it all: 6 requests, 3 x 4 passes + 2 x (pass + fail) tier results
    size_t mlen = 0;
    char *text = metrics_render (metrics, &mlen);
    CHECK (text);
    CHECK (strstr (text, "zipmine_consensus_requests_total 6\n"));
    CHECK (strstr (text, "zipmine_consensus_tier_results_total{verdict=\"pass\"} 14\n"));
    CHECK (strstr (text, "zipmine_consensus_tier_results_total{verdict=\"fail\"} 2\n"));
    CHECK (strstr (text, "zipmine_consensus_epochs_scored_total 1\n"));
    CHECK (strstr (text, "zipmine_consensus_pending_zipcodes 0\n"));
    CHECK (strstr (text, "zipmine_consensus_verdicts_total{verdict=\"PERFECT\"} 1\n"));
    CHECK (strstr (text, "zipmine_consensus_hook_runs_total{result=\"failed\"} 1\n"));
    free (text);
    //  done is done: another step changes nothing and requests nothing
    CHECK_EQ_INT (consensus_step (t.c, epoch), CONSENSUS_DONE);
    CHECK_EQ_INT (s_requests (&t, epoch, MAIN, NMAIN, got, NULL, NULL), 0);
    s_teardown (&t);
    metrics_destroy (&metrics);         //  after consensus, which holds its series
}

//  A killed consensus (destroyed mid-epoch, results half fed) and a new one give the same
//  hash; what was requested is not requested again before the retry interval.
static void
test_restart_same_hash (void)
{
    t_t t;
    s_setup (&t, "restart", "32");
    const char *epoch = "2026-11-25T16-00-00";
    s_seed (&t, epoch, MAIN, NMAIN);
    bool got [64] = { 0 };
    CHECK_EQ_INT (consensus_step (t.c, epoch), CONSENSUS_VALIDATING);
    int k = s_requests (&t, epoch, MAIN, NMAIN, got, NULL, NULL);
    CHECK_EQ_INT (k, 5);        //  A, B, C (the first 3 undecided of 10001), F, H
    s_judge (&t, epoch, MAIN, 0);
    s_judge (&t, epoch, MAIN, 1);
    consensus_destroy (&t.c);
    s_new_consensus (&t);
    CHECK_EQ_INT (consensus_step (t.c, epoch), CONSENSUS_VALIDATING);
    //  only D is new (B failed, so 10001 needs C and D now); nothing is asked twice
    CHECK (!got [3]);
    CHECK_EQ_INT (s_requests (&t, epoch, MAIN, NMAIN, got, NULL, NULL), 1);
    CHECK (got [3]);
    for (size_t i = 2; i < NMAIN; i++)
        if (got [i])
            s_judge (&t, epoch, MAIN, i);
    size_t order [64], norder = 0;
    s_run (&t, epoch, MAIN, NMAIN, got, order, &norder, 32);
    char expected [65], hash [65];
    s_expected (MAIN, NMAIN, NULL, 0, expected);
    CHECK_EQ_INT (consensus_hash (t.c, epoch, hash), 0);
    CHECK_EQ_STR (hash, expected);
    CHECK (!got [4]);
    //  a restart after scoring keeps the stored document and hash
    consensus_destroy (&t.c);
    s_new_consensus (&t);
    CHECK_EQ_INT (consensus_step (t.c, epoch), CONSENSUS_DONE);
    CHECK_EQ_INT (consensus_hash (t.c, epoch, hash), 0);
    CHECK_EQ_STR (hash, expected);
    s_teardown (&t);
}

static const seed_t SMALL [] = {
    { "20001", "MinerA", 1, 100, 'P' },
    { "20001", "MinerB", 2, 100, 'F' },
};

static void
test_verdicts (void)
{
    t_t t;
    s_setup (&t, "verdict", "32");
    char expected [65];
    s_expected (SMALL, 2, NULL, 0, expected);
    const char *other = "00000000000000000000000000000000000000000000000000000000000000ff";
    bool got [64];

    //  PERFECT: two peers agree; one of them had an older, different result
    const char *e1 = "2026-11-26T00-00-00";
    s_plant_hash (&t, "5PeerOne", e1, "1700000000", other);
    s_plant_hash (&t, "5PeerOne", e1, "1700000100", expected);
    s_plant_hash (&t, "5PeerTwo", e1, "1700000000", expected);
    s_plant (&t, "5PeerJunk", e1, "1700000000", "{not json");
    s_plant (&t, "5PeerNoHash", e1, "1700000000", "{\"consensus_hash\":\"xyz\"}");
    char big [8192];
    memset (big, ' ', sizeof big - 1);
    big [0] = '{';
    big [sizeof big - 2] = '}';
    big [sizeof big - 1] = 0;
    s_plant (&t, "5PeerHuge", e1, "1700000000", big);
    s_plant (&t, "5PeerBadName", e1, "latest", "{}");
    s_seed (&t, e1, SMALL, 2);
    memset (got, 0, sizeof got);
    s_run (&t, e1, SMALL, 2, got, NULL, NULL, 32);
    s_check_verdict (&t, e1, "PERFECT", 3, 3, "{}");
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_consensus_hashes WHERE "
                           "epoch_id = '2026-11-26T00-00-00' AND NOT is_self", 0, NULL), 2);

    //  MAJORITY: 10 of 11 agree (>= 90 %)
    const char *e2 = "2026-11-26T04-00-00";
    for (int i = 0; i < 9; i++) {
        char hk [32];
        snprintf (hk, sizeof hk, "5Agree%d", i);
        s_plant_hash (&t, hk, e2, "1700000000", expected);
    }
    s_plant_hash (&t, "5Outlier", e2, "1700000000", other);
    s_seed (&t, e2, SMALL, 2);
    memset (got, 0, sizeof got);
    s_run (&t, e2, SMALL, 2, got, NULL, NULL, 32);
    s_check_verdict (&t, e2, "MAJORITY", 10, 11, "{5Outlier}");

    //  FAILED: 3 of 5 agree; both dissenters named
    const char *e3 = "2026-11-26T08-00-00";
    s_plant_hash (&t, "5Agree0", e3, "1700000000", expected);
    s_plant_hash (&t, "5Agree1", e3, "1700000000", expected);
    s_plant_hash (&t, "5Zed", e3, "1700000000", other);
    s_plant_hash (&t, "5Bad", e3, "1700000000", other);
    s_seed (&t, e3, SMALL, 2);
    memset (got, 0, sizeof got);
    s_run (&t, e3, SMALL, 2, got, NULL, NULL, 32);
    s_check_verdict (&t, e3, "FAILED", 3, 5, "{5Bad,5Zed}");

    //  and we are the outlier: 1 of 3
    const char *e4 = "2026-11-26T12-00-00";
    s_plant_hash (&t, "5Agree0", e4, "1700000000", other);
    s_plant_hash (&t, "5Agree1", e4, "1700000000", other);
    s_seed (&t, e4, SMALL, 2);
    memset (got, 0, sizeof got);
    s_run (&t, e4, SMALL, 2, got, NULL, NULL, 32);
    s_check_verdict (&t, e4, "FAILED", 2, 3, "{" SELF "}");
    s_teardown (&t);
}

static const seed_t PENDING [] = {
    { "30001", "MinerA", 1, 100, 'P' },
    { "30001", "MinerB", 2, 100, 'U' },         //  source down: 30001 pending
    { "30001", "MinerC", 3, 100, 'P' },
    { "30002", "MinerC", 1, 80, 'P' },
    { "30002", "MinerD", 2, 80, 'F' },
};

static void
test_pending (void)
{
    t_t t;
    s_setup (&t, "pending", "32");
    const char *epoch = "2026-11-27T00-00-00";
    s_seed (&t, epoch, PENDING, 5);
    bool got [64] = { 0 };
    s_run (&t, epoch, PENDING, 5, got, NULL, NULL, 32);
    char expected [65], hash [65];
    const char *pending [] = { "30001" };
    s_expected (PENDING, 5, pending, 1, expected);
    CHECK_EQ_INT (consensus_hash (t.c, epoch, hash), 0);
    CHECK_EQ_STR (hash, expected);
    json_t *doc = s_published (&t, epoch);
    jsonx_err_t err = { 0 };
    const json_t *p = jsonx_arr (doc, "pending_zipcodes", &err);
    CHECK_EQ_INT ((int) json_array_size (p), 1);
    CHECK_EQ_STR (json_string_value (json_array_get (p, 0)), "30001");
    CHECK (!err.failed);
    json_decref (doc);
    //  B is not blamed (no score at all), nor is A paid for the unscored zipcode
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_scores WHERE miner_hotkey "
                           "IN ('MinerA', 'MinerB')", 0, NULL), 0);
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_consensus_epochs WHERE "
                           "pending = '{30001}'", 0, NULL), 1);
    //  a later definitive tier 3 is stored over "unverifiable"; an unverifiable after a pass
    //  does not undo it
    s_feed (&t, epoch, &PENDING [1], t.ids [1], 3, PROTO_VERDICT_PASS);
    s_feed (&t, epoch, &PENDING [0], t.ids [0], 3, PROTO_VERDICT_UNVERIFIABLE);
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_tier_results WHERE tier = 3 "
                           "AND passed AND s3_key LIKE '%zipcode=30001%'", 0, NULL), 3);
    s_teardown (&t);
}

//  Hostile frames and results for unknown submissions are dropped without harm.
static void
test_intake_refusals (void)
{
    t_t t;
    s_setup (&t, "intake", "32");
    const char *epoch = "2026-11-27T04-00-00";
    s_seed (&t, epoch, SMALL, 2);
    const uint8_t junk [] = { 0x93, 0x01, 0x09, 0xdf, 0xff, 0xff, 0xff, 0xff };
    CHECK_EQ_INT (consensus_handle (t.c, junk, sizeof junk), 0);
    seed_t ghost = { "20001", "MinerZ", 1, 1, 'P' };
    s_feed (&t, epoch, &ghost, 0, 1, PROTO_VERDICT_PASS);
    s_feed (&t, epoch, &SMALL [1], t.ids [0], 1, PROTO_VERDICT_PASS);     //  id of another miner
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_tier_results", 0, NULL), 0);
    //  without an id the miner's submission for the zipcode is found
    s_feed (&t, epoch, &SMALL [0], 0, 1, PROTO_VERDICT_PASS);
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_tier_results", 0, NULL), 1);
    CHECK_EQ_INT (consensus_step (t.c, "2030-01-01T00-00-00"), RC_ERR);
    s_teardown (&t);
}

//  A hook that never ends is killed at its timeout; the status says so and the epoch is done.
static void
test_hook_timeout (void)
{
    t_t t;
    s_setup (&t, "hook", "32");
    consensus_destroy (&t.c);
    zm_config_free (&t.cfg);
    setenv ("ZM_CONSENSUS_HOOK", "sleep 30", 1);
    setenv ("ZM_CONSENSUS_HOOK_TIMEOUT_MS", "300", 1);
    char *argv [] = { "test", NULL };
    char err [256];
    CHECK_EQ_INT (zm_config_load (&t.cfg, 1, argv, err, sizeof err), 0);
    s_new_consensus (&t);
    const char *epoch = "2026-11-27T08-00-00";
    s_seed (&t, epoch, SMALL, 2);
    bool got [64] = { 0 };
    int64_t t0 = clock_mono_ms ();
    s_run (&t, epoch, SMALL, 2, got, NULL, NULL, 32);
    int64_t ms = clock_mono_ms () - t0;
    CHECK (ms >= 300 && ms < 10000);
    CHECK_EQ_INT (tdb_int (t.db, "SELECT count(*) FROM validator_consensus_epochs WHERE "
                           "hook_status = 'timeout'", 0, NULL), 1);
    s_teardown (&t);
}

int
main (void)
{
    log_set_proc ("test_consensus_epoch");
    log_set_level (LOGL_WARN);
    test_epoch_end_to_end ();
    test_restart_same_hash ();
    test_verdicts ();
    test_pending ();
    test_intake_refusals ();
    test_hook_timeout ();
    TEST_DONE ();
}
