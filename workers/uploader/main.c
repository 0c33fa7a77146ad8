/*  uploader: the worker. PULL zipcode_stored (binds <run.dir>/<node.name>/uploader.ipc),
    upload through the ledger, sweep and report on the tick. Loads the hotkey from the wallet
    (wallet.path/name/hotkey; a missing or unreadable hotkey exits 100) and the coldkey
    address from <wallet.path>/<wallet.name>/coldkeypub.txt when that file exists.
    Ready once the database answers and the migrations are applied. Drain: stop intake and
    exit (an upload in flight finishes first: calls are made one at a time on this thread;
    an interrupted one is resumed from the ledger by the next start).                       */
#include "common/db.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/wallet.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "workers/uploader/uploader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    uploader_t *uploader;
    zsock_t *pull;
    bool prepared;
} app_t;

static int
s_on_stored (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    app_t *app = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv (sock, &frame, 4096, ZMQ_DONTWAIT);
    if (rc == RC_RETRY)
        return 0;
    if (rc == RC_MALFORMED) {
        log_warn ("zipcode_stored_frame_refused", LS ("reason", "oversized or multi-part"));
        return 0;
    }
    if (rc != 0)
        return -1;
    uploader_handle (app->uploader, zmqx_frame_data (&frame), zmqx_frame_size (&frame));
    zmqx_frame_close (&frame);
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (!app->prepared) {
        int rc = uploader_prepare (app->uploader);
        if (rc == RC_RETRY)
            return 0;
        if (rc != 0) {
            log_error ("uploader_migration_failed", LS ("reason", "see db_migrate"));
            worker_exit (worker, EXIT_CONFIG);
            return 0;
        }
        app->prepared = true;
        if (worker_add_reader (worker, app->pull, s_on_stored, app) != 0)
            return -1;
        worker_ready (worker);
    }
    if (worker_state (worker) != WORKER_DRAINING)
        uploader_tick (app->uploader);
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    app_t *app = arg;
    if (app->prepared)
        worker_remove_reader (worker, app->pull);
    worker_drained (worker);
}

//  The coldkey's SS58 address from btcli's coldkeypub.txt beside the hotkeys directory.
static void
s_coldkey (const zm_config_t *cfg, char *out, size_t size)
{
    out [0] = 0;
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
    app_t app = { 0 };
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
                       "uploader", err, sizeof err) != 0) {
        log_error ("config_invalid", LS ("key", "run.dir"), LS ("reason", err));
        goto out;
    }
    app.uploader = uploader_new (cfg, &db, wallet, coldkey, worker_metrics (worker));
    if (!app.uploader)
        goto out;
    rc = EXIT_TRANSIENT;
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, pull_ep, &opts);
    if (!app.pull)
        goto out;
    log_info ("uploader_started", LS ("mode", cfg->s3_mode),
              LB ("coldkey_known", *coldkey != 0));
    //  S3 and coordinator calls run on this loop: one longer than the heartbeat budget gets
    //  the worker killed (safely: the ledger resumes), so say so up front
    int64_t budget = cfg->heartbeat_ms * cfg->heartbeat_misses;
    if (worker_supervised (worker)
    &&  (cfg->s3_timeout_ms >= budget || cfg->http_timeout_ms >= budget))
        log_warn ("uploader_timeouts_exceed_heartbeat_budget",
                  LI ("s3_timeout_ms", cfg->s3_timeout_ms),
                  LI ("http_timeout_ms", cfg->http_timeout_ms), LI ("budget_ms", budget));
    worker_set_drain (worker, s_drain, &app);
    worker_set_tick (worker, 250, s_tick, &app);
    s_tick (worker, &app);
    rc = worker_run (worker);
out:
    uploader_destroy (&app.uploader);
    zsock_destroy (&app.pull);
    db_destroy (&db);
    wallet_destroy (&wallet);
    worker_destroy (&worker);
    return rc;
}
