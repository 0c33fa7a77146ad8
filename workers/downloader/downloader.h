/*  downloader: the validator's view of what miners submitted for an epoch (DESIGN.md sections
    6 and 8; README.md beside this file).

    Per epoch, after its submission deadline plus downloader.grace.ms:

      1. epoch: the assignment (nonce, deadline, zipcodes and expected counts) is read from
         validator_epochs, or fetched once from the coordinator
         (GET /api/v1/zipcode-assignments/epoch/{id}, signed by our hotkey) and cached there.
      2. list: the miners' prefixes (data/hotkey=X/) are found by a skip-scan (one
         ListObjectsV2 of one key per miner, StartAfter the previous miner's keys), then
         each "data/hotkey=X/epoch={id}/" is listed, paginated with continuation tokens;
         both bounded by downloader.objects.max. Every object with a
         well-formed key is recorded in validator_submissions with LastModified exactly as
         listed (last_modified_raw) and its size, in one transaction that also sets
         validator_epochs.listed_at (so a crash mid-listing lists again, and a finished
         listing is never redone). Objects are 'skipped' with a reason when their zipcode is
         not the epoch's ("not_assigned"), they landed after the deadline ("late"), or the
         miner has an earlier object for that zipcode ("duplicate"). Malformed keys are
         counted (zipmine_downloader_skipped_total{reason="bad_key"}) and not recorded.
      3. fetch, on request: a submission is downloaded only when requested (requested_at):
         by consensus over the request socket (lazy validation: it asks in LastModified
         order and stops at 3 winners), or, in downloader.mode=all, by the downloader itself
         for every listed submission. Requests are served in validation order (per zipcode
         by LastModified, ties by hotkey in byte order).
      4. check: the listed size is compared with downloader.object.max BEFORE any GET (a
         1 GB object is rejected unread), the GET is capped again while reading, the bytes
         must match the listed size, and the body goes through submission_parse
         (common/submission.h). A rejection is stored (state 'rejected', reason
         "<reason>: <detail>"), counted (zipmine_downloader_rejected_total{reason}) and
         reported to consensus as a tier-1 "fail" tier_result; the downloader goes on.
      5. store and announce: the listings go to validator_submission_listings (COPY, values
         never spliced into SQL) with state 'downloaded', in one transaction; then
         submission_ready (db_id = validator_submissions.id) is pushed to tier 1 and
         announced_at is set. Anything stored but not announced (a push that failed, a crash
         in between) is announced again by the sweep: at least once, keyed by db_id.

    The request message is proto submission_ready with db_id set to the submission's id (the
    other fields are what consensus read from validator_submissions; the row is the truth).
    Requesting a submission that was already announced announces it again.

    Threads. Without fetchers (the library as tests drive it) every call is blocking on the
    caller's thread, bounded by its timeouts. The worker starts downloader.fetch.parallel
    fetch threads (downloader_fetchers_start): each owns its own PostgreSQL connection and
    S3 client and does steps 4 and 5's store for one submission at a time; the loop thread
    hands a requested submission to an idle fetcher (a zactor pipe, so at most
    downloader.fetch.parallel GETs run and at most that many bodies of at most
    downloader.object.max bytes are held), reads each outcome from an inproc PULL
    (downloader_on_result), counts it and announces. So a slow or huge object never stalls
    the loop: the loop only runs short queries, the announcements and the listing (in
    300 ms slices), and keeps heartbeating. Metrics are touched by the loop thread only.

    Ownership: downloader_t owns its db_t, S3/HTTP clients and fetch threads (each with its
    own db_t and s3_t); cfg, wallet, metrics and the output sockets are borrowed. Not
    thread-safe: every function is called from one thread (the fetch threads are internal). */
#ifndef ZM_DOWNLOADER_H
#define ZM_DOWNLOADER_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/db.h"
#include "common/metrics.h"
#include "common/submission.h"
#include "common/wallet.h"

typedef struct _downloader_t downloader_t;

//  Takes ownership of *db_p. wallet (may be NULL: then epochs are never fetched from the
//  coordinator, only read from validator_epochs) signs epoch requests. Returns NULL when the
//  S3 configuration is unusable (no s3.endpoint or s3.bucket).
downloader_t *downloader_new (const zm_config_t *cfg, db_t **db_p, const wallet_t *wallet,
                              metrics_t *metrics);
void downloader_destroy (downloader_t **self_p);

//  Where announcements go (borrowed PUSH sockets; NULL = not connected: nothing is sent and
//  the sweep sends later). consensus may stay NULL for good.
void downloader_set_outputs (downloader_t *self, zsock_t *tier1, zsock_t *consensus);

//  Applies the schema migrations: 0, RC_RETRY, or RC_ERR (permanent).
int downloader_prepare (downloader_t *self);

//  Caches an assignment document (the coordinator's epoch answer, section 5) in
//  validator_epochs and validator_epoch_zipcodes; a cached epoch is kept as it is.
//  Returns 0, RC_MALFORMED (the document does not parse), RC_RETRY or RC_ERR (database).
int downloader_epoch_store (downloader_t *self, const char *body, size_t len);

//  Makes sure the epoch is cached: 0 when it is (or was fetched now), RC_RETRY (coordinator
//  or database unavailable, or no wallet), RC_ERR (the coordinator does not know it: 404).
int downloader_epoch_fetch (downloader_t *self, const char *epoch);

//  Lists and records the epoch's submissions (step 2) unless already listed. Returns the
//  number of objects recorded (0 when already listed), RC_RETRY (S3 or database), or
//  RC_MALFORMED (the listing broke a bound: nothing recorded; logged).
int downloader_list (downloader_t *self, const char *epoch);

//  Marks submissions requested. downloader_request: one submission by id (an already
//  announced one is announced again); returns 0, RC_ERR (no such id) or RC_RETRY.
//  downloader_request_all: every listed submission of the epoch; returns how many.
int downloader_request (downloader_t *self, int64_t id);
int downloader_request_all (downloader_t *self, const char *epoch);

//  A request frame from the request socket (submission_ready with db_id). Malformed frames
//  are counted and dropped. Returns 0, or RC_RETRY (database).
int downloader_handle (downloader_t *self, const uint8_t *data, size_t size);

//  Fetches, checks, stores and announces one submission (steps 4, 5). *reason_p (may be
//  NULL) gets SUBMISSION_OK or the rejection. Returns 0 (stored or rejected: settled),
//  RC_RETRY (S3 or database transient: try later) or RC_ERR (no such id).
int downloader_fetch (downloader_t *self, int64_t id, submission_reason_t *reason_p);

//  Settles requested submissions in validation order, then announces what is settled but
//  not announced, for at most budget_ms. Returns the number settled or announced, or
//  RC_RETRY when a transient failure stopped it. With fetchers running, a requested
//  submission is handed to an idle fetcher instead of being fetched here (not counted:
//  its outcome arrives through downloader_on_result), and nothing here blocks on S3.
int downloader_pump (downloader_t *self, int64_t budget_ms);

//  Starts n fetch threads (1..16), each with its own database connection (cfg->db_dsn,
//  connected lazily) and S3 client. Returns 0, or -1 (a client could not be created).
//  Called once, before the loop runs.
int downloader_fetchers_start (downloader_t *self, size_t n);

//  The socket fetch outcomes arrive on (PULL; NULL before downloader_fetchers_start): the
//  worker watches it and calls downloader_on_result when it is readable.
zsock_t *downloader_results (downloader_t *self);

//  Reads one fetch outcome: counts it, frees the fetcher, and pumps again (announces it,
//  hands out the next request). Returns 0 (-1 only if the socket failed).
int downloader_on_result (downloader_t *self);

//  Stops handing out fetches and cuts bodies being read short (they stay requested in
//  PostgreSQL for the next start). downloader_busy: fetches still in flight.
void downloader_stop (downloader_t *self);
size_t downloader_busy (downloader_t *self);

//  What the worker calls every tick: find the epoch due (downloader.epoch, or the epoch of
//  the coordinator.epoch.s grid that ended at least downloader.grace.ms ago, and any cached
//  epoch past its deadline and grace), fetch and list it, request all in mode "all", pump.
void downloader_tick (downloader_t *self);

#endif
