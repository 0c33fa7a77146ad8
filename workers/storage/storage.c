/*  storage: validate listing batches, store them idempotently, announce complete zipcodes.

    Invariants:
      - everything a batch writes (listings, its miner_batches row, the task's 'stored' mark)
        is in one transaction: committed whole or not at all;
      - a zipcode_stored announcement is sent only after the commit that made it true;
      - nothing from the wire reaches SQL text: values are parameters or COPY rows;
      - storage_store and storage_stored_list touch only their db_t and their arguments, so
        they run on the database thread (writer.c); the storage_t (metrics registry, announce
        socket) is only ever used by the loop thread.                                       */
#include "workers/storage/storage.h"
#include "common/clock.h"
#include "common/listing.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/strbuf.h"
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
    zsock_t *announce;              //  borrowed
    metrics_family_t *batches;      //  {outcome}
    metrics_family_t *listings;     //  {result}: stored, duplicate
    metrics_family_t *rejected;     //  {reason}
    metrics_family_t *completed;
    metrics_family_t *announced;    //  {result}: sent, dropped
};

//  A decoded batch and its good listings, ready for the transaction.
struct _storage_batch_t {
    proto_listing_batch_t batch;    //  decoded (owns the listing texts)
    const char **texts;             //  ngood pointers into batch's texts
    char (*ids) [LISTING_ID_MAX + 1];   //  ngood listing keys
    int ngood;
    int rejected;
    int rejects [LISTING_REASONS];  //  by listing_reason_t
};

const char *
storage_outcome_name (storage_outcome_t outcome)
{
    if ((int) outcome < 0 || (int) outcome >= STORAGE_OUTCOMES)
        return "unknown";
    return s_outcome_names [outcome];
}

storage_t *
storage_new (metrics_t *metrics, zsock_t *announce)
{
    assert (metrics);
    storage_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
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
    free (self);
    *self_p = NULL;
}

int
storage_prepare (db_t *db)
{
    return db_migrate (db);
}

const char *
storage_batch_epoch (const storage_batch_t *self)
{
    return self->batch.epoch;
}

const char *
storage_batch_zipcode (const storage_batch_t *self)
{
    return self->batch.zipcode;
}

uint32_t
storage_batch_seq (const storage_batch_t *self)
{
    return self->batch.seq;
}

size_t
storage_batch_listings (const storage_batch_t *self)
{
    return self->batch.nlistings;
}

void
storage_batch_destroy (storage_batch_t **self_p)
{
    assert (self_p);
    storage_batch_t *self = *self_p;
    if (!self)
        return;
    proto_listing_batch_free (&self->batch);
    free (self->texts);
    free (self->ids);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------------------
//  Step 1: decode and validate (any thread: no metrics, no sockets)

storage_batch_t *
storage_batch_new (const uint8_t *data, size_t size, storage_result_t *result)
{
    assert (result);
    memset (result, 0, sizeof *result);
    storage_batch_t *sb = calloc (1, sizeof *sb);
    if (!sb)
        abort ();
    proto_err_t err;
    if (proto_listing_batch_decode (data, size, &sb->batch, &err) != 0) {
        free (sb);
        result->outcome = STORAGE_MALFORMED;
        snprintf (result->reason, sizeof result->reason, "%s", err.reason);
        return NULL;
    }
    const proto_listing_batch_t *b = &sb->batch;
    result->received = (int) b->nlistings;
    sb->texts = calloc (b->nlistings + 1, sizeof *sb->texts);
    sb->ids = calloc (b->nlistings + 1, sizeof *sb->ids);
    if (!sb->texts || !sb->ids)
        abort ();
    for (size_t i = 0; i < b->nlistings; i++) {
        listing_verdict_t verdict;
        listing_reason_t reason = listing_check (b->listings [i].json, b->listings [i].len,
                                                 b->zipcode, &verdict);
        if (reason != LISTING_OK) {
            sb->rejected++;
            if ((int) reason > 0 && (int) reason < LISTING_REASONS)
                sb->rejects [reason]++;
            //  the first few in detail; a batch of garbage must not flood the log
            if (sb->rejected <= STORAGE_REJECTS_LOGGED)
                log_warn ("listing_rejected", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                          LI ("seq", b->seq), LI ("index", (int64_t) i),
                          LS ("reason", listing_reason_name (reason)),
                          LS ("detail", verdict.detail));
            continue;
        }
        memcpy (sb->ids [sb->ngood], verdict.id, sizeof verdict.id);
        sb->texts [sb->ngood] = b->listings [i].json;
        sb->ngood++;
    }
    if (sb->rejected > STORAGE_REJECTS_LOGGED)
        log_warn ("listings_rejected_more", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                  LI ("seq", b->seq), LI ("rejected", sb->rejected),
                  LI ("logged", STORAGE_REJECTS_LOGGED));
    result->rejected = sb->rejected;
    return sb;
}

//  ---------------------------------------------------------------------------------------
//  Step 2: the transaction (database thread)

//  Count and SHA-256 of what is stored for a zipcode: sha256 over "id\tdoc\n" lines in id
//  order, computed by the server, so the uploader and any re-announcement agree.
static int
s_digest (db_t *db, const char *epoch, const char *zipcode, int64_t *count, uint8_t sha [32])
{
    db_result_t *res = NULL;
    int rc = db_exec (db,
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

//  A PostgreSQL array literal of n strings: {"a","b"} with '"' and '\\' escaped. The strings
//  are either n fixed-size NUL-terminated slots of `stride` bytes at `slots`, or `texts`.
//  Caller owns.
static char *
s_array (const void *slots, size_t stride, const char *const *texts, int n)
{
    strbuf_t buf = STRBUF_INIT;
    strbuf_addc (&buf, '{');
    for (int i = 0; i < n; i++) {
        const char *v = texts ? texts [i] : (const char *) slots + (size_t) i * stride;
        if (i)
            strbuf_addc (&buf, ',');
        strbuf_addc (&buf, '"');
        for (const char *p = v; *p; ) {
            size_t run = strcspn (p, "\\\"");
            strbuf_addn (&buf, p, run);
            p += run;
            if (*p) {
                strbuf_addc (&buf, '\\');
                strbuf_addc (&buf, *p++);
            }
        }
        strbuf_addc (&buf, '"');
    }
    strbuf_addc (&buf, '}');
    return strbuf_take (&buf);
}

static int
s_refused (db_t *db, storage_result_t *result, storage_outcome_t outcome, const char *reason)
{
    db_rollback (db);
    result->outcome = outcome;
    snprintf (result->reason, sizeof result->reason, "%s", reason);
    return 0;
}

int
storage_store (db_t *db, const storage_batch_t *sb, storage_result_t *result)
{
    assert (db && sb && result);
    memset (result, 0, sizeof *result);
    const proto_listing_batch_t *b = &sb->batch;
    result->received = (int) b->nlistings;
    result->rejected = sb->rejected;
    char lease [24], seq [24], received [24], stored [24], rejected [24];
    snprintf (lease, sizeof lease, "%" PRIu64, b->lease_id);
    snprintf (seq, sizeof seq, "%" PRIu32, b->seq);
    db_result_t *res = NULL;
    int rc = db_begin (db);
    if (rc != 0)
        goto fail;
    rc = db_exec (db,
                  "SELECT status, lease_id FROM miner_tasks WHERE epoch_id = $1 AND zipcode = $2 "
                  "FOR NO KEY UPDATE", DB_P (b->epoch, b->zipcode), &res);
    if (rc != 0)
        goto fail;
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        return s_refused (db, result, STORAGE_UNKNOWN_TASK, "no such task");
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
    if (refuse != STORAGE_STORED)
        return s_refused (db, result, refuse, refuse == STORAGE_CLOSED
                          ? "task is already complete" : "not the task's current lease");
    //  the good listings in one statement: two array parameters, unnested side by side
    //  (one round trip instead of a temp table, a COPY and an INSERT ... SELECT)
    char *ids = s_array (sb->ids, sizeof sb->ids [0], NULL, sb->ngood);
    char *docs = s_array (NULL, 0, sb->texts, sb->ngood);
    rc = db_exec (db,
                  "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) "
                  "SELECT $1, $2, u.id, u.doc::jsonb FROM unnest ($3::text[], $4::text[]) "
                  "AS u (id, doc) ON CONFLICT DO NOTHING",
                  DB_P (b->epoch, b->zipcode, ids, docs), &res);
    free (ids);
    free (docs);
    if (rc != 0)
        goto fail;
    result->stored = (int) db_result_affected (res);
    result->duplicates = sb->ngood - result->stored;
    db_result_destroy (&res);
    snprintf (received, sizeof received, "%zu", b->nlistings);
    snprintf (stored, sizeof stored, "%d", result->stored);
    snprintf (rejected, sizeof rejected, "%d", result->rejected);
    rc = db_exec (db,
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
        result->duplicates = sb->ngood;
        result->stored = 0;
        return s_refused (db, result, STORAGE_DUPLICATE, "batch committed before");
    }
    //  complete when this lease's final batch and every seq before it are committed
    rc = db_exec (db,
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
    if (final_seq >= 0 && have == final_seq + 1) {
        rc = s_digest (db, b->epoch, b->zipcode, &result->count, result->sha256);
        char count [24];
        snprintf (count, sizeof count, "%" PRId64, result->count);
        if (rc == 0)
            rc = db_exec (db,
                          "UPDATE miner_tasks SET status = 'stored', listing_count = $3::integer, "
                          "reason = NULL, updated_at = now() WHERE epoch_id = $1 AND zipcode = $2",
                          DB_P (b->epoch, b->zipcode, count), NULL);
        if (rc != 0)
            goto fail;
        result->complete = true;
    }
    rc = db_commit (db);
    if (rc != 0)
        goto fail;
    result->outcome = STORAGE_STORED;
    return 0;
fail:
    db_result_destroy (&res);
    snprintf (result->reason, sizeof result->reason, "%s", db_error (db));
    if (db_in_transaction (db) || rc == RC_RETRY)
        db_rollback (db);
    result->complete = false;
    result->stored = 0;
    result->duplicates = 0;
    if (rc != RC_RETRY) {
        rc = RC_ERR;
        result->outcome = STORAGE_FAILED;
    }
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Step 3: accounting and announcements (loop thread)

void
storage_announce (storage_t *self, const storage_stored_t *z)
{
    assert (self && z);
    if (!self->announce)
        return;
    proto_zipcode_stored_t msg = { .count = (uint32_t) z->count,
                                   .stored_at_ms = clock_wall_ms () };
    snprintf (msg.epoch, sizeof msg.epoch, "%s", z->epoch);
    snprintf (msg.zipcode, sizeof msg.zipcode, "%s", z->zipcode);
    memcpy (msg.sha256, z->sha256, 32);
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
        log_warn ("zipcode_stored_not_sent", LS ("epoch", z->epoch), LS ("zipcode", z->zipcode),
                  LI ("rc", rc));
}

void
storage_account (storage_t *self, const storage_batch_t *sb, int rc,
                 const storage_result_t *result)
{
    assert (self && result);
    if (!sb) {
        metrics_inc (metrics_series (self->batches, "malformed"));
        log_warn ("batch_refused", LS ("outcome", "malformed"), LS ("epoch", ""),
                  LS ("zipcode", ""), LI ("seq", 0), LS ("reason", result->reason));
        return;
    }
    const proto_listing_batch_t *b = &sb->batch;
    for (int r = 1; r < LISTING_REASONS; r++)
        if (sb->rejects [r])
            metrics_add (metrics_series (self->rejected,
                                         listing_reason_name ((listing_reason_t) r)),
                         sb->rejects [r]);
    if (rc == RC_RETRY) {
        log_warn ("batch_retry", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                  LI ("seq", b->seq), LS ("reason", result->reason));
        return;
    }
    const char *outcome = storage_outcome_name (result->outcome);
    metrics_inc (metrics_series (self->batches, outcome));
    switch (result->outcome) {
        case STORAGE_STORED:
            break;
        case STORAGE_DUPLICATE:
            log_info ("batch_duplicate", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                      LI ("seq", b->seq));
            return;
        case STORAGE_FAILED:
            log_error ("batch_failed", LS ("epoch", b->epoch), LS ("zipcode", b->zipcode),
                       LI ("seq", b->seq), LS ("reason", result->reason));
            return;
        default:
            log_warn ("batch_refused", LS ("outcome", outcome), LS ("epoch", b->epoch),
                      LS ("zipcode", b->zipcode), LI ("seq", b->seq),
                      LS ("reason", result->reason));
            return;
    }
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
        storage_stored_t z = { .count = result->count };
        snprintf (z.epoch, sizeof z.epoch, "%s", b->epoch);
        snprintf (z.zipcode, sizeof z.zipcode, "%s", b->zipcode);
        memcpy (z.sha256, result->sha256, 32);
        storage_announce (self, &z);
    }
}

int
storage_handle (storage_t *self, db_t *db, const uint8_t *data, size_t size,
                storage_result_t *result)
{
    assert (self && db && result);
    storage_batch_t *sb = storage_batch_new (data, size, result);
    if (!sb) {
        storage_account (self, NULL, 0, result);
        return 0;
    }
    int rc = storage_store (db, sb, result);
    storage_account (self, sb, rc, result);
    storage_batch_destroy (&sb);
    return rc;
}

//  ---------------------------------------------------------------------------------------
//  Recovery

int
storage_stored_list (db_t *db, storage_stored_t **list_p, size_t *count_p)
{
    assert (db && list_p && count_p);
    *list_p = NULL;
    *count_p = 0;
    db_result_t *res = NULL;
    int rc = db_exec (db,
                      "SELECT t.epoch_id, t.zipcode FROM miner_tasks t LEFT JOIN miner_uploads u "
                      "USING (epoch_id, zipcode) WHERE t.status = 'stored' "
                      "AND (u.state IS NULL OR u.state <> 'uploaded') "
                      "ORDER BY t.updated_at LIMIT 10000", 0, NULL, &res);
    if (rc != 0)
        return rc;
    int rows = db_result_rows (res);
    storage_stored_t *list = rows > 0 ? calloc ((size_t) rows, sizeof *list) : NULL;
    if (rows > 0 && !list)
        abort ();
    size_t n = 0;
    for (int i = 0; i < rows && rc == 0; i++) {
        const char *epoch = db_result_get (res, i, 0);
        const char *zipcode = db_result_get (res, i, 1);
        //  the schema bounds both columns; a row that does not fit is not announceable
        if (!epoch || !zipcode || strlen (epoch) > PROTO_EPOCH_LEN
        ||  strlen (zipcode) != PROTO_ZIPCODE_LEN)
            continue;
        storage_stored_t *z = &list [n];
        snprintf (z->epoch, sizeof z->epoch, "%s", epoch);
        snprintf (z->zipcode, sizeof z->zipcode, "%s", zipcode);
        rc = s_digest (db, epoch, zipcode, &z->count, z->sha256);
        if (rc == 0)
            n++;
    }
    db_result_destroy (&res);
    if (rc != 0) {
        free (list);
        return rc;
    }
    *list_p = list;
    *count_p = n;
    return 0;
}

int
storage_reannounce (storage_t *self, db_t *db, int *count)
{
    storage_stored_t *list = NULL;
    size_t n = 0;
    int rc = storage_stored_list (db, &list, &n);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            storage_announce (self, &list [i]);
        log_info ("zipcodes_reannounced", LI ("count", (int64_t) n));
    }
    free (list);
    if (count)
        *count = (int) n;
    return rc;
}
