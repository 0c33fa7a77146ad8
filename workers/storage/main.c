/*  storage: the worker. PULL listing batches (binds storage.endpoint, by default
    <run.dir>/<node.name>/storage.ipc), PUSH zipcode_stored to the uploader (connects
    uploader.endpoint, by default uploader.ipc). Ready once the database answers
    and the migrations are applied; then re-announces stored zipcodes not yet uploaded.

    A batch that meets a database outage is kept (one, in memory) and intake pauses (the
    scrapers' PUSH sockets queue) until the tick stores it: nothing is dropped while the
    database is away. Drain: stop intake, try the kept batch once more, exit.                */
#include "common/db.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "workers/storage/storage.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    worker_t *worker;
    storage_t *storage;
    zsock_t *pull;
    zsock_t *push;
    bool prepared;
    bool intake;                //  pull is registered as a reader
    uint8_t *pending;           //  a batch that met a database outage
    size_t pending_size;
} app_t;

static int
s_try (app_t *app, const uint8_t *data, size_t size)
{
    storage_result_t result;
    return storage_handle (app->storage, data, size, &result);
}

static int
s_on_batch (worker_t *worker, zsock_t *sock, void *arg)
{
    app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv_ready (sock, &frame, ZMQX_FRAME_MAX_DEFAULT, "batch_frame_refused");
    if (rc <= 0)
        return rc;
    const uint8_t *data = zmqx_frame_data (&frame);
    size_t size = zmqx_frame_size (&frame);
    if (s_try (app, data, size) == RC_RETRY) {
        app->pending = malloc (size ? size : 1);
        if (!app->pending)
            abort ();
        memcpy (app->pending, data, size);
        app->pending_size = size;
        worker_remove_reader (worker, app->pull);
        app->intake = false;
    }
    zmqx_frame_close (&frame);
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (!app->prepared) {
        int rc = storage_prepare (app->storage);
        if (rc == RC_RETRY)
            return 0;
        if (rc != 0) {
            log_error ("storage_migration_failed", LS ("reason", "see db_migrate"));
            worker_exit (worker, EXIT_CONFIG);
            return 0;
        }
        app->prepared = true;
        storage_reannounce (app->storage, NULL);
        if (worker_add_reader (worker, app->pull, s_on_batch, app) != 0)
            return -1;
        app->intake = true;
        worker_ready (worker);
    }
    if (app->pending) {
        if (s_try (app, app->pending, app->pending_size) == RC_RETRY)
            return 0;
        free (app->pending);
        app->pending = NULL;
        if (worker_state (worker) == WORKER_DRAINING) {
            worker_drained (worker);
            return 0;
        }
        if (worker_add_reader (worker, app->pull, s_on_batch, app) != 0)
            return -1;
        app->intake = true;
    }
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (app->intake)
        worker_remove_reader (worker, app->pull);
    app->intake = false;
    if (app->pending && s_try (app, app->pending, app->pending_size) == RC_RETRY)
        log_warn ("storage_drain_batch_kept_unstored",
                  LS ("reason", "database unreachable; the lease will expire and be re-scraped"));
    free (app->pending);
    app->pending = NULL;
    worker_drained (worker);
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("storage", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    app_t app = { .worker = worker };
    int rc = EXIT_TRANSIENT;
    char err [512], pull_ep [ZMQX_ENDPOINT_MAX + 1], push_ep [ZMQX_ENDPOINT_MAX + 1];
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        rc = EXIT_CONFIG;
        goto out;
    }
    db_t *db = db_new (cfg->db_dsn, "zipmine-storage", cfg->db_connect_timeout_s,
                       cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        rc = EXIT_CONFIG;
        goto out;
    }
    pull_ep [0] = '@';
    push_ep [0] = '>';
    if (zmqx_endpoint (pull_ep + 1, sizeof pull_ep - 1, cfg->run_dir, cfg->node_name,
                       cfg->storage_endpoint, err, sizeof err) != 0
    ||  zmqx_endpoint (push_ep + 1, sizeof push_ep - 1, cfg->run_dir, cfg->node_name,
                       cfg->uploader_endpoint, err, sizeof err) != 0) {
        db_destroy (&db);
        log_error ("config_invalid", LS ("key", "storage.endpoint"), LS ("reason", err));
        rc = EXIT_CONFIG;
        goto out;
    }
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, pull_ep, &opts);
    app.push = zmqx_new (ZMQ_PUSH, push_ep, &opts);
    if (!app.pull || !app.push) {
        db_destroy (&db);
        goto out;
    }
    app.storage = storage_new (&db, worker_metrics (worker), app.push);
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, 250, s_tick, &app);
    s_tick (worker, &app);
    rc = worker_run (worker);
out:
    free (app.pending);
    storage_destroy (&app.storage);
    zsock_destroy (&app.pull);
    zsock_destroy (&app.push);
    worker_destroy (&worker);
    return rc;
}
