/*  uploader: one S3 object per stored zipcode, at once, exactly once (DESIGN.md sections 5, 6).

    For a zipcode storage marked 'stored', the uploader builds the submission object from
    PostgreSQL (the truth), at

        data/hotkey={hotkey}/epoch={epochId}/zipcode={zip}/data_{YYYYmmdd_HHMMSS}.json
        {"epoch_id","zipcode","miner_hotkey","submission_timestamp","listing_count",
         "listings":[…]}                       (listings in listing-id order)

    and uploads it: through a presigned POST grant from the coordinator (s3.mode=grant, the
    default: POST /get-folder-access signed by the hotkey; the grant is cached per epoch and
    fetched again when refused or expired) or with its own credentials (s3.mode=direct).

    The ledger (miner_uploads) makes it exactly-once across crashes:
      1. intent: a row in state 'uploading' with the exact key, submission time, SHA-256,
         size and count is committed BEFORE the first byte goes out;
      2. landed: after S3 accepted the object, the row becomes 'uploaded' and the task
         'uploaded', in one transaction. A landed zipcode is never uploaded again.
      3. restart: an intent without landing is resolved with HEAD (direct mode: present
         with the ledger's size = landed) or uploaded again with the SAME key and the same
         body (rebuilt from the same rows and submission time).
    A periodic sweep of miner_tasks/miner_uploads picks up every stored zipcode not landed,
    so a zipcode_stored message lost in transit delays an upload by at most one sweep.
    Transient failures (S3 or coordinator down, 5xx, 429) back off (1 s doubling to 30 s);
    an epoch whose submission deadline passed before its grant could be had is marked
    'failed' in the ledger (nothing can be uploaded for it any more).

    Status reports (POST /api/v1/zipcode-assignments/status, signed): IN_PROGRESS with the
    listings stored and the zipcodes landed, when progress was made and at most every
    uploader.status.interval.ms; then one final report: COMPLETED once every assigned
    zipcode of the epoch landed; FAILED once every task is settled (uploaded or failed) and
    some failed; TIMEOUT once the submission deadline passed with zipcodes neither landed
    nor failed. The last accepted report is kept in miner_epochs, so a final one is sent
    once (across restarts); failures back off; a refused final report is retried at most
    every uploader.status.interval.ms.

    All calls are blocking with bounded timeouts (s3.timeout.ms, http.timeout.ms); one call
    at a time. Not thread-safe, except uploader_metrics_flush, uploader_outage and
    uploader_request_stop,
    which may be called from another thread than the one running the uploader (the worker
    runs the uploader on its own thread so that a slow S3 call never delays heartbeats).
    Ownership: uploader_t owns its db_t; cfg and wallet are borrowed.                        */
#ifndef ZM_UPLOADER_H
#define ZM_UPLOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/db.h"
#include "common/metrics.h"
#include "common/wallet.h"

typedef struct _uploader_t uploader_t;

//  Takes ownership of *db_p. wallet signs grant and status requests and names the hotkey
//  (its address under cfg->ss58_prefix); coldkey is the SS58 coldkey put in the grant
//  commitment ("" when unknown: the coordinator's metagraph must then have none).
//  Returns NULL on an unusable S3 configuration (direct mode without endpoint/bucket).
uploader_t *uploader_new (const zm_config_t *cfg, db_t **db_p, const wallet_t *wallet,
                          const char *coldkey, metrics_t *metrics);
void uploader_destroy (uploader_t **self_p);

//  Applies the schema migrations: 0, RC_RETRY, or RC_ERR (permanent).
int uploader_prepare (uploader_t *self);

//  One zipcode_stored frame: uploads that zipcode now (unless backing off, in which case
//  the sweep will). Returns 0 (landed, already landed, or malformed frame dropped),
//  RC_RETRY (transient failure, retried later) or RC_ERR (permanent for this zipcode).
int uploader_handle (uploader_t *self, const uint8_t *data, size_t size);

//  Uploads one zipcode through the ledger (see above). Same returns as uploader_handle.
int uploader_upload (uploader_t *self, const char *epoch, const char *zipcode);

//  Uploads every stored zipcode that has not landed (at most 100 per call), stopping at the
//  first transient failure. Returns the number landed, or RC_RETRY.
int uploader_sweep (uploader_t *self);

//  Sends the status reports that are due. Returns the number accepted, or RC_RETRY.
int uploader_report (uploader_t *self);

//  The status an epoch is reported in, from its task counts: COMPLETED when every task
//  landed; FAILED when every task is settled (landed or failed) and some failed; TIMEOUT
//  when the submission deadline passed with tasks neither landed nor failed; else
//  IN_PROGRESS. (Static string.)
const char *uploader_status_for (int64_t tasks, int64_t uploaded, int64_t failed,
                                 bool past_deadline);

//  What the loop calls every tick: sweep when due and not backing off; at most once a
//  second, send the status reports that are due.
void uploader_tick (uploader_t *self);

//  Copies the uploader's counters into the metrics registry given to uploader_new. The
//  uploader itself never touches the registry after uploader_new, so it may run on another
//  thread than the one that renders the registry (call this from that one).
void uploader_metrics_flush (uploader_t *self);

//  Dependency health, for the worker's readiness (worker_degraded / worker_recovered): the
//  outcome of the last call to each dependency. S3 is down when an upload failed (network,
//  5xx, another refusal than a stale grant's 403); the coordinator when a grant or status
//  call could not be made or failed with 5xx, or a grant was malformed (409, 429 and other
//  4xx are answers, not outages). The next success clears it, and so does having nothing
//  left to do with it (S3: no zipcode waiting for upload; coordinator: that, and no epoch
//  waiting for a report), so an outage seen at the end of an epoch does not linger until
//  the next epoch's work.
typedef enum {
    UPLOADER_DEP_S3 = 0,
    UPLOADER_DEP_COORDINATOR = 1
} uploader_dep_t;
#define UPLOADER_OUTAGE_REASON_MAX 200
//  "s3" / "coordinator".
const char *uploader_dep_name (uploader_dep_t dep);
//  True while dep is down, with the reason copied into reason (size bytes; may be NULL).
//  Thread-safe (the uploader runs on its own thread; the worker loop asks).
bool uploader_outage (uploader_t *self, uploader_dep_t dep, char *reason, size_t size);

//  Asks a sweep running on another thread to end after the upload in flight (thread-safe;
//  for a prompt drain). Later sweeps do nothing.
void uploader_request_stop (uploader_t *self);

//  The object key for a submission time (unix seconds) into out. Returns 0 or -1 (too small).
int uploader_key (const char *hotkey, const char *epoch, const char *zipcode,
                  int64_t submitted_s, char *out, size_t size);

//  The hotkey address the uploader uses.
const char *uploader_hotkey (uploader_t *self);

#endif
