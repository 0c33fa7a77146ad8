/*  storage: the miner's listing store (DESIGN.md sections 3, 4, 7).

    Takes listing batches (proto listing_batch) from the scrapers, validates every listing
    (common/listing.h: size, schema, types, zipcode == the batch's), and writes the good ones
    into miner_listings, keyed by (epoch, zipcode, listing id), in ONE transaction with the
    batch's bookkeeping row in miner_batches (epoch, zipcode, lease, seq):

        lock the task row; COPY the good listings into a session temp table;
        INSERT INTO miner_listings ... SELECT ... ON CONFLICT DO NOTHING;
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

    Recovery: storage_reannounce announces every zipcode that is stored but whose upload has
    not landed (the uploader's ledger makes duplicates harmless).

    Ownership: storage_t owns its db_t; the announce socket is borrowed.                    */
#ifndef ZM_STORAGE_H
#define ZM_STORAGE_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"
#include "common/metrics.h"

typedef struct _storage_t storage_t;

typedef enum {
    STORAGE_STORED = 0,         //  committed (possibly 0 new rows)
    STORAGE_DUPLICATE,          //  this (epoch, zipcode, lease, seq) was committed before
    STORAGE_MALFORMED,          //  did not decode
    STORAGE_UNKNOWN_TASK,       //  no such (epoch, zipcode) task
    STORAGE_STALE_LEASE,        //  not the task's current lease (or none is current)
    STORAGE_CLOSED,             //  task already stored / uploaded / failed
    STORAGE_FAILED              //  the database refused the batch (not transient)
} storage_outcome_t;

typedef struct {
    storage_outcome_t outcome;
    int received;               //  listings in the batch
    int stored;                 //  new rows
    int duplicates;             //  good listings already stored (or repeated in the batch)
    int rejected;               //  listings refused by intake validation
    bool complete;              //  this commit completed the zipcode
    int64_t count;              //  listings of the zipcode, when complete
} storage_result_t;

//  Takes ownership of *db_p (nulls it). metrics: the process registry (borrowed);
//  announce: a PUSH socket towards the uploader (borrowed; NULL = do not announce).
storage_t *storage_new (db_t **db_p, metrics_t *metrics, zsock_t *announce);
void storage_destroy (storage_t **self_p);

//  Applies the schema migrations. 0, RC_RETRY (database not reachable yet) or RC_ERR
//  (permanent: exit 100).
int storage_prepare (storage_t *self);

//  Handles one received frame. Returns 0 when the batch was dealt with (result says how),
//  RC_RETRY when the database is unreachable (nothing was stored: hand the same frame in
//  again later), or RC_ERR for a batch the database refused for good (outcome FAILED).
int storage_handle (storage_t *self, const uint8_t *data, size_t size,
                    storage_result_t *result);

//  Announces every zipcode stored but not uploaded. 0 (with *count if not NULL) or RC_RETRY.
int storage_reannounce (storage_t *self, int *count);

//  Stable name of an outcome ("stored", "duplicate", ...), for metrics and logs.
const char *storage_outcome_name (storage_outcome_t outcome);

#endif
