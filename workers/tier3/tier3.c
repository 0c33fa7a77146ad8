/*  tier3: spot checks (tier3.h). The sample is pyrandom's; lookups go through the per-epoch
    cache in validator_spot_checks, then the rate limiter, then the HTTP or command verifier
    with bounded attempts. Nothing the source answers is trusted further than a parsed,
    size-capped JSON object.                                                                 */
#include "workers/tier3/tier3.h"

#include "common/clock.h"
#include "common/http.h"
#include "common/log.h"
#include "common/pyrandom.h"
#include "common/ratelimit.h"
#include "common/rc.h"
#include "common/worker.h"
#include "workers/scraper/scrape_job.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIER3_ANSWER_MAX (1024 * 1024)

struct _tier3_t {
    bool command;
    char *url;
    char **argv;
    int64_t timeout_ms;
    int attempts;
    http_t *http;
    ratelimit_t *limiter;
    scoring_cfg_t scoring;
    const atomic_llong *give_up_ms;     //  borrowed, may be NULL
};

void
tier3_set_give_up (tier3_t *self, const atomic_llong *give_up_ms)
{
    self->give_up_ms = give_up_ms;
}

//  True when a lookup started now could end after the give-up time.
static bool
s_give_up (const tier3_t *self)
{
    long long at = self->give_up_ms ? atomic_load (self->give_up_ms) : 0;
    if (at == 0)
        return false;
    int64_t worst = self->timeout_ms + self->attempts * (self->timeout_ms + 200);
    return clock_mono_ms () + worst > (int64_t) at;
}

tier3_t *
tier3_new (const tier3_options_t *opts, const scoring_cfg_t *scoring)
{
    assert (opts && scoring && opts->attempts >= 1 && opts->timeout_ms > 0);
    tier3_t *self = calloc (1, sizeof *self);
    assert (self);
    self->scoring = *scoring;
    self->timeout_ms = opts->timeout_ms;
    self->attempts = opts->attempts;
    if (strcmp (opts->verifier, "command") == 0) {
        self->command = true;
        if (!opts->command || scrape_argv_split (opts->command, &self->argv) < 1) {
            log_error ("config_invalid", LS ("key", "tier3.command"),
                       LS ("reason", "tier3.verifier=command needs a command"));
            free (self);
            return NULL;
        }
    }
    else if (strcmp (opts->verifier, "http") == 0 && opts->source_url && *opts->source_url) {
        size_t len = strlen (opts->source_url);
        while (len && opts->source_url [len - 1] == '/')
            len--;
        self->url = strndup (opts->source_url, len);
        assert (self->url);
        http_options_t ho;
        http_options_defaults (&ho);
        ho.connect_timeout_ms = opts->timeout_ms;
        ho.timeout_ms = opts->timeout_ms;
        ho.max_attempts = opts->attempts;
        ho.backoff_base_ms = 50;
        ho.backoff_cap_ms = 200;
        ho.retry_after_cap_ms = 200;
        ho.deadline_ms = opts->attempts * (opts->timeout_ms + 200);
        ho.max_body = TIER3_ANSWER_MAX;
        ho.user_agent = "zipmine-tier3";
        self->http = http_new (&ho);
        if (!self->http) {
            free (self->url);
            free (self);
            return NULL;
        }
    }
    else {
        log_error ("config_invalid", LS ("key", "tier3.verifier"),
                   LS ("reason", "http (with tier3.source.url) or command"));
        free (self);
        return NULL;
    }
    double burst = opts->rate_per_minute / 60.0 < 1.0 ? 1.0 : opts->rate_per_minute / 60.0;
    self->limiter = ratelimit_new (opts->rate_per_minute, burst, 1);
    assert (self->limiter);
    return self;
}

void
tier3_destroy (tier3_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tier3_t *self = *self_p;
    http_destroy (&self->http);
    ratelimit_destroy (&self->limiter);
    scrape_argv_free (&self->argv);
    free (self->url);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------------------
//  Verifiers: each returns a tier3_lookup_t, *doc_p set on TIER3_FOUND.

static int
s_http_lookup (tier3_t *self, const char *zpid, json_t **doc_p, char *detail, size_t size)
{
    char url [600];
    snprintf (url, sizeof url, "%s/property/%s", self->url, zpid);
    http_response_t *resp = NULL;
    int rc = http_get (self->http, url, NULL, &resp);
    long status = resp ? http_response_status (resp) : 0;
    int outcome = TIER3_UNAVAILABLE;
    if (rc == 0 && status == 200) {
        size_t len;
        const char *body = http_response_body (resp, &len);
        json_t *doc = json_loadb (body, len, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object (doc)) {
            *doc_p = doc;
            outcome = TIER3_FOUND;
        }
        else {
            json_decref (doc);
            snprintf (detail, size, "source answered 200 without a JSON object");
        }
    }
    else if (rc == 0 && status == 404)
        outcome = TIER3_NOT_FOUND;
    else if (rc == 0)
        snprintf (detail, size, "source answered %ld", status);
    else if (status)
        snprintf (detail, size, "source answered %ld: %s", status, http_error (self->http));
    else
        snprintf (detail, size, "%s", http_error (self->http));
    http_response_destroy (&resp);
    return outcome;
}

//  One run of the command. Returns a tier3_lookup_t.
static int
s_command_once (tier3_t *self, const char *request, json_t **doc_p, char *detail,
                size_t size)
{
    int in [2], out [2];
    if (pipe2 (in, O_CLOEXEC) != 0) {
        snprintf (detail, size, "pipe: %s", strerror (errno));
        return TIER3_UNAVAILABLE;
    }
    if (pipe2 (out, O_CLOEXEC) != 0) {
        close (in [0]);
        close (in [1]);
        snprintf (detail, size, "pipe: %s", strerror (errno));
        return TIER3_UNAVAILABLE;
    }
    pid_t pid = fork ();
    if (pid < 0) {
        close (in [0]); close (in [1]); close (out [0]); close (out [1]);
        snprintf (detail, size, "fork: %s", strerror (errno));
        return TIER3_UNAVAILABLE;
    }
    if (pid == 0) {
        worker_child_reset_signals ();
        dup2 (in [0], 0);
        dup2 (out [1], 1);
        //  Nothing else of ours (database, ZeroMQ, HTTP sockets) reaches the verifier.
        close_range (3, ~0U, 0);
        execvp (self->argv [0], self->argv);
        _exit (127);
    }
    close (in [0]);
    close (out [1]);
    //  The request is tiny (well under a pipe buffer): one non-blocking write.
    fcntl (in [1], F_SETFL, O_NONBLOCK);
    ssize_t wrote = write (in [1], request, strlen (request));
    (void) wrote;
    close (in [1]);
    char *buf = malloc (TIER3_ANSWER_MAX + 1);
    assert (buf);
    size_t len = 0;
    bool overflow = false, timed_out = false;
    int64_t end = clock_mono_ms () + self->timeout_ms;
    for (;;) {
        int64_t left = end - clock_mono_ms ();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = { .fd = out [0], .events = POLLIN };
        int pr = poll (&pfd, 1, (int) left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        ssize_t r = read (out [0], buf + len, TIER3_ANSWER_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t) r;
        if (len == TIER3_ANSWER_MAX) {
            overflow = true;
            break;
        }
    }
    close (out [0]);
    int status = 0;
    if (timed_out || overflow)
        kill (pid, SIGKILL);
    //  After EOF the child exits promptly; bound the wait anyway.
    int64_t reap_end = clock_mono_ms () + self->timeout_ms;
    while (waitpid (pid, &status, WNOHANG) == 0) {
        if (clock_mono_ms () > reap_end) {
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
            timed_out = true;
            break;
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep (&ts, NULL);
    }
    int outcome = TIER3_UNAVAILABLE;
    if (timed_out)
        snprintf (detail, size, "command timed out after %lld ms", (long long) self->timeout_ms);
    else if (overflow)
        snprintf (detail, size, "command answer over %d bytes", TIER3_ANSWER_MAX);
    else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        snprintf (detail, size, "command exited with status %d",
                  WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
    else {
        json_t *answer = json_loadb (buf, len, JSON_REJECT_DUPLICATES, NULL);
        const char *st = json_string_value (json_object_get (answer, "status"));
        json_t *prop = json_object_get (answer, "property");
        if (st && strcmp (st, "found") == 0 && json_is_object (prop)) {
            *doc_p = json_incref (prop);
            outcome = TIER3_FOUND;
        }
        else if (st && strcmp (st, "not_found") == 0)
            outcome = TIER3_NOT_FOUND;
        else
            snprintf (detail, size, "command answer is not a verifier answer");
        json_decref (answer);
    }
    free (buf);
    return outcome;
}

static int
s_command_lookup (tier3_t *self, const char *zpid, const char *zipcode, json_t **doc_p,
                  char *detail, size_t size)
{
    char request [96];
    snprintf (request, sizeof request, "{\"zpid\":\"%s\",\"zipcode\":\"%s\"}\n", zpid, zipcode);
    int outcome = TIER3_UNAVAILABLE;
    for (int attempt = 0; attempt < self->attempts; attempt++) {
        if (attempt) {
            struct timespec ts = { 0, (long) (50 << attempt) * 1000 * 1000 };
            nanosleep (&ts, NULL);
        }
        outcome = s_command_once (self, request, doc_p, detail, size);
        if (outcome != TIER3_UNAVAILABLE)
            break;
    }
    return outcome;
}

//  ---------------------------------------------------------------------------------------

static int
s_cache_get (db_t *db, const char *epoch, const char *zpid, json_t **doc_p)
{
    db_result_t *res = NULL;
    int rc = db_exec (db, "SELECT outcome, doc::text FROM validator_spot_checks "
                          "WHERE epoch_id = $1 AND property_id = $2 "
                          "AND outcome <> 'unverifiable'", DB_P (epoch, zpid), &res);
    if (rc != 0)
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    int outcome = 0;
    if (db_result_rows (res) == 1) {
        if (strcmp (db_result_get (res, 0, 0), "found") == 0) {
            const char *text = db_result_get (res, 0, 1);
            json_t *doc = text ? json_loads (text, 0, NULL) : NULL;
            if (json_is_object (doc)) {
                *doc_p = doc;
                outcome = TIER3_FOUND;
            }
            else
                json_decref (doc);
        }
        else
            outcome = TIER3_NOT_FOUND;
    }
    db_result_destroy (&res);
    return outcome;
}

int
tier3_lookup (tier3_t *self, db_t *db, const char *epoch, const char *zpid,
              const char *zipcode, json_t **doc_p, char *detail, size_t detail_size)
{
    *doc_p = NULL;
    detail [0] = 0;
    int rc = s_cache_get (db, epoch, zpid, doc_p);
    if (rc != 0)
        return rc;
    int64_t waited = 0, retry_after = 0;
    while (!ratelimit_take (self->limiter, "source", clock_mono_ms (), &retry_after)) {
        if (waited + retry_after > self->timeout_ms) {
            snprintf (detail, detail_size, "rate limit tier3.rate.per_minute reached");
            return TIER3_UNAVAILABLE;
        }
        struct timespec ts = { retry_after / 1000, (long) (retry_after % 1000) * 1000000L };
        nanosleep (&ts, NULL);
        waited += retry_after;
    }
    int outcome = self->command
                ? s_command_lookup (self, zpid, zipcode, doc_p, detail, detail_size)
                : s_http_lookup (self, zpid, doc_p, detail, detail_size);
    if (outcome == TIER3_UNAVAILABLE)
        return outcome;
    char *text = *doc_p ? json_dumps (*doc_p, JSON_COMPACT) : NULL;
    rc = db_exec (db,
        "INSERT INTO validator_spot_checks (epoch_id, property_id, outcome, http_status, doc) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (epoch_id, property_id) DO NOTHING",
        DB_P (epoch, zpid, outcome == TIER3_FOUND ? "found" : "not_found",
              self->command ? NULL : outcome == TIER3_FOUND ? "200" : "404", text), NULL);
    free (text);
    if (rc != 0) {
        json_decref (*doc_p);
        *doc_p = NULL;
        return rc == RC_RETRY ? RC_RETRY : RC_ERR;
    }
    //  Another instance may have cached it first: judge on what is stored.
    json_decref (*doc_p);
    *doc_p = NULL;
    rc = s_cache_get (db, epoch, zpid, doc_p);
    return rc == 0 ? RC_RETRY : rc;
}

static bool
s_num (const json_t *doc, const char *field, double *out)
{
    const json_t *v = json_object_get (doc, field);
    if (!json_is_number (v))
        return false;
    *out = json_number_value (v);
    return isfinite (*out);
}

static bool
s_same_str (const json_t *a, const json_t *b, const char *field)
{
    const char *x = json_string_value (json_object_get (a, field));
    const char *y = json_string_value (json_object_get (b, field));
    return x && y && strcmp (x, y) == 0;
}

static bool
s_near (const json_t *claimed, const json_t *source, const char *field)
{
    double c, s;
    if (!s_num (claimed, field, &c) || !s_num (source, field, &s))
        return false;
    return fabs (c - s) <= 0.05 * fabs (s);
}

static bool
s_equal (const json_t *claimed, const json_t *source, const char *field)
{
    double c, s;
    return s_num (claimed, field, &c) && s_num (source, field, &s) && c == s;
}

bool
tier3_matches (const json_t *claimed, const json_t *source, const char *zipcode)
{
    const char *zip = json_string_value (json_object_get (source, "zipcode"));
    return zip && strcmp (zip, zipcode) == 0
        && s_same_str (claimed, source, "property_type")
        && s_same_str (claimed, source, "listing_status")
        && s_equal (claimed, source, "bedrooms")
        && s_equal (claimed, source, "bathrooms")
        && s_near (claimed, source, "price")
        && s_near (claimed, source, "sqft");
}

//  The listing's zpid as 1..15 digits, or false.
static bool
s_zpid (const json_t *doc, char *out, size_t size)
{
    const json_t *v = json_object_get (doc, "zpid");
    if (json_is_integer (v) && json_integer_value (v) >= 0
    &&  json_integer_value (v) <= 999999999999999LL) {
        snprintf (out, size, "%" JSON_INTEGER_FORMAT, json_integer_value (v));
        return true;
    }
    const char *s = json_string_value (v);
    size_t len = s ? strlen (s) : 0;
    if (len < 1 || len > 15 || len >= size)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit ((unsigned char) s [i]))
            return false;
    memcpy (out, s, len + 1);
    return true;
}

int
tier3_check (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out)
{
    tier3_t *self = arg;
    uint64_t idx [PYRANDOM_TIER3_MAX_K];
    size_t k = sub->count > 0
             ? pyrandom_tier3_sample (sub->nonce, sub->hotkey, sub->last_modified,
                                      (uint64_t) sub->count, idx)
             : 0;
    size_t verified = 0, checked = 0;
    int64_t first_bad = -1;
    char id [24];
    snprintf (id, sizeof id, "%" PRId64, sub->id);
    tier_outcome_metric (out, "sampled", (double) k);
    for (size_t i = 0; i < k; i++) {
        char ix [24];
        snprintf (ix, sizeof ix, "%" PRIu64, idx [i]);
        db_result_t *res = NULL;
        int rc = db_exec (db, "SELECT doc::text FROM validator_submission_listings "
                              "WHERE submission_id = $1 AND idx = $2", DB_P (id, ix), &res);
        if (rc != 0)
            return rc == RC_RETRY ? RC_RETRY : RC_ERR;
        json_t *claimed = db_result_rows (res) == 1
                        ? json_loads (db_result_get (res, 0, 0), 0, NULL) : NULL;
        db_result_destroy (&res);
        char zpid [24], detail [256];
        bool ok = false;
        if (json_is_object (claimed) && s_zpid (claimed, zpid, sizeof zpid)) {
            if (s_give_up (self)) {
                json_decref (claimed);
                log_warn ("tier3_check_abandoned", LI ("db_id", sub->id),
                          LI ("checked", (int64_t) checked),
                          LS ("reason", "shutting down: the next lookup could outlast the "
                                        "shutdown budget"));
                return RC_RETRY;
            }
            json_t *source = NULL;
            rc = tier3_lookup (self, db, sub->epoch, zpid, sub->zipcode, &source, detail,
                               sizeof detail);
            if (rc < 0) {
                json_decref (claimed);
                return rc == RC_RETRY ? RC_RETRY : RC_ERR;
            }
            if (rc == TIER3_UNAVAILABLE) {
                json_decref (claimed);
                tier_outcome_metric (out, "checked", (double) checked);
                tier_outcome_metric (out, "verified", (double) verified);
                out->verdict = PROTO_VERDICT_UNVERIFIABLE;
                snprintf (out->reason, sizeof out->reason, "source_unavailable: %s", detail);
                log_warn ("tier3_source_unavailable", LI ("db_id", sub->id),
                          LS ("zpid", zpid), LS ("reason", detail));
                return 0;
            }
            ok = rc == TIER3_FOUND && tier3_matches (claimed, source, sub->zipcode);
            json_decref (source);
        }
        json_decref (claimed);
        checked++;
        verified += ok;
        if (!ok && first_bad < 0)
            first_bad = (int64_t) idx [i];
    }
    tier_outcome_metric (out, "checked", (double) checked);
    tier_outcome_metric (out, "verified", (double) verified);
    tier_outcome_metric (out, "verified_ratio", checked ? (double) verified / (double) checked
                                                        : 0.0);
    if (first_bad >= 0)
        tier_outcome_metric (out, "first_bad_index", (double) first_bad);
    if (scoring_tier3_pass (&self->scoring, verified, checked))
        out->verdict = PROTO_VERDICT_PASS;
    else {
        out->verdict = PROTO_VERDICT_FAIL;
        if (checked)
            snprintf (out->reason, sizeof out->reason, "verified %zu of %zu", verified,
                      checked);
        else
            snprintf (out->reason, sizeof out->reason, "no listings to check");
    }
    return 0;
}
