/*  The shipped example external scraper, examples/scrapers/world_scraper.py, run by the
    scraper's command interface against the real world binary: it delivers exactly the
    expected count of a zipcode (each of that zipcode, with scraped_timestamp, no line
    rejected), also from a rate-limited world (429 + Retry-After), and a zipcode the world
    does not know ends in a failed attempt.                                                  */
#include "tests/integration/test_assigner_lib.h"
#include "workers/scraper/scrape_job.h"
#include "common/catalog.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"

#include <sys/stat.h>

static char s_dir [64];
static zsock_t *s_pull, *s_push;

static void
s_close (void)
{
    zsock_destroy (&s_push);
    zsock_destroy (&s_pull);
}

static int
s_collect (bool *final)
{
    int listings = 0;
    *final = false;
    zmqx_frame_t frame;
    while (zmqx_recv (s_pull, &frame, ZMQX_FRAME_MAX_DEFAULT, 0) == 0) {
        proto_listing_batch_t b;
        proto_err_t err;
        CHECK_EQ_INT (proto_listing_batch_decode (zmqx_frame_data (&frame),
                                                  zmqx_frame_size (&frame), &b, &err), 0);
        zmqx_frame_close (&frame);
        CHECK_EQ_INT (b.rejected, 0);
        listings += (int) b.nlistings;
        *final = b.final;
        proto_listing_batch_free (&b);
    }
    return listings;
}

static void
s_run (const char *script, const char *url, const char *zipcode, uint32_t target,
       scrape_outcome_t *o)
{
    char *argv [] = { "python3", (char *) script, (char *) url, NULL };
    atomic_bool cancel;
    atomic_init (&cancel, false);
    scrape_job_t job = {
        .task = { .epoch = "2026-11-25T12-00-00", .target = target, .lease_id = 9,
                  .lease_deadline_ms = clock_wall_ms () + 120000, .attempt = 1 },
        .kind = SCRAPE_KIND_COMMAND, .timeout_ms = 90000, .batch_max = 100,
        .line_max = 16384, .output_max = 64 << 20, .garbage_pct = 50, .argv = argv,
        .cancel = &cancel, .push = s_push
    };
    snprintf (job.task.zipcode, sizeof job.task.zipcode, "%s", zipcode);
    scrape_job_run (&job, o);
    printf ("%s: verdict=%s reason=\"%s\" listings=%llu ms=%lld\n", zipcode,
            scrape_verdict_name (o->verdict), o->reason, (unsigned long long) o->listings,
            (long long) o->elapsed_ms);
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    const char *source = TEST_ENV ("ZM_SOURCE_DIR");
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_screx_%d", (int) getpid ());
    CHECK (mkdir (s_dir, 0700) == 0);
    char ep [200], bin [256], script [512], logs [2][160], urls [2][64];
    snprintf (script, sizeof script, "%s/examples/scrapers/world_scraper.py", source);
    snprintf (ep, sizeof ep, "@ipc://%s/storage.ipc", s_dir);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 300;
    s_pull = zmqx_new (ZMQ_PULL, ep, &opts);
    snprintf (ep, sizeof ep, ">ipc://%s/storage.ipc", s_dir);
    s_push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (s_pull && s_push);
    atexit (s_close);
    snprintf (bin, sizeof bin, "%s/bin/world", build);
    for (int i = 0; i < 2; i++)
        snprintf (logs [i], sizeof logs [i], "%s/world%d.log", s_dir, i);
    pid_t fast = tl_spawn (bin, logs [0], (const char *[]) { "ZM_WORLD_PORT=0", NULL });
    pid_t slow = tl_spawn (bin, logs [1], (const char *[]) { "ZM_WORLD_PORT=0",
                           "ZM_WORLD_RATE_PER_S=1", NULL });
    for (int i = 0; i < 2; i++) {
        CHECK (tl_wait_log (logs [i], "\"world_listening\"", NULL, 1, 20000));
        snprintf (urls [i], sizeof urls [i], "http://127.0.0.1:%d",
                  (int) tl_log_int (logs [i], "\"world_listening\"", "port"));
    }
    catalog_t *catalog = catalog_new ();
    CHECK (catalog);
    scrape_outcome_t o;
    bool final;
    const char *zips [] = { "77494", "12085" };
    for (int i = 0; i < 2; i++) {
        int expected = catalog_expected_listings (catalog_lookup (catalog, zips [i]));
        s_run (script, urls [0], zips [i], (uint32_t) expected, &o);
        CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
        CHECK_EQ_INT (o.listings, expected);
        CHECK_EQ_INT (o.rejected, 0);
        CHECK_EQ_INT (s_collect (&final), expected);
        CHECK (final);
    }
    //  rate-limited: 3 pages at 1 request/s, burst 1
    int expected = catalog_expected_listings (catalog_lookup (catalog, "59101"));
    s_run (script, urls [1], "59101", (uint32_t) expected, &o);
    CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
    CHECK_EQ_INT (o.listings, expected);
    CHECK_EQ_INT (s_collect (&final), expected);
    CHECK (final);
    //  unknown zipcode: the example exits 1, the attempt fails
    s_run (script, urls [0], "00000", 10, &o);
    CHECK_EQ_INT (o.verdict, SCRAPE_RETRY);
    CHECK (strstr (o.reason, "status 1"));

    catalog_destroy (&catalog);
    kill (fast, SIGTERM);
    kill (slow, SIGTERM);
    CHECK_EQ_INT (tl_wait_exit (fast, 10000), 0);
    CHECK_EQ_INT (tl_wait_exit (slow, 10000), 0);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
