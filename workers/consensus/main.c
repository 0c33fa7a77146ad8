/*  consensus: the worker. PULL tier_result (binds consensus.endpoint, by default
    <run.dir>/<node.name>/consensus.ipc: tier1/2/3 and the downloader push to it), PUSH
    submission requests to the downloader (connects downloader.endpoint, ZMQ_IMMEDIATE:
    a request for an absent downloader is not queued; it is sent again after
    consensus.request.retry.ms). Our hotkey comes from the wallet (a missing wallet exits
    100). Ready once the database answers and the migrations are applied. Drain: stop intake
    and exit (everything is durable; a running hook is killed and runs again on restart).   */
#include "common/db.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/wallet.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "workers/consensus/consensus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIER_RESULT_MAX 65536

typedef struct {
    consensus_t *consensus;
    zsock_t *pull, *requests;
    bool prepared;
} app_t;

static int
s_on_result (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv_ready (sock, &frame, TIER_RESULT_MAX, "tier_result_refused");
    if (rc <= 0)
        return rc;
    consensus_handle (app->consensus, zmqx_frame_data (&frame), zmqx_frame_size (&frame));
    zmqx_frame_close (&frame);
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (!app->prepared) {
        int rc = consensus_prepare (app->consensus);
        if (rc == RC_RETRY)
            return 0;
        if (rc != 0) {
            log_error ("consensus_migration_failed", LS ("reason", "see db_migrate"));
            worker_exit (worker, EXIT_CONFIG);
            return 0;
        }
        app->prepared = true;
        if (worker_add_reader (worker, app->pull, s_on_result, app) != 0)
            return -1;
        worker_ready (worker);
    }
    if (worker_state (worker) != WORKER_DRAINING)
        consensus_tick (app->consensus);
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (app->prepared)
        worker_remove_reader (worker, app->pull);
    worker_drained (worker);
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("consensus", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    app_t app = { 0 };
    int rc = EXIT_CONFIG;
    char err [512], pull_ep [ZMQX_ENDPOINT_MAX + 2], req_ep [ZMQX_ENDPOINT_MAX + 2];
    char hotkey [64];
    const char *reason = NULL;
    wallet_t *wallet = NULL;
    db_t *db = NULL;
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        goto out;
    }
    wallet = wallet_load (cfg->wallet_path, cfg->wallet_name, cfg->wallet_hotkey, &reason);
    if (!wallet) {
        log_error ("config_invalid", LS ("key", "wallet.hotkey"), LS ("reason", reason));
        goto out;
    }
    if (wallet_address (wallet, (unsigned) cfg->ss58_prefix, hotkey, sizeof hotkey) != 0) {
        log_error ("config_invalid", LS ("key", "ss58.prefix"), LS ("reason", "not usable"));
        goto out;
    }
    db = db_new (cfg->db_dsn, "zipmine-consensus", cfg->db_connect_timeout_s,
                 cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        goto out;
    }
    if (zmqx_endpoint_at (pull_ep, sizeof pull_ep, '@', cfg->run_dir, cfg->node_name,
                          cfg->consensus_endpoint) != 0
    ||  zmqx_endpoint_at (req_ep, sizeof req_ep, '>', cfg->run_dir, cfg->node_name,
                          cfg->downloader_endpoint) != 0)
        goto out;
    app.consensus = consensus_new (cfg, &db, hotkey);
    if (!app.consensus)
        goto out;
    rc = EXIT_TRANSIENT;
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, pull_ep, &opts);
    zmqx_opts_t push = zmqx_opts_default ();
    push.immediate = true;
    app.requests = zmqx_new (ZMQ_PUSH, req_ep, &push);
    if (!app.pull || !app.requests)
        goto out;
    consensus_set_requests (app.consensus, app.requests);
    consensus_set_wallet (app.consensus, wallet);
    consensus_set_metrics (app.consensus, worker_metrics (worker));
    log_info ("consensus_started", LS ("hotkey", hotkey), LS ("s3_mode", cfg->s3_mode),
              LI ("inflight_max", cfg->consensus_inflight_max),
              LB ("hook", *cfg->consensus_hook != 0));
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, 1000, s_tick, &app);   //  each tick re-reads open epochs
    s_tick (worker, &app);
    rc = worker_run (worker);
out:
    consensus_destroy (&app.consensus);
    zsock_destroy (&app.pull);
    zsock_destroy (&app.requests);
    db_destroy (&db);
    wallet_destroy (&wallet);
    worker_destroy (&worker);
    return rc;
}
