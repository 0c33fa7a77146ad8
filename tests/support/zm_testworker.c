/*  zm_testworker: a worker on the common runtime (common/worker.h) that misbehaves on demand,
    for the supervisor's integration tests (tests/integration/test_supervisor_*).

    Its name is its executable's file name, so a test makes several distinct workers by
    symlinking this binary under other names in a bin.dir. The behaviour comes from
    ZM_TEST_MODE, either one mode for every instance or a comma list of SELECTOR=MODE where
    SELECTOR is "name", "name.index" or "*" (the most specific match wins):

        normal          ready at once, heartbeats, drains on SIGTERM (the default)
        exit100         exits 100 (permanent / config) before becoming ready
        exit1:MS        ready, then exits 1 (transient) after MS ms
        crash:MS        ready, then abort () after MS ms (death by SIGABRT)
        noready         never writes its readiness byte (heartbeats go on)
        slowready:MS    becomes ready only MS ms after start
        readyfile:PATH  becomes ready once the file PATH exists (tests decide when)
        crashfile:PATH  ready, then abort () as soon as the file PATH exists
        ignoreterm      ready, and SIGTERM/SIGINT are ignored (SIG_IGN, unblocked), so only
                        SIGKILL ends it
        hang:MS         ready, then after MS ms the loop blocks forever (heartbeats stop)
        slowdrain:MS    ready; on SIGTERM takes MS ms to drain, then exits 0
        degradedfile:PATH  ready; while the file PATH exists the worker reports dependency
                        "testdep" down with the file's first line as the reason
                        (worker_degraded), recovered once it is gone

    e.g. ZM_TEST_MODE="normal,beta=exit100,alpha.1=crash:300".
    It also keeps one metric of its own, zipmine_testworker_ticks_total.                      */
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char mode [64];
    long ms;
    char path [256];                //  readyfile
    metrics_series_t *ticks;
    int64_t drain_started;
} s_test_t;

//  Finds the mode for name.index in spec (see above). Writes "normal" when nothing matches.
static void
s_pick_mode (const char *spec, const char *name, int index, char *mode, size_t size)
{
    snprintf (mode, size, "normal");
    if (!spec || !*spec)
        return;
    if (!strchr (spec, '=')) {
        snprintf (mode, size, "%s", spec);
        return;
    }
    char id [128];
    snprintf (id, sizeof id, "%s.%d", name, index);
    int best = -1;
    char *copy = strdup (spec);
    if (!copy)
        abort ();
    char *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (tok, '=');
        int rank;
        const char *value;
        if (!eq) {
            rank = 0;
            value = tok;
        }
        else {
            *eq = 0;
            value = eq + 1;
            rank = strcmp (tok, "*") == 0 ? 0
                 : strcmp (tok, name) == 0 ? 1
                 : strcmp (tok, id) == 0 ? 2 : -1;
        }
        if (rank > best) {
            best = rank;
            snprintf (mode, size, "%s", value);
        }
    }
    free (copy);
}

static int
s_tick (worker_t *w, void *arg)
{
    s_test_t *t = arg;
    metrics_inc (t->ticks);
    if (worker_state (w) == WORKER_DRAINING) {
        if (strcmp (t->mode, "slowdrain") == 0 && worker_uptime_ms (w) - t->drain_started >= t->ms)
            worker_drained (w);
        return 0;
    }
    if (strcmp (t->mode, "readyfile") == 0 && worker_state (w) == WORKER_STARTING
    &&  access (t->path, F_OK) == 0)
        worker_ready (w);
    if (strcmp (t->mode, "degradedfile") == 0) {
        FILE *f = fopen (t->path, "r");
        if (f) {
            char line [512] = "";
            if (!fgets (line, sizeof line, f))
                line [0] = 0;
            fclose (f);
            line [strcspn (line, "\n")] = 0;
            worker_degraded (w, "testdep", line);
        }
        else
            worker_recovered (w, "testdep");
    }
    if (strcmp (t->mode, "crashfile") == 0 && access (t->path, F_OK) == 0) {
        log_info ("testworker_crash", LS ("file", t->path));
        abort ();
    }
    if (worker_uptime_ms (w) < t->ms)
        return 0;
    if (strcmp (t->mode, "slowready") == 0 && worker_state (w) == WORKER_STARTING)
        worker_ready (w);
    if (strcmp (t->mode, "exit1") == 0) {
        log_info ("testworker_exit1", LI ("after_ms", t->ms));
        worker_exit (w, EXIT_TRANSIENT);
    }
    else
    if (strcmp (t->mode, "crash") == 0) {
        log_info ("testworker_crash", LI ("after_ms", t->ms));
        abort ();
    }
    else
    if (strcmp (t->mode, "hang") == 0) {
        log_info ("testworker_hang", LI ("after_ms", t->ms));
        while (true)
            pause ();
    }
    return 0;
}

static void
s_drain (worker_t *w, void *arg)
{
    s_test_t *t = arg;
    if (strcmp (t->mode, "slowdrain") == 0)
        t->drain_started = worker_uptime_ms (w);
    else
        worker_drained (w);
}

int
main (int argc, char **argv)
{
    const char *base = strrchr (argv [0], '/');
    base = base ? base + 1 : argv [0];
    worker_t *w = worker_new (base, argc, argv);
    if (!w)
        return EXIT_TRANSIENT;

    s_test_t t;
    memset (&t, 0, sizeof t);
    char spec [320];
    s_pick_mode (getenv ("ZM_TEST_MODE"), worker_name (w), worker_index (w), spec, sizeof spec);
    char *colon = strchr (spec, ':');
    if (colon) {
        *colon = 0;
        t.ms = strtol (colon + 1, NULL, 10);
        snprintf (t.path, sizeof t.path, "%s", colon + 1);
    }
    snprintf (t.mode, sizeof t.mode, "%.63s", spec);
    log_info ("testworker_mode", LS ("mode", t.mode), LI ("ms", t.ms));

    static const char *known [] = { "normal", "exit100", "exit1", "crash", "noready",
                                    "ignoreterm", "hang", "slowdrain", "slowready",
                                    "readyfile", "crashfile", "degradedfile" };
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known [0]; i++)
        ok = ok || strcmp (t.mode, known [i]) == 0;
    if (!ok || strcmp (t.mode, "exit100") == 0) {
        log_error ("testworker_config", LS ("mode", t.mode),
                   LS ("reason", ok ? "exit100 requested" : "unknown ZM_TEST_MODE"));
        worker_destroy (&w);
        return EXIT_CONFIG;
    }
    metrics_family_t *fam = metrics_counter (worker_metrics (w),
                                             "zipmine_testworker_ticks_total",
                                             "Ticks of the test worker", NULL);
    t.ticks = metrics_series (fam);
    worker_set_tick (w, 20, s_tick, &t);
    worker_set_drain (w, s_drain, &t);
    if (strcmp (t.mode, "ignoreterm") == 0) {
        //  An ignored, unblocked signal is discarded by the kernel: the runtime's signalfd
        //  never sees it, exactly like a process that ignores SIGTERM.
        signal (SIGTERM, SIG_IGN);
        signal (SIGINT, SIG_IGN);
        sigset_t set;
        sigemptyset (&set);
        sigaddset (&set, SIGTERM);
        sigaddset (&set, SIGINT);
        sigprocmask (SIG_UNBLOCK, &set, NULL);
    }
    if (strcmp (t.mode, "noready") != 0 && strcmp (t.mode, "slowready") != 0
    &&  strcmp (t.mode, "readyfile") != 0)
        worker_ready (w);
    int rc = worker_run (w);
    worker_destroy (&w);
    return rc;
}
