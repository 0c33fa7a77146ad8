/*  uploader: the ledger-driven upload of stored zipcodes, and status reports.

    Invariants:
      - an object is sent only under a key recorded in an intent row committed before;
      - a ledger row in state 'uploaded' is final: its zipcode is never sent again;
      - the body is a pure function of the stored rows and the recorded submission time, so
        a re-upload after a crash sends the same bytes under the same key.
    One thread; all S3/HTTP calls are bounded by their timeouts and made one at a time.    */
#include "workers/uploader/uploader.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/epoch.h"
#include "common/grant.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/s3.h"
#include "proto/zipcode_stored.h"

#include <assert.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UPLOADER_SWEEP_BATCH    100
#define UPLOADER_GRANT_MARGIN_S 5       //  a grant this close to expiry is fetched anew
#define UPLOADER_BACKOFF_BASE   1000
#define UPLOADER_BACKOFF_CAP    30000
#define UPLOADER_COUNTS_MAX     48      //  distinct metric series the uploader can produce

//  A counter series, kept here and mirrored into the registry by uploader_metrics_flush, so
//  that the uploader may run on its own thread while the worker loop renders heartbeats.
typedef struct {
    metrics_family_t *family;
    char l1 [32], l2 [32];      //  label values ("" = none)
    double value;
} s_count_t;

//  A dependency's last known health, written by the uploader's thread and read by the loop's
//  (uploader_outage), under the lock.
typedef struct {
    bool down;
    char reason [UPLOADER_OUTAGE_REASON_MAX + 1];
} s_outage_t;

struct _uploader_t {
    const zm_config_t *cfg;
    db_t *db;
    const wallet_t *wallet;
    char hotkey [SS58_ADDRESS_SIZE + 8];
    char *coldkey;
    bool direct;
    s3_t *s3;                   //  NULL in grant mode until the first grant names the host
    http_t *http;
    grant_t *grant;             //  the cached upload grant (grant mode), or NULL

    backoff_t upload_backoff;
    int64_t upload_retry_at;    //  monotonic ms; no upload before
    int64_t next_sweep_at;
    backoff_t report_backoff;
    int64_t report_retry_at;
    int64_t next_report_at;     //  the tick looks for due reports once a second

    metrics_family_t *uploads;  //  {result}: landed, already, retry, failed
    metrics_family_t *bytes;
    metrics_family_t *grants;   //  {result}
    metrics_family_t *reports;  //  {status,result}
    atomic_bool stop;           //  set from another thread: end the sweep between uploads
    pthread_mutex_t lock;       //  guards counts and outages
    s_count_t counts [UPLOADER_COUNTS_MAX];
    size_t ncounts;
    s_outage_t outages [2];     //  UPLOADER_DEP_S3, UPLOADER_DEP_COORDINATOR
    bool sweep_idle;            //  the last sweep found nothing to upload
    bool report_idle;           //  the last report pass found no epoch to report on
};

//  ---------------------------------------------------------------------------------------

static int64_t
s_now_s (void)
{
    return clock_wall_ms () / 1000;
}

static void
s_count (uploader_t *self, metrics_family_t *family, const char *l1, const char *l2, double v)
{
    pthread_mutex_lock (&self->lock);
    size_t i = 0;
    for (; i < self->ncounts; i++)
        if (self->counts [i].family == family && strcmp (self->counts [i].l1, l1 ? l1 : "") == 0
        &&  strcmp (self->counts [i].l2, l2 ? l2 : "") == 0)
            break;
    if (i == self->ncounts && i < UPLOADER_COUNTS_MAX) {
        self->counts [i].family = family;
        snprintf (self->counts [i].l1, sizeof self->counts [i].l1, "%s", l1 ? l1 : "");
        snprintf (self->counts [i].l2, sizeof self->counts [i].l2, "%s", l2 ? l2 : "");
        self->ncounts++;
    }
    if (i < self->ncounts)
        self->counts [i].value += v;
    pthread_mutex_unlock (&self->lock);
}

void
uploader_request_stop (uploader_t *self)
{
    atomic_store (&self->stop, true);
}

//  Records the outcome of a call to a dependency: reason NULL = it answered.
static void
s_health (uploader_t *self, uploader_dep_t dep, const char *reason)
{
    pthread_mutex_lock (&self->lock);
    s_outage_t *o = &self->outages [dep];
    o->down = reason != NULL;
    //  cut to the bound (the worker runtime cuts again to the heartbeat's)
    size_t n = reason ? strnlen (reason, sizeof o->reason - 1) : 0;
    memcpy (o->reason, reason ? reason : "", n);
    o->reason [n] = 0;
    pthread_mutex_unlock (&self->lock);
}

const char *
uploader_dep_name (uploader_dep_t dep)
{
    return dep == UPLOADER_DEP_S3 ? "s3" : "coordinator";
}

bool
uploader_outage (uploader_t *self, uploader_dep_t dep, char *reason, size_t size)
{
    assert (dep == UPLOADER_DEP_S3 || dep == UPLOADER_DEP_COORDINATOR);
    pthread_mutex_lock (&self->lock);
    const s_outage_t *o = &self->outages [dep];
    bool down = o->down;
    if (reason && size)
        snprintf (reason, size, "%s", down ? o->reason : "");
    pthread_mutex_unlock (&self->lock);
    return down;
}

void
uploader_metrics_flush (uploader_t *self)
{
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->ncounts; i++) {
        s_count_t *c = &self->counts [i];
        const char *values [2] = { c->l1, c->l2 };
        size_t n = *c->l2 ? 2 : *c->l1 ? 1 : 0;
        metrics_set (metrics_series_v (c->family, values, n), c->value);
    }
    pthread_mutex_unlock (&self->lock);
}

static int
s_make_s3 (uploader_t *self, const char *endpoint)
{
    const zm_config_t *cfg = self->cfg;
    s3_config_t s3cfg = {
        .endpoint = endpoint, .region = cfg->s3_region,
        .access_key = self->direct ? cfg->s3_access_key : NULL,
        .secret_key = self->direct ? cfg->s3_secret_key : NULL,
        .session_token = self->direct ? cfg->s3_session_token : NULL,
        .path_style = cfg->s3_path_style, .timeout_ms = cfg->s3_timeout_ms,
        .max_attempts = 2, .retry_base_ms = 200, .retry_cap_ms = 1000
    };
    self->s3 = s3_new (&s3cfg);
    return self->s3 ? 0 : -1;
}

uploader_t *
uploader_new (const zm_config_t *cfg, db_t **db_p, const wallet_t *wallet, const char *coldkey,
              metrics_t *metrics)
{
    assert (cfg && db_p && *db_p && wallet && metrics);
    uploader_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->cfg = cfg;
    self->wallet = wallet;
    self->coldkey = strdup (coldkey ? coldkey : "");
    self->direct = strcmp (cfg->s3_mode, "direct") == 0;
    if (wallet_address (wallet, (unsigned) cfg->ss58_prefix, self->hotkey,
                        sizeof self->hotkey) != 0) {
        log_error ("config_invalid", LS ("key", "ss58.prefix"), LS ("reason", "not usable"));
        free (self->coldkey);
        free (self);
        return NULL;
    }
    if (self->direct
    &&  (!*cfg->s3_endpoint || !*cfg->s3_bucket || s_make_s3 (self, cfg->s3_endpoint))) {
        log_error ("config_invalid", LS ("key", "s3.endpoint"),
                   LS ("reason", "s3.mode=direct needs a valid s3.endpoint and s3.bucket"));
        free (self->coldkey);
        free (self);
        return NULL;
    }
    http_options_t opts;
    http_options_defaults (&opts);
    opts.max_attempts = 1;          //  retries are ours, across ticks
    opts.timeout_ms = cfg->http_timeout_ms;
    opts.deadline_ms = cfg->http_timeout_ms;
    opts.max_body = 1 << 20;
    self->http = http_new (&opts);
    if (!self->http)
        abort ();
    self->db = *db_p;
    *db_p = NULL;
    pthread_mutex_init (&self->lock, NULL);
    backoff_init (&self->upload_backoff, UPLOADER_BACKOFF_BASE, UPLOADER_BACKOFF_CAP, 0);
    backoff_init (&self->report_backoff, UPLOADER_BACKOFF_BASE, UPLOADER_BACKOFF_CAP, 0);
    self->uploads = metrics_counter (metrics, "zipmine_uploader_uploads_total",
                                     "Zipcode uploads by result (landed, already, retry, "
                                     "failed)", "result");
    self->bytes = metrics_counter (metrics, "zipmine_uploader_bytes_total",
                                   "Bytes of submission objects that landed", NULL);
    self->grants = metrics_counter (metrics, "zipmine_uploader_grants_total",
                                    "Upload grants asked of the coordinator, by result", "result");
    self->reports = metrics_counter (metrics, "zipmine_uploader_status_reports_total",
                                     "Status reports to the coordinator, by status and result",
                                     "status,result");
    return self;
}

void
uploader_destroy (uploader_t **self_p)
{
    assert (self_p);
    uploader_t *self = *self_p;
    if (!self)
        return;
    grant_destroy (&self->grant);
    s3_destroy (&self->s3);
    http_destroy (&self->http);
    db_destroy (&self->db);
    free (self->coldkey);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
uploader_prepare (uploader_t *self)
{
    return db_migrate (self->db);
}

const char *
uploader_hotkey (uploader_t *self)
{
    return self->hotkey;
}

int
uploader_key (const char *hotkey, const char *epoch, const char *zipcode, int64_t submitted_s,
              char *out, size_t size)
{
    time_t t = (time_t) submitted_s;
    struct tm tm;
    gmtime_r (&t, &tm);
    char stamp [32];
    strftime (stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    int n = snprintf (out, size, "data/hotkey=%s/epoch=%s/zipcode=%s/data_%s.json", hotkey,
                      epoch, zipcode, stamp);
    return n > 0 && (size_t) n < size ? 0 : -1;
}

//  ---------------------------------------------------------------------------------------
//  Signed requests to the coordinator

static void
s_sign_hex (uploader_t *self, const char *commitment, char hex [129])
{
    uint8_t sig [SR25519_SIGNATURE_SIZE];
    if (wallet_sign (self->wallet, (const uint8_t *) commitment, strlen (commitment), sig) != 0)
        abort ();           //  only fails on a broken libsodium
    sodium_bin2hex (hex, 129, sig, sizeof sig);
}

//  POSTs a JSON body to path. Returns 0 with *status and *doc (caller owns, may be NULL when
//  the answer is not JSON), or RC_RETRY (network) / RC_MALFORMED.
static int
s_post_json (uploader_t *self, const char *path, json_t *body, long *status, json_t **doc)
{
    char url [512];
    snprintf (url, sizeof url, "%s%s", self->cfg->coordinator_url, path);
    char *text = jsonx_dump (body, false);
    if (!text)
        abort ();
    const char *headers [] = { "Content-Type: application/json", NULL };
    http_response_t *resp = NULL;
    int rc = http_post (self->http, url, headers, text, strlen (text), &resp);
    free (text);
    *doc = NULL;
    *status = resp ? http_response_status (resp) : 0;
    if (resp) {
        size_t len = 0;
        const char *rbody = http_response_body (resp, &len);
        jsonx_err_t err = { 0 };
        *doc = jsonx_parse (rbody, len, 1 << 20, 16, &err);
    }
    http_response_destroy (&resp);
    if (rc == RC_RETRY || (rc == 0 && (*status >= 500 || *status == 429)))
        return RC_RETRY;
    return rc;
}

//  Why a coordinator call failed, for the degraded reason: the transport error, or the status.
static const char *
s_coord_why (uploader_t *self, const char *path, long status, char *buf, size_t size)
{
    if (status == 0)
        return http_error (self->http);
    snprintf (buf, size, "POST %s: HTTP %ld", path, status);
    return buf;
}

static const char *
s_message (json_t *doc)
{
    const char *m = json_string_value (json_object_get (doc, "message"));
    return m ? m : "";
}

//  Fetches a grant (common/grant.h). 0; RC_RETRY; RC_ERR (refused; *deadline_passed when the
//  coordinator said 409: no more uploads for its current epoch).
static int
s_fetch_grant (uploader_t *self, bool *deadline_passed)
{
    *deadline_passed = false;
    grant_destroy (&self->grant);
    int64_t ts = s_now_s ();
    char commitment [256];
    snprintf (commitment, sizeof commitment, "s3:data:access:%s:%s:%" PRId64, self->coldkey,
              self->hotkey, ts);
    json_t *extra = *self->coldkey ? json_pack ("{s:s}", "coldkey", self->coldkey) : NULL;
    long status = 0;
    char err [320];
    int rc = grant_request (self->http, self->cfg->coordinator_url, "/get-folder-access",
                            self->wallet, self->hotkey, commitment, ts, extra, &status,
                            &self->grant, err, sizeof err);
    json_decref (extra);
    if (rc != 0 && status == 200) {
        //  an answer that does not parse: the coordinator is not usable until it changes
        log_error ("grant_malformed", LS ("reason", err));
        char why [360];
        snprintf (why, sizeof why, "malformed upload grant: %s", err);
        s_health (self, UPLOADER_DEP_COORDINATOR, why);
        s_count (self, self->grants, "malformed", NULL, 1);
        return RC_RETRY;
    }
    if (rc != 0) {
        if (status == 409)
            *deadline_passed = true;
        log_warn ("grant_refused", LI ("status", status), LS ("reason", err));
        //  Unreachable or failing (5xx) is an outage; a refusal (409 closed epoch, 429 our
        //  own pace, another 4xx) is an answer.
        char why [320];
        if (rc == RC_RETRY && status != 429)
            s_health (self, UPLOADER_DEP_COORDINATOR,
                      s_coord_why (self, "/get-folder-access", status, why, sizeof why));
        else
            s_health (self, UPLOADER_DEP_COORDINATOR, NULL);
        s_count (self, self->grants, status == 409 ? "deadline" :
                                     rc == RC_RETRY ? "retry" : "refused", NULL, 1);
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    }
    if (!self->s3) {
        //  the S3 host is the grant's upload URL's scheme://host[:port]
        const char *url = grant_url (self->grant);
        const char *host = strstr (url, "://") + 3;
        size_t n = strcspn (host, "/");
        char endpoint [512];
        snprintf (endpoint, sizeof endpoint, "%.*s", (int) (host - url + (ptrdiff_t) n), url);
        if (s_make_s3 (self, endpoint) != 0) {
            grant_destroy (&self->grant);
            return RC_ERR;
        }
    }
    s_health (self, UPLOADER_DEP_COORDINATOR, NULL);
    s_count (self, self->grants, "ok", NULL, 1);
    log_info ("grant_received", LS ("epoch", grant_epoch (self->grant)),
              LI ("expires_in_s", grant_expires_s (self->grant) - s_now_s ()));
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  The object

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

static void
s_put (s_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = realloc (b->data, cap);
        if (!b->data)
            abort ();
        b->cap = cap;
    }
    memcpy (b->data + b->len, s, n);
    b->len += n;
    b->data [b->len] = 0;
}

static void
s_puts (s_buf_t *b, const char *s)
{
    s_put (b, s, strlen (s));
}

//  Builds the object for (epoch, zipcode) at submission time submitted_s from the stored
//  rows. 0 with *out (caller frees out->data), *count and hex SHA-256; or a db rc.
static int
s_build (uploader_t *self, const char *epoch, const char *zipcode, int64_t submitted_s,
         s_buf_t *out, int64_t *count, char sha_hex [65])
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "SELECT doc::text FROM miner_listings WHERE epoch_id = $1 AND zipcode = $2 "
                      "ORDER BY listing_id", DB_P (epoch, zipcode), &res);
    if (rc != 0)
        return rc;
    char iso [32], head [512];
    epoch_iso8601 (submitted_s, iso);
    int rows = db_result_rows (res);
    snprintf (head, sizeof head,
              "{\"epoch_id\":\"%s\",\"zipcode\":\"%s\",\"miner_hotkey\":\"%s\","
              "\"submission_timestamp\":\"%s\",\"listing_count\":%d,\"listings\":[",
              epoch, zipcode, self->hotkey, iso, rows);
    memset (out, 0, sizeof *out);
    s_puts (out, head);
    for (int i = 0; i < rows; i++) {
        if (i)
            s_put (out, ",", 1);
        s_put (out, db_result_get (res, i, 0), db_result_length (res, i, 0));
    }
    s_puts (out, "]}");
    db_result_destroy (&res);
    *count = rows;
    unsigned char md [32];
    EVP_Digest (out->data, out->len, md, NULL, EVP_sha256 (), NULL);
    sodium_bin2hex (sha_hex, 65, md, sizeof md);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  The ledger

static int
s_mark_landed (uploader_t *self, const char *epoch, const char *zipcode, const char *etag)
{
    int rc = db_begin (self->db);
    if (rc == 0)
        rc = db_exec (self->db,
                      "UPDATE miner_uploads SET state = 'uploaded', uploaded_at = now(), "
                      "etag = $3, reason = NULL, attempts = attempts + 1, updated_at = now() "
                      "WHERE epoch_id = $1 AND zipcode = $2", DB_P (epoch, zipcode, etag), NULL);
    if (rc == 0)
        rc = db_exec (self->db,
                      "UPDATE miner_tasks SET status = 'uploaded', updated_at = now() "
                      "WHERE epoch_id = $1 AND zipcode = $2", DB_P (epoch, zipcode), NULL);
    if (rc == 0)
        rc = db_commit (self->db);
    if (rc != 0)
        db_rollback (self->db);
    return rc;
}

static void
s_mark_attempt (uploader_t *self, const char *epoch, const char *zipcode, bool failed,
                const char *reason)
{
    db_exec (self->db,
             "UPDATE miner_uploads SET attempts = attempts + 1, reason = left($3, 500), "
             "state = CASE WHEN $4::boolean THEN 'failed' ELSE state END, updated_at = now() "
             "WHERE epoch_id = $1 AND zipcode = $2 AND state <> 'uploaded'",
             DB_P (epoch, zipcode, reason, failed ? "true" : "false"), NULL);
    if (failed)
        db_exec (self->db,
                 "UPDATE miner_tasks SET status = 'failed', reason = left($3, 500), "
                 "updated_at = now() WHERE epoch_id = $1 AND zipcode = $2 AND status = 'stored'",
                 DB_P (epoch, zipcode, reason), NULL);
}

//  Sends body under key, by grant or directly. 0, RC_RETRY, or RC_ERR (with *why; *closed
//  when the epoch can take no more uploads).
static int
s_send (uploader_t *self, const char *epoch, const char *key, const s_buf_t *body,
        char *etag, size_t etag_size, bool *closed, const char **why)
{
    *closed = false;
    *why = "";
    etag [0] = 0;
    if (self->direct) {
        int rc = s3_put (self->s3, self->cfg->s3_bucket, key, body->data, body->len,
                         "application/json");
        *why = s3_error (self->s3);
        s_health (self, UPLOADER_DEP_S3, rc == 0 ? NULL : *why);
        if (rc == 0) {
            s3_head_t head;
            if (s3_head (self->s3, self->cfg->s3_bucket, key, &head) == 0)
                snprintf (etag, etag_size, "%s", head.etag);
        }
        return rc == RC_MALFORMED ? RC_RETRY : rc;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        bool stale = !self->grant || strcmp (grant_epoch (self->grant), epoch) != 0
                  || grant_expires_s (self->grant) - UPLOADER_GRANT_MARGIN_S <= s_now_s ();
        if (stale) {
            bool deadline = false;
            int rc = s_fetch_grant (self, &deadline);
            if (rc != 0) {
                *closed = deadline;
                *why = deadline ? "submission deadline passed (no grant)" : "no upload grant";
                return rc;
            }
            if (strcmp (grant_epoch (self->grant), epoch) > 0) {
                //  the coordinator has moved on: this epoch takes no more uploads
                *closed = true;
                *why = "epoch no longer open for uploads";
                return RC_ERR;
            }
            if (strcmp (grant_epoch (self->grant), epoch) != 0) {
                *why = "coordinator is on an earlier epoch";
                return RC_RETRY;
            }
        }
        size_t nfields = 0;
        const sigv4_kv_t *fields = grant_fields (self->grant, &nfields);
        int rc = s3_post_upload (self->s3, grant_url (self->grant), fields, nfields, key,
                                 body->data, body->len);
        *why = s3_error (self->s3);
        //  A 403 on the first try is the grant's policy (fetched anew below), not S3.
        if (rc == 0 || (s3_status (self->s3) != 403 || attempt > 0))
            s_health (self, UPLOADER_DEP_S3, rc == 0 ? NULL : *why);
        if (rc == 0)
            return 0;
        if (s3_status (self->s3) == 403 && attempt == 0) {
            //  expired or revoked policy: ask for a fresh grant once
            log_warn ("grant_rejected_by_s3", LS ("epoch", epoch), LS ("reason", *why));
            grant_destroy (&self->grant);
            continue;
        }
        return rc == RC_MALFORMED || s3_status (self->s3) == 0 ? RC_RETRY : rc;
    }
    return RC_RETRY;
}

int
uploader_upload (uploader_t *self, const char *epoch, const char *zipcode)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "SELECT t.status, u.state, u.s3_key, u.sha256, u.bytes, "
                      "extract(epoch FROM u.submitted_at)::bigint FROM miner_tasks t "
                      "LEFT JOIN miner_uploads u USING (epoch_id, zipcode) "
                      "WHERE t.epoch_id = $1 AND t.zipcode = $2", DB_P (epoch, zipcode), &res);
    if (rc != 0)
        return rc;
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        log_warn ("upload_unknown_task", LS ("epoch", epoch), LS ("zipcode", zipcode));
        return RC_ERR;
    }
    const char *task = db_result_get (res, 0, 0);
    const char *state = db_result_get (res, 0, 1);
    if ((state && strcmp (state, "uploaded") == 0) || strcmp (task, "uploaded") == 0) {
        db_result_destroy (&res);
        s_count (self, self->uploads, "already", NULL, 1);
        log_debug ("upload_already_landed", LS ("epoch", epoch), LS ("zipcode", zipcode));
        return 0;
    }
    if ((state && strcmp (state, "failed") == 0) || strcmp (task, "stored") != 0) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    bool intent = state != NULL;
    char key [S3_KEY_MAX + 1] = "", ledger_sha [65] = "";
    int64_t ledger_bytes = -1, submitted_s = s_now_s ();
    if (intent) {
        snprintf (key, sizeof key, "%s", db_result_get (res, 0, 2));
        snprintf (ledger_sha, sizeof ledger_sha, "%s", db_result_get (res, 0, 3));
        db_result_int64 (res, 0, 4, &ledger_bytes);
        if (db_result_int64 (res, 0, 5, &submitted_s) != 0)
            submitted_s = s_now_s ();
    }
    db_result_destroy (&res);

    s_buf_t body;
    int64_t count = 0;
    char sha [65];
    rc = s_build (self, epoch, zipcode, submitted_s, &body, &count, sha);
    if (rc != 0)
        return rc;
    char bytes [24], count_text [24], submitted [24];
    snprintf (bytes, sizeof bytes, "%zu", body.len);
    snprintf (count_text, sizeof count_text, "%" PRId64, count);
    snprintf (submitted, sizeof submitted, "%" PRId64, submitted_s);
    if (!intent) {
        uploader_key (self->hotkey, epoch, zipcode, submitted_s, key, sizeof key);
        rc = db_exec (self->db,
                      "INSERT INTO miner_uploads (epoch_id, zipcode, s3_key, sha256, "
                      "listing_count, bytes, state, submitted_at) VALUES ($1, $2, $3, $4, "
                      "$5::integer, $6::bigint, 'uploading', to_timestamp($7::bigint))",
                      DB_P (epoch, zipcode, key, sha, count_text, bytes, submitted), NULL);
        if (rc != 0) {
            free (body.data);
            return rc == RC_RETRY ? RC_RETRY : RC_ERR;
        }
        log_info ("upload_intent", LS ("epoch", epoch), LS ("zipcode", zipcode), LS ("key", key),
                  LI ("bytes", (int64_t) body.len), LI ("listings", count));
    }
    else {
        if (strcmp (sha, ledger_sha) != 0) {
            //  cannot happen while storage refuses batches for stored tasks; recorded if it does
            log_warn ("upload_body_changed", LS ("epoch", epoch), LS ("zipcode", zipcode),
                      LS ("key", key));
            db_exec (self->db, "UPDATE miner_uploads SET sha256 = $3, bytes = $4::bigint, "
                               "listing_count = $5::integer WHERE epoch_id = $1 AND zipcode = $2",
                     DB_P (epoch, zipcode, sha, bytes, count_text), NULL);
        }
        log_info ("upload_resume", LS ("epoch", epoch), LS ("zipcode", zipcode), LS ("key", key));
        if (self->direct) {
            s3_head_t head;
            if (s3_head (self->s3, self->cfg->s3_bucket, key, &head) == 0
            &&  head.size == (int64_t) body.len) {
                free (body.data);
                rc = s_mark_landed (self, epoch, zipcode, head.etag);
                if (rc == 0) {
                    s_count (self, self->uploads, "already", NULL, 1);
                    log_info ("upload_found_landed", LS ("epoch", epoch),
                              LS ("zipcode", zipcode), LS ("key", key));
                }
                return rc;
            }
        }
    }
    char etag [130];
    bool closed = false;
    const char *why = "";
    rc = s_send (self, epoch, key, &body, etag, sizeof etag, &closed, &why);
    size_t sent = body.len;
    free (body.data);
    if (rc != 0) {
        char reason [512];
        snprintf (reason, sizeof reason, "%s", why);
        s_mark_attempt (self, epoch, zipcode, closed, reason);
        s_count (self, self->uploads, closed ? "failed" : "retry", NULL, 1);
        if (closed)
            log_error ("upload_failed", LS ("epoch", epoch), LS ("zipcode", zipcode),
                       LS ("reason", reason));
        else
            log_warn ("upload_retry", LS ("epoch", epoch), LS ("zipcode", zipcode),
                      LS ("reason", reason));
        return closed ? RC_ERR : RC_RETRY;
    }
    rc = s_mark_landed (self, epoch, zipcode, etag);
    if (rc != 0)
        return rc;     //  the intent stays: the next attempt finds it landed or resends it
    s_count (self, self->uploads, "landed", NULL, 1);
    s_count (self, self->bytes, NULL, NULL, (double) sent);
    log_info ("upload_landed", LS ("epoch", epoch), LS ("zipcode", zipcode), LS ("key", key),
              LI ("bytes", (int64_t) sent), LI ("listings", count));
    return 0;
}

static void
s_after (uploader_t *self, int rc)
{
    if (rc == RC_RETRY)
        self->upload_retry_at = clock_mono_ms () + backoff_next (&self->upload_backoff);
    else
    if (rc == 0)
        backoff_reset (&self->upload_backoff);
}

int
uploader_handle (uploader_t *self, const uint8_t *data, size_t size)
{
    proto_zipcode_stored_t msg;
    proto_err_t err;
    if (proto_zipcode_stored_decode (data, size, &msg, &err) != 0) {
        log_warn ("zipcode_stored_malformed", LS ("reason", err.reason));
        return 0;
    }
    if (clock_mono_ms () < self->upload_retry_at)
        return RC_RETRY;        //  backing off: the sweep takes it when the time comes
    int rc = uploader_upload (self, msg.epoch, msg.zipcode);
    s_after (self, rc);
    return rc;
}

int
uploader_sweep (uploader_t *self)
{
    db_result_t *res = NULL;
    char limit [16];
    snprintf (limit, sizeof limit, "%d", UPLOADER_SWEEP_BATCH);
    int rc = db_exec (self->db,
                      "SELECT t.epoch_id, t.zipcode FROM miner_tasks t LEFT JOIN miner_uploads u "
                      "USING (epoch_id, zipcode) WHERE t.status = 'stored' "
                      "AND (u.state IS NULL OR u.state IN ('pending', 'uploading')) "
                      "ORDER BY t.updated_at LIMIT $1::integer", DB_P (limit), &res);
    if (rc != 0)
        return RC_RETRY;
    self->sweep_idle = db_result_rows (res) == 0;
    int landed = 0;
    for (int i = 0; i < db_result_rows (res) && !atomic_load (&self->stop); i++) {
        rc = uploader_upload (self, db_result_get (res, i, 0), db_result_get (res, i, 1));
        s_after (self, rc);
        if (rc == RC_RETRY)
            break;
        if (rc == 0)
            landed++;
    }
    db_result_destroy (&res);
    return rc == RC_RETRY ? RC_RETRY : landed;
}

//  ---------------------------------------------------------------------------------------
//  Status reports

static int
s_report_one (uploader_t *self, const char *epoch, const char *status, int64_t listings,
              const char *completed_json, int uploads)
{
    int64_t ts = s_now_s ();
    char commitment [256], sig [129];
    snprintf (commitment, sizeof commitment, "miner:status:%s:%s:%" PRId64, self->hotkey,
              epoch, ts);
    s_sign_hex (self, commitment, sig);
    json_t *completed = json_loads (completed_json, 0, NULL);
    if (!json_is_array (completed)) {
        json_decref (completed);
        completed = json_array ();
    }
    char message [96];
    snprintf (message, sizeof message, "%d zipcodes uploaded", uploads);
    json_t *body = json_pack ("{s:s, s:s, s:I, s:s, s:s, s:I, s:o, s:s}", "hotkey", self->hotkey,
                              "signature", sig, "timestamp", (json_int_t) ts, "epochId", epoch,
                              "status", status, "listingsScraped", (json_int_t) listings,
                              "completedZipcodes", completed, "message", message);
    long code = 0;
    json_t *doc = NULL;
    int rc = s_post_json (self, "/api/v1/zipcode-assignments/status", body, &code, &doc);
    json_decref (body);
    bool ok = rc == 0 && code == 200;
    char why [320];
    s_health (self, UPLOADER_DEP_COORDINATOR, rc == RC_RETRY && code != 429
              ? s_coord_why (self, "/api/v1/zipcode-assignments/status", code, why, sizeof why)
              : NULL);
    s_count (self, self->reports, status, ok ? "ok" : rc == RC_RETRY ? "retry" : "refused", 1);
    if (!ok) {
        log_warn ("status_report_failed", LS ("epoch", epoch), LS ("status", status),
                  LI ("http", code),
                  LS ("reason", doc ? s_message (doc) : http_error (self->http)));
        json_decref (doc);
        return rc == RC_RETRY || code == 0 ? RC_RETRY : RC_ERR;
    }
    json_decref (doc);
    char n [16];
    snprintf (n, sizeof n, "%d", uploads);
    db_exec (self->db,
             "UPDATE miner_epochs SET status_reported = $2, status_reported_at = now(), "
             "status_reported_uploads = $3::integer WHERE epoch_id = $1",
             DB_P (epoch, status, n), NULL);
    log_info ("status_reported", LS ("epoch", epoch), LS ("status", status),
              LI ("uploaded", uploads), LI ("listings", listings));
    return 0;
}

int
uploader_report (uploader_t *self)
{
    if (clock_mono_ms () < self->report_retry_at)
        return 0;
    db_result_t *res = NULL;
    char interval [24];
    snprintf (interval, sizeof interval, "%" PRId64, self->cfg->uploader_status_interval_ms);
    //  Epochs without a final report (COMPLETED, FAILED, TIMEOUT) whose deadline is at most
    //  an hour gone. Columns: 0 epoch, 1 tasks, 2 uploaded, 3 listings, 4 completed zipcodes,
    //  5 uploads last reported (-1 none, -2 a final report was refused), 6 due (interval
    //  since the last report), 7 failed tasks, 8 deadline passed.
    int rc = db_exec (self->db,
                      "SELECT e.epoch_id, count(*), count(*) FILTER (WHERE t.status = 'uploaded'), "
                      "coalesce(sum(t.listing_count) "
                      "  FILTER (WHERE t.status IN ('stored', 'uploaded')), 0), "
                      "coalesce(json_agg(t.zipcode ORDER BY t.zipcode) "
                      "  FILTER (WHERE t.status = 'uploaded'), '[]')::text, "
                      "coalesce(e.status_reported_uploads, -1), "
                      "e.status_reported_at IS NULL OR e.status_reported_at "
                      "  <= now() - make_interval(secs => $1::bigint / 1000.0), "
                      "count(*) FILTER (WHERE t.status = 'failed'), "
                      "e.submission_deadline <= now() "
                      "FROM miner_epochs e JOIN miner_tasks t USING (epoch_id) "
                      "WHERE e.status_reported IS DISTINCT FROM 'COMPLETED' "
                      "AND e.status_reported IS DISTINCT FROM 'FAILED' "
                      "AND e.status_reported IS DISTINCT FROM 'TIMEOUT' "
                      "AND e.submission_deadline > now() - interval '1 hour' "
                      "GROUP BY e.epoch_id ORDER BY e.epoch_id", DB_P (interval), &res);
    if (rc != 0)
        return RC_RETRY;
    self->report_idle = db_result_rows (res) == 0;
    int accepted = 0;
    for (int i = 0; i < db_result_rows (res); i++) {
        int64_t total = 0, uploaded = 0, listings = 0, reported = -1, failed = 0;
        db_result_int64 (res, i, 1, &total);
        db_result_int64 (res, i, 2, &uploaded);
        db_result_int64 (res, i, 3, &listings);
        db_result_int64 (res, i, 5, &reported);
        db_result_int64 (res, i, 7, &failed);
        bool due = strcmp (db_result_get (res, i, 6), "t") == 0;
        bool past_deadline = strcmp (db_result_get (res, i, 8), "t") == 0;
        const char *status = uploader_status_for (total, uploaded, failed, past_deadline);
        bool final = strcmp (status, "IN_PROGRESS") != 0;
        if (final ? (reported == -2 && !due) : !(uploaded > 0 && uploaded > reported && due))
            continue;
        rc = s_report_one (self, db_result_get (res, i, 0), status, listings,
                           db_result_get (res, i, 4), (int) uploaded);
        if (rc == RC_RETRY) {
            self->report_retry_at = clock_mono_ms () + backoff_next (&self->report_backoff);
            break;
        }
        if (rc != 0) {
            //  Refused for good (4xx). IN_PROGRESS: not again for this epoch until more
            //  zipcodes land. A final report: again after the status interval (a 401 from a
            //  skewed clock heals), until an hour after the deadline.
            char n [16];
            snprintf (n, sizeof n, "%lld", final ? -2LL : (long long) uploaded);
            db_exec (self->db, "UPDATE miner_epochs SET status_reported_uploads = $2::integer, "
                               "status_reported_at = CASE WHEN $3::boolean THEN now() "
                               "ELSE status_reported_at END WHERE epoch_id = $1",
                     DB_P (db_result_get (res, i, 0), n, final ? "true" : "false"), NULL);
            rc = 0;
            continue;
        }
        backoff_reset (&self->report_backoff);
        accepted++;
    }
    db_result_destroy (&res);
    return rc == RC_RETRY ? RC_RETRY : accepted;
}

const char *
uploader_status_for (int64_t tasks, int64_t uploaded, int64_t failed, bool past_deadline)
{
    if (uploaded == tasks)
        return "COMPLETED";
    if (uploaded + failed == tasks)
        return "FAILED";                //  settled, with failures: nothing more can land
    if (past_deadline)
        return "TIMEOUT";               //  zipcodes neither landed nor failed, and too late
    return "IN_PROGRESS";
}

void
uploader_tick (uploader_t *self)
{
    int64_t now = clock_mono_ms ();
    if (now >= self->upload_retry_at
    &&  (now >= self->next_sweep_at || self->upload_retry_at > 0)) {
        bool was_retrying = self->upload_retry_at > 0;
        self->upload_retry_at = 0;
        int rc = uploader_sweep (self);
        self->next_sweep_at = now + self->cfg->uploader_sweep_ms;
        if (rc != RC_RETRY && was_retrying)
            log_info ("uploads_resumed", LI ("landed", rc));
    }
    if (now >= self->next_report_at) {
        self->next_report_at = now + 1000;
        uploader_report (self);
    }
    //  An outage is only known from a call that failed; with nothing left that would call
    //  the dependency again (no zipcode to upload; and no epoch to report on), it would
    //  stay "down" until the next epoch's work. No work pending: no outage that matters.
    if (self->sweep_idle && self->upload_retry_at == 0)
        s_health (self, UPLOADER_DEP_S3, NULL);
    if (self->sweep_idle && self->report_idle && self->upload_retry_at == 0
    &&  self->report_retry_at <= now)
        s_health (self, UPLOADER_DEP_COORDINATOR, NULL);
}
