/*  uploader: the worker. PULL zipcode_stored (binds uploader.endpoint, by default
    <run.dir>/<node.name>/uploader.ipc) on
    the worker loop; the uploads, the sweep and the status reports run on a second thread
    that owns the uploader (database, S3 and HTTP clients), so a slow S3 or coordinator call
    never delays heartbeats. The two talk over an inproc PAIR:

        loop -> thread   "S" + zipcode_stored frame     upload now
                         "T"                            stop after the call in flight
        thread -> loop   "R"  migrations applied: ready  "F"  migrations failed: exit 100
                         "D"  the thread has ended

    Loads the hotkey from the wallet (wallet.path/name/hotkey; missing or unreadable exits
    100) and the coldkey address from wallet.coldkey, or else from
    <wallet.path>/<wallet.name>/coldkeypub.txt when that file exists. Drain: stop intake, tell the thread to stop, exit when it has (an upload in
    flight finishes first, bounded by s3.timeout.ms; one cut short by SIGKILL is resumed from
    the ledger under the same key by the next start). The loop's tick mirrors the
    uploader's counters into the registry the heartbeats carry, and its view of S3 and the
    coordinator into the worker's readiness (worker_degraded / worker_recovered).                              */
#include "common/clock.h"
#include "common/db.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/wallet.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "workers/uploader/uploader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 250

typedef struct {
    worker_t *worker;
    uploader_t *uploader;
    zsock_t *pull;              //  zipcode_stored from storage
    zsock_t *pipe;              //  loop side of the PAIR
    char pipe_ep [64];
    pthread_t thread;
    bool thread_started;
    bool thread_done;
    bool intake;
} app_t;

//  ---------------------------------------------------------------------------------------
//  The upload thread

static int
s_signal (zsock_t *pipe, char code)
{
    return zmqx_send (pipe, &code, 1, 1, 0);
}

static void *
s_upload_thread (void *arg)
{
    app_t *app = arg;
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = TICK_MS;
    char ep [80];
    snprintf (ep, sizeof ep, ">%s", app->pipe_ep);
    zsock_t *pipe = zmqx_new (ZMQ_PAIR, ep, &opts);
    if (!pipe)
        return NULL;            //  the loop sees no "R" and its readiness times out
    bool prepared = false, stop = false;
    int64_t last_tick = 0;
    while (!stop) {
        if (!prepared) {
            int rc = uploader_prepare (app->uploader);
            if (rc == 0) {
                prepared = true;
                s_signal (pipe, 'R');
            }
            else
            if (rc != RC_RETRY) {
                s_signal (pipe, 'F');
                break;
            }
        }
        zmqx_frame_t frame;
        int rc = zmqx_recv (pipe, &frame, 8192, 0);
        if (rc == 0) {
            const uint8_t *data = zmqx_frame_data (&frame);
            size_t size = zmqx_frame_size (&frame);
            if (size >= 1 && data [0] == 'T')
                stop = true;
            else
            if (size >= 1 && data [0] == 'S' && prepared)
                uploader_handle (app->uploader, data + 1, size - 1);
            zmqx_frame_close (&frame);
        }
        else
        if (rc != RC_RETRY && rc != RC_MALFORMED)
            break;
        if (prepared && !stop && clock_mono_ms () - last_tick >= TICK_MS) {
            uploader_tick (app->uploader);
            last_tick = clock_mono_ms ();
        }
    }
    s_signal (pipe, 'D');
    zsock_destroy (&pipe);
    return NULL;
}

//  ---------------------------------------------------------------------------------------
//  The loop

static void
s_stop_thread (app_t *app)
{
    if (app->thread_started && !app->thread_done) {
        uploader_request_stop (app->uploader);
        s_signal (app->pipe, 'T');
    }
}

static int
s_on_stored (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv_ready (sock, &frame, 4096, "zipcode_stored_frame_refused");
    if (rc <= 0)
        return rc;
    uint8_t buf [4097];
    size_t size = zmqx_frame_size (&frame);
    buf [0] = 'S';
    memcpy (buf + 1, zmqx_frame_data (&frame), size);
    zmqx_frame_close (&frame);
    //  a full pipe drops the message: the ledger sweep uploads the zipcode anyway
    if (zmqx_send (app->pipe, buf, size + 1, sizeof buf, ZMQ_DONTWAIT) != 0)
        log_warn ("zipcode_stored_deferred_to_sweep", LS ("reason", "upload thread busy"));
    return 0;
}

static int
s_on_pipe (worker_t *worker, zsock_t *sock, void *arg)
{
    app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv (sock, &frame, 16, ZMQ_DONTWAIT);
    if (rc == RC_RETRY || rc == RC_MALFORMED)
        return 0;
    if (rc != 0)
        return -1;
    char code = zmqx_frame_size (&frame) == 1 ? (char) zmqx_frame_data (&frame) [0] : 0;
    zmqx_frame_close (&frame);
    if (code == 'R') {
        if (worker_add_reader (worker, app->pull, s_on_stored, app) != 0)
            return -1;
        app->intake = true;
        worker_ready (worker);
    }
    else
    if (code == 'F') {
        log_error ("uploader_migration_failed", LS ("reason", "see db_migrate"));
        worker_exit (worker, EXIT_CONFIG);
    }
    else
    if (code == 'D') {
        pthread_join (app->thread, NULL);
        app->thread_done = true;
        worker_remove_reader (worker, app->pipe);
        if (worker_state (worker) == WORKER_DRAINING)
            worker_drained (worker);
        else {
            log_error ("uploader_thread_ended", LS ("reason", "upload thread stopped on its own"));
            worker_exit (worker, EXIT_TRANSIENT);
        }
    }
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    app_t *app = arg;
    uploader_metrics_flush (app->uploader);
    //  The upload thread's view of S3 and the coordinator becomes the worker's readiness
    //  (heartbeat state degraded + reason: the node's /readyz), within one tick.
    for (int d = UPLOADER_DEP_S3; d <= UPLOADER_DEP_COORDINATOR; d++) {
        char reason [UPLOADER_OUTAGE_REASON_MAX + 1];
        if (uploader_outage (app->uploader, (uploader_dep_t) d, reason, sizeof reason))
            worker_degraded (worker, uploader_dep_name ((uploader_dep_t) d), reason);
        else
            worker_recovered (worker, uploader_dep_name ((uploader_dep_t) d));
    }
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (app->intake)
        worker_remove_reader (worker, app->pull);
    app->intake = false;
    if (app->thread_done)
        worker_drained (worker);
    else
        s_stop_thread (app);
}

//  The coldkey's SS58 address from btcli's coldkeypub.txt beside the hotkeys directory.
static void
s_coldkey (const zm_config_t *cfg, char *out, size_t size)
{
    out [0] = 0;
    if (*cfg->wallet_coldkey) {
        snprintf (out, size, "%s", cfg->wallet_coldkey);
        return;
    }
    char path [1024];
    const char *reason = NULL;
    if (wallet_hotkey_path (cfg->wallet_path, cfg->wallet_name, "x", path, sizeof path,
                            &reason) != 0)
        return;
    char *cut = strstr (path, "/hotkeys/x");
    if (!cut || strlen (cut) != strlen ("/hotkeys/x"))
        return;
    snprintf (cut, sizeof path - (size_t) (cut - path), "/coldkeypub.txt");
    struct stat st;
    if (stat (path, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size > 4096)
        return;
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char buf [4097];
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (buf, n, 4096, 4, &err);
    const char *addr = json_string_value (json_object_get (doc, "ss58Address"));
    if (addr && strlen (addr) < size && strspn (addr, "123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
                                               "abcdefghijkmnopqrstuvwxyz") == strlen (addr))
        snprintf (out, size, "%s", addr);
    else
        log_warn ("coldkey_unreadable", LS ("path", path));
    json_decref (doc);
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("uploader", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    app_t app = { .worker = worker };
    int rc = EXIT_CONFIG;
    char err [512], pull_ep [ZMQX_ENDPOINT_MAX + 1], coldkey [128];
    const char *reason = NULL;
    wallet_t *wallet = NULL;
    db_t *db = NULL;
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        goto out;
    }
    wallet = wallet_load (cfg->wallet_path, cfg->wallet_name, cfg->wallet_hotkey, &reason);
    if (!wallet) {
        log_error ("config_invalid", LS ("key", "wallet.hotkey"), LS ("reason", reason));
        goto out;
    }
    s_coldkey (cfg, coldkey, sizeof coldkey);
    db = db_new (cfg->db_dsn, "zipmine-uploader", cfg->db_connect_timeout_s,
                 cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        goto out;
    }
    pull_ep [0] = '@';
    if (zmqx_endpoint (pull_ep + 1, sizeof pull_ep - 1, cfg->run_dir, cfg->node_name,
                       cfg->uploader_endpoint, err, sizeof err) != 0) {
        log_error ("config_invalid", LS ("key", "uploader.endpoint"), LS ("reason", err));
        goto out;
    }
    app.uploader = uploader_new (cfg, &db, wallet, coldkey, worker_metrics (worker));
    if (!app.uploader)
        goto out;
    rc = EXIT_TRANSIENT;
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, pull_ep, &opts);
    snprintf (app.pipe_ep, sizeof app.pipe_ep, "inproc://uploader-%p", (void *) &app);
    char bind_ep [80];
    snprintf (bind_ep, sizeof bind_ep, "@%s", app.pipe_ep);
    app.pipe = zmqx_new (ZMQ_PAIR, bind_ep, &opts);
    if (!app.pull || !app.pipe
    ||  worker_add_reader (worker, app.pipe, s_on_pipe, &app) != 0)
        goto out;
    log_info ("uploader_started", LS ("mode", cfg->s3_mode),
              LB ("coldkey_known", *coldkey != 0));
    if (pthread_create (&app.thread, NULL, s_upload_thread, &app) != 0)
        goto out;
    app.thread_started = true;
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, TICK_MS, s_tick, &app);
    rc = worker_run (worker);
    //  the loop ended without the thread (parent death, second signal, drain timeout): give
    //  it a moment to finish its call, else leave it to the process exit
    if (app.thread_started && !app.thread_done) {
        s_stop_thread (&app);
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (pthread_timedjoin_np (app.thread, NULL, &until) == 0)
            app.thread_done = true;
        else {
            //  ZeroMQ's context cannot end while the thread holds a socket: leave at once
            log_warn ("uploader_thread_abandoned", LS ("reason", "a call is still in flight"));
            _exit (rc);
        }
    }
out:
    if (!app.thread_started || app.thread_done) {
        uploader_destroy (&app.uploader);
        zsock_destroy (&app.pull);
        zsock_destroy (&app.pipe);
        db_destroy (&db);
        wallet_destroy (&wallet);
        worker_destroy (&worker);
    }
    return rc;
}
