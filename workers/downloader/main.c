/*  downloader: the worker. PULL download requests (binds downloader.endpoint, by default
    <run.dir>/<node.name>/downloader.ipc), PUSH submission_ready to tier 1 and rejections to
    consensus (connect, ZMQ_IMMEDIATE: nothing is queued for a peer that is not there, so
    what could not be sent stays unannounced in PostgreSQL and is sent later). Loads the
    hotkey from the wallet to sign epoch requests (a missing wallet exits 100). Ready once
    the database answers and the migrations are applied. GETs, checks and stores run on
    downloader.fetch.parallel fetch threads (downloader.h), so this loop only queries,
    announces and lists in slices, and keeps heartbeating whatever an object's size or
    speed. Drain: stop intake, cut the bodies being read short, exit once no fetch is in
    flight (anything unfinished stays requested in PostgreSQL for the next start).          */
#include "common/db.h"
#include "common/epoch.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/wallet.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "workers/downloader/downloader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    downloader_t *downloader;
    zsock_t *pull, *tier1, *consensus;
    bool prepared;
    bool drained;
} app_t;

//  Draining and no fetch in flight: done.
static void
s_drain_check (worker_t *worker, app_t *app)
{
    if (!app->drained && worker_state (worker) == WORKER_DRAINING
    &&  downloader_busy (app->downloader) == 0) {
        app->drained = true;
        worker_drained (worker);
    }
}

static int
s_on_result (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) sock;
    app_t *app = arg;
    if (downloader_on_result (app->downloader) != 0)
        return -1;
    s_drain_check (worker, app);
    return 0;
}

static int
s_on_request (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv_ready (sock, &frame, 8192, "download_request_refused");
    if (rc <= 0)
        return rc;
    downloader_handle (app->downloader, zmqx_frame_data (&frame), zmqx_frame_size (&frame));
    zmqx_frame_close (&frame);
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (!app->prepared) {
        int rc = downloader_prepare (app->downloader);
        if (rc == RC_RETRY)
            return 0;
        if (rc != 0) {
            log_error ("downloader_migration_failed", LS ("reason", "see db_migrate"));
            worker_exit (worker, EXIT_CONFIG);
            return 0;
        }
        app->prepared = true;
        if (worker_add_reader (worker, app->pull, s_on_request, app) != 0)
            return -1;
        worker_ready (worker);
    }
    if (worker_state (worker) != WORKER_DRAINING)
        downloader_tick (app->downloader);
    else
        s_drain_check (worker, app);
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (app->prepared)
        worker_remove_reader (worker, app->pull);
    downloader_stop (app->downloader);
    log_info ("downloader_draining", LI ("in_flight", (int64_t) downloader_busy (app->downloader)));
    s_drain_check (worker, app);
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("downloader", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    app_t app = { 0 };
    int rc = EXIT_CONFIG;
    char err [512], pull_ep [ZMQX_ENDPOINT_MAX + 2], t1_ep [ZMQX_ENDPOINT_MAX + 2];
    char co_ep [ZMQX_ENDPOINT_MAX + 2];
    const char *reason = NULL;
    wallet_t *wallet = NULL;
    db_t *db = NULL;
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        goto out;
    }
    if (*cfg->downloader_epoch) {
        int64_t start;
        if (epoch_id_parse (cfg->downloader_epoch, &start) != 0) {
            log_error ("config_invalid", LS ("key", "downloader.epoch"),
                       LS ("reason", "not an epoch id YYYY-MM-DDTHH-MM-SS"));
            goto out;
        }
    }
    wallet = wallet_load (cfg->wallet_path, cfg->wallet_name, cfg->wallet_hotkey, &reason);
    if (!wallet) {
        log_error ("config_invalid", LS ("key", "wallet.hotkey"), LS ("reason", reason));
        goto out;
    }
    db = db_new (cfg->db_dsn, "zipmine-downloader", cfg->db_connect_timeout_s,
                 cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        goto out;
    }
    if (zmqx_endpoint_at (pull_ep, sizeof pull_ep, '@', cfg->run_dir, cfg->node_name,
                          cfg->downloader_endpoint) != 0
    ||  zmqx_endpoint_at (t1_ep, sizeof t1_ep, '>', cfg->run_dir, cfg->node_name,
                          cfg->downloader_tier1_endpoint) != 0
    ||  (*cfg->downloader_consensus_endpoint
         && zmqx_endpoint_at (co_ep, sizeof co_ep, '>', cfg->run_dir, cfg->node_name,
                               cfg->downloader_consensus_endpoint) != 0))
        goto out;
    app.downloader = downloader_new (cfg, &db, wallet, worker_metrics (worker));
    if (!app.downloader)
        goto out;
    rc = EXIT_TRANSIENT;
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, pull_ep, &opts);
    zmqx_opts_t push = zmqx_opts_default ();
    push.immediate = true;
    app.tier1 = zmqx_new (ZMQ_PUSH, t1_ep, &push);
    if (*cfg->downloader_consensus_endpoint)
        app.consensus = zmqx_new (ZMQ_PUSH, co_ep, &push);
    if (!app.pull || !app.tier1 || (*cfg->downloader_consensus_endpoint && !app.consensus))
        goto out;
    downloader_set_outputs (app.downloader, app.tier1, app.consensus);
    if (downloader_fetchers_start (app.downloader, (size_t) cfg->downloader_fetch_parallel) != 0
    ||  worker_add_reader (worker, downloader_results (app.downloader), s_on_result, &app) != 0)
        goto out;
    log_info ("downloader_started", LS ("mode", cfg->downloader_mode),
              LI ("object_max", cfg->downloader_object_max),
              LI ("listings_max", cfg->downloader_listings_max),
              LI ("fetch_parallel", cfg->downloader_fetch_parallel));
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, 250, s_tick, &app);
    s_tick (worker, &app);
    rc = worker_run (worker);
out:
    downloader_destroy (&app.downloader);
    zsock_destroy (&app.pull);
    zsock_destroy (&app.tier1);
    zsock_destroy (&app.consensus);
    db_destroy (&db);
    wallet_destroy (&wallet);
    worker_destroy (&worker);
    return rc;
}
