/*  Shared by the downloader tests: a fresh bucket and database, the configuration, an epoch
    document, submission bodies, and the announcement sockets.                              */
#ifndef ZM_TEST_DOWNLOADER_LIB_H
#define ZM_TEST_DOWNLOADER_LIB_H

#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/s3.h"
#include "common/zmqx.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"
#include "tests/integration/test_storage_lib.h"
#include "workers/downloader/downloader.h"

#include <time.h>

typedef struct {
    tdb_t tdb;
    char bucket [64];
    s3_t *s3;
    zm_config_t cfg;
    metrics_t *metrics;
    downloader_t *dl;
    zsock_t *t1_pull, *t1_push, *co_pull, *co_push;
} tdl_t;

//  Loads the configuration from the environment: the test server, a bucket of our own,
//  object cap 1 MiB, listings cap 50,000, list pages of 2 keys, mode as given.
static inline void
tdl_setup (tdl_t *t, const char *tag, const char *mode)
{
    memset (t, 0, sizeof *t);
    tdb_create (&t->tdb, tag);
    snprintf (t->bucket, sizeof t->bucket, "zmdl-%s-%d", tag, (int) getpid ());
    for (char *p = t->bucket; *p; p++)
        if (*p == '_')
            *p = '-';
    setenv ("ZM_DB_DSN", t->tdb.dsn, 1);
    t_env_s3 (t->bucket);
    setenv ("ZM_S3_TIMEOUT_MS", "5000", 1);
    setenv ("ZM_DOWNLOADER_MODE", mode, 1);
    setenv ("ZM_DOWNLOADER_OBJECT_MAX", "1048576", 1);
    setenv ("ZM_DOWNLOADER_LIST_PAGE", "2", 1);
    setenv ("ZM_DOWNLOADER_GRACE_MS", "0", 1);
    t_config (&t->cfg);

    s3_config_t c = { .endpoint = t->cfg.s3_endpoint, .region = t->cfg.s3_region,
                      .access_key = t->cfg.s3_access_key, .secret_key = t->cfg.s3_secret_key,
                      .path_style = true, .max_attempts = 1 };
    t->s3 = s3_new (&c);
    CHECK (t->s3);
    CHECK_EQ_INT (s3_create_bucket (t->s3, t->bucket), 0);

    t->metrics = metrics_new ();
    db_t *db = tdb_connect (&t->tdb, "downloader");
    t->dl = downloader_new (&t->cfg, &db, NULL, t->metrics);
    CHECK (t->dl && !db);
    CHECK_EQ_INT (downloader_prepare (t->dl), 0);

    char ep [128];
    zmqx_opts_t o = zmqx_opts_default ();
    o.rcvtimeo_ms = 200;
    snprintf (ep, sizeof ep, "@inproc://t1-%s", tag);
    t->t1_pull = zmqx_new (ZMQ_PULL, ep, &o);
    snprintf (ep, sizeof ep, "@inproc://co-%s", tag);
    t->co_pull = zmqx_new (ZMQ_PULL, ep, &o);
    zmqx_opts_t p = zmqx_opts_default ();
    p.immediate = true;
    snprintf (ep, sizeof ep, ">inproc://t1-%s", tag);
    t->t1_push = zmqx_new (ZMQ_PUSH, ep, &p);
    snprintf (ep, sizeof ep, ">inproc://co-%s", tag);
    t->co_push = zmqx_new (ZMQ_PUSH, ep, &p);
    CHECK (t->t1_pull && t->co_pull && t->t1_push && t->co_push);
    downloader_set_outputs (t->dl, t->t1_push, t->co_push);
}

static inline void
tdl_teardown (tdl_t *t)
{
    downloader_destroy (&t->dl);
    zsock_destroy (&t->t1_push);
    zsock_destroy (&t->co_push);
    zsock_destroy (&t->t1_pull);
    zsock_destroy (&t->co_pull);
    metrics_destroy (&t->metrics);
    s3_destroy (&t->s3);
    zm_config_free (&t->cfg);
    tdb_drop (&t->tdb);
}

//  Caches the epoch: zipcodes 10001..10020 expecting 100 listings each, deadline far ahead.
static inline void
tdl_epoch (tdl_t *t, const char *epoch)
{
    char doc [4096];
    int w = snprintf (doc, sizeof doc, "{\"epochId\":\"%s\",\"epochStart\":\"2026-11-25T12:00:00Z\","
                      "\"epochEnd\":\"2026-11-25T16:00:00Z\",\"nonce\":\"9f86d081884c7d65\","
                      "\"targetListings\":2000,\"tolerancePercent\":10,"
                      "\"submissionDeadline\":\"2099-01-01T00:00:00Z\",\"zipcodes\":[", epoch);
    for (int i = 1; i <= 20; i++)
        w += snprintf (doc + w, sizeof doc - (size_t) w, "%s{\"zipcode\":\"%05d\","
                       "\"expectedListings\":100,\"state\":\"NY\"}", i > 1 ? "," : "", 10000 + i);
    snprintf (doc + w, sizeof doc - (size_t) w, "]}");
    CHECK_EQ_INT (downloader_epoch_store (t->dl, doc, strlen (doc)), 0);
}

static inline void
tdl_key (char *out, size_t size, const char *hotkey, const char *epoch, const char *zip)
{
    snprintf (out, size, "data/hotkey=%s/epoch=%s/zipcode=%s/data_20261125_130000.json", hotkey,
              epoch, zip);
}

//  A well-formed body with n listings (count as listing_count says), heap, caller frees.
static inline char *
tdl_body (const char *epoch, const char *hotkey, const char *zip, long count, int n)
{
    size_t cap = 512 + (size_t) n * 64;
    char *b = malloc (cap);
    CHECK (b);
    int w = snprintf (b, cap, "{\"epoch_id\":\"%s\",\"zipcode\":\"%s\",\"miner_hotkey\":\"%s\","
                      "\"submission_timestamp\":\"2026-11-25T13:00:00\",\"listing_count\":%ld,"
                      "\"listings\":[", epoch, zip, hotkey, count);
    for (int i = 0; i < n; i++)
        w += snprintf (b + w, cap - (size_t) w, "%s{\"zpid\":%d,\"zipcode\":\"%s\"}",
                       i ? "," : "", i + 1, zip);
    snprintf (b + w, cap - (size_t) w, "]}");
    return b;
}

static inline void
tdl_put (tdl_t *t, const char *key, const char *data, size_t len)
{
    int rc = s3_put (t->s3, t->bucket, key, data, len, "application/json");
    if (rc != 0)
        fprintf (stderr, "put %s: %s\n", key, s3_error (t->s3));
    CHECK_EQ_INT (rc, 0);
}

static inline void
tdl_put_body (tdl_t *t, const char *hotkey, const char *epoch, const char *zip, int n)
{
    char key [512];
    tdl_key (key, sizeof key, hotkey, epoch, zip);
    char *b = tdl_body (epoch, hotkey, zip, n, n);
    tdl_put (t, key, b, strlen (b));
    free (b);
}

//  One value of the rendered metrics ("name{labels}"), 0 when absent.
static inline double
tdl_metric (tdl_t *t, const char *series)
{
    return t_metric (t->metrics, series);
}

//  A text value from a query.
static inline char *
tdl_text (tdl_t *t, db_t *db, const char *sql, int n, const char *const *params)
{
    (void) t;
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, sql, n, params, &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    const char *v = db_result_get (res, 0, 0);
    char *out = strdup (v ? v : "(null)");
    db_result_destroy (&res);
    return out;
}

//  Pumps until nothing is left to do.
static inline int
tdl_pump_all (tdl_t *t)
{
    int total = 0;
    for (int i = 0; i < 100; i++) {
        int n = downloader_pump (t->dl, 10000);
        CHECK (n >= 0);
        if (n == 0)
            break;
        total += n;
    }
    return total;
}

#endif
