/*  assigner: poll, record, lease, expire (assigner.h).

    Everything about a task lives in miner_tasks; this module only holds the scrapers' credits
    (which scraper may take one task now). Each credit is a proto heartbeat from a scraper's
    DEALER whose seq counts the tasks that scraper has received: a credit older than the last
    task sent to it (seq lower) is stale and ignored, so a busy scraper is never sent a second
    task; a credit with a higher seq means this assigner restarted and forgot, and is taken.

    Threads: the loop thread does everything except the poll's HTTP request, which a poll
    thread makes (it alone owns `http` and its end of the PAIR). At most one request is in
    flight (poll_in_flight); poll_stop (atomic) cancels it and ends the thread.              */
#include "workers/assigner/assigner.h"
#include "common/assign_doc.h"

#include "common/backoff.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/http.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/wallet.h"
#include "common/zmqx.h"
#include "proto/heartbeat.h"
#include "proto/scrape_task.h"

#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS             200
#define EXPIRE_EVERY_MS     500
#define PEERS_MAX           1024
#define PEER_ID_MAX         256
#define LEASES_PER_TICK     64
//  A poll result frame: header, then the error text, then the body.
#define POLL_ERROR_MAX      512
#define POLL_FRAME_MAX      (sizeof (s_poll_head_t) + POLL_ERROR_MAX + ASSIGN_DOC_BYTES_MAX)
#define POLL_URL_MAX        1024

//  The poll thread's answer (host byte order: both ends are this process).
typedef struct {
    int32_t rc;                 //  http_get's
    int32_t retry_after_s;      //  a 429's Retry-After (0: none or out of 1..3600)
    int64_t status;             //  0 when no response
    uint32_t error_len;
    uint32_t body_len;
} s_poll_head_t;

typedef struct {
    uint8_t id [PEER_ID_MAX];
    size_t id_len;
    uint64_t sent;              //  tasks sent to this peer (as its seq counts them)
    bool credit;
    int64_t last_seen;
} s_peer_t;

struct _assigner_t {
    worker_t *worker;
    const zm_config_t *cfg;
    db_t *db;
    http_t *http;
    wallet_t *wallet;
    char hotkey [SS58_ADDRESS_SIZE + 1];
    zsock_t *router;
    bool migrated;
    bool draining;
    backoff_t backoff;
    int64_t next_poll;
    bool poll_in_flight;        //  a request is with the poll thread
    //  The poll thread: only it touches `http`; it talks to the loop over an inproc PAIR
    //  (loop -> thread: "P" + url, poll now; thread -> loop: one result frame).
    pthread_t poll_thread;
    bool poll_thread_started;
    zsock_t *poll_pipe;         //  loop side
    zsock_t *poll_pipe_thread;  //  thread side (owned by the thread once it runs)
    char poll_ep [64];
    atomic_bool poll_stop;      //  cancels the request in flight and ends the thread
    int64_t next_expire;
    s_peer_t *peers;
    size_t npeers;

    metrics_series_t *m_poll_ok, *m_poll_err, *m_leases, *m_expired, *m_failed;
    metrics_series_t *m_idle, *m_epochs;
};

//  ---------------------------------------------------------------------------------------
//  Polling the coordinator

static bool
s_cancelled (void *arg)
{
    return atomic_load (&((assigner_t *) arg)->poll_stop);
}

//  The poll thread: one GET at a time, as the loop asks, with the full http.timeout.ms (the
//  loop keeps heartbeating meanwhile, so a slow coordinator is not a dead one).
static void *
s_poll_thread (void *arg)
{
    assigner_t *self = arg;
    //  Made by assigner_new and handed over (pthread_create is the memory barrier ZeroMQ
    //  asks for when a socket changes threads); this thread alone uses and closes it.
    zsock_t *pipe = self->poll_pipe_thread;
    while (!atomic_load (&self->poll_stop)) {
        zmqx_frame_t frame;
        int rc = zmqx_recv (pipe, &frame, 1 + POLL_URL_MAX, 0);
        if (rc == RC_RETRY || rc == RC_MALFORMED)
            continue;
        if (rc != 0)
            break;
        size_t n = zmqx_frame_size (&frame);
        char url [POLL_URL_MAX + 1];
        bool poll = n >= 2 && zmqx_frame_data (&frame) [0] == 'P';
        if (poll) {
            memcpy (url, zmqx_frame_data (&frame) + 1, n - 1);
            url [n - 1] = 0;
        }
        zmqx_frame_close (&frame);
        if (!poll)
            continue;
        http_response_t *resp = NULL;
        s_poll_head_t head = { 0 };
        head.rc = http_get (self->http, url, NULL, &resp);
        head.status = resp ? http_response_status (resp) : 0;
        const char *err = head.rc != 0 ? http_error (self->http) : "";
        size_t elen = strnlen (err, POLL_ERROR_MAX);
        size_t blen = 0;
        const char *body = resp ? http_response_body (resp, &blen) : NULL;
        if (head.rc != 0 || head.status != 200)
            blen = 0;
        const char *ra = head.status == 429 && resp ? http_response_header (resp, "Retry-After")
                                                    : NULL;
        long long ra_s = ra ? atoll (ra) : 0;
        head.retry_after_s = ra_s > 0 && ra_s <= 3600 ? (int32_t) ra_s : 0;
        head.error_len = (uint32_t) elen;
        head.body_len = (uint32_t) blen;
        size_t size = sizeof head + elen + blen;
        uint8_t *out = malloc (size);
        if (!out)
            abort ();
        memcpy (out, &head, sizeof head);
        memcpy (out + sizeof head, err, elen);
        if (blen)
            memcpy (out + sizeof head + elen, body, blen);
        http_response_destroy (&resp);
        //  the loop may be gone (draining): a lost answer is only a lost poll
        while (zmqx_send (pipe, out, size, POLL_FRAME_MAX, 0) == RC_RETRY
           &&  !atomic_load (&self->poll_stop))
            ;
        free (out);
    }
    zsock_destroy (&self->poll_pipe_thread);
    return NULL;
}

//  Records the epoch and its tasks in one transaction. Returns 0 (new_p: the epoch is new),
//  RC_RETRY, or RC_ERR.
static int
s_record (assigner_t *self, const assign_doc_t *doc, const char *body, bool *new_p)
{
    char target [24], tol [32], *zips = malloc (doc->nzips * 6 + 3);
    char *exp = malloc (doc->nzips * 8 + 3);
    assert (zips && exp);
    snprintf (target, sizeof target, "%lld", (long long) doc->target);
    snprintf (tol, sizeof tol, "%.17g", doc->tolerance);
    size_t zw = 0, ew = 0;
    zips [zw++] = '{';
    exp [ew++] = '{';
    for (size_t i = 0; i < doc->nzips; i++) {
        zw += (size_t) sprintf (zips + zw, "%s%s", i ? "," : "", doc->zips [i].zipcode);
        ew += (size_t) sprintf (exp + ew, "%s%lld", i ? "," : "", (long long) doc->zips [i].expected);
    }
    zips [zw++] = '}';
    zips [zw] = 0;
    exp [ew++] = '}';
    exp [ew] = 0;
    db_result_t *res = NULL;
    int rc = db_begin (self->db);
    if (rc == 0)
        rc = db_exec (self->db,
            "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
            "submission_deadline, target_listings, tolerance_percent, assignment) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (epoch_id) DO NOTHING "
            "RETURNING epoch_id",
            DB_P (doc->epoch_id, doc->nonce, doc->epoch_start, doc->epoch_end, doc->deadline,
                  target, tol, body), &res);
    if (rc == 0) {
        *new_p = db_result_rows (res) == 1;
        db_result_destroy (&res);
        rc = db_exec (self->db,
            "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings) "
            "SELECT $1, z, e FROM unnest ($2::text[], $3::int[]) AS u (z, e) "
            "ON CONFLICT DO NOTHING", DB_P (doc->epoch_id, zips, exp), NULL);
    }
    if (rc == 0)
        rc = db_commit (self->db);
    if (rc != 0)
        db_rollback (self->db);
    free (zips);
    free (exp);
    return rc;
}

//  Hands one signed poll to the poll thread. Returns 0, or the delay before trying again.
static int64_t
s_poll_start (assigner_t *self)
{
    const zm_config_t *cfg = self->cfg;
    int64_t ts = (int64_t) time (NULL);
    char commitment [64], sighex [2 * SR25519_SIGNATURE_SIZE + 1], req [1 + POLL_URL_MAX];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) ts);
    uint8_t sig [SR25519_SIGNATURE_SIZE];
    if (wallet_sign (self->wallet, (const uint8_t *) commitment, strlen (commitment), sig) != 0) {
        log_error ("assignment_sign_failed");
        return backoff_next (&self->backoff);
    }
    sodium_bin2hex (sighex, sizeof sighex, sig, sizeof sig);
    int n = snprintf (req, sizeof req, "P%s/api/v1/zipcode-assignments/current?hotkey=%s"
                      "&signature=%s&timestamp=%lld", cfg->coordinator_url, self->hotkey,
                      sighex, (long long) ts);
    if (n < 0 || (size_t) n >= sizeof req) {
        log_error ("assignment_url_too_long", LI ("max", POLL_URL_MAX));
        return backoff_next (&self->backoff);
    }
    if (zmqx_send (self->poll_pipe, req, (size_t) n, sizeof req, ZMQ_DONTWAIT) != 0)
        return TICK_MS;         //  the thread is not listening yet
    self->poll_in_flight = true;
    return 0;
}

//  The poll thread's answer: record the assignment, or back off. Returns the delay before
//  the next poll.
static int64_t
s_poll_result (assigner_t *self, const s_poll_head_t *head, const char *error,
               const char *body)
{
    const zm_config_t *cfg = self->cfg;
    int64_t delay = -1;
    if (head->rc == 0 && head->status == 200) {
        assign_doc_t doc;
        char err [256];
        if (assign_doc_parse (body, head->body_len, &doc, err, sizeof err) != 0) {
            log_error ("assignment_malformed", LS ("reason", err));
            char why [320];
            snprintf (why, sizeof why, "malformed assignment: %s", err);
            worker_degraded (self->worker, "coordinator", why);
        }
        else {
            //  The coordinator answered with a usable assignment: it is up, whatever the
            //  database does with it next.
            worker_recovered (self->worker, "coordinator");
            bool is_new = false;
            int drc = s_record (self, &doc, body, &is_new);
            if (drc == 0) {
                if (is_new) {
                    log_info ("assignment_recorded", LS ("epoch", doc.epoch_id),
                              LI ("zipcodes", (int64_t) doc.nzips), LI ("target", doc.target),
                              LS ("deadline", doc.deadline));
                    metrics_inc (self->m_epochs);
                }
                backoff_reset (&self->backoff);
                delay = cfg->assigner_poll_ms;
                metrics_inc (self->m_poll_ok);
            }
            else
                log_warn ("assignment_record_failed", LS ("epoch", doc.epoch_id),
                          LS ("error", db_error (self->db)));
            assign_doc_free (&doc);
        }
    }
    else {
        log_warn ("assignment_poll_failed", LI ("status", head->status),
                  LS ("error", head->rc != 0 ? error : "unexpected status"));
        //  A 429 is our own pacing, not an outage; anything else leaves the node without a
        //  fresh assignment (the cached epoch keeps it working meanwhile).
        if (head->status != 429) {
            //  http_error names the method and URL without its query (no hotkey or
            //  signature: the reason is served on /readyz).
            char why [96];
            snprintf (why, sizeof why, "GET /api/v1/zipcode-assignments/current: HTTP %lld",
                      (long long) head->status);
            worker_degraded (self->worker, "coordinator", head->rc != 0 ? error : why);
        }
        if (head->retry_after_s > 0)
            delay = (int64_t) head->retry_after_s * 1000;
    }
    if (delay < 0) {
        metrics_inc (self->m_poll_err);
        delay = backoff_next (&self->backoff);
    }
    return delay;
}

static int
s_on_poll (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    assigner_t *self = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv_ready (sock, &frame, POLL_FRAME_MAX, "poll_result_refused");
    if (rc <= 0)
        return rc;
    const uint8_t *data = zmqx_frame_data (&frame);
    size_t size = zmqx_frame_size (&frame);
    s_poll_head_t head;
    if (size < sizeof head) {
        zmqx_frame_close (&frame);
        return -1;              //  our own thread broke the protocol: restart
    }
    memcpy (&head, data, sizeof head);
    if (head.error_len > POLL_ERROR_MAX || head.body_len > ASSIGN_DOC_BYTES_MAX
    ||  size != sizeof head + head.error_len + head.body_len) {
        zmqx_frame_close (&frame);
        return -1;
    }
    char error [POLL_ERROR_MAX + 1];
    memcpy (error, data + sizeof head, head.error_len);
    error [head.error_len] = 0;
    //  the body as a NUL-terminated copy: s_record keeps it as the assignment text
    char *body = malloc ((size_t) head.body_len + 1);
    if (!body)
        abort ();
    memcpy (body, data + sizeof head + head.error_len, head.body_len);
    body [head.body_len] = 0;
    zmqx_frame_close (&frame);
    self->poll_in_flight = false;
    if (!self->draining)
        self->next_poll = clock_mono_ms () + s_poll_result (self, &head, error, body);
    free (body);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  Leases

static void
s_expire (assigner_t *self)
{
    char attempts [24], grace [24];
    snprintf (attempts, sizeof attempts, "%lld", (long long) self->cfg->assigner_attempts);
    snprintf (grace, sizeof grace, "%lld", (long long) self->cfg->assigner_scraped_grace_ms);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "UPDATE miner_tasks SET "
        "  status = CASE WHEN attempts >= $1::int THEN 'failed' ELSE 'pending' END, "
        "  reason = CASE WHEN status = 'leased' THEN 'lease expired' "
        "           ELSE 'scraped but not stored before the lease ended' END "
        "           || ' (attempt ' || attempts || ')', "
        "  lease_id = NULL, lease_deadline = NULL, updated_at = now () "
        "WHERE (status = 'leased' AND lease_deadline < now ()) "
        "   OR (status = 'scraped' AND lease_deadline "
        "       + $2::bigint * interval '1 millisecond' < now ()) "
        "RETURNING epoch_id, zipcode, status, attempts, reason",
        DB_P (attempts, grace), &res);
    if (rc != 0) {
        log_warn ("lease_expiry_failed", LS ("error", db_error (self->db)));
        return;
    }
    for (int r = 0; r < db_result_rows (res); r++) {
        int64_t n = 0;
        db_result_int64 (res, r, 3, &n);
        bool failed = strcmp (db_result_get (res, r, 2), "failed") == 0;
        log_warn (failed ? "task_failed" : "lease_expired",
                  LS ("epoch", db_result_get (res, r, 0)), LS ("zipcode", db_result_get (res, r, 1)),
                  LI ("attempts", n), LS ("reason", db_result_get (res, r, 4)));
        metrics_inc (self->m_expired);
        if (failed)
            metrics_inc (self->m_failed);
    }
    db_result_destroy (&res);
}

//  Leases one pending task to peer. Returns 1 when a task was sent, 0 when none is pending,
//  -1 on a failure (database or send).
static int
s_lease_one (assigner_t *self, s_peer_t *peer)
{
    char lease_ms [24], to [PEER_ID_MAX + 1];
    snprintf (lease_ms, sizeof lease_ms, "%lld", (long long) self->cfg->assigner_lease_ms);
    size_t n = peer->id_len < PEER_ID_MAX ? peer->id_len : PEER_ID_MAX;
    for (size_t i = 0; i < n; i++)
        to [i] = (peer->id [i] >= 0x20 && peer->id [i] < 0x7f) ? (char) peer->id [i] : '?';
    to [n] = 0;
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "UPDATE miner_tasks t SET status = 'leased', "
        "  lease_id = nextval ('miner_lease_seq')::text, "
        "  lease_deadline = now () + $1::bigint * interval '1 millisecond', "
        "  attempts = t.attempts + 1, leased_at = now (), leased_to = $2, updated_at = now () "
        "FROM (SELECT mt.epoch_id, mt.zipcode FROM miner_tasks mt "
        "      JOIN miner_epochs e USING (epoch_id) "
        "      WHERE mt.status = 'pending' AND e.submission_deadline > now () "
        "      ORDER BY e.epoch_start, mt.attempts, mt.zipcode LIMIT 1 "
        "      FOR UPDATE OF mt SKIP LOCKED) s "
        "WHERE t.epoch_id = s.epoch_id AND t.zipcode = s.zipcode "
        "RETURNING t.epoch_id, t.zipcode, t.expected_listings, t.lease_id, "
        "  (extract (epoch FROM t.lease_deadline) * 1000)::bigint, t.attempts",
        DB_P (lease_ms, to), &res);
    if (rc != 0) {
        log_warn ("lease_failed", LS ("error", db_error (self->db)));
        return -1;
    }
    if (db_result_rows (res) == 0) {
        db_result_destroy (&res);
        return 0;
    }
    proto_scrape_task_t task = { 0 };
    int64_t expected = 0, lease = 0, deadline = 0, attempt = 0;
    snprintf (task.epoch, sizeof task.epoch, "%s", db_result_get (res, 0, 0));
    snprintf (task.zipcode, sizeof task.zipcode, "%s", db_result_get (res, 0, 1));
    db_result_int64 (res, 0, 2, &expected);
    db_result_int64 (res, 0, 3, &lease);
    db_result_int64 (res, 0, 4, &deadline);
    db_result_int64 (res, 0, 5, &attempt);
    db_result_destroy (&res);
    task.target = (uint32_t) (expected < 1 ? 1 : expected > PROTO_TARGET_MAX ? PROTO_TARGET_MAX
                                                                            : expected);
    task.lease_id = (uint64_t) lease;
    task.lease_deadline_ms = deadline;
    task.attempt = (uint32_t) (attempt < 1 ? 1 : attempt > PROTO_ATTEMPT_MAX ? PROTO_ATTEMPT_MAX
                                                                            : attempt);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    rc = proto_scrape_task_encode (&task, &sbuf, &err);
    if (rc == 0)
        rc = zmqx_send_routed (self->router, peer->id, peer->id_len, sbuf.data, sbuf.size,
                               ZMQX_FRAME_MAX_DEFAULT, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&sbuf);
    peer->credit = false;
    if (rc != 0) {
        //  the scraper is gone: give the lease back at once rather than wait for its expiry
        char lease_txt [24];
        snprintf (lease_txt, sizeof lease_txt, "%lld", (long long) lease);
        db_exec (self->db,
            "UPDATE miner_tasks SET status = 'pending', lease_id = NULL, lease_deadline = NULL, "
            "attempts = GREATEST (attempts - 1, 0), leased_to = NULL, updated_at = now () "
            "WHERE epoch_id = $1 AND zipcode = $2 AND lease_id = $3 AND status = 'leased'",
            DB_P (task.epoch, task.zipcode, lease_txt), NULL);
        log_warn ("lease_send_failed", LS ("zipcode", task.zipcode), LS ("scraper", to));
        return -1;
    }
    peer->sent++;
    metrics_inc (self->m_leases);
    log_info ("task_leased", LS ("epoch", task.epoch), LS ("zipcode", task.zipcode),
              LI ("lease_id", lease), LI ("attempt", task.attempt), LI ("target", task.target),
              LS ("scraper", to));
    return 1;
}

//  False while the database connection is down and in its reconnect backoff: every call
//  would fail at once, so the loop skips the work (and the log lines) until it may retry.
static bool
s_db_usable (assigner_t *self)
{
    return db_connected (self->db) || db_retry_in_ms (self->db) == 0;
}

static void
s_lease_all (assigner_t *self)
{
    if (!self->migrated || self->draining || !s_db_usable (self))
        return;
    int sent = 0;
    size_t idle = 0;
    for (size_t i = 0; i < self->npeers && sent < LEASES_PER_TICK; i++) {
        if (!self->peers [i].credit)
            continue;
        int rc = s_lease_one (self, &self->peers [i]);
        if (rc == 0) {
            idle++;
            //  nothing pending: the remaining credits stay for later
            for (size_t k = i + 1; k < self->npeers; k++)
                idle += self->peers [k].credit;
            break;
        }
        if (rc < 0 && !db_connected (self->db))
            break;
        sent += rc > 0;
    }
    metrics_set (self->m_idle, (double) idle);
}

static s_peer_t *
s_peer (assigner_t *self, const uint8_t *id, size_t id_len)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (self->peers [i].id_len == id_len && memcmp (self->peers [i].id, id, id_len) == 0)
            return &self->peers [i];
    size_t slot = self->npeers;
    if (slot == PEERS_MAX) {
        slot = 0;               //  full: forget the peer silent longest
        for (size_t i = 1; i < self->npeers; i++)
            if (self->peers [i].last_seen < self->peers [slot].last_seen)
                slot = i;
    }
    else
        self->npeers++;
    s_peer_t *p = &self->peers [slot];
    memset (p, 0, sizeof *p);
    memcpy (p->id, id, id_len);
    p->id_len = id_len;
    p->sent = UINT64_MAX;       //  unknown: the first credit sets it
    return p;
}

static int
s_on_credit (worker_t *worker, zsock_t *sock, void *arg)
{
    (void) worker;
    assigner_t *self = arg;
    uint8_t id [PEER_ID_MAX];
    size_t id_len = 0;
    zmqx_frame_t frame;
    int rc = zmqx_recv_routed (sock, id, sizeof id, &id_len, &frame, 65536, ZMQ_DONTWAIT);
    if (rc != 0)
        return rc == -1 ? -1 : 0;
    proto_heartbeat_t hb;
    proto_err_t err;
    rc = proto_heartbeat_decode (zmqx_frame_data (&frame), zmqx_frame_size (&frame), &hb, &err);
    zmqx_frame_close (&frame);
    if (rc != 0) {
        log_warn ("credit_malformed", LS ("reason", err.reason));
        return 0;
    }
    if (hb.state == PROTO_WORKER_READY) {
        s_peer_t *p = s_peer (self, id, id_len);
        p->last_seen = clock_mono_ms ();
        if (p->sent == UINT64_MAX || hb.seq >= p->sent) {
            p->sent = hb.seq;
            p->credit = true;
        }
    }
    proto_heartbeat_free (&hb);
    s_lease_all (self);
    return 0;
}

//  ---------------------------------------------------------------------------------------

static void
s_log_cached (assigner_t *self)
{
    db_result_t *res = NULL;
    if (db_exec (self->db,
            "SELECT e.epoch_id, count (t.zipcode), "
            "  count (t.zipcode) FILTER (WHERE t.status IN ('pending', 'leased')) "
            "FROM miner_epochs e LEFT JOIN miner_tasks t USING (epoch_id) "
            "WHERE e.submission_deadline > now () GROUP BY e.epoch_id "
            "ORDER BY e.epoch_id DESC LIMIT 1", 0, NULL, &res) == 0
    &&  db_result_rows (res) == 1) {
        int64_t tasks = 0, open = 0;
        db_result_int64 (res, 0, 1, &tasks);
        db_result_int64 (res, 0, 2, &open);
        log_info ("assignment_cached", LS ("epoch", db_result_get (res, 0, 0)),
                  LI ("tasks", tasks), LI ("open", open));
    }
    db_result_destroy (&res);
}

static int
s_tick (worker_t *worker, void *arg)
{
    assigner_t *self = arg;
    if (self->draining)
        return 0;
    int64_t now = clock_mono_ms ();
    if (!self->migrated) {
        int rc = db_migrate (self->db);
        if (rc == RC_ERR) {
            log_error ("db_migrate_failed", LS ("error", db_error (self->db)));
            worker_exit (worker, EXIT_CONFIG);
            return 0;
        }
        if (rc != 0)
            return 0;
        self->migrated = true;
        s_log_cached (self);
        worker_ready (worker);
    }
    if (now >= self->next_poll && !self->poll_in_flight) {
        int64_t delay = s_poll_start (self);
        self->next_poll = clock_mono_ms () + delay;
    }
    if (now >= self->next_expire && s_db_usable (self)) {
        s_expire (self);
        self->next_expire = now + EXPIRE_EVERY_MS;
    }
    s_lease_all (self);
    return 0;
}

void
assigner_drain (worker_t *worker, void *arg)
{
    assigner_t *self = arg;
    self->draining = true;
    atomic_store (&self->poll_stop, true);      //  a poll in flight is cancelled
    worker_remove_reader (worker, self->router);
    worker_drained (worker);
}

assigner_t *
assigner_new (worker_t *worker, bool *config_error)
{
    const zm_config_t *cfg = worker_config (worker);
    *config_error = false;
    assigner_t *self = calloc (1, sizeof *self);
    assert (self);
    self->worker = worker;
    self->cfg = cfg;
    self->peers = calloc (PEERS_MAX, sizeof *self->peers);
    assert (self->peers);
    const char *reason = NULL;
    char err [256], ep [ZMQX_ENDPOINT_MAX], bind [ZMQX_ENDPOINT_MAX + 1];
    self->wallet = wallet_load (cfg->wallet_path, cfg->wallet_name, cfg->wallet_hotkey, &reason);
    if (!self->wallet) {
        log_error ("hotkey_load_failed", LS ("wallet", cfg->wallet_name),
                   LS ("hotkey", cfg->wallet_hotkey), LS ("reason", reason));
        *config_error = true;
        goto fail;
    }
    if (wallet_address (self->wallet, (unsigned) cfg->ss58_prefix, self->hotkey,
                        sizeof self->hotkey) != 0) {
        log_error ("config_invalid", LS ("key", "ss58.prefix"));
        *config_error = true;
        goto fail;
    }
    self->db = db_new (cfg->db_dsn, "zipmine-assigner", cfg->db_connect_timeout_s,
                       cfg->db_statement_timeout_ms, err, sizeof err);
    if (!self->db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        *config_error = true;
        goto fail;
    }
    if (zmqx_endpoint (ep, sizeof ep, cfg->run_dir, cfg->node_name, cfg->assigner_endpoint,
                       err, sizeof err) != 0) {
        log_error ("config_invalid", LS ("key", "assigner.endpoint"), LS ("reason", err));
        *config_error = true;
        goto fail;
    }
    http_options_t hopts;
    http_options_defaults (&hopts);
    hopts.max_attempts = 1;             //  the poll schedule is the retry policy
    //  the poll runs on its own thread: the loop heartbeats meanwhile, so the request may
    //  take the whole http.timeout.ms
    hopts.timeout_ms = cfg->http_timeout_ms;
    hopts.deadline_ms = hopts.timeout_ms;
    hopts.connect_timeout_ms = hopts.timeout_ms;
    hopts.max_body = ASSIGN_DOC_BYTES_MAX;
    hopts.user_agent = "zipmine-assigner";
    self->http = http_new (&hopts);
    if (!self->http)
        goto fail;
    http_set_cancel (self->http, s_cancelled, self);
    int64_t base = cfg->assigner_poll_ms < 1000 ? cfg->assigner_poll_ms : 1000;
    //  Capped at 15 s (or the poll interval, if longer): a coordinator back from an outage
    //  is seen, and the node ready again, within 15 s; 4 polls a minute stay well inside
    //  the coordinator's 10/min.
    int64_t cap = cfg->assigner_poll_ms > 15000 ? cfg->assigner_poll_ms : 15000;
    backoff_init (&self->backoff, base, cap, 0);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.sndtimeo_ms = 0;
    snprintf (bind, sizeof bind, "@%s", ep);
    self->router = zmqx_new (ZMQ_ROUTER, bind, &opts);
    if (!self->router)
        goto fail;
    metrics_t *m = worker_metrics (worker);
    metrics_family_t *polls = metrics_counter (m, "zipmine_assigner_polls_total",
                                               "coordinator assignment polls", "result");
    self->m_poll_ok = metrics_series (polls, "ok");
    self->m_poll_err = metrics_series (polls, "error");
    self->m_leases = metrics_series (metrics_counter (m, "zipmine_assigner_leases_total",
                                     "scrape tasks leased", NULL));
    self->m_expired = metrics_series (metrics_counter (m, "zipmine_assigner_leases_expired_total",
                                      "leases that ran out without a result", NULL));
    self->m_failed = metrics_series (metrics_counter (m, "zipmine_assigner_tasks_failed_total",
                                     "tasks failed by the assigner after their last lease", NULL));
    self->m_idle = metrics_series (metrics_gauge (m, "zipmine_assigner_idle_scrapers",
                                   "scrapers waiting for a task", NULL));
    self->m_epochs = metrics_series (metrics_counter (m, "zipmine_assigner_epochs_total",
                                     "epochs recorded", NULL));
    zmqx_opts_t popts = zmqx_opts_default ();
    popts.sndtimeo_ms = 0;
    popts.maxmsgsize = (int64_t) POLL_FRAME_MAX;
    snprintf (self->poll_ep, sizeof self->poll_ep, "inproc://assigner-poll-%p", (void *) self);
    snprintf (bind, sizeof bind, "@%s", self->poll_ep);
    self->poll_pipe = zmqx_new (ZMQ_PAIR, bind, &popts);
    popts.rcvtimeo_ms = 200;            //  the thread checks poll_stop this often
    popts.sndtimeo_ms = 1000;
    snprintf (bind, sizeof bind, ">%s", self->poll_ep);
    self->poll_pipe_thread = self->poll_pipe ? zmqx_new (ZMQ_PAIR, bind, &popts) : NULL;
    if (!self->poll_pipe_thread)
        goto fail;
    atomic_store (&self->poll_stop, false);
    if (pthread_create (&self->poll_thread, NULL, s_poll_thread, self) != 0)
        goto fail;
    self->poll_thread_started = true;
    worker_add_reader (worker, self->router, s_on_credit, self);
    worker_add_reader (worker, self->poll_pipe, s_on_poll, self);
    worker_set_tick (worker, TICK_MS, s_tick, self);
    log_info ("assigner_started", LS ("endpoint", ep), LS ("coordinator", cfg->coordinator_url),
              LI ("lease_ms", cfg->assigner_lease_ms), LI ("attempts", cfg->assigner_attempts));
    return self;
fail:
    assigner_destroy (&self);
    return NULL;
}

void
assigner_destroy (assigner_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    assigner_t *self = *self_p;
    if (self->poll_thread_started) {
        //  The request in flight is cancelled (the http cancel check sees poll_stop within
        //  100 ms), so the join is prompt.
        atomic_store (&self->poll_stop, true);
        pthread_join (self->poll_thread, NULL);
    }
    else
        zsock_destroy (&self->poll_pipe_thread);
    zsock_destroy (&self->poll_pipe);
    zsock_destroy (&self->router);
    http_destroy (&self->http);
    db_destroy (&self->db);
    wallet_destroy (&self->wallet);
    free (self->peers);
    free (self);
    *self_p = NULL;
}
