/*  tier1: the quantity check (DESIGN.md section 8; README.md beside this file).

    Pass iff scoring_tier1_pass (E, n): int (E * 0.85) <= n <= int (E * 1.15) in IEEE double
    with truncation, n = the listings stored for the submission, E = the epoch zipcode's
    expected listings. A zipcode the epoch does not list fails ("no_expected_count").
    Metrics: listings, expected, low, high.                                                   */
#ifndef ZM_TIER1_H
#define ZM_TIER1_H

#include "common/scoring.h"
#include "workers/tier1/tier.h"

//  The tier_check_fn of tier 1; arg is a const scoring_cfg_t *. Never touches the database.
int tier1_check (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out);

#endif
