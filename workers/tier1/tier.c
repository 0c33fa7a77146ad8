/*  tier: the plumbing the three validation tiers share (tier.h). Loading a submission,
    the idempotent store of a verdict in validator_tier_results, the messages to consensus
    and to the next tier, and the worker loop. Invariant: a message always carries what the
    row holds, never an in-memory value that was not stored.                                */
#include "workers/tier1/tier.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/zmqx.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define TIER_RETRY_MAX 1024
#define TIER_RETRY_EVERY_MS 250

typedef struct _s_thread_t s_thread_t;

struct _tier_t {
    int tier;
    db_t *db;
    tier_check_fn *check;
    void *arg;
    zsock_t *next, *consensus;
    int64_t retry [TIER_RETRY_MAX];
    size_t nretry;
    char tier_label [4];
    metrics_family_t *f_results, *f_errors;     //  NULL until tier_set_metrics
    s_thread_t *thread;     //  set: running on the work thread, which emits, never sends
};

static void s_out (tier_t *self, int kind, msgpack_sbuffer *buf, int64_t db_id);
static void s_count (tier_t *self, int verdict, bool resent);
static void s_count_error (tier_t *self);

//  What the work thread hands the loop thread (kinds of s_event_t).
enum { S_EV_CONSENSUS, S_EV_NEXT, S_EV_RESULT, S_EV_ERROR, S_EV_READY, S_EV_FATAL };

void
tier_outcome_metric (tier_outcome_t *self, const char *name, double value)
{
    assert (proto_valid_tier_metric_name (name));
    assert (isfinite (value));
    size_t i = 0;
    while (i < self->nmetrics && strcmp (self->metrics [i].name, name) < 0)
        i++;
    if (i < self->nmetrics && strcmp (self->metrics [i].name, name) == 0) {
        self->metrics [i].value = value;
        return;
    }
    assert (self->nmetrics < PROTO_TIER_METRICS_MAX);
    memmove (&self->metrics [i + 1], &self->metrics [i],
             (self->nmetrics - i) * sizeof self->metrics [0]);
    snprintf (self->metrics [i].name, sizeof self->metrics [i].name, "%s", name);
    self->metrics [i].value = value;
    self->nmetrics++;
}

double
tier_outcome_get (const tier_outcome_t *self, const char *name)
{
    for (size_t i = 0; i < self->nmetrics; i++)
        if (strcmp (self->metrics [i].name, name) == 0)
            return self->metrics [i].value;
    return NAN;
}

tier_t *
tier_new (int tier, db_t **db_p, tier_check_fn *check, void *arg)
{
    assert (tier >= 1 && tier <= 3 && db_p && *db_p && check);
    tier_t *self = calloc (1, sizeof *self);
    assert (self);
    self->tier = tier;
    self->db = *db_p;
    *db_p = NULL;
    self->check = check;
    self->arg = arg;
    snprintf (self->tier_label, sizeof self->tier_label, "%d", tier);
    return self;
}

void
tier_destroy (tier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    db_destroy (&(*self_p)->db);
    free (*self_p);
    *self_p = NULL;
}

db_t *
tier_db (tier_t *self)
{
    return self->db;
}

void
tier_set_metrics (tier_t *self, metrics_t *metrics)
{
    self->f_results = metrics_counter (metrics, "zipmine_tier_results_total",
        "Tier verdicts sent to consensus: checked now, or resent as stored", "tier,verdict,how");
    self->f_errors = metrics_counter (metrics, "zipmine_tier_errors_total",
        "Transient database failures while judging a submission (retried)", "tier");
}

void
tier_set_outputs (tier_t *self, zsock_t *next, zsock_t *consensus)
{
    self->next = next;
    self->consensus = consensus;
}

int
tier_prepare (tier_t *self)
{
    return db_migrate (self->db);
}

static void
s_copy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

int
tier_load (db_t *db, int64_t id, tier_sub_t *out)
{
    memset (out, 0, sizeof *out);
    char idtext [24];
    snprintf (idtext, sizeof idtext, "%" PRId64, id);
    db_result_t *res = NULL;
    int rc = db_exec (db,
        "SELECT s.epoch_id, s.s3_key, s.miner_hotkey, s.zipcode, s.last_modified_raw, e.nonce, "
        "  floor (extract (epoch FROM e.submission_deadline) * 1000)::bigint, "
        "  coalesce (z.expected_listings, -1), "
        "  (SELECT count (*) FROM validator_submission_listings l WHERE l.submission_id = s.id), "
        "  s.size_bytes, s.downloaded_at IS NOT NULL "
        "FROM validator_submissions s JOIN validator_epochs e USING (epoch_id) "
        "LEFT JOIN validator_epoch_zipcodes z "
        "  ON z.epoch_id = s.epoch_id AND z.zipcode = s.zipcode "
        "WHERE s.id = $1", DB_P (idtext), &res);
    if (rc != 0) {
        log_warn ("tier_load_failed", LI ("db_id", id), LS ("error", db_error (db)));
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    }
    if (db_result_rows (res) != 1) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    out->id = id;
    s_copy (out->epoch, sizeof out->epoch, db_result_get (res, 0, 0));
    s_copy (out->s3_key, sizeof out->s3_key, db_result_get (res, 0, 1));
    s_copy (out->hotkey, sizeof out->hotkey, db_result_get (res, 0, 2));
    s_copy (out->zipcode, sizeof out->zipcode, db_result_get (res, 0, 3));
    s_copy (out->last_modified, sizeof out->last_modified, db_result_get (res, 0, 4));
    s_copy (out->nonce, sizeof out->nonce, db_result_get (res, 0, 5));
    bool downloaded = strcmp (db_result_get (res, 0, 10), "t") == 0;
    if (db_result_int64 (res, 0, 6, &out->deadline_ms) != 0
    ||  db_result_int64 (res, 0, 7, &out->expected) != 0
    ||  db_result_int64 (res, 0, 8, &out->count) != 0
    ||  db_result_int64 (res, 0, 9, &out->size) != 0
    ||  !downloaded) {
        db_result_destroy (&res);
        return RC_ERR;
    }
    db_result_destroy (&res);
    return 0;
}

//  Reads the stored verdict into out. Returns 1 when a row exists, 0 when none, or an error.
static int
s_stored (tier_t *self, const tier_sub_t *sub, tier_outcome_t *out)
{
    char tier [4];
    snprintf (tier, sizeof tier, "%d", self->tier);
    db_result_t *res = NULL;
    int rc = db_exec (self->db,
        "SELECT passed, metrics::text, coalesce (reason, '') FROM validator_tier_results "
        "WHERE epoch_id = $1 AND s3_key = $2 AND tier = $3",
        DB_P (sub->epoch, sub->s3_key, tier), &res);
    if (rc != 0)
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    if (db_result_rows (res) == 0) {
        db_result_destroy (&res);
        return 0;
    }
    memset (out, 0, sizeof *out);
    const char *passed = db_result_get (res, 0, 0);
    out->verdict = !passed ? PROTO_VERDICT_UNVERIFIABLE
                 : strcmp (passed, "t") == 0 ? PROTO_VERDICT_PASS : PROTO_VERDICT_FAIL;
    s_copy (out->reason, sizeof out->reason, db_result_get (res, 0, 2));
    json_t *metrics = json_loads (db_result_get (res, 0, 1), 0, NULL);
    const char *name;
    json_t *value;
    //  Our own rows; still checked, so a hand-edited row cannot trip an assert.
    if (json_is_object (metrics))
        json_object_foreach (metrics, name, value)
            if (json_is_number (value) && proto_valid_tier_metric_name (name)
            &&  isfinite (json_number_value (value))
            &&  out->nmetrics < PROTO_TIER_METRICS_MAX)
                tier_outcome_metric (out, name, json_number_value (value));
    json_decref (metrics);
    db_result_destroy (&res);
    return 1;
}

static int
s_store (tier_t *self, const tier_sub_t *sub, const tier_outcome_t *out)
{
    json_t *metrics = json_object ();
    for (size_t i = 0; i < out->nmetrics; i++)
        json_object_set_new (metrics, out->metrics [i].name, json_real (out->metrics [i].value));
    char *text = json_dumps (metrics, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION (17));
    json_decref (metrics);
    assert (text);
    char tier [4];
    snprintf (tier, sizeof tier, "%d", self->tier);
    const char *passed = out->verdict == PROTO_VERDICT_PASS ? "t"
                       : out->verdict == PROTO_VERDICT_FAIL ? "f" : NULL;
    //  The first real verdict wins; an "unverifiable" row may be replaced by a later check.
    int rc = db_exec (self->db,
        "INSERT INTO validator_tier_results (epoch_id, s3_key, tier, passed, metrics, reason) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6) "
        "ON CONFLICT (epoch_id, s3_key, tier) DO UPDATE SET passed = EXCLUDED.passed, "
        "  metrics = EXCLUDED.metrics, reason = EXCLUDED.reason, checked_at = now () "
        "WHERE validator_tier_results.passed IS NULL",
        DB_P (sub->epoch, sub->s3_key, tier, passed, text, out->reason), NULL);
    free (text);
    if (rc != 0)
        log_warn ("tier_store_failed", LI ("tier", self->tier), LI ("db_id", sub->id),
                  LS ("error", db_error (self->db)));
    return rc == 0 ? 0 : rc == RC_RETRY ? RC_RETRY : RC_ERR;
}

static void
s_send (tier_t *self, const tier_sub_t *sub, const tier_outcome_t *out,
        proto_tier_result_t *result)
{
    proto_tier_result_t msg;
    memset (&msg, 0, sizeof msg);
    s_copy (msg.epoch, sizeof msg.epoch, sub->epoch);
    s_copy (msg.hotkey, sizeof msg.hotkey, sub->hotkey);
    s_copy (msg.zipcode, sizeof msg.zipcode, sub->zipcode);
    msg.tier = (uint32_t) self->tier;
    msg.verdict = (uint32_t) out->verdict;
    s_copy (msg.reason, sizeof msg.reason, out->reason);
    msg.submission_id = (uint64_t) sub->id;
    msg.nmetrics = out->nmetrics;
    memcpy (msg.metrics, out->metrics, out->nmetrics * sizeof out->metrics [0]);
    if (result)
        *result = msg;
    proto_err_t err;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    if (self->consensus) {
        if (proto_tier_result_encode (&msg, &buf, &err) == 0)
            s_out (self, S_EV_CONSENSUS, &buf, sub->id);
        else
            log_error ("tier_result_encode_failed", LS ("reason", err.reason));
    }
    if (self->next && out->verdict == PROTO_VERDICT_PASS) {
        proto_submission_ready_t ready;
        memset (&ready, 0, sizeof ready);
        s_copy (ready.epoch, sizeof ready.epoch, sub->epoch);
        s_copy (ready.hotkey, sizeof ready.hotkey, sub->hotkey);
        s_copy (ready.zipcode, sizeof ready.zipcode, sub->zipcode);
        s_copy (ready.s3_key, sizeof ready.s3_key, sub->s3_key);
        s_copy (ready.last_modified, sizeof ready.last_modified, sub->last_modified);
        ready.size = (uint64_t) sub->size;
        ready.count = (uint32_t) sub->count;
        ready.db_id = (uint64_t) sub->id;
        msgpack_sbuffer_clear (&buf);
        if (proto_submission_ready_encode (&ready, &buf, &err) == 0)
            s_out (self, S_EV_NEXT, &buf, sub->id);
        else
            log_error ("submission_ready_encode_failed", LS ("reason", err.reason));
    }
    msgpack_sbuffer_destroy (&buf);
}

int
tier_process (tier_t *self, int64_t id, proto_tier_result_t *result)
{
    tier_sub_t sub;
    int rc = tier_load (self->db, id, &sub);
    if (rc != 0) {
        if (rc == RC_ERR)
            log_warn ("tier_submission_unknown", LI ("tier", self->tier), LI ("db_id", id));
        return rc;
    }
    tier_outcome_t out;
    memset (&out, 0, sizeof out);
    rc = s_stored (self, &sub, &out);
    if (rc < 0)
        return rc;
    bool resent = rc == 1 && out.verdict != PROTO_VERDICT_UNVERIFIABLE;
    if (!resent) {
        memset (&out, 0, sizeof out);
        int64_t t0 = clock_mono_ms ();
        rc = self->check (self->arg, self->db, &sub, &out);
        if (rc != 0)
            return rc;
        rc = s_store (self, &sub, &out);
        if (rc != 0)
            return rc;
        rc = s_stored (self, &sub, &out);
        if (rc != 1)
            return rc < 0 ? rc : RC_RETRY;
        log_info ("tier_checked", LI ("tier", self->tier), LI ("db_id", id),
                  LS ("epoch", sub.epoch), LS ("zipcode", sub.zipcode),
                  LS ("verdict", proto_verdict_name ((int) out.verdict)),
                  LS ("reason", out.reason), LI ("ms", clock_mono_ms () - t0));
    }
    else
        log_info ("tier_result_resent", LI ("tier", self->tier), LI ("db_id", id),
                  LS ("verdict", proto_verdict_name ((int) out.verdict)));
    s_send (self, &sub, &out, result);
    s_count (self, (int) out.verdict, resent);
    return 0;
}

static void
s_queue (tier_t *self, int64_t id)
{
    for (size_t i = 0; i < self->nretry; i++)
        if (self->retry [i] == id)
            return;
    if (self->nretry == TIER_RETRY_MAX) {
        //  The downloader announces it again when consensus asks: not lost for good.
        log_warn ("tier_retry_full", LI ("tier", self->tier), LI ("db_id", id));
        return;
    }
    self->retry [self->nretry++] = id;
}

//  The db_id of a submission_ready frame, or 0 (logged) when the frame is malformed.
static int64_t
s_decode_id (int tier, const uint8_t *data, size_t size)
{
    proto_submission_ready_t msg;
    proto_err_t err;
    if (proto_submission_ready_decode (data, size, &msg, &err) != 0) {
        log_warn ("tier_message_malformed", LI ("tier", tier), LS ("reason", err.reason));
        return 0;
    }
    uint64_t id = msg.db_id;
    proto_submission_ready_free (&msg);
    if (id == 0 || id > INT64_MAX) {
        log_warn ("tier_message_malformed", LI ("tier", tier), LS ("reason", "db_id"));
        return 0;
    }
    return (int64_t) id;
}

//  Judges id; a transient failure queues it for tier_retry.
static void
s_handle_id (tier_t *self, int64_t id)
{
    if (tier_process (self, id, NULL) == RC_RETRY) {
        s_count_error (self);
        s_queue (self, id);
    }
}

int
tier_handle (tier_t *self, const uint8_t *data, size_t size)
{
    int64_t id = s_decode_id (self->tier, data, size);
    if (id > 0)
        s_handle_id (self, id);
    return 0;
}

size_t
tier_retry (tier_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nretry; i++) {
        int64_t id = self->retry [i];
        if (tier_process (self, id, NULL) == RC_RETRY) {
            //  Keep this and everything after it: the database is still away.
            memmove (&self->retry [kept], &self->retry [i],
                     (self->nretry - i) * sizeof self->retry [0]);
            kept += self->nretry - i;
            break;
        }
    }
    self->nretry = kept;
    return kept;
}

//  ---------------------------------------------------------------------------------------
//  The work thread. The loop thread only receives submission ids, queues them here
//  (bounded: it stops reading its PULL while the queue is full) and sends what the thread
//  emits; the thread owns the tier_t (its db_t, the check and the check's argument: tier 3's
//  HTTP client) and does every database round trip and check, so a slow database or
//  property source never holds up heartbeats. Everything below the mutex is shared; the
//  eventfd wakes the loop thread when events are waiting.

#define TIER_QUEUE_MAX 4

typedef struct _s_event_t {
    struct _s_event_t *next;
    int kind;
    int verdict;                //  S_EV_RESULT
    bool resent;                //  S_EV_RESULT
    int64_t db_id;              //  S_EV_CONSENSUS, S_EV_NEXT (for the logs)
    size_t size;
    uint8_t data [];            //  the encoded message, or the reason (S_EV_FATAL)
} s_event_t;

struct _s_thread_t {
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;        //  queue, stop (for the thread); exited (for s_thread_stop)
    int efd;                    //  eventfd: events waiting or the thread went idle
    tier_t *tier;               //  the thread's alone once it runs
    int64_t queue [TIER_QUEUE_MAX];
    size_t qhead, qlen;
    bool busy, draining, stop, exited;
    s_event_t *head, *tail;
};

static void
s_emit (s_thread_t *t, int kind, const void *data, size_t size, int verdict, bool resent,
        int64_t db_id)
{
    s_event_t *ev = malloc (sizeof *ev + size);
    assert (ev);
    ev->next = NULL;
    ev->kind = kind;
    ev->verdict = verdict;
    ev->resent = resent;
    ev->db_id = db_id;
    ev->size = size;
    if (size)
        memcpy (ev->data, data, size);
    pthread_mutex_lock (&t->mutex);
    if (t->tail)
        t->tail->next = ev;
    else
        t->head = ev;
    t->tail = ev;
    pthread_mutex_unlock (&t->mutex);
    uint64_t one = 1;
    ssize_t w = write (t->efd, &one, sizeof one);
    (void) w;                   //  a counter at its maximum is still readable: no wake lost
}

static void
s_wake (s_thread_t *t)
{
    uint64_t one = 1;
    ssize_t w = write (t->efd, &one, sizeof one);
    (void) w;
}

static void
s_out (tier_t *self, int kind, msgpack_sbuffer *buf, int64_t db_id)
{
    if (self->thread) {
        s_emit (self->thread, kind, buf->data, buf->size, 0, false, db_id);
        return;
    }
    zsock_t *sock = kind == S_EV_CONSENSUS ? self->consensus : self->next;
    if (zmqx_send_sbuf (sock, buf, ZMQX_FRAME_MAX_DEFAULT, 0) == 0)
        return;
    if (kind == S_EV_CONSENSUS)
        log_warn ("tier_result_not_sent", LI ("tier", self->tier), LI ("db_id", db_id),
                  LS ("reason", "consensus queue full or absent"));
    else
        log_warn ("submission_not_forwarded", LI ("tier", self->tier), LI ("db_id", db_id),
                  LS ("reason", "next tier queue full"));
}

//  The metrics registry is the loop thread's: the work thread emits what to count.
static void
s_count (tier_t *self, int verdict, bool resent)
{
    if (self->thread)
        s_emit (self->thread, S_EV_RESULT, NULL, 0, verdict, resent, 0);
    else
        metrics_inc (metrics_series (self->f_results, self->tier_label,
                                     proto_verdict_name (verdict), resent ? "resent" : "checked"));
}

static void
s_count_error (tier_t *self)
{
    if (self->thread)
        s_emit (self->thread, S_EV_ERROR, NULL, 0, 0, false, 0);
    else
        metrics_inc (metrics_series (self->f_errors, self->tier_label));
}

//  Thread side: waits up to ms for work or stop (with the mutex held).
static void
s_cond_wait_ms (s_thread_t *t, int64_t ms)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t) (ms / 1000);
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait (&t->cond, &t->mutex, &until);
}

static void *
s_thread_main (void *arg)
{
    s_thread_t *t = arg;
    tier_t *tier = t->tier;
    //  the migrations first: ready only once they are applied
    for (;;) {
        pthread_mutex_lock (&t->mutex);
        bool stop = t->stop;
        pthread_mutex_unlock (&t->mutex);
        if (stop)
            goto done;
        int rc = tier_prepare (tier);
        if (rc == 0) {
            s_emit (t, S_EV_READY, NULL, 0, 0, false, 0);
            break;
        }
        if (rc != RC_RETRY) {
            const char *reason = db_error (tier->db);
            s_emit (t, S_EV_FATAL, reason, strlen (reason) + 1, 0, false, 0);
            pthread_mutex_lock (&t->mutex);
            while (!t->stop)
                pthread_cond_wait (&t->cond, &t->mutex);
            pthread_mutex_unlock (&t->mutex);
            goto done;
        }
        pthread_mutex_lock (&t->mutex);
        if (!t->stop)
            s_cond_wait_ms (t, TIER_RETRY_EVERY_MS);
        pthread_mutex_unlock (&t->mutex);
    }
    int64_t retried = clock_mono_ms ();
    for (;;) {
        pthread_mutex_lock (&t->mutex);
        if (!t->stop && t->qlen == 0)
            s_cond_wait_ms (t, TIER_RETRY_EVERY_MS);
        if (t->stop) {
            pthread_mutex_unlock (&t->mutex);
            break;
        }
        int64_t id = 0;
        if (t->qlen) {
            id = t->queue [t->qhead];
            t->qhead = (t->qhead + 1) % TIER_QUEUE_MAX;
            t->qlen--;
            t->busy = true;
        }
        bool draining = t->draining;
        pthread_mutex_unlock (&t->mutex);
        if (id) {
            s_handle_id (tier, id);
            pthread_mutex_lock (&t->mutex);
            t->busy = false;
            draining = t->draining;         //  it may have started during the check
            pthread_mutex_unlock (&t->mutex);
            s_wake (t);
        }
        //  while draining the retry list waits: the downloader announces them again
        if (!draining && clock_mono_ms () - retried >= TIER_RETRY_EVERY_MS) {
            tier_retry (tier);
            retried = clock_mono_ms ();
        }
    }
done:
    pthread_mutex_lock (&t->mutex);
    t->exited = true;
    pthread_cond_broadcast (&t->cond);
    pthread_mutex_unlock (&t->mutex);
    return NULL;
}

static s_thread_t *
s_thread_start (tier_t *tier)
{
    s_thread_t *t = calloc (1, sizeof *t);
    assert (t);
    t->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->efd < 0) {
        log_error ("tier_thread_failed", LS ("reason", strerror (errno)));
        free (t);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&t->cond, &attr);
    pthread_condattr_destroy (&attr);
    pthread_mutex_init (&t->mutex, NULL);
    t->tier = tier;
    tier->thread = t;
    int rc = pthread_create (&t->thread, NULL, s_thread_main, t);
    if (rc != 0) {
        log_error ("tier_thread_failed", LS ("reason", strerror (rc)));
        tier->thread = NULL;
        pthread_cond_destroy (&t->cond);
        pthread_mutex_destroy (&t->mutex);
        close (t->efd);
        free (t);
        return NULL;
    }
    return t;
}

static void
s_events_free (s_event_t *ev)
{
    while (ev) {
        s_event_t *next = ev->next;
        free (ev);
        ev = next;
    }
}

//  Stops the thread and frees it, waiting up to wait_ms. Returns 0, or -1 when the thread is
//  still blocked (a database call past the wait): then nothing it uses may be freed.
static int
s_thread_stop (s_thread_t **t_p, int64_t wait_ms)
{
    s_thread_t *t = *t_p;
    if (!t)
        return 0;
    int64_t deadline = clock_mono_ms () + wait_ms;
    pthread_mutex_lock (&t->mutex);
    t->stop = true;
    pthread_cond_broadcast (&t->cond);
    while (!t->exited && clock_mono_ms () < deadline)
        s_cond_wait_ms (t, 50);
    bool exited = t->exited;
    pthread_mutex_unlock (&t->mutex);
    if (!exited) {
        log_error ("tier_thread_abandoned", LI ("tier", t->tier->tier), LI ("waited_ms", wait_ms));
        return -1;
    }
    pthread_join (t->thread, NULL);
    t->tier->thread = NULL;
    s_events_free (t->head);
    pthread_cond_destroy (&t->cond);
    pthread_mutex_destroy (&t->mutex);
    close (t->efd);
    free (t);
    *t_p = NULL;
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  The worker process (loop thread)

typedef struct {
    worker_t *worker;
    tier_t *tier;
    s_thread_t *thread;
    zsock_t *pull, *next, *consensus;
    bool ready, reading, draining, drained;
    atomic_llong *give_up_ms;
    int64_t budget_ms;
    metrics_series_t *queued;       //  zipmine_tier_queued_submissions{tier}
} s_app_t;

static int s_on_message (worker_t *worker, zsock_t *sock, void *arg);

//  After any change: intake on while there is room, the queue gauge, the end of a drain.
static void
s_update (s_app_t *app)
{
    pthread_mutex_lock (&app->thread->mutex);
    size_t qlen = app->thread->qlen;
    bool busy = app->thread->busy;
    bool pending = app->thread->head != NULL;   //  s_on_events runs next: the eventfd is set
    pthread_mutex_unlock (&app->thread->mutex);
    metrics_set (app->queued, (double) (qlen + busy));
    if (app->ready && !app->draining && !app->reading && qlen < TIER_QUEUE_MAX) {
        if (worker_add_reader (app->worker, app->pull, s_on_message, app) == 0)
            app->reading = true;
    }
    if (app->draining && !app->drained && !busy && qlen == 0 && !pending) {
        app->drained = true;
        log_info ("tier_drained", LI ("tier", app->tier->tier));
        worker_drained (app->worker);
    }
}

static int
s_on_message (worker_t *worker, zsock_t *sock, void *arg)
{
    s_app_t *app = arg;
    pthread_mutex_lock (&app->thread->mutex);
    bool room = app->thread->qlen < TIER_QUEUE_MAX;
    pthread_mutex_unlock (&app->thread->mutex);
    if (!room) {
        //  the runtime stops a burst at a removed reader; never read what has no room
        worker_remove_reader (worker, app->pull);
        app->reading = false;
        return 0;
    }
    zmqx_frame_t frame;
    int rc = zmqx_recv (sock, &frame, 8192, ZMQ_DONTWAIT);
    if (rc == RC_RETRY)
        return 0;
    if (rc == RC_MALFORMED) {
        log_warn ("tier_message_malformed", LI ("tier", app->tier->tier),
                  LS ("reason", "oversized or multi-part"));
        return 0;
    }
    if (rc != 0)
        return -1;
    int64_t id = s_decode_id (app->tier->tier, zmqx_frame_data (&frame),
                              zmqx_frame_size (&frame));
    zmqx_frame_close (&frame);
    if (id <= 0)
        return 0;
    s_thread_t *t = app->thread;
    pthread_mutex_lock (&t->mutex);
    bool queued = false;
    for (size_t i = 0; i < t->qlen; i++)
        queued = queued || t->queue [(t->qhead + i) % TIER_QUEUE_MAX] == id;
    if (!queued && t->qlen < TIER_QUEUE_MAX) {
        t->queue [(t->qhead + t->qlen) % TIER_QUEUE_MAX] = id;
        t->qlen++;
        pthread_cond_signal (&t->cond);
    }
    bool full = t->qlen >= TIER_QUEUE_MAX;
    pthread_mutex_unlock (&t->mutex);
    //  full: the rest waits in ZeroMQ (and, past its high-water mark, upstream)
    if (full && app->reading) {
        worker_remove_reader (worker, app->pull);
        app->reading = false;
    }
    s_update (app);
    return 0;
}

static void
s_forward (s_app_t *app, const s_event_t *ev)
{
    zsock_t *sock = ev->kind == S_EV_CONSENSUS ? app->consensus : app->next;
    if (sock && zmqx_send (sock, ev->data, ev->size, ZMQX_FRAME_MAX_DEFAULT, 0) == 0)
        return;
    if (ev->kind == S_EV_CONSENSUS)
        log_warn ("tier_result_not_sent", LI ("tier", app->tier->tier), LI ("db_id", ev->db_id),
                  LS ("reason", "consensus queue full or absent"));
    else
        log_warn ("submission_not_forwarded", LI ("tier", app->tier->tier),
                  LI ("db_id", ev->db_id), LS ("reason", "next tier queue full"));
}

static int
s_on_events (worker_t *worker, int fd, void *arg)
{
    s_app_t *app = arg;
    uint64_t n;
    ssize_t r = read (fd, &n, sizeof n);
    (void) r;                   //  EAGAIN: woken for nothing
    pthread_mutex_lock (&app->thread->mutex);
    s_event_t *ev = app->thread->head;
    app->thread->head = app->thread->tail = NULL;
    pthread_mutex_unlock (&app->thread->mutex);
    tier_t *tier = app->tier;
    for (s_event_t *e = ev; e; e = e->next)
        switch (e->kind) {
            case S_EV_CONSENSUS:
            case S_EV_NEXT:
                s_forward (app, e);
                break;
            case S_EV_RESULT:
                metrics_inc (metrics_series (tier->f_results, tier->tier_label,
                                             proto_verdict_name (e->verdict),
                                             e->resent ? "resent" : "checked"));
                break;
            case S_EV_ERROR:
                metrics_inc (metrics_series (tier->f_errors, tier->tier_label));
                break;
            case S_EV_READY:
                app->ready = true;
                if (!app->draining)
                    worker_ready (worker);
                break;
            case S_EV_FATAL:
                log_error ("tier_migration_failed", LS ("reason", (const char *) e->data));
                worker_exit (worker, EXIT_CONFIG);
                break;
            default:
                break;
        }
    s_events_free (ev);
    s_update (app);
    return 0;
}

//  SIGTERM: intake stops; the submissions queued but not started are dropped (as unread
//  frames in the PULL always were: consensus asks the downloader to announce them again);
//  the one in hand is finished, and a check that cannot finish inside the shutdown budget
//  gives up between steps (give_up_ms) with nothing stored.
static void
s_drain (worker_t *worker, void *arg)
{
    s_app_t *app = arg;
    app->draining = true;
    if (app->reading) {
        worker_remove_reader (worker, app->pull);
        app->reading = false;
    }
    pthread_mutex_lock (&app->thread->mutex);
    size_t dropped = app->thread->qlen;
    app->thread->qlen = 0;
    app->thread->draining = true;
    bool busy = app->thread->busy;
    pthread_mutex_unlock (&app->thread->mutex);
    //  the runtime keeps a tenth of the budget (at least 200 ms) as its own margin
    int64_t usable = app->budget_ms - (app->budget_ms / 10 > 200 ? app->budget_ms / 10 : 200);
    if (app->give_up_ms)
        atomic_store (app->give_up_ms, (long long) (clock_mono_ms () + usable));
    log_info ("tier_draining", LI ("tier", app->tier->tier), LB ("busy", busy),
              LI ("queued_dropped", (int64_t) dropped));
    s_update (app);
}

int
tier_worker_run (worker_t *worker, int tier, const char *in_ep, const char *next_ep,
                 tier_check_fn *check, void *arg, atomic_llong *give_up_ms)
{
    const zm_config_t *cfg = worker_config (worker);
    char err [512], in [ZMQX_ENDPOINT_MAX + 2], next [ZMQX_ENDPOINT_MAX + 2];
    char co [ZMQX_ENDPOINT_MAX + 2], co_spec [420];
    s_app_t app = { .worker = worker, .give_up_ms = give_up_ms,
                    .budget_ms = cfg->shutdown_budget_ms };
    if (!*cfg->db_dsn) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", "db.dsn is required"));
        return EXIT_CONFIG;
    }
    char app_name [32];
    snprintf (app_name, sizeof app_name, "zipmine-tier%d", tier);
    db_t *db = db_new (cfg->db_dsn, app_name, cfg->db_connect_timeout_s,
                       cfg->db_statement_timeout_ms, err, sizeof err);
    if (!db) {
        log_error ("config_invalid", LS ("key", "db.dsn"), LS ("reason", err));
        return EXIT_CONFIG;
    }
    snprintf (co_spec, sizeof co_spec, ">%s", cfg->tiers_consensus_endpoint);
    if (zmqx_endpoint_at (in, sizeof in, in_ep [0], cfg->run_dir, cfg->node_name, in_ep + 1) != 0
    ||  (*next_ep && zmqx_endpoint_at (next, sizeof next, next_ep [0], cfg->run_dir,
                                       cfg->node_name, next_ep + 1) != 0)
    ||  zmqx_endpoint_at (co, sizeof co, co_spec [0], cfg->run_dir, cfg->node_name,
                          co_spec + 1) != 0) {
        db_destroy (&db);
        return EXIT_CONFIG;
    }
    app.tier = tier_new (tier, &db, check, arg);
    int rc = EXIT_TRANSIENT;
    zmqx_opts_t opts = zmqx_opts_default ();
    app.pull = zmqx_new (ZMQ_PULL, in, &opts);
    //  Not ZMQ_IMMEDIATE: a message for a peer that is not connected yet waits in the queue
    //  (up to the high-water mark) rather than being dropped. A full queue is waited for at
    //  most half a heartbeat period (and 1 s): the sends are the loop thread's.
    int64_t half = cfg->heartbeat_ms / 2;
    opts.sndtimeo_ms = (int) (half < 1000 ? half : 1000);
    if (*next_ep)
        app.next = zmqx_new (ZMQ_PUSH, next, &opts);
    app.consensus = zmqx_new (ZMQ_PUSH, co, &opts);
    if (!app.pull || (*next_ep && !app.next) || !app.consensus)
        goto out;
    //  only whether they exist matters to the tier: the loop thread sends
    tier_set_outputs (app.tier, app.next, app.consensus);
    tier_set_metrics (app.tier, worker_metrics (worker));
    metrics_family_t *f_queued = metrics_gauge (worker_metrics (worker),
        "zipmine_tier_queued_submissions",
        "Submissions handed to the work thread and not finished (in hand and queued)", "tier");
    app.queued = metrics_series (f_queued, app.tier->tier_label);
    app.thread = s_thread_start (app.tier);
    if (!app.thread)
        goto out;
    if (worker_add_fd (worker, app.thread->efd, s_on_events, &app) != 0)
        goto out;
    log_info ("tier_started", LI ("tier", tier), LS ("in", in), LS ("next", *next_ep ? next : ""),
              LS ("consensus", co), LI ("queue", TIER_QUEUE_MAX));
    worker_set_drain (worker, s_drain, &app);
    rc = worker_run (worker);
out:
    if (give_up_ms)
        atomic_store (give_up_ms, (long long) clock_mono_ms ());
    //  after a drain timeout the runtime's margin is all that is left of the budget
    if (s_thread_stop (&app.thread, app.draining ? 100 : 500) != 0) {
        //  blocked in PostgreSQL past the wait: its memory stays with it, the process ends
        //  here (the server rolls back when the connection drops)
        fflush (stdout);
        _exit (rc);
    }
    tier_destroy (&app.tier);
    zsock_destroy (&app.pull);
    zsock_destroy (&app.next);
    zsock_destroy (&app.consensus);
    return rc;
}
