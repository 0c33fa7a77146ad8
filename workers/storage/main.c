/*  storage: the worker. PULL listing batches (binds storage.endpoint, by default
    <run.dir>/<node.name>/storage.ipc), PUSH zipcode_stored to the uploader (connects
    uploader.endpoint, by default uploader.ipc).

    The loop thread hands each received frame to the database thread (writer.h), which
    decodes and validates it and runs the transaction on the PostgreSQL connection it owns;
    results come back on an eventfd and are counted, logged and announced here
    (storage_account). So neither a slow COPY, a lock wait nor the CPU of validation ever
    stops heartbeats. At most STORAGE_INFLIGHT batches are in flight; while that many are,
    the PULL socket is not read: its queue (STORAGE_PULL_HWM frames) fills, then the
    scrapers' PUSH sockets queue and wait (ZeroMQ high-water marks), so memory stays bounded
    and a database outage loses nothing: the writer retries the batch in hand until the
    database is back.

    Ready once the writer has applied the migrations; it then re-announces stored zipcodes
    not yet uploaded. Drain: stop intake, let the writer finish every batch in flight (one
    that meets an unreachable database is tried once more and given up: its lease expires
    and the zipcode is scraped again), then exit 0.                                         */
#include "common/db.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "workers/storage/storage.h"
#include "workers/storage/writer.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

//  Decoded batches between the loop and the database: one being stored, one validated and
//  waiting, one more of slack. Each is at most PROTO_BATCH_BYTES_MAX of listing text.
#define STORAGE_INFLIGHT 3
//  Frames ZeroMQ may hold in storage's PULL queue. Small, so that when the writer is behind
//  the back-pressure reaches the scrapers' PUSH queues (each bounded and timed by its task)
//  instead of piling up here: storage's memory is at most this many frames plus the ones in
//  flight.
#define STORAGE_PULL_HWM 8
//  At exit, how long to wait for a writer still inside a statement (an idle one stops at
//  once; a blocked one is abandoned: the process is ending within its shutdown budget).
#define STORAGE_WRITER_WAIT_MS 100

typedef struct {
    worker_t *worker;
    storage_t *storage;
    writer_t *writer;
    zsock_t *pull;
    zsock_t *push;
    bool intake;                //  pull is registered as a reader
    metrics_series_t *inflight; //  gauge
} app_t;

static void
s_stop_intake (app_t *app)
{
    if (app->intake)
        worker_remove_reader (app->worker, app->pull);
    app->intake = false;
}

static int
s_on_batch (worker_t *worker, zsock_t *sock, void *arg)
{
    app_t *app = arg;
    (void) worker;
    //  removing a reader takes effect on the next iteration: never read what cannot be queued
    if (writer_full (app->writer)) {
        s_stop_intake (app);
        return 0;
    }
    zmqx_frame_t frame;
    int rc = zmqx_recv_ready (sock, &frame, ZMQX_FRAME_MAX_DEFAULT, "batch_frame_refused");
    if (rc <= 0)
        return rc;
    int submitted = writer_submit (app->writer, zmqx_frame_data (&frame),
                                   zmqx_frame_size (&frame));
    assert (submitted == 0);
    (void) submitted;
    zmqx_frame_close (&frame);
    metrics_set (app->inflight, (double) writer_inflight (app->writer));
    if (writer_full (app->writer))
        s_stop_intake (app);
    return 0;
}

static void
s_start_intake (app_t *app)
{
    if (!app->intake && worker_state (app->worker) != WORKER_DRAINING
    &&  !writer_full (app->writer)
    &&  worker_add_reader (app->worker, app->pull, s_on_batch, app) == 0)
        app->intake = true;
}

static int
s_on_writer (worker_t *worker, int fd, void *arg)
{
    app_t *app = arg;
    (void) fd;
    writer_event_t ev;
    while (writer_next (app->writer, &ev)) {
        if (ev.kind == WRITER_PREPARED) {
            if (ev.rc != 0) {
                log_error ("storage_migration_failed", LS ("reason", ev.reason));
                worker_exit (worker, EXIT_CONFIG);
                continue;
            }
            if (ev.nstored_rc == 0) {
                for (size_t i = 0; i < ev.nstored; i++)
                    storage_announce (app->storage, &ev.stored [i]);
                log_info ("zipcodes_reannounced", LI ("count", (int64_t) ev.nstored));
            }
            else
                log_warn ("zipcodes_reannounce_failed", LI ("rc", ev.nstored_rc));
            free (ev.stored);
            s_start_intake (app);
            worker_ready (worker);
            continue;
        }
        storage_account (app->storage, ev.batch, ev.rc, &ev.result);
        if (ev.rc == RC_RETRY && ev.batch)
            log_warn ("storage_drain_batch_kept_unstored",
                      LS ("epoch", storage_batch_epoch (ev.batch)),
                      LS ("zipcode", storage_batch_zipcode (ev.batch)),
                      LI ("seq", storage_batch_seq (ev.batch)),
                      LS ("reason", "database unreachable; the lease will expire and be "
                                    "re-scraped"));
        storage_batch_destroy (&ev.batch);
    }
    metrics_set (app->inflight, (double) writer_inflight (app->writer));
    if (worker_state (worker) == WORKER_DRAINING) {
        if (writer_inflight (app->writer) == 0)
            worker_drained (worker);
    }
    else
        s_start_intake (app);
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    s_stop_intake (app);
    writer_drain (app->writer);
    if (writer_inflight (app->writer) == 0)
        worker_drained (worker);
    else
        log_info ("storage_draining", LI ("inflight", (int64_t) writer_inflight (app->writer)));
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("storage", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    const zm_config_t *cfg = worker_config (worker);
    app_t app = { .worker = worker };
    int rc = EXIT_TRANSIENT;
    char err [512], pull_ep [ZMQX_ENDPOINT_MAX + 2], push_ep [ZMQX_ENDPOINT_MAX + 2];
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        rc = EXIT_CONFIG;
        goto out;
    }
    if (zmqx_endpoint_at (pull_ep, sizeof pull_ep, '@', cfg->run_dir, cfg->node_name,
                          cfg->storage_endpoint) != 0
    ||  zmqx_endpoint_at (push_ep, sizeof push_ep, '>', cfg->run_dir, cfg->node_name,
                          cfg->uploader_endpoint) != 0) {
        rc = EXIT_CONFIG;
        goto out;
    }
    db_t *db = db_new (cfg->db_dsn, "zipmine-storage", cfg->db_connect_timeout_s,
                       cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        rc = EXIT_CONFIG;
        goto out;
    }
    zmqx_opts_t opts = zmqx_opts_default ();
    app.push = zmqx_new (ZMQ_PUSH, push_ep, &opts);
    opts.rcvhwm = STORAGE_PULL_HWM;
    app.pull = zmqx_new (ZMQ_PULL, pull_ep, &opts);
    if (!app.pull || !app.push) {
        db_destroy (&db);
        goto out;
    }
    metrics_t *metrics = worker_metrics (worker);
    app.storage = storage_new (metrics, app.push);
    app.inflight = metrics_series (metrics_gauge (metrics, "zipmine_storage_inflight_batches",
                                                  "Batches handed to the database thread and "
                                                  "not yet done", NULL));
    //  the writer thread inherits the signal mask worker_new set: signals stay with the loop
    app.writer = writer_new (&db, STORAGE_INFLIGHT);
    if (!app.writer) {
        db_destroy (&db);
        goto out;
    }
    if (worker_add_fd (worker, writer_fd (app.writer), s_on_writer, &app) != 0)
        goto out;
    worker_set_drain (worker, s_drain, &app);
    rc = worker_run (worker);
out:
    writer_destroy (&app.writer, STORAGE_WRITER_WAIT_MS);
    storage_destroy (&app.storage);
    zsock_destroy (&app.pull);
    zsock_destroy (&app.push);
    worker_destroy (&worker);
    return rc;
}
