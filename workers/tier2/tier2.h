/*  tier2: the quality check (DESIGN.md section 8; README.md beside this file).

    Over the n listings stored for the submission (validator_submission_listings, file order):
      completeness    share of listings whose 12 reference fields are all present and
                      non-empty: zpid (or mls_id), address, price, bedrooms, bathrooms, sqft,
                      listing_date, property_type, listing_status, days_on_market, source_url,
                      scraped_timestamp. Empty = null, "" (after trimming blanks), [] or {}.
      reasonable      share whose price (10,000..50,000,000), bedrooms (0..20), bathrooms
                      (0..20) and sqft (100..100,000) are all JSON numbers in range.
      consistency     share whose listing_date is ISO 8601 (listing_iso8601_ok) and whose
                      scraped_timestamp is an ISO 8601 date-time within the 24 h before the
                      epoch's submission deadline (deadline - 24 h <= t <= deadline): the
                      deadline, not the validator's clock, so every validator agrees.
                      A date-time without an offset is UTC.
      duplicate_rate  (n - distinct keys) / n, key = the address lower-cased (ASCII) and
                      trimmed, plus the price (numbers by value, so 300000 and
                      300000.0 are the same price; anything else by its JSON text).
      zipcodes_match  every listing's "zipcode" is the string of the assigned zipcode.
    n = 0 gives 0 for every ratio (and fails). Pass iff scoring_tier2_pass; the metrics are
    stored and sent (completeness, reasonable, consistency, duplicate_rate, zipcodes_match
    as 0/1, listings). The reason names the first criterion that failed.                     */
#ifndef ZM_TIER2_H
#define ZM_TIER2_H

#include <jansson.h>

#include "common/scoring.h"
#include "workers/tier1/tier.h"

//  The tier_check_fn of tier 2; arg is a const scoring_cfg_t *. Reads the listings.
int tier2_check (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out);

//  The metrics over listings (an array of objects; other elements count as empty listings)
//  for the zipcode and the deadline (unix ms). Pure: exposed for tests.
void tier2_metrics (const json_t *listings, const char *zipcode, int64_t deadline_ms,
                    scoring_tier2_t *m);

//  Parses an ISO 8601 date or date-time (listing_iso8601_ok's forms) into unix ms (a date is
//  its midnight UTC). Returns 0, or -1 when s is not one.
int tier2_iso_ms (const char *s, int64_t *ms);

#endif
