/*  tier: the plumbing the three validation tiers share (tier.h). Loading a submission,
    the idempotent store of a verdict in validator_tier_results, the messages to consensus
    and to the next tier, and the worker loop. Invariant: a message always carries what the
    row holds, never an in-memory value that was not stored.                                */
#include "workers/tier1/tier.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/zmqx.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIER_RETRY_MAX 1024

struct _tier_t {
    int tier;
    db_t *db;
    tier_check_fn *check;
    void *arg;
    zsock_t *next, *consensus;
    int64_t retry [TIER_RETRY_MAX];
    size_t nretry;
    char tier_label [4];
    metrics_family_t *f_results, *f_errors;     //  NULL until tier_set_metrics
};

void
tier_outcome_metric (tier_outcome_t *self, const char *name, double value)
{
    assert (proto_valid_tier_metric_name (name));
    assert (isfinite (value));
    size_t i = 0;
    while (i < self->nmetrics && strcmp (self->metrics [i].name, name) < 0)
        i++;
    if (i < self->nmetrics && strcmp (self->metrics [i].name, name) == 0) {
        self->metrics [i].value = value;
        return;
    }
    assert (self->nmetrics < PROTO_TIER_METRICS_MAX);
    memmove (&self->metrics [i + 1], &self->metrics [i],
             (self->nmetrics - i) * sizeof self->metrics [0]);
    snprintf (self->metrics [i].name, sizeof self->metrics [i].name, "%s", name);
    self->metrics [i].value = value;
    self->nmetrics++;
}

double
tier_outcome_get (const tier_outcome_t *self, const char *name)
{
    for (size_t i = 0; i < self->nmetrics; i++)
        if (strcmp (self->metrics [i].name, name) == 0)
            return self->metrics [i].value;
    return NAN;
}

tier_t *
tier_new (int tier, db_t **db_p, tier_check_fn *check, void *arg)
{
    assert (tier >= 1 && tier <= 3 && db_p && *db_p && check);
    tier_t *self = calloc (1, sizeof *self);
    assert (self);
    self->tier = tier;
    self->db = *db_p;
    *db_p = NULL;
    self->check = check;
    self->arg = arg;
    snprintf (self->tier_label, sizeof self->tier_label, "%d", tier);
    return self;
}

void
tier_destroy (tier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    db_destroy (&(*self_p)->db);
    free (*self_p);
    *self_p = NULL;
}

db_t *
tier_db (tier_t *self)
{
    return self->db;
}

void
tier_set_metrics (tier_t *self, metrics_t *metrics)
{
    self->f_results = metrics_counter (metrics, "zipmine_tier_results_total",
        "Tier verdicts sent to consensus: checked now, or resent as stored", "tier,verdict,how");
    self->f_errors = metrics_counter (metrics, "zipmine_tier_errors_total",
        "Transient database failures while judging a submission (retried)", "tier");
}

void
tier_set_outputs (tier_t *self, zsock_t *next, zsock_t *consensus)
{
    self->next = next;
    self->consensus = consensus;
}

int
tier_prepare (tier_t *self)
{
    return db_migrate (self->db);
}

static void
s_copy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

int
tier_load (db_t *db, int64_t id, tier_sub_t *out)
{
    memset (out, 0, sizeof *out);
    char idtext [24];
    snprintf (idtext, sizeof idtext, "%" PRId64, id);
    db_result_t *res = NULL;
    int rc = db_exec (db,
        "SELECT s.epoch_id, s.s3_key, s.miner_hotkey, s.zipcode, s.last_modified_raw, e.nonce, "
        "  floor (extract (epoch FROM e.submission_deadline) * 1000)::bigint, "
        "  coalesce (z.expected_listings, -1), "
        "  (SELECT count (*) FROM validator_submission_listings l WHERE l.submission_id = s.id), "
        "  s.size_bytes, s.downloaded_at IS NOT NULL "
        "FROM validator_submissions s JOIN validator_epochs e USING (epoch_id) "
        "LEFT JOIN validator_epoch_zipcodes z "
        "  ON z.epoch_id = s.epoch_id AND z.zipcode = s.zipcode "
        "WHERE s.id = $1", DB_P (idtext), &res);
    if (rc != 0) {
        log_warn ("tier_load_failed", LI ("db_id", id), LS ("error", db_error (db)));
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    }
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    out->id = id;
    s_copy (out->epoch, sizeof out->epoch, db_result_get (res, 0, 0));
    s_copy (out->s3_key, sizeof out->s3_key, db_result_get (res, 0, 1));
    s_copy (out->hotkey, sizeof out->hotkey, db_result_get (res, 0, 2));
    s_copy (out->zipcode, sizeof out->zipcode, db_result_get (res, 0, 3));
    s_copy (out->last_modified, sizeof out->last_modified, db_result_get (res, 0, 4));
    s_copy (out->nonce, sizeof out->nonce, db_result_get (res, 0, 5));
    bool downloaded = strcmp (db_result_get (res, 0, 10), "t") == 0;
    if (db_result_int64 (res, 0, 6, &out->deadline_ms) != 0
    ||  db_result_int64 (res, 0, 7, &out->expected) != 0
    ||  db_result_int64 (res, 0, 8, &out->count) != 0
    ||  db_result_int64 (res, 0, 9, &out->size) != 0
    ||  !downloaded) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    db_result_destroy (&res);
    return 0;
}

//  Reads the stored verdict into out. Returns 1 when a row exists, 0 when none, or an error.
static int
s_stored (tier_t *self, const tier_sub_t *sub, tier_outcome_t *out)
{
    char tier [4];
    snprintf (tier, sizeof tier, "%d", self->tier);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "SELECT passed, metrics::text, coalesce (reason, '') FROM validator_tier_results "
        "WHERE epoch_id = $1 AND s3_key = $2 AND tier = $3",
        DB_P (sub->epoch, sub->s3_key, tier), &res);
    if (rc != 0)
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    if (db_result_rows (res) == 0) {
        db_result_destroy (&res);
        return 0;
    }
    memset (out, 0, sizeof *out);
    const char *passed = db_result_get (res, 0, 0);
    out->verdict = !passed ? PROTO_VERDICT_UNVERIFIABLE
                 : strcmp (passed, "t") == 0 ? PROTO_VERDICT_PASS : PROTO_VERDICT_FAIL;
    s_copy (out->reason, sizeof out->reason, db_result_get (res, 0, 2));
    json_t *metrics = json_loads (db_result_get (res, 0, 1), 0, NULL);
    const char *name;
    json_t *value;
    //  Our own rows; still checked, so a hand-edited row cannot trip an assert.
    if (json_is_object (metrics))
        json_object_foreach (metrics, name, value)
            if (json_is_number (value) && proto_valid_tier_metric_name (name)
            &&  isfinite (json_number_value (value))
            &&  out->nmetrics < PROTO_TIER_METRICS_MAX)
                tier_outcome_metric (out, name, json_number_value (value));
    json_decref (metrics);
    db_result_destroy (&res);
    return 1;
}

static int
s_store (tier_t *self, const tier_sub_t *sub, const tier_outcome_t *out)
{
    json_t *metrics = json_object ();
    for (size_t i = 0; i < out->nmetrics; i++)
        json_object_set_new (metrics, out->metrics [i].name, json_real (out->metrics [i].value));
    char *text = json_dumps (metrics, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION (17));
    json_decref (metrics);
    assert (text);
    char tier [4];
    snprintf (tier, sizeof tier, "%d", self->tier);
    const char *passed = out->verdict == PROTO_VERDICT_PASS ? "t"
                       : out->verdict == PROTO_VERDICT_FAIL ? "f" : NULL;
    //  The first real verdict wins; an "unverifiable" row may be replaced by a later check.
    int rc = db_exec (self->db,
        "INSERT INTO validator_tier_results (epoch_id, s3_key, tier, passed, metrics, reason) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6) "
        "ON CONFLICT (epoch_id, s3_key, tier) DO UPDATE SET passed = EXCLUDED.passed, "
        "  metrics = EXCLUDED.metrics, reason = EXCLUDED.reason, checked_at = now () "
        "WHERE validator_tier_results.passed IS NULL",
        DB_P (sub->epoch, sub->s3_key, tier, passed, text, out->reason), NULL);
    free (text);
    if (rc != 0)
        log_warn ("tier_store_failed", LI ("tier", self->tier), LI ("db_id", sub->id),
                  LS ("error", db_error (self->db)));
    return rc == 0 ? 0 : rc == RC_RETRY ? RC_RETRY : RC_ERR;
}

static void
s_send (tier_t *self, const tier_sub_t *sub, const tier_outcome_t *out,
        proto_tier_result_t *result)
{
    proto_tier_result_t msg;
    memset (&msg, 0, sizeof msg);
    s_copy (msg.epoch, sizeof msg.epoch, sub->epoch);
    s_copy (msg.hotkey, sizeof msg.hotkey, sub->hotkey);
    s_copy (msg.zipcode, sizeof msg.zipcode, sub->zipcode);
    msg.tier = (uint32_t) self->tier;
    msg.verdict = (uint32_t) out->verdict;
    s_copy (msg.reason, sizeof msg.reason, out->reason);
    msg.submission_id = (uint64_t) sub->id;
    msg.nmetrics = out->nmetrics;
    memcpy (msg.metrics, out->metrics, out->nmetrics * sizeof out->metrics [0]);
    if (result)
        *result = msg;
    proto_err_t err;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    if (self->consensus) {
        if (proto_tier_result_encode (&msg, &buf, &err) == 0) {
            if (zmqx_send_sbuf (self->consensus, &buf, ZMQX_FRAME_MAX_DEFAULT, 0) != 0)
                log_warn ("tier_result_not_sent", LI ("tier", self->tier), LI ("db_id", sub->id),
                          LS ("reason", "consensus queue full or absent"));
        }
        else
            log_error ("tier_result_encode_failed", LS ("reason", err.reason));
    }
    if (self->next && out->verdict == PROTO_VERDICT_PASS) {
        proto_submission_ready_t ready;
        memset (&ready, 0, sizeof ready);
        s_copy (ready.epoch, sizeof ready.epoch, sub->epoch);
        s_copy (ready.hotkey, sizeof ready.hotkey, sub->hotkey);
        s_copy (ready.zipcode, sizeof ready.zipcode, sub->zipcode);
        s_copy (ready.s3_key, sizeof ready.s3_key, sub->s3_key);
        s_copy (ready.last_modified, sizeof ready.last_modified, sub->last_modified);
        ready.size = (uint64_t) sub->size;
        ready.count = (uint32_t) sub->count;
        ready.db_id = (uint64_t) sub->id;
        msgpack_sbuffer_clear (&buf);
        if (proto_submission_ready_encode (&ready, &buf, &err) == 0) {
            if (zmqx_send_sbuf (self->next, &buf, ZMQX_FRAME_MAX_DEFAULT, 0) != 0)
                log_warn ("submission_not_forwarded", LI ("tier", self->tier),
                          LI ("db_id", sub->id), LS ("reason", "next tier queue full"));
        }
        else
            log_error ("submission_ready_encode_failed", LS ("reason", err.reason));
    }
    msgpack_sbuffer_destroy (&buf);
}

int
tier_process (tier_t *self, int64_t id, proto_tier_result_t *result)
{
    tier_sub_t sub;
    int rc = tier_load (self->db, id, &sub);
    if (rc != 0) {
        if (rc == RC_ERR)
            log_warn ("tier_submission_unknown", LI ("tier", self->tier), LI ("db_id", id));
        return rc;
    }
    tier_outcome_t out;
    memset (&out, 0, sizeof out);
    rc = s_stored (self, &sub, &out);
    if (rc < 0)
        return rc;
    bool resent = rc == 1 && out.verdict != PROTO_VERDICT_UNVERIFIABLE;
    if (!resent) {
        memset (&out, 0, sizeof out);
        int64_t t0 = clock_mono_ms ();
        rc = self->check (self->arg, self->db, &sub, &out);
        if (rc != 0)
            return rc;
        rc = s_store (self, &sub, &out);
        if (rc != 0)
            return rc;
        rc = s_stored (self, &sub, &out);
        if (rc != 1)
            return rc < 0 ? rc : RC_RETRY;
        log_info ("tier_checked", LI ("tier", self->tier), LI ("db_id", id),
                  LS ("epoch", sub.epoch), LS ("zipcode", sub.zipcode),
                  LS ("verdict", proto_verdict_name ((int) out.verdict)),
                  LS ("reason", out.reason), LI ("ms", clock_mono_ms () - t0));
    }
    else
        log_info ("tier_result_resent", LI ("tier", self->tier), LI ("db_id", id),
                  LS ("verdict", proto_verdict_name ((int) out.verdict)));
    s_send (self, &sub, &out, result);
    metrics_inc (metrics_series (self->f_results, self->tier_label,
                                 proto_verdict_name ((int) out.verdict),
                                 resent ? "resent" : "checked"));
    return 0;
}

static void
s_queue (tier_t *self, int64_t id)
{
    for (size_t i = 0; i < self->nretry; i++)
        if (self->retry [i] == id)
            return;
    if (self->nretry == TIER_RETRY_MAX) {
        //  The downloader announces it again when consensus asks: not lost for good.
        log_warn ("tier_retry_full", LI ("tier", self->tier), LI ("db_id", id));
        return;
    }
    self->retry [self->nretry++] = id;
}

int
tier_handle (tier_t *self, const uint8_t *data, size_t size)
{
    proto_submission_ready_t msg;
    proto_err_t err;
    if (proto_submission_ready_decode (data, size, &msg, &err) != 0) {
        log_warn ("tier_message_malformed", LI ("tier", self->tier), LS ("reason", err.reason));
        return 0;
    }
    if (msg.db_id > INT64_MAX) {
        log_warn ("tier_message_malformed", LI ("tier", self->tier), LS ("reason", "db_id"));
        return 0;
    }
    int64_t id = (int64_t) msg.db_id;
    proto_submission_ready_free (&msg);
    if (tier_process (self, id, NULL) == RC_RETRY) {
        metrics_inc (metrics_series (self->f_errors, self->tier_label));
        s_queue (self, id);
    }
    return 0;
}

size_t
tier_retry (tier_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nretry; i++) {
        int64_t id = self->retry [i];
        if (tier_process (self, id, NULL) == RC_RETRY) {
            //  Keep this and everything after it: the database is still away.
            memmove (&self->retry [kept], &self->retry [i],
                     (self->nretry - i) * sizeof self->retry [0]);
            kept += self->nretry - i;
            break;
        }
    }
    self->nretry = kept;
    return kept;
}

//  ---------------------------------------------------------------------------------------
//  The worker process

typedef struct {
    tier_t *tier;
    zsock_t *pull;
    bool prepared;
} s_app_t;

static int
s_on_message (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    s_app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv (sock, &frame, 8192, ZMQ_DONTWAIT);
    if (rc == RC_RETRY)
        return 0;
    if (rc == RC_MALFORMED) {
        log_warn ("tier_message_malformed", LI ("tier", app->tier->tier),
                  LS ("reason", "oversized or multi-part"));
        return 0;
    }
    if (rc != 0)
        return -1;
    tier_handle (app->tier, zmqx_frame_data (&frame), zmqx_frame_size (&frame));
    zmqx_frame_close (&frame);
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    s_app_t *app = arg;
    if (!app->prepared) {
        int rc = tier_prepare (app->tier);
        if (rc == RC_RETRY)
            return 0;
        if (rc != 0) {
            log_error ("tier_migration_failed", LS ("reason", db_error (app->tier->db)));
            worker_exit (worker, EXIT_CONFIG);
            return 0;
        }
        app->prepared = true;
        if (worker_add_reader (worker, app->pull, s_on_message, app) != 0)
            return -1;
        worker_ready (worker);
    }
    if (worker_state (worker) != WORKER_DRAINING)
        tier_retry (app->tier);
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    s_app_t *app = arg;
    if (app->prepared)
        worker_remove_reader (worker, app->pull);
    worker_drained (worker);
}

int
tier_worker_run (worker_t *worker, int tier, const char *in_ep, const char *next_ep,
                 tier_check_fn *check, void *arg)
{
    const zm_config_t *cfg = worker_config (worker);
    char err [512], in [ZMQX_ENDPOINT_MAX + 2], next [ZMQX_ENDPOINT_MAX + 2];
    char co [ZMQX_ENDPOINT_MAX + 2], co_spec [420];
    s_app_t app = { 0 };
    zsock_t *next_sock = NULL, *co_sock = NULL;
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        return EXIT_CONFIG;
    }
    char app_name [32];
    snprintf (app_name, sizeof app_name, "zipmine-tier%d", tier);
    db_t *db = db_new (cfg->db_dsn, app_name, cfg->db_connect_timeout_s,
                       cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        return EXIT_CONFIG;
    }
    snprintf (co_spec, sizeof co_spec, ">%s", cfg->tiers_consensus_endpoint);
    if (zmqx_endpoint_at (in, sizeof in, in_ep [0], cfg->run_dir, cfg->node_name, in_ep + 1) != 0
    ||  (*next_ep && zmqx_endpoint_at (next, sizeof next, next_ep [0], cfg->run_dir,
                                       cfg->node_name, next_ep + 1) != 0)
    ||  zmqx_endpoint_at (co, sizeof co, co_spec [0], cfg->run_dir, cfg->node_name,
                          co_spec + 1) != 0) {
        db_destroy (&db);
        return EXIT_CONFIG;
    }
    app.tier = tier_new (tier, &db, check, arg);
    int rc = EXIT_TRANSIENT;
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, in, &opts);
    //  Not ZMQ_IMMEDIATE: a message for a peer that is not connected yet waits in the queue
    //  (up to the high-water mark) rather than being dropped.
    if (*next_ep)
        next_sock = zmqx_new (ZMQ_PUSH, next, &opts);
    co_sock = zmqx_new (ZMQ_PUSH, co, &opts);
    if (!app.pull || (*next_ep && !next_sock) || !co_sock)
        goto out;
    tier_set_outputs (app.tier, next_sock, co_sock);
    tier_set_metrics (app.tier, worker_metrics (worker));
    log_info ("tier_started", LI ("tier", tier), LS ("in", in), LS ("next", *next_ep ? next : ""),
              LS ("consensus", co));
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, 250, s_tick, &app);
    s_tick (worker, &app);
    rc = worker_run (worker);
out:
    tier_destroy (&app.tier);
    zsock_destroy (&app.pull);
    zsock_destroy (&next_sock);
    zsock_destroy (&co_sock);
    return rc;
}
