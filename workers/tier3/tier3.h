/*  tier3: deterministic spot checks against a property source (DESIGN.md section 8;
    README.md beside this file).

    For a submission of n stored listings, the indices are pyrandom_tier3_sample (nonce,
    hotkey, LastModified exactly as listed, n): the listings CPython's random.sample picks,
    so C and Python validators check the same ones. Each sampled listing is looked up by its
    zpid in the property source and is verified iff the source has it, in the assigned
    zipcode, with the same property_type and listing_status, equal bedrooms and bathrooms,
    and price and sqft within 5 % of the source's (|claimed - source| <= 0.05 * source).
    A listing without a usable zpid (a non-negative integer, or 1..15 digits) is not
    verified. Pass iff scoring_tier3_pass (verified, checked).

    The source (tier3.verifier):
      http     GET {tier3.source.url}/property/{zpid}: 200 with a JSON object = found,
               404 = not found, anything else = unavailable;
      command  the program tier3.command (no shell) gets {"zpid":"…","zipcode":"…"} on stdin
               and answers one JSON object on stdout: {"status":"found","property":{…}},
               {"status":"not_found"} or {"status":"unavailable"}; a non-zero exit, bad JSON,
               more than 1 MiB, or the timeout (then SIGKILL) = unavailable.
    Each lookup gets tier3.attempts attempts of tier3.timeout.ms each with a short backoff
    between them, and waits for the rate limiter (tier3.rate.per_minute) at most one
    timeout. Found and not-found answers are cached per epoch in validator_spot_checks, so a
    re-run judges on the same evidence and never asks twice; unavailable ones are not.

    A source that stays unavailable makes the submission "unverifiable" (stored with passed
    NULL, reason "source_unavailable: …"): never a failure of the miner; consensus reports
    the zipcode pending and the submission is checked again when it is sent again. The check
    stops at the first unavailable lookup, so a dead source costs one lookup's time.

    Metrics: sampled, checked, verified, verified_ratio (and the index of the first listing
    not verified, first_bad_index, when there is one).

    Ownership: tier3_t owns its HTTP client, rate limiter and command argv. Not thread-safe:
    the worker uses it on the tier's work thread only (tier_worker_run).                    */
#ifndef ZM_TIER3_H
#define ZM_TIER3_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/scoring.h"
#include "workers/tier1/tier.h"

typedef struct {
    const char *verifier;           //  "http" | "command"
    const char *source_url;         //  http: base URL, no trailing slash needed
    const char *command;            //  command: program and arguments
    int64_t timeout_ms;             //  one attempt
    int attempts;                   //  >= 1
    double rate_per_minute;         //  > 0
} tier3_options_t;

typedef struct _tier3_t tier3_t;

//  Returns NULL (logged) for an unusable configuration: unknown verifier, command verifier
//  with an empty or unsplittable command, http with an empty URL.
tier3_t *tier3_new (const tier3_options_t *opts, const scoring_cfg_t *scoring);
void tier3_destroy (tier3_t **self_p);

typedef enum {
    TIER3_FOUND = 1,
    TIER3_NOT_FOUND = 2,
    TIER3_UNAVAILABLE = 3
} tier3_lookup_t;

//  give_up_ms (borrowed, may be NULL; tier_worker_run's): while it holds 0 nothing changes;
//  once it holds a monotonic time, tier3_check stops before a lookup that could end after
//  it (a lookup's worst case: the rate limiter's wait, timeout, + attempts x (timeout +
//  200 ms)) and returns RC_RETRY with nothing stored (event tier3_check_abandoned), so a
//  drain ends inside its budget.
void tier3_set_give_up (tier3_t *self, const atomic_llong *give_up_ms);

//  Looks zpid up (cache first, for the epoch). On TIER3_FOUND *doc_p gets the source's
//  object (caller owns: json_decref). detail (size >= 128) says why on TIER3_UNAVAILABLE.
//  Returns a tier3_lookup_t, or RC_RETRY (database).
int tier3_lookup (tier3_t *self, db_t *db, const char *epoch, const char *zpid,
                  const char *zipcode, json_t **doc_p, char *detail, size_t detail_size);

//  The verification rule above (pure).
bool tier3_matches (const json_t *claimed, const json_t *source, const char *zipcode);

//  The tier_check_fn of tier 3; arg is the tier3_t.
int tier3_check (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out);

#endif
