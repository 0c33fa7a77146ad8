/*  consensus: drive, score, publish, verdict, weights, hook (consensus.h).

    PostgreSQL is the only input of the walk and the score: submission rows (downloader),
    tier results (stored here as they arrive), and our own request records. Each phase ends
    with a durable mark (validator_consensus_epochs.*_at), so a restart resumes at the first
    unfinished phase and recomputes nothing that was stored. The only state kept in memory
    is a running hook child (a restart runs the hook again: at least once).                 */
#include "workers/consensus/consensus.h"

#include "common/backoff.h"
#include "common/canon.h"
#include "common/clock.h"
#include "common/grant.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/s3.h"
#include "common/scoring.h"
#include "common/zmqx.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define HOTKEY_MAX      64
#define HOOK_ARGS_MAX   64
#define PEER_KEYS_MAX   10000       //  result files listed under one validator's epoch prefix
#define PEER_BUDGET_MS  500         //  peer reading per step: the loop must keep heartbeating
#define GRANT_MARGIN_S  5           //  a grant this close to expiry is asked anew
#define GRANT_PATH      "/api/v1/s3-access/validator-upload"

typedef enum { OUT_UNDECIDED, OUT_PASS, OUT_FAIL, OUT_UNVERIFIABLE } s_outcome_t;

typedef struct {
    int64_t id;
    char hotkey [HOTKEY_MAX + 1];
    char zipcode [6];
    int64_t lm_us;                  //  LastModified, unix microseconds
    int64_t listings;
    s_outcome_t outcome;
    bool requested;
    int64_t sent_age_ms;
    char *s3_key;
    char *lm_raw;
    int64_t size;
} s_sub_t;

struct _consensus_t {
    const zm_config_t *cfg;
    db_t *db;
    s3_t *s3;
    zsock_t *requests;
    char hotkey [HOTKEY_MAX + 1];
    //  s3.mode=grant: results are published through the coordinator's validator grant
    bool grant_mode;
    const wallet_t *wallet;         //  signs grant requests (borrowed)
    http_t *http;
    grant_t *grant;                 //  the last grant, reused while it covers the key
    backoff_t grant_backoff;        //  after a refused or failed grant request
    int64_t grant_retry_at;         //  monotonic ms
    scoring_cfg_t scfg;
    //  the hook child, while it runs
    pid_t hook_pid;
    int hook_fd;                    //  write end of its stdin, -1 once closed
    char *hook_input;
    size_t hook_len, hook_off;
    int64_t hook_deadline;          //  monotonic ms
    char hook_epoch [32];
    //  the peer scan of one epoch, resumed across ticks (restarted from scratch after a
    //  restart: it feeds only the verdict, which is taken once the scan is complete)
    char scan_epoch [32];
    char scan_after [S3_KEY_MAX + 2];
    size_t scan_seen;
    struct _s_peer_t *scan_peers;
    size_t scan_n;

    metrics_family_t *f_results, *f_verdicts, *f_hooks, *f_grants;
    metrics_series_t *m_refused, *m_requests, *m_scored, *m_pending;
};

static void s_peers_free (struct _s_peer_t *peers, size_t n);

static bool
s_valid_hotkey (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > HOTKEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s [i] >= 'a' && s [i] <= 'z') || (s [i] >= 'A' && s [i] <= 'Z')
           || (s [i] >= '0' && s [i] <= '9')))
            return false;
    return true;
}

static bool
s_valid_hash (const char *s)
{
    if (strlen (s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s [i] >= '0' && s [i] <= '9') || (s [i] >= 'a' && s [i] <= 'f')))
            return false;
    return true;
}

consensus_t *
consensus_new (const zm_config_t *cfg, db_t **db_p, const char *hotkey)
{
    assert (cfg && db_p && *db_p && hotkey);
    if (!*cfg->s3_endpoint || !*cfg->s3_bucket) {
        log_error ("config_invalid", LS ("key", "s3.endpoint"),
                   LS ("reason", "consensus needs s3.endpoint and s3.bucket"));
        return NULL;
    }
    if (!s_valid_hotkey (hotkey)) {
        log_error ("config_invalid", LS ("key", "wallet.hotkey"),
                   LS ("reason", "hotkey is not [A-Za-z0-9]{1,64}"));
        return NULL;
    }
    bool grant_mode = strcmp (cfg->s3_mode, "grant") == 0;
    if (grant_mode && !*cfg->coordinator_url) {
        log_error ("config_invalid", LS ("key", "coordinator.url"),
                   LS ("reason", "s3.mode=grant publishes through the coordinator's grant"));
        return NULL;
    }
    if (!*cfg->s3_access_key || !*cfg->s3_secret_key) {
        log_error ("config_invalid", LS ("key", "s3.access_key"),
                   LS ("reason", "consensus lists and reads the validators' results with "
                       "s3.access_key/s3.secret_key (read-only on validators/ is enough in "
                       "s3.mode=grant)"));
        return NULL;
    }
    consensus_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->cfg = cfg;
    self->grant_mode = grant_mode;
    if (grant_mode) {
        http_options_t opts;
        http_options_defaults (&opts);
        opts.max_attempts = 1;          //  retries are ours, across ticks
        opts.timeout_ms = cfg->http_timeout_ms;
        opts.deadline_ms = cfg->http_timeout_ms;
        opts.max_body = GRANT_BYTES_MAX;
        self->http = http_new (&opts);
        if (!self->http)
            abort ();
        backoff_init (&self->grant_backoff, 1000, 60000, 0);
    }
    snprintf (self->hotkey, sizeof self->hotkey, "%s", hotkey);
    s3_config_t s3cfg = {
        .endpoint = cfg->s3_endpoint, .region = cfg->s3_region,
        .access_key = cfg->s3_access_key, .secret_key = cfg->s3_secret_key,
        .session_token = cfg->s3_session_token, .path_style = cfg->s3_path_style,
        .timeout_ms = cfg->s3_timeout_ms, .max_attempts = 2, .retry_base_ms = 200,
        .retry_cap_ms = 1000
    };
    self->s3 = s3_new (&s3cfg);
    if (!self->s3) {
        free (self);
        return NULL;
    }
    scoring_cfg_defaults (&self->scfg);
    self->hook_fd = -1;
    self->db = *db_p;
    *db_p = NULL;
    return self;
}

static void
s_hook_reap (consensus_t *self, bool kill_it)
{
    if (self->hook_fd >= 0)
        close (self->hook_fd);
    self->hook_fd = -1;
    if (self->hook_pid > 0 && kill_it) {
        kill (self->hook_pid, SIGKILL);
        waitpid (self->hook_pid, NULL, 0);
    }
    self->hook_pid = 0;
    free (self->hook_input);
    self->hook_input = NULL;
}

void
consensus_destroy (consensus_t **self_p)
{
    assert (self_p);
    consensus_t *self = *self_p;
    if (!self)
        return;
    s_hook_reap (self, true);
    s_peers_free (self->scan_peers, self->scan_n);
    s3_destroy (&self->s3);
    grant_destroy (&self->grant);
    http_destroy (&self->http);
    db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

void
consensus_set_requests (consensus_t *self, zsock_t *downloader)
{
    assert (self);
    self->requests = downloader;
}

void
consensus_set_metrics (consensus_t *self, metrics_t *metrics)
{
    assert (self && metrics);
    self->f_results = metrics_counter (metrics, "zipmine_consensus_tier_results_total",
        "Tier results stored, by verdict", "verdict");
    self->m_refused = metrics_series (metrics_counter (metrics,
        "zipmine_consensus_refused_total",
        "Tier result frames dropped (malformed, or naming no known submission)", NULL));
    self->m_requests = metrics_series (metrics_counter (metrics,
        "zipmine_consensus_requests_total", "Submission requests sent to the downloader",
        NULL));
    self->m_scored = metrics_series (metrics_counter (metrics,
        "zipmine_consensus_epochs_scored_total", "Epochs scored", NULL));
    self->m_pending = metrics_series (metrics_gauge (metrics,
        "zipmine_consensus_pending_zipcodes",
        "Zipcodes left unscored (tier 3 unverifiable) in the last scored epoch", NULL));
    self->f_verdicts = metrics_counter (metrics, "zipmine_consensus_verdicts_total",
        "Consensus verdicts taken, by verdict", "verdict");
    self->f_hooks = metrics_counter (metrics, "zipmine_consensus_hook_runs_total",
        "Weights hook runs, by result", "result");
    self->f_grants = metrics_counter (metrics, "zipmine_consensus_grants_total",
        "Validator upload grants asked of the coordinator, by result", "result");
}

void
consensus_set_wallet (consensus_t *self, const wallet_t *wallet)
{
    assert (self && wallet);
    self->wallet = wallet;
}

int
consensus_prepare (consensus_t *self)
{
    assert (self);
    return db_migrate (self->db);
}

//  ---------------------------------------------------------------------------------------
//  Intake

int
consensus_handle (consensus_t *self, const uint8_t *data, size_t size)
{
    assert (self);
    proto_tier_result_t msg;
    proto_err_t err;
    if (proto_tier_result_decode (data, size, &msg, &err) != 0) {
        log_warn ("tier_result_refused", LS ("reason", err.reason));
        metrics_inc (self->m_refused);
        return 0;
    }
    //  Which submission: by id when given (and it must agree with the message), else the
    //  first non-skipped submission of that miner for that zipcode.
    db_result_t *res = NULL;
    char idtext [24];
    snprintf (idtext, sizeof idtext, "%llu", (unsigned long long) msg.submission_id);
    int rc;
    if (msg.submission_id > 0)
        rc = db_exec (self->db,
                      "SELECT s3_key FROM validator_submissions WHERE id = $1::bigint "
                      "AND epoch_id = $2 AND miner_hotkey = $3 AND zipcode = $4 "
                      "AND state <> 'skipped'",
                      DB_P (idtext, msg.epoch, msg.hotkey, msg.zipcode), &res);
    else
        rc = db_exec (self->db,
                      "SELECT s3_key FROM validator_submissions WHERE epoch_id = $1 "
                      "AND miner_hotkey = $2 AND zipcode = $3 AND state <> 'skipped' "
                      "ORDER BY last_modified, s3_key COLLATE \"C\" LIMIT 1",
                      DB_P (msg.epoch, msg.hotkey, msg.zipcode), &res);
    if (rc != 0) {
        proto_tier_result_free (&msg);
        return rc == RC_RETRY ? RC_RETRY : 0;
    }
    if (db_result_rows (res) != 1) {
        log_warn ("tier_result_refused", LS ("reason", "no such submission"),
                  LS ("epoch", msg.epoch), LS ("hotkey", msg.hotkey),
                  LS ("zipcode", msg.zipcode), LI ("submission_id", (int64_t) msg.submission_id));
        metrics_inc (self->m_refused);
        db_result_destroy (&res);
        proto_tier_result_free (&msg);
        return 0;
    }
    char *key = strdup (db_result_get (res, 0, 0));
    db_result_destroy (&res);
    if (!key)
        abort ();

    canon_t *metrics = canon_object ();
    for (size_t i = 0; i < msg.nmetrics; i++) {
        canon_t *v = canon_double (msg.metrics [i].value);
        canon_set (metrics, msg.metrics [i].name, &v);
    }
    char *mjson = canon_dumps (metrics, NULL);
    canon_destroy (&metrics);
    char tier [4];
    snprintf (tier, sizeof tier, "%u", msg.tier);
    const char *passed = msg.verdict == PROTO_VERDICT_PASS ? "true"
                       : msg.verdict == PROTO_VERDICT_FAIL ? "false" : NULL;
    const char *reason = canon_utf8_valid (msg.reason, strlen (msg.reason)) ? msg.reason : "";
    //  A definitive verdict stands; "unverifiable" is replaced by a later definitive one.
    rc = db_exec (self->db,
                  "INSERT INTO validator_tier_results (epoch_id, s3_key, tier, passed, metrics, "
                  "reason) VALUES ($1, $2, $3::smallint, $4::boolean, $5::jsonb, $6) "
                  "ON CONFLICT (epoch_id, s3_key, tier) DO UPDATE SET passed = EXCLUDED.passed, "
                  "metrics = EXCLUDED.metrics, reason = EXCLUDED.reason, checked_at = now() "
                  "WHERE validator_tier_results.passed IS NULL",
                  DB_P (msg.epoch, key, tier, passed, mjson, reason), NULL);
    if (rc == 0 && self->f_results)
        metrics_inc (metrics_series (self->f_results, proto_verdict_name ((int) msg.verdict)));
    if (rc == 0)
        log_info ("tier_result_stored", LS ("epoch", msg.epoch), LS ("hotkey", msg.hotkey),
                  LS ("zipcode", msg.zipcode), LI ("tier", msg.tier),
                  LS ("verdict", proto_verdict_name ((int) msg.verdict)));
    else
        log_warn ("tier_result_store_failed", LS ("error", db_error (self->db)));
    free (mjson);
    free (key);
    proto_tier_result_free (&msg);
    return rc == RC_RETRY ? RC_RETRY : 0;
}

//  ---------------------------------------------------------------------------------------
//  Drive

static void
s_subs_free (s_sub_t *subs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free (subs [i].s3_key);
        free (subs [i].lm_raw);
    }
    free (subs);
}

//  Every non-skipped submission of the epoch with its outcome, in validation order.
static int
s_load (consensus_t *self, const char *epoch, s_sub_t **subs_p, size_t *n_p)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "SELECT s.id, s.miner_hotkey, s.zipcode, "
        "  (extract(epoch FROM s.last_modified) * 1000000)::bigint, "
        "  coalesce(s.listing_count, 0), s.state, "
        "  coalesce(bool_or(t.passed = false), false), "
        "  coalesce(bool_or(t.tier = 3 AND t.passed), false), "
        "  coalesce(bool_or(t.tier = 3 AND t.passed IS NULL), false), "
        "  r.submission_id IS NOT NULL, "
        "  coalesce((extract(epoch FROM now() - r.sent_at) * 1000)::bigint, 0), "
        "  s.s3_key, s.last_modified_raw, s.size_bytes "
        "FROM validator_submissions s "
        "LEFT JOIN validator_tier_results t ON t.epoch_id = s.epoch_id AND t.s3_key = s.s3_key "
        "LEFT JOIN validator_consensus_requests r ON r.submission_id = s.id "
        "WHERE s.epoch_id = $1 AND s.state <> 'skipped' "
        "GROUP BY s.id, s.miner_hotkey, s.zipcode, s.last_modified, s.listing_count, s.state, "
        "  r.submission_id, r.sent_at, s.s3_key, s.last_modified_raw, s.size_bytes "
        "ORDER BY s.zipcode, s.last_modified, s.miner_hotkey COLLATE \"C\", s.id",
        DB_P (epoch), &res);
    if (rc != 0)
        return rc;
    size_t n = (size_t) db_result_rows (res);
    s_sub_t *subs = calloc (n ? n : 1, sizeof *subs);
    if (!subs)
        abort ();
    size_t k = 0;
    for (int r = 0; r < (int) n; r++) {
        s_sub_t *s = &subs [k];
        const char *hk = db_result_get (res, r, 1);
        if (!s_valid_hotkey (hk)
        ||  db_result_int64 (res, r, 0, &s->id) != 0
        ||  db_result_int64 (res, r, 3, &s->lm_us) != 0
        ||  db_result_int64 (res, r, 4, &s->listings) != 0
        ||  db_result_int64 (res, r, 10, &s->sent_age_ms) != 0
        ||  db_result_int64 (res, r, 13, &s->size) != 0) {
            log_warn ("submission_row_ignored", LS ("epoch", epoch), LS ("reason", "bad row"));
            continue;
        }
        snprintf (s->hotkey, sizeof s->hotkey, "%s", hk);
        snprintf (s->zipcode, sizeof s->zipcode, "%s", db_result_get (res, r, 2));
        bool rejected = strcmp (db_result_get (res, r, 5), "rejected") == 0;
        bool failed = strcmp (db_result_get (res, r, 6), "t") == 0;
        bool passed3 = strcmp (db_result_get (res, r, 7), "t") == 0;
        bool unverif = strcmp (db_result_get (res, r, 8), "t") == 0;
        s->outcome = rejected || failed ? OUT_FAIL
                   : passed3 ? OUT_PASS
                   : unverif ? OUT_UNVERIFIABLE : OUT_UNDECIDED;
        s->requested = strcmp (db_result_get (res, r, 9), "t") == 0;
        s->s3_key = strdup (db_result_get (res, r, 11));
        s->lm_raw = strdup (db_result_get (res, r, 12));
        if (!s->s3_key || !s->lm_raw)
            abort ();
        k++;
    }
    db_result_destroy (&res);
    *subs_p = subs;
    *n_p = k;
    return 0;
}

static int
s_request (consensus_t *self, const char *epoch, const s_sub_t *s)
{
    char id [24];
    snprintf (id, sizeof id, "%lld", (long long) s->id);
    int rc = db_exec (self->db,
                      "INSERT INTO validator_consensus_requests (submission_id, epoch_id) "
                      "VALUES ($1::bigint, $2) ON CONFLICT (submission_id) DO UPDATE "
                      "SET sent_at = now(), attempts = validator_consensus_requests.attempts + 1",
                      DB_P (id, epoch), NULL);
    if (rc != 0)
        return rc;
    if (!self->requests)
        return 0;
    proto_submission_ready_t m;
    memset (&m, 0, sizeof m);
    snprintf (m.epoch, sizeof m.epoch, "%s", epoch);
    snprintf (m.hotkey, sizeof m.hotkey, "%s", s->hotkey);
    snprintf (m.zipcode, sizeof m.zipcode, "%s", s->zipcode);
    snprintf (m.s3_key, sizeof m.s3_key, "%s", s->s3_key);
    snprintf (m.last_modified, sizeof m.last_modified, "%s", s->lm_raw);
    m.size = (uint64_t) s->size;
    m.count = s->listings > 0 && s->listings <= 1000000 ? (uint32_t) s->listings : 0;
    m.db_id = (uint64_t) s->id;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    proto_err_t err;
    if (proto_submission_ready_encode (&m, &sb, &err) == 0) {
        if (zmqx_send_sbuf (self->requests, &sb, 1 << 20, ZMQ_DONTWAIT) == 0
        &&  (metrics_inc (self->m_requests), true))
            log_info ("submission_requested", LS ("epoch", epoch), LS ("zipcode", s->zipcode),
                      LS ("hotkey", s->hotkey), LI ("submission_id", s->id));
        //  a request that could not be sent is sent again after the retry interval
    }
    else
        log_warn ("submission_request_unencodable", LS ("reason", err.reason),
                  LI ("submission_id", s->id));
    msgpack_sbuffer_destroy (&sb);
    return 0;
}

typedef struct {
    const char *zipcode;
    size_t first, count;            //  rows [first, first + count) of the loaded subs
    bool pending;
} s_zip_t;

//  Walks every zipcode, sends the requests that are due. *ready = every zipcode decided or
//  pending. Fills zips (caller frees).
static int
s_drive (consensus_t *self, const char *epoch, s_sub_t *subs, size_t n, s_zip_t **zips_p,
         size_t *nzips_p, bool *ready)
{
    s_zip_t *zips = calloc (n ? n : 1, sizeof *zips);
    if (!zips)
        abort ();
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) {
        if (nz == 0 || strcmp (zips [nz - 1].zipcode, subs [i].zipcode) != 0)
            zips [nz++] = (s_zip_t) { .zipcode = subs [i].zipcode, .first = i };
        zips [nz - 1].count++;
    }
    //  First pass: which undecided submissions are wanted, and how many are in flight.
    bool *want = calloc (n ? n : 1, sizeof *want);
    if (!want)
        abort ();
    *ready = true;
    int64_t inflight = 0;
    for (size_t z = 0; z < nz; z++) {
        size_t winners = 0, undecided = 0;
        for (size_t j = zips [z].first; j < zips [z].first + zips [z].count; j++) {
            const s_sub_t *s = &subs [j];
            bool dup = false;
            for (size_t p = zips [z].first; p < j && !dup; p++)
                dup = strcmp (subs [p].hotkey, s->hotkey) == 0;
            if (dup)
                continue;           //  only a miner's first submission counts
            if (winners + undecided >= SCORING_WINNERS)
                break;
            if (s->outcome == OUT_PASS)
                winners++;
            else
            if (s->outcome == OUT_UNVERIFIABLE) {
                if (undecided == 0)
                    zips [z].pending = true;
                break;
            }
            else
            if (s->outcome == OUT_UNDECIDED) {
                undecided++;
                want [j] = true;
                if (s->requested)
                    inflight++;
            }
        }
        if (undecided > 0) {
            zips [z].pending = false;
            *ready = false;
        }
    }
    //  Second pass: send what is due, oldest zipcode first, within the in-flight bound.
    int rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        if (!want [j])
            continue;
        if (!subs [j].requested) {
            if (inflight >= self->cfg->consensus_inflight_max)
                continue;
            inflight++;
            rc = s_request (self, epoch, &subs [j]);
        }
        else
        if (subs [j].sent_age_ms >= self->cfg->consensus_request_retry_ms)
            rc = s_request (self, epoch, &subs [j]);
    }
    free (want);
    if (rc != 0) {
        free (zips);
        return rc;
    }
    *zips_p = zips;
    *nzips_p = nz;
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  Score

static char *
s_result_doc (consensus_t *self, const char *epoch, const char *nonce,
              const scoring_result_t *r, const char *hash, const s_zip_t *zips, size_t nz)
{
    canon_t *doc = canon_object ();
    canon_t *v;
    v = canon_cstring (hash);
    canon_set (doc, "consensus_hash", &v);
    v = canon_cstring (epoch);
    canon_set (doc, "epoch_id", &v);
    v = canon_cstring (nonce);
    canon_set (doc, "epoch_nonce", &v);
    v = canon_cstring (self->hotkey);
    canon_set (doc, "validator_hotkey", &v);
    canon_t *scores = canon_array ();
    for (size_t i = 0; i < scoring_result_miners (r); i++) {
        canon_t *pair = canon_array ();
        v = canon_cstring (scoring_result_miner (r, i));
        canon_append (pair, &v);
        v = canon_double (scoring_result_score (r, i));
        canon_append (pair, &v);
        canon_append (scores, &pair);
    }
    canon_set (doc, "miner_scores", &scores);
    canon_t *weights = canon_array ();
    canon_t *winners = canon_object ();
    for (size_t i = 0; i < scoring_result_zipcodes (r); i++) {
        canon_t *pair = canon_array ();
        v = canon_cstring (scoring_result_zipcode (r, i));
        canon_append (pair, &v);
        v = canon_double (scoring_result_weight (r, i));
        canon_append (pair, &v);
        canon_append (weights, &pair);
        canon_t *list = canon_array ();
        for (size_t k = 0; k < SCORING_WINNERS; k++) {
            const char *w = scoring_result_winner (r, i, k);
            if (w) {
                v = canon_cstring (w);
                canon_append (list, &v);
            }
        }
        canon_set (winners, scoring_result_zipcode (r, i), &list);
    }
    canon_set (doc, "zipcode_weights", &weights);
    canon_set (doc, "zipcode_winners", &winners);
    canon_t *totals = canon_object ();
    v = canon_int (scoring_result_total_listings (r));
    canon_set (totals, "total_epoch_listings", &v);
    v = canon_int ((int64_t) scoring_result_total_participants (r));
    canon_set (totals, "total_participants", &v);
    v = canon_int ((int64_t) scoring_result_total_winners (r));
    canon_set (totals, "total_winners", &v);
    canon_set (doc, "totals", &totals);
    canon_t *pending = canon_array ();
    for (size_t z = 0; z < nz; z++)
        if (zips [z].pending) {
            v = canon_cstring (zips [z].zipcode);
            canon_append (pending, &v);
        }
    canon_set (doc, "pending_zipcodes", &pending);
    char *text = canon_dumps (doc, NULL);
    canon_destroy (&doc);
    return text;
}

//  A PostgreSQL text[] literal of n tokens that need no quoting (hotkeys [A-Za-z0-9],
//  zipcodes: validated before they get here). Caller owns.
static char *
s_pg_array (const char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen (items [i]) + 1;
    char *out = malloc (cap);
    if (!out)
        abort ();
    size_t len = 0;
    out [len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out [len++] = ',';
        size_t l = strlen (items [i]);
        memcpy (out + len, items [i], l);
        len += l;
    }
    out [len++] = '}';
    out [len] = 0;
    return out;
}

static int
s_score (consensus_t *self, const char *epoch, const s_sub_t *subs, const s_zip_t *zips,
         size_t nz)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db, "SELECT nonce FROM validator_epochs WHERE epoch_id = $1",
                      DB_P (epoch), &res);
    if (rc != 0)
        return rc;
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    char *nonce = strdup (db_result_get (res, 0, 0));
    db_result_destroy (&res);
    if (!nonce)
        abort ();

    scoring_zipcode_t *in = calloc (nz ? nz : 1, sizeof *in);
    size_t nsubs = nz ? zips [nz - 1].first + zips [nz - 1].count : 0;
    scoring_submission_t *sin = calloc (nsubs ? nsubs : 1, sizeof *sin);
    if (!in || !sin)
        abort ();
    size_t nin = 0;
    for (size_t z = 0; z < nz; z++) {
        if (zips [z].pending)
            continue;
        for (size_t j = zips [z].first; j < zips [z].first + zips [z].count; j++)
            sin [j] = (scoring_submission_t) { .hotkey = subs [j].hotkey,
                .last_modified = subs [j].lm_us, .listings = subs [j].listings,
                .passed = subs [j].outcome == OUT_PASS };
        in [nin++] = (scoring_zipcode_t) { .zipcode = zips [z].zipcode,
            .subs = &sin [zips [z].first], .nsubs = zips [z].count };
    }
    scoring_result_t *r = scoring_compute (&self->scfg, in, nin);
    free (in);
    free (sin);
    char hash [65];
    if (!r || scoring_result_consensus_hash (r, nonce, hash) != 0) {
        log_error ("epoch_unscorable", LS ("epoch", epoch),
                   LS ("reason", "scoring_compute refused the stored submissions"));
        scoring_result_destroy (&r);
        free (nonce);
        return RC_ERR;
    }
    char *doc = s_result_doc (self, epoch, nonce, r, hash, zips, nz);
    free (nonce);
    char key [256];
    snprintf (key, sizeof key, "validators/%s/%s/validation_results/%lld.json", self->hotkey,
              epoch, (long long) (clock_wall_ms () / 1000));
    const char **pz = calloc (nz ? nz : 1, sizeof *pz);
    if (!pz)
        abort ();
    size_t npend = 0;
    for (size_t z = 0; z < nz; z++)
        if (zips [z].pending)
            pz [npend++] = zips [z].zipcode;
    char *parr = s_pg_array (pz, npend);
    free (pz);

    rc = db_begin (self->db);
    if (rc == 0)
        rc = db_exec (self->db, "DELETE FROM validator_scores WHERE epoch_id = $1",
                      DB_P (epoch), NULL);
    if (rc == 0)
        rc = db_exec (self->db, "DELETE FROM validator_zipcode_weights WHERE epoch_id = $1",
                      DB_P (epoch), NULL);
    for (size_t i = 0; rc == 0 && i < scoring_result_miners (r); i++) {
        char score [CANON_DOUBLE_MAX];
        canon_format_double (scoring_result_score (r, i), score);
        rc = db_exec (self->db, "INSERT INTO validator_scores (epoch_id, miner_hotkey, score, "
                      "details) VALUES ($1, $2, $3::double precision, "
                      "jsonb_build_object('winner', $4::boolean))",
                      DB_P (epoch, scoring_result_miner (r, i), score,
                            scoring_result_is_winner (r, i) ? "true" : "false"), NULL);
    }
    for (size_t i = 0; rc == 0 && i < scoring_result_zipcodes (r); i++) {
        char w [CANON_DOUBLE_MAX];
        canon_format_double (scoring_result_weight (r, i), w);
        const char *wl [SCORING_WINNERS];
        size_t nw = 0;
        for (size_t k = 0; k < SCORING_WINNERS; k++)
            if (scoring_result_winner (r, i, k))
                wl [nw++] = scoring_result_winner (r, i, k);
        char *warr = s_pg_array (wl, nw);
        rc = db_exec (self->db, "INSERT INTO validator_zipcode_weights (epoch_id, zipcode, "
                      "weight, winners) VALUES ($1, $2, $3::double precision, $4::text[])",
                      DB_P (epoch, scoring_result_zipcode (r, i), w, warr), NULL);
        free (warr);
    }
    if (rc == 0)
        rc = db_exec (self->db, "INSERT INTO validator_consensus_hashes (epoch_id, "
                      "validator_hotkey, consensus_hash, is_self, s3_key) VALUES "
                      "($1, $2, $3, true, $4) ON CONFLICT (epoch_id, validator_hotkey) DO UPDATE "
                      "SET consensus_hash = EXCLUDED.consensus_hash, is_self = true, "
                      "s3_key = EXCLUDED.s3_key, recorded_at = now()",
                      DB_P (epoch, self->hotkey, hash, key), NULL);
    if (rc == 0)
        rc = db_exec (self->db, "INSERT INTO validator_consensus_epochs (epoch_id, "
                      "consensus_hash, result_key, result_doc, pending) VALUES "
                      "($1, $2, $3, $4, $5::text[])",
                      DB_P (epoch, hash, key, doc, parr), NULL);
    if (rc == 0)
        rc = db_exec (self->db, "UPDATE validator_epochs SET status = 'scored', "
                      "updated_at = now() WHERE epoch_id = $1", DB_P (epoch), NULL);
    if (rc == 0)
        rc = db_commit (self->db);
    if (rc != 0) {
        log_warn ("epoch_score_store_failed", LS ("epoch", epoch),
                  LS ("error", db_error (self->db)));
        db_rollback (self->db);
    }
    else {
        metrics_inc (self->m_scored);
        metrics_set (self->m_pending, (double) npend);
    }
    if (rc == 0)
        log_info ("epoch_scored", LS ("epoch", epoch), LS ("consensus_hash", hash),
                  LI ("miners", (int64_t) scoring_result_miners (r)),
                  LI ("zipcodes", (int64_t) scoring_result_zipcodes (r)),
                  LI ("pending", (int64_t) npend),
                  LI ("total_listings", scoring_result_total_listings (r)));
    free (parr);
    free (doc);
    scoring_result_destroy (&r);
    return rc == RC_RETRY ? RC_RETRY : rc;
}

//  ---------------------------------------------------------------------------------------
//  Verdict

typedef struct _s_peer_t {
    char hotkey [HOTKEY_MAX + 1];
    char hash [65];
    char *key;
} s_peer_t;

typedef struct {
    consensus_t *self;
    const char *epoch;
    char best [256];
    int64_t best_ts;
} s_newest_t;

//  Keeps the newest well-named result file: ".../validation_results/{unix_ts}.json".
static int
s_newest_fn (void *arg, const s3_object_t *o)
{
    s_newest_t *nw = arg;
    const char *slash = strrchr (o->key, '/');
    const char *name = slash ? slash + 1 : o->key;
    size_t len = strlen (name);
    if (len < 6 || len > 5 + 18 || strcmp (name + len - 5, ".json") != 0)
        return 0;
    int64_t ts = 0;
    for (size_t i = 0; i < len - 5; i++) {
        if (name [i] < '0' || name [i] > '9')
            return 0;
        ts = ts * 10 + (name [i] - '0');
    }
    if (strlen (o->key) < sizeof nw->best && (!*nw->best || ts > nw->best_ts)) {
        snprintf (nw->best, sizeof nw->best, "%s", o->key);
        nw->best_ts = ts;
    }
    return 0;
}

//  Reads one peer's newest result for the epoch. 0 with peer filled, 1 when it has none
//  (or an unusable one: logged), RC_RETRY.
static int
s_peer_read (consensus_t *self, const char *epoch, const char *hotkey, s_peer_t *peer)
{
    char prefix [256];
    snprintf (prefix, sizeof prefix, "validators/%s/%s/validation_results/", hotkey, epoch);
    s_newest_t nw = { .self = self, .epoch = epoch };
    int rc = s3_list_all (self->s3, self->cfg->s3_bucket, prefix, PEER_KEYS_MAX, s_newest_fn,
                          &nw);
    if (rc == RC_RETRY)
        return RC_RETRY;
    if (rc != 0) {
        log_warn ("peer_result_unusable", LS ("validator", hotkey), LS ("epoch", epoch),
                  LS ("reason", s3_error (self->s3)));
        return 1;
    }
    if (!*nw.best)
        return 1;
    char *body = NULL;
    size_t size = 0;
    rc = s3_get_buffer (self->s3, self->cfg->s3_bucket, nw.best,
                        (size_t) self->cfg->consensus_result_max, &body, &size);
    if (rc == RC_RETRY)
        return RC_RETRY;
    if (rc != 0) {
        log_warn ("peer_result_unusable", LS ("validator", hotkey), LS ("key", nw.best),
                  LS ("reason", s3_error (self->s3)));
        return 1;
    }
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (body, size, (size_t) self->cfg->consensus_result_max, 16, &err);
    free (body);
    const char *hash = doc ? jsonx_str (doc, "consensus_hash", &err) : NULL;
    const char *ep = doc ? jsonx_str_opt (doc, "epoch_id", epoch, &err) : NULL;
    int out = 1;
    if (!doc || err.failed)
        log_warn ("peer_result_unusable", LS ("validator", hotkey), LS ("key", nw.best),
                  LS ("reason", err.msg));
    else
    if (!s_valid_hash (hash) || strcmp (ep, epoch) != 0)
        log_warn ("peer_result_unusable", LS ("validator", hotkey), LS ("key", nw.best),
                  LS ("reason", "consensus_hash is not 64 hex digits or epoch_id differs"));
    else {
        size_t hl = strnlen (hotkey, HOTKEY_MAX);
        memcpy (peer->hotkey, hotkey, hl);
        peer->hotkey [hl] = 0;
        snprintf (peer->hash, sizeof peer->hash, "%s", hash);
        peer->key = strdup (nw.best);
        if (!peer->key)
            abort ();
        out = 0;
    }
    json_decref (doc);
    return out;
}

static void
s_peers_free (s_peer_t *peers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (peers [i].key);
    free (peers);
}

//  Every other validator's newest result for the epoch. Validators are found by a skip-scan
//  (one ListObjectsV2 of one key under validators/, StartAfter past the previous
//  validator's keys: "validators/{hk}0" sorts after every "validators/{hk}/…"), which needs
//  no delimiter support from the server; at most consensus.validators.max validators. The
//  scan runs for at most PEER_BUDGET_MS per call and resumes where it stopped: returns 0
//  (finished: *peers_p, *n_p handed over, caller owns), 1 (not finished yet) or RC_RETRY.
static int
s_peers (consensus_t *self, const char *epoch, s_peer_t **peers_p, size_t *n_p)
{
    size_t cap = (size_t) self->cfg->consensus_validators_max;
    const size_t plen = strlen ("validators/");
    if (strcmp (self->scan_epoch, epoch) != 0) {
        s_peers_free (self->scan_peers, self->scan_n);
        snprintf (self->scan_epoch, sizeof self->scan_epoch, "%s", epoch);
        snprintf (self->scan_after, sizeof self->scan_after, "validators/");
        self->scan_seen = 0;
        self->scan_n = 0;
        self->scan_peers = calloc (cap, sizeof *self->scan_peers);
        if (!self->scan_peers)
            abort ();
    }
    int64_t deadline = clock_mono_ms () + PEER_BUDGET_MS;
    char *after = self->scan_after;
    int rc = 0;
    bool finished = false;
    while (rc == 0 && !finished) {
        if (clock_mono_ms () >= deadline)
            return 1;
        s3_list_page_t page;
        memset (&page, 0, sizeof page);
        s3_list_query_t q = { .prefix = "validators/", .start_after = after, .max_keys = 1 };
        rc = s3_list (self->s3, self->cfg->s3_bucket, &q, &page);
        if (rc != 0 || page.nobjects == 0) {
            s3_list_page_clear (&page);
            finished = rc == 0;
            break;
        }
        const char *seg = page.objects [0].key + plen;
        const char *slash = strchr (seg, '/');
        size_t l = slash ? (size_t) (slash - seg) : strlen (seg);
        if (l == 0 || plen + l + 1 >= sizeof self->scan_after) {
            s3_list_page_clear (&page);
            finished = true;        //  a key we cannot skip past: stop looking
            break;
        }
        char hk [HOTKEY_MAX + 1] = "";
        if (slash && l <= HOTKEY_MAX) {
            memcpy (hk, seg, l);
            hk [l] = 0;
        }
        //  where the next look starts, unless this validator must be read again (RC_RETRY)
        char next [S3_KEY_MAX + 2];
        memcpy (next, page.objects [0].key, plen + l);
        next [plen + l] = slash ? '0' : 0;
        next [plen + l + 1] = 0;
        s3_list_page_clear (&page);
        if (*hk && s_valid_hotkey (hk) && strcmp (hk, self->hotkey) != 0) {
            if (++self->scan_seen > cap) {
                log_warn ("peer_validators_capped", LS ("epoch", epoch),
                          LI ("max", self->cfg->consensus_validators_max));
                finished = true;
                break;
            }
            int r = s_peer_read (self, epoch, hk, &self->scan_peers [self->scan_n]);
            if (r == RC_RETRY) {
                self->scan_seen--;
                rc = RC_RETRY;
                break;
            }
            if (r == 0)
                self->scan_n++;
        }
        memcpy (after, next, strlen (next) + 1);
    }
    if (!finished)
        return rc == RC_RETRY || rc == RC_MALFORMED ? RC_RETRY : rc;
    *peers_p = self->scan_peers;
    *n_p = self->scan_n;
    self->scan_peers = NULL;
    self->scan_n = 0;
    self->scan_epoch [0] = 0;
    return 0;
}

static int
s_str_cmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  Weights document: {"consensus_hash","epoch_id","verdict","weights":[[hotkey,w],…]} and a
//  newline.
static char *
s_weights_doc (consensus_t *self, const char *epoch, const char *hash, const char *verdict,
               size_t *len_p)
{
    db_result_t *res = NULL;
    if (db_exec (self->db, "SELECT miner_hotkey, score FROM validator_scores "
                 "WHERE epoch_id = $1 ORDER BY miner_hotkey COLLATE \"C\"",
                 DB_P (epoch), &res) != 0)
        return NULL;
    canon_t *doc = canon_object ();
    canon_t *v = canon_cstring (hash);
    canon_set (doc, "consensus_hash", &v);
    v = canon_cstring (epoch);
    canon_set (doc, "epoch_id", &v);
    v = canon_cstring (verdict);
    canon_set (doc, "verdict", &v);
    canon_t *w = canon_array ();
    for (int r = 0; r < db_result_rows (res); r++) {
        canon_t *pair = canon_array ();
        v = canon_cstring (db_result_get (res, r, 0));
        canon_append (pair, &v);
        v = canon_double (strtod (db_result_get (res, r, 1), NULL));
        canon_append (pair, &v);
        canon_append (w, &pair);
    }
    canon_set (doc, "weights", &w);
    db_result_destroy (&res);
    size_t len = 0;
    char *text = canon_dumps (doc, &len);
    canon_destroy (&doc);
    text = realloc (text, len + 2);
    if (!text)
        abort ();
    text [len++] = '\n';
    text [len] = 0;
    if (len_p)
        *len_p = len;
    return text;
}

//  Writes path atomically (temporary file beside it, then rename). 0 or -1.
static int
s_write_file (const char *path, const char *data, size_t len)
{
    char tmp [4200];
    if (snprintf (tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp)
        return -1;
    FILE *f = fopen (tmp, "w");
    if (!f)
        return -1;
    bool ok = fwrite (data, 1, len, f) == len;
    ok = (fflush (f) == 0) && ok && fsync (fileno (f)) == 0;
    if (fclose (f) != 0 || !ok || rename (tmp, path) != 0) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

static int
s_verdict (consensus_t *self, const char *epoch, const char *own_hash)
{
    s_peer_t *peers = NULL;
    size_t np = 0;
    int rc = s_peers (self, epoch, &peers, &np);
    if (rc != 0)
        return rc;                  //  1: the scan goes on next step
    //  The majority hash: the most frequent, ties to ours, then to the smallest.
    size_t total = np + 1;
    const char **hashes = calloc (total, sizeof *hashes);
    if (!hashes)
        abort ();
    hashes [0] = own_hash;
    for (size_t i = 0; i < np; i++)
        hashes [i + 1] = peers [i].hash;
    const char *major = own_hash;
    size_t agree = 0;
    for (size_t i = 0; i < total; i++) {
        size_t c = 0;
        for (size_t j = 0; j < total; j++)
            c += strcmp (hashes [i], hashes [j]) == 0;
        if (c > agree || (c == agree && strcmp (major, own_hash) != 0
                                     && (strcmp (hashes [i], own_hash) == 0
                                         || strcmp (hashes [i], major) < 0))) {
            agree = c;
            major = hashes [i];
        }
    }
    const char *verdict = agree == total ? "PERFECT"
                        : agree * 100 >= total * 90 ? "MAJORITY" : "FAILED";
    const char **outl = calloc (total, sizeof *outl);
    if (!outl)
        abort ();
    size_t nout = 0;
    if (strcmp (own_hash, major) != 0)
        outl [nout++] = self->hotkey;
    for (size_t i = 0; i < np; i++)
        if (strcmp (peers [i].hash, major) != 0)
            outl [nout++] = peers [i].hotkey;
    qsort (outl, nout, sizeof *outl, s_str_cmp);
    char *oarr = s_pg_array (outl, nout);
    char agree_s [24], total_s [24];
    snprintf (agree_s, sizeof agree_s, "%zu", agree);
    snprintf (total_s, sizeof total_s, "%zu", total);

    size_t wlen = 0;
    char *wdoc = s_weights_doc (self, epoch, own_hash, verdict, &wlen);
    rc = wdoc ? db_begin (self->db) : RC_RETRY;
    for (size_t i = 0; rc == 0 && i < np; i++)
        rc = db_exec (self->db, "INSERT INTO validator_consensus_hashes (epoch_id, "
                      "validator_hotkey, consensus_hash, is_self, s3_key) VALUES "
                      "($1, $2, $3, false, $4) ON CONFLICT (epoch_id, validator_hotkey) DO UPDATE "
                      "SET consensus_hash = EXCLUDED.consensus_hash, s3_key = EXCLUDED.s3_key, "
                      "recorded_at = now()",
                      DB_P (epoch, peers [i].hotkey, peers [i].hash, peers [i].key), NULL);
    if (rc == 0)
        rc = db_exec (self->db, "INSERT INTO validator_consensus_verdicts (epoch_id, verdict, "
                      "agreeing, total, outliers) VALUES ($1, $2, $3::integer, $4::integer, "
                      "$5::text[]) ON CONFLICT (epoch_id) DO UPDATE SET verdict = "
                      "EXCLUDED.verdict, agreeing = EXCLUDED.agreeing, total = EXCLUDED.total, "
                      "outliers = EXCLUDED.outliers, decided_at = now()",
                      DB_P (epoch, verdict, agree_s, total_s, oarr), NULL);
    if (rc == 0)
        rc = db_exec (self->db, "INSERT INTO validator_weights (epoch_id, miner_hotkey, weight) "
                      "SELECT epoch_id, miner_hotkey, score FROM validator_scores "
                      "WHERE epoch_id = $1 ON CONFLICT (epoch_id, miner_hotkey) DO UPDATE "
                      "SET weight = EXCLUDED.weight, emitted_at = now()", DB_P (epoch), NULL);
    if (rc == 0 && *self->cfg->consensus_weights_file
    &&  s_write_file (self->cfg->consensus_weights_file, wdoc, wlen) != 0) {
        log_error ("weights_file_failed", LS ("path", self->cfg->consensus_weights_file),
                   LS ("reason", strerror (errno)));
        rc = RC_RETRY;
    }
    if (rc == 0)
        rc = db_exec (self->db, "UPDATE validator_consensus_epochs SET weights_at = now() "
                      "WHERE epoch_id = $1", DB_P (epoch), NULL);
    if (rc == 0)
        rc = db_commit (self->db);
    if (rc != 0)
        db_rollback (self->db);
    else
    if (self->f_verdicts)
        metrics_inc (metrics_series (self->f_verdicts, verdict));
    if (rc == 0)
        log_info ("consensus_verdict", LS ("epoch", epoch), LS ("verdict", verdict),
                  LI ("agreeing", (int64_t) agree), LI ("total", (int64_t) total),
                  LS ("outliers", oarr), LS ("consensus_hash", own_hash));
    free (wdoc);
    free (oarr);
    free (outl);
    free (hashes);
    s_peers_free (peers, np);
    return rc == RC_RETRY ? RC_RETRY : rc;
}

//  ---------------------------------------------------------------------------------------
//  Hook

static int
s_hook_done (consensus_t *self, const char *status)
{
    if (self->f_hooks && strcmp (status, "none") != 0)
        metrics_inc (metrics_series (self->f_hooks, strcmp (status, "exit 0") == 0 ? "ok"
                                     : strcmp (status, "timeout") == 0 ? "timeout" : "failed"));
    log_info ("weights_hook_finished", LS ("epoch", self->hook_epoch), LS ("status", status));
    int rc = db_exec (self->db, "UPDATE validator_consensus_epochs SET hook_at = now(), "
                      "hook_status = $2 WHERE epoch_id = $1",
                      DB_P (self->hook_epoch, status), NULL);
    s_hook_reap (self, false);
    return rc;
}

//  Starts the hook for the epoch. 0 started (or nothing to run: marked done), or an error.
static int
s_hook_start (consensus_t *self, const char *epoch, const char *hash)
{
    snprintf (self->hook_epoch, sizeof self->hook_epoch, "%s", epoch);
    const char *cmd = self->cfg->consensus_hook;
    if (!*cmd)
        return s_hook_done (self, "none");
    db_result_t *res = NULL;
    int rc = db_exec (self->db, "SELECT verdict FROM validator_consensus_verdicts "
                      "WHERE epoch_id = $1", DB_P (epoch), &res);
    if (rc != 0)
        return rc;
    char verdict [16] = "FAILED";
    if (db_result_rows (res) == 1)
        snprintf (verdict, sizeof verdict, "%s", db_result_get (res, 0, 0));
    db_result_destroy (&res);
    self->hook_input = s_weights_doc (self, epoch, hash, verdict, &self->hook_len);
    if (!self->hook_input)
        return RC_RETRY;
    //  program and arguments split on blanks; no shell
    char *copy = strdup (cmd);
    char *argv [HOOK_ARGS_MAX + 1];
    int argc = 0;
    if (!copy)
        abort ();
    for (char *save = NULL, *t = strtok_r (copy, " \t", &save); t && argc < HOOK_ARGS_MAX;
         t = strtok_r (NULL, " \t", &save))
        argv [argc++] = t;
    argv [argc] = NULL;
    int fds [2];
    if (argc == 0 || pipe2 (fds, O_CLOEXEC) != 0) {
        free (copy);
        return s_hook_done (self, "not started");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, fds [0], 0);
    pid_t pid = 0;
    int err = posix_spawnp (&pid, argv [0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    close (fds [0]);
    free (copy);
    if (err != 0) {
        close (fds [1]);
        log_error ("weights_hook_failed", LS ("epoch", epoch), LS ("reason", strerror (err)));
        return s_hook_done (self, "not started");
    }
    fcntl (fds [1], F_SETFL, fcntl (fds [1], F_GETFL) | O_NONBLOCK);
    self->hook_pid = pid;
    self->hook_fd = fds [1];
    self->hook_off = 0;
    self->hook_deadline = clock_mono_ms () + self->cfg->consensus_hook_timeout_ms;
    log_info ("weights_hook_started", LS ("epoch", epoch), LI ("pid", pid),
              LI ("bytes", (int64_t) self->hook_len));
    return 0;
}

//  Feeds and watches the running hook. 0 (still running, or finished and recorded).
static int
s_hook_poll (consensus_t *self)
{
    if (self->hook_fd >= 0) {
        while (self->hook_off < self->hook_len) {
            ssize_t w = write (self->hook_fd, self->hook_input + self->hook_off,
                               self->hook_len - self->hook_off);
            if (w > 0)
                self->hook_off += (size_t) w;
            else
                break;              //  EAGAIN: next tick; EPIPE: it does not read, fine
        }
        if (self->hook_off >= self->hook_len
        ||  (errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
            close (self->hook_fd);
            self->hook_fd = -1;
        }
    }
    int status = 0;
    pid_t r = waitpid (self->hook_pid, &status, WNOHANG);
    if (r == self->hook_pid) {
        char st [32];
        if (WIFEXITED (status))
            snprintf (st, sizeof st, "exit %d", WEXITSTATUS (status));
        else
            snprintf (st, sizeof st, "signal %d", WIFSIGNALED (status) ? WTERMSIG (status) : 0);
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
            log_warn ("weights_hook_failed", LS ("epoch", self->hook_epoch), LS ("status", st));
        return s_hook_done (self, st);
    }
    if (clock_mono_ms () >= self->hook_deadline) {
        kill (self->hook_pid, SIGKILL);
        waitpid (self->hook_pid, NULL, 0);
        self->hook_pid = 0;
        log_warn ("weights_hook_failed", LS ("epoch", self->hook_epoch),
                  LS ("status", "timeout"), LI ("timeout_ms", self->cfg->consensus_hook_timeout_ms));
        return s_hook_done (self, "timeout");
    }
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  Step

static void
s_grant_count (consensus_t *self, const char *result)
{
    if (self->f_grants)
        metrics_inc (metrics_series (self->f_grants, result));
}

//  Asks the coordinator for a grant covering key (s3:validator:upload:{ts}, epochId in the
//  body). 0, or RC_RETRY (logged; the next request waits out a backoff).
static int
s_grant_fetch (consensus_t *self, const char *epoch, const char *key)
{
    if (clock_mono_ms () < self->grant_retry_at)
        return RC_RETRY;
    if (!self->wallet) {
        log_error ("validator_grant_failed", LS ("epoch", epoch),
                   LS ("reason", "s3.mode=grant and no wallet to sign with"));
        return RC_RETRY;
    }
    int64_t now = clock_wall_ms () / 1000;
    char commitment [64], err [256];
    snprintf (commitment, sizeof commitment, "s3:validator:upload:%lld", (long long) now);
    json_t *extra = json_pack ("{s:s}", "epochId", epoch);
    if (!extra)
        abort ();
    long status = 0;
    int rc = grant_request (self->http, self->cfg->coordinator_url, GRANT_PATH, self->wallet,
                            self->hotkey, commitment, now, extra, &status, &self->grant, err,
                            sizeof err);
    json_decref (extra);
    if (rc == 0 && (strcmp (grant_epoch (self->grant), epoch) != 0
                    || !grant_covers (self->grant, key, now, 0))) {
        snprintf (err, sizeof err, "grant for %.20s under %.160s does not cover the key",
                  grant_epoch (self->grant), grant_prefix (self->grant));
        grant_destroy (&self->grant);
        rc = RC_ERR;
    }
    if (rc != 0) {
        log_warn ("validator_grant_refused", LS ("epoch", epoch), LI ("status", status),
                  LS ("reason", err));
        s_grant_count (self, rc == RC_RETRY ? "retry" : "refused");
        self->grant_retry_at = clock_mono_ms () + backoff_next (&self->grant_backoff);
        return RC_RETRY;
    }
    backoff_reset (&self->grant_backoff);
    s_grant_count (self, "ok");
    log_info ("validator_grant_received", LS ("epoch", epoch),
              LS ("prefix", grant_prefix (self->grant)),
              LI ("expires_in_s", grant_expires_s (self->grant) - now));
    return 0;
}

//  Publishes the result document at key: a PUT with our credentials (s3.mode=direct), or
//  a POST through the coordinator's validator grant (s3.mode=grant). 0, or RC_RETRY
//  (logged).
static int
s_publish (consensus_t *self, const char *epoch, const char *key, const char *doc,
           size_t len)
{
    int rc;
    if (!self->grant_mode)
        rc = s3_put (self->s3, self->cfg->s3_bucket, key, doc, len, "application/json");
    else {
        int64_t now = clock_wall_ms () / 1000;
        if (self->grant && (strcmp (grant_epoch (self->grant), epoch) != 0
                            || !grant_covers (self->grant, key, now, GRANT_MARGIN_S)))
            grant_destroy (&self->grant);
        if (!self->grant && s_grant_fetch (self, epoch, key) != 0)
            return RC_RETRY;
        size_t nfields = 0;
        const sigv4_kv_t *fields = grant_fields (self->grant, &nfields);
        rc = s3_post_upload (self->s3, grant_url (self->grant), fields, nfields, key, doc, len);
        if (rc != 0 && s3_status (self->s3) >= 400 && s3_status (self->s3) < 500)
            //  S3 refused the grant (expired, policy): the next try asks for a new one
            grant_destroy (&self->grant);
    }
    if (rc != 0) {
        log_warn ("result_publish_failed", LS ("epoch", epoch), LS ("key", key),
                  LS ("mode", self->grant_mode ? "grant" : "direct"),
                  LI ("status", s3_status (self->s3)), LS ("reason", s3_error (self->s3)));
        return RC_RETRY;
    }
    return 0;
}

int
consensus_step (consensus_t *self, const char *epoch)
{
    assert (self && epoch);
    char delay [24];
    snprintf (delay, sizeof delay, "%lld", (long long) self->cfg->consensus_verdict_delay_ms);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "SELECT e.listed_at IS NOT NULL, c.epoch_id IS NOT NULL, c.consensus_hash, "
        "  c.result_key, c.result_doc, c.published_at IS NOT NULL, "
        "  coalesce(now() >= c.published_at + $2::bigint * interval '1 millisecond', false), "
        "  c.weights_at IS NOT NULL, c.hook_at IS NOT NULL "
        "FROM validator_epochs e LEFT JOIN validator_consensus_epochs c USING (epoch_id) "
        "WHERE e.epoch_id = $1", DB_P (epoch, delay), &res);
    if (rc != 0)
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    if (db_result_rows (res) != 1 || strcmp (db_result_get (res, 0, 0), "t") != 0) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    bool scored = strcmp (db_result_get (res, 0, 1), "t") == 0;
    if (!scored) {
        db_result_destroy (&res);
        s_sub_t *subs = NULL;
        size_t n = 0;
        rc = s_load (self, epoch, &subs, &n);
        if (rc != 0)
            return rc == RC_RETRY ? RC_RETRY : RC_ERR;
        s_zip_t *zips = NULL;
        size_t nz = 0;
        bool ready = false;
        rc = s_drive (self, epoch, subs, n, &zips, &nz, &ready);
        if (rc == 0 && ready)
            rc = s_score (self, epoch, subs, zips, nz);
        free (zips);
        s_subs_free (subs, n);
        if (rc != 0)
            return rc == RC_RETRY ? RC_RETRY : RC_ERR;
        return ready ? consensus_step (self, epoch) : CONSENSUS_VALIDATING;
    }
    char hash [65], key [256];
    snprintf (hash, sizeof hash, "%s", db_result_get (res, 0, 2));
    snprintf (key, sizeof key, "%s", db_result_get (res, 0, 3));
    bool published = strcmp (db_result_get (res, 0, 5), "t") == 0;
    bool due = strcmp (db_result_get (res, 0, 6), "t") == 0;
    bool weighted = strcmp (db_result_get (res, 0, 7), "t") == 0;
    bool hooked = strcmp (db_result_get (res, 0, 8), "t") == 0;
    if (!published) {
        size_t len = db_result_length (res, 0, 4);
        rc = s_publish (self, epoch, key, db_result_get (res, 0, 4), len);
        db_result_destroy (&res);
        if (rc != 0)
            return RC_RETRY;
        rc = db_exec (self->db, "UPDATE validator_consensus_epochs SET published_at = now() "
                      "WHERE epoch_id = $1", DB_P (epoch), NULL);
        if (rc == 0)
            rc = db_exec (self->db, "UPDATE validator_epochs SET status = 'published', "
                          "updated_at = now() WHERE epoch_id = $1", DB_P (epoch), NULL);
        if (rc != 0)
            return RC_RETRY;
        log_info ("result_published", LS ("epoch", epoch), LS ("key", key),
                  LI ("bytes", (int64_t) len), LS ("mode", self->grant_mode ? "grant" : "direct"));
        return self->cfg->consensus_verdict_delay_ms == 0 ? consensus_step (self, epoch)
                                                          : CONSENSUS_PUBLISHED;
    }
    db_result_destroy (&res);
    if (!weighted) {
        if (!due)
            return CONSENSUS_PUBLISHED;
        rc = s_verdict (self, epoch, hash);
        if (rc == 1)
            return CONSENSUS_PUBLISHED;
        if (rc != 0)
            return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    }
    if (hooked)
        return CONSENSUS_DONE;
    if (self->hook_pid > 0) {
        if (strcmp (self->hook_epoch, epoch) != 0)
            return CONSENSUS_WEIGHTED;          //  one hook at a time
        rc = s_hook_poll (self);
    }
    else
        rc = s_hook_start (self, epoch, hash);
    if (rc != 0)
        return RC_RETRY;
    return self->hook_pid > 0 ? CONSENSUS_WEIGHTED : CONSENSUS_DONE;
}

void
consensus_tick (consensus_t *self)
{
    assert (self);
    db_result_t *res = NULL;
    if (db_exec (self->db,
                 "SELECT e.epoch_id FROM validator_epochs e "
                 "LEFT JOIN validator_consensus_epochs c USING (epoch_id) "
                 "WHERE e.listed_at IS NOT NULL AND c.hook_at IS NULL "
                 "ORDER BY e.epoch_id LIMIT 8", 0, NULL, &res) != 0)
        return;
    for (int r = 0; r < db_result_rows (res); r++) {
        char epoch [32];
        snprintf (epoch, sizeof epoch, "%s", db_result_get (res, r, 0));
        if (consensus_step (self, epoch) == RC_RETRY)
            break;
    }
    db_result_destroy (&res);
}

int
consensus_hash (consensus_t *self, const char *epoch, char hex [65])
{
    assert (self && epoch);
    db_result_t *res = NULL;
    if (db_exec (self->db, "SELECT consensus_hash FROM validator_consensus_epochs "
                 "WHERE epoch_id = $1", DB_P (epoch), &res) != 0)
        return -1;
    int rc = -1;
    if (db_result_rows (res) == 1) {
        snprintf (hex, 65, "%s", db_result_get (res, 0, 0));
        rc = 0;
    }
    db_result_destroy (&res);
    return rc;
}
