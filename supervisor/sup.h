/*  sup: the supervisor of one node (zipmined's whole behaviour; main.c only calls it).

    Every child (one instance of a worker, "name.index") is an explicit state machine:

        DOWN --spawn--> STARTING --"\n" on its readiness fd--> READY
        STARTING --ready.timeout.ms--> (SIGKILL) STOPPING --reaped--> BACKOFF
        READY --silent heartbeat.misses x heartbeat.ms--> (SIGKILL) STOPPING --> BACKOFF
        STARTING/READY --exit 1, signal, exit 0--> BACKOFF --delay--> STARTING
        STARTING/READY --exit 100--> FAILED (never restarted; a required worker stops the node)
        any running --stop/restart/scale down--> STOPPING (SIGTERM; SIGKILL after
                      shutdown.budget.ms) --reaped--> DOWN (or STARTING at once for restart)

    Every transition goes through one function that logs event `child_state` with from, to
    and reason. The backoff delay is restart.base.ms doubling to restart.cap.ms with jitter,
    reset after restart.reset.ms READY. More than restart.intensity crash restarts within
    restart.period.ms across the node stop every child in reverse order and make sup_run
    return 1. SIGTERM/SIGINT (or `zipminectl stop`) stop every child in reverse order and make
    sup_run return 0 once all are reaped: stragglers are SIGKILLed at shutdown.budget.ms, so the
    node is down shortly after it; a second SIGTERM/SIGINT SIGKILLs them at once.

    One zmq_poll loop drives everything: the signalfd (SIGTERM, SIGINT, SIGCHLD, SIGHUP),
    the heartbeat ROUTER (ipc://<run.dir>/<node.name>/sup.ipc), the control ROUTER
    (ctl.ipc, for zipminectl), the HTTP port (/livez /readyz /metrics) and the readiness fds
    of starting children, with a timeout to the nearest deadline.                            */
#ifndef ZM_SUP_H
#define ZM_SUP_H

#include <stddef.h>

#include "common/config.h"

typedef struct _sup_t sup_t;

//  Creates the supervisor: resolves the workers (role table or `workers`), their binaries
//  (bin.dir or beside self_exe), blocks the signals it reads from a signalfd, takes the
//  node's lock file, binds the control and heartbeat sockets and the HTTP port (writing the
//  port to <run.dir>/<node.name>/http.port). config is borrowed and must outlive the
//  supervisor; argv [1..argc-1] is passed unchanged to every child. Nothing is started yet.
//  Returns NULL with a reason in err and the exit code zipmined should use in *exit_code
//  (100 for a configuration problem, 1 otherwise).
sup_t *sup_new (const zm_config_t *config, int argc, char **argv, const char *self_exe,
                char *err, size_t errsize, int *exit_code);

//  Stops nothing (call sup_run to completion first); closes sockets and frees.
void sup_destroy (sup_t **self_p);

//  Starts the children in order and supervises them until the node stops. Returns
//  zipmined's exit code: 0 after SIGTERM/SIGINT or `zipminectl stop`, 1 when the restart
//  intensity was exceeded or a required worker failed permanently (exit 100).
int sup_run (sup_t *self);

#endif
