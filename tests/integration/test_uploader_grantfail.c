/*  The uploader's grant failures (s3.mode=grant), against a coordinator played by the test
    (common/httpd on a free port) whose answer to POST /get-folder-access the test picks:
      - the request: {hotkey, coldkey, timestamp, signature}, the signature the hotkey's over
        s3:data:access:{coldkey}:{hotkey}:{timestamp};
      - a 200 whose grant does not parse (a bad epochId; a field named "key"): RC_RETRY, the
        coordinator reported down with "malformed upload grant: <the bad field>", the intent
        kept, the task still stored;
      - 503: RC_RETRY, coordinator down ("POST /get-folder-access: HTTP 503");
      - 429 (our own pace): RC_RETRY, but no outage;
      - 409 (the epoch takes no more uploads): RC_ERR, ledger row and task failed with the
        reason "submission deadline passed (no grant)", coordinator not down;
      - zipmine_uploader_grants_total counts malformed 2, retry 2 (503, 429), deadline 1.  */
#include "common/httpd.h"
#include "common/rc.h"
#include "common/sr25519.h"
#include "common/wallet.h"
#include "tests/integration/test_uploader_lib.h"
#include "workers/uploader/uploader.h"

#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <time.h>

static const char *EPOCH = "2026-11-25T12-00-00";

typedef struct {
    atomic_int mode;            //  which answer, see s_answer
    atomic_int requests;
    atomic_bool body_ok;        //  every request so far carried a valid signed body
    const char *hotkey;
    const char *coldkey;
    const uint8_t *public_key;
} fake_t;

//  True when body is {hotkey, coldkey, timestamp, signature} signed as the uploader must.
static bool
s_body_ok (fake_t *fake, const char *body, size_t len)
{
    json_t *doc = json_loadb (body, len, 0, NULL);
    const char *hotkey = json_string_value (json_object_get (doc, "hotkey"));
    const char *coldkey = json_string_value (json_object_get (doc, "coldkey"));
    const char *hex = json_string_value (json_object_get (doc, "signature"));
    json_int_t ts = json_integer_value (json_object_get (doc, "timestamp"));
    bool ok = hotkey && coldkey && hex && strcmp (hotkey, fake->hotkey) == 0
           && strcmp (coldkey, fake->coldkey) == 0 && llabs ((long long) (ts - time (NULL))) < 60;
    uint8_t sig [SR25519_SIGNATURE_SIZE];
    size_t siglen = 0;
    ok = ok && sodium_hex2bin (sig, sizeof sig, hex, strlen (hex), NULL, &siglen, NULL) == 0
            && siglen == sizeof sig;
    if (ok) {
        char commitment [256];
        snprintf (commitment, sizeof commitment, "s3:data:access:%s:%s:%lld", coldkey, hotkey,
                  (long long) ts);
        ok = sr25519_verify (fake->public_key, (const uint8_t *) commitment,
                             strlen (commitment), sig) == SR25519_OK;
    }
    json_decref (doc);
    return ok;
}

static void
s_answer (httpd_req_t *req, void *arg)
{
    fake_t *fake = arg;
    size_t len = 0;
    const char *body = httpd_req_body (req, &len);
    atomic_fetch_add (&fake->requests, 1);
    if (!s_body_ok (fake, body, len))
        atomic_store (&fake->body_ok, false);
    int mode = atomic_load (&fake->mode);
    if (mode == 0 || mode == 1) {
        //  a well-formed grant but for one field
        json_t *grant = json_pack ("{s:s, s:{s:s}, s:s, s:s, s:s}",
                                   "uploadUrl", "http://127.0.0.1:1/zipmine",
                                   "fields", mode == 1 ? "key" : "policy", "abc",
                                   "prefix", "data/", "epochId",
                                   mode == 0 ? "not-an-epoch" : EPOCH,
                                   "expiresAt", "2099-01-01T00:00:00Z");
        httpd_respond_json (req, 200, grant);
        json_decref (grant);
    }
    else
    if (mode == 2)
        httpd_respond_error (req, 503, "database unavailable");
    else
    if (mode == 3)
        httpd_respond_error (req, 429, "slow down");
    else
        httpd_respond_error (req, 409, "submission window closed");
}

static void
s_expect_down (uploader_t *up, const char *prefix)
{
    char reason [UPLOADER_OUTAGE_REASON_MAX + 1];
    CHECK (uploader_outage (up, UPLOADER_DEP_COORDINATOR, reason, sizeof reason));
    if (strncmp (reason, prefix, strlen (prefix)) != 0)
        fprintf (stderr, "outage reason: %s\n", reason);
    CHECK (strncmp (reason, prefix, strlen (prefix)) == 0);
    printf ("coordinator down: %s\n", reason);
}

int
main (void)
{
    tdb_t t;
    tdb_create (&t, "upgrantfail");
    db_t *check = tdb_connect (&t, "test-check");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494" };
    tdb_seed (check, EPOCH, zips, 1, 3600);
    t_store (check, EPOCH, "77494", 100, 3);

    wallet_t *miner = wallet_new_dev ("grantfail-miner");
    wallet_t *cold = wallet_new_dev ("grantfail-cold");
    fake_t fake = { .hotkey = wallet_ss58 (miner), .coldkey = wallet_ss58 (cold),
                    .public_key = wallet_public_key (miner) };
    atomic_init (&fake.mode, 0);
    atomic_init (&fake.requests, 0);
    atomic_init (&fake.body_ok, true);
    httpd_opts_t opts = httpd_opts_default ();
    httpd_t *httpd = httpd_new (&opts);
    CHECK (httpd);
    CHECK_EQ_INT (httpd_route (httpd, "POST", "/get-folder-access", "grant", s_answer, &fake), 0);
    CHECK_EQ_INT (httpd_start (httpd), 0);
    char base [64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", httpd_port (httpd));

    unsetenv ("ZM_S3_ENDPOINT");
    setenv ("ZM_S3_MODE", "grant", 1);
    setenv ("ZM_COORDINATOR_URL", base, 1);
    setenv ("ZM_HTTP_TIMEOUT_MS", "3000", 1);
    zm_config_t cfg;
    t_config (&cfg);
    metrics_t *metrics = metrics_new ();
    db_t *db = tdb_connect (&t, "zipmine-uploader");
    uploader_t *up = uploader_new (&cfg, &db, miner, wallet_ss58 (cold), metrics);
    CHECK (up);

    //  malformed: a bad epoch id, then a field the uploader must send itself
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), RC_RETRY);
    s_expect_down (up, "malformed upload grant: field 'epochId'");
    atomic_store (&fake.mode, 1);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), RC_RETRY);
    s_expect_down (up, "malformed upload grant: fields.key");
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE state = 'uploading'",
                           0, NULL), 1);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE status = 'stored'",
                           0, NULL), 1);

    //  503: down; 429: an answer, not an outage
    atomic_store (&fake.mode, 2);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), RC_RETRY);
    s_expect_down (up, "POST /get-folder-access: HTTP 503");
    atomic_store (&fake.mode, 3);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), RC_RETRY);
    char reason [UPLOADER_OUTAGE_REASON_MAX + 1];
    CHECK (!uploader_outage (up, UPLOADER_DEP_COORDINATOR, reason, sizeof reason));
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE status = 'stored'",
                           0, NULL), 1);

    //  409: the zipcode can no longer be submitted
    atomic_store (&fake.mode, 4);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), RC_ERR);
    CHECK (!uploader_outage (up, UPLOADER_DEP_COORDINATOR, reason, sizeof reason));
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE state = 'failed' "
                                  "AND reason = 'submission deadline passed (no grant)'",
                           0, NULL), 1);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE status = 'failed'",
                           0, NULL), 1);
    CHECK_EQ_INT (atomic_load (&fake.requests), 5);
    CHECK (atomic_load (&fake.body_ok));

    //  the grant counters
    uploader_metrics_flush (up);
    char *text = metrics_render (metrics, NULL);
    CHECK (text);
    CHECK (strstr (text, "zipmine_uploader_grants_total{result=\"malformed\"} 2"));
    CHECK (strstr (text, "zipmine_uploader_grants_total{result=\"retry\"} 2"));
    CHECK (strstr (text, "zipmine_uploader_grants_total{result=\"deadline\"} 1"));
    free (text);
    printf ("5 grant answers, 5 signed requests, each failure handled as specified\n");

    uploader_destroy (&up);
    metrics_destroy (&metrics);
    zm_config_free (&cfg);
    httpd_destroy (&httpd);
    wallet_destroy (&miner);
    wallet_destroy (&cold);
    db_destroy (&check);
    tdb_drop (&t);
    TEST_DONE ();
}
