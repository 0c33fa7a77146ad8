/*  Shared by tests that run zipmine binaries as real child processes: start one from the
    build directory with its own environment and its log in a file, and read that log.       */
#ifndef ZM_TEST_PROC_H
#define ZM_TEST_PROC_H

#include "common/clock.h"
#include "common/zmqx.h"
#include "tests/testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

//  Starts $ZM_BUILD_DIR/bin/<name> with the arguments args (NULL-terminated; may be NULL)
//  and this process's environment plus env (name, value, name, value, ..., NULL; may be
//  NULL), its stdout appended to logpath (NULL: /dev/null). Returns its pid.
static inline pid_t
t_spawn (const char *name, const char *logpath, const char *const *env,
         const char *const *args)
{
    char bin [512];
    snprintf (bin, sizeof bin, "%s/bin/%s", TEST_ENV ("ZM_BUILD_DIR"), name);
    const char *argv [32] = { bin };
    size_t argc = 1;
    for (size_t i = 0; args && args [i]; i++) {
        CHECK (argc < 31);
        argv [argc++] = args [i];
    }
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        if (!freopen (logpath ? logpath : "/dev/null", "a", stdout))
            _exit (127);
        for (size_t i = 0; env && env [i] && env [i + 1]; i += 2)
            setenv (env [i], env [i + 1], 1);
        execv (bin, (char *const *) argv);
        _exit (127);
    }
    return pid;
}

//  The supervisor's side of a worker under test: a ROUTER bound at ipc://dir/name.ipc (linger
//  0), that endpoint into ep (what the worker's ZM_SUP_ENDPOINT names).
static inline zsock_t *
t_sup_router (const char *dir, const char *name, char *ep, size_t size)
{
    snprintf (ep, size, "ipc://%s/%s.ipc", dir, name);
    char bind [600];
    snprintf (bind, sizeof bind, "@%s", ep);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.linger_ms = 0;
    zsock_t *router = zmqx_new (ZMQ_ROUTER, bind, &opts);
    CHECK (router);
    return router;
}

//  SIGTERM to the child *pid_p, then waits for it and zeroes *pid_p (an exit handler then
//  leaves it alone). Returns its exit code, or -1 when a signal ended it; *took_ms (may be
//  NULL) gets the time from the signal to its end.
static inline int
t_term (pid_t *pid_p, int64_t *took_ms)
{
    int64_t t0 = clock_mono_ms ();
    CHECK (*pid_p > 0 && kill (*pid_p, SIGTERM) == 0);
    int status = 0;
    CHECK (waitpid (*pid_p, &status, 0) == *pid_p);
    *pid_p = 0;
    if (took_ms)
        *took_ms = clock_mono_ms () - t0;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Lines of the file at logpath that hold needle (0 when it does not exist).
static inline int
t_log_count (const char *logpath, const char *needle)
{
    FILE *f = fopen (logpath, "r");
    int found = 0;
    char line [8192];
    while (f && fgets (line, sizeof line, f))
        if (strstr (line, needle))
            found++;
    if (f)
        fclose (f);
    return found;
}

//  Waits until the log holds n lines with needle (at most timeout_ms).
static inline bool
t_wait_log (const char *logpath, const char *needle, int n, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (t_log_count (logpath, needle) >= n)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

//  The port a supervisor started with --http.port 0 wrote to path (<run.dir>/<node>/http.port),
//  waited for up to timeout_ms; 0 if it never appeared.
static inline int
t_wait_port_file (const char *path, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        int port = 0;
        FILE *f = fopen (path, "r");
        if (f) {
            if (fscanf (f, "%d", &port) != 1)
                port = 0;
            fclose (f);
        }
        if (port > 0)
            return port;
        usleep (50 * 1000);
    }
    return 0;
}

#endif
