/*  scraper: the pool worker around scrape_job (scraper.h).

    Invariants: at most one job runs; while it runs only the job thread touches the PUSH
    socket; the outcome of a job is written to miner_tasks guarded by (epoch, zipcode,
    lease_id, status 'leased'), so an outcome that arrives after the assigner re-leased the
    task changes nothing. A credit is sent only when no job runs and no outcome is pending.  */
#include "workers/scraper/scraper.h"
#include "workers/scraper/scrape_job.h"

#include "common/clock.h"
#include "common/db.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/zmqx.h"
#include "proto/heartbeat.h"
#include "proto/scrape_task.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS             100
#define CREDIT_EVERY_MS     1000
#define OUTCOME_GIVE_UP_MS  30000
#define OUTCOME_GIVE_UP_DRAINING_MS 2000
#define LEASE_MARGIN_MS     1000

struct _scraper_t {
    worker_t *worker;
    const zm_config_t *cfg;
    zsock_t *dealer;
    zsock_t *push;
    db_t *db;
    char **argv;
    scrape_kind_t kind;
    bool db_ready;

    pthread_t thread;
    bool running;
    atomic_bool done;
    atomic_bool cancel;
    scrape_job_t job;
    scrape_outcome_t outcome;
    bool outcome_pending;
    int64_t outcome_since;

    uint64_t tasks_received;
    int64_t last_credit;
    bool draining;

    metrics_series_t *m_tasks [3];
    metrics_series_t *m_listings, *m_rejected, *m_refused;
};

static void *
s_job_thread (void *arg)
{
    scraper_t *self = arg;
    scrape_job_run (&self->job, &self->outcome);
    atomic_store (&self->done, true);
    return NULL;
}

static void
s_send_credit (scraper_t *self)
{
    proto_heartbeat_t hb = { 0 };
    snprintf (hb.worker, sizeof hb.worker, "%s", worker_name (self->worker));
    hb.index = (uint32_t) worker_index (self->worker);
    hb.pid = (int32_t) getpid ();
    hb.seq = self->tasks_received;
    hb.state = PROTO_WORKER_READY;
    hb.uptime_ms = (uint64_t) worker_uptime_ms (self->worker);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    if (proto_heartbeat_encode (&hb, &sbuf, &err) == 0)
        zmqx_send_sbuf (self->dealer, &sbuf, ZMQX_FRAME_MAX_DEFAULT, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&sbuf);
    self->last_credit = clock_mono_ms ();
}

//  Records the outcome on the task. Returns 0 when done (written, or nothing to write),
//  RC_RETRY to try again on a later tick.
static int
s_write_outcome (scraper_t *self)
{
    const proto_scrape_task_t *t = &self->job.task;
    const scrape_outcome_t *o = &self->outcome;
    char lease [24], attempts [24];
    snprintf (lease, sizeof lease, "%llu", (unsigned long long) t->lease_id);
    snprintf (attempts, sizeof attempts, "%lld", (long long) self->cfg->assigner_attempts);
    db_result_t *res = NULL;
    int rc;
    if (o->verdict == SCRAPE_DONE)
        rc = db_exec (self->db,
            "UPDATE miner_tasks SET status = 'scraped', reason = NULL, updated_at = now () "
            "WHERE epoch_id = $1 AND zipcode = $2 AND lease_id = $3 AND status = 'leased' "
            "RETURNING status", DB_P (t->epoch, t->zipcode, lease), &res);
    else
    if (o->verdict == SCRAPE_FAIL)
        rc = db_exec (self->db,
            "UPDATE miner_tasks SET status = 'failed', reason = $4, lease_id = NULL, "
            "lease_deadline = NULL, updated_at = now () "
            "WHERE epoch_id = $1 AND zipcode = $2 AND lease_id = $3 AND status = 'leased' "
            "RETURNING status", DB_P (t->epoch, t->zipcode, lease, o->reason), &res);
    else
    if (o->cancelled)
        //  a stopping scraper does not spend one of the task's attempts
        rc = db_exec (self->db,
            "UPDATE miner_tasks SET status = 'pending', reason = $4, lease_id = NULL, "
            "lease_deadline = NULL, attempts = GREATEST (attempts - 1, 0), updated_at = now () "
            "WHERE epoch_id = $1 AND zipcode = $2 AND lease_id = $3 AND status = 'leased' "
            "RETURNING status", DB_P (t->epoch, t->zipcode, lease, o->reason), &res);
    else
        rc = db_exec (self->db,
            "UPDATE miner_tasks SET status = CASE WHEN attempts >= $5::int THEN 'failed' "
            "ELSE 'pending' END, reason = $4, lease_id = NULL, lease_deadline = NULL, "
            "updated_at = now () "
            "WHERE epoch_id = $1 AND zipcode = $2 AND lease_id = $3 AND status = 'leased' "
            "RETURNING status", DB_P (t->epoch, t->zipcode, lease, o->reason, attempts), &res);
    if (rc != 0) {
        log_warn ("task_outcome_write_failed", LS ("epoch", t->epoch), LS ("zipcode", t->zipcode),
                  LS ("error", db_error (self->db)));
        return RC_RETRY;
    }
    const char *status = db_result_rows (res) == 1 ? db_result_get (res, 0, 0) : "superseded";
    log_info ("task_outcome", LS ("epoch", t->epoch), LS ("zipcode", t->zipcode),
              LI ("lease_id", (int64_t) t->lease_id), LI ("attempt", t->attempt),
              LS ("verdict", scrape_verdict_name (o->verdict)), LS ("reason", o->reason),
              LS ("task_status", status), LI ("listings", (int64_t) o->listings),
              LI ("rejected", (int64_t) o->rejected), LI ("batches", o->batches),
              LI ("ms", o->elapsed_ms));
    db_result_destroy (&res);
    return 0;
}

static int
s_on_task (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    scraper_t *self = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv (sock, &frame, 4096, ZMQ_DONTWAIT);
    if (rc != 0)
        return rc == -1 ? -1 : 0;
    proto_scrape_task_t task;
    proto_err_t err;
    rc = proto_scrape_task_decode (zmqx_frame_data (&frame), zmqx_frame_size (&frame), &task,
                                   &err);
    zmqx_frame_close (&frame);
    if (rc != 0) {
        log_warn ("scrape_task_malformed", LS ("reason", err.reason));
        return 0;
    }
    self->tasks_received++;
    if (self->running || self->outcome_pending || self->draining) {
        //  the assigner's credit rule makes this rare; the lease expires and is re-leased
        log_warn ("scrape_task_refused", LS ("epoch", task.epoch), LS ("zipcode", task.zipcode),
                  LS ("why", self->draining ? "draining" : "busy"));
        metrics_inc (self->m_refused);
        return 0;
    }
    const zm_config_t *cfg = self->cfg;
    int64_t timeout = cfg->scraper_timeout_s * 1000;
    int64_t lease_left = task.lease_deadline_ms - clock_wall_ms () - LEASE_MARGIN_MS;
    if (lease_left < timeout)
        timeout = lease_left;
    memset (&self->job, 0, sizeof self->job);
    self->job = (scrape_job_t) {
        .task = task, .kind = self->kind, .timeout_ms = timeout,
        .batch_max = (size_t) cfg->scraper_batch, .line_max = (size_t) cfg->scraper_line_max,
        .output_max = (size_t) cfg->scraper_output_max, .garbage_pct = (int) cfg->scraper_garbage_pct,
        .argv = self->argv, .world_url = cfg->world_url, .page_size = (int) cfg->scraper_page_size,
        .cancel = &self->cancel, .push = self->push
    };
    log_info ("scrape_started", LS ("epoch", task.epoch), LS ("zipcode", task.zipcode),
              LI ("target", task.target), LI ("lease_id", (int64_t) task.lease_id),
              LI ("attempt", task.attempt), LI ("timeout_ms", timeout));
    if (timeout <= 0) {
        memset (&self->outcome, 0, sizeof self->outcome);
        self->outcome.verdict = SCRAPE_RETRY;
        snprintf (self->outcome.reason, sizeof self->outcome.reason, "lease ran out before start");
        self->outcome_pending = true;
        self->outcome_since = clock_mono_ms ();
        return 0;
    }
    atomic_store (&self->done, false);
    if (pthread_create (&self->thread, NULL, s_job_thread, self) != 0) {
        log_error ("scrape_thread_failed", LS ("zipcode", task.zipcode));
        return -1;
    }
    self->running = true;
    return 0;
}

static int
s_tick (worker_t *worker, void *arg)
{
    scraper_t *self = arg;
    if (!self->db_ready) {
        if (db_connect (self->db) == 0) {
            self->db_ready = true;
            worker_ready (worker);
        }
        return 0;
    }
    if (self->running && atomic_load (&self->done)) {
        pthread_join (self->thread, NULL);
        self->running = false;
        self->outcome_pending = true;
        self->outcome_since = clock_mono_ms ();
        metrics_inc (self->m_tasks [self->outcome.verdict]);
        metrics_add (self->m_listings, (double) self->outcome.listings);
        metrics_add (self->m_rejected, (double) self->outcome.rejected);
    }
    //  while the database is down and in its reconnect backoff, a write would fail at once
    bool db_usable = db_connected (self->db) || db_retry_in_ms (self->db) == 0;
    //  a draining worker has its shutdown budget to respect: give up sooner
    int64_t give_up = self->draining ? OUTCOME_GIVE_UP_DRAINING_MS : OUTCOME_GIVE_UP_MS;
    if (self->outcome_pending && db_usable) {
        if (s_write_outcome (self) == 0
        ||  clock_mono_ms () - self->outcome_since > give_up) {
            //  given up: the lease expires and the assigner re-leases the task
            self->outcome_pending = false;
            if (!self->draining)
                s_send_credit (self);
        }
    }
    else
    if (self->outcome_pending && clock_mono_ms () - self->outcome_since > give_up) {
        log_warn ("task_outcome_dropped", LS ("zipcode", self->job.task.zipcode),
                  LS ("why", "database unreachable; the lease will expire"));
        self->outcome_pending = false;
    }
    if (self->draining) {
        if (!self->running && !self->outcome_pending)
            worker_drained (worker);
        return 0;
    }
    if (!self->running && !self->outcome_pending
    &&  clock_mono_ms () - self->last_credit >= CREDIT_EVERY_MS)
        s_send_credit (self);
    return 0;
}

void
scraper_drain (worker_t *worker, void *arg)
{
    scraper_t *self = arg;
    self->draining = true;
    atomic_store (&self->cancel, true);
    worker_remove_reader (worker, self->dealer);
    if (!self->running && !self->outcome_pending)
        worker_drained (worker);
}

scraper_t *
scraper_new (worker_t *worker, bool *config_error)
{
    const zm_config_t *cfg = worker_config (worker);
    *config_error = false;
    scraper_t *self = calloc (1, sizeof *self);
    assert (self);
    self->worker = worker;
    self->cfg = cfg;
    atomic_init (&self->done, false);
    atomic_init (&self->cancel, false);
    self->kind = strcmp (cfg->scraper_kind, "command") == 0 ? SCRAPE_KIND_COMMAND
                                                            : SCRAPE_KIND_WORLD;
    char err [256];
    if (self->kind == SCRAPE_KIND_COMMAND
    &&  scrape_argv_split (cfg->scraper_command, &self->argv) < 0) {
        log_error ("config_invalid", LS ("key", "scraper.command"),
                   LS ("reason", "empty, or an unclosed quote"));
        *config_error = true;
        goto fail;
    }
    self->db = db_new (cfg->db_dsn, "zipmine-scraper", cfg->db_connect_timeout_s,
                       cfg->db_statement_timeout_ms, err, sizeof err);
    if (!self->db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        *config_error = true;
        goto fail;
    }
    char assigner [ZMQX_ENDPOINT_MAX], storage [ZMQX_ENDPOINT_MAX], ep [ZMQX_ENDPOINT_MAX + 1];
    if (zmqx_endpoint (assigner, sizeof assigner, cfg->run_dir, cfg->node_name,
                       cfg->assigner_endpoint, err, sizeof err) != 0
    ||  zmqx_endpoint (storage, sizeof storage, cfg->run_dir, cfg->node_name,
                       cfg->scraper_storage_endpoint, err, sizeof err) != 0) {
        log_error ("config_invalid", LS ("key", "assigner.endpoint/scraper.storage.endpoint"),
                   LS ("reason", err));
        *config_error = true;
        goto fail;
    }
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.routing_id = worker_id (worker);
    opts.rcvhwm = 4;
    snprintf (ep, sizeof ep, ">%s", assigner);
    self->dealer = zmqx_new (ZMQ_DEALER, ep, &opts);
    opts = zmqx_opts_default ();
    opts.sndhwm = 16;
    snprintf (ep, sizeof ep, ">%s", storage);
    self->push = zmqx_new (ZMQ_PUSH, ep, &opts);
    if (!self->dealer || !self->push)
        goto fail;
    metrics_t *m = worker_metrics (worker);
    metrics_family_t *tasks = metrics_counter (m, "zipmine_scraper_tasks_total",
                                               "scrape attempts finished, by verdict", "verdict");
    for (int v = 0; v < 3; v++)
        self->m_tasks [v] = metrics_series (tasks, scrape_verdict_name ((scrape_verdict_t) v));
    self->m_listings = metrics_series (metrics_counter (m, "zipmine_scraper_listings_total",
                                       "listings accepted and sent to storage", NULL));
    self->m_rejected = metrics_series (metrics_counter (m, "zipmine_scraper_rejected_lines_total",
                                       "scraper output lines rejected", NULL));
    self->m_refused = metrics_series (metrics_counter (m, "zipmine_scraper_tasks_refused_total",
                                      "tasks that arrived while busy or draining", NULL));
    worker_add_reader (worker, self->dealer, s_on_task, self);
    worker_set_tick (worker, TICK_MS, s_tick, self);
    log_info ("scraper_started", LS ("kind", cfg->scraper_kind), LS ("assigner", assigner),
              LS ("storage", storage));
    return self;
fail:
    scraper_destroy (&self);
    return NULL;
}

void
scraper_destroy (scraper_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    scraper_t *self = *self_p;
    if (self->running) {
        atomic_store (&self->cancel, true);
        pthread_join (self->thread, NULL);
    }
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->push);
    db_destroy (&self->db);
    scrape_argv_free (&self->argv);
    free (self);
    *self_p = NULL;
}
