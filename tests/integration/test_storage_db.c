/*  storage in process against the real PostgreSQL: intake rejections counted by reason and
    never stored, the same batch twice stores nothing twice, completion only when the final
    batch and every earlier seq are in, zipcode_stored announced after the commit with the
    stored content's count and SHA-256, refusals (unknown task, superseded lease, closed task,
    malformed frame), re-announcement of stored-not-uploaded zipcodes, and RC_RETRY with
    nothing stored while the database is unreachable.                                        */
#include "common/log.h"
#include "common/metrics.h"
#include "common/zmqx.h"
#include "proto/zipcode_stored.h"
#include "tests/integration/test_storage_lib.h"
#include "workers/storage/storage.h"

#include <openssl/evp.h>

static const char *EPOCH = "2026-11-25T12-00-00";

static int64_t
s_rows (db_t *db, const char *zip)
{
    return tdb_int (db, "SELECT count(*) FROM miner_listings WHERE epoch_id = $1 AND zipcode = $2",
                    DB_P (EPOCH, zip));
}

static bool
s_metric (metrics_t *m, const char *line)
{
    char *text = metrics_render (m, NULL);
    bool found = strstr (text, line) != NULL;
    if (!found)
        fprintf (stderr, "metric line not found: %s\n%s", line, text);
    free (text);
    return found;
}

static int
s_handle (storage_t *st, db_t *db, msgpack_sbuffer *sb, storage_result_t *r)
{
    int rc = storage_handle (st, db, (const uint8_t *) sb->data, sb->size, r);
    msgpack_sbuffer_destroy (sb);
    return rc;
}

static bool
s_recv_stored (zsock_t *pull, proto_zipcode_stored_t *msg, int timeout_ms)
{
    zsock_set_rcvtimeo (pull, timeout_ms);
    zmqx_frame_t f;
    if (zmqx_recv (pull, &f, 4096, 0) != 0)
        return false;
    int rc = proto_zipcode_stored_decode (zmqx_frame_data (&f), zmqx_frame_size (&f), msg, NULL);
    zmqx_frame_close (&f);
    return rc == 0;
}

int
main (void)
{
    tdb_t t;
    tdb_create (&t, "storage_db");
    db_t *check = tdb_connect (&t, "test-check");
    metrics_t *metrics = metrics_new ();
    zsock_t *pull = zmqx_new (ZMQ_PULL, "@inproc://stored", NULL);
    zsock_t *push = zmqx_new (ZMQ_PUSH, ">inproc://stored", NULL);
    CHECK (pull && push);
    db_t *db = tdb_connect (&t, "zipmine-storage");
    storage_t *st = storage_new (metrics, push);
    CHECK (st);
    CHECK_EQ_INT (storage_prepare (db), 0);
    const char *zips [] = { "77494", "10001", "60601", "30301" };
    tdb_seed (check, EPOCH, zips, 4, 3600);

    char l [6][1024];
    const char *seq0 [] = {
        t_listing (l [0], sizeof l [0], 1, "77494"), t_listing (l [1], sizeof l [1], 2, "77494"),
        t_listing (l [2], sizeof l [2], 3, "77494"),
        t_listing (l [3], sizeof l [3], 4, "10001"),                            //  wrong zipcode
        "{not json}",                                                           //  not_json
        "{\"zpid\":5,\"zipcode\":\"77494\",\"listing_date\":\"soon\"}",         //  bad_date
        "{\"address\":\"no id\",\"zipcode\":\"77494\"}",                        //  missing_id
        "{\"zpid\":6,\"zipcode\":\"77494\",\"price\":\"a lot\"}",               //  bad_field
        t_listing (l [4], sizeof l [4], 1, "77494")                             //  dup in batch
    };
    msgpack_sbuffer sb;
    storage_result_t r;
    t_batch (&sb, EPOCH, "77494", 7, 0, false, seq0, 9);
    msgpack_sbuffer again;
    msgpack_sbuffer_init (&again);
    msgpack_sbuffer_write (&again, sb.data, sb.size);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_STORED);
    CHECK_EQ_INT (r.received, 9);
    CHECK_EQ_INT (r.rejected, 5);
    CHECK_EQ_INT (r.stored, 3);
    CHECK_EQ_INT (r.duplicates, 1);
    CHECK (!r.complete);
    CHECK_EQ_INT (s_rows (check, "77494"), 3);
    CHECK_EQ_INT (s_rows (check, "10001"), 0);          //  the foreign listing went nowhere
    CHECK (s_metric (metrics, "zipmine_storage_listings_rejected_total{reason=\"wrong_zipcode\"} 1"));
    CHECK (s_metric (metrics, "zipmine_storage_listings_rejected_total{reason=\"not_json\"} 1"));
    CHECK (s_metric (metrics, "zipmine_storage_listings_rejected_total{reason=\"bad_date\"} 1"));
    CHECK (s_metric (metrics, "zipmine_storage_listings_rejected_total{reason=\"missing_id\"} 1"));
    CHECK (s_metric (metrics, "zipmine_storage_listings_rejected_total{reason=\"bad_field\"} 1"));
    //  unknown fields are kept
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_listings WHERE doc->'extra'->>'kept' = 'true'",
                           0, NULL), 3);

    //  the same batch again: nothing twice
    CHECK_EQ_INT (s_handle (st, db, &again, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_DUPLICATE);
    CHECK_EQ_INT (r.stored, 0);
    CHECK_EQ_INT (s_rows (check, "77494"), 3);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_batches", 0, NULL), 1);
    CHECK (s_metric (metrics, "zipmine_storage_batches_total{outcome=\"duplicate\"} 1"));

    //  final batch seq 2 before seq 1: stored, not complete, no announcement
    const char *seq2 [] = { t_listing (l [5], sizeof l [5], 9, "77494") };
    t_batch (&sb, EPOCH, "77494", 7, 2, true, seq2, 1);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_STORED);
    CHECK (!r.complete);
    proto_zipcode_stored_t msg;
    CHECK (!s_recv_stored (pull, &msg, 200));
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE status = 'stored'", 0, NULL), 0);
    //  seq 1 (empty, with a listing already stored) completes it
    const char *seq1 [] = { l [1] };
    t_batch (&sb, EPOCH, "77494", 7, 1, false, seq1, 1);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK (r.complete);
    CHECK_EQ_INT (r.count, 4);
    CHECK_EQ_INT (r.duplicates, 1);
    CHECK (s_recv_stored (pull, &msg, 2000));
    CHECK_EQ_STR (msg.epoch, EPOCH);
    CHECK_EQ_STR (msg.zipcode, "77494");
    CHECK_EQ_INT (msg.count, 4);
    CHECK_EQ_INT (tdb_int (check, "SELECT listing_count FROM miner_tasks WHERE zipcode = '77494' "
                                  "AND status = 'stored'", 0, NULL), 4);
    //  the announced digest is SHA-256 over "id\tdoc\n" in id order
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (check, "SELECT listing_id, doc::text FROM miner_listings "
                                  "WHERE zipcode = '77494' ORDER BY listing_id", 0, NULL, &res), 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new ();
    EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
    for (int i = 0; i < db_result_rows (res); i++) {
        if (i)
            EVP_DigestUpdate (md, "\n", 1);
        EVP_DigestUpdate (md, db_result_get (res, i, 0), strlen (db_result_get (res, i, 0)));
        EVP_DigestUpdate (md, "\t", 1);
        EVP_DigestUpdate (md, db_result_get (res, i, 1), strlen (db_result_get (res, i, 1)));
    }
    uint8_t digest [32];
    EVP_DigestFinal_ex (md, digest, NULL);
    EVP_MD_CTX_free (md);
    db_result_destroy (&res);
    CHECK_EQ_MEM (digest, msg.sha256, 32);

    //  a batch for the stored task: closed, nothing stored
    const char *late [] = { t_listing (l [0], sizeof l [0], 77, "77494") };
    t_batch (&sb, EPOCH, "77494", 7, 3, true, late, 1);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_CLOSED);
    CHECK_EQ_INT (s_rows (check, "77494"), 4);
    //  superseded lease (the task holds lease 7)
    const char *other [] = { t_listing (l [0], sizeof l [0], 100, "10001") };
    t_batch (&sb, EPOCH, "10001", 8, 0, true, other, 1);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_STALE_LEASE);
    CHECK_EQ_INT (s_rows (check, "10001"), 0);
    //  an expired lease: the assigner put the task back to pending without a lease
    CHECK_EQ_INT (db_exec (check, "UPDATE miner_tasks SET status = 'pending', lease_id = NULL, "
                                  "lease_deadline = NULL WHERE zipcode = '10001'", 0, NULL, NULL), 0);
    t_batch (&sb, EPOCH, "10001", 7, 0, true, other, 1);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_STALE_LEASE);
    CHECK_EQ_INT (s_rows (check, "10001"), 0);
    //  a task this node does not have
    const char *nowhere [] = { t_listing (l [0], sizeof l [0], 100, "99999") };
    t_batch (&sb, EPOCH, "99999", 7, 0, true, nowhere, 1);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_UNKNOWN_TASK);
    //  bytes that are no batch at all
    CHECK_EQ_INT (storage_handle (st, db, (const uint8_t *) "\xdd\xff\xff\xff\xff", 5, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_MALFORMED);
    CHECK (s_metric (metrics, "zipmine_storage_batches_total{outcome=\"malformed\"} 1"));
    CHECK (s_metric (metrics, "zipmine_storage_batches_total{outcome=\"stale_lease\"} 2"));
    CHECK (s_metric (metrics, "zipmine_storage_batches_total{outcome=\"unknown_task\"} 1"));
    CHECK (s_metric (metrics, "zipmine_storage_batches_total{outcome=\"closed\"} 1"));

    //  a batch of garbage: every listing counted, only the first 5 logged one by one
    char logpath [] = "/tmp/zm_storage_db_log_XXXXXX";
    int logfd = mkstemp (logpath);
    CHECK (logfd >= 0);
    log_set_fd (logfd);
    const char *junk [8];
    char jl [8][1024];
    for (int i = 0; i < 8; i++)
        junk [i] = t_listing (jl [i], sizeof jl [i], 300 + i, "10001");    //  wrong zipcode
    t_batch (&sb, EPOCH, "60601", 7, 5, false, junk, 8);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    log_set_fd (1);
    CHECK_EQ_INT (r.rejected, 8);
    CHECK_EQ_INT (r.stored, 0);
    FILE *lf = fdopen (logfd, "r");
    rewind (lf);
    char line [4096];
    int one_by_one = 0, summary = 0;
    while (fgets (line, sizeof line, lf)) {
        one_by_one += strstr (line, "\"event\":\"listing_rejected\"") != NULL;
        summary += strstr (line, "\"event\":\"listings_rejected_more\"") != NULL;
    }
    fclose (lf);
    unlink (logpath);
    CHECK_EQ_INT (one_by_one, 5);
    CHECK_EQ_INT (summary, 1);
    CHECK (s_metric (metrics, "zipmine_storage_listings_rejected_total{reason=\"wrong_zipcode\"} 10"));

    //  an empty final batch completes a zipcode with 0 listings
    t_batch (&sb, EPOCH, "60601", 7, 0, true, NULL, 0);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK (r.complete);
    CHECK_EQ_INT (r.count, 0);
    CHECK (s_recv_stored (pull, &msg, 2000));
    CHECK_EQ_STR (msg.zipcode, "60601");

    //  text that array literals must escape ('"', '\\', '{', ',', spaces) and non-ASCII arrives
    //  exactly (the listings travel to PostgreSQL as two array parameters)
    const char *tricky [] = {
        "{\"zpid\":31,\"zipcode\":\"30301\",\"address\":\"1 \\\"Quoted\\\" St, {A,B} \\\\ back\"}",
        "{\"zpid\":32,\"zipcode\":\"30301\",\"address\":\"Caf\u00e9 \u2013 \\\\\\\\ NULL\",\"note\":\"}\"}",
        "{\"mls_id\":\"A-7\",\"zipcode\":\"30301\",\"remark\":\"\"}"
    };
    t_batch (&sb, EPOCH, "30301", 7, 0, true, tricky, 3);
    CHECK_EQ_INT (s_handle (st, db, &sb, &r), 0);
    CHECK_EQ_INT (r.outcome, STORAGE_STORED);
    CHECK_EQ_INT (r.stored, 3);
    CHECK (r.complete);
    CHECK (s_recv_stored (pull, &msg, 2000));
    CHECK_EQ_STR (msg.zipcode, "30301");
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_listings WHERE zipcode = '30301' AND "
                                  "listing_id = '31' AND doc->>'address' = '1 \"Quoted\" St, {A,B} \\ back'",
                           0, NULL), 1);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_listings WHERE zipcode = '30301' AND "
                                  "listing_id = '32' AND doc->>'address' = 'Café – \\\\ NULL' "
                                  "AND doc->>'note' = '}'", 0, NULL), 1);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_listings WHERE zipcode = '30301' AND "
                                  "listing_id = 'mls:A-7' AND doc->>'remark' = ''", 0, NULL), 1);

    //  recovery: stored zipcodes are re-announced until the uploader's ledger has them
    CHECK_EQ_INT (db_exec (check, "INSERT INTO miner_uploads (epoch_id, zipcode, s3_key, sha256, "
                                  "listing_count, bytes, state, uploaded_at) VALUES ($1, '60601', 'k', "
                                  "repeat('0', 64), 0, 1, 'uploaded', now())", DB_P (EPOCH), NULL), 0);
    int n = -1;
    CHECK_EQ_INT (storage_reannounce (st, db, &n), 0);
    CHECK_EQ_INT (n, 2);
    CHECK (s_recv_stored (pull, &msg, 2000));
    CHECK_EQ_STR (msg.zipcode, "77494");
    CHECK_EQ_INT (msg.count, 4);
    CHECK_EQ_MEM (digest, msg.sha256, 32);
    CHECK (s_recv_stored (pull, &msg, 2000));
    CHECK_EQ_STR (msg.zipcode, "30301");
    CHECK_EQ_INT (msg.count, 3);
    storage_destroy (&st);
    db_destroy (&db);

    //  database unreachable: RC_RETRY, nothing stored, the caller keeps the batch
    char err [128];
    db_t *dead = db_new ("host=127.0.0.1 port=1 dbname=none", "zipmine-storage", 1, 1000,
                         err, sizeof err);
    CHECK (dead);
    st = storage_new (metrics, push);
    const char *one [] = { t_listing (l [0], sizeof l [0], 500, "10001") };
    t_batch (&sb, EPOCH, "10001", 7, 0, true, one, 1);
    CHECK_EQ_INT (s_handle (st, dead, &sb, &r), RC_RETRY);
    storage_destroy (&st);
    db_destroy (&dead);
    CHECK_EQ_INT (s_rows (check, "10001"), 0);

    zsock_destroy (&push);
    zsock_destroy (&pull);
    metrics_destroy (&metrics);
    db_destroy (&check);
    tdb_drop (&t);
    TEST_DONE ();
}
