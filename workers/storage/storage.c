/*  storage: validate listing batches, store them idempotently, announce complete zipcodes.

    Invariants:
      - everything a batch writes (listings, its miner_batches row, the task's 'stored' mark)
        is in one transaction: committed whole or not at all;
      - a zipcode_stored announcement is sent only after the commit that made it true;
      - nothing from the wire reaches SQL text: values are parameters or COPY rows.           */
#include "workers/storage/storage.h"
#include "common/clock.h"
#include "common/listing.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"
#include "proto/zipcode_stored.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORAGE_OUTCOMES 7
#define STORAGE_REJECTS_LOGGED 5        //  rejected listings logged one by one per batch

static const char *s_outcome_names [STORAGE_OUTCOMES] = {
    "stored", "duplicate", "malformed", "unknown_task", "stale_lease", "closed", "failed"
};

struct _storage_t {
    db_t *db;
    zsock_t *announce;              //  borrowed
    metrics_family_t *batches;      //  {outcome}
    metrics_family_t *listings;     //  {result}: stored, duplicate
    metrics_family_t *rejected;     //  {reason}
    metrics_family_t *completed;
    metrics_family_t *announced;    //  {result}: sent, dropped
    char *ids;                      //  per batch: the good listings' keys
    size_t ids_cap;
};

const char *
storage_outcome_name (storage_outcome_t outcome)
{
    if ((int) outcome < 0 || (int) outcome >= STORAGE_OUTCOMES)
        return "unknown";
    return s_outcome_names [outcome];
}

storage_t *
storage_new (db_t **db_p, metrics_t *metrics, zsock_t *announce)
{
    assert (db_p && *db_p && metrics);
    storage_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->db = *db_p;
    *db_p = NULL;
    self->announce = announce;
    self->batches = metrics_counter (metrics, "zipmine_storage_batches_total",
                                     "Listing batches handled, by outcome", "outcome");
    self->listings = metrics_counter (metrics, "zipmine_storage_listings_total",
                                      "Valid listings written (stored) or already present "
                                      "(duplicate)", "result");
    self->rejected = metrics_counter (metrics, "zipmine_storage_listings_rejected_total",
                                      "Listings refused by intake validation, by reason",
                                      "reason");
    self->completed = metrics_counter (metrics, "zipmine_storage_zipcodes_stored_total",
                                       "Zipcodes whose final batch was committed", NULL);
    self->announced = metrics_counter (metrics, "zipmine_storage_announcements_total",
                                       "zipcode_stored messages, by result (sent, dropped)",
                                       "result");
    return self;
}

void
storage_destroy (storage_t **self_p)
{
    assert (self_p);
    storage_t *self = *self_p;
    if (!self)
        return;
    db_destroy (&self->db);
    free (self->ids);
    free (self);
    *self_p = NULL;
}

int
storage_prepare (storage_t *self)
{
    return db_migrate (self->db);
}

//  Count and SHA-256 of what is stored for a zipcode: sha256 over "id\tdoc\n" lines in id
//  order, computed by the server, so the uploader and any re-announcement agree.
static int
s_digest (storage_t *self, const char *epoch, const char *zipcode, int64_t *count,
          uint8_t sha [32])
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "SELECT count(*), encode(sha256(convert_to(coalesce(string_agg("
                      "listing_id || E'\\t' || doc::text, E'\\n' ORDER BY listing_id), ''), "
                      "'UTF8')), 'hex') FROM miner_listings WHERE epoch_id = $1 AND zipcode = $2",
                      DB_P (epoch, zipcode), &res);
    if (rc != 0)
        return rc;
    const char *hex = db_result_get (res, 0, 1);
    if (db_result_int64 (res, 0, 0, count) != 0 || !hex || strlen (hex) != 64) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf (hex + 2 * i, "%2x", &v);
        sha [i] = (uint8_t) v;
    }
    db_result_destroy (&res);
    return 0;
}

static void
s_announce (storage_t *self, const char *epoch, const char *zipcode, int64_t count,
            const uint8_t sha [32])
{
    if (!self->announce)
        return;
    proto_zipcode_stored_t msg = { .count = (uint32_t) count,
                                   .stored_at_ms = clock_wall_ms () };
    snprintf (msg.epoch, sizeof msg.epoch, "%s", epoch);
    snprintf (msg.zipcode, sizeof msg.zipcode, "%s", zipcode);
    memcpy (msg.sha256, sha, 32);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    int rc = proto_zipcode_stored_encode (&msg, &sbuf, &err);
    if (rc == 0)
        rc = zmqx_send_sbuf (self->announce, &sbuf, ZMQX_FRAME_MAX_DEFAULT, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&sbuf);
    //  a dropped announcement is recovered by the uploader's ledger sweep
    metrics_inc (metrics_series (self->announced, rc == 0 ? "sent" : "dropped"));
    if (rc != 0)
        log_warn ("zipcode_stored_not_sent", LS ("epoch", epoch), LS ("zipcode", zipcode),
                  LI ("rc", rc));
}

static int
s_refuse (storage_t *self, storage_result_t *result, storage_outcome_t outcome,
          const proto_listing_batch_t *batch, const char *reason)
{
    result->outcome = outcome;
    metrics_inc (metrics_series (self->batches, storage_outcome_name (outcome)));
    log_warn ("batch_refused", LS ("outcome", storage_outcome_name (outcome)),
              LS ("epoch", batch ? batch->epoch : ""), LS ("zipcode", batch ? batch->zipcode : ""),
              LI ("seq", batch ? batch->seq : 0), LS ("reason", reason));
    return 0;
}

//  The transaction. Returns 0 (result filled), RC_RETRY or RC_ERR; on failure rolled back.
static int
s_store (storage_t *self, const proto_listing_batch_t *b, const char *const *texts,
         const char *const *ids, int ngood, storage_result_t *result)
{
    char lease [24], seq [24], received [24], stored [24], rejected [24];
    snprintf (lease, sizeof lease, "%" PRIu64, b->lease_id);
    snprintf (seq, sizeof seq, "%" PRIu32, b->seq);
    db_result_t *res = NULL;
    int rc = db_begin (self->db);
    if (rc != 0)
        return rc;
    rc = db_exec (self->db,
                  "SELECT status, lease_id FROM miner_tasks WHERE epoch_id = $1 AND zipcode = $2 "
                  "FOR NO KEY UPDATE", DB_P (b->epoch, b->zipcode), &res);
    if (rc != 0)
        goto fail;
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        db_rollback (self->db);
        return s_refuse (self, result, STORAGE_UNKNOWN_TASK, b, "no such task");
    }
    const char *status = db_result_get (res, 0, 0);
    const char *task_lease = db_result_get (res, 0, 1);
    storage_outcome_t refuse = STORAGE_STORED;
    if (strcmp (status, "stored") == 0 || strcmp (status, "uploaded") == 0
    ||  strcmp (status, "failed") == 0)
        refuse = STORAGE_CLOSED;
    else
    if (!task_lease || strcmp (task_lease, lease) != 0)
        refuse = STORAGE_STALE_LEASE;       //  superseded, or no lease is current (expired)
    db_result_destroy (&res);
    if (refuse != STORAGE_STORED) {
        db_rollback (self->db);
        return s_refuse (self, result, refuse, b, refuse == STORAGE_CLOSED
                         ? "task is already complete" : "not the task's current lease");
    }
    rc = db_exec (self->db, "CREATE TEMP TABLE IF NOT EXISTS storage_in "
                            "(listing_id text, doc text) ON COMMIT DELETE ROWS", 0, NULL, NULL);
    if (rc == 0)
        rc = db_copy_begin (self->db, "COPY storage_in (listing_id, doc) FROM STDIN", false);
    if (rc != 0)
        goto fail;
    for (int i = 0; i < ngood; i++) {
        const char *row [2] = { ids [i], texts [i] };
        rc = db_copy_row (self->db, 2, row, NULL);
        if (rc == RC_RETRY)
            break;
    }
    if (rc == RC_RETRY) {
        db_copy_abort (self->db, "connection lost");
        goto fail;
    }
    rc = db_copy_end (self->db, NULL);
    if (rc == 0)
        rc = db_exec (self->db,
                      "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) "
                      "SELECT $1, $2, listing_id, doc::jsonb FROM storage_in "
                      "ON CONFLICT DO NOTHING", DB_P (b->epoch, b->zipcode), &res);
    if (rc != 0)
        goto fail;
    result->stored = (int) db_result_affected (res);
    result->duplicates = ngood - result->stored;
    db_result_destroy (&res);
    snprintf (received, sizeof received, "%zu", b->nlistings);
    snprintf (stored, sizeof stored, "%d", result->stored);
    snprintf (rejected, sizeof rejected, "%d", result->rejected);
    rc = db_exec (self->db,
                  "INSERT INTO miner_batches (epoch_id, zipcode, lease_id, seq, final, received, "
                  "stored, rejected) VALUES ($1, $2, $3::bigint, $4::bigint, $5::boolean, "
                  "$6::integer, $7::integer, $8::integer) ON CONFLICT DO NOTHING",
                  DB_P (b->epoch, b->zipcode, lease, seq, b->final ? "true" : "false",
                        received, stored, rejected), &res);
    if (rc != 0)
        goto fail;
    bool fresh = db_result_affected (res) == 1;
    db_result_destroy (&res);
    if (!fresh) {
        //  re-delivered: its listings were already in, the insert above added nothing
        db_rollback (self->db);
        result->outcome = STORAGE_DUPLICATE;
        result->duplicates = ngood;
        result->stored = 0;
        metrics_inc (metrics_series (self->batches, "duplicate"));
        log_info ("batch_duplicate", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                  LI ("seq", b->seq));
        return 0;
    }
    //  complete when this lease's final batch and every seq before it are committed
    rc = db_exec (self->db,
                  "SELECT f.seq, (SELECT count(*) FROM miner_batches c WHERE c.epoch_id = $1 "
                  "AND c.zipcode = $2 AND c.lease_id = $3::bigint AND c.seq <= f.seq) "
                  "FROM miner_batches f WHERE f.epoch_id = $1 AND f.zipcode = $2 "
                  "AND f.lease_id = $3::bigint AND f.final ORDER BY f.seq LIMIT 1",
                  DB_P (b->epoch, b->zipcode, lease), &res);
    if (rc != 0)
        goto fail;
    int64_t final_seq = -1, have = 0;
    if (db_result_rows (res) == 1) {
        db_result_int64 (res, 0, 0, &final_seq);
        db_result_int64 (res, 0, 1, &have);
    }
    db_result_destroy (&res);
    uint8_t sha [32];
    if (final_seq >= 0 && have == final_seq + 1) {
        rc = s_digest (self, b->epoch, b->zipcode, &result->count, sha);
        char count [24];
        snprintf (count, sizeof count, "%" PRId64, result->count);
        if (rc == 0)
            rc = db_exec (self->db,
                          "UPDATE miner_tasks SET status = 'stored', listing_count = $3::integer, "
                          "reason = NULL, updated_at = now() WHERE epoch_id = $1 AND zipcode = $2",
                          DB_P (b->epoch, b->zipcode, count), NULL);
        if (rc != 0)
            goto fail;
        result->complete = true;
    }
    rc = db_commit (self->db);
    if (rc != 0)
        return rc;
    result->outcome = STORAGE_STORED;
    metrics_inc (metrics_series (self->batches, "stored"));
    metrics_add (metrics_series (self->listings, "stored"), result->stored);
    metrics_add (metrics_series (self->listings, "duplicate"), result->duplicates);
    log_info ("batch_stored", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
              LI ("lease", (int64_t) b->lease_id), LI ("seq", b->seq), LB ("final", b->final),
              LI ("received", result->received), LI ("stored", result->stored),
              LI ("duplicates", result->duplicates), LI ("rejected", result->rejected));
    if (result->complete) {
        metrics_inc (metrics_series (self->completed));
        log_info ("zipcode_stored", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                  LI ("listings", result->count));
        s_announce (self, b->epoch, b->zipcode, result->count, sha);
    }
    return 0;
fail:
    db_result_destroy (&res);
    if (db_in_transaction (self->db) || rc == RC_RETRY)
        db_rollback (self->db);
    return rc;
}

int
storage_handle (storage_t *self, const uint8_t *data, size_t size, storage_result_t *result)
{
    assert (self && result);
    memset (result, 0, sizeof *result);
    proto_listing_batch_t batch;
    proto_err_t err;
    if (proto_listing_batch_decode (data, size, &batch, &err) != 0)
        return s_refuse (self, result, STORAGE_MALFORMED, NULL, err.reason);
    result->received = (int) batch.nlistings;

    //  intake validation, before the transaction
    const char **texts = calloc (batch.nlistings + 1, sizeof *texts);
    const char **ids = calloc (batch.nlistings + 1, sizeof *ids);
    size_t need = (batch.nlistings + 1) * (LISTING_ID_MAX + 1);
    if (need > self->ids_cap) {
        free (self->ids);
        self->ids = malloc (need);
        self->ids_cap = need;
    }
    if (!texts || !ids || !self->ids)
        abort ();
    int ngood = 0;
    for (size_t i = 0; i < batch.nlistings; i++) {
        listing_verdict_t verdict;
        listing_reason_t reason = listing_check (batch.listings [i].json, batch.listings [i].len,
                                                 batch.zipcode, &verdict);
        if (reason != LISTING_OK) {
            result->rejected++;
            metrics_inc (metrics_series (self->rejected, listing_reason_name (reason)));
            //  the first few in detail; a batch of garbage must not flood the log
            if (result->rejected <= STORAGE_REJECTS_LOGGED)
                log_warn ("listing_rejected", LS ("epoch", batch.epoch),
                          LS ("zipcode", batch.zipcode), LI ("seq", batch.seq), LI ("index", i),
                          LS ("reason", listing_reason_name (reason)),
                          LS ("detail", verdict.detail));
            continue;
        }
        char *id = self->ids + (size_t) ngood * (LISTING_ID_MAX + 1);
        memcpy (id, verdict.id, sizeof verdict.id);
        ids [ngood] = id;
        texts [ngood] = batch.listings [i].json;
        ngood++;
    }
    if (result->rejected > STORAGE_REJECTS_LOGGED)
        log_warn ("listings_rejected_more", LS ("epoch", batch.epoch),
                  LS ("zipcode", batch.zipcode), LI ("seq", batch.seq),
                  LI ("rejected", result->rejected), LI ("logged", STORAGE_REJECTS_LOGGED));
    int rc = s_store (self, &batch, texts, ids, ngood, result);
    free (texts);
    free (ids);
    if (rc == RC_RETRY)
        log_warn ("batch_retry", LS ("epoch", batch.epoch), LS ("zipcode", batch.zipcode),
                  LI ("seq", batch.seq), LS ("reason", db_error (self->db)));
    else
    if (rc != 0) {
        result->outcome = STORAGE_FAILED;
        metrics_inc (metrics_series (self->batches, "failed"));
        log_error ("batch_failed", LS ("epoch", batch.epoch), LS ("zipcode", batch.zipcode),
                   LI ("seq", batch.seq), LS ("reason", db_error (self->db)));
    }
    proto_listing_batch_free (&batch);
    return rc;
}

int
storage_reannounce (storage_t *self, int *count)
{
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
                      "SELECT t.epoch_id, t.zipcode FROM miner_tasks t LEFT JOIN miner_uploads u "
                      "USING (epoch_id, zipcode) WHERE t.status = 'stored' "
                      "AND (u.state IS NULL OR u.state <> 'uploaded') "
                      "ORDER BY t.updated_at LIMIT 10000", 0, NULL, &res);
    if (rc != 0)
        return rc;
    int n = 0;
    for (int i = 0; i < db_result_rows (res); i++) {
        const char *epoch = db_result_get (res, i, 0);
        const char *zipcode = db_result_get (res, i, 1);
        int64_t listings = 0;
        uint8_t sha [32];
        rc = s_digest (self, epoch, zipcode, &listings, sha);
        if (rc != 0)
            break;
        s_announce (self, epoch, zipcode, listings, sha);
        n++;
    }
    db_result_destroy (&res);
    if (rc == 0)
        log_info ("zipcodes_reannounced", LI ("count", n));
    if (count)
        *count = n;
    return rc;
}
