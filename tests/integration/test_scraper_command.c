/*  The external scraper interface, one case per failure the brief names, each run as a real
    child process (a python3 script) through scrape_job_run with batches received on a real
    PULL socket:
      ok        every listing arrives, in batches of scraper.batch, seq 0.., final last, each
                with a scraped_timestamp added;
      hang      killed at its timeout, with its process group (a grandchild dies too);
      crash     SIGSEGV: the attempt fails (RETRY) and no final batch is sent;
      badjson   mostly invalid JSON lines: FAIL (not retried) with the reason counted;
      bigline   a 10 MB line is rejected as "line too long" without being buffered; the good
                lines around it go through, the reject is reported in the batch;
      wrongzip  listings of another zipcode: FAIL, reason "wrong zipcode";
      flood     endless output: killed at the output cap, FAIL;
      exit3     a non-zero exit fails the attempt (RETRY);
      missing   a program that does not exist: RETRY, exit status 127.                       */
#include "tests/integration/test_assigner_lib.h"
#include "workers/scraper/scrape_job.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"

#include <sys/stat.h>

static char s_dir [64];
static char s_script [128];
static zsock_t *s_pull, *s_push;

static void
s_close (void)
{
    zsock_destroy (&s_push);
    zsock_destroy (&s_pull);
}

typedef struct {
    int batches;
    int listings;
    bool final;
    uint32_t last_seq;
    uint64_t rejected;
    char reasons [256];
} s_got_t;

//  Drains what arrived on the PULL socket.
static void
s_collect (s_got_t *got)
{
    memset (got, 0, sizeof *got);
    while (true) {
        zmqx_frame_t frame;
        int rc = zmqx_recv (s_pull, &frame, ZMQX_FRAME_MAX_DEFAULT, ZMQ_DONTWAIT);
        if (rc != 0)
            break;
        proto_listing_batch_t b;
        proto_err_t err;
        CHECK_EQ_INT (proto_listing_batch_decode (zmqx_frame_data (&frame),
                                                  zmqx_frame_size (&frame), &b, &err), 0);
        zmqx_frame_close (&frame);
        CHECK_EQ_INT (b.seq, (uint32_t) got->batches);      //  in order, no gaps
        CHECK (!got->final);                                  //  nothing after the final
        CHECK_EQ_STR (b.zipcode, "77494");
        CHECK_EQ_INT (b.lease_id, 42);
        for (size_t i = 0; i < b.nlistings; i++) {
            CHECK (strstr (b.listings [i].json, "\"zipcode\":\"77494\"")
                   || strstr (b.listings [i].json, "\"zipcode\": \"77494\""));
            CHECK (strstr (b.listings [i].json, "scraped_timestamp"));
        }
        got->batches++;
        got->listings += (int) b.nlistings;
        got->final = b.final;
        got->last_seq = b.seq;
        got->rejected += b.rejected;
        for (size_t i = 0; i < b.nreasons; i++) {
            size_t w = strlen (got->reasons);
            snprintf (got->reasons + w, sizeof got->reasons - w, "%s=%llu;", b.reasons [i].reason,
                      (unsigned long long) b.reasons [i].count);
        }
        proto_listing_batch_free (&b);
    }
}

static void
s_run (const char *mode, uint32_t target, int64_t timeout_ms, size_t output_max,
       scrape_outcome_t *outcome, s_got_t *got)
{
    char pidfile [160];
    snprintf (pidfile, sizeof pidfile, "%s/grandchild.pid", s_dir);
    char *argv [] = { "python3", s_script, (char *) mode, pidfile, NULL };
    atomic_bool cancel;
    atomic_init (&cancel, false);
    scrape_job_t job = {
        .task = { .epoch = "2026-11-25T12-00-00", .zipcode = "77494", .target = target,
                  .lease_id = 42, .lease_deadline_ms = clock_wall_ms () + 60000, .attempt = 1 },
        .kind = SCRAPE_KIND_COMMAND, .timeout_ms = timeout_ms, .batch_max = 4,
        .line_max = 16384, .output_max = output_max, .garbage_pct = 50, .argv = argv,
        .cancel = &cancel, .push = s_push
    };
    if (strcmp (mode, "missing") == 0) {
        static char *missing [] = { "/nonexistent/scraper-binary", NULL };
        job.argv = missing;
    }
    scrape_job_run (&job, outcome);
    usleep (200000);            //  let the last frames cross the ipc socket
    s_collect (got);
    printf ("%-9s verdict=%s reason=\"%s\" listings=%llu rejected=%llu batches=%d ms=%lld\n",
            mode, scrape_verdict_name (outcome->verdict), outcome->reason,
            (unsigned long long) outcome->listings, (unsigned long long) outcome->rejected,
            got->batches, (long long) outcome->elapsed_ms);
}

//  True when pid is gone or a zombie (killed, waiting for init to reap it).
static bool
s_dead (pid_t pid)
{
    char path [64], buf [256];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return true;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf [n] = 0;
    char *p = strrchr (buf, ')');
    return p && p [1] == ' ' && p [2] == 'Z';
}

int
main (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_scrcmd_%d", (int) getpid ());
    CHECK (mkdir (s_dir, 0700) == 0);
    snprintf (s_script, sizeof s_script, "%s/scraper.py", s_dir);
    tl_write_file (s_script, tl_scraper_py, 0644);
    char ep [200];
    snprintf (ep, sizeof ep, "@ipc://%s/storage.ipc", s_dir);
    s_pull = zmqx_new (ZMQ_PULL, ep, NULL);
    snprintf (ep, sizeof ep, ">ipc://%s/storage.ipc", s_dir);
    s_push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (s_pull && s_push);
    atexit (s_close);
    scrape_outcome_t o;
    s_got_t got;

    //  ok: 10 listings in batches of 4, 4, 2 (final)
    s_run ("ok", 10, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
    CHECK_EQ_INT (o.listings, 10);
    CHECK_EQ_INT (got.listings, 10);
    CHECK_EQ_INT (got.batches, 3);
    CHECK (got.final);

    //  hang: killed at 6 s with its grandchild (python needs seconds to start on a loaded
    //  machine: the script must have spawned the grandchild before the kill)
    int64_t t0 = clock_mono_ms ();
    s_run ("hang", 10, 6000, 1 << 20, &o, &got);
    int64_t took = clock_mono_ms () - t0;
    CHECK_EQ_INT (o.verdict, SCRAPE_RETRY);
    CHECK (strstr (o.reason, "timeout"));
    CHECK (took >= 6000 && took < 10000);
    CHECK (!got.final);
    char pidfile [160];
    snprintf (pidfile, sizeof pidfile, "%s/grandchild.pid", s_dir);
    FILE *f = fopen (pidfile, "r");
    CHECK (f);
    int gpid = 0;
    CHECK (fscanf (f, "%d", &gpid) == 1 && gpid > 0);
    fclose (f);
    bool dead = false;
    for (int i = 0; i < 50 && !dead; i++) {
        dead = s_dead (gpid);
        if (!dead)
            usleep (20000);
    }
    CHECK (dead);

    //  crash: two listings were sent, but no final batch; the attempt is to be retried
    s_run ("crash", 10, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_RETRY);
    CHECK (strstr (o.reason, "signal 11"));
    CHECK (!got.final);

    //  badjson: 10 of 11 lines invalid: FAIL, named
    s_run ("badjson", 10, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_FAIL);
    CHECK (strstr (o.reason, "garbage output"));
    CHECK (strstr (o.reason, "invalid json 10"));
    CHECK_EQ_INT (o.rejected, 10);
    CHECK (!got.final);

    //  bigline: one 10 MB line rejected, 3 good listings delivered, reject reported
    s_run ("bigline", 10, 20000, 64 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_DONE);
    CHECK_EQ_INT (o.listings, 3);
    CHECK_EQ_INT (o.rejected, 1);
    CHECK (got.final);
    CHECK_EQ_INT (got.listings, 3);
    CHECK_EQ_INT (got.rejected, 1);
    CHECK (strstr (got.reasons, "line too long=1;"));

    //  wrongzip: every listing is of another zipcode
    s_run ("wrongzip", 6, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_FAIL);
    CHECK (strstr (o.reason, "wrong zipcode 6"));
    CHECK_EQ_INT (got.listings, 0);
    CHECK (!got.final);

    //  flood: endless output stops at the 1 MiB cap
    t0 = clock_mono_ms ();
    s_run ("flood", 10, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_FAIL);
    CHECK (strstr (o.reason, "output over"));
    CHECK (clock_mono_ms () - t0 < 10000);
    CHECK (!got.final);

    //  exit3
    s_run ("exit3", 10, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_RETRY);
    CHECK (strstr (o.reason, "status 3"));
    CHECK (!got.final);

    //  missing program
    s_run ("missing", 10, 20000, 1 << 20, &o, &got);
    CHECK_EQ_INT (o.verdict, SCRAPE_RETRY);
    CHECK (strstr (o.reason, "status 127"));

    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    TEST_DONE ();
}
