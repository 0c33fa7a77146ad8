/*  tier3: the worker (one instance of the tier3 pool). PULL submission_ready from
    tier3.endpoint (connect: tier2 binds it and spreads the work over the pool), PUSH every
    verdict to tiers.consensus.endpoint. Everything else is tier_worker_run (tier.h).       */
#include "common/rc.h"
#include "common/scoring.h"
#include "common/worker.h"
#include "workers/tier3/tier3.h"

#include <stdio.h>

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("tier3", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    tier3_options_t opts = {
        .verifier = cfg->tier3_verifier, .source_url = cfg->tier3_source_url,
        .command = cfg->tier3_command, .timeout_ms = cfg->tier3_timeout_ms,
        .attempts = (int) cfg->tier3_attempts, .rate_per_minute = cfg->tier3_rate_per_minute
    };
    tier3_t *tier3 = tier3_new (&opts, &scoring);
    if (!tier3) {
        worker_destroy (&worker);
        return EXIT_CONFIG;
    }
    char in [420];
    snprintf (in, sizeof in, ">%s", cfg->tier3_endpoint);
    atomic_llong give_up_ms = 0;
    tier3_set_give_up (tier3, &give_up_ms);
    int rc = tier_worker_run (worker, 3, in, "", tier3_check, tier3, &give_up_ms);
    tier3_destroy (&tier3);
    worker_destroy (&worker);
    return rc;
}
