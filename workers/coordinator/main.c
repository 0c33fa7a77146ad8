/*  coordinator: the coordination API worker (DESIGN.md section 5).

    Wires coord (the API logic) to the HTTP server and the worker runtime. HTTP handlers run
    on libmicrohttpd's threads; one mutex serialises them with the loop's tick, because coord,
    its database connection and its rate limiters belong to one thread at a time.
    Ready once the port is bound and the database has answered (migrations applied, the
    current epoch exists). Drain: stop accepting, finish running requests, exit.             */
#include "common/catalog.h"
#include "common/db.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/worker.h"
#include "workers/coordinator/coord.h"
#include "workers/coordinator/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    worker_t *worker;
    db_t *db;
    coord_t *coord;
    httpd_t *httpd;
    pthread_mutex_t lock;
    bool migrated;
} app_t;

static const char *
s_query (void *ctx, const char *name)
{
    return httpd_req_query ((httpd_req_t *) ctx, name);
}

static void
s_handle (httpd_req_t *req, void *arg)
{
    app_t *app = arg;
    size_t len = 0;
    const char *body = httpd_req_body (req, &len);
    coord_request_t request = {
        .method = httpd_req_method (req), .path = httpd_req_path (req),
        .query = s_query, .query_ctx = req, .body = body, .body_len = len
    };
    coord_response_t response;
    pthread_mutex_lock (&app->lock);
    if (app->migrated)
        coord_handle (app->coord, &request, &response);
    else {
        response.status = 503;
        response.retry_after_s = 1;
        response.body = NULL;
    }
    pthread_mutex_unlock (&app->lock);
    if (response.retry_after_s > 0) {
        char value [24];
        snprintf (value, sizeof value, "%lld", (long long) response.retry_after_s);
        httpd_add_header (req, "Retry-After", value);
    }
    if (response.body)
        httpd_respond (req, response.status, "application/json", response.body,
                       strlen (response.body));
    else
        httpd_respond_error (req, response.status, "database unavailable, retry shortly");
    coord_response_clear (&response);
}

//  Connects and migrates until it works; then keeps the epoch current.
static int
s_tick (worker_t *worker, void *arg)
{
    app_t *app = arg;
    pthread_mutex_lock (&app->lock);
    int rc = 0;
    if (!app->migrated) {
        rc = db_migrate (app->db);
        if (rc == 0)
            app->migrated = true;
        else
        if (rc != RC_RETRY) {
            log_error ("coordinator_migration_failed", LS ("reason", db_error (app->db)));
            worker_exit (worker, EXIT_CONFIG);
        }
    }
    if (app->migrated) {
        rc = coord_tick (app->coord);
        if (rc != 0 && rc != RC_RETRY)
            log_warn ("coordinator_tick_failed", LS ("reason", db_error (app->db)));
        coord_metrics_flush (app->coord);
    }
    pthread_mutex_unlock (&app->lock);
    httpd_metrics_flush (app->httpd, worker_metrics (worker));
    if (rc == 0 && app->migrated && worker_state (worker) == WORKER_STARTING)
        worker_ready (worker);
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    httpd_stop (app->httpd);        //  waits for running handlers
    worker_drained (worker);
}

static int
s_route (app_t *app, const char *method, const char *path, const char *name)
{
    return httpd_route (app->httpd, method, path, name, s_handle, app);
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("coordinator", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    app_t app = { .worker = worker };
    pthread_mutex_init (&app.lock, NULL);
    char err [512];
    int rc = EXIT_TRANSIENT;
    catalog_t *catalog = NULL;
    registry_t *registry = NULL;

    if (!*cfg->db_dsn || !*cfg->coord_metagraph) {
        log_error ("config_invalid", LS ("reason", !*cfg->db_dsn ? "db.dsn is required"
                                                  : "coordinator.metagraph is required"));
        rc = EXIT_CONFIG;
        goto out;
    }
    app.db = db_new (cfg->db_dsn, "zipmine-coordinator", cfg->db_connect_timeout_s,
                     cfg->db_statement_timeout_ms, err, sizeof err);
    if (!app.db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        rc = EXIT_CONFIG;
        goto out;
    }
    catalog = catalog_new ();
    registry = registry_new (cfg->coord_metagraph, err, sizeof err);
    if (!catalog || !registry) {
        log_error ("config_invalid", LS ("key", "coordinator.metagraph"),
                   LS ("reason", registry ? "catalog" : err));
        rc = EXIT_CONFIG;
        goto out;
    }
    app.coord = coord_new (cfg, app.db, catalog, registry, worker_metrics (worker));
    httpd_opts_t opts = httpd_opts_default ();
    opts.bind = cfg->coord_bind;
    opts.port = (int) cfg->coord_port;
    opts.max_body = (size_t) cfg->coord_body_max;
    //  Validators and miners behind one NAT share an address: allow a few hundred
    //  connections per address, bounded overall.
    opts.max_connections = 1024;
    opts.max_per_ip = 256;
    app.httpd = httpd_new (&opts);
    if (!app.coord || !app.httpd
    ||  s_route (&app, "GET", "/api/v1/zipcode-assignments/current", "assignments_current")
    ||  s_route (&app, "GET", "/api/v1/zipcode-assignments/epoch/", "assignments_epoch")
    ||  s_route (&app, "POST", "/api/v1/zipcode-assignments/status", "status")
    ||  s_route (&app, "GET", "/api/v1/zipcode-assignments/stats", "stats")
    ||  s_route (&app, "POST", "/get-folder-access", "miner_grant")
    ||  s_route (&app, "POST", "/api/v1/s3-access/validator-upload", "validator_grant")
    ||  s_route (&app, "GET", "/healthcheck", "healthcheck")
    ||  httpd_start (app.httpd) != 0)
        goto out;
    log_info ("coordinator_listening", LS ("bind", cfg->coord_bind),
              LI ("port", httpd_port (app.httpd)), LI ("epoch_s", cfg->coord_epoch_s));
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, 1000, s_tick, &app);
    s_tick (worker, &app);
    rc = worker_run (worker);
out:
    httpd_destroy (&app.httpd);
    coord_destroy (&app.coord);
    registry_destroy (&registry);
    catalog_destroy (&catalog);
    db_destroy (&app.db);
    pthread_mutex_destroy (&app.lock);
    worker_destroy (&worker);
    return rc;
}
