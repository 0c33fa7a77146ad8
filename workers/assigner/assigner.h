/*  assigner: the miner's task leaser (README.md).

    Polls the coordinator's current assignment (signed with the hotkey; backoff on errors,
    Retry-After on 429), records each epoch and one task per zipcode in PostgreSQL, and leases
    pending tasks to scrapers that asked for work (credits: see scraper.h), one task per credit.
    Leases that pass their deadline go back to pending, or to failed after assigner.attempts
    leases. PostgreSQL is the truth: the assigner keeps no task state in memory, so a restart
    (or a coordinator outage) loses nothing, and an epoch already recorded is worked on until
    its submission deadline whether or not the coordinator answers. The poll's HTTP request
    runs on a thread of its own (a slow coordinator never delays heartbeats); a failed poll
    marks the worker degraded ("coordinator"), the next valid assignment recovers it.         */
#ifndef ZM_ASSIGNER_H
#define ZM_ASSIGNER_H

#include "common/worker.h"

typedef struct _assigner_t assigner_t;

//  Loads the hotkey, binds the task ROUTER, registers reader and tick. NULL on failure, with
//  *config_error true when the cause is permanent (hotkey file, db.dsn, endpoint: exit 100).
//  Readiness is declared from the tick once the database answers and migrations are applied.
assigner_t *assigner_new (worker_t *worker, bool *config_error);
void assigner_destroy (assigner_t **self_p);

//  The drain callback: nothing is in flight outside PostgreSQL, so it stops at once.
void assigner_drain (worker_t *worker, void *arg);

#endif
