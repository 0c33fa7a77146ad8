/*  Shared by the storage and uploader tests: a throw-away database per test, a seeded epoch
    with tasks, listings and encoded listing batches; waiting on a process's log and on a
    query's answer.                                                                          */
#ifndef ZM_TEST_STORAGE_LIB_H
#define ZM_TEST_STORAGE_LIB_H

#include "common/db.h"
#include "common/rc.h"
#include "proto/listing_batch.h"
#include "tests/support/test_env.h"
#include "tests/support/test_proc.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    db_t *admin;
    char name [64];
    char *dsn;
} tdb_t;

//  Creates database zmtest_<tag>_<pid> and returns its DSN in t->dsn.
static inline void
tdb_create (tdb_t *t, const char *tag)
{
    const char *dsn = TEST_ENV ("ZM_TEST_PG_DSN");
    char err [256], sql [160];
    t->admin = db_new (dsn, "test", 5, 30000, err, sizeof err);
    CHECK (t->admin);
    snprintf (t->name, sizeof t->name, "zmtest_%s_%d", tag, (int) getpid ());
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", t->name);
    CHECK_EQ_INT (db_exec (t->admin, sql, 0, NULL, NULL), 0);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", t->name);
    CHECK_EQ_INT (db_exec (t->admin, sql, 0, NULL, NULL), 0);
    CHECK (asprintf (&t->dsn, "%s dbname=%s", dsn, t->name) > 0);
}

static inline void
tdb_drop (tdb_t *t)
{
    char sql [160];
    snprintf (sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", t->name);
    CHECK_EQ_INT (db_exec (t->admin, sql, 0, NULL, NULL), 0);
    db_destroy (&t->admin);
    free (t->dsn);
}

//  For an atexit handler, also after a failed check: drops the database if t is set (no
//  checks, errors ignored) and removes dir if not empty.
static inline void
tdb_cleanup (tdb_t *t, const char *dir)
{
    if (t && t->admin) {
        char sql [160];
        snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name);
        db_exec (t->admin, sql, 0, NULL, NULL);
    }
    if (dir && *dir) {
        char cmd [160];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fprintf (stderr, "could not remove %s\n", dir);
    }
}

static inline db_t *
tdb_connect (tdb_t *t, const char *app)
{
    char err [256];
    db_t *db = db_new (t->dsn, app, 5, 30000, err, sizeof err);
    CHECK (db);
    return db;
}

//  One integer from a query with text parameters.
static inline int64_t
tdb_int (db_t *db, const char *sql, int n, const char *const *params)
{
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, sql, n, params, &res), 0);
    int64_t v = -1;
    CHECK (db_result_rows (res) == 1);
    CHECK (db_result_int64 (res, 0, 0, &v) == 0);
    db_result_destroy (&res);
    return v;
}

//  One integer from a query without parameters.
static inline int64_t
t_q (db_t *db, const char *sql)
{
    return tdb_int (db, sql, 0, NULL);
}

//  Waits until the query answers want (at most timeout_ms).
static inline bool
t_wait_q (db_t *db, const char *sql, int64_t want, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (t_q (db, sql) == want)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

//  An epoch with tasks for the given zipcodes (db already migrated). deadline_s from now.
static inline void
tdb_seed (db_t *db, const char *epoch, const char *const *zips, int n, int64_t deadline_s)
{
    char dl [24];
    snprintf (dl, sizeof dl, "%lld", (long long) deadline_s);
    CHECK_EQ_INT (db_exec (db, "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
                               "submission_deadline, target_listings, tolerance_percent, assignment) "
                               "VALUES ($1, '0123456789abcdef', now(), now() + make_interval(secs => $2::bigint), "
                               "now() + make_interval(secs => $2::bigint), 100, 10, '{}')",
                           DB_P (epoch, dl), NULL), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT (db_exec (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, "
                                   "status, lease_id, lease_deadline) VALUES ($1, $2, 100, 'leased', "
                                   "'7', now() + interval '1 hour')",
                               DB_P (epoch, zips [i]), NULL), 0);
}

//  A well-formed listing into buf.
static inline const char *
t_listing (char *buf, size_t size, int zpid, const char *zip)
{
    snprintf (buf, size,
              "{\"zpid\":%d,\"mls_id\":\"ZM%d\",\"address\":\"%d Main St, Katy, TX %s\","
              "\"price\":%d,\"bedrooms\":3,\"bathrooms\":2.5,\"sqft\":1800,"
              "\"listing_date\":\"2026-10-03\",\"property_type\":\"SINGLE_FAMILY\","
              "\"listing_status\":\"FOR_SALE\",\"days_on_market\":12,"
              "\"source_url\":\"http://127.0.0.1:8090/property/%d\","
              "\"scraped_timestamp\":\"2026-11-25T14:03:00Z\",\"zipcode\":\"%s\","
              "\"extra\":{\"kept\":true}}",
              zpid, zpid, zpid, zip, 250000 + zpid, zpid, zip);
    return buf;
}

//  Encodes a batch of n listing texts.
static inline void
t_batch (msgpack_sbuffer *out, const char *epoch, const char *zip, uint64_t lease,
         uint32_t seq, bool final, const char *const *texts, size_t n)
{
    proto_listing_batch_t b = { .lease_id = lease, .seq = seq, .final = final, .nlistings = n };
    snprintf (b.epoch, sizeof b.epoch, "%s", epoch);
    snprintf (b.zipcode, sizeof b.zipcode, "%s", zip);
    proto_listing_t *items = calloc (n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        items [i].json = texts [i];
        items [i].len = (uint32_t) strlen (texts [i]);
    }
    b.listings = n ? items : NULL;
    msgpack_sbuffer_init (out);
    proto_err_t err;
    int rc = proto_listing_batch_encode (&b, out, &err);
    if (rc != 0)
        fprintf (stderr, "encode: %s\n", err.reason);
    CHECK_EQ_INT (rc, 0);
    free (items);
}

#endif
