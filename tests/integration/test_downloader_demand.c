/*  downloader in mode "demand" (what consensus drives), against the real S3 server and
    PostgreSQL:
      - listed submissions are not downloaded until asked for (lazy validation);
      - a request frame (submission_ready with db_id) gets exactly that submission
        downloaded, stored and announced; the others stay 'listed', unread;
      - asking again announces again (at least once, keyed by db_id);
      - unknown ids and garbage frames are counted and dropped;
      - a tier 1 that is not there: the submission is stored but not announced, and the
        next pump after tier 1 appears announces it (nothing lost, nothing re-downloaded);
      - a rejection with no consensus socket is stored and not announced; once consensus is
        connected it gets the tier-1 fail;
      - the tick works without a wallet (the epoch is cached, nothing fetched).            */
#include "tests/integration/test_downloader_lib.h"

#define EP "2026-11-25T16-00-00"

static int64_t
s_id (db_t *db, const char *hotkey)
{
    return tdb_int (db, "SELECT id FROM validator_submissions WHERE epoch_id = $1 AND "
                        "miner_hotkey = $2", DB_P (EP, hotkey));
}

static void
s_request (tdl_t *t, int64_t id)
{
    proto_submission_ready_t m;
    memset (&m, 0, sizeof m);
    snprintf (m.epoch, sizeof m.epoch, EP);
    snprintf (m.hotkey, sizeof m.hotkey, "x");
    snprintf (m.zipcode, sizeof m.zipcode, "10001");
    snprintf (m.s3_key, sizeof m.s3_key, "k");
    snprintf (m.last_modified, sizeof m.last_modified, "t");
    m.db_id = (uint64_t) id;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_submission_ready_encode (&m, &sb, NULL), 0);
    CHECK_EQ_INT (downloader_handle (t->dl, (const uint8_t *) sb.data, sb.size), 0);
    msgpack_sbuffer_destroy (&sb);
}

//  The next announcement on tier 1: its db_id, or 0 when none came.
static int64_t
s_next_t1 (tdl_t *t)
{
    zmqx_frame_t f;
    if (zmqx_recv (t->t1_pull, &f, 1 << 20, 0) != 0)
        return 0;
    proto_submission_ready_t m;
    CHECK_EQ_INT (proto_submission_ready_decode (zmqx_frame_data (&f), zmqx_frame_size (&f), &m,
                                                 NULL), 0);
    zmqx_frame_close (&f);
    return (int64_t) m.db_id;
}

int
main (void)
{
    tdl_t t;
    setenv ("ZM_DOWNLOADER_EPOCH", EP, 1);
    tdl_setup (&t, "dldemand", "demand");
    db_t *db = tdb_connect (&t.tdb, "check");
    tdl_epoch (&t, EP);
    tdl_put_body (&t, "5MinerA", EP, "10001", 3);
    tdl_put_body (&t, "5MinerB", EP, "10001", 4);
    tdl_put_body (&t, "5MinerC", EP, "10001", 5);
    char key [512];
    tdl_key (key, sizeof key, "5MinerD", EP, "10002");
    tdl_put (&t, key, "{\"epoch_id\":", 12);                //  truncated

    //  the tick lists (epoch cached, deadline moved into the past) and downloads nothing
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_epochs SET submission_deadline = now() + "
                               "interval '1 minute'", 0, NULL, NULL), 0);
    downloader_tick (t.dl);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions", 0, NULL), 0);
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_epochs SET submission_deadline = now()",
                           0, NULL, NULL), 0);
    //  the epoch check runs at most every 5 s: a new downloader checks at once
    downloader_destroy (&t.dl);
    db_t *d2 = tdb_connect (&t.tdb, "downloader");
    t.dl = downloader_new (&t.cfg, &d2, NULL, t.metrics);
    CHECK (t.dl);
    downloader_set_outputs (t.dl, t.t1_push, NULL);
    //  the listing is spread over ticks (a time slice each)
    for (int i = 0; i < 100 && tdb_int (db, "SELECT count(*) FROM validator_epochs WHERE "
                                            "listed_at IS NOT NULL", 0, NULL) == 0; i++)
        downloader_tick (t.dl);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE state = 'listed'",
                           0, NULL), 4);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE requested_at "
                               "IS NOT NULL", 0, NULL), 0);
    CHECK_EQ_INT (downloader_pump (t.dl, 1000), 0);
    CHECK_EQ_INT (s_next_t1 (&t), 0);

    //  ask for B only
    int64_t a = s_id (db, "5MinerA"), b = s_id (db, "5MinerB"), c = s_id (db, "5MinerC");
    int64_t d = s_id (db, "5MinerD");
    s_request (&t, b);
    downloader_tick (t.dl);
    CHECK_EQ_INT (s_next_t1 (&t), b);
    CHECK_EQ_INT (s_next_t1 (&t), 0);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE state = 'listed'",
                           0, NULL), 3);
    char ids [24];
    snprintf (ids, sizeof ids, "%lld", (long long) b);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submission_listings WHERE "
                               "submission_id = $1::bigint", DB_P (ids)), 4);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_bytes_total"),
                  tdb_int (db, "SELECT size_bytes FROM validator_submissions WHERE id = $1::bigint",
                           DB_P (ids)));

    //  again: announced again, not downloaded again
    s_request (&t, b);
    downloader_tick (t.dl);
    CHECK_EQ_INT (s_next_t1 (&t), b);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_downloaded_total"), 1);

    //  garbage and unknown ids
    CHECK_EQ_INT (downloader_handle (t.dl, (const uint8_t *) "\x93\x01\x08", 3), 0);
    s_request (&t, 987654321);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_requests_malformed_total"), 2);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_requests_total"), 3);

    //  tier 1 not there: stored, not announced; announced once it is there
    zmqx_opts_t p = zmqx_opts_default ();
    p.immediate = true;
    //  (ipc: an inproc connect before the bind gets a pipe at once, ZMQ_IMMEDIATE or not)
    char ep [128];
    snprintf (ep, sizeof ep, ">ipc:///tmp/zmdl-nobody-%d.ipc", (int) getpid ());
    zsock_t *nowhere = zmqx_new (ZMQ_PUSH, ep, &p);
    CHECK (nowhere);
    downloader_set_outputs (t.dl, nowhere, NULL);
    s_request (&t, c);
    downloader_tick (t.dl);
    snprintf (ids, sizeof ids, "%lld", (long long) c);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE id = $1::bigint "
                               "AND state = 'downloaded' AND announced_at IS NULL", DB_P (ids)), 1);
    //  and the rejection with no consensus: stored, not announced
    s_request (&t, d);
    downloader_tick (t.dl);
    snprintf (ids, sizeof ids, "%lld", (long long) d);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE id = $1::bigint "
                               "AND state = 'rejected' AND reason LIKE 'not_json:%' AND "
                               "announced_at IS NULL", DB_P (ids)), 1);
    downloader_set_outputs (t.dl, t.t1_push, t.co_push);
    downloader_tick (t.dl);
    CHECK_EQ_INT (s_next_t1 (&t), c);
    zmqx_frame_t f;
    CHECK_EQ_INT (zmqx_recv (t.co_pull, &f, 1 << 20, 0), 0);
    proto_tier_result_t r;
    CHECK_EQ_INT (proto_tier_result_decode (zmqx_frame_data (&f), zmqx_frame_size (&f), &r, NULL), 0);
    zmqx_frame_close (&f);
    CHECK_EQ_INT ((int64_t) r.submission_id, d);
    CHECK_EQ_STR (r.hotkey, "5MinerD");
    CHECK (strncmp (r.reason, "not_json:", 9) == 0);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_downloaded_total"), 2);
    //  A was never asked for: never read
    snprintf (ids, sizeof ids, "%lld", (long long) a);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE id = $1::bigint "
                               "AND state = 'listed' AND requested_at IS NULL", DB_P (ids)), 1);
    CHECK_EQ_INT (downloader_pump (t.dl, 1000), 0);

    zsock_destroy (&nowhere);
    db_destroy (&db);
    tdl_teardown (&t);
    TEST_DONE ();
}
