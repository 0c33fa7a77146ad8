/*  world: serves the deterministic synthetic property universe over HTTP (README.md).

    libmicrohttpd runs its own threads; the worker loop only declares readiness once the port
    is bound, copies the request metrics into the registry on a tick (the registry belongs to
    the loop thread), and on drain stops the HTTP server, which waits for in-flight requests. */
#include "common/catalog.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/worker.h"
#include "workers/world/world_server.h"

#define METRICS_TICK_MS 500

static int
s_tick (worker_t *worker, void *arg)
{
    world_server_flush_metrics ((world_server_t *) arg, worker_metrics (worker));
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    world_server_t *server = arg;
    world_server_stop (server);
    world_server_flush_metrics (server, worker_metrics (worker));
    worker_drained (worker);
}

int
main (int argc, char **argv)
{
    worker_t *w = worker_new ("world", argc, argv);
    if (!w)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (w);
    catalog_t *catalog = catalog_new ();
    if (!catalog) {
        worker_destroy (&w);
        return EXIT_CONFIG;             //  a broken build: restarting cannot help
    }
    world_server_opts_t opts = {
        .seed = (uint64_t) cfg->world_seed,
        .bind = cfg->world_bind,
        .port = (int) cfg->world_port,
        .public_url = cfg->world_public_url,
        .latency_ms = cfg->world_latency_ms,
        .rate_per_s = cfg->world_rate_per_s,
        .page_size_max = (int) cfg->world_page_size_max
    };
    world_server_t *server = world_server_new (catalog, &opts);
    if (!server) {
        catalog_destroy (&catalog);
        worker_destroy (&w);
        return EXIT_CONFIG;
    }
    if (world_server_start (server) != 0) {
        world_server_destroy (&server);
        catalog_destroy (&catalog);
        worker_destroy (&w);
        return EXIT_TRANSIENT;          //  port busy: the supervisor retries with backoff
    }
    worker_set_tick (w, METRICS_TICK_MS, s_tick, server);
    worker_set_drain (w, s_drain, server);
    worker_ready (w);
    int rc = worker_run (w);
    world_server_destroy (&server);
    catalog_destroy (&catalog);
    worker_destroy (&w);
    return rc;
}
