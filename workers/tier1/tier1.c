/*  tier1: the quantity check (tier1.h). Pure: decides from the counts tier_load read.       */
#include "workers/tier1/tier1.h"

#include <stdio.h>
#include <string.h>

int
tier1_check (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out)
{
    (void) db;
    const scoring_cfg_t *cfg = arg;
    tier_outcome_metric (out, "listings", (double) sub->count);
    int64_t lo, hi;
    if (sub->expected < 0
    ||  scoring_tier1_bounds (cfg, (double) sub->expected, &lo, &hi) != 0) {
        out->verdict = PROTO_VERDICT_FAIL;
        snprintf (out->reason, sizeof out->reason, "no_expected_count");
        return 0;
    }
    tier_outcome_metric (out, "expected", (double) sub->expected);
    tier_outcome_metric (out, "low", (double) lo);
    tier_outcome_metric (out, "high", (double) hi);
    if (scoring_tier1_pass (cfg, (double) sub->expected, sub->count))
        out->verdict = PROTO_VERDICT_PASS;
    else {
        out->verdict = PROTO_VERDICT_FAIL;
        snprintf (out->reason, sizeof out->reason, "count %lld outside %lld..%lld",
                  (long long) sub->count, (long long) lo, (long long) hi);
    }
    return 0;
}
