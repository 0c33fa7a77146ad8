/*  tier: what the three validation tiers share (DESIGN.md section 8; README.md beside this
    file). Each tier is a tier_t with its own check function:

        PULL submission_ready (db_id) -> load the submission from PostgreSQL by db_id
        -> a result already stored in validator_tier_results for (submission, tier) is
           re-sent as stored, never recomputed (tier 3's "unverifiable" is the one exception:
           it is not a verdict on the miner, so the submission is checked again)
        -> else run the check, store the outcome (INSERT ... ON CONFLICT: the first stored
           verdict wins, so two instances of a pool cannot disagree), read back what is stored
        -> PUSH tier_result to consensus, and on "pass" the submission_ready to the next tier.

    The row is the truth: what is sent is always what is stored, metrics in ascending name
    order, so a restarted tier sends byte-identical messages. Delivery is at least once; a
    transient database failure puts the db_id on a bounded retry list worked off by
    tier_retry from the worker's tick.

    tier_worker_run runs the judging on a work thread of its own (the loop thread only
    receives, queues and sends), so a check that takes many heartbeat periods (a locked
    table, a slow property source) never silences the worker.

    Ownership: tier_t owns its db_t; the output sockets are borrowed. A tier_t is used by
    one thread at a time (tier_worker_run hands it to its work thread).                      */
#ifndef ZM_TIER_H
#define ZM_TIER_H

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"

//  One submission as the tiers see it (validator_submissions joined with its epoch).
typedef struct {
    int64_t id;
    char epoch [PROTO_EPOCH_LEN + 1];
    char s3_key [PROTO_S3_KEY_MAX + 1];
    char hotkey [PROTO_HOTKEY_MAX + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    char last_modified [PROTO_LAST_MODIFIED_MAX + 1];   //  verbatim, seeds tier 3
    char nonce [128];                   //  the epoch's nonce
    int64_t deadline_ms;                //  the epoch's submission deadline, unix ms
    int64_t expected;                   //  the zipcode's expected listings, -1 if unknown
    int64_t count;                      //  listings stored for it
    int64_t size;                       //  object bytes
} tier_sub_t;

//  A tier's verdict before it is stored.
typedef struct {
    proto_verdict_t verdict;
    char reason [PROTO_REASON_MAX + 1];
    size_t nmetrics;                    //  kept in ascending name order
    proto_tier_metric_t metrics [PROTO_TIER_METRICS_MAX];
} tier_outcome_t;

//  Adds (or replaces) a metric, keeping names sorted. name must be a valid metric name and
//  value finite (asserted: programmer errors); at most PROTO_TIER_METRICS_MAX names.
void tier_outcome_metric (tier_outcome_t *self, const char *name, double value);
//  The metric's value, or NaN when absent.
double tier_outcome_get (const tier_outcome_t *self, const char *name);

//  A check: fills out for sub. Returns 0, or RC_RETRY (database: try later; nothing stored).
typedef int (tier_check_fn) (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out);

typedef struct _tier_t tier_t;

//  tier 1..3. Takes ownership of *db_p. Never NULL.
tier_t *tier_new (int tier, db_t **db_p, tier_check_fn *check, void *arg);
void tier_destroy (tier_t **self_p);

db_t *tier_db (tier_t *self);

//  Registers the tier's metrics in metrics (borrowed; must outlive self):
//  zipmine_tier_results_total{tier,verdict,how} (how: checked | resent) and
//  zipmine_tier_errors_total{tier} (transient database failures, retried). Without this
//  call nothing is counted.
void tier_set_metrics (tier_t *self, metrics_t *metrics);

//  Borrowed PUSH sockets (NULL = nowhere).
void tier_set_outputs (tier_t *self, zsock_t *next, zsock_t *consensus);

//  Applies the schema migrations: 0, RC_RETRY, or RC_ERR (permanent).
int tier_prepare (tier_t *self);

//  Loads submission id. Returns 0, RC_ERR (no such submission, or not downloaded: its
//  listings are not stored) or RC_RETRY.
int tier_load (db_t *db, int64_t id, tier_sub_t *out);

//  Judges submission id (see the top comment) and sends the outcome. result (may be NULL)
//  gets the tier_result sent. Returns 0, RC_ERR (no such downloaded submission: dropped) or
//  RC_RETRY (database; nothing sent).
int tier_process (tier_t *self, int64_t id, proto_tier_result_t *result);

//  One submission_ready frame: decoded (malformed frames are logged and dropped), processed;
//  a transient failure queues the id for tier_retry. Returns 0.
int tier_handle (tier_t *self, const uint8_t *data, size_t size);

//  Works off the retry list. Returns how many are still pending.
size_t tier_retry (tier_t *self);

//  The whole worker process for a tier: db from db.dsn, PULL on in_ep, PUSH to next_ep
//  ("" = none) and to tiers.consensus.endpoint, ready once the migrations are applied.
//  Endpoints carry their bind/connect prefix ('@' or '>') before the stage name.
//
//  Threads: the loop thread (heartbeats, signals) receives submission_ready frames,
//  decodes the db_id and queues it for one work thread (at most 4 queued besides the one in
//  hand; the PULL is not read while the queue is full), and sends what the work thread
//  produced (one frame per call, waiting at most min (heartbeat.ms / 2, 1 s)). The
//  work thread owns the tier_t: the migrations, tier_process, the retry list. check and
//  arg are only ever used on the work thread. Metrics: zipmine_tier_queued_submissions
//  {tier} besides tier_set_metrics's.
//
//  Drain (SIGTERM): intake stops, queued submissions not yet started are dropped (announced
//  again on consensus's request, like unread frames), the one in hand is finished. When
//  give_up_ms is not NULL it is set to the monotonic time (clock_mono_ms) by which that
//  check must be over to stay inside shutdown.budget.ms: a check made of steps (tier 3's
//  lookups) stops before a step that would end past it and returns RC_RETRY (nothing is
//  stored). It is set to now when the loop ends for any other reason. If the work thread
//  is still blocked when the loop has ended (a database call: 100 ms after a drain, which
//  leaves the runtime's margin of the budget, else 500 ms), the process _exits with the
//  exit code (event tier_thread_abandoned) rather than free what the thread uses.
//  Returns the process exit code.
int tier_worker_run (worker_t *worker, int tier, const char *in_ep, const char *next_ep,
                     tier_check_fn *check, void *arg, atomic_llong *give_up_ms);

#endif
