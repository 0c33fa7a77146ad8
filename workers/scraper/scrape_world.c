/*  scrape_world: the built-in scraper for the world service (workers/world/README.md).

    Pages through GET {world_url}/zipcode/{zip}/listings?page=N&page_size=M until it has the
    task's target count, the world's total, or an empty page. Each listing object goes through
    the same line judgement as an external scraper's output (scrape_line_check), which adds
    scraped_timestamp. 429 and 5xx are retried by the HTTP client, honouring Retry-After,
    within the job's deadline; cancellation stops a transfer or a wait within 100 ms.         */
#include "workers/scraper/scrape_job.h"

#include "common/clock.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BYTES_MAX  (64u << 20)
#define PAGE_DEPTH_MAX  20
#define PAGES_MAX       100000

typedef struct {
    const atomic_bool *cancel;
    int64_t deadline;           //  monotonic ms
} s_stop_t;

//  Polled by the HTTP client during transfers and retry waits: the worker stopping, or the
//  job's time used up, ends the request within 100 ms.
static bool
s_stop (void *arg)
{
    const s_stop_t *stop = arg;
    return (stop->cancel && atomic_load (stop->cancel)) || clock_mono_ms () >= stop->deadline;
}

void
scrape_world_run (const scrape_job_t *job, scrape_sink_t *sink, int64_t deadline,
                  scrape_outcome_t *outcome)
{
    http_options_t opts;
    http_options_defaults (&opts);
    opts.max_body = PAGE_BYTES_MAX;
    opts.max_attempts = 8;
    opts.user_agent = "zipmine-scraper";
    http_t *http = http_new (&opts);
    if (!http) {
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason, "http client failed to start");
        return;
    }
    s_stop_t stop_ctx = { .cancel = job->cancel, .deadline = deadline };
    http_set_cancel (http, s_stop, &stop_ctx);
    uint64_t wanted = job->task.target;
    bool failed = false;
    for (int page = 1; page <= PAGES_MAX && scrape_sink_accepted (sink) < wanted; page++) {
        int64_t left = deadline - clock_mono_ms ();
        if (left <= 0) {
            outcome->verdict = SCRAPE_RETRY;
            snprintf (outcome->reason, sizeof outcome->reason, "timeout after %lld ms",
                      (long long) job->timeout_ms);
            failed = true;
            break;
        }
        char url [600];
        snprintf (url, sizeof url, "%s/zipcode/%s/listings?page=%d&page_size=%d",
                  job->world_url, job->task.zipcode, page, job->page_size);
        http_request_t req = { .method = "GET", .url = url };
        http_response_t *resp = NULL;
        int rc = http_request (http, &req, &resp);
        long status = resp ? http_response_status (resp) : 0;
        if (rc != 0 || status != 200) {
            outcome->verdict = (status == 404 || status == 400) ? SCRAPE_FAIL : SCRAPE_RETRY;
            snprintf (outcome->reason, sizeof outcome->reason, "world page %d: %s", page,
                      rc != 0 ? http_error (http) : status == 404 ? "zipcode unknown (404)"
                                                                   : "unexpected status");
            if (rc == 0 && status != 404)
                snprintf (outcome->reason, sizeof outcome->reason, "world page %d: status %ld",
                          page, status);
            if (rc != 0 && clock_mono_ms () >= deadline)
                snprintf (outcome->reason, sizeof outcome->reason,
                          "timeout after %lld ms: world page %d not answered",
                          (long long) job->timeout_ms, page);
            http_response_destroy (&resp);
            failed = true;
            break;
        }
        size_t len = 0;
        const char *body = http_response_body (resp, &len);
        jsonx_err_t err = { 0 };
        json_t *doc = jsonx_parse (body, len, PAGE_BYTES_MAX, PAGE_DEPTH_MAX, &err);
        http_response_destroy (&resp);
        const json_t *listings = doc ? jsonx_arr (doc, "listings", &err) : NULL;
        int64_t total = doc ? jsonx_int_opt (doc, "total", -1, &err) : -1;
        if (!doc || err.failed) {
            outcome->verdict = SCRAPE_RETRY;
            snprintf (outcome->reason, sizeof outcome->reason, "world page %d: %s", page,
                      err.msg);
            json_decref (doc);
            failed = true;
            break;
        }
        size_t i;
        json_t *item;
        bool stop = false;
        json_array_foreach (listings, i, item) {
            if (scrape_sink_accepted (sink) >= wanted)
                break;
            char *text = json_is_object (item) ? jsonx_dump (item, false) : NULL;
            if (!text) {
                scrape_sink_reject (sink, "not a json object");
                continue;
            }
            int src = scrape_sink_line (sink, text, strlen (text));
            free (text);
            if (src != 0) {
                stop = true;
                break;
            }
        }
        size_t got = json_array_size (listings);
        json_decref (doc);
        if (stop) {
            outcome->verdict = SCRAPE_RETRY;
            snprintf (outcome->reason, sizeof outcome->reason,
                      "storage did not take a batch in time");
            failed = true;
            break;
        }
        if (got == 0 || (total >= 0 && (int64_t) page * job->page_size >= total))
            break;
    }
    http_destroy (&http);
    if (failed) {
        scrape_sink_counts (sink, outcome);
        return;
    }
    scrape_sink_finish (sink, outcome);
}
