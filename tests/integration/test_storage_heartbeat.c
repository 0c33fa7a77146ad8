/*  The storage worker under a real supervisor keeps heartbeating while its database work is
    blocked, and drains by finishing the batch in hand.

    zipmined runs only storage (--workers storage) with heartbeat.ms 300 and heartbeat.misses
    3: a worker silent for 900 ms is SIGKILLed (child_heartbeat_lost). The test holds a SHARE
    lock on miner_batches, so storage's transaction blocks after its COPY, and sends six
    batches of one zipcode. For 3.6 s (four times the kill threshold) the test checks that:
      - pg_stat_activity shows storage waiting on the lock the whole time (the DB call is
        really blocked);
      - the storage process is the one first spawned, alive, never restarted, no
        child_heartbeat_lost;
      - its heartbeats keep arriving: the worker's own heartbeat counter, as served by the
        supervisor's /metrics from the last beat, grows by at least 5 (12 expected);
      - at most 3 batches are in flight (zipmine_storage_inflight_batches == 3: the other
        three wait in ZeroMQ, the PULL socket is not read while the writer is full).
    Then the lock is released and all six batches are stored, the zipcode complete.

    Drain: the lock is taken again, a batch of a second zipcode is sent and blocks; SIGTERM
    to zipmined (which SIGTERMs storage). Storage stays up, draining, until the lock is
    released 1.5 s later; the batch is stored and storage exits 0, zipmined exits 0.         */
#include "common/clock.h"
#include "common/http.h"
#include "common/zmqx.h"
#include "tests/integration/test_storage_lib.h"

#include <signal.h>
#include <sys/wait.h>

static const char *EPOCH = "2026-11-25T12-00-00";
static pid_t s_sup = 0;
static tdb_t *s_tdb = NULL;             //  dropped at exit, also after a failed check
static char s_run_dir [64];

static void
s_cleanup (void)
{
    if (s_sup > 0) {
        kill (s_sup, SIGKILL);          //  its children die with it (PDEATHSIG)
        waitpid (s_sup, NULL, 0);
        s_sup = 0;
    }
    tdb_cleanup (s_tdb, s_run_dir);
}

static pid_t
s_start (const char *dsn, const char *run_dir, const char *logpath)
{
    const char *args [] = { "--workers", "storage", "--node.name", "hb", "--run.dir", run_dir,
                            "--db.dsn", dsn, "--heartbeat.ms", "300", "--heartbeat.misses", "3",
                            "--http.port", "0", "--shutdown.budget.ms", "10000",
                            "--ready.timeout.ms", "30000", NULL };
    s_sup = t_spawn ("zipmined", logpath, NULL, args);
    return s_sup;
}

//  The integer after needle in the first log line holding it, or -1.
static int64_t
s_log_int (const char *logpath, const char *needle)
{
    FILE *f = fopen (logpath, "r");
    char line [8192];
    int64_t v = -1;
    while (f && fgets (line, sizeof line, f)) {
        char *p = strstr (line, needle);
        if (p) {
            v = strtoll (p + strlen (needle), NULL, 10);
            break;
        }
    }
    if (f)
        fclose (f);
    return v;
}

static const char *WAITING =
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'zipmine-storage' "
    "AND wait_event_type = 'Lock' AND state = 'active' AND datname = current_database()";

//  The value of the first sample of family `name` whose line holds every label in `labels`
//  (a NULL-terminated list), from the supervisor's /metrics; -1 when absent.
static double
s_metric (http_t *http, const char *url, const char *name, const char *const *labels)
{
    http_response_t *resp = NULL;
    if (http_get (http, url, NULL, &resp) != 0 || http_response_status (resp) != 200) {
        http_response_destroy (&resp);
        return -1;
    }
    char *text = http_response_take_body (resp, NULL);
    http_response_destroy (&resp);
    double v = -1;
    size_t nlen = strlen (name);
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        if (strncmp (line, name, nlen) != 0 || (line [nlen] != '{' && line [nlen] != ' '))
            continue;
        bool all = true;
        for (const char *const *l = labels; *l; l++)
            all = all && strstr (line, *l) != NULL;
        char *sp = strrchr (line, ' ');
        if (all && sp) {
            v = strtod (sp + 1, NULL);
            break;
        }
    }
    free (text);
    return v;
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    tdb_t t;
    tdb_create (&t, "storage_hb");
    db_t *check = tdb_connect (&t, "test-check");
    db_t *locker = tdb_connect (&t, "test-locker");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494", "10001" };
    tdb_seed (check, EPOCH, zips, 2, 3600);
    s_tdb = &t;
    atexit (s_cleanup);

    char run_dir [] = "/tmp/zm_storage_hb_XXXXXX";
    CHECK (mkdtemp (run_dir));
    snprintf (s_run_dir, sizeof s_run_dir, "%s", run_dir);
    char logpath [256], endpoint [512], portfile [512];
    snprintf (logpath, sizeof logpath, "%s/node.log", run_dir);
    snprintf (endpoint, sizeof endpoint, ">ipc://%s/hb/storage.ipc", run_dir);
    snprintf (portfile, sizeof portfile, "%s/hb/http.port", run_dir);

    //  six batches of 300 listings for 77494 (seq 0..5, the last final), one for 10001
    enum { NB = 6, N = 300 };
    msgpack_sbuffer sb [NB + 1];
    char **texts = calloc (N, sizeof *texts);
    for (int i = 0; i < N; i++)
        texts [i] = malloc (1024);
    for (int b = 0; b <= NB; b++) {
        const char *zip = b < NB ? "77494" : "10001";
        for (int i = 0; i < N; i++)
            t_listing (texts [i], 1024, 1000 + b * N + i, zip);
        t_batch (&sb [b], EPOCH, zip, 7, b < NB ? (uint32_t) b : 0, b >= NB - 1,
                 (const char *const *) texts, N);
    }

    pid_t sup = s_start (t.dsn, run_dir, logpath);
    CHECK (t_wait_log (logpath, "\"event\":\"worker_ready\"", 1, 30000));
    int64_t storage_pid = s_log_int (logpath, "\"worker\":\"storage.0\",\"child_pid\":");
    CHECK (storage_pid > 0);
    int port = t_wait_port_file (portfile, 5000);
    CHECK (port > 0);
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    http_options_t hopts;
    http_options_defaults (&hopts);
    hopts.max_attempts = 1;
    hopts.timeout_ms = 5000;
    http_t *http = http_new (&hopts);
    CHECK (http);
    const char *sent [] = { "outcome=\"sent\"", "worker=\"storage\"", NULL };
    const char *storage_labels [] = { "worker=\"storage\"", NULL };

    zmqx_opts_t zopts = zmqx_opts_default ();
    zopts.sndtimeo_ms = 5000;
    zsock_t *push = zmqx_new (ZMQ_PUSH, endpoint, &zopts);
    CHECK (push);

    //  block storage inside its first transaction, then queue the rest
    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE miner_batches IN SHARE MODE", 0, NULL, NULL), 0);
    for (int b = 0; b < NB; b++)
        CHECK_EQ_INT (zmqx_send (push, sb [b].data, sb [b].size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_q (check, WAITING, 1, 15000));
    //  the supervisor serves the rows of the latest beat; let one carry the blocked state
    usleep (500 * 1000);
    double hb0 = s_metric (http, url, "zipmine_worker_heartbeats_total", sent);
    CHECK (hb0 >= 0);
    int64_t t0 = clock_mono_ms ();
    int still_waiting = 0, samples = 0;
    while (clock_mono_ms () - t0 < 3600) {
        usleep (250 * 1000);
        samples++;
        still_waiting += t_q (check, WAITING) == 1;
        CHECK (kill ((pid_t) storage_pid, 0) == 0);
    }
    double hb1 = s_metric (http, url, "zipmine_worker_heartbeats_total", sent);
    double inflight = s_metric (http, url, "zipmine_storage_inflight_batches", storage_labels);
    printf ("blocked 3600 ms: heartbeats %.0f -> %.0f, still waiting in %d/%d samples, "
            "inflight %.0f\n", hb0, hb1, still_waiting, samples, inflight);
    CHECK_EQ_INT (still_waiting, samples);
    CHECK (hb1 - hb0 >= 5);
    CHECK (inflight == 3);
    CHECK_EQ_INT (t_log_count (logpath, "\"event\":\"child_heartbeat_lost\""), 0);
    CHECK_EQ_INT (t_log_count (logpath, "\"event\":\"child_spawn\""), 1);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), 0);

    //  release: every batch goes in, the zipcode completes
    CHECK_EQ_INT (db_rollback (locker), 0);
    CHECK (t_wait_q (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '77494' AND "
                            "status = 'stored' AND listing_count = 1800", 1, 30000));
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_batches"), NB);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_listings"), NB * N);
    CHECK (t_wait_log (logpath, "\"event\":\"zipcode_stored\"", 1, 5000));
    printf ("released: %d batches stored, zipcode complete, same storage pid %lld\n", NB,
            (long long) storage_pid);

    //  drain with a batch blocked in hand: storage finishes it, then exits 0
    CHECK_EQ_INT (db_begin (locker), 0);
    CHECK_EQ_INT (db_exec (locker, "LOCK TABLE miner_batches IN SHARE MODE", 0, NULL, NULL), 0);
    CHECK_EQ_INT (zmqx_send (push, sb [NB].data, sb [NB].size, ZMQX_FRAME_MAX_DEFAULT, 0), 0);
    CHECK (t_wait_q (check, WAITING, 1, 15000));
    CHECK (kill (sup, SIGTERM) == 0);
    CHECK (t_wait_log (logpath, "\"event\":\"storage_draining\"", 1, 5000));
    usleep (1500 * 1000);
    CHECK (kill ((pid_t) storage_pid, 0) == 0);
    CHECK_EQ_INT (t_q (check, WAITING), 1);
    CHECK_EQ_INT (db_rollback (locker), 0);
    int status = 0;
    CHECK (waitpid (sup, &status, 0) == sup);
    s_sup = 0;
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    CHECK (t_log_count (logpath, "\"exit\":\"exit 0 (clean)\"") == 1);
    CHECK_EQ_INT (t_q (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '10001' AND "
                              "status = 'stored' AND listing_count = 300"), 1);
    CHECK_EQ_INT (t_log_count (logpath, "\"event\":\"child_heartbeat_lost\""), 0);
    printf ("drained: the batch in hand stored, storage exit 0\n");

    http_destroy (&http);
    zsock_destroy (&push);
    for (int b = 0; b <= NB; b++)
        msgpack_sbuffer_destroy (&sb [b]);
    for (int i = 0; i < N; i++)
        free (texts [i]);
    free (texts);
    db_destroy (&locker);
    db_destroy (&check);
    s_tdb = NULL;
    tdb_drop (&t);
    TEST_DONE ();
}
