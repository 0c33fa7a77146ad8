/*  coord: routing, authentication and the endpoints of the coordination API.

    Invariants
      - Every answer is JSON; errors are {statusCode, message, error}.
      - Authentication order: credentials present → timestamp window → hotkey known →
        signature valid → role allowed → not a replay → rate limit. A replay is recorded only
        after the signature verified, so forged requests cannot poison the cache.
      - The epoch document is rendered once, stored, and served byte for byte from then on.
      - Nothing is built into SQL from input: parameters only.                               */
#include "workers/coordinator/coord.h"
#include "workers/coordinator/assign.h"
#include "common/epoch.h"
#include "common/json.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/rc.h"
#include "common/sigv4.h"
#include "common/sr25519.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZIP_MAX 500

//  Reasons a signed request is refused (metric label values).
static const char *s_reasons [] = {
    "missing", "timestamp", "unknown_hotkey", "signature", "role", "replay", "rate_limit",
    "coldkey"
};
#define S_REASONS (sizeof s_reasons / sizeof s_reasons [0])

struct _coord_t {
    const zm_config_t *cfg;
    db_t *db;
    const catalog_t *catalog;
    registry_t *registry;
    ratelimit_t *rate_assign;
    ratelimit_t *rate_status;
    ratelimit_t *rate_grant;
    int64_t fixed_now;
    int64_t last_prune;
    //  The current epoch's document, so the hot path (assignments) costs no extra query
    char cached_id [EPOCH_ID_LEN + 1];
    char *cached_doc;
    int64_t cached_end;
    //  Plain counts, mirrored into the registry by coord_metrics_flush: handlers may run
    //  on transport threads, which must never touch a metrics registry.
    uint64_t n_auth_fail [S_REASONS];
    uint64_t n_epochs;
    uint64_t n_grants [2];
    metrics_family_t *m_auth_fail;      //  reason
    metrics_family_t *m_epochs;
    metrics_family_t *m_grants;         //  role
};

static int64_t
s_now (coord_t *self)
{
    return self->fixed_now ? self->fixed_now : (int64_t) time (NULL);
}

void
coord_set_now (coord_t *self, int64_t now_s)
{
    self->fixed_now = now_s;
}

coord_t *
coord_new (const zm_config_t *cfg, db_t *db, const catalog_t *catalog, registry_t *registry,
           metrics_t *metrics)
{
    assert (cfg && db && catalog && registry);
    if (sodium_init () < 0)
        return NULL;
    coord_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->cfg = cfg;
    self->db = db;
    self->catalog = catalog;
    self->registry = registry;
    size_t keys = registry_size (registry) * 2 + 1024;
    self->rate_assign = ratelimit_new ((double) cfg->coord_rate_assign,
                                       (double) cfg->coord_rate_assign, keys);
    self->rate_status = ratelimit_new ((double) cfg->coord_rate_status,
                                       (double) cfg->coord_rate_status, keys);
    self->rate_grant = ratelimit_new ((double) cfg->coord_rate_grant,
                                      (double) cfg->coord_rate_grant, keys);
    if (!self->rate_assign || !self->rate_status || !self->rate_grant) {
        coord_destroy (&self);
        return NULL;
    }
    if (metrics) {
        self->m_auth_fail = metrics_counter (metrics, "zipmine_coordinator_auth_failures_total",
                                             "Rejected signed requests by reason", "reason");
        self->m_epochs = metrics_counter (metrics, "zipmine_coordinator_epochs_created_total",
                                          "Epochs created", NULL);
        self->m_grants = metrics_counter (metrics, "zipmine_coordinator_upload_grants_total",
                                          "S3 upload grants issued by role", "role");
    }
    return self;
}

void
coord_destroy (coord_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        coord_t *self = *self_p;
        ratelimit_destroy (&self->rate_assign);
        ratelimit_destroy (&self->rate_status);
        ratelimit_destroy (&self->rate_grant);
        free (self->cached_doc);
        free (self);
        *self_p = NULL;
    }
}

void
coord_response_clear (coord_response_t *response)
{
    free (response->body);
    response->body = NULL;
}

//  --------------------------------------------------------------------------------------
//  Responses

static const char *
s_reason_phrase (int status)
{
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 429: return "Too Many Requests";
        case 503: return "Service Unavailable";
        default:  return status >= 500 ? "Internal Server Error" : "Error";
    }
}

static void
s_error (coord_response_t *response, int status, const char *message)
{
    json_t *obj = json_pack ("{s:i, s:s, s:s}", "statusCode", status, "message", message,
                             "error", s_reason_phrase (status));
    response->status = status;
    response->body = jsonx_dump (obj, true);
    json_decref (obj);
}

//  Takes ownership of obj.
static void
s_json (coord_response_t *response, int status, json_t *obj)
{
    response->status = status;
    response->body = jsonx_dump (obj, false);
    json_decref (obj);
}

static void
s_db_down (coord_t *self, coord_response_t *response)
{
    log_warn ("coordinator_db_unavailable", LS ("reason", db_error (self->db)));
    s_error (response, 503, "database unavailable, retry shortly");
    response->retry_after_s = 1;
}

//  --------------------------------------------------------------------------------------
//  Epochs

typedef struct {
    const char *epoch_id;
    db_t *db;
    char **zips;
    size_t count;
} s_cooling_t;

static bool
s_is_cooling (const char *zipcode, void *arg)
{
    s_cooling_t *c = arg;
    //  zips is sorted: binary search
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp (c->zips [mid], zipcode);
        if (cmp == 0)
            return true;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char * const *) a, *(char * const *) b);
}

static char *
s_render_epoch (coord_t *self, const epoch_slot_t *slot, const char *nonce,
                const assign_pick_t *picks, size_t n)
{
    char start [21], end [21];
    epoch_iso8601 (slot->start, start);
    epoch_iso8601 (slot->end, end);
    json_t *zips = json_array ();
    for (size_t i = 0; i < n; i++) {
        const catalog_entry_t *e = picks [i].entry;
        json_array_append_new (zips, json_pack (
            "{s:s, s:i, s:s, s:s, s:s, s:s, s:s}",
            "zipcode", e->zipcode, "expectedListings", picks [i].expected,
            "state", e->state, "city", e->city, "county", e->county,
            "marketTier", catalog_market_tier (e),
            "geographicRegion", catalog_geographic_region (e)));
    }
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:f, s:s, s:o}",
                             "epochId", slot->id, "epochStart", start, "epochEnd", end,
                             "nonce", nonce, "targetListings", (json_int_t) self->cfg->coord_target,
                             "tolerancePercent", self->cfg->coord_tolerance_pct,
                             "submissionDeadline", end, "zipcodes", zips);
    char *text = jsonx_dump (doc, false);
    json_decref (doc);
    return text;
}

static int
s_create_epoch (coord_t *self, const epoch_slot_t *slot)
{
    //  Zipcodes assigned by epochs that started within the cooldown are not drawn again.
    char since [24];
    snprintf (since, sizeof since, "%lld", (long long) (slot->start - self->cfg->coord_cooldown_s));
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "SELECT DISTINCT z.zipcode FROM coord_epoch_zipcodes z "
                      "JOIN coord_epochs e ON e.id = z.epoch_id WHERE e.start_s > $1::bigint "
                      "ORDER BY 1", DB_P (since), &res);
    if (rc != 0)
        return rc;
    s_cooling_t cooling = { .epoch_id = slot->id, .db = self->db };
    int rows = db_result_rows (res);
    cooling.zips = calloc ((size_t) rows + 1, sizeof (char *));
    if (!cooling.zips)
        abort ();
    for (int i = 0; i < rows; i++)
        cooling.zips [cooling.count++] = (char *) db_result_get (res, i, 0);
    qsort (cooling.zips, cooling.count, sizeof (char *), s_cmp_str);

    assign_params_t params = {
        .count = (size_t) self->cfg->coord_zipcodes,
        .target = self->cfg->coord_target,
        .tolerance_pct = self->cfg->coord_tolerance_pct
    };
    assign_pick_t picks [ZIP_MAX];
    if (params.count > ZIP_MAX)
        params.count = ZIP_MAX;
    uint64_t seed;
    randombytes_buf (&seed, sizeof seed);
    int64_t total = 0;
    bool within = false;
    size_t n = assign_select (self->catalog, &params, s_is_cooling, &cooling, seed, picks,
                              &total, &within);
    if (n < params.count) {
        //  Too few zipcodes out of cooldown (short epochs in a local network): relax it
        //  rather than assign fewer zipcodes than configured.
        log_warn ("coordinator_cooldown_relaxed", LS ("epoch", slot->id),
                  LI ("available", (int64_t) n), LI ("wanted", (int64_t) params.count));
        n = assign_select (self->catalog, &params, NULL, NULL, seed, picks, &total, &within);
    }
    free (cooling.zips);
    db_result_destroy (&res);
    if (n == 0) {
        log_error ("coordinator_no_zipcodes", LS ("epoch", slot->id));
        return RC_ERR;
    }
    if (!within)
        log_warn ("coordinator_target_missed", LS ("epoch", slot->id), LI ("total", total),
                  LI ("target", self->cfg->coord_target));

    uint8_t raw [8];
    randombytes_buf (raw, sizeof raw);
    char nonce [17];
    sodium_bin2hex (nonce, sizeof nonce, raw, sizeof raw);
    char *doc = s_render_epoch (self, slot, nonce, picks, n);

    char start [24], end [24], target [24], tol [32], tot [24];
    snprintf (start, sizeof start, "%lld", (long long) slot->start);
    snprintf (end, sizeof end, "%lld", (long long) slot->end);
    snprintf (target, sizeof target, "%lld", (long long) self->cfg->coord_target);
    snprintf (tol, sizeof tol, "%.17g", self->cfg->coord_tolerance_pct);
    snprintf (tot, sizeof tot, "%lld", (long long) total);
    rc = db_begin (self->db);
    if (rc == 0)
        rc = db_exec (self->db,
                      "INSERT INTO coord_epochs (id, start_s, end_s, nonce, target_listings, "
                      "tolerance_pct, total_expected, document) VALUES ($1, $2::bigint, "
                      "$3::bigint, $4, $5::integer, $6::double precision, $7::integer, $8) "
                      "ON CONFLICT (id) DO NOTHING",
                      DB_P (slot->id, start, end, nonce, target, tol, tot, doc), &res);
    bool inserted = rc == 0 && db_result_affected (res) == 1;
    db_result_destroy (&res);
    for (size_t i = 0; rc == 0 && inserted && i < n; i++) {
        char expected [16];
        snprintf (expected, sizeof expected, "%d", picks [i].expected);
        rc = db_exec (self->db,
                      "INSERT INTO coord_epoch_zipcodes (epoch_id, zipcode, expected) "
                      "VALUES ($1, $2, $3::integer)",
                      DB_P (slot->id, picks [i].entry->zipcode, expected), NULL);
    }
    if (rc == 0)
        rc = db_commit (self->db);
    else
        db_rollback (self->db);
    free (doc);
    if (rc == 0 && inserted) {
        log_info ("epoch_created", LS ("epoch", slot->id), LI ("zipcodes", (int64_t) n),
                  LI ("expected_listings", total), LB ("within_target", within));
        self->n_epochs++;
    }
    return rc;
}

static int s_load_epoch (coord_t *self, const char *id, char **doc_p, int64_t *end_p);

int
coord_ensure_epoch (coord_t *self, char *id_out)
{
    epoch_slot_t slot;
    epoch_slot_at (s_now (self), self->cfg->coord_epoch_s, &slot);
    if (strcmp (slot.id, self->cached_id) != 0) {
        db_result_t *res = NULL;
        int rc = db_exec (self->db, "SELECT 1 FROM coord_epochs WHERE id = $1", DB_P (slot.id), &res);
        if (rc != 0)
            return rc;
        bool exists = db_result_rows (res) == 1;
        db_result_destroy (&res);
        if (!exists && (rc = s_create_epoch (self, &slot)) != 0)
            return rc;
        char *doc = NULL;
        int64_t end = 0;
        rc = s_load_epoch (self, slot.id, &doc, &end);
        if (rc != 0)
            return rc == 1 ? RC_ERR : rc;
        free (self->cached_doc);
        self->cached_doc = doc;
        self->cached_end = end;
        memcpy (self->cached_id, slot.id, sizeof slot.id);
    }
    if (id_out)
        memcpy (id_out, slot.id, sizeof slot.id);
    return 0;
}

//  Loads an epoch's document and bounds. Returns 0, 1 when it does not exist, or an RC.
static int
s_load_epoch (coord_t *self, const char *id, char **doc_p, int64_t *end_p)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db, "SELECT document, end_s FROM coord_epochs WHERE id = $1",
                      DB_P (id), &res);
    if (rc != 0)
        return rc;
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        return 1;
    }
    if (doc_p && !(*doc_p = strdup (db_result_get (res, 0, 0))))
        abort ();
    if (end_p)
        db_result_int64 (res, 0, 1, end_p);
    db_result_destroy (&res);
    return 0;
}

int
coord_tick (coord_t *self)
{
    char err [256];
    if (registry_refresh (self->registry, err, sizeof err) < 0)
        log_warn ("registry_invalid_kept_previous", LS ("reason", err));
    int rc = coord_ensure_epoch (self, NULL);
    if (rc != 0)
        return rc;
    int64_t now = s_now (self);
    if (now - self->last_prune >= 60) {
        char before [24];
        snprintf (before, sizeof before, "%lld",
                  (long long) (now - self->cfg->coord_ts_past_s - 60));
        rc = db_exec (self->db, "DELETE FROM coord_replay WHERE ts < $1::bigint",
                      DB_P (before), NULL);
        if (rc == 0)
            self->last_prune = now;
    }
    return rc;
}

//  --------------------------------------------------------------------------------------
//  Authentication

typedef struct {
    const char *hotkey;
    const char *signature;
    int64_t ts;
    const registry_entry_t *entry;
} s_auth_t;

static void
s_auth_fail (coord_t *self, coord_response_t *response, int status, const char *reason,
             const char *metric_reason, const char *hotkey)
{
    for (size_t i = 0; i < S_REASONS; i++)
        if (strcmp (s_reasons [i], metric_reason) == 0)
            self->n_auth_fail [i]++;
    log_info ("request_rejected", LS ("reason", reason), LS ("hotkey", hotkey ? hotkey : ""),
              LI ("status", status));
    s_error (response, status, reason);
}

//  Parses the credentials and checks everything but the signature's commitment, which
//  depends on the endpoint. Returns 0, or -1 with the response filled.
static int
s_auth_begin (coord_t *self, const char *hotkey, const char *signature, const char *ts_text,
              s_auth_t *auth, coord_response_t *response)
{
    if (!hotkey || !signature || !ts_text || !*hotkey || !*signature || !*ts_text) {
        s_auth_fail (self, response, 401, "hotkey, signature and timestamp are required",
                     "missing", NULL);
        return -1;
    }
    char *end = NULL;
    long long ts = strtoll (ts_text, &end, 10);
    if (end == ts_text || *end != 0 || strlen (ts_text) > 19) {
        s_auth_fail (self, response, 401, "timestamp must be an integer (unix seconds)",
                     "timestamp", hotkey);
        return -1;
    }
    int64_t now = s_now (self);
    if (ts < now - self->cfg->coord_ts_past_s || ts > now + self->cfg->coord_ts_future_s) {
        s_auth_fail (self, response, 401, "timestamp outside the accepted window",
                     "timestamp", hotkey);
        return -1;
    }
    auth->entry = registry_lookup (self->registry, hotkey);
    if (!auth->entry) {
        s_auth_fail (self, response, 403, "unknown hotkey", "unknown_hotkey", NULL);
        return -1;
    }
    auth->hotkey = hotkey;
    auth->signature = signature;
    auth->ts = ts;
    return 0;
}

//  Verifies the signature over commitment, the role, the replay cache and the rate limit.
static int
s_auth_finish (coord_t *self, s_auth_t *auth, const char *commitment, registry_role_t role,
               ratelimit_t *limiter, coord_response_t *response)
{
    const char *hex = auth->signature;
    if (hex [0] == '0' && (hex [1] == 'x' || hex [1] == 'X'))
        hex += 2;
    uint8_t sig [SR25519_SIGNATURE_SIZE];
    size_t len = 0;
    if (strlen (hex) != 2 * SR25519_SIGNATURE_SIZE
    ||  sodium_hex2bin (sig, sizeof sig, hex, strlen (hex), NULL, &len, NULL) != 0
    ||  len != sizeof sig) {
        s_auth_fail (self, response, 401, "signature must be 64 bytes of hex", "signature",
                     auth->hotkey);
        return -1;
    }
    sr25519_result_t result = sr25519_verify (auth->entry->public_key,
                                              (const uint8_t *) commitment, strlen (commitment),
                                              sig);
    if (result != SR25519_OK) {
        char reason [160];
        snprintf (reason, sizeof reason, "invalid signature: %s", sr25519_strerror (result));
        s_auth_fail (self, response, 401, reason, "signature", auth->hotkey);
        return -1;
    }
    if (auth->entry->role != role) {
        s_auth_fail (self, response, 403, role == REGISTRY_MINER ? "endpoint is for miners"
                                                                 : "endpoint is for validators",
                     "role", auth->hotkey);
        return -1;
    }
    char ts [24];
    snprintf (ts, sizeof ts, "%lld", (long long) auth->ts);
    char sig_hex [2 * SR25519_SIGNATURE_SIZE + 1];
    sodium_bin2hex (sig_hex, sizeof sig_hex, sig, sizeof sig);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "INSERT INTO coord_replay (hotkey, ts, signature) VALUES ($1, $2::bigint, $3) "
                      "ON CONFLICT DO NOTHING", DB_P (auth->hotkey, ts, sig_hex), &res);
    if (rc != 0) {
        s_db_down (self, response);
        return -1;
    }
    bool fresh = db_result_affected (res) == 1;
    db_result_destroy (&res);
    if (!fresh) {
        s_auth_fail (self, response, 401, "replayed request", "replay", auth->hotkey);
        return -1;
    }
    int64_t wait_ms = 0;
    struct timespec mono;
    clock_gettime (CLOCK_MONOTONIC, &mono);
    int64_t now_ms = self->fixed_now ? self->fixed_now * 1000
                                     : (int64_t) mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
    if (!ratelimit_take (limiter, auth->hotkey, now_ms, &wait_ms)) {
        s_auth_fail (self, response, 429, "rate limit exceeded", "rate_limit", auth->hotkey);
        response->retry_after_s = (wait_ms + 999) / 1000;
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------------------
//  Endpoints

static const char *
s_query (const coord_request_t *request, const char *name)
{
    return request->query ? request->query (request->query_ctx, name) : NULL;
}

static void
s_get_current (coord_t *self, const coord_request_t *request, coord_response_t *response)
{
    s_auth_t auth;
    if (s_auth_begin (self, s_query (request, "hotkey"), s_query (request, "signature"),
                      s_query (request, "timestamp"), &auth, response) != 0)
        return;
    char commitment [96];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) auth.ts);
    //  both roles read assignments: check the signature with the caller's own role
    if (s_auth_finish (self, &auth, commitment, auth.entry->role, self->rate_assign, response) != 0)
        return;
    if (coord_ensure_epoch (self, NULL) != 0) {
        s_db_down (self, response);
        return;
    }
    response->status = 200;
    if (!(response->body = strdup (self->cached_doc)))
        abort ();
}

static void
s_get_epoch (coord_t *self, const coord_request_t *request, const char *id,
             coord_response_t *response)
{
    int64_t start;
    if (epoch_id_parse (id, &start) != 0) {
        s_error (response, 400, "epoch id must be YYYY-MM-DDTHH-MM-SS");
        return;
    }
    s_auth_t auth;
    if (s_auth_begin (self, s_query (request, "hotkey"), s_query (request, "signature"),
                      s_query (request, "timestamp"), &auth, response) != 0)
        return;
    char commitment [128];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:epoch:%s:%lld", id,
              (long long) auth.ts);
    if (s_auth_finish (self, &auth, commitment, auth.entry->role, self->rate_assign, response) != 0)
        return;
    char *doc = NULL;
    int rc = s_load_epoch (self, id, &doc, NULL);
    if (rc == 1)
        s_error (response, 404, "no such epoch");
    else
    if (rc != 0)
        s_db_down (self, response);
    else {
        response->status = 200;
        response->body = doc;
    }
}

//  Parses a POST body into a JSON object. Returns NULL with the response filled.
static json_t *
s_body (coord_t *self, const coord_request_t *request, coord_response_t *response)
{
    if ((int64_t) request->body_len > self->cfg->coord_body_max) {
        s_error (response, 413, "request body too large");
        return NULL;
    }
    jsonx_err_t err = { 0 };
    json_t *root = request->body_len
                 ? jsonx_parse (request->body, request->body_len, (size_t) self->cfg->coord_body_max,
                                16, &err)
                 : NULL;
    if (!root || !json_is_object (root)) {
        char msg [300];
        snprintf (msg, sizeof msg, "body must be a JSON object%s%s", err.failed ? ": " : "",
                  err.failed ? err.msg : "");
        s_error (response, 400, msg);
        json_decref (root);
        return NULL;
    }
    return root;
}

//  Integer field from JSON (number or numeric string, as clients differ). Returns NULL and
//  writes into buf (24 bytes) otherwise.
static const char *
s_ts_field (const json_t *body, char *buf)
{
    const json_t *v = json_object_get (body, "timestamp");
    if (json_is_integer (v)) {
        snprintf (buf, 24, "%lld", (long long) json_integer_value (v));
        return buf;
    }
    return json_string_value (v);
}

//  Parses a POST body and checks its credentials up to the signature (s_auth_begin).
//  Returns the body (caller decrefs; auth points into it), or NULL with the response filled.
static json_t *
s_post_begin (coord_t *self, const coord_request_t *request, s_auth_t *auth,
              coord_response_t *response)
{
    json_t *body = s_body (self, request, response);
    if (!body)
        return NULL;
    char tsbuf [24];
    if (s_auth_begin (self, json_string_value (json_object_get (body, "hotkey")),
                      json_string_value (json_object_get (body, "signature")),
                      s_ts_field (body, tsbuf), auth, response) != 0) {
        json_decref (body);
        return NULL;
    }
    return body;
}

static bool
s_zip_valid (const char *z)
{
    if (!z || strlen (z) != 5)
        return false;
    for (int i = 0; i < 5; i++)
        if (!isdigit ((unsigned char) z [i]))
            return false;
    return true;
}

static void
s_post_status (coord_t *self, const coord_request_t *request, coord_response_t *response)
{
    s_auth_t auth;
    json_t *body = s_post_begin (self, request, &auth, response);
    if (!body)
        return;
    const char *epoch_id = json_string_value (json_object_get (body, "epochId"));
    const char *status = json_string_value (json_object_get (body, "status"));
    int64_t start;
    if (!epoch_id || epoch_id_parse (epoch_id, &start) != 0) {
        s_error (response, 400, "epochId must be YYYY-MM-DDTHH-MM-SS");
        goto done;
    }
    char commitment [256];
    snprintf (commitment, sizeof commitment, "miner:status:%s:%s:%lld", auth.hotkey, epoch_id,
              (long long) auth.ts);
    if (s_auth_finish (self, &auth, commitment, REGISTRY_MINER, self->rate_status, response) != 0)
        goto done;
    if (!status || (strcmp (status, "IN_PROGRESS") && strcmp (status, "COMPLETED")
                &&  strcmp (status, "FAILED") && strcmp (status, "TIMEOUT"))) {
        s_error (response, 400, "status must be IN_PROGRESS, COMPLETED, FAILED or TIMEOUT");
        goto done;
    }
    jsonx_err_t err = { 0 };
    int64_t scraped = jsonx_int_in (body, "listingsScraped", 0, 10000000, &err);
    if (!json_object_get (body, "listingsScraped")) {
        memset (&err, 0, sizeof err);
        scraped = 0;
    }
    const json_t *done_list = json_object_get (body, "completedZipcodes");
    const char *message = json_string_value (json_object_get (body, "message"));
    if (err.failed || (done_list && (!json_is_array (done_list) || json_array_size (done_list) > ZIP_MAX))
    ||  (message && strlen (message) > 1000)) {
        s_error (response, 400, err.failed ? err.msg
                              : "completedZipcodes must be an array of at most 500 zipcodes; "
                                "message at most 1000 bytes");
        goto done;
    }
    int64_t end_s = 0;
    int rc = s_load_epoch (self, epoch_id, NULL, &end_s);
    if (rc == 1) {
        s_error (response, 404, "no such epoch");
        goto done;
    }
    if (rc != 0) {
        s_db_down (self, response);
        goto done;
    }
    //  every completed zipcode must be one of the epoch's
    json_t *clean = json_array ();
    size_t i;
    json_t *z;
    json_array_foreach (done_list, i, z) {
        const char *zip = json_string_value (z);
        db_result_t *res = NULL;
        if (!s_zip_valid (zip)) {
            s_error (response, 400, "completedZipcodes: each must be a 5-digit string");
            json_decref (clean);
            goto done;
        }
        rc = db_exec (self->db, "SELECT 1 FROM coord_epoch_zipcodes WHERE epoch_id = $1 AND zipcode = $2",
                      DB_P (epoch_id, zip), &res);
        bool known = rc == 0 && db_result_rows (res) == 1;
        db_result_destroy (&res);
        if (rc != 0) {
            s_db_down (self, response);
            json_decref (clean);
            goto done;
        }
        if (!known) {
            char msg [96];
            snprintf (msg, sizeof msg, "zipcode %s is not assigned in epoch %s", zip, epoch_id);
            s_error (response, 400, msg);
            json_decref (clean);
            goto done;
        }
        json_array_append_new (clean, json_string (zip));
    }
    char *clean_text = jsonx_dump (clean, false);
    char scraped_text [24], ncompleted [24];
    snprintf (scraped_text, sizeof scraped_text, "%lld", (long long) scraped);
    snprintf (ncompleted, sizeof ncompleted, "%zu", json_array_size (clean));
    json_decref (clean);
    rc = db_exec (self->db,
                  "INSERT INTO coord_miner_status (epoch_id, hotkey, status, listings_scraped, "
                  "zipcodes_completed, completed_zipcodes, message) "
                  "VALUES ($1, $2, $3, $4::integer, $5::integer, $6, $7) "
                  "ON CONFLICT (epoch_id, hotkey) DO UPDATE SET status = EXCLUDED.status, "
                  "listings_scraped = EXCLUDED.listings_scraped, "
                  "zipcodes_completed = EXCLUDED.zipcodes_completed, "
                  "completed_zipcodes = EXCLUDED.completed_zipcodes, message = EXCLUDED.message, "
                  "reports = coord_miner_status.reports + 1, updated_at = now()",
                  DB_P (epoch_id, auth.hotkey, status, scraped_text, ncompleted, clean_text,
                        message ? message : ""), NULL);
    free (clean_text);
    if (rc != 0) {
        s_db_down (self, response);
        goto done;
    }
    log_info ("miner_status", LS ("epoch", epoch_id), LS ("status", status),
              LI ("listings", scraped));
    s_json (response, 200, json_pack ("{s:b, s:s, s:s, s:s}", "success", 1, "epochId", epoch_id,
                                      "hotkey", auth.hotkey, "status", status));
done:
    json_decref (body);
}

//  The base URL a client uploads to: path-style endpoint/bucket or virtual-hosted.
static char *
s_upload_url (const zm_config_t *cfg)
{
    const char *ep = cfg->s3_endpoint;
    size_t len = strlen (ep);
    while (len > 0 && ep [len - 1] == '/')
        len--;
    char *url = NULL;
    if (cfg->s3_path_style) {
        if (asprintf (&url, "%.*s/%s", (int) len, ep, cfg->s3_bucket) < 0)
            abort ();
    }
    else {
        const char *host = strstr (ep, "://");
        size_t scheme = host ? (size_t) (host - ep) + 3 : 0;
        if (asprintf (&url, "%.*s%s.%.*s", (int) scheme, ep, cfg->s3_bucket,
                      (int) (len - scheme), ep + scheme) < 0)
            abort ();
    }
    return url;
}

static void
s_grant (coord_t *self, const char *epoch_id, const char *hotkey, registry_role_t role,
         const char *prefix, int64_t expires_at, coord_response_t *response)
{
    const zm_config_t *cfg = self->cfg;
    if (!*cfg->s3_endpoint || !*cfg->s3_bucket || !*cfg->s3_access_key || !*cfg->s3_secret_key) {
        s_error (response, 503, "upload grants are not configured on this coordinator");
        return;
    }
    int64_t now = s_now (self);
    int64_t lifetime = expires_at - now;
    if (lifetime < 1) {
        s_error (response, 409, "the epoch's submission deadline has passed");
        return;
    }
    if (lifetime > SIGV4_MAX_EXPIRES)
        lifetime = SIGV4_MAX_EXPIRES;
    sigv4_creds_t creds = { .access_key = cfg->s3_access_key, .secret_key = cfg->s3_secret_key,
                            .session_token = cfg->s3_session_token, .region = cfg->s3_region,
                            .service = "s3" };
    sigv4_post_params_t params = { .bucket = cfg->s3_bucket, .key_prefix = prefix,
                                   .min_size = 1, .max_size = cfg->coord_grant_max_bytes,
                                   .expires_s = lifetime };
    sigv4_post_t *post = sigv4_post_new (&creds, &params, now);
    if (!post) {
        s_error (response, 500, "could not build the upload policy");
        return;
    }
    json_t *fields = json_object ();
    size_t count = 0;
    const sigv4_kv_t *kv = sigv4_post_fields (post, &count);
    for (size_t i = 0; i < count; i++)
        json_object_set_new (fields, kv [i].name, json_string (kv [i].value));
    char *url = s_upload_url (cfg);
    char expires [21];
    epoch_iso8601 (now + lifetime, expires);
    char exp_s [24];
    snprintf (exp_s, sizeof exp_s, "%lld", (long long) (now + lifetime));
    const char *role_name = role == REGISTRY_MINER ? "miner" : "validator";
    int rc = db_exec (self->db,
                      "INSERT INTO coord_grants (epoch_id, hotkey, role, key_prefix, expires_s) "
                      "VALUES ($1, $2, $3, $4, $5::bigint)",
                      DB_P (epoch_id, hotkey, role_name, prefix, exp_s), NULL);
    if (rc != 0) {
        free (url);
        json_decref (fields);
        sigv4_post_destroy (&post);
        s_db_down (self, response);
        return;
    }
    self->n_grants [role == REGISTRY_MINER ? 0 : 1]++;
    log_info ("upload_grant", LS ("epoch", epoch_id), LS ("role", role_name),
              LI ("expires_in_s", lifetime));
    s_json (response, 200, json_pack ("{s:s, s:o, s:s, s:s, s:s, s:I}", "uploadUrl", url,
                                      "fields", fields, "prefix", prefix, "epochId", epoch_id,
                                      "expiresAt", expires,
                                      "maxBytes", (json_int_t) cfg->coord_grant_max_bytes));
    free (url);
    sigv4_post_destroy (&post);
}

static void
s_post_folder_access (coord_t *self, const coord_request_t *request, coord_response_t *response)
{
    s_auth_t auth;
    json_t *body = s_post_begin (self, request, &auth, response);
    if (body) {
        const char *coldkey = json_string_value (json_object_get (body, "coldkey"));
        if (coldkey && *auth.entry->coldkey && strcmp (coldkey, auth.entry->coldkey) != 0)
            s_auth_fail (self, response, 403, "coldkey does not own this hotkey", "coldkey",
                         auth.hotkey);
        else {
            char commitment [256];
            snprintf (commitment, sizeof commitment, "s3:data:access:%s:%s:%lld",
                      coldkey ? coldkey : auth.entry->coldkey, auth.hotkey, (long long) auth.ts);
            if (s_auth_finish (self, &auth, commitment, REGISTRY_MINER, self->rate_grant,
                               response) == 0) {
                char id [EPOCH_ID_LEN + 1];
                if (coord_ensure_epoch (self, id) != 0)
                    s_db_down (self, response);
                else {
                    int64_t end_s = self->cached_end;
                    char prefix [160];
                    snprintf (prefix, sizeof prefix, "data/hotkey=%s/epoch=%s/", auth.hotkey, id);
                    s_grant (self, id, auth.hotkey, REGISTRY_MINER, prefix, end_s, response);
                }
            }
        }
    }
    json_decref (body);
}

static void
s_post_validator_upload (coord_t *self, const coord_request_t *request,
                         coord_response_t *response)
{
    s_auth_t auth;
    json_t *body = s_post_begin (self, request, &auth, response);
    if (body) {
        char commitment [64];
        snprintf (commitment, sizeof commitment, "s3:validator:upload:%lld", (long long) auth.ts);
        if (s_auth_finish (self, &auth, commitment, REGISTRY_VALIDATOR, self->rate_grant,
                           response) == 0) {
            //  Validators publish an epoch's results after its deadline: the body names the
            //  epoch (default: the current one); the grant lasts one epoch length.
            const char *epoch_id = json_string_value (json_object_get (body, "epochId"));
            char id [EPOCH_ID_LEN + 1];
            int rc = 0;
            if (epoch_id) {
                int64_t start;
                if (epoch_id_parse (epoch_id, &start) != 0) {
                    s_error (response, 400, "epochId must be YYYY-MM-DDTHH-MM-SS");
                    rc = -1;
                }
                else
                    snprintf (id, sizeof id, "%s", epoch_id);
            }
            else
            if (coord_ensure_epoch (self, id) != 0) {
                s_db_down (self, response);
                rc = -1;
            }
            if (rc == 0) {
                rc = s_load_epoch (self, id, NULL, NULL);
                if (rc == 1)
                    s_error (response, 404, "no such epoch");
                else
                if (rc != 0)
                    s_db_down (self, response);
                else {
                    char prefix [160];
                    snprintf (prefix, sizeof prefix, "validators/%s/%s/", auth.hotkey, id);
                    s_grant (self, id, auth.hotkey, REGISTRY_VALIDATOR, prefix,
                             s_now (self) + self->cfg->coord_epoch_s, response);
                }
            }
        }
    }
    json_decref (body);
}

static void
s_get_stats (coord_t *self, coord_response_t *response)
{
    char id [EPOCH_ID_LEN + 1];
    if (coord_ensure_epoch (self, id) != 0) {
        s_db_down (self, response);
        return;
    }
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "SELECT e.start_s, e.end_s, e.total_expected, "
                      "(SELECT count(*) FROM coord_epoch_zipcodes z WHERE z.epoch_id = e.id), "
                      "(SELECT count(*) FROM coord_miner_status s WHERE s.epoch_id = e.id AND s.status = 'IN_PROGRESS'), "
                      "(SELECT count(*) FROM coord_miner_status s WHERE s.epoch_id = e.id AND s.status = 'COMPLETED'), "
                      "(SELECT count(*) FROM coord_miner_status s WHERE s.epoch_id = e.id AND s.status = 'FAILED'), "
                      "(SELECT count(*) FROM coord_miner_status s WHERE s.epoch_id = e.id AND s.status = 'TIMEOUT'), "
                      "(SELECT count(*) FROM coord_epochs) "
                      "FROM coord_epochs e WHERE e.id = $1", DB_P (id), &res);
    if (rc != 0 || db_result_rows (res) != 1) {
        db_result_destroy (&res);
        s_db_down (self, response);
        return;
    }
    int64_t v [9] = { 0 };
    for (int i = 0; i < 9; i++)
        db_result_int64 (res, 0, i, &v [i]);
    db_result_destroy (&res);
    char start [21], end [21];
    epoch_iso8601 (v [0], start);
    epoch_iso8601 (v [1], end);
    json_t *miners = json_pack ("{s:I, s:I, s:I, s:I}", "IN_PROGRESS", (json_int_t) v [4],
                                "COMPLETED", (json_int_t) v [5], "FAILED", (json_int_t) v [6],
                                "TIMEOUT", (json_int_t) v [7]);
    s_json (response, 200, json_pack (
        "{s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:I, s:I, s:I}",
        "currentEpoch", id, "epochStart", start, "epochEnd", end,
        "zipcodes", (json_int_t) v [3], "totalExpectedListings", (json_int_t) v [2],
        "minerStatus", miners, "epochsServed", (json_int_t) v [8],
        "epochLengthSeconds", (json_int_t) self->cfg->coord_epoch_s,
        "registeredMiners", (json_int_t) registry_count_role (self->registry, REGISTRY_MINER),
        "registeredValidators",
        (json_int_t) registry_count_role (self->registry, REGISTRY_VALIDATOR)));
}

static void
s_get_health (coord_t *self, coord_response_t *response)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db, "SELECT 1", 0, NULL, &res);
    db_result_destroy (&res);
    if (rc != 0) {
        s_db_down (self, response);
        return;
    }
    s_json (response, 200, json_pack ("{s:s, s:s, s:I}", "status", "ok", "service",
                                      "zipmine-coordinator", "time", (json_int_t) s_now (self)));
}

//  Routes. `route` is the label for metrics (bounded set, never the raw path).
void
coord_handle (coord_t *self, const coord_request_t *request, coord_response_t *response)
{
    assert (self && request && response);
    memset (response, 0, sizeof *response);
    const char *path = request->path ? request->path : "";
    const char *method = request->method ? request->method : "";
    bool get = strcmp (method, "GET") == 0;
    bool post = strcmp (method, "POST") == 0;
    const char *route = "other";
    static const char epoch_prefix [] = "/api/v1/zipcode-assignments/epoch/";

    if (strcmp (path, "/api/v1/zipcode-assignments/current") == 0) {
        route = "assignments_current";
        if (get) s_get_current (self, request, response);
    }
    else
    if (strncmp (path, epoch_prefix, sizeof epoch_prefix - 1) == 0) {
        route = "assignments_epoch";
        if (get) s_get_epoch (self, request, path + sizeof epoch_prefix - 1, response);
    }
    else
    if (strcmp (path, "/api/v1/zipcode-assignments/status") == 0) {
        route = "status";
        if (post) s_post_status (self, request, response);
    }
    else
    if (strcmp (path, "/get-folder-access") == 0) {
        route = "miner_grant";
        if (post) s_post_folder_access (self, request, response);
    }
    else
    if (strcmp (path, "/api/v1/s3-access/validator-upload") == 0) {
        route = "validator_grant";
        if (post) s_post_validator_upload (self, request, response);
    }
    else
    if (strcmp (path, "/api/v1/zipcode-assignments/stats") == 0) {
        route = "stats";
        if (get) s_get_stats (self, response);
    }
    else
    if (strcmp (path, "/healthcheck") == 0) {
        route = "healthcheck";
        if (get) s_get_health (self, response);
    }
    else
        s_error (response, 404, "no such endpoint");

    if (response->status == 0) {
        bool wants_post = strcmp (route, "status") == 0 || strcmp (route, "miner_grant") == 0
                       || strcmp (route, "validator_grant") == 0;
        s_error (response, 405, wants_post ? "use POST" : "use GET");
    }
    (void) route;
}

void
coord_metrics_flush (coord_t *self)
{
    if (!self->m_auth_fail)
        return;
    for (size_t i = 0; i < S_REASONS; i++)
        metrics_set (metrics_series (self->m_auth_fail, s_reasons [i]), (double) self->n_auth_fail [i]);
    metrics_set (metrics_series (self->m_epochs), (double) self->n_epochs);
    metrics_set (metrics_series (self->m_grants, "miner"), (double) self->n_grants [0]);
    metrics_set (metrics_series (self->m_grants, "validator"), (double) self->n_grants [1]);
}
