/*  Helpers for the tier heartbeat tests (not a test itself): one tier worker under the real
    supervisor (zipmined --workers <tier>, heartbeat.ms 300 x 3 misses: a worker silent for
    900 ms is SIGKILLed, event child_heartbeat_lost), the supervisor's /metrics read for the
    worker's last heartbeat, and the sockets of the tier's neighbours over ipc:// in
    <tt_dir>/run/hb. Builds on test_tier1_lib.h (whose tt_cleanup drops the database and
    the directory at exit); every helper fails the test (CHECK).                             */
#ifndef ZM_TEST_TIER_HB_LIB_H
#define ZM_TEST_TIER_HB_LIB_H

#include "common/http.h"
#include "tests/support/test_proc.h"
#include "tests/integration/test_tier1_lib.h"

#define TH_HEARTBEAT_MS "300"

static pid_t th_sup;
static char th_run [200], th_log [300], th_metrics [128];

//  At exit, before tt_cleanup drops the database: the supervisor and its children.
static void
th_cleanup (void)
{
    if (th_sup > 0) {
        kill (th_sup, SIGKILL);         //  its children die with it (PDEATHSIG)
        waitpid (th_sup, NULL, 0);
        th_sup = 0;
    }
}

//  tt_setup plus the supervisor's cleanup at exit.
static inline db_t *
th_setup (const char *tag)
{
    db_t *db = tt_setup (tag);
    atexit (th_cleanup);
    snprintf (th_run, sizeof th_run, "%s/run", tt_dir);
    char dir [260];
    snprintf (dir, sizeof dir, "%s/hb", th_run);
    CHECK (zmqx_mkdir_p (dir) == 0);
    snprintf (th_log, sizeof th_log, "%s/node.log", tt_dir);
    return db;
}

//  A socket of type at ipc://<run>/hb/<stage>.ipc, '@' bind or '>' connect.
static inline zsock_t *
th_socket (int type, char how, const char *stage)
{
    char ep [400];
    snprintf (ep, sizeof ep, "%cipc://%s/hb/%s.ipc", how, th_run, stage);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 500;
    zsock_t *sock = zmqx_new (type, ep, &opts);
    CHECK (sock);
    return sock;
}

//  Starts zipmined running only `worker` (argv: extra "--key", "value" pairs, NULL-ended),
//  waits for the worker's readiness and the HTTP port; returns the worker's pid.
static inline pid_t
th_start (const char *worker, const char *budget_ms, const char *const *extra)
{
    char bin [512];
    snprintf (bin, sizeof bin, "%s/bin/zipmined", getenv ("ZM_BUILD_DIR"));
    const char *argv [64] = {
        bin, "--workers", worker, "--node.name", "hb", "--run.dir", th_run, "--db.dsn", tt_dsn,
        "--heartbeat.ms", TH_HEARTBEAT_MS, "--heartbeat.misses", "3", "--http.port", "0",
        "--shutdown.budget.ms", budget_ms, "--ready.timeout.ms", "30000"
    };
    size_t n = 19;
    for (const char *const *e = extra; e && *e && n < 62; e++)
        argv [n++] = *e;
    argv [n] = NULL;
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        if (!freopen (th_log, "a", stdout))
            _exit (127);
        execv (bin, (char *const *) argv);
        _exit (127);
    }
    th_sup = pid;
    CHECK (tl_wait_log (th_log, "\"event\":\"worker_ready\"", NULL, 1, 30000));
    int64_t child = tl_log_int (th_log, "\"event\":\"child_spawn\"", "child_pid");
    CHECK (child > 0);
    char portfile [300];
    snprintf (portfile, sizeof portfile, "%s/hb/http.port", th_run);
    int port = t_wait_port_file (portfile, 10000);
    CHECK (port > 0);
    snprintf (th_metrics, sizeof th_metrics, "http://127.0.0.1:%d/metrics", port);
    return (pid_t) child;
}

//  The value of the first sample of family `name` whose line holds `label1` and `label2`
//  (NULL = any), from the supervisor's /metrics (the worker's last heartbeat); -1 if absent.
static inline double
th_metric (const char *name, const char *label1, const char *label2)
{
    http_options_t hopts;
    http_options_defaults (&hopts);
    hopts.max_attempts = 1;
    hopts.timeout_ms = 5000;
    http_t *http = http_new (&hopts);
    CHECK (http);
    http_response_t *resp = NULL;
    double v = -1;
    if (http_get (http, th_metrics, NULL, &resp) == 0 && http_response_status (resp) == 200) {
        char *text = http_response_take_body (resp, NULL);
        size_t nlen = strlen (name);
        char *save = NULL;
        for (char *line = strtok_r (text, "\n", &save); line;
             line = strtok_r (NULL, "\n", &save)) {
            if (strncmp (line, name, nlen) != 0 || (line [nlen] != '{' && line [nlen] != ' '))
                continue;
            if ((label1 && !strstr (line, label1)) || (label2 && !strstr (line, label2)))
                continue;
            char *sp = strrchr (line, ' ');
            if (sp) {
                v = strtod (sp + 1, NULL);
                break;
            }
        }
        free (text);
    }
    http_response_destroy (&resp);
    http_destroy (&http);
    return v;
}

//  The worker's heartbeats sent, as its last beat told the supervisor.
static inline double
th_beats (const char *worker)
{
    char label [64];
    snprintf (label, sizeof label, "worker=\"%s\"", worker);
    return th_metric ("zipmine_worker_heartbeats_total", "outcome=\"sent\"", label);
}

//  Watches a worker blocked on a lock for 3.6 s (four times the 900 ms kill threshold):
//  every 250 ms the worker (pid) must be alive and waiting_sql (a count of its sessions
//  waiting on a lock) must be 1. Then its heartbeats must have grown by at least 5, there
//  must be no child_heartbeat_lost and one child_spawn. Returns the queue gauge seen.
static inline double
th_blocked (db_t *db, const char *waiting_sql, pid_t pid, const char *worker)
{
    usleep (500 * 1000);                //  a beat carries the blocked state
    double hb0 = th_beats (worker);
    CHECK (hb0 >= 0);
    int64_t t0 = clock_mono_ms ();
    int waiting = 0, samples = 0;
    while (clock_mono_ms () - t0 < 3600) {
        usleep (250 * 1000);
        samples++;
        waiting += tl_int (db, "%s", waiting_sql) == 1;
        CHECK (kill (pid, 0) == 0);
    }
    double hb1 = th_beats (worker);
    char label [64];
    snprintf (label, sizeof label, "worker=\"%s\"", worker);
    double queued = th_metric ("zipmine_tier_queued_submissions", label, NULL);
    printf ("%s blocked 3600 ms: heartbeats %.0f -> %.0f, waiting on the lock in %d/%d "
            "samples, queued %.0f\n", worker, hb0, hb1, waiting, samples, queued);
    CHECK_EQ_INT (waiting, samples);
    CHECK (hb1 - hb0 >= 5);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_heartbeat_lost\"", NULL), 0);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_spawn\"", NULL), 1);
    return queued;
}

//  Waits for the supervisor to exit; returns its exit status (or -1 after timeout_ms).
static inline int
th_wait_sup (int64_t timeout_ms)
{
    int64_t end = clock_mono_ms () + timeout_ms;
    while (clock_mono_ms () < end) {
        int status = 0;
        pid_t r = waitpid (th_sup, &status, WNOHANG);
        if (r == th_sup) {
            th_sup = 0;
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
        usleep (20 * 1000);
    }
    return -1;
}

#endif
