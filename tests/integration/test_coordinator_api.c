/*  coord against a real PostgreSQL, in process, with a fixed clock: every endpoint, every
    authentication failure, epochs on the grid with cooldown, replay and rate limits.
    (test_coordinator_http.sh covers the same over real HTTP with the worker binary.)        */
#include "workers/coordinator/coord.h"
#include "common/config.h"
#include "common/db.h"
#include "common/epoch.h"
#include "common/wallet.h"
#include "tests/testutil.h"

#include <jansson.h>
#include <sodium.h>
#include <unistd.h>

typedef struct {
    const char *names [4];
    const char *values [4];
    int n;
} s_query_t;

static const char *
s_query_get (void *ctx, const char *name)
{
    s_query_t *q = ctx;
    for (int i = 0; i < q->n; i++)
        if (strcmp (q->names [i], name) == 0)
            return q->values [i];
    return NULL;
}

static coord_t *s_coord;
static int64_t s_now = 1795608000;          //  2026-11-25T12:00:00Z

static void
s_sign (const wallet_t *w, const char *commitment, char *hex)
{
    uint8_t sig [64];
    CHECK (wallet_sign (w, (const uint8_t *) commitment, strlen (commitment), sig) == 0);
    sodium_bin2hex (hex, 129, sig, 64);
}

//  Performs a request; returns the status and the parsed body in *out (caller decrefs).
static int
s_call (const char *method, const char *path, s_query_t *query, const char *body,
        json_t **out, int64_t *retry_after)
{
    coord_request_t req = { .method = method, .path = path, .query = query ? s_query_get : NULL,
                            .query_ctx = query, .body = body, .body_len = body ? strlen (body) : 0 };
    coord_response_t res;
    coord_handle (s_coord, &req, &res);
    CHECK (res.body);
    json_error_t jerr;
    json_t *doc = json_loads (res.body, 0, &jerr);
    CHECK (doc);
    if (res.status >= 400) {
        //  every error has the documented shape
        CHECK_EQ_INT (json_integer_value (json_object_get (doc, "statusCode")), res.status);
        CHECK (json_is_string (json_object_get (doc, "message")));
        CHECK (json_is_string (json_object_get (doc, "error")));
    }
    if (retry_after)
        *retry_after = res.retry_after_s;
    coord_response_clear (&res);
    if (out)
        *out = doc;
    else
        json_decref (doc);
    return res.status;
}

static int
s_current (const wallet_t *w, int64_t ts, const char *sig_override, json_t **out)
{
    char commitment [96], sig [129], tsbuf [24];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) ts);
    s_sign (w, commitment, sig);
    snprintf (tsbuf, sizeof tsbuf, "%lld", (long long) ts);
    s_query_t q = { { "hotkey", "signature", "timestamp" },
                    { wallet_ss58 (w), sig_override ? sig_override : sig, tsbuf }, 3 };
    return s_call ("GET", "/api/v1/zipcode-assignments/current", &q, NULL, out, NULL);
}

static char *
s_status_body (const wallet_t *w, const char *epoch, const char *status, const char *zips)
{
    char commitment [256], sig [129];
    snprintf (commitment, sizeof commitment, "miner:status:%s:%s:%lld", wallet_ss58 (w), epoch,
              (long long) s_now);
    s_sign (w, commitment, sig);
    char *body;
    CHECK (asprintf (&body, "{\"hotkey\":\"%s\",\"signature\":\"%s\",\"timestamp\":%lld,"
                            "\"epochId\":\"%s\",\"status\":\"%s\",\"listingsScraped\":120,"
                            "\"completedZipcodes\":%s}", wallet_ss58 (w), sig,
                     (long long) s_now, epoch, status, zips) > 0);
    return body;
}

int
main (void)
{
    const char *dsn = TEST_ENV ("ZM_TEST_PG_DSN");
    char err [512];
    //  a fresh database for this run
    db_t *admin = db_new (dsn, "test", 5, 30000, err, sizeof err);
    CHECK (admin);
    char dbname [64], create [128];
    snprintf (dbname, sizeof dbname, "zmtest_coord_%d", (int) getpid ());
    snprintf (create, sizeof create, "CREATE DATABASE %s", dbname);
    CHECK_EQ_INT (db_exec (admin, create, 0, NULL, NULL), 0);
    char *mydsn;
    CHECK (asprintf (&mydsn, "%s dbname=%s", dsn, dbname) > 0);
    db_t *db = db_new (mydsn, "test", 5, 30000, err, sizeof err);
    CHECK (db);
    CHECK_EQ_INT (db_migrate (db), 0);
    CHECK_EQ_INT (db_migrate (db), 0);          //  no-op the second time

    wallet_t *miner = wallet_new_dev ("test-miner");
    wallet_t *validator = wallet_new_dev ("test-validator");
    wallet_t *stranger = wallet_new_dev ("test-stranger");
    CHECK (miner && validator && stranger);
    char path [] = "/tmp/zm_metagraph_XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    dprintf (fd, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"coldkey\":\"%s\",\"role\":\"miner\"},"
                 "{\"hotkey\":\"%s\",\"role\":\"validator\"}]}",
             wallet_ss58 (miner), wallet_ss58 (stranger), wallet_ss58 (validator));
    close (fd);
    registry_t *registry = registry_new (path, err, sizeof err);
    CHECK (registry);
    catalog_t *catalog = catalog_new ();
    CHECK (catalog);

    zm_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    char *argv [] = { "test", "--coordinator.epoch.s", "20", "--coordinator.cooldown.s", "3600",
                      "--coordinator.rate.assignments", "30", "--s3.endpoint", "http://127.0.0.1:9",
                      "--s3.bucket", "zipmine", "--s3.access_key", "ak", "--s3.secret_key", "sk" };
    CHECK_EQ_INT (zm_config_load (&cfg, 15, argv, err, sizeof err), 0);
    s_coord = coord_new (&cfg, db, catalog, registry, NULL);
    CHECK (s_coord);
    coord_set_now (s_coord, s_now);

    //  public endpoints
    json_t *doc = NULL;
    CHECK_EQ_INT (s_call ("GET", "/healthcheck", NULL, NULL, &doc, NULL), 200);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "status")), "ok");
    json_decref (doc);
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/stats", NULL, NULL, &doc, NULL), 200);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "currentEpoch")), "2026-11-25T12-00-00");
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "zipcodes")), 25);
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "registeredMiners")), 1);
    json_decref (doc);
    CHECK_EQ_INT (s_call ("GET", "/nope", NULL, NULL, NULL, NULL), 404);
    CHECK_EQ_INT (s_call ("POST", "/healthcheck", NULL, "{}", NULL, NULL), 405);

    //  current assignment, signed
    CHECK_EQ_INT (s_current (miner, s_now, NULL, &doc), 200);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "epochId")), "2026-11-25T12-00-00");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "epochStart")), "2026-11-25T12:00:00Z");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "submissionDeadline")), "2026-11-25T12:00:20Z");
    const char *nonce = json_string_value (json_object_get (doc, "nonce"));
    CHECK (nonce && strlen (nonce) == 16);
    char first_nonce [17];
    snprintf (first_nonce, sizeof first_nonce, "%s", nonce);
    json_t *zips = json_object_get (doc, "zipcodes");
    CHECK_EQ_INT (json_array_size (zips), 25);
    json_t *z0 = json_array_get (zips, 0);
    const catalog_entry_t *e = catalog_lookup (catalog, json_string_value (json_object_get (z0, "zipcode")));
    CHECK (e);
    CHECK_EQ_INT (json_integer_value (json_object_get (z0, "expectedListings")), catalog_expected_listings (e));
    CHECK_EQ_STR (json_string_value (json_object_get (z0, "state")), e->state);
    CHECK (json_is_string (json_object_get (z0, "marketTier")));
    CHECK (json_is_string (json_object_get (z0, "geographicRegion")));
    char zip0 [6];
    snprintf (zip0, sizeof zip0, "%s", e->zipcode);
    char *first_doc = json_dumps (doc, JSON_SORT_KEYS);
    json_decref (doc);
    //  validators read it too, identically
    CHECK_EQ_INT (s_current (validator, s_now - 1, NULL, &doc), 200);
    char *again = json_dumps (doc, JSON_SORT_KEYS);
    CHECK_EQ_STR (again, first_doc);
    free (again);
    json_decref (doc);

    //  authentication failures
    CHECK_EQ_INT (s_current (miner, s_now - 301, NULL, NULL), 401);         //  stale
    CHECK_EQ_INT (s_current (miner, s_now + 61, NULL, NULL), 401);          //  future
    CHECK_EQ_INT (s_current (miner, s_now - 300, NULL, NULL), 200);         //  edges accepted
    CHECK_EQ_INT (s_current (miner, s_now + 60, NULL, NULL), 200);
    CHECK_EQ_INT (s_current (stranger, s_now, NULL, NULL), 403);            //  unknown hotkey
    char bad [129];
    memset (bad, 'a', 128);
    bad [128] = 0;
    CHECK_EQ_INT (s_current (miner, s_now - 2, bad, NULL), 401);            //  bad signature
    CHECK_EQ_INT (s_current (miner, s_now - 2, "zz", NULL), 401);           //  not hex
    //  a signature by someone else over the right commitment
    char commitment [96], other [129], tsbuf [24];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) (s_now - 3));
    s_sign (validator, commitment, other);
    CHECK_EQ_INT (s_current (miner, s_now - 3, other, NULL), 401);
    //  replay: the exact same signed request twice
    s_sign (miner, commitment, other);
    snprintf (tsbuf, sizeof tsbuf, "%lld", (long long) (s_now - 3));
    s_query_t q = { { "hotkey", "signature", "timestamp" }, { wallet_ss58 (miner), other, tsbuf }, 3 };
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/current", &q, NULL, NULL, NULL), 200);
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/current", &q, NULL, &doc, NULL), 401);
    CHECK (strstr (json_string_value (json_object_get (doc, "message")), "replay") != NULL);
    json_decref (doc);
    //  missing credentials
    s_query_t partial = { { "hotkey" }, { wallet_ss58 (miner) }, 1 };
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/current", &partial, NULL, NULL, NULL), 401);

    //  rate limit: 30 per minute; 6 used so far by the miner
    int ok = 0, limited = 0;
    int64_t retry = 0;
    for (int i = 0; i < 40; i++) {
        char c [96], s [129], t [24];
        snprintf (c, sizeof c, "zipcode:assignment:current:%lld", (long long) (s_now - 100 - i));
        s_sign (miner, c, s);
        snprintf (t, sizeof t, "%lld", (long long) (s_now - 100 - i));
        s_query_t qq = { { "hotkey", "signature", "timestamp" }, { wallet_ss58 (miner), s, t }, 3 };
        int st = s_call ("GET", "/api/v1/zipcode-assignments/current", &qq, NULL, NULL, &retry);
        ok += st == 200;
        limited += st == 429;
        if (st == 429)
            CHECK (retry >= 1 && retry <= 3);
    }
    CHECK (ok >= 20 && ok <= 30 && limited >= 10);
    CHECK_EQ_INT (ok + limited, 40);
    //  the validator has its own bucket
    CHECK_EQ_INT (s_current (validator, s_now - 5, NULL, NULL), 200);
    //  recovery after the window
    s_now += 61;
    coord_set_now (s_coord, s_now);
    CHECK_EQ_INT (s_current (miner, s_now, NULL, &doc), 200);

    //  the grid: 61 s later is three epochs on; a new nonce and no zipcode of the first epoch
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "epochId")), "2026-11-25T12-01-00");
    CHECK (strcmp (json_string_value (json_object_get (doc, "nonce")), first_nonce) != 0);
    char second_epoch [20];
    snprintf (second_epoch, sizeof second_epoch, "%s", json_string_value (json_object_get (doc, "epochId")));
    size_t i;
    json_t *z;
    json_array_foreach (json_object_get (doc, "zipcodes"), i, z)
        CHECK (strstr (first_doc, json_string_value (json_object_get (z, "zipcode"))) == NULL);
    json_decref (doc);

    //  past epoch by id, signed; identical to what was served then
    char c2 [128], s2 [129], t2 [24];
    snprintf (c2, sizeof c2, "zipcode:assignment:epoch:2026-11-25T12-00-00:%lld", (long long) s_now);
    s_sign (validator, c2, s2);
    snprintf (t2, sizeof t2, "%lld", (long long) s_now);
    s_query_t qe = { { "hotkey", "signature", "timestamp" }, { wallet_ss58 (validator), s2, t2 }, 3 };
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/epoch/2026-11-25T12-00-00", &qe, NULL, &doc, NULL), 200);
    again = json_dumps (doc, JSON_SORT_KEYS);
    CHECK_EQ_STR (again, first_doc);
    free (again);
    json_decref (doc);
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/epoch/2026-13-25T12-00-00", &qe, NULL, NULL, NULL), 400);
    snprintf (c2, sizeof c2, "zipcode:assignment:epoch:2020-01-01T00-00-00:%lld", (long long) s_now);
    s_sign (validator, c2, s2);
    CHECK_EQ_INT (s_call ("GET", "/api/v1/zipcode-assignments/epoch/2020-01-01T00-00-00", &qe, NULL, NULL, NULL), 404);

    //  status updates
    char zl [32];
    snprintf (zl, sizeof zl, "[\"%s\"]", zip0);
    char *body = s_status_body (miner, "2026-11-25T12-00-00", "COMPLETED", zl);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, body, NULL, NULL), 200);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, body, NULL, NULL), 401);
    free (body);
    s_now += 1;
    coord_set_now (s_coord, s_now);
    body = s_status_body (miner, "2026-11-25T12-00-00", "DONE", "[]");
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, body, NULL, NULL), 400);
    free (body);
    s_now += 1;
    coord_set_now (s_coord, s_now);
    body = s_status_body (miner, "2026-11-25T12-00-00", "IN_PROGRESS", "[\"99999\"]");
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, body, NULL, NULL), 400);
    free (body);
    s_now += 1;
    coord_set_now (s_coord, s_now);
    body = s_status_body (validator, "2026-11-25T12-00-00", "COMPLETED", "[]");
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, body, NULL, NULL), 403);
    free (body);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, "{\"hotkey\":", NULL, NULL), 400);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, "[1,2]", NULL, NULL), 400);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, "", NULL, NULL), 400);
    char *huge = malloc (70000);
    memset (huge, ' ', 69999);
    huge [0] = '{';
    huge [69998] = '}';
    huge [69999] = 0;
    CHECK_EQ_INT (s_call ("POST", "/api/v1/zipcode-assignments/status", NULL, huge, NULL, NULL), 413);
    free (huge);
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, "SELECT status, completed_zipcodes FROM coord_miner_status", 0, NULL, &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    CHECK_EQ_STR (db_result_get (res, 0, 0), "COMPLETED");
    db_result_destroy (&res);

    //  upload grants: the miner's own prefix for the current epoch, deadline as expiry
    char gc [256], gs [129];
    snprintf (gc, sizeof gc, "s3:data:access:%s:%s:%lld", wallet_ss58 (stranger), wallet_ss58 (miner),
              (long long) s_now);
    s_sign (miner, gc, gs);
    char *gbody;
    CHECK (asprintf (&gbody, "{\"hotkey\":\"%s\",\"coldkey\":\"%s\",\"signature\":\"%s\",\"timestamp\":\"%lld\"}",
                     wallet_ss58 (miner), wallet_ss58 (stranger), gs, (long long) s_now) > 0);
    CHECK_EQ_INT (s_call ("POST", "/get-folder-access", NULL, gbody, &doc, NULL), 200);
    char want [160];
    epoch_slot_t slot;
    epoch_slot_at (s_now, 20, &slot);
    snprintf (want, sizeof want, "data/hotkey=%s/epoch=%s/", wallet_ss58 (miner), slot.id);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "prefix")), want);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "uploadUrl")), "http://127.0.0.1:9/zipmine");
    json_t *fields = json_object_get (doc, "fields");
    CHECK (json_is_string (json_object_get (fields, "policy")));
    CHECK (json_is_string (json_object_get (fields, "x-amz-signature")));
    CHECK (json_object_get (fields, "x-amz-secret") == NULL);
    char *dumped = json_dumps (doc, 0);
    CHECK (strstr (dumped, "\"sk\"") == NULL);                   //  never the secret
    free (dumped);
    json_decref (doc);
    free (gbody);
    //  validators cannot get a miner grant, miners cannot get a validator grant
    snprintf (gc, sizeof gc, "s3:validator:upload:%lld", (long long) s_now);
    s_sign (miner, gc, gs);
    CHECK (asprintf (&gbody, "{\"hotkey\":\"%s\",\"signature\":\"%s\",\"timestamp\":%lld}",
                     wallet_ss58 (miner), gs, (long long) s_now) > 0);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/s3-access/validator-upload", NULL, gbody, NULL, NULL), 403);
    free (gbody);
    s_sign (validator, gc, gs);
    CHECK (asprintf (&gbody, "{\"hotkey\":\"%s\",\"signature\":\"%s\",\"timestamp\":%lld,"
                             "\"epochId\":\"2026-11-25T12-00-00\"}",
                     wallet_ss58 (validator), gs, (long long) s_now) > 0);
    CHECK_EQ_INT (s_call ("POST", "/api/v1/s3-access/validator-upload", NULL, gbody, &doc, NULL), 200);
    snprintf (want, sizeof want, "validators/%s/2026-11-25T12-00-00/", wallet_ss58 (validator));
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "prefix")), want);
    json_decref (doc);
    free (gbody);

    //  cooldown: over the next epochs no zipcode comes back within the cooldown
    CHECK_EQ_INT (db_exec (db, "SELECT count(*), count(DISTINCT zipcode) FROM coord_epoch_zipcodes",
                           0, NULL, &res), 0);
    CHECK_EQ_STR (db_result_get (res, 0, 0), db_result_get (res, 0, 1));
    db_result_destroy (&res);
    for (int k = 0; k < 10; k++) {
        s_now += 20;
        coord_set_now (s_coord, s_now);
        CHECK_EQ_INT (coord_tick (s_coord), 0);
    }
    CHECK_EQ_INT (db_exec (db, "SELECT count(*), count(DISTINCT zipcode), count(DISTINCT epoch_id) "
                               "FROM coord_epoch_zipcodes", 0, NULL, &res), 0);
    CHECK_EQ_STR (db_result_get (res, 0, 0), db_result_get (res, 0, 1));
    CHECK_EQ_STR (db_result_get (res, 0, 2), "12");
    db_result_destroy (&res);

    free (first_doc);
    coord_destroy (&s_coord);
    catalog_destroy (&catalog);
    registry_destroy (&registry);
    wallet_destroy (&miner);
    wallet_destroy (&validator);
    wallet_destroy (&stranger);
    zm_config_free (&cfg);
    db_destroy (&db);
    char drop [128];
    snprintf (drop, sizeof drop, "DROP DATABASE %s", dbname);
    CHECK_EQ_INT (db_exec (admin, drop, 0, NULL, NULL), 0);
    db_destroy (&admin);
    free (mydsn);
    unlink (path);
    TEST_DONE ();
}
