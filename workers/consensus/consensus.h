/*  consensus: the validator's last stage (DESIGN.md section 8; README.md beside this file).

    Per epoch, once the downloader has listed it (validator_epochs.listed_at):

      1. drive: per zipcode, the submissions (validator_submissions, not 'skipped') are
         walked in validation order (LastModified, ties by hotkey bytewise). A submission's
         outcome comes only from PostgreSQL: 'rejected' by the downloader or any tier
         failed -> fail (a participant); tier 3 passed -> pass (a winner); tier 3
         unverifiable -> the zipcode is PENDING (left unscored, the miner never blamed);
         otherwise undecided. The walk stops at 3 winners (DECIDED) or at the end
         (DECIDED). Undecided submissions that could still change the winners (at most
         3 - winners of them per zipcode) are requested from the downloader (proto
         submission_ready with db_id) and recorded in validator_consensus_requests; at most
         consensus.inflight.max are undecided and requested at once, and a request is sent
         again after consensus.request.retry.ms.
      2. score: once every zipcode is DECIDED or PENDING, scoring_compute runs over the
         decided zipcodes that have submissions; scores, zipcode weights (with winners),
         our consensus hash and the result document are stored in one transaction.
      3. publish: the document goes to validators/{hotkey}/{epochId}/validation_results/
         {unix_ts}.json (ts chosen when scoring, stored), by PUT.
      4. verdict: consensus.verdict.delay.ms after publishing, the other validators'
         newest result per validator is read (capped), and PERFECT / MAJORITY / FAILED
         with the outliers is stored with their hashes; the weights (our scores) go to
         validator_weights and to consensus.weights_file, in that order.
      5. hook: consensus.hook runs with the weights JSON on stdin (killed after
         consensus.hook.timeout.ms); its exit status is logged and stored.

    Every input of steps 1-2 is durable (no wall clock, nothing in memory only), so a
    consensus restarted at any point yields the same scores and hash.

    Ownership: consensus_t owns its db_t and S3 client; cfg and the request socket are
    borrowed. Not thread-safe.                                                               */
#ifndef ZM_CONSENSUS_H
#define ZM_CONSENSUS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/db.h"
#include "common/metrics.h"
#include "common/wallet.h"

typedef struct _consensus_t consensus_t;

//  Epoch progress, as consensus_step reports it.
typedef enum {
    CONSENSUS_VALIDATING = 1,   //  submissions still undecided
    CONSENSUS_SCORED = 2,       //  scored and stored, not yet published
    CONSENSUS_PUBLISHED = 3,    //  published, waiting for the verdict delay
    CONSENSUS_WEIGHTED = 4,     //  verdict and weights stored, hook running
    CONSENSUS_DONE = 5          //  everything done
} consensus_phase_t;

//  Takes ownership of *db_p. hotkey is our validator hotkey (SS58, [A-Za-z0-9]{1,64}).
//  Results are published per s3.mode: "grant" (default) through the coordinator's
//  validator upload grant (POST /api/v1/s3-access/validator-upload, commitment
//  s3:validator:upload:{ts}, signed by the wallet given to consensus_set_wallet), "direct"
//  with s3.access_key/s3.secret_key. Other validators' results are always listed and read
//  with s3.access_key/s3.secret_key (read-only access to validators/ is enough in grant
//  mode). Returns NULL (logged as config_invalid) when the S3 configuration is unusable (no
//  s3.endpoint, s3.bucket or credentials), grant mode has no coordinator.url, or the
//  hotkey is invalid.
consensus_t *consensus_new (const zm_config_t *cfg, db_t **db_p, const char *hotkey);
void consensus_destroy (consensus_t **self_p);

//  The wallet whose hotkey (the one given to consensus_new) signs grant requests
//  (borrowed; needed in s3.mode=grant: without it publishing fails and is retried).
void consensus_set_wallet (consensus_t *self, const wallet_t *wallet);

//  Where requests go (borrowed PUSH to the downloader's request PULL; NULL = nowhere yet:
//  requests are recorded and sent again after the retry interval).
void consensus_set_requests (consensus_t *self, zsock_t *downloader);

//  Registers the worker's metrics in metrics (borrowed; call once, before the first tick):
//  zipmine_consensus_tier_results_total{verdict}, zipmine_consensus_refused_total,
//  zipmine_consensus_requests_total, zipmine_consensus_epochs_scored_total,
//  zipmine_consensus_pending_zipcodes (last scored epoch), zipmine_consensus_verdicts_total
//  {verdict}, zipmine_consensus_hook_runs_total{result: ok|failed|timeout}. Without it,
//  nothing is counted.
void consensus_set_metrics (consensus_t *self, metrics_t *metrics);

//  Applies the schema migrations: 0, RC_RETRY, or RC_ERR (permanent).
int consensus_prepare (consensus_t *self);

//  One tier_result frame. It is stored in validator_tier_results (keyed by submission and
//  tier; a definitive verdict is never replaced by a later "unverifiable"). Malformed frames,
//  or results naming no known submission, are logged and dropped: 0. RC_RETRY (database).
int consensus_handle (consensus_t *self, const uint8_t *data, size_t size);

//  Advances one epoch as far as it can now. Returns its consensus_phase_t, RC_RETRY
//  (database or S3 transient: call again later), or RC_ERR (unknown epoch, or an epoch
//  that cannot be scored: logged).
int consensus_step (consensus_t *self, const char *epoch);

//  What the worker calls every tick: steps every listed epoch not yet done, oldest first.
void consensus_tick (consensus_t *self);

//  Our stored consensus hash for the epoch: 0, or -1 when not scored yet.
int consensus_hash (consensus_t *self, const char *epoch, char hex [65]);

#endif
