/*  Helpers shared by the tier tests (not a test itself: only test_*.c files are built): a
    fresh migrated database, an epoch with zipcodes, downloaded submissions with their
    listings stored as the downloader stores them, and ipc sockets standing in for
    consensus and the next tier. Every helper fails the test (CHECK) rather than return an
    error.                                                                                   */
#ifndef ZM_TEST_TIER1_LIB_H
#define ZM_TEST_TIER1_LIB_H

#include "common/zmqx.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"
#include "tests/integration/test_assigner_lib.h"
#include "workers/tier1/tier.h"

#include <inttypes.h>
#include <jansson.h>

//  The epoch every tier test uses; its submission deadline is 2026-11-25T16:00:00Z.
#define TT_EPOCH "2026-11-25T12-00-00"
#define TT_NONCE "0123456789abcdef"
#define TT_DEADLINE_MS 1795622400000LL

static char tt_dir [128];
static char *tt_dsn;
static char tt_db_name [96];

//  Drops the test's database and removes its directory; at exit (also after a failed
//  CHECK) and from tt_teardown. Safe to call twice.
static void
tt_cleanup (void)
{
    if (*tt_db_name && getenv ("ZM_TEST_PG_DSN")) {
        char err [256], sql [160];
        db_t *admin = db_new (getenv ("ZM_TEST_PG_DSN"), "test", 5, 30000, err, sizeof err);
        snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", tt_db_name);
        if (!admin || db_exec (admin, sql, 0, NULL, NULL) != 0)
            fprintf (stderr, "could not drop %s\n", tt_db_name);
        db_destroy (&admin);
        tt_db_name [0] = 0;
    }
    if (*tt_dir) {
        char cmd [200];
        snprintf (cmd, sizeof cmd, "rm -rf %s", tt_dir);
        if (system (cmd) != 0)
            fprintf (stderr, "could not remove %s\n", tt_dir);
        tt_dir [0] = 0;
    }
}

//  A fresh database with every migration applied; returns a connection (caller destroys).
//  The database and the directory tt_dir are removed at exit (tt_cleanup).
static inline db_t *
tt_setup (const char *tag)
{
    snprintf (tt_dir, sizeof tt_dir, "/tmp/zm_%s_%d", tag, (int) getpid ());
    mkdir (tt_dir, 0700);
    atexit (tt_cleanup);
    tt_dsn = tl_database (tag);
    snprintf (tt_db_name, sizeof tt_db_name, "zmtest_%s_%d", tag, (int) getpid ());
    char err [256];
    db_t *db = db_new (tt_dsn, "test", 5, 30000, err, sizeof err);
    CHECK (db);
    CHECK_EQ_INT (db_migrate (db), 0);
    return db;
}

static inline db_t *
tt_connect (void)
{
    char err [256];
    db_t *db = db_new (tt_dsn, "test", 5, 30000, err, sizeof err);
    CHECK (db);
    return db;
}

//  Epoch `epoch` (deadline TT_DEADLINE_MS) with one zipcode expecting `expected`.
static inline void
tt_epoch (db_t *db, const char *epoch, const char *zipcode, int expected)
{
    char e [16];
    snprintf (e, sizeof e, "%d", expected);
    int rc = db_exec (db,
        "INSERT INTO validator_epochs (epoch_id, nonce, epoch_start, epoch_end, "
        "  submission_deadline, assignment) VALUES ($1, $2, '2026-11-25T12:00:00Z', "
        "  '2026-11-25T16:00:00Z', '2026-11-25T16:00:00Z', '{}') ON CONFLICT DO NOTHING",
        DB_P (epoch, TT_NONCE), NULL);
    CHECK_EQ_INT (rc, 0);
    rc = db_exec (db, "INSERT INTO validator_epoch_zipcodes (epoch_id, zipcode, "
                      "expected_listings) VALUES ($1, $2, $3)", DB_P (epoch, zipcode, e), NULL);
    CHECK_EQ_INT (rc, 0);
}

//  A downloaded submission of hotkey for zipcode with listings (a JSON array, borrowed);
//  returns its db id.
static inline int64_t
tt_submission (db_t *db, const char *epoch, const char *hotkey, const char *zipcode,
               const char *last_modified, const json_t *listings)
{
    char key [256], count [16];
    snprintf (key, sizeof key, "data/hotkey=%s/epoch=%s/zipcode=%s/data_20261125_150000.json",
              hotkey, epoch, zipcode);
    snprintf (count, sizeof count, "%zu", json_array_size (listings));
    db_result_t *res = NULL;
    int rc = db_exec (db,
        "INSERT INTO validator_submissions (epoch_id, s3_key, miner_hotkey, zipcode, "
        "  last_modified, last_modified_raw, size_bytes, state, listing_count, downloaded_at, "
        "  announced_at) VALUES ($1, $2, $3, $4, $5::timestamptz, $7, 1000, 'downloaded', $6, "
        "  now (), now ()) RETURNING id",
        DB_P (epoch, key, hotkey, zipcode, last_modified, count, last_modified), &res);
    if (rc != 0)
        fprintf (stderr, "insert: %s\n", db_error (db));
    CHECK_EQ_INT (rc, 0);
    int64_t id;
    CHECK (db_result_int64 (res, 0, 0, &id) == 0);
    db_result_destroy (&res);
    char idt [24];
    snprintf (idt, sizeof idt, "%" PRId64, id);
    char *text = json_dumps (listings, JSON_COMPACT);
    CHECK (text);
    rc = db_exec (db,
        "INSERT INTO validator_submission_listings (submission_id, idx, doc) "
        "SELECT $1, (ord - 1)::int, value FROM jsonb_array_elements ($2::jsonb) "
        "WITH ORDINALITY AS t (value, ord)", DB_P (idt, text), NULL);
    free (text);
    CHECK_EQ_INT (rc, 0);
    return id;
}

//  A PULL bound at <tt_dir>/<stage>.ipc and a PUSH connected to it (*push_p).
static inline zsock_t *
tt_pair (const char *stage, zsock_t **push_p)
{
    char ep [300];
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 2000;
    snprintf (ep, sizeof ep, "@ipc://%s/%s.ipc", tt_dir, stage);
    zsock_t *pull = zmqx_new (ZMQ_PULL, ep, &opts);
    snprintf (ep, sizeof ep, ">ipc://%s/%s.ipc", tt_dir, stage);
    *push_p = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (pull && *push_p);
    return pull;
}

//  Checks that r (what a tier process sent for submission id) carries the verdict, reason
//  and metrics (names and bits) that check gives when run here on the same database.
static inline void
tt_same_as_check (db_t *db, int64_t id, tier_check_fn *check, void *arg,
                  const proto_tier_result_t *r)
{
    tier_sub_t sub;
    CHECK_EQ_INT (tier_load (db, id, &sub), 0);
    tier_outcome_t want;
    memset (&want, 0, sizeof want);
    CHECK_EQ_INT (check (arg, db, &sub, &want), 0);
    CHECK_EQ_INT ((int) r->verdict, (int) want.verdict);
    CHECK_EQ_STR (r->reason, want.reason);
    CHECK_EQ_INT ((int) r->nmetrics, (int) want.nmetrics);
    for (size_t m = 0; m < want.nmetrics; m++) {
        CHECK_EQ_STR (r->metrics [m].name, want.metrics [m].name);
        CHECK_EQ_MEM (&r->metrics [m].value, &want.metrics [m].value, sizeof (double));
    }
}

//  Sends a submission_ready for db id `id` on push (the tiers use only the db_id).
static inline void
tt_send_ready (zsock_t *push, int64_t id)
{
    proto_submission_ready_t msg;
    memset (&msg, 0, sizeof msg);
    snprintf (msg.epoch, sizeof msg.epoch, TT_EPOCH);
    snprintf (msg.hotkey, sizeof msg.hotkey, "hk");
    snprintf (msg.zipcode, sizeof msg.zipcode, "00000");
    snprintf (msg.s3_key, sizeof msg.s3_key, "k");
    snprintf (msg.last_modified, sizeof msg.last_modified, "x");
    msg.db_id = (uint64_t) id;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    proto_err_t err;
    CHECK_EQ_INT (proto_submission_ready_encode (&msg, &buf, &err), 0);
    CHECK_EQ_INT (zmqx_send_sbuf (push, &buf, 1 << 20, 0), 0);
    msgpack_sbuffer_destroy (&buf);
}

//  Receives one tier_result (within the socket's receive timeout). Returns 0 or -1.
static inline int
tt_recv_result (zsock_t *pull, proto_tier_result_t *out, int flags)
{
    zmqx_frame_t frame;
    if (zmqx_recv (pull, &frame, 1 << 20, flags) != 0)
        return -1;
    proto_err_t err;
    int rc = proto_tier_result_decode (zmqx_frame_data (&frame), zmqx_frame_size (&frame),
                                       out, &err);
    zmqx_frame_close (&frame);
    return rc == 0 ? 0 : -1;
}

static inline int
tt_recv_ready (zsock_t *pull, proto_submission_ready_t *out, int flags)
{
    zmqx_frame_t frame;
    if (zmqx_recv (pull, &frame, 1 << 20, flags) != 0)
        return -1;
    proto_err_t err;
    int rc = proto_submission_ready_decode (zmqx_frame_data (&frame),
                                            zmqx_frame_size (&frame), out, &err);
    zmqx_frame_close (&frame);
    return rc == 0 ? 0 : -1;
}

//  The stored verdict of (id, tier): 1 passed, 0 failed, -1 NULL (unverifiable), -2 no row.
static inline int
tt_stored (db_t *db, int64_t id, int tier)
{
    int64_t rows = tl_int (db, "SELECT count (*) FROM validator_tier_results r "
        "JOIN validator_submissions s USING (epoch_id, s3_key) WHERE s.id = %" PRId64
        " AND r.tier = %d", id, tier);
    if (rows == 0)
        return -2;
    CHECK_EQ_INT (rows, 1);
    return (int) tl_int (db, "SELECT CASE WHEN r.passed IS NULL THEN -1 WHEN r.passed THEN 1 "
        "ELSE 0 END FROM validator_tier_results r JOIN validator_submissions s "
        "USING (epoch_id, s3_key) WHERE s.id = %" PRId64 " AND r.tier = %d", id, tier);
}

static inline void
tt_teardown (db_t **db_p)
{
    db_destroy (db_p);
    tt_cleanup ();
    free (tt_dsn);
    tt_dsn = NULL;
}

#endif
