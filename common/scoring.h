/*  scoring: tier-1 bounds, tier-2 thresholds and the epoch reward computation of DESIGN.md
    section 8, exactly, so that every validator (C or Python) prints the same consensus hash.

    Tier 1: pass iff lo <= n <= hi with lo = int (E * 0.85), hi = int (E * 1.15): one IEEE
    double multiply, then truncation toward zero (E = 100 gives 85..114, because 100 * 1.15 is
    114.99999999999999).

    Tier 2: pass iff completeness >= 0.90, reasonable >= 0.95, consistency >= 0.90,
    duplicate_rate <= 0.05 and every listing is in the assigned zipcode (the ratios are
    computed by the caller; the thresholds are configuration, the defaults are the reference's).

    Rewards. Input: for each zipcode its string and its submissions, each (hotkey, last_modified
    as an integer such as unix milliseconds, listings = the submission's listing count, passed =
    whether it passed tiers 1-3). The algorithm, step by step (tests/python/scoring_oracle.py
    implements this text independently; docs/validation.md repeats it):
      1. Per zipcode, order its submissions by (last_modified ascending, hotkey ascending in
         bytewise order). Only a hotkey's first submission in that order counts; its later ones
         are ignored. Walk the order: a passing submission becomes the next winner (rank 1, 2,
         3); a failing one makes its hotkey a participant of that zipcode. The walk stops right
         after the third winner: later submissions, passing or not, are neither winners nor
         participants (they need not even be downloaded).
      2. L_z = the sum of the listing counts of z's winners (0 without winners).
         T = the sum of all L_z (64-bit integers; T is total_epoch_listings).
      3. If T == 0 the result is empty: no miner scores, no zipcode weights, all totals 0 (the
         reference returns exactly this when no listings were found).
      4. w_z = (double) L_z / (double) T, for every zipcode given (0.0 without winners).
      5. Winners W = the hotkeys that won at least one rank anywhere. For each hotkey h in W:
         raw_h = 0.0, then for each of its wins in ascending zipcode order (bytewise):
         raw_h = raw_h + (share [rank] * w_z), shares 0.55 / 0.30 / 0.10 (one multiply, one
         add, each rounded to double).
      6. Participants P = the hotkeys that were a participant in some zipcode and are not in W.
         If P is not empty each p in P gets raw_p = 0.05 / (double) |P|.
      7. S = 0.0, then S = S + raw_h over every h in W and P in ascending hotkey order
         (bytewise). Then score_h = raw_h / S. (S > 0 whenever T > 0: the first winner of a
         zipcode with L_z > 0 has raw > 0. Should S be 0 anyway, every score is 0.0.)
      8. Consensus totals: total_winners = |W|, total_participants = |P| (non-winners only:
         the reference's count depends on dict iteration order, this one does not),
         total_epoch_listings = T. miner_scores lists W and P, zipcode_weights every zipcode.
    No step depends on input order, and there is no fast-math: each operation is one IEEE
    double operation in the order written. The consensus document and its hash are canon's
    (canon_consensus_json).

    Input strings must be valid UTF-8 and the zipcodes distinct; listing counts are >= 0 and
    their sum over all submissions below 2^53 (so every integer above is exact in a double).
    scoring_compute refuses anything else (it is handed data that came from S3).            */
#ifndef ZM_SCORING_H
#define ZM_SCORING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCORING_WINNERS 3

typedef struct {
    double tier1_low;               //  0.85
    double tier1_high;              //  1.15
    double min_completeness;        //  0.90
    double min_reasonable;          //  0.95
    double min_consistency;         //  0.90
    double max_duplicate_rate;      //  0.05
    double tier3_min_verified;      //  0.80
    double shares [SCORING_WINNERS];//  0.55, 0.30, 0.10
    double participation;           //  0.05
} scoring_cfg_t;

//  The reference numbers (DESIGN.md section 8).
void scoring_cfg_defaults (scoring_cfg_t *cfg);

//  Tier-1 bounds for expected count E: lo = trunc (E * low), hi = trunc (E * high) in IEEE
//  double. Returns 0, or -1 when E or a product is not finite or outside int64.
int scoring_tier1_bounds (const scoring_cfg_t *cfg, double expected, int64_t *lo, int64_t *hi);

//  Tier-1 verdict for n listings (false whenever the bounds cannot be computed).
bool scoring_tier1_pass (const scoring_cfg_t *cfg, double expected, int64_t n);

typedef struct {
    double completeness;            //  share of listings with all 12 reference fields
    double reasonable;              //  share with values in range
    double consistency;             //  share with valid dates and a fresh scraped_timestamp
    double duplicate_rate;          //  share of duplicates (address + price)
    bool zipcodes_match;            //  every listing in the assigned zipcode
} scoring_tier2_t;

//  Tier-2 verdict (NaN ratios fail).
bool scoring_tier2_pass (const scoring_cfg_t *cfg, const scoring_tier2_t *m);

//  Tier-3 verdict: (double) verified / (double) checked >= tier3_min_verified, the ratio
//  computed first as the reference does (checked 0, or verified > checked, fails).
bool scoring_tier3_pass (const scoring_cfg_t *cfg, size_t verified, size_t checked);

typedef struct {
    const char *hotkey;
    int64_t last_modified;
    int64_t listings;
    bool passed;
} scoring_submission_t;

typedef struct {
    const char *zipcode;
    const scoring_submission_t *subs;
    size_t nsubs;
} scoring_zipcode_t;

typedef struct _scoring_result_t scoring_result_t;

//  Runs steps 1-8 over nzips zipcodes (strings are copied). Returns NULL on invalid input
//  (NULL or invalid UTF-8 strings, duplicate zipcodes, a negative listing count, or listing
//  counts summing to 2^53 or more). Caller owns.
scoring_result_t *scoring_compute (const scoring_cfg_t *cfg, const scoring_zipcode_t *zips,
                                   size_t nzips);
void scoring_result_destroy (scoring_result_t **self_p);

//  Totals (step 8).
int64_t scoring_result_total_listings (const scoring_result_t *self);
size_t scoring_result_total_winners (const scoring_result_t *self);
size_t scoring_result_total_participants (const scoring_result_t *self);

//  Miners in ascending hotkey order: i < scoring_result_miners (self).
size_t scoring_result_miners (const scoring_result_t *self);
const char *scoring_result_miner (const scoring_result_t *self, size_t i);
double scoring_result_score (const scoring_result_t *self, size_t i);
bool scoring_result_is_winner (const scoring_result_t *self, size_t i);

//  Zipcodes in ascending order (empty when T == 0): i < scoring_result_zipcodes (self).
size_t scoring_result_zipcodes (const scoring_result_t *self);
const char *scoring_result_zipcode (const scoring_result_t *self, size_t i);
double scoring_result_weight (const scoring_result_t *self, size_t i);
//  The zipcode's winner of rank r (0-based, < SCORING_WINNERS), or NULL.
const char *scoring_result_winner (const scoring_result_t *self, size_t i, size_t r);

//  The consensus document for this result (canon_consensus_json). Caller owns.
char *scoring_result_consensus_json (const scoring_result_t *self, const char *epoch_nonce,
                                     size_t *len_p);
//  Its SHA-256 in hex. Returns 0, or -1 when the nonce is not valid UTF-8.
int scoring_result_consensus_hash (const scoring_result_t *self, const char *epoch_nonce,
                                   char hex [65]);

#endif
