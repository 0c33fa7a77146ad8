/*  tier2: the worker. PULL submission_ready on tier2.endpoint (bound), PUSH passing
    submissions to the tier-3 pool on tier3.endpoint (bound here, so any number of tier3
    instances connect and share the work) and every verdict to tiers.consensus.endpoint.     */
#include "common/rc.h"
#include "common/scoring.h"
#include "common/worker.h"
#include "workers/tier2/tier2.h"

#include <stdio.h>

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("tier2", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    char in [420], next [420];
    snprintf (in, sizeof in, "@%s", cfg->tier2_endpoint);
    snprintf (next, sizeof next, "@%s", cfg->tier3_endpoint);
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    int rc = tier_worker_run (worker, 2, in, next, tier2_check, &scoring, NULL);
    worker_destroy (&worker);
    return rc;
}
