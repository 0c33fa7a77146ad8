/*  tier1: the worker. PULL submission_ready on tier1.endpoint (bound), PUSH passing
    submissions to tier2.endpoint (connect) and every verdict to tiers.consensus.endpoint.
    Everything else is tier_worker_run (tier.h).                                              */
#include "common/rc.h"
#include "common/scoring.h"
#include "common/worker.h"
#include "workers/tier1/tier1.h"

#include <stdio.h>

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("tier1", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    char in [420], next [420];
    snprintf (in, sizeof in, "@%s", cfg->tier1_endpoint);
    snprintf (next, sizeof next, ">%s", cfg->tier2_endpoint);
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    int rc = tier_worker_run (worker, 1, in, next, tier1_check, &scoring, NULL);
    worker_destroy (&worker);
    return rc;
}
