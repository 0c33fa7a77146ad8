/*  writer: the storage worker's database thread.

    A COPY of a big batch, a lock wait or a slow disk can keep a transaction busy for seconds;
    on the worker loop's thread that would stop heartbeats and get the worker killed as hung
    (docs/worker-runtime.md). Validating a batch (a JSON parse per listing) is CPU work that,
    on a loaded machine, can delay the loop past its heartbeat as well. So the storage worker
    does both here, on one thread that owns the libpq connection, and the loop only hands
    frames over and takes results back:

        loop thread                               writer thread (owns the db_t)
        writer_submit (frame copied)     ---->    storage_prepare (once, retried), then
                                                  storage_stored_list (once); then per frame,
                                                  in order: storage_batch_new, storage_store
                                                  (retried every WRITER_RETRY_MS while the
                                                  database is away)
        writer_next <- (eventfd readable) <----   the result, with the batch handed back
        storage_account

    Bounded: at most inflight_max batches are between writer_submit and writer_next (queued,
    being stored, or done and not yet collected); writer_full says when to stop reading the
    PULL socket, so ZeroMQ's high-water marks push back on the scrapers and memory stays
    bounded by inflight_max frames (and their decoded copies).

    Draining: after writer_drain, a batch that meets an unreachable database is tried once
    more and then handed back with RC_RETRY (not retried for ever), so a drain ends.

    Threads: writer_new, writer_submit, writer_next, writer_full, writer_inflight,
    writer_drain and writer_destroy are called from the one loop thread; the queue between
    the two threads is a mutex-protected list and an eventfd wakes the loop (register
    writer_fd with worker_add_fd). Nothing but the db_t and the batches it is handed is used
    on the writer thread: no metrics registry, no ZeroMQ socket. Logging is thread-safe
    (one write(2) per line).                                                                */
#ifndef ZM_STORAGE_WRITER_H
#define ZM_STORAGE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "workers/storage/storage.h"

#define WRITER_RETRY_MS 250

typedef struct _writer_t writer_t;

typedef enum {
    WRITER_PREPARED = 1,        //  migrations done (rc 0) or failed for good (rc RC_ERR)
    WRITER_BATCH = 2            //  a batch's transaction is over (rc as storage_store)
} writer_event_kind_t;

typedef struct {
    writer_event_kind_t kind;
    int rc;
    //  WRITER_BATCH: the batch handed back (caller owns: storage_batch_destroy; NULL when the
    //  frame did not decode: result says MALFORMED) and its result
    storage_batch_t *batch;
    storage_result_t result;
    //  WRITER_PREPARED, rc 0: zipcodes stored and not uploaded (caller owns: free; NULL when
    //  none, or when listing them failed: nstored_rc says so)
    storage_stored_t *stored;
    size_t nstored;
    int nstored_rc;
    //  WRITER_PREPARED, rc != 0: why
    char reason [STORAGE_REASON_MAX];
} writer_event_t;

//  Takes ownership of *db_p (nulls it) and starts the thread, which connects, applies the
//  migrations (retrying every WRITER_RETRY_MS while the database is unreachable) and posts
//  WRITER_PREPARED. inflight_max >= 1. Returns NULL (logged) when the thread or the eventfd
//  cannot be created; *db_p is then left to the caller.
writer_t *writer_new (db_t **db_p, size_t inflight_max);

//  Stops the thread: it finishes the statement in hand and ends. Waits at most wait_ms for
//  it; if it has not ended by then (a statement blocked in the server) the thread is left
//  to die with the process (logged storage_writer_abandoned) and its memory is not freed.
//  Batches not handed back are freed. Nulls *self_p; no-op on NULL.
void writer_destroy (writer_t **self_p, int64_t wait_ms);

//  Readable when events are waiting (an eventfd; writer_next clears it).
int writer_fd (writer_t *self);

//  Hands a received frame (copied) to the thread. Returns 0, or -1 when inflight_max
//  batches are already in flight (nothing taken).
int writer_submit (writer_t *self, const uint8_t *data, size_t size);

//  True when writer_submit would refuse.
bool writer_full (writer_t *self);

//  Batches submitted and not yet returned by writer_next.
size_t writer_inflight (writer_t *self);

//  Takes the next event, in the order they happened. Returns true with *event filled, or
//  false when there is none. Call until false whenever writer_fd is readable.
bool writer_next (writer_t *self, writer_event_t *event);

//  From now on, a batch the database cannot take is handed back (RC_RETRY) after one more
//  try instead of being retried. Idempotent.
void writer_drain (writer_t *self);

#endif
