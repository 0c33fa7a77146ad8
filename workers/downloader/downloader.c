/*  downloader: epoch, list, fetch, check, store, announce (downloader.h).

    PostgreSQL holds every step of a submission's life (validator_submissions: listed ->
    downloaded | rejected | skipped; requested_at, announced_at), so this module keeps no
    state that a restart would need: the pump re-reads what is requested and not announced,
    in validation order, every time it runs. The fetch threads (s_fetcher_t) share nothing
    with the loop thread but the immutable configuration and limits and the stop flag: each
    has its own db_t and s3_t, takes one submission id at a time from its zactor pipe and
    pushes the outcome (what to count) to the results PULL; the loop thread alone keeps the
    metrics and the in-flight table.                                                         */
#include "workers/downloader/downloader.h"
#include "common/assign_doc.h"

#include "common/backoff.h"
#include "common/canon.h"
#include "common/clock.h"
#include "common/epoch.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/s3.h"
#include "common/zmqx.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"

#include <assert.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPOCH_CHECK_MS      5000        //  how often the tick looks for a due epoch
#define PUMP_BUDGET_MS      500         //  per tick: the loop must keep heartbeating
#define LIST_BUDGET_MS      300         //  S3 listing work per tick
#define PUMP_BATCH          16          //  rows read per query
#define BACKOFF_BASE_MS     1000
#define BACKOFF_CAP_MS      30000
#define REASON_MAX          400         //  stored reason text (ASCII)
#define LM_MAX              64          //  LastModified text

typedef struct {
    char *key;
    char hotkey [SUBMISSION_HOTKEY_MAX + 1];
    char zipcode [6];
    char last_modified [LM_MAX + 1];
    int64_t size;
    char *etag;
} s_listed_t;

typedef struct {
    s_listed_t *items;
    size_t n, cap;
} s_listed_vec_t;

//  A listing in progress: spread over ticks so that the worker loop keeps heartbeating
//  (one S3 request per discovery step, one miner's epoch prefix per listing step).
typedef struct {
    bool active;
    char epoch [EPOCH_ID_LEN + 1];
    bool discovered;            //  every miner prefix found
    char after [S3_KEY_MAX + 16];   //  discovery cursor (StartAfter)
    char **hotkeys;
    size_t nhotkeys, caphotkeys;
    size_t next;                //  next miner to list
    s_listed_vec_t vec;
    size_t budget;              //  objects and miners still allowed
    int64_t t0;
} s_listing_t;

//  A fetch thread. busy is the loop thread's (the id in flight, 0 = idle); the rest is set
//  before the thread starts and then used by the thread alone.
typedef struct {
    downloader_t *owner;
    int index;
    zactor_t *actor;
    int64_t busy;
    db_t *db;
    s3_t *s3;
} s_fetcher_t;

struct _downloader_t {
    const zm_config_t *cfg;
    db_t *db;
    s3_t *s3;
    http_t *http;
    const wallet_t *wallet;
    char hotkey [SS58_ADDRESS_SIZE + 1];
    zsock_t *tier1;
    zsock_t *consensus;
    submission_limits_t limits;
    bool demand;
    bool request_all_due;       //  mode all: requests to catch up on (start, new listing)
    backoff_t backoff;
    int64_t resume_at;          //  monotonic ms: transient failure, wait until then
    int64_t next_epoch_check;
    s_listing_t listing;

    s_fetcher_t *fetchers;      //  nfetchers, 0 when fetching on the caller's thread
    size_t nfetchers;
    zsock_t *results;           //  PULL: fetch outcomes
    char results_ep [64];
    atomic_bool stop;           //  read by the fetch threads: cut bodies short
    bool stopping;              //  no more fetches handed out

    metrics_family_t *f_skipped, *f_rejected, *f_errors, *f_announced;
    metrics_series_t *m_listed, *m_downloaded, *m_bytes, *m_epochs, *m_requests;
    metrics_series_t *m_requests_bad;
};

static void s_listing_reset (s_listing_t *L);

static s3_config_t
s_s3_config (const zm_config_t *cfg)
{
    s3_config_t c = {
        .endpoint = cfg->s3_endpoint, .region = cfg->s3_region,
        .access_key = cfg->s3_access_key, .secret_key = cfg->s3_secret_key,
        .session_token = cfg->s3_session_token, .path_style = cfg->s3_path_style,
        .timeout_ms = cfg->s3_timeout_ms, .max_attempts = 2, .retry_base_ms = 200,
        .retry_cap_ms = 1000
    };
    return c;
}

//  ---------------------------------------------------------------------------------------

downloader_t *
downloader_new (const zm_config_t *cfg, db_t **db_p, const wallet_t *wallet,
                metrics_t *metrics)
{
    assert (cfg && db_p && *db_p && metrics);
    if (!*cfg->s3_endpoint || !*cfg->s3_bucket) {
        log_error ("config_invalid", LS ("key", "s3.endpoint"),
                   LS ("reason", "the downloader needs s3.endpoint and s3.bucket"));
        return NULL;
    }
    downloader_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->cfg = cfg;
    self->wallet = wallet;
    if (wallet && wallet_address (wallet, (unsigned) cfg->ss58_prefix, self->hotkey,
                                  sizeof self->hotkey) != 0) {
        log_error ("config_invalid", LS ("key", "ss58.prefix"), LS ("reason", "not usable"));
        free (self);
        return NULL;
    }
    s3_config_t s3cfg = s_s3_config (cfg);
    self->s3 = s3_new (&s3cfg);
    if (!self->s3) {
        free (self);
        return NULL;
    }
    http_options_t opts;
    http_options_defaults (&opts);
    opts.max_attempts = 1;          //  retries are ours, across ticks
    opts.timeout_ms = cfg->http_timeout_ms;
    opts.deadline_ms = cfg->http_timeout_ms;
    opts.max_body = ASSIGN_DOC_BYTES_MAX;
    self->http = http_new (&opts);
    if (!self->http)
        abort ();
    self->limits.max_bytes = (size_t) cfg->downloader_object_max;
    self->limits.max_listings = (size_t) cfg->downloader_listings_max;
    self->limits.max_depth = (int) cfg->downloader_depth_max;
    self->demand = strcmp (cfg->downloader_mode, "demand") == 0;
    self->request_all_due = !self->demand;
    backoff_init (&self->backoff, BACKOFF_BASE_MS, BACKOFF_CAP_MS, 0);
    self->db = *db_p;
    *db_p = NULL;

    self->f_skipped = metrics_counter (metrics, "zipmine_downloader_skipped_total",
        "Listed objects not taken part (bad_key, not_assigned, late, duplicate)", "reason");
    self->f_rejected = metrics_counter (metrics, "zipmine_downloader_rejected_total",
        "Submissions rejected by the downloader's checks", "reason");
    self->f_errors = metrics_counter (metrics, "zipmine_downloader_errors_total",
        "Transient failures (retried) by stage", "stage");
    self->f_announced = metrics_counter (metrics, "zipmine_downloader_announced_total",
        "Submissions announced: to tier1 (stored) or consensus (rejected)", "to");
    self->m_listed = metrics_series (metrics_counter (metrics,
        "zipmine_downloader_listed_total", "Submission objects recorded from S3 listings",
        NULL));
    self->m_downloaded = metrics_series (metrics_counter (metrics,
        "zipmine_downloader_downloaded_total", "Submissions downloaded, checked and stored",
        NULL));
    self->m_bytes = metrics_series (metrics_counter (metrics,
        "zipmine_downloader_bytes_total", "Submission object bytes read from S3", NULL));
    self->m_epochs = metrics_series (metrics_counter (metrics,
        "zipmine_downloader_epochs_listed_total", "Epochs whose submissions were listed",
        NULL));
    self->m_requests = metrics_series (metrics_counter (metrics,
        "zipmine_downloader_requests_total", "Download requests received", NULL));
    self->m_requests_bad = metrics_series (metrics_counter (metrics,
        "zipmine_downloader_requests_malformed_total",
        "Request frames dropped (malformed or unknown id)", NULL));
    return self;
}

void
downloader_destroy (downloader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    downloader_t *self = *self_p;
    //  a body being read is cut short at its next bytes; a call waiting on a silent server
    //  ends at s3.timeout.ms: zactor_destroy joins the thread
    atomic_store (&self->stop, true);
    for (size_t i = 0; i < self->nfetchers; i++) {
        zactor_destroy (&self->fetchers [i].actor);
        db_destroy (&self->fetchers [i].db);
        s3_destroy (&self->fetchers [i].s3);
    }
    free (self->fetchers);
    zsock_destroy (&self->results);
    s_listing_reset (&self->listing);
    db_destroy (&self->db);
    s3_destroy (&self->s3);
    http_destroy (&self->http);
    free (self);
    *self_p = NULL;
}

void
downloader_set_outputs (downloader_t *self, zsock_t *tier1, zsock_t *consensus)
{
    self->tier1 = tier1;
    self->consensus = consensus;
}

int
downloader_prepare (downloader_t *self)
{
    return db_migrate (self->db);
}

static void
s_error (downloader_t *self, const char *stage)
{
    metrics_inc (metrics_series (self->f_errors, stage));
}

//  ---------------------------------------------------------------------------------------
//  Epoch

int
downloader_epoch_store (downloader_t *self, const char *body, size_t len)
{
    assign_doc_t doc;
    char err [256];
    if (assign_doc_parse (body, len, &doc, err, sizeof err) != 0) {
        log_error ("epoch_document_malformed", LS ("reason", err));
        return RC_MALFORMED;
    }
    size_t zcap = doc.nzips * 6 + 3, ecap = doc.nzips * 8 + 3;
    char *zips = malloc (zcap), *exp = malloc (ecap);
    assert (zips && exp);
    size_t zw = 0, ew = 0;
    zips [zw++] = '{';
    exp [ew++] = '{';
    for (size_t i = 0; i < doc.nzips; i++) {
        zw += (size_t) snprintf (zips + zw, zcap - zw, "%s%s", i ? "," : "",
                                 doc.zips [i].zipcode);
        ew += (size_t) snprintf (exp + ew, ecap - ew, "%s%lld", i ? "," : "",
                                 (long long) doc.zips [i].expected);
    }
    snprintf (zips + zw, zcap - zw, "}");
    snprintf (exp + ew, ecap - ew, "}");
    //  the raw body is kept as the assignment; jansson accepted it, so jsonb will
    char *raw = strndup (body, len);
    assert (raw);
    db_result_t *res = NULL;
    int rc = db_begin (self->db);
    if (rc == 0)
        rc = db_exec (self->db,
            "INSERT INTO validator_epochs (epoch_id, nonce, epoch_start, epoch_end, "
            "submission_deadline, assignment) VALUES ($1, $2, $3, $4, $5, $6::jsonb) "
            "ON CONFLICT (epoch_id) DO NOTHING RETURNING epoch_id",
            DB_P (doc.epoch_id, doc.nonce, doc.epoch_start, doc.epoch_end, doc.deadline, raw),
            &res);
    bool is_new = rc == 0 && db_result_rows (res) == 1;
    db_result_destroy (&res);
    if (rc == 0 && is_new)
        rc = db_exec (self->db,
            "INSERT INTO validator_epoch_zipcodes (epoch_id, zipcode, expected_listings) "
            "SELECT $1, z, e FROM unnest ($2::text[], $3::int[]) AS u (z, e) "
            "ON CONFLICT DO NOTHING", DB_P (doc.epoch_id, zips, exp), NULL);
    if (rc == 0)
        rc = db_commit (self->db);
    if (rc != 0) {
        log_warn ("epoch_store_failed", LS ("epoch", doc.epoch_id),
                  LS ("error", db_error (self->db)));
        db_rollback (self->db);
    }
    else
    if (is_new)
        log_info ("epoch_cached", LS ("epoch", doc.epoch_id), LI ("zipcodes", (int64_t) doc.nzips),
                  LS ("deadline", doc.deadline));
    free (raw);
    free (zips);
    free (exp);
    assign_doc_free (&doc);
    return rc;
}

static int
s_epoch_cached (downloader_t *self, const char *epoch, bool *cached)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db, "SELECT 1 FROM validator_epochs WHERE epoch_id = $1",
                      DB_P (epoch), &res);
    if (rc == 0)
        *cached = db_result_rows (res) == 1;
    db_result_destroy (&res);
    return rc;
}

int
downloader_epoch_fetch (downloader_t *self, const char *epoch)
{
    bool cached = false;
    int rc = s_epoch_cached (self, epoch, &cached);
    if (rc != 0)
        return RC_RETRY;
    if (cached)
        return 0;
    if (!self->wallet || !*self->cfg->coordinator_url)
        return RC_RETRY;
    int64_t ts = (int64_t) time (NULL);
    char commitment [96], sighex [2 * SR25519_SIGNATURE_SIZE + 1], url [1400];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:epoch:%s:%lld", epoch,
              (long long) ts);
    uint8_t sig [SR25519_SIGNATURE_SIZE];
    if (wallet_sign (self->wallet, (const uint8_t *) commitment, strlen (commitment), sig) != 0)
        return RC_RETRY;
    sodium_bin2hex (sighex, sizeof sighex, sig, sizeof sig);
    snprintf (url, sizeof url, "%s/api/v1/zipcode-assignments/epoch/%s?hotkey=%s&signature=%s"
              "&timestamp=%lld", self->cfg->coordinator_url, epoch, self->hotkey, sighex,
              (long long) ts);
    http_response_t *resp = NULL;
    rc = http_get (self->http, url, NULL, &resp);
    long status = resp ? http_response_status (resp) : 0;
    if (rc == 0 && status == 200) {
        size_t len = 0;
        const char *body = http_response_body (resp, &len);
        rc = downloader_epoch_store (self, body, len);
        if (rc == RC_MALFORMED)
            rc = RC_RETRY;
        else
        if (rc == 0) {
            //  the coordinator answered another epoch than asked: do not use it
            rc = s_epoch_cached (self, epoch, &cached);
            if (rc == 0 && !cached) {
                log_error ("epoch_document_mismatch", LS ("epoch", epoch));
                rc = RC_RETRY;
            }
        }
    }
    else
    if (rc == 0 && status == 404)
        rc = RC_ERR;
    else {
        log_warn ("epoch_fetch_failed", LS ("epoch", epoch), LI ("status", status),
                  LS ("error", rc != 0 ? http_error (self->http) : "unexpected status"));
        rc = RC_RETRY;
    }
    if (rc == RC_RETRY)
        s_error (self, "epoch");
    http_response_destroy (&resp);
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Listing

static void
s_vec_clear (s_listed_vec_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free (v->items [i].key);
        free (v->items [i].etag);
    }
    free (v->items);
    memset (v, 0, sizeof *v);
}

//  "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z": what S3 sends, and what PostgreSQL reads back exactly.
static bool
s_last_modified_ok (const char *s)
{
    const char *pat = "dddd-dd-ddTdd:dd:dd";
    size_t n = strlen (s);
    if (n < 20 || n > 30)
        return false;
    for (size_t i = 0; i < 19; i++)
        if (pat [i] == 'd' ? (s [i] < '0' || s [i] > '9') : s [i] != pat [i])
            return false;
    size_t i = 19;
    if (s [i] == '.') {
        size_t f = ++i;
        while (s [i] >= '0' && s [i] <= '9')
            i++;
        if (i == f || i - f > 9)
            return false;
    }
    return s [i] == 'Z' && s [i + 1] == 0;
}

typedef int (s_page_fn) (downloader_t *self, const s3_list_page_t *page, void *arg);

//  Lists every page under prefix (with delimiter if not NULL), calling fn per page. Stops
//  with RC_MALFORMED when more than *budget objects and prefixes arrive in all, or the
//  server repeats a token or says truncated without one.
static int
s_list_pages (downloader_t *self, const char *prefix, const char *delimiter, size_t *budget,
              s_page_fn *fn, void *arg)
{
    char *token = NULL;
    int rc = 0;
    for (;;) {
        s3_list_query_t q = { .prefix = prefix, .delimiter = delimiter,
                              .continuation_token = token,
                              .max_keys = (int) self->cfg->downloader_list_page };
        s3_list_page_t page;
        memset (&page, 0, sizeof page);
        rc = s3_list (self->s3, self->cfg->s3_bucket, &q, &page);
        if (rc != 0) {
            log_warn ("s3_list_failed", LS ("prefix", prefix), LS ("error", s3_error (self->s3)));
            rc = rc == RC_MALFORMED ? RC_MALFORMED : RC_RETRY;
            s3_list_page_clear (&page);
            break;
        }
        size_t got = page.nobjects + page.nprefixes;
        if (got > *budget) {
            log_error ("s3_list_over_bound", LS ("prefix", prefix),
                       LI ("bound", (int64_t) self->cfg->downloader_objects_max));
            s3_list_page_clear (&page);
            rc = RC_MALFORMED;
            break;
        }
        *budget -= got;
        rc = fn (self, &page, arg);
        bool more = page.is_truncated;
        char *next = page.next_token ? strdup (page.next_token) : NULL;
        s3_list_page_clear (&page);
        if (rc != 0 || !more) {
            free (next);
            break;
        }
        if (!next || (token && strcmp (next, token) == 0)) {
            log_error ("s3_list_endless", LS ("prefix", prefix));
            free (next);
            rc = RC_MALFORMED;
            break;
        }
        free (token);
        token = next;
    }
    free (token);
    return rc;
}

//  One discovery step: finds the miner prefix data/hotkey=H/ after the cursor. Every key
//  under data/hotkey=H/ sorts before "data/hotkey=H0" ('/' < '0', and hotkeys are
//  alphanumeric), so StartAfter that string jumps to the next miner: one request per
//  miner, whatever each holds from past epochs, and it works on S3 servers whose delimiter
//  listing does not descend (s3rver). A key under data/hotkey= that is no miner prefix is
//  counted as bad_key and stepped over. Returns 0 (a step made), 1 (no more miners),
//  RC_RETRY or RC_MALFORMED.
static int
s_discover_step (downloader_t *self, s_listing_t *L)
{
    if (L->budget == 0) {
        log_error ("s3_list_over_bound", LS ("prefix", "data/hotkey="),
                   LI ("bound", (int64_t) self->cfg->downloader_objects_max));
        return RC_MALFORMED;
    }
    L->budget--;
    s3_list_query_t q = { .prefix = "data/hotkey=", .start_after = L->after, .max_keys = 1 };
    s3_list_page_t page;
    memset (&page, 0, sizeof page);
    int rc = s3_list (self->s3, self->cfg->s3_bucket, &q, &page);
    if (rc != 0) {
        log_warn ("s3_list_failed", LS ("prefix", "data/hotkey="),
                  LS ("error", s3_error (self->s3)));
        s3_list_page_clear (&page);
        return rc == RC_MALFORMED ? RC_MALFORMED : RC_RETRY;
    }
    if (page.nobjects == 0) {
        s3_list_page_clear (&page);
        return 1;
    }
    const char *key = page.objects [0].key;
    if (strncmp (key, "data/hotkey=", 12) != 0 || strcmp (key, L->after) <= 0) {
        //  a server that goes backwards would loop forever
        log_error ("s3_list_endless", LS ("prefix", "data/hotkey="));
        s3_list_page_clear (&page);
        return RC_MALFORMED;
    }
    const char *h = key + 12;
    size_t hlen = strspn (h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    if (hlen == 0 || hlen > SUBMISSION_HOTKEY_MAX || h [hlen] != '/') {
        metrics_inc (metrics_series (self->f_skipped, "bad_key"));
        snprintf (L->after, sizeof L->after, "%s", key);
    }
    else {
        if (L->nhotkeys == L->caphotkeys) {
            L->caphotkeys = L->caphotkeys ? L->caphotkeys * 2 : 64;
            L->hotkeys = realloc (L->hotkeys, L->caphotkeys * sizeof (char *));
            assert (L->hotkeys);
        }
        L->hotkeys [L->nhotkeys++] = strndup (h, hlen);
        snprintf (L->after, sizeof L->after, "data/hotkey=%.*s0", (int) hlen, h);
    }
    s3_list_page_clear (&page);
    return 0;
}

typedef struct {
    const char *epoch;
    const char *hotkey;
    s_listed_vec_t *vec;
} s_objects_arg_t;

static int
s_on_objects (downloader_t *self, const s3_list_page_t *page, void *arg)
{
    s_objects_arg_t *a = arg;
    for (size_t i = 0; i < page->nobjects; i++) {
        const s3_object_t *o = &page->objects [i];
        submission_key_t key;
        if (submission_key_parse (o->key, &key) != 0 || strcmp (key.hotkey, a->hotkey) != 0
        ||  strcmp (key.epoch, a->epoch) != 0 || !o->last_modified
        ||  !s_last_modified_ok (o->last_modified) || o->size < 0) {
            metrics_inc (metrics_series (self->f_skipped, "bad_key"));
            log_warn ("submission_key_skipped", LS ("key", o->key), LS ("reason",
                      "not a submission key of this miner and epoch, or bad LastModified"));
            continue;
        }
        s_listed_vec_t *v = a->vec;
        if (v->n == v->cap) {
            v->cap = v->cap ? v->cap * 2 : 64;
            v->items = realloc (v->items, v->cap * sizeof (s_listed_t));
            assert (v->items);
        }
        s_listed_t *it = &v->items [v->n++];
        memset (it, 0, sizeof *it);
        it->key = strdup (o->key);
        it->etag = o->etag ? strdup (o->etag) : NULL;
        assert (it->key);
        snprintf (it->hotkey, sizeof it->hotkey, "%s", key.hotkey);
        snprintf (it->zipcode, sizeof it->zipcode, "%s", key.zipcode);
        snprintf (it->last_modified, sizeof it->last_modified, "%s", o->last_modified);
        it->size = o->size;
    }
    return 0;
}

//  Appends s to a PostgreSQL array literal opened with '{' as a quoted element.
static void
s_arr_add (char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t need = *len + 2 * strlen (s) + 5;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc (*buf, *cap);
        assert (*buf);
    }
    char *p = *buf + *len;
    if (*len > 1)
        *p++ = ',';
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *len = (size_t) (p - *buf);
}

#define RECORD_CHUNK 1000

//  Records the listing in one transaction with listed_at (rows inserted RECORD_CHUNK at a
//  time through unnest: a few statements, not one per object). Returns the number recorded.
static int
s_record (downloader_t *self, const char *epoch, const s_listed_vec_t *v, int64_t skipped [3])
{
    int rc = db_begin (self->db);
    int recorded = 0;
    db_result_t *res = NULL;
    for (size_t first = 0; rc == 0 && first < v->n; first += RECORD_CHUNK) {
        char *arr [6] = { NULL };
        size_t len [6] = { 0 }, cap [6] = { 0 };
        for (int c = 0; c < 6; c++) {
            cap [c] = 64;
            arr [c] = malloc (cap [c]);
            assert (arr [c]);
            arr [c][0] = '{';
            len [c] = 1;
        }
        for (size_t i = first; i < v->n && i < first + RECORD_CHUNK; i++) {
            const s_listed_t *it = &v->items [i];
            char size [24];
            snprintf (size, sizeof size, "%lld", (long long) it->size);
            const char *vals [6] = { it->key, it->hotkey, it->zipcode, it->last_modified,
                                     size, it->etag ? it->etag : "" };
            for (int c = 0; c < 6; c++)
                s_arr_add (&arr [c], &len [c], &cap [c], vals [c]);
        }
        for (int c = 0; c < 6; c++) {
            if (len [c] + 2 > cap [c]) {
                cap [c] = len [c] + 2;
                arr [c] = realloc (arr [c], cap [c]);
                assert (arr [c]);
            }
            arr [c][len [c]++] = '}';
            arr [c][len [c]] = 0;
        }
        rc = db_exec (self->db,
            "INSERT INTO validator_submissions (epoch_id, s3_key, miner_hotkey, zipcode, "
            "last_modified, last_modified_raw, size_bytes, etag) "
            "SELECT $1, k, h, z, lm::timestamptz, lm, sz, nullif (e, '') FROM unnest "
            "($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) "
            "AS u (k, h, z, lm, sz, e) ON CONFLICT (epoch_id, s3_key) DO NOTHING",
            DB_P (epoch, arr [0], arr [1], arr [2], arr [3], arr [4], arr [5]), &res);
        if (rc == 0)
            recorded += (int) db_result_affected (res);
        db_result_destroy (&res);
        for (int c = 0; c < 6; c++)
            free (arr [c]);
    }
    static const char *const marks [3] = {
        "UPDATE validator_submissions s SET state = 'skipped', updated_at = now(), "
        "reason = 'not_assigned: zipcode is not one of the epoch''s' "
        "WHERE s.epoch_id = $1 AND s.state = 'listed' AND NOT EXISTS (SELECT 1 FROM "
        "validator_epoch_zipcodes z WHERE z.epoch_id = s.epoch_id AND z.zipcode = s.zipcode)",

        "UPDATE validator_submissions s SET state = 'skipped', updated_at = now(), "
        "reason = 'late: LastModified after the submission deadline' "
        "FROM validator_epochs e WHERE e.epoch_id = s.epoch_id AND s.epoch_id = $1 "
        "AND s.state = 'listed' AND s.last_modified > e.submission_deadline",

        "WITH r AS (SELECT s3_key, row_number () OVER (PARTITION BY miner_hotkey, zipcode "
        "ORDER BY last_modified, s3_key COLLATE \"C\") AS n FROM validator_submissions "
        "WHERE epoch_id = $1 AND state = 'listed') "
        "UPDATE validator_submissions s SET state = 'skipped', updated_at = now(), "
        "reason = 'duplicate: the miner has an earlier object for this zipcode' "
        "FROM r WHERE s.epoch_id = $1 AND s.s3_key = r.s3_key AND r.n > 1"
    };
    for (int m = 0; rc == 0 && m < 3; m++) {
        rc = db_exec (self->db, marks [m], DB_P (epoch), &res);
        if (rc == 0)
            skipped [m] = db_result_affected (res);
        db_result_destroy (&res);
    }
    if (rc == 0)
        rc = db_exec (self->db,
            "UPDATE validator_epochs SET listed_at = now(), updated_at = now(), "
            "status = CASE WHEN status = 'open' THEN 'collecting' ELSE status END "
            "WHERE epoch_id = $1", DB_P (epoch), NULL);
    if (rc == 0)
        rc = db_commit (self->db);
    if (rc != 0) {
        log_warn ("submissions_record_failed", LS ("epoch", epoch),
                  LS ("error", db_error (self->db)));
        db_rollback (self->db);
        return RC_RETRY;
    }
    return recorded;
}

static void
s_listing_reset (s_listing_t *L)
{
    for (size_t i = 0; i < L->nhotkeys; i++)
        free (L->hotkeys [i]);
    free (L->hotkeys);
    s_vec_clear (&L->vec);
    memset (L, 0, sizeof *L);
}

//  Lists the epoch until done or until deadline (monotonic ms) has passed; *more says the
//  listing is not finished (call again). Same returns as downloader_list.
static int
s_list_run (downloader_t *self, const char *epoch, int64_t deadline, bool *more)
{
    s_listing_t *L = &self->listing;
    *more = false;
    if (!L->active || strcmp (L->epoch, epoch) != 0) {
        s_listing_reset (L);
        db_result_t *res = NULL;
        int rc = db_exec (self->db, "SELECT listed_at IS NOT NULL FROM validator_epochs "
                          "WHERE epoch_id = $1", DB_P (epoch), &res);
        if (rc != 0) {
            s_error (self, "db");
            return RC_RETRY;
        }
        bool known = db_result_rows (res) == 1;
        bool listed = known && strcmp (db_result_get (res, 0, 0), "t") == 0;
        db_result_destroy (&res);
        if (!known) {
            log_warn ("epoch_not_cached", LS ("epoch", epoch));
            return RC_RETRY;
        }
        if (listed)
            return 0;
        L->active = true;
        snprintf (L->epoch, sizeof L->epoch, "%s", epoch);
        snprintf (L->after, sizeof L->after, "data/hotkey=");
        L->budget = (size_t) self->cfg->downloader_objects_max;
        L->t0 = clock_mono_ms ();
    }
    int rc = 0;
    while (!L->discovered) {
        rc = s_discover_step (self, L);
        if (rc == 1) {
            L->discovered = true;
            rc = 0;
        }
        else
        if (rc != 0)
            break;
        else
        if (clock_mono_ms () >= deadline) {
            *more = true;
            return 0;
        }
    }
    while (rc == 0 && L->next < L->nhotkeys) {
        char prefix [256];
        const char *hotkey = L->hotkeys [L->next++];
        if (submission_prefix (hotkey, epoch, prefix, sizeof prefix) != 0)
            continue;
        s_objects_arg_t a = { .epoch = epoch, .hotkey = hotkey, .vec = &L->vec };
        rc = s_list_pages (self, prefix, NULL, &L->budget, s_on_objects, &a);
        if (rc == 0 && L->next < L->nhotkeys && clock_mono_ms () >= deadline) {
            *more = true;
            return 0;
        }
    }
    int64_t skipped [3] = { 0, 0, 0 };
    if (rc == 0)
        rc = s_record (self, epoch, &L->vec, skipped);
    if (rc >= 0) {
        metrics_add (self->m_listed, rc);
        metrics_inc (self->m_epochs);
        static const char *const names [3] = { "not_assigned", "late", "duplicate" };
        for (int m = 0; m < 3; m++)
            metrics_add (metrics_series (self->f_skipped, names [m]), (double) skipped [m]);
        log_info ("submissions_listed", LS ("epoch", epoch),
                  LI ("miners", (int64_t) L->nhotkeys), LI ("objects", (int64_t) L->vec.n),
                  LI ("recorded", rc), LI ("not_assigned", skipped [0]),
                  LI ("late", skipped [1]), LI ("duplicate", skipped [2]),
                  LI ("ms", clock_mono_ms () - L->t0));
        self->request_all_due = !self->demand;
    }
    else
        s_error (self, "list");
    //  done or failed: a failed listing starts over (nothing of it was recorded)
    s_listing_reset (L);
    return rc;
}

int
downloader_list (downloader_t *self, const char *epoch)
{
    bool more = false;
    return s_list_run (self, epoch, INT64_MAX, &more);
}

//  ---------------------------------------------------------------------------------------
//  Requests

int
downloader_request (downloader_t *self, int64_t id)
{
    char ids [24];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "UPDATE validator_submissions SET requested_at = coalesce (requested_at, now()), "
        "announced_at = NULL, updated_at = now() WHERE id = $1::bigint", DB_P (ids), &res);
    if (rc != 0) {
        s_error (self, "db");
        return RC_RETRY;
    }
    int n = (int) db_result_affected (res);
    db_result_destroy (&res);
    return n == 1 ? 0 : RC_ERR;
}

int
downloader_request_all (downloader_t *self, const char *epoch)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "UPDATE validator_submissions SET requested_at = now(), updated_at = now() "
        "WHERE epoch_id = $1 AND state = 'listed' AND requested_at IS NULL",
        DB_P (epoch), &res);
    if (rc != 0) {
        s_error (self, "db");
        return RC_RETRY;
    }
    int n = (int) db_result_affected (res);
    db_result_destroy (&res);
    return n;
}

int
downloader_handle (downloader_t *self, const uint8_t *data, size_t size)
{
    proto_submission_ready_t req;
    proto_err_t err;
    if (proto_submission_ready_decode (data, size, &req, &err) != 0) {
        metrics_inc (self->m_requests_bad);
        log_warn ("download_request_malformed", LS ("reason", err.reason));
        return 0;
    }
    metrics_inc (self->m_requests);
    int rc = downloader_request (self, (int64_t) req.db_id);
    if (rc == RC_ERR) {
        metrics_inc (self->m_requests_bad);
        log_warn ("download_request_unknown", LI ("db_id", (int64_t) req.db_id));
        rc = 0;
    }
    proto_submission_ready_free (&req);
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Fetch, check, store

typedef struct {
    int64_t id;
    char ids [24];
    char epoch [SUBMISSION_EPOCH_LEN + 1];
    char key [S3_KEY_MAX + 1];
    char hotkey [SUBMISSION_HOTKEY_MAX + 1];
    char zipcode [6];
    char last_modified [LM_MAX + 1];
    int64_t size;
    int64_t count;
    char state [16];
    char reason [REASON_MAX + 1];
} s_row_t;

#define S_ROW_COLS "id, epoch_id, s3_key, miner_hotkey, zipcode, last_modified_raw, " \
                   "size_bytes, coalesce (listing_count, 0), state, coalesce (reason, '')"

static int
s_row_read (const db_result_t *res, int r, s_row_t *row)
{
    memset (row, 0, sizeof *row);
    if (db_result_int64 (res, r, 0, &row->id) != 0
    ||  db_result_int64 (res, r, 6, &row->size) != 0
    ||  db_result_int64 (res, r, 7, &row->count) != 0)
        return -1;
    snprintf (row->ids, sizeof row->ids, "%lld", (long long) row->id);
    snprintf (row->epoch, sizeof row->epoch, "%s", db_result_get (res, r, 1));
    snprintf (row->key, sizeof row->key, "%s", db_result_get (res, r, 2));
    snprintf (row->hotkey, sizeof row->hotkey, "%s", db_result_get (res, r, 3));
    snprintf (row->zipcode, sizeof row->zipcode, "%s", db_result_get (res, r, 4));
    snprintf (row->last_modified, sizeof row->last_modified, "%s", db_result_get (res, r, 5));
    snprintf (row->state, sizeof row->state, "%s", db_result_get (res, r, 8));
    snprintf (row->reason, sizeof row->reason, "%s", db_result_get (res, r, 9));
    return 0;
}

static int
s_row_load (db_t *db, int64_t id, s_row_t *row)
{
    char ids [24];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    db_result_t *res = NULL;
    int rc = db_exec (db, "SELECT " S_ROW_COLS " FROM validator_submissions "
                      "WHERE id = $1::bigint", DB_P (ids), &res);
    if (rc != 0)
        return RC_RETRY;
    rc = db_result_rows (res) == 1 ? s_row_read (res, 0, row) : RC_ERR;
    db_result_destroy (&res);
    return rc == 0 ? 0 : RC_ERR;
}

//  Stores the rejection. Reason text is ASCII: other bytes (from the miner) become '?'.
static int
s_reject (db_t *db, s_row_t *row, submission_reason_t reason, const char *detail)
{
    snprintf (row->reason, sizeof row->reason, "%s: %s", submission_reason_name (reason),
              detail);
    for (char *p = row->reason; *p; p++)
        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
            *p = '?';
    int rc = db_exec (db,
        "UPDATE validator_submissions SET state = 'rejected', reason = $2, "
        "updated_at = now() WHERE id = $1::bigint AND state = 'listed'",
        DB_P (row->ids, row->reason), NULL);
    if (rc != 0)
        return RC_RETRY;
    snprintf (row->state, sizeof row->state, "rejected");
    log_warn ("submission_rejected", LS ("epoch", row->epoch), LS ("zipcode", row->zipcode),
              LS ("key", row->key), LS ("reason", submission_reason_name (reason)),
              LS ("detail", row->reason));
    return 0;
}

//  The listings, in file order, and the state change, in one transaction. Returns 0,
//  RC_RETRY, or RC_ERR (the database refused the content: the caller rejects).
static int
s_store (db_t *db, s_row_t *row, const submission_t *sub, const char *sha)
{
    char count [24];
    snprintf (count, sizeof count, "%zu", sub->count);
    int rc = db_begin (db);
    if (rc == 0)
        rc = db_exec (db, "DELETE FROM validator_submission_listings "
                      "WHERE submission_id = $1::bigint", DB_P (row->ids), NULL);
    if (rc == 0)
        rc = db_copy_begin (db, "COPY validator_submission_listings "
                            "(submission_id, idx, doc) FROM STDIN", false);
    bool copying = rc == 0;
    for (size_t i = 0; rc == 0 && i < sub->count; i++) {
        char idx [24];
        snprintf (idx, sizeof idx, "%zu", i);
        char *doc = jsonx_dump (json_array_get (sub->listings, i), false);
        assert (doc);
        const char *vals [3] = { row->ids, idx, doc };
        rc = db_copy_row (db, 3, vals, NULL);
        free (doc);
        if (rc == RC_MALFORMED)
            rc = RC_ERR;
    }
    if (copying) {
        if (rc == 0)
            rc = db_copy_end (db, NULL);
        else
            db_copy_abort (db, "listing refused");
    }
    db_result_t *res = NULL;
    if (rc == 0)
        rc = db_exec (db,
            "UPDATE validator_submissions SET state = 'downloaded', listing_count = $2::int, "
            "sha256 = $3, submission_timestamp = nullif ($4, ''), downloaded_at = now(), "
            "reason = NULL, updated_at = now() WHERE id = $1::bigint AND state = 'listed'",
            DB_P (row->ids, count, sha, sub->submission_timestamp), &res);
    if (rc == 0 && db_result_affected (res) != 1)
        rc = RC_ERR;
    db_result_destroy (&res);
    if (rc == 0)
        rc = db_commit (db);
    if (rc != 0) {
        log_warn ("submission_store_failed", LS ("key", row->key), LS ("error", db_error (db)));
        db_rollback (db);
        if (rc != RC_RETRY)
            rc = RC_ERR;
    }
    return rc;
}

//  Sends the row's answer: submission_ready to tier 1 (downloaded) or a tier-1 fail to
//  consensus (rejected, skipped). Returns 0 (sent and marked, or nothing to send to),
//  RC_RETRY (no peer or queue full: the sweep sends later).
static int
s_announce (downloader_t *self, const s_row_t *row)
{
    bool stored = strcmp (row->state, "downloaded") == 0
               || strcmp (row->state, "validated") == 0;
    zsock_t *sock = stored ? self->tier1 : self->consensus;
    if (!sock)
        return 0;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    int rc;
    if (stored) {
        proto_submission_ready_t m;
        memset (&m, 0, sizeof m);
        snprintf (m.epoch, sizeof m.epoch, "%s", row->epoch);
        snprintf (m.hotkey, sizeof m.hotkey, "%s", row->hotkey);
        snprintf (m.zipcode, sizeof m.zipcode, "%s", row->zipcode);
        snprintf (m.s3_key, sizeof m.s3_key, "%s", row->key);
        snprintf (m.last_modified, sizeof m.last_modified, "%s", row->last_modified);
        m.size = (uint64_t) row->size;
        m.count = (uint32_t) row->count;
        m.db_id = (uint64_t) row->id;
        rc = proto_submission_ready_encode (&m, &sbuf, &err);
    }
    else {
        proto_tier_result_t m;
        memset (&m, 0, sizeof m);
        snprintf (m.epoch, sizeof m.epoch, "%s", row->epoch);
        snprintf (m.hotkey, sizeof m.hotkey, "%s", row->hotkey);
        snprintf (m.zipcode, sizeof m.zipcode, "%s", row->zipcode);
        m.tier = 1;
        m.verdict = PROTO_VERDICT_FAIL;
        snprintf (m.reason, sizeof m.reason, "%s", row->reason);
        m.submission_id = (uint64_t) row->id;
        rc = proto_tier_result_encode (&m, &sbuf, &err);
    }
    if (rc != 0)
        //  our own rows always encode; one that does not is logged and marked announced,
        //  so it is not tried again forever
        log_error ("announce_encode_failed", LS ("key", row->key), LS ("reason", err.reason));
    else {
        rc = zmqx_send_sbuf (sock, &sbuf, ZMQX_FRAME_MAX_DEFAULT, ZMQ_DONTWAIT);
        if (rc != 0) {
            msgpack_sbuffer_destroy (&sbuf);
            return RC_RETRY;
        }
    }
    msgpack_sbuffer_destroy (&sbuf);
    rc = db_exec (self->db, "UPDATE validator_submissions SET announced_at = now() "
                  "WHERE id = $1::bigint", DB_P (row->ids), NULL);
    if (rc != 0) {
        s_error (self, "db");
        return RC_RETRY;
    }
    metrics_inc (metrics_series (self->f_announced, stored ? "tier1" : "consensus"));
    return 0;
}

//  What one fetch needs: a database connection and an S3 client of its own (the caller's,
//  or a fetch thread's), the limits, and the flag that cuts a body short at shutdown.
typedef struct {
    db_t *db;
    s3_t *s3;
    const char *bucket;
    const submission_limits_t *limits;
    atomic_bool *stop;
} s_fetch_ctx_t;

//  Transient failure stages, as counted in zipmine_downloader_errors_total{stage}.
typedef enum { S_FAIL_NONE = 0, S_FAIL_GET, S_FAIL_DB } s_fail_t;

//  What a fetch did, for the loop thread to count (the registry is not thread-safe).
typedef struct {
    submission_reason_t reason;     //  SUBMISSION_OK, or the rejection
    bool rejected;                  //  a rejection was stored
    bool stored;                    //  the listings were stored
    int64_t bytes;                  //  body bytes read
    s_fail_t fail;
} s_outcome_t;

//  The body as it arrives; s3_get keeps it under the cap. Aborts when stop is raised.
typedef struct {
    char *data;
    size_t size, cap;
    atomic_bool *stop;
} s_body_t;

static int
s_body_sink (void *arg, const void *data, size_t size)
{
    s_body_t *b = arg;
    if (atomic_load (b->stop))
        return -1;
    if (b->size + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->size + size + 1)
            cap *= 2;
        b->data = realloc (b->data, cap);
        if (!b->data)
            abort ();
        b->cap = cap;
    }
    memcpy (b->data + b->size, data, size);
    b->size += size;
    b->data [b->size] = 0;
    return 0;
}

static int
s_rejected (const s_fetch_ctx_t *ctx, s_row_t *row, s_outcome_t *out,
            submission_reason_t reason, const char *detail)
{
    out->reason = reason;
    int rc = s_reject (ctx->db, row, reason, detail);
    if (rc == 0)
        out->rejected = true;
    else
        out->fail = S_FAIL_DB;
    return rc;
}

//  Steps 4 and 5's store for one submission, on whichever thread owns ctx. Returns 0
//  (stored, rejected, or settled before), RC_RETRY or RC_ERR (no such id).
static int
s_settle (const s_fetch_ctx_t *ctx, int64_t id, s_outcome_t *out)
{
    memset (out, 0, sizeof *out);
    out->reason = SUBMISSION_OK;
    const submission_limits_t *limits = ctx->limits;
    s_row_t row;
    int rc = s_row_load (ctx->db, id, &row);
    if (rc == RC_RETRY)
        out->fail = S_FAIL_DB;
    if (rc != 0)
        return rc;
    if (strcmp (row.state, "listed") != 0)
        return 0;               //  settled already

    //  1. the listed size, before any byte is asked for
    if (row.size > (int64_t) limits->max_bytes) {
        char d [128];
        snprintf (d, sizeof d, "listed size %lld bytes, cap %zu (not downloaded)",
                  (long long) row.size, limits->max_bytes);
        return s_rejected (ctx, &row, out, SUBMISSION_TOO_LARGE, d);
    }
    submission_key_t key;
    if (submission_key_parse (row.key, &key) != 0)
        return s_rejected (ctx, &row, out, SUBMISSION_BAD_KEY, "not a submission key");

    //  2. the GET, capped while reading (s3_get: Content-Length first, then the bytes)
    s_body_t body = { .stop = ctx->stop };
    rc = s3_get (ctx->s3, ctx->bucket, row.key, (int64_t) limits->max_bytes, s_body_sink,
                 &body);
    if (rc == RC_MALFORMED) {
        free (body.data);
        char d [160];
        snprintf (d, sizeof d, "over the cap of %zu bytes while reading", limits->max_bytes);
        return s_rejected (ctx, &row, out, SUBMISSION_TOO_LARGE, d);
    }
    if (rc == RC_ERR && s3_status (ctx->s3) == 404) {
        free (body.data);
        return s_rejected (ctx, &row, out, SUBMISSION_GONE, "the listed object no longer exists");
    }
    if (rc != 0) {
        free (body.data);
        if (atomic_load (ctx->stop)) {
            log_info ("submission_get_stopped", LS ("key", row.key));
            return RC_RETRY;
        }
        log_warn ("submission_get_failed", LS ("key", row.key), LS ("error", s3_error (ctx->s3)));
        out->fail = S_FAIL_GET;
        return RC_RETRY;
    }
    out->bytes = (int64_t) body.size;
    if ((int64_t) body.size != row.size) {
        char d [128];
        snprintf (d, sizeof d, "read %zu bytes, listed %lld", body.size, (long long) row.size);
        free (body.data);
        return s_rejected (ctx, &row, out, SUBMISSION_CHANGED, d);
    }

    //  3. the body
    const char *data = body.data ? body.data : "";
    submission_t sub;
    if (submission_parse (data, body.size, &key, limits, &sub) != 0) {
        free (body.data);
        return s_rejected (ctx, &row, out, sub.reason, sub.detail);
    }
    char sha [65];
    canon_sha256_hex (data, body.size, sha);
    free (body.data);

    //  4. store (the loop thread announces)
    rc = s_store (ctx->db, &row, &sub, sha);
    if (rc == RC_ERR) {
        submission_free (&sub);
        return s_rejected (ctx, &row, out, SUBMISSION_BAD_SHAPE, "the database refused a listing");
    }
    if (rc != 0) {
        submission_free (&sub);
        out->fail = S_FAIL_DB;
        return RC_RETRY;
    }
    out->stored = true;
    log_info ("submission_stored", LS ("epoch", row.epoch), LS ("zipcode", row.zipcode),
              LS ("key", row.key), LI ("listings", (int64_t) sub.count), LI ("bytes", row.size),
              LS ("last_modified", row.last_modified));
    submission_free (&sub);
    return 0;
}

//  Counts a fetch's outcome (loop thread).
static void
s_count (downloader_t *self, const s_outcome_t *out)
{
    static const char *const stages [] = { NULL, "get", "db" };
    if (out->bytes > 0)
        metrics_add (self->m_bytes, (double) out->bytes);
    if (out->rejected)
        metrics_inc (metrics_series (self->f_rejected, submission_reason_name (out->reason)));
    if (out->stored)
        metrics_inc (self->m_downloaded);
    if (out->fail != S_FAIL_NONE)
        s_error (self, stages [out->fail]);
}

int
downloader_fetch (downloader_t *self, int64_t id, submission_reason_t *reason_p)
{
    s_fetch_ctx_t ctx = { .db = self->db, .s3 = self->s3, .bucket = self->cfg->s3_bucket,
                          .limits = &self->limits, .stop = &self->stop };
    s_outcome_t out;
    int rc = s_settle (&ctx, id, &out);
    s_count (self, &out);
    if (reason_p)
        *reason_p = out.reason;
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Fetch threads

//  A fetch thread: "FETCH" <id> on the pipe, one outcome on the results PUSH per job;
//  "$TERM" (zactor_destroy) ends it.
static void
s_fetcher_actor (zsock_t *pipe, void *arg)
{
    s_fetcher_t *f = arg;
    downloader_t *owner = f->owner;
    s_fetch_ctx_t ctx = { .db = f->db, .s3 = f->s3, .bucket = owner->cfg->s3_bucket,
                          .limits = &owner->limits, .stop = &owner->stop };
    char ep [80];
    snprintf (ep, sizeof ep, ">%s", owner->results_ep);
    zsock_t *out = zsock_new_push (ep);
    zsock_signal (pipe, out ? 0 : 1);
    while (out) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        char *cmd = zmsg_popstr (msg);
        char *ids = zmsg_popstr (msg);
        bool term = !cmd || strcmp (cmd, "$TERM") == 0;
        if (!term && strcmp (cmd, "FETCH") == 0 && ids) {
            int64_t id = strtoll (ids, NULL, 10);
            s_outcome_t o;
            int rc = s_settle (&ctx, id, &o);
            int flags = (o.rejected ? 1 : 0) | (o.stored ? 2 : 0);
            zsock_send (out, "i8iii8i", f->index, (uint64_t) id, rc, (int) o.reason, flags,
                        (uint64_t) o.bytes, (int) o.fail);
        }
        free (cmd);
        free (ids);
        zmsg_destroy (&msg);
        if (term)
            break;
    }
    zsock_destroy (&out);
}

int
downloader_fetchers_start (downloader_t *self, size_t n)
{
    assert (n >= 1 && n <= 16 && self->nfetchers == 0);
    snprintf (self->results_ep, sizeof self->results_ep, "inproc://zm-downloader-%p",
              (void *) self);
    char ep [80];
    snprintf (ep, sizeof ep, "@%s", self->results_ep);
    self->results = zsock_new_pull (ep);
    if (!self->results)
        return -1;
    self->fetchers = calloc (n, sizeof *self->fetchers);
    if (!self->fetchers)
        abort ();
    s3_config_t s3cfg = s_s3_config (self->cfg);
    for (size_t i = 0; i < n; i++) {
        s_fetcher_t *f = &self->fetchers [i];
        char err [256];
        f->owner = self;
        f->index = (int) i;
        f->db = db_new (self->cfg->db_dsn, "zipmine-downloader-fetch",
                        self->cfg->db_connect_timeout_s, self->cfg->db_statement_timeout_ms,
                        err, sizeof err);
        f->s3 = s3_new (&s3cfg);
        if (!f->db || !f->s3) {
            log_error ("fetcher_start_failed", LI ("fetcher", (int64_t) i),
                       LS ("reason", f->db ? "s3 client" : err));
            db_destroy (&f->db);
            s3_destroy (&f->s3);
            return -1;
        }
        self->nfetchers = i + 1;
        f->actor = zactor_new (s_fetcher_actor, f);
        if (!f->actor)
            return -1;
    }
    log_info ("fetchers_started", LI ("parallel", (int64_t) n),
              LI ("object_max", (int64_t) self->limits.max_bytes));
    return 0;
}

zsock_t *
downloader_results (downloader_t *self)
{
    return self->results;
}

//  Hands id to an idle fetcher unless it is in flight already or every fetcher is busy.
static void
s_dispatch (downloader_t *self, int64_t id)
{
    s_fetcher_t *idle = NULL;
    for (size_t i = 0; i < self->nfetchers; i++) {
        if (self->fetchers [i].busy == id)
            return;
        if (!idle && self->fetchers [i].busy == 0 && self->fetchers [i].actor)
            idle = &self->fetchers [i];
    }
    if (!idle)
        return;
    char ids [24];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    if (zstr_sendx (idle->actor, "FETCH", ids, NULL) == 0)
        idle->busy = id;
}

int
downloader_on_result (downloader_t *self)
{
    int index = -1, rc = 0, reason = 0, flags = 0, fail = 0;
    uint64_t id = 0, bytes = 0;
    if (zsock_recv (self->results, "i8iii8i", &index, &id, &rc, &reason, &flags, &bytes,
                    &fail) != 0)
        return -1;
    //  our own threads wrote this; still, nothing out of range is used
    if (index < 0 || (size_t) index >= self->nfetchers)
        return 0;
    self->fetchers [index].busy = 0;
    s_outcome_t o = { .reason = (submission_reason_t) reason, .rejected = (flags & 1) != 0,
                      .stored = (flags & 2) != 0, .bytes = (int64_t) bytes,
                      .fail = fail >= S_FAIL_NONE && fail <= S_FAIL_DB ? (s_fail_t) fail
                                                                        : S_FAIL_NONE };
    s_count (self, &o);
    if (rc == RC_RETRY) {
        if (!self->stopping)
            self->resume_at = clock_mono_ms () + backoff_next (&self->backoff);
        return 0;
    }
    backoff_reset (&self->backoff);
    if (!self->stopping && clock_mono_ms () >= self->resume_at
    &&  downloader_pump (self, PUMP_BUDGET_MS) == RC_RETRY)
        self->resume_at = clock_mono_ms () + backoff_next (&self->backoff);
    return 0;
}

void
downloader_stop (downloader_t *self)
{
    self->stopping = true;
    atomic_store (&self->stop, true);
}

size_t
downloader_busy (downloader_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nfetchers; i++)
        n += self->fetchers [i].busy != 0;
    return n;
}

//  ---------------------------------------------------------------------------------------
//  Pump

int
downloader_pump (downloader_t *self, int64_t budget_ms)
{
    int64_t deadline = clock_mono_ms () + budget_ms;
    int done = 0;
    //  a destination that refuses (no peer, queue full) is left alone for this call, so
    //  its rows do not hold up the others
    bool to_tier1 = self->tier1 != NULL, to_consensus = self->consensus != NULL;
    bool threaded = self->nfetchers > 0;
    //  rows in flight come first in validation order: read past them
    int limit = PUMP_BATCH + (int) self->nfetchers;
    char limits [16];
    snprintf (limits, sizeof limits, "%d", limit);
    for (;;) {
        db_result_t *res = NULL;
        int rc = db_exec (self->db,
            "SELECT " S_ROW_COLS " FROM validator_submissions "
            "WHERE requested_at IS NOT NULL AND announced_at IS NULL "
            "AND (state = 'listed' OR (state IN ('downloaded', 'validated') AND $1::boolean) "
            "     OR (state IN ('rejected', 'skipped') AND $2::boolean)) "
            "ORDER BY epoch_id, zipcode, last_modified, miner_hotkey COLLATE \"C\" LIMIT "
            "$3::int", DB_P (to_tier1 ? "true" : "false", to_consensus ? "true" : "false",
                             limits), &res);
        if (rc != 0) {
            s_error (self, "db");
            return RC_RETRY;
        }
        int rows = db_result_rows (res), announced = 0;
        bool requery = false;
        //  threaded: the zipcode whose earlier submission is still being fetched; its later
        //  ones are not announced before it, so each zipcode's announcements keep
        //  validation order whatever order the fetches finish in
        char held [SUBMISSION_EPOCH_LEN + 8] = "";
        for (int r = 0; r < rows && !requery; r++) {
            s_row_t row;
            if (s_row_read (res, r, &row) != 0)
                continue;
            char zipkey [sizeof held];
            snprintf (zipkey, sizeof zipkey, "%s/%s", row.epoch, row.zipcode);
            if (strcmp (row.state, "listed") == 0) {
                if (threaded) {
                    if (!self->stopping)
                        s_dispatch (self, row.id);
                    snprintf (held, sizeof held, "%s", zipkey);
                    continue;
                }
                rc = downloader_fetch (self, row.id, NULL);
                if (rc == 0) {
                    rc = s_row_load (self->db, row.id, &row);
                    if (rc == RC_RETRY)
                        s_error (self, "db");
                }
                if (rc != 0) {
                    db_result_destroy (&res);
                    return rc == RC_ERR ? done : RC_RETRY;
                }
                done++;
            }
            bool stored = strcmp (row.state, "downloaded") == 0
                       || strcmp (row.state, "validated") == 0;
            if (threaded && strcmp (held, zipkey) == 0)
                continue;
            if ((stored && to_tier1) || (!stored && to_consensus)) {
                if (s_announce (self, &row) == 0) {
                    done++;
                    announced++;
                }
                else {
                    if (stored)
                        to_tier1 = false;
                    else
                        to_consensus = false;
                    requery = true;
                }
            }
            if (clock_mono_ms () >= deadline) {
                db_result_destroy (&res);
                return done;
            }
        }
        db_result_destroy (&res);
        if (rows < limit && !requery)
            return done;
        //  threaded: a batch that only handed out fetches is all there is to do now
        if (threaded && !requery && announced == 0)
            return done;
    }
}

//  ---------------------------------------------------------------------------------------
//  Tick

//  Lists for at most LIST_BUDGET_MS; a listing in progress is continued by the next tick.
static void
s_list_some (downloader_t *self, const char *epoch)
{
    bool more = false;
    if (s_list_run (self, epoch, clock_mono_ms () + LIST_BUDGET_MS, &more) < 0)
        self->resume_at = clock_mono_ms () + backoff_next (&self->backoff);
}

static void
s_check_epochs (downloader_t *self)
{
    const zm_config_t *cfg = self->cfg;
    char epoch [EPOCH_ID_LEN + 1];
    int64_t now_s = (int64_t) time (NULL), grace_s = cfg->downloader_grace_ms / 1000;
    if (*cfg->downloader_epoch)
        snprintf (epoch, sizeof epoch, "%s", cfg->downloader_epoch);
    else {
        epoch_slot_t slot;
        epoch_slot_at (now_s - grace_s, cfg->coord_epoch_s, &slot);
        epoch_id_format (slot.start - cfg->coord_epoch_s, epoch);
    }
    //  an epoch the coordinator cannot give now is asked again at the next check; the
    //  pump goes on meanwhile
    if (downloader_epoch_fetch (self, epoch) == RC_RETRY)
        log_debug ("epoch_not_available", LS ("epoch", epoch));
    //  every cached epoch whose deadline and grace have passed and that is not listed yet
    char grace [24];
    snprintf (grace, sizeof grace, "%lld", (long long) cfg->downloader_grace_ms);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "SELECT epoch_id FROM validator_epochs WHERE listed_at IS NULL "
        "AND submission_deadline + make_interval (secs => $1::bigint / 1000.0) <= now() "
        "ORDER BY epoch_id LIMIT 4", DB_P (grace), &res);
    if (rc != 0) {
        s_error (self, "db");
        return;
    }
    if (db_result_rows (res) > 0)
        s_list_some (self, db_result_get (res, 0, 0));
    db_result_destroy (&res);
}

void
downloader_tick (downloader_t *self)
{
    int64_t now = clock_mono_ms ();
    if (now < self->resume_at)
        return;
    if (self->listing.active) {
        //  finish the listing in progress first, a slice per tick
        s_list_some (self, self->listing.epoch);
        return;
    }
    if (now >= self->next_epoch_check) {
        self->next_epoch_check = now + EPOCH_CHECK_MS;
        s_check_epochs (self);
        if (clock_mono_ms () < self->resume_at)
            return;
    }
    if (self->request_all_due) {
        db_result_t *res = NULL;
        int rc = db_exec (self->db,
            "UPDATE validator_submissions SET requested_at = now(), updated_at = now() "
            "WHERE state = 'listed' AND requested_at IS NULL", 0, NULL, &res);
        db_result_destroy (&res);
        if (rc != 0) {
            s_error (self, "db");
            self->resume_at = clock_mono_ms () + backoff_next (&self->backoff);
            return;
        }
        self->request_all_due = false;
    }
    int rc = downloader_pump (self, PUMP_BUDGET_MS);
    if (rc == RC_RETRY)
        self->resume_at = clock_mono_ms () + backoff_next (&self->backoff);
    else
    if (self->nfetchers == 0)
        //  threaded, a fetch's own outcome resets the backoff (downloader_on_result)
        backoff_reset (&self->backoff);
}
