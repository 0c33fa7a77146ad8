/*  storage: the miner's listing store (DESIGN.md sections 3, 4, 7).

    Takes listing batches (proto listing_batch) from the scrapers, validates every listing
    (common/listing.h: size, schema, types, zipcode == the batch's), and writes the good ones
    into miner_listings, keyed by (epoch, zipcode, listing id), in ONE transaction with the
    batch's bookkeeping row in miner_batches (epoch, zipcode, lease, seq):

        lock the task row;
        INSERT INTO miner_listings ... SELECT ... FROM unnest (ids, docs) ON CONFLICT DO NOTHING
        (the good listings as two array parameters: one round trip);
        INSERT the batch row ON CONFLICT DO NOTHING (0 rows: a re-delivered batch);
        if the lease's final batch and every earlier seq are in: mark the task 'stored'
        with its listing count; COMMIT.

    So a batch delivered twice stores nothing twice, a kill -9 at any point leaves nothing
    partial (PostgreSQL rolls the open transaction back), and a zipcode is complete exactly
    when its final batch and all the batches before it are committed. After the commit of a
    completing batch, storage announces proto zipcode_stored on its announce socket.

    Batches are refused whole (counted by outcome, logged, nothing stored) when they do not
    decode, name a task this node does not have, carry a lease other than the task's current
    one (a superseded lease, or the task has no current lease: it expired and waits to be
    leased again), or arrive for a task already stored, uploaded or failed.
    Bad listings inside a good batch are counted by reason and logged, never stored.

    Three steps, so that the work can run on a thread of its own (writer.h) while the worker
    loop keeps heartbeating:

        storage_batch_new  any thread: decode, validate (CPU: a JSON parse per listing)
        storage_store      the thread owning the db_t: the transaction
        storage_account    loop thread: metrics (rejections by reason, outcome), logs, the
                           zipcode_stored announcement

    The first two touch only their arguments (no metrics registry, no socket; logging is
    thread-safe), so the worker runs both on its database thread and the loop thread does
    almost nothing but receive, hand over and account: under heavy CPU load a busy loop
    thread would miss its heartbeats as surely as a blocked one.

    storage_handle runs the three in a row on one thread (tests, tools).

    Recovery: storage_stored_list (db thread) lists every zipcode that is stored but whose
    upload has not landed, and storage_announce (loop thread) announces one (the uploader's
    ledger makes duplicates harmless); storage_reannounce does both on one thread.

    Ownership: storage_t owns nothing external: the metrics registry and the announce socket
    are borrowed and belong to the loop thread. A storage_batch_t is owned by whoever holds
    it and may be handed from one thread to another.                                          */
#ifndef ZM_STORAGE_H
#define ZM_STORAGE_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"
#include "common/metrics.h"
#include "proto/proto.h"

typedef struct _storage_t storage_t;
typedef struct _storage_batch_t storage_batch_t;

typedef enum {
    STORAGE_STORED = 0,         //  committed (possibly 0 new rows)
    STORAGE_DUPLICATE,          //  this (epoch, zipcode, lease, seq) was committed before
    STORAGE_MALFORMED,          //  did not decode
    STORAGE_UNKNOWN_TASK,       //  no such (epoch, zipcode) task
    STORAGE_STALE_LEASE,        //  not the task's current lease (or none is current)
    STORAGE_CLOSED,             //  task already stored / uploaded / failed
    STORAGE_FAILED              //  the database refused the batch (not transient)
} storage_outcome_t;

#define STORAGE_REASON_MAX 256

typedef struct {
    storage_outcome_t outcome;
    int received;               //  listings in the batch
    int stored;                 //  new rows
    int duplicates;             //  good listings already stored (or repeated in the batch)
    int rejected;               //  listings refused by intake validation
    bool complete;              //  this commit completed the zipcode
    int64_t count;              //  listings of the zipcode, when complete
    uint8_t sha256 [32];        //  digest of the zipcode's stored content, when complete
    char reason [STORAGE_REASON_MAX];   //  why, for a refusal or a failure (or a retry)
} storage_result_t;

//  A zipcode stored and not yet uploaded, with what its announcement carries.
typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    int64_t count;
    uint8_t sha256 [32];
} storage_stored_t;

//  metrics: the process registry (borrowed); announce: a PUSH socket towards the uploader
//  (borrowed; NULL = do not announce). Both are used only by account and announce.
storage_t *storage_new (metrics_t *metrics, zsock_t *announce);
void storage_destroy (storage_t **self_p);

//  Applies the schema migrations. 0, RC_RETRY (database not reachable yet) or RC_ERR
//  (permanent: exit 100).
int storage_prepare (db_t *db);

//  Step 1. Decodes one received frame and validates every listing (the first rejections of
//  a batch logged one by one, then one summary line; counted later by storage_account).
//  Returns the batch to store (caller owns: storage_store, then storage_batch_destroy), or
//  NULL when the frame does not decode: result then says outcome MALFORMED and why (hand
//  it to storage_account with a NULL batch). result is reset here.
storage_batch_t *storage_batch_new (const uint8_t *data, size_t size,
                                    storage_result_t *result);

//  Step 2. The transaction for one batch on db. Uses nothing but db and batch, so it may run
//  on any one thread that owns db. Fills result (reset here) and returns 0 when the batch
//  was dealt with (result->outcome says how), RC_RETRY when the database is unreachable
//  (nothing was stored: call again later with the same batch), or RC_ERR for a batch the
//  database refused for good (outcome FAILED). result->reason says why for anything but
//  STORED.
int storage_store (db_t *db, const storage_batch_t *batch, storage_result_t *result);

//  Step 3. Counts the batch's rejected listings by reason, counts and logs the result of
//  storage_store (rc is what it returned; batch NULL: the frame did not decode), and after
//  a commit that completed the zipcode announces zipcode_stored. Once per batch. Loop
//  thread.
void storage_account (storage_t *self, const storage_batch_t *batch, int rc,
                      const storage_result_t *result);

//  The three steps on the calling thread. Same returns as storage_store (0 for a frame
//  that does not decode, with outcome MALFORMED).
int storage_handle (storage_t *self, db_t *db, const uint8_t *data, size_t size,
                    storage_result_t *result);

//  The batch's identity, for logs. Borrowed from the batch.
const char *storage_batch_epoch (const storage_batch_t *self);
const char *storage_batch_zipcode (const storage_batch_t *self);
uint32_t storage_batch_seq (const storage_batch_t *self);
//  Listings in the batch (good and rejected).
size_t storage_batch_listings (const storage_batch_t *self);

void storage_batch_destroy (storage_batch_t **self_p);

//  Every zipcode stored but not uploaded (at most 10,000, oldest first), with its count and
//  digest. 0 with *list_p (caller owns: free; NULL when none) and *count_p, or RC_RETRY /
//  RC_ERR (nothing returned).
int storage_stored_list (db_t *db, storage_stored_t **list_p, size_t *count_p);

//  Announces one stored zipcode (counted sent / dropped). Loop thread.
void storage_announce (storage_t *self, const storage_stored_t *zipcode);

//  storage_stored_list then storage_announce for each, on the calling thread. 0 (with
//  *count if not NULL) or RC_RETRY.
int storage_reannounce (storage_t *self, db_t *db, int *count);

//  Stable name of an outcome ("stored", "duplicate", ...), for metrics and logs.
const char *storage_outcome_name (storage_outcome_t outcome);

#endif
