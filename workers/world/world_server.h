/*  world_server: the world's HTTP API over world_gen (endpoints in README.md).

        GET /zipcode/{zip}/listings?page=N&page_size=M
        GET /property/{zpid}
        GET /healthz

    Serves from the immutable catalog and pure generator: handlers share only the rate
    limiter (under a mutex) and the httpd's own statistics. Simulated latency and the
    per-client rate limit make scraping take realistic time; /healthz is exempt from both.  */
#ifndef ZM_WORLD_SERVER_H
#define ZM_WORLD_SERVER_H

#include "common/catalog.h"
#include "common/httpd.h"
#include "common/metrics.h"

#include <stdint.h>

typedef struct {
    uint64_t seed;
    const char *bind;           //  numeric address
    int port;                   //  0: any free port
    const char *public_url;     //  "" : http://{bind}:{bound port}
    int64_t latency_ms;         //  added to every listings/property answer (0: none)
    double rate_per_s;          //  per client address (0: unlimited); burst = max (1, rate)
    int page_size_max;          //  largest page_size accepted (default page size: min (100, it))
} world_server_opts_t;

typedef struct _world_server_t world_server_t;

//  The catalog is borrowed and must outlive the server. Returns NULL on bad options
//  (logged: public_url not printable ASCII or too long, page_size_max < 1, ...).
world_server_t *world_server_new (const catalog_t *catalog, const world_server_opts_t *opts);

//  Stops serving (if started) and frees. Nulls *self_p; no-op on NULL.
void world_server_destroy (world_server_t **self_p);

//  Binds and serves. Returns 0 or -1 (logged: address in use...).
int world_server_start (world_server_t *self);

//  The bound port (0 before start) and the public URL in use (after start).
int world_server_port (world_server_t *self);
const char *world_server_public_url (world_server_t *self);

//  Stops accepting, closes connections, waits for handlers (simulated latency is cut short).
void world_server_stop (world_server_t *self);

//  Copies the request metrics into registry (call from the registry's thread).
void world_server_flush_metrics (world_server_t *self, metrics_t *registry);

#endif
