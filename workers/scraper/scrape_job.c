/*  scrape_job: the job dispatcher and the listing-batch sink (scrape_job.h).

    The sink keeps the listings of the batch being built (owned texts), the reject reasons
    since the last batch (for the batch's reasons map) and over the whole run (for the task's
    reason when the run fails).                                                               */
#include "workers/scraper/scrape_job.h"
#include "workers/scraper/scrape_line.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *reason;         //  static
    uint64_t count;
} s_reason_t;

struct _scrape_sink_t {
    const scrape_job_t *job;
    int64_t deadline;           //  monotonic ms
    proto_listing_t *items;     //  batch_max entries
    size_t n;
    size_t bytes;
    uint32_t seq;
    uint64_t accepted, rejected;
    uint64_t batch_rejected;
    s_reason_t batch_reasons [PROTO_REJECT_REASONS_MAX];
    size_t nbatch_reasons;
    s_reason_t reasons [PROTO_REJECT_REASONS_MAX];
    size_t nreasons;
    char scraped_ts [32];
    bool send_failed;
};

const char *
scrape_verdict_name (scrape_verdict_t verdict)
{
    return verdict == SCRAPE_DONE ? "done" : verdict == SCRAPE_RETRY ? "retry" : "fail";
}

scrape_sink_t *
scrape_sink_new (const scrape_job_t *job, int64_t deadline_mono_ms)
{
    assert (job->batch_max >= 1 && job->batch_max <= PROTO_BATCH_LISTINGS_MAX);
    scrape_sink_t *self = calloc (1, sizeof *self);
    assert (self);
    self->job = job;
    self->deadline = deadline_mono_ms;
    self->items = calloc (job->batch_max, sizeof *self->items);
    assert (self->items);
    return self;
}

static void
s_clear_batch (scrape_sink_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        free ((char *) self->items [i].json);
    self->n = 0;
    self->bytes = 0;
    self->batch_rejected = 0;
    self->nbatch_reasons = 0;
}

void
scrape_sink_destroy (scrape_sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    scrape_sink_t *self = *self_p;
    s_clear_batch (self);
    free (self->items);
    free (self);
    *self_p = NULL;
}

static void
s_count (s_reason_t *table, size_t *n, const char *reason)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp (table [i].reason, reason) == 0) {
            table [i].count++;
            return;
        }
    if (*n < PROTO_REJECT_REASONS_MAX) {
        table [*n].reason = reason;
        table [*n].count = 1;
        (*n)++;
    }
}

void
scrape_sink_reject (scrape_sink_t *self, const char *reason)
{
    self->rejected++;
    self->batch_rejected++;
    s_count (self->reasons, &self->nreasons, reason);
    s_count (self->batch_reasons, &self->nbatch_reasons, reason);
}

//  Sends the batch being built; retries a full queue until the deadline or cancellation.
static int
s_send (scrape_sink_t *self, bool final)
{
    const scrape_job_t *job = self->job;
    proto_listing_batch_t msg = { 0 };
    memcpy (msg.epoch, job->task.epoch, sizeof msg.epoch);
    memcpy (msg.zipcode, job->task.zipcode, sizeof msg.zipcode);
    msg.lease_id = job->task.lease_id;
    msg.seq = self->seq;
    msg.final = final;
    msg.nlistings = self->n;
    msg.listings = self->n ? self->items : NULL;
    msg.rejected = self->batch_rejected;
    msg.nreasons = self->nbatch_reasons;
    for (size_t i = 0; i < self->nbatch_reasons; i++) {
        snprintf (msg.reasons [i].reason, sizeof msg.reasons [i].reason, "%s",
                  self->batch_reasons [i].reason);
        msg.reasons [i].count = self->batch_reasons [i].count;
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    int rc = proto_listing_batch_encode (&msg, &sbuf, &err);
    if (rc != 0) {
        //  our own bounds keep every batch encodable; a failure here is a bug
        log_error ("listing_batch_encode_failed", LS ("reason", err.reason));
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    while (true) {
        rc = zmqx_send_sbuf (job->push, &sbuf, ZMQX_FRAME_MAX_DEFAULT, 0);
        if (rc == 0)
            break;
        if (rc != RC_RETRY || clock_mono_ms () >= self->deadline
        ||  (job->cancel && atomic_load (job->cancel))) {
            log_warn ("listing_batch_send_failed", LS ("epoch", msg.epoch),
                      LS ("zipcode", msg.zipcode), LI ("seq", msg.seq));
            msgpack_sbuffer_destroy (&sbuf);
            self->send_failed = true;
            return -1;
        }
    }
    msgpack_sbuffer_destroy (&sbuf);
    self->seq++;
    s_clear_batch (self);
    return 0;
}

int
scrape_sink_line (scrape_sink_t *self, const char *line, size_t len)
{
    if (self->scraped_ts [0] == 0 || self->accepted % 64 == 0)
        clock_iso8601 (clock_wall_ms (), self->scraped_ts, sizeof self->scraped_ts);
    char *text = NULL;
    size_t text_len = 0;
    const char *reason = NULL;
    int rc = scrape_line_check (line, len, self->job->line_max, self->job->task.zipcode,
                                self->scraped_ts, &text, &text_len, &reason);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        scrape_sink_reject (self, reason);
        return 0;
    }
    if (self->bytes + text_len > PROTO_BATCH_BYTES_MAX && self->n > 0
    &&  s_send (self, false) != 0) {
        free (text);
        return -1;
    }
    self->items [self->n].json = text;
    self->items [self->n].len = (uint32_t) text_len;
    self->n++;
    self->bytes += text_len;
    self->accepted++;
    if (self->n == self->job->batch_max)
        return s_send (self, false);
    return 0;
}

uint64_t
scrape_sink_accepted (const scrape_sink_t *self)
{
    return self->accepted;
}

uint64_t
scrape_sink_rejected (const scrape_sink_t *self)
{
    return self->rejected;
}

void
scrape_sink_counts (const scrape_sink_t *self, scrape_outcome_t *outcome)
{
    outcome->listings = self->accepted;
    outcome->rejected = self->rejected;
    outcome->batches = self->seq;
}

//  "3 of 4 lines rejected (wrong zipcode 2, invalid json 1)"
static void
s_reject_summary (const scrape_sink_t *self, char *out, size_t size)
{
    size_t total = (size_t) (self->accepted + self->rejected);
    int w = snprintf (out, size, "%" PRIu64 " of %zu lines rejected (", self->rejected, total);
    for (size_t i = 0; i < self->nreasons && w > 0 && (size_t) w < size; i++)
        w += snprintf (out + w, size - (size_t) w, "%s%s %" PRIu64, i ? ", " : "",
                       self->reasons [i].reason, self->reasons [i].count);
    if (w > 0 && (size_t) w < size)
        snprintf (out + w, size - (size_t) w, ")");
}

bool
scrape_sink_garbage (const scrape_sink_t *self, scrape_outcome_t *outcome)
{
    uint64_t total = self->accepted + self->rejected;
    if (self->rejected == 0
    ||  self->rejected * 100 <= (uint64_t) self->job->garbage_pct * total)
        return false;
    char summary [200];
    s_reject_summary (self, summary, sizeof summary);
    outcome->verdict = SCRAPE_FAIL;
    snprintf (outcome->reason, sizeof outcome->reason, "garbage output: %s", summary);
    scrape_sink_counts (self, outcome);
    return true;
}

void
scrape_sink_finish (scrape_sink_t *self, scrape_outcome_t *outcome)
{
    if (scrape_sink_garbage (self, outcome))
        ;
    else
    if (self->accepted == 0) {
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason, "no listings");
    }
    else
    if (s_send (self, true) != 0) {
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason,
                  "storage did not take the final batch in time");
    }
    else {
        outcome->verdict = SCRAPE_DONE;
        outcome->reason [0] = 0;
    }
    scrape_sink_counts (self, outcome);
}

void
scrape_job_run (const scrape_job_t *job, scrape_outcome_t *outcome)
{
    memset (outcome, 0, sizeof *outcome);
    int64_t start = clock_mono_ms ();
    int64_t deadline = start + job->timeout_ms;
    scrape_sink_t *sink = scrape_sink_new (job, deadline);
    if (job->kind == SCRAPE_KIND_COMMAND)
        scrape_cmd_run (job, sink, deadline, outcome);
    else
        scrape_world_run (job, sink, deadline, outcome);
    scrape_sink_destroy (&sink);
    if (job->cancel && atomic_load (job->cancel) && outcome->verdict != SCRAPE_DONE) {
        outcome->verdict = SCRAPE_RETRY;
        outcome->cancelled = true;
        snprintf (outcome->reason, sizeof outcome->reason, "cancelled: scraper stopping");
    }
    outcome->elapsed_ms = clock_mono_ms () - start;
}

int
scrape_argv_split (const char *command, char ***argv_p)
{
    *argv_p = NULL;
    size_t cap = 8, argc = 0;
    char **argv = calloc (cap, sizeof *argv);
    assert (argv);
    size_t len = strlen (command);
    char *word = malloc (len + 1);
    assert (word);
    const char *p = command;
    while (true) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t w = 0;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *end = strchr (p, q);
                if (!end) {
                    free (word);
                    argv [argc] = NULL;
                    scrape_argv_free (&argv);
                    return -1;
                }
                memcpy (word + w, p, (size_t) (end - p));
                w += (size_t) (end - p);
                p = end + 1;
            }
            else
                word [w++] = *p++;
        }
        word [w] = 0;
        if (argc + 2 > cap) {
            cap *= 2;
            argv = realloc (argv, cap * sizeof *argv);
            assert (argv);
        }
        argv [argc] = strdup (word);
        assert (argv [argc]);
        argc++;
    }
    free (word);
    argv [argc] = NULL;
    if (argc == 0) {
        scrape_argv_free (&argv);
        return -1;
    }
    *argv_p = argv;
    return (int) argc;
}

void
scrape_argv_free (char ***argv_p)
{
    if (!argv_p || !*argv_p)
        return;
    for (char **a = *argv_p; *a; a++)
        free (*a);
    free (*argv_p);
    *argv_p = NULL;
}
