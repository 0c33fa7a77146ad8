/*  The built-in world scraper against the real world binary (scrape_job_run in process,
    batches on a real PULL socket):
      - a zipcode's listings arrive exactly as many as the world has (the catalog's expected
        count), each once, of that zipcode, with scraped_timestamp, in batches of
        scraper.batch, the last final;
      - with the world rate-limited (429 + Retry-After) the scraper waits as told and still
        gets exactly the expected count (and the HTTP client logged the retries);
      - a target below the world's total stops at the target;
      - a zipcode the world does not know fails the task (FAIL, not retried);
      - a world that is down fails the attempt (RETRY) when the job's time is up,
        not after the HTTP client's own (longer) retry budget.                */
#include "tests/integration/test_assigner_lib.h"
#include "workers/scraper/scrape_job.h"
#include "common/catalog.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"

#include <jansson.h>
#include <sys/stat.h>

static char s_dir [64];
static zsock_t *s_pull, *s_push;

static void
s_close (void)
{
    zsock_destroy (&s_push);
    zsock_destroy (&s_pull);
}

//  Receives what the job sent; returns the listings count, checks each.
static int
s_collect (const char *zipcode, bool *final, int *batches)
{
    int listings = 0;
    *final = false;
    *batches = 0;
    json_t *seen = json_object ();
    zmqx_frame_t frame;
    while (zmqx_recv (s_pull, &frame, ZMQX_FRAME_MAX_DEFAULT, 0) == 0) {
        proto_listing_batch_t b;
        proto_err_t err;
        CHECK_EQ_INT (proto_listing_batch_decode (zmqx_frame_data (&frame),
                                                  zmqx_frame_size (&frame), &b, &err), 0);
        zmqx_frame_close (&frame);
        CHECK (!*final);
        CHECK_EQ_INT (b.seq, (uint32_t) *batches);
        CHECK (b.nlistings <= 25);
        for (size_t i = 0; i < b.nlistings; i++) {
            json_t *doc = json_loads (b.listings [i].json, 0, NULL);
            CHECK (doc);
            CHECK_EQ_STR (json_string_value (json_object_get (doc, "zipcode")), zipcode);
            CHECK (json_is_string (json_object_get (doc, "scraped_timestamp")));
            CHECK (json_is_string (json_object_get (doc, "address")));
            char key [32];
            snprintf (key, sizeof key, "%lld",
                      (long long) json_integer_value (json_object_get (doc, "zpid")));
            CHECK (!json_object_get (seen, key));
            json_object_set_new (seen, key, json_true ());
            json_decref (doc);
        }
        listings += (int) b.nlistings;
        *final = b.final;
        (*batches)++;
        proto_listing_batch_free (&b);
    }
    json_decref (seen);
    return listings;
}

static void
s_run (const char *url, const char *zipcode, uint32_t target, int64_t timeout_ms,
       scrape_outcome_t *o)
{
    atomic_bool cancel;
    atomic_init (&cancel, false);
    scrape_job_t job = {
        .task = { .epoch = "2026-11-25T12-00-00", .target = target, .lease_id = 7,
                  .lease_deadline_ms = clock_wall_ms () + 120000, .attempt = 1 },
        .kind = SCRAPE_KIND_WORLD, .timeout_ms = timeout_ms, .batch_max = 25,
        .line_max = 16384, .output_max = 1 << 20, .garbage_pct = 50, .world_url = url,
        .page_size = 40, .cancel = &cancel, .push = s_push
    };
    snprintf (job.task.zipcode, sizeof job.task.zipcode, "%s", zipcode);
    scrape_job_run (&job, o);
    printf ("%s target %u: verdict=%s reason=\"%s\" listings=%llu ms=%lld\n", zipcode, target,
            scrape_verdict_name (o->verdict), o->reason, (unsigned long long) o->listings,
            (long long) o->elapsed_ms);
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_scrworld_%d", (int) getpid ());
    CHECK (mkdir (s_dir, 0700) == 0);
    char ep [200], bin [256], log_fast [160], log_slow [160], url_fast [64], url_slow [64];
    snprintf (ep, sizeof ep, "@ipc://%s/storage.ipc", s_dir);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 300;
    s_pull = zmqx_new (ZMQ_PULL, ep, &opts);
    snprintf (ep, sizeof ep, ">ipc://%s/storage.ipc", s_dir);
    s_push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (s_pull && s_push);
    atexit (s_close);
    snprintf (bin, sizeof bin, "%s/bin/world", build);
    snprintf (log_fast, sizeof log_fast, "%s/world_fast.log", s_dir);
    snprintf (log_slow, sizeof log_slow, "%s/world_slow.log", s_dir);
    pid_t fast = tl_spawn (bin, log_fast, (const char *[]) { "ZM_WORLD_PORT=0", NULL });
    pid_t slow = tl_spawn (bin, log_slow, (const char *[]) { "ZM_WORLD_PORT=0",
                           "ZM_WORLD_RATE_PER_S=2", NULL });
    CHECK (tl_wait_log (log_fast, "\"world_listening\"", NULL, 1, 20000));
    CHECK (tl_wait_log (log_slow, "\"world_listening\"", NULL, 1, 20000));
    snprintf (url_fast, sizeof url_fast, "http://127.0.0.1:%d",
              (int) tl_log_int (log_fast, "\"world_listening\"", "port"));
    snprintf (url_slow, sizeof url_slow, "http://127.0.0.1:%d",
              (int) tl_log_int (log_slow, "\"world_listening\"", "port"));

    catalog_t *catalog = catalog_new ();
    CHECK (catalog);
    scrape_outcome_t o;
    bool final;
    int batches;

    //  exact count, for a big and a small zipcode
    const char *zipcodes [] = { "77494", "59101", "12085" };
    for (size_t i = 0; i < 3; i++) {
        const catalog_entry_t *e = catalog_lookup (catalog, zipcodes [i]);
        CHECK (e);
        int expected = catalog_expected_listings (e);
        s_run (url_fast, zipcodes [i], (uint32_t) expected, 60000, &o);
        CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
        CHECK_EQ_INT (o.listings, expected);
        CHECK_EQ_INT (s_collect (zipcodes [i], &final, &batches), expected);
        CHECK (final);
        CHECK_EQ_INT (batches, (expected + 24) / 25);
    }

    //  rate-limited world: 429 + Retry-After, still exact
    {
        const catalog_entry_t *e = catalog_lookup (catalog, "59101");
        int expected = catalog_expected_listings (e);
        s_run (url_slow, "59101", (uint32_t) expected, 90000, &o);
        CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
        CHECK_EQ_INT (o.listings, expected);
        CHECK_EQ_INT (s_collect ("59101", &final, &batches), expected);
        CHECK (final);
        //  more pages than the burst allows: some answers were 429 and the scraper waited
        CHECK (expected / 40 + 1 > 2);
        CHECK (o.elapsed_ms >= 2000);
    }

    //  a target below the world's total
    s_run (url_fast, "77494", 30, 60000, &o);
    CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
    CHECK_EQ_INT (o.listings, 30);
    CHECK_EQ_INT (s_collect ("77494", &final, &batches), 30);
    CHECK (final);

    //  unknown zipcode: 404, FAIL
    s_run (url_fast, "00000", 10, 60000, &o);
    CHECK_EQ_INT (o.verdict, SCRAPE_FAIL);
    CHECK (strstr (o.reason, "404"));
    CHECK_EQ_INT (s_collect ("00000", &final, &batches), 0);

    //  world down: RETRY within the job's time
    tl_kill (fast, SIGKILL);
    int64_t t0 = clock_mono_ms ();
    s_run (url_fast, "77494", 10, 4000, &o);
    CHECK_EQ_INT (o.verdict, SCRAPE_RETRY);
    CHECK (clock_mono_ms () - t0 < 5000);

    catalog_destroy (&catalog);
    kill (slow, SIGTERM);
    CHECK_EQ_INT (tl_wait_exit (slow, 10000), 0);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
