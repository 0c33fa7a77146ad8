/*  scrape_job: one leased scrape task run to its end, and the stream of listing batches it
    produces.

    A job runs on its own thread (scraper.c), so the worker loop keeps heartbeating while a
    scrape takes minutes. It owns nothing shared: the PUSH socket towards storage is handed to
    the job for its duration and handed back when it returns (the thread start and join are
    the memory barriers ZeroMQ asks for when a socket changes threads).

    The sink turns accepted listings into proto listing_batch messages of at most batch_max
    listings, seq 0, 1, 2 … within the lease, each carrying the lines rejected since the
    previous batch with their reasons; the final batch (final = true) is sent only when the
    run succeeded, so storage never completes a zipcode from a failed run. A send that cannot
    be queued (storage gone) is retried until the job's deadline or cancellation.

    Verdicts: DONE (final batch sent), RETRY (the attempt failed for a reason that another
    attempt may not meet: crash, timeout, no listings, storage unreachable, cancelled) and
    FAIL (the scraper's output is unusable: mostly garbage, over the output cap, or the world
    does not know the zipcode; retrying cannot help).                                          */
#ifndef ZM_SCRAPE_JOB_H
#define ZM_SCRAPE_JOB_H

#include "proto/scrape_task.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SCRAPE_DONE = 0,
    SCRAPE_RETRY = 1,
    SCRAPE_FAIL = 2
} scrape_verdict_t;

#define SCRAPE_REASON_LEN 300

typedef struct {
    scrape_verdict_t verdict;
    char reason [SCRAPE_REASON_LEN];   //  "" for DONE
    bool cancelled;                     //  RETRY because the worker is stopping
    uint64_t listings;                  //  accepted and sent to storage
    uint64_t rejected;                  //  lines rejected
    uint32_t batches;                   //  listing_batch messages sent
    int64_t elapsed_ms;
} scrape_outcome_t;

typedef enum {
    SCRAPE_KIND_WORLD = 1,
    SCRAPE_KIND_COMMAND = 2
} scrape_kind_t;

typedef struct {
    proto_scrape_task_t task;
    scrape_kind_t kind;
    int64_t timeout_ms;             //  the run is stopped after this long
    size_t batch_max;               //  listings per batch (1..PROTO_BATCH_LISTINGS_MAX)
    size_t line_max;                //  longest accepted line (<= PROTO_LISTING_MAX)
    size_t output_max;              //  command: most stdout bytes read
    int garbage_pct;                //  rejected lines above this % of all lines: FAIL
    char *const *argv;              //  command: NULL-terminated program and arguments
    const char *world_url;          //  world: base URL
    int page_size;                  //  world: page size asked for
    const atomic_bool *cancel;      //  set by the worker to stop the run early
    zsock_t *push;                  //  towards storage (PUSH), used by the job only
} scrape_job_t;

//  Runs the job to its end and fills outcome. Never aborts on anything the scraper or the
//  world does.
void scrape_job_run (const scrape_job_t *job, scrape_outcome_t *outcome);

//  "done" / "retry" / "fail".
const char *scrape_verdict_name (scrape_verdict_t verdict);

//  ---------------------------------------------------------------------------------------
//  The sink (used by the two runners)

typedef struct _scrape_sink_t scrape_sink_t;

scrape_sink_t *scrape_sink_new (const scrape_job_t *job, int64_t deadline_mono_ms);
void scrape_sink_destroy (scrape_sink_t **self_p);

//  Judges one output line (scrape_line_check) and adds the listing or counts the reject.
//  Returns 0, or -1 when a batch could not be sent (deadline or cancel).
int scrape_sink_line (scrape_sink_t *self, const char *line, size_t len);
//  Counts one rejected line with its reason (a static string).
void scrape_sink_reject (scrape_sink_t *self, const char *reason);

//  Lines accepted and rejected so far.
uint64_t scrape_sink_accepted (const scrape_sink_t *self);
uint64_t scrape_sink_rejected (const scrape_sink_t *self);

//  Ends a run that produced its output: applies the garbage rule and the "no listings" rule,
//  then sends the final batch. Fills outcome (verdict, reason, counts).
void scrape_sink_finish (scrape_sink_t *self, scrape_outcome_t *outcome);

//  The garbage rule alone: when more than garbage_pct % of the lines were rejected, fills
//  outcome (FAIL, reason naming the counts per reason) and returns true.
bool scrape_sink_garbage (const scrape_sink_t *self, scrape_outcome_t *outcome);

//  Fills the counts of outcome for a run that failed before finishing.
void scrape_sink_counts (const scrape_sink_t *self, scrape_outcome_t *outcome);

//  Runners (scrape_cmd.c, scrape_world.c).
void scrape_cmd_run (const scrape_job_t *job, scrape_sink_t *sink, int64_t deadline_mono_ms,
                     scrape_outcome_t *outcome);
void scrape_world_run (const scrape_job_t *job, scrape_sink_t *sink, int64_t deadline_mono_ms,
                       scrape_outcome_t *outcome);

//  Splits a scraper.command value into a NULL-terminated argv: words separated by spaces or
//  tabs; '…' and "…" group words with spaces (no escapes, no variables, no globbing: no
//  shell). Returns the argc (>= 1), or -1 for an empty command or an unclosed quote.
//  *argv_p: caller owns, free with scrape_argv_free.
int scrape_argv_split (const char *command, char ***argv_p);
void scrape_argv_free (char ***argv_p);

#endif
