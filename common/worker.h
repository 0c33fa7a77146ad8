/*  worker: the runtime every zipmine worker process runs on.

    It does, once, everything the supervision contract (docs/worker-runtime.md,
    DESIGN.md section 2) asks of a worker, so a worker's main.c is only its own logic:

        int main (int argc, char **argv)
        {
            worker_t *w = worker_new ("storage", argc, argv);
            if (!w)
                return EXIT_TRANSIENT;
            storage_t *st = storage_new (w);            //  binds sockets, registers readers
            if (!st) {
                worker_destroy (&w);
                return EXIT_TRANSIENT;
            }
            worker_set_drain (w, storage_drain, st);    //  SIGTERM: flush, then worker_drained
            worker_ready (w);
            int rc = worker_run (w);
            storage_destroy (&st);
            worker_destroy (&w);
            return rc;
        }

    What the runtime does:
      - loads the one configuration (zm_config_load_or_exit: a bad value exits 100);
      - names the log process "<name>.<index>" from ZM_WORKER_NAME / ZM_WORKER_INDEX
        (just "<name>" when run by hand);
      - blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE before any ZeroMQ thread exists and reads
        the first three from a signalfd in the loop (no work in signal handlers);
      - watches the parent-death pipe ZM_PDEATH_FD: EOF/HUP means the supervisor is gone, so
        worker_run returns at once (EXIT_TRANSIENT) without draining;
      - worker_ready () writes "\n" to ZM_READY_FD and closes it;
      - connects a DEALER (routing id "<name>.<index>") to ZM_SUP_ENDPOINT, sends a proto
        heartbeat every heartbeat.ms carrying state, seq, uptime and the metrics registry's
        samples, and obeys proto control messages from the supervisor ("drain", "stop");
      - runs one poll loop over the registered readers (ZeroMQ sockets and raw fds), the
        signalfd, the parent-death fd, the supervisor socket, a periodic tick and the
        heartbeat timer. Every wait is bounded (at most WORKER_POLL_MAX_MS), so a signal is
        acted on promptly even when nothing else happens;
      - keeps the standard runtime metrics (zipmine_worker_uptime_seconds,
        zipmine_worker_loop_iterations_total, zipmine_worker_heartbeats_total, ...: see
        docs/worker-runtime.md).

    Run by hand (none of the ZM_* variables above set), a worker still works: no heartbeats,
    readiness is only logged, Ctrl-C drains and exits.

    Shutdown: SIGTERM, SIGINT or a "drain" control message moves the worker to DRAINING: the
    drain callback is called once (stop intake, flush), and the loop keeps running (readers,
    ticks, heartbeats) until the worker calls worker_drained (), after which worker_run
    returns 0. Without a drain callback, worker_run returns 0 at once. If the worker is not
    drained within shutdown.budget.ms minus a safety margin, worker_run gives up and returns
    EXIT_TRANSIENT (event drain_timeout), so the supervisor never has to SIGKILL a worker
    that honours the contract. A second SIGTERM/SIGINT while draining, or a "stop" control
    message, ends the loop at once (exit 0 for "stop", EXIT_TRANSIENT for the second signal).
    SIGHUP is logged and ignored (the configuration is immutable).

    Not thread-safe: everything happens on the thread that calls worker_run.                 */
#ifndef ZM_WORKER_H
#define ZM_WORKER_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"

typedef struct _worker_t worker_t;

//  Worker states as reported in heartbeats (values match proto_worker_state_t).
typedef enum {
    WORKER_STARTING = 1,        //  from worker_new until worker_ready
    WORKER_READY = 2,           //  serving
    WORKER_DRAINING = 3         //  SIGTERM / drain received: finishing in-flight work
} worker_state_t;

//  Longest single wait in the loop: the bound on how late a signal can be noticed when no
//  socket, timer or fd wakes the loop earlier.
#define WORKER_POLL_MAX_MS 100

//  Handlers return 0 to go on, or -1 for a fatal error: the loop then ends and worker_run
//  returns EXIT_TRANSIENT (the supervisor restarts the worker with backoff). A handler should
//  consume what made its reader readable (read one message): the loop is level-triggered.
//  Heartbeats and signals are handled between handler calls, so no handler or tick may block
//  for long: well under heartbeat.ms x (heartbeat.misses - 1) (2 s by default), or the
//  supervisor takes the worker for hung and kills it. Bound every external call accordingly
//  (timeouts), or split long work across ticks.
typedef int (worker_sock_fn) (worker_t *worker, zsock_t *sock, void *arg);
typedef int (worker_fd_fn) (worker_t *worker, int fd, void *arg);
//  Called every tick interval (and, best effort, not earlier). Same return convention.
typedef int (worker_tick_fn) (worker_t *worker, void *arg);
//  Called once when draining starts. Stop intake here and call worker_drained () when the
//  last in-flight work is done (here already, or later from a handler or tick).
typedef void (worker_drain_fn) (worker_t *worker, void *arg);

//  Loads the configuration (argv as given to main; exits 100 on a bad value or a malformed
//  ZM_* variable), sets up logging, signals, the parent-death and readiness fds and the
//  supervisor DEALER, and registers the runtime metrics. `name` is the worker's own name
//  (the executable's, e.g. "storage", [A-Za-z0-9_.-]{1,64}); ZM_WORKER_NAME, when set, takes
//  precedence (it is the name the supervisor knows the child by, e.g. when one binary runs
//  under several names). Returns NULL (having logged why) if a resource cannot be set up;
//  main then returns EXIT_TRANSIENT.
worker_t *worker_new (const char *name, int argc, char **argv);

//  Closes the supervisor socket, the signalfd and the fds the runtime owns, frees the
//  configuration and the metrics registry (pointers from worker_config/worker_metrics die
//  here). Readers are not owned: destroy your sockets yourself (before or after). Nulls
//  *self_p; no-op on NULL.
void worker_destroy (worker_t **self_p);

//  The loaded configuration (immutable, owned by the worker).
const zm_config_t *worker_config (worker_t *self);

//  The process's metrics registry (owned by the worker). Register the worker's own metrics
//  here: they travel with every heartbeat and appear on the supervisor's /metrics with
//  labels worker="<name>", instance="<index>".
metrics_t *worker_metrics (worker_t *self);

//  "storage"; the instance index (0 when run by hand); "storage.0" (the log proc name and
//  the routing id towards the supervisor).
const char *worker_name (worker_t *self);
int worker_index (worker_t *self);
const char *worker_id (worker_t *self);

worker_state_t worker_state (worker_t *self);
//  "starting" / "ready" / "draining".
const char *worker_state_name (worker_state_t state);

//  True when run under a supervisor (ZM_SUP_ENDPOINT set), so heartbeats are sent.
bool worker_supervised (worker_t *self);

//  Calls handler (self, sock, arg) whenever sock has a message. At most 32 readers and fds
//  together. Returns 0, or -1 when full or sock is already registered. The socket is not
//  owned. May be called from handlers: the change takes effect on the next loop iteration.
int worker_add_reader (worker_t *self, zsock_t *sock, worker_sock_fn *handler, void *arg);
//  Stops watching sock (e.g. to stop intake while draining). Returns 0, or -1 if unknown.
int worker_remove_reader (worker_t *self, zsock_t *sock);

//  Same for a raw file descriptor (a pipe, a socket, a listening HTTP fd), watched for
//  readability (POLLIN, or POLLHUP/POLLERR, which the handler must handle by reading).
int worker_add_fd (worker_t *self, int fd, worker_fd_fn *handler, void *arg);
int worker_remove_fd (worker_t *self, int fd);

//  Calls tick (self, arg) every interval_ms (> 0) from the loop; replaces any earlier tick;
//  tick NULL removes it. The first call comes interval_ms after this call.
void worker_set_tick (worker_t *self, int64_t interval_ms, worker_tick_fn *tick, void *arg);

//  Sets the drain callback (see Shutdown above).
void worker_set_drain (worker_t *self, worker_drain_fn *drain, void *arg);

//  Declares the worker ready (sockets bound, dependencies answering): writes "\n" to the
//  readiness fd and closes it, logs "worker_ready", moves STARTING -> READY and sends a
//  heartbeat at once. Idempotent; ignored while draining.
void worker_ready (worker_t *self);

//  The worker has finished draining: worker_run returns 0 at the end of this iteration.
//  Outside DRAINING it also ends the loop with 0 (a worker that has nothing more to do).
void worker_drained (worker_t *self);

//  Ends the loop at the end of this iteration; worker_run returns exit_code (EXIT_CLEAN,
//  EXIT_TRANSIENT or EXIT_CONFIG from common/rc.h). For a worker that hits a fatal error
//  outside a handler, or a permanent one (bad credentials: EXIT_CONFIG).
void worker_exit (worker_t *self, int exit_code);

//  Starts draining as if SIGTERM had arrived (also from handlers; idempotent).
void worker_drain (worker_t *self);

//  Runs the loop until the worker is drained, stopped, told to exit, or the supervisor dies.
//  Returns the process exit code: 0 clean, EXIT_TRANSIENT (1) on a fatal handler error,
//  a drain timeout, a second signal or parent death, or the code given to worker_exit.
//  Logs "worker_exit" with the code and reason.
int worker_run (worker_t *self);

//  ---- Dependency outages (DEGRADED) ------------------------------------------------------
//
//  A READY worker whose dependency fails (the coordinator, S3, PostgreSQL) stays alive and
//  keeps working (retrying with backoff), but the node is not ready while it lasts: the
//  heartbeat carries state DEGRADED and a reason, and the supervisor's /readyz answers 503
//  naming the worker and the reason. DEGRADED never affects liveness: heartbeats go on, the
//  supervisor does not restart a degraded worker, /livez stays 200.
//
//  worker_degraded (w, "s3", "connect refused (127.0.0.1:9000)") marks one dependency down
//  (a repeated call for the same dependency only updates its reason); worker_recovered (w,
//  "s3") marks it up again, a no-op when it was not down. Call them on every failure and
//  success of the dependency: both are cheap and only transitions are logged
//  (worker_degraded / worker_recovered with the outage's duration) and sent to the
//  supervisor at once (a heartbeat right away), the rest travels with the next beat.
//  `dependency` is the caller's constant name, [a-z0-9_]{1,32} (programmer error
//  otherwise); at most WORKER_DEPENDENCIES_MAX distinct names. `reason` is any text (it may
//  come from the network): it is cut to fit and non-printable bytes become '?'.
//  The heartbeat reason is "<dependency>: <reason>" of the oldest outage, with
//  " (+N more)" when several dependencies are down. Degraded outside READY is remembered
//  and shown once the worker is READY (STARTING and DRAINING are reported as such).
//  Metrics: zipmine_worker_dependency_down{dependency} (1 while down) and
//  zipmine_worker_dependency_outages_total{dependency}.
#define WORKER_DEPENDENCIES_MAX 8
#define WORKER_DEPENDENCY_NAME_MAX 32
void worker_degraded (worker_t *self, const char *dependency, const char *reason);
void worker_recovered (worker_t *self, const char *dependency);
//  True while at least one dependency is down.
bool worker_is_degraded (worker_t *self);
//  The reason the heartbeat carries ("" when none). Valid until the next degraded/recovered
//  call.
const char *worker_degraded_reason (worker_t *self);

//  Milliseconds since worker_new (monotonic).
int64_t worker_uptime_ms (worker_t *self);

//  For a worker that runs other programs (an external scraper command): call in the child
//  between fork and exec. The runtime blocks SIGTERM/SIGINT/SIGHUP and ignores SIGPIPE, and
//  both survive exec, so without this a child would not die of SIGTERM or SIGPIPE. Unblocks
//  the three and restores SIGPIPE's default action. Async-signal-safe. (With posix_spawn,
//  set an empty sigmask and SIGPIPE in the default set instead.)
void worker_child_reset_signals (void);

#endif
