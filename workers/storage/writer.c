/*  writer: the storage worker's database thread (writer.h).

    Invariants:
      - the db_t is used only by the writer thread once writer_new has returned;
      - a job belongs to exactly one side at a time: the queue (todo, under the mutex) from
        writer_submit, the thread while it decodes, validates and stores its batch, the
        queue (done) until writer_next hands the batch back;
      - every post to done is followed by a write to the eventfd, and writer_next reads the
        eventfd before it looks at done, so the loop never sleeps on a waiting event;
      - inflight is the loop thread's own count (submit adds, writer_next of a batch takes).  */
#include "workers/storage/writer.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WRITER_RETRY_LOG_EVERY 40       //  during an outage, one batch_retry line per 10 s

typedef struct s_job_t {
    struct s_job_t *next;
    uint8_t *frame;                 //  WRITER_BATCH until decoded
    size_t frame_size;
    writer_event_t ev;
} s_job_t;

typedef struct {
    s_job_t *head;
    s_job_t *tail;
} s_queue_t;

struct _writer_t {
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;            //  todo, stop, drain (for the thread); exited (for destroy)
    int efd;
    db_t *db;                       //  the thread's
    size_t inflight_max;
    size_t inflight;                //  loop thread only
    //  under mutex
    s_queue_t todo;
    s_queue_t done;
    bool stop;
    bool draining;
    bool exited;
};

static void
s_push (s_queue_t *q, s_job_t *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
}

static s_job_t *
s_pop (s_queue_t *q)
{
    s_job_t *job = q->head;
    if (job) {
        q->head = job->next;
        if (!q->head)
            q->tail = NULL;
        job->next = NULL;
    }
    return job;
}

static void
s_job_free (s_job_t *job)
{
    free (job->frame);
    storage_batch_destroy (&job->ev.batch);
    free (job->ev.stored);
    free (job);
}

//  Thread side: hands an event to the loop.
static void
s_post (writer_t *self, s_job_t *job)
{
    pthread_mutex_lock (&self->mutex);
    s_push (&self->done, job);
    pthread_mutex_unlock (&self->mutex);
    uint64_t one = 1;
    ssize_t n;
    do
        n = write (self->efd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    //  EAGAIN means the counter is already non-zero: the loop will wake anyway
}

//  Thread side: waits ms or until stopped/draining. Returns the stop flag.
static bool
s_pause (writer_t *self, int64_t ms, bool wake_on_drain)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->mutex);
    bool was_draining = self->draining;
    while (!self->stop && !(wake_on_drain && self->draining && !was_draining)) {
        if (pthread_cond_timedwait (&self->cond, &self->mutex, &until) == ETIMEDOUT)
            break;
    }
    bool stop = self->stop;
    pthread_mutex_unlock (&self->mutex);
    return stop;
}

static bool
s_stopping (writer_t *self, bool *draining)
{
    pthread_mutex_lock (&self->mutex);
    bool stop = self->stop;
    if (draining)
        *draining = self->draining;
    pthread_mutex_unlock (&self->mutex);
    return stop;
}

//  Thread side: migrations (retried while the database is away), then the stored-not-
//  uploaded list for re-announcement. Returns true when batches may be stored.
static bool
s_prepare (writer_t *self)
{
    int rc;
    int64_t tries = 0;
    while ((rc = storage_prepare (self->db)) == RC_RETRY) {
        if (tries++ % WRITER_RETRY_LOG_EVERY == 0)
            log_warn ("storage_db_unreachable", LS ("reason", db_error (self->db)),
                      LI ("tries", tries));
        if (s_pause (self, WRITER_RETRY_MS, false))
            return false;
    }
    s_job_t *job = calloc (1, sizeof *job);
    if (!job)
        abort ();
    job->ev.kind = WRITER_PREPARED;
    job->ev.rc = rc;
    if (rc == 0)
        job->ev.nstored_rc = storage_stored_list (self->db, &job->ev.stored, &job->ev.nstored);
    else
        snprintf (job->ev.reason, sizeof job->ev.reason, "%s", db_error (self->db));
    s_post (self, job);
    return rc == 0;
}

static void *
s_run (void *arg)
{
    writer_t *self = arg;
    if (s_prepare (self)) {
        for (;;) {
            pthread_mutex_lock (&self->mutex);
            while (!self->stop && !self->todo.head)
                pthread_cond_wait (&self->cond, &self->mutex);
            s_job_t *job = self->stop ? NULL : s_pop (&self->todo);
            pthread_mutex_unlock (&self->mutex);
            if (!job)
                break;
            job->ev.batch = storage_batch_new (job->frame, job->frame_size, &job->ev.result);
            free (job->frame);
            job->frame = NULL;
            int rc = 0;
            int64_t tries = 0;
            bool draining = false;
            while (job->ev.batch) {
                rc = storage_store (self->db, job->ev.batch, &job->ev.result);
                if (rc != RC_RETRY)
                    break;
                if (s_stopping (self, &draining) || draining)
                    break;
                if (tries++ % WRITER_RETRY_LOG_EVERY == 0)
                    log_warn ("batch_retry", LS ("epoch", storage_batch_epoch (job->ev.batch)),
                              LS ("zipcode", storage_batch_zipcode (job->ev.batch)),
                              LI ("seq", storage_batch_seq (job->ev.batch)),
                              LS ("reason", job->ev.result.reason), LI ("tries", tries));
                //  woken early by a drain: the batch is tried once more, then handed back
                if (s_pause (self, WRITER_RETRY_MS, true))
                    break;
            }
            job->ev.rc = rc;
            s_post (self, job);
        }
    }
    else {
        //  migrations failed for good (the loop exits 100) or stopped: wait to be stopped
        pthread_mutex_lock (&self->mutex);
        while (!self->stop)
            pthread_cond_wait (&self->cond, &self->mutex);
        pthread_mutex_unlock (&self->mutex);
    }
    pthread_mutex_lock (&self->mutex);
    self->exited = true;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

writer_t *
writer_new (db_t **db_p, size_t inflight_max)
{
    assert (db_p && *db_p && inflight_max >= 1);
    writer_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->inflight_max = inflight_max;
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        log_error ("storage_writer_failed", LS ("reason", strerror (errno)));
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->cond, &attr);
    pthread_condattr_destroy (&attr);
    self->db = *db_p;
    int rc = pthread_create (&self->thread, NULL, s_run, self);
    if (rc != 0) {
        log_error ("storage_writer_failed", LS ("reason", strerror (rc)));
        pthread_cond_destroy (&self->cond);
        pthread_mutex_destroy (&self->mutex);
        close (self->efd);
        free (self);
        return NULL;
    }
    *db_p = NULL;
    return self;
}

void
writer_destroy (writer_t **self_p, int64_t wait_ms)
{
    assert (self_p);
    writer_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    int64_t deadline = clock_mono_ms () + (wait_ms > 0 ? wait_ms : 0);
    pthread_mutex_lock (&self->mutex);
    self->stop = true;
    pthread_cond_broadcast (&self->cond);
    while (!self->exited) {
        int64_t left = deadline - clock_mono_ms ();
        if (left <= 0)
            break;
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        int64_t step = left < 100 ? left : 100;
        until.tv_nsec += (long) step * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&self->cond, &self->mutex, &until);
    }
    bool exited = self->exited;
    pthread_mutex_unlock (&self->mutex);
    if (!exited) {
        //  blocked in the server past the wait: the process is ending, PostgreSQL rolls the
        //  open transaction back when the connection drops with it
        log_error ("storage_writer_abandoned", LI ("waited_ms", wait_ms));
        pthread_detach (self->thread);
        return;
    }
    pthread_join (self->thread, NULL);
    s_job_t *job;
    while ((job = s_pop (&self->todo)))
        s_job_free (job);
    while ((job = s_pop (&self->done)))
        s_job_free (job);
    db_destroy (&self->db);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->mutex);
    close (self->efd);
    free (self);
}

int
writer_fd (writer_t *self)
{
    assert (self);
    return self->efd;
}

int
writer_submit (writer_t *self, const uint8_t *data, size_t size)
{
    assert (self && (data || size == 0));
    if (self->inflight >= self->inflight_max)
        return -1;
    s_job_t *job = calloc (1, sizeof *job);
    if (!job)
        abort ();
    job->ev.kind = WRITER_BATCH;
    job->frame = malloc (size ? size : 1);
    if (!job->frame)
        abort ();
    if (size)
        memcpy (job->frame, data, size);
    job->frame_size = size;
    self->inflight++;
    pthread_mutex_lock (&self->mutex);
    s_push (&self->todo, job);
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->mutex);
    return 0;
}

bool
writer_full (writer_t *self)
{
    assert (self);
    return self->inflight >= self->inflight_max;
}

size_t
writer_inflight (writer_t *self)
{
    assert (self);
    return self->inflight;
}

bool
writer_next (writer_t *self, writer_event_t *event)
{
    assert (self && event);
    uint64_t count;
    ssize_t n;
    do
        n = read (self->efd, &count, sizeof count);
    while (n < 0 && errno == EINTR);
    pthread_mutex_lock (&self->mutex);
    s_job_t *job = s_pop (&self->done);
    pthread_mutex_unlock (&self->mutex);
    if (!job)
        return false;
    *event = job->ev;
    free (job);
    if (event->kind == WRITER_BATCH) {
        assert (self->inflight > 0);
        self->inflight--;
    }
    return true;
}

void
writer_drain (writer_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    self->draining = true;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->mutex);
}
