/*  coord: the coordination API (DESIGN.md section 5), independent of the HTTP transport.

    A request arrives as a coord_request_t (method, path, query getter, body, client address)
    and leaves as a coord_response_t (status, JSON body, Retry-After). Endpoints:

      GET  /api/v1/zipcode-assignments/current      signed: zipcode:assignment:current:{ts}
      GET  /api/v1/zipcode-assignments/epoch/{id}   signed: zipcode:assignment:epoch:{id}:{ts}
      POST /api/v1/zipcode-assignments/status       signed: miner:status:{hotkey}:{epochId}:{ts}
      POST /get-folder-access                       signed: s3:data:access:{coldkey}:{hotkey}:{ts}
      POST /api/v1/s3-access/validator-upload       signed: s3:validator:upload:{ts}
      GET  /api/v1/zipcode-assignments/stats        public
      GET  /healthcheck                             public

    GET requests carry hotkey, signature and timestamp as query parameters; POST requests
    carry them as fields of the JSON body. Checks, in order, each with its own answer:
      400  malformed request (missing field, bad JSON, bad epoch id)
      401  missing credentials, timestamp outside [now - past, now + future], signature that
           does not verify (sr25519, hex, over the commitment's UTF-8 bytes), replayed
           (hotkey, timestamp, signature)
      403  hotkey unknown to the registry, or of the wrong role for the endpoint
      429  per-hotkey rate limit (Retry-After in seconds)
      404  unknown route or epoch;  405 wrong method;  413 body too large (transport)
      503  database unavailable (retryable; Retry-After 1)
    Errors are {statusCode, message, error}; success is never a 200 with a failure inside.

    Epochs are created on demand and by coord_tick at each grid boundary, persisted with
    their served document, so a restarted coordinator serves identical assignments.
    Not thread-safe: callers serialise coord_handle, coord_tick and coord_metrics_flush
    (the coordinator worker holds one mutex around them).                           */
#ifndef ZM_COORD_H
#define ZM_COORD_H

#include "common/catalog.h"
#include "common/config.h"
#include "common/db.h"
#include "common/metrics.h"
#include "workers/coordinator/registry.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _coord_t coord_t;

typedef const char *(coord_query_fn) (void *ctx, const char *name);

typedef struct {
    const char *method;         //  "GET", "POST"...
    const char *path;           //  without the query string
    coord_query_fn *query;      //  query parameter getter (may be NULL: none)
    void *query_ctx;
    const char *body;           //  may be NULL when body_len is 0
    size_t body_len;
} coord_request_t;

typedef struct {
    int status;
    char *body;                 //  JSON text, heap; caller frees (coord_response_clear)
    int64_t retry_after_s;      //  > 0: send Retry-After
} coord_response_t;

//  All arguments are borrowed and must outlive the coord. metrics may be NULL.
coord_t *coord_new (const zm_config_t *cfg, db_t *db, const catalog_t *catalog,
                    registry_t *registry, metrics_t *metrics);
void coord_destroy (coord_t **self_p);

//  Overrides the clock (unix seconds) for tests; 0 restores the real clock.
void coord_set_now (coord_t *self, int64_t now_s);

//  Answers one request.
void coord_handle (coord_t *self, const coord_request_t *request, coord_response_t *response);
void coord_response_clear (coord_response_t *response);

//  Periodic work: makes sure the current epoch exists, reloads the registry when its file
//  changed, prunes the replay cache. Returns 0, or RC_RETRY while the database is down.
int coord_tick (coord_t *self);

//  Copies the coordinator's counts (auth failures by reason, epochs created, grants by
//  role) into the registry given to coord_new. Call from the registry's thread, with the
//  same serialisation as coord_handle.
void coord_metrics_flush (coord_t *self);

//  Makes sure the epoch containing now exists; copies its id into id_out (20 bytes) if not
//  NULL. Returns 0, RC_RETRY (database down) or RC_ERR.
int coord_ensure_epoch (coord_t *self, char *id_out);

#endif
