/*  scraper: the scraper pool worker (README.md).

    Takes one scrape task at a time from the assigner (DEALER to the assigner's ROUTER:
    it asks for work with a credit, a proto heartbeat whose seq is the number of tasks it has
    received so far, so the assigner never sends a second task to a busy scraper), runs the
    configured scraper on a job thread (scrape_job.h) streaming listing batches to storage,
    and records the attempt's outcome on the task in PostgreSQL (only while its lease is still
    the task's current one). Drain: cancel the running job, record it, exit.                  */
#ifndef ZM_SCRAPER_H
#define ZM_SCRAPER_H

#include "common/worker.h"

typedef struct _scraper_t scraper_t;

//  Builds the scraper from the worker's configuration: checks scraper.kind and
//  scraper.command, connects its sockets and registers its reader and tick. Returns NULL on a
//  configuration error (*config_error set: exit 100) or when a socket cannot be made.
scraper_t *scraper_new (worker_t *worker, bool *config_error);
void scraper_destroy (scraper_t **self_p);

//  The drain callback (worker_set_drain).
void scraper_drain (worker_t *worker, void *arg);

#endif
