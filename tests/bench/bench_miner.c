/*  bench_miner: the miner's data path end to end, with real processes (issue 5).

      world      the real `world` binary (port 0, no latency, no rate limit)
      scraper    P real `scraper` processes (scraper.kind world, default batch 100, page 100)
      storage    the real `storage` binary
      uploader   the real `uploader` binary, s3.mode direct, against the test S3 server

    The bench itself plays the assigner: it binds the assigner ROUTER, seeds Z leased tasks
    (zipcodes spread over the catalog, target = the catalog's expected count) and hands one
    task per scraper credit, exactly as workers/assigner does. It then prints:

      (a) listings/s through scraper -> storage: every listing stored, from the first task
          handed out until the last zipcode is stored (world HTTP, JSON, listing_batch,
          validation, COPY, ...), beside the raw text and binary COPY rates of the same
          rows into miner_listings on the same database in the same run;
      (b) per-zipcode submission latency, from the commit of the batch that completed the
          zipcode (max miner_batches.committed_at) to the upload ledger's uploaded_at
          (S3 accepted the object): p50 / p90 / p99 / max over the Z zipcodes;
      the peak RSS (VmHWM) and CPU time of every process.

    Usage: bench_miner [zipcodes] [scrapers]   (defaults 120, 4; needs ZM_TEST_PG_DSN and the
    ZM_TEST_S3_* variables (tests/services); binaries beside this one; creates and drops
    zmbench_miner_<pid>). Not a timed test: read the numbers.                               */
#include "common/catalog.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/rc.h"
#include "common/wallet.h"
#include "common/zmqx.h"
#include "proto/heartbeat.h"
#include "proto/scrape_task.h"
#include "tests/bench/bench_lib.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EPOCH "2026-11-25T12-00-00"
#define PEERS_MAX 64
#define PROCS_MAX (PEERS_MAX + 3)

typedef struct {
    const char *name;
    pid_t pid;
    long rss_kb;
    double cpu_s;
} s_proc_t;

static s_proc_t s_procs [PROCS_MAX];
static int s_nprocs;
static db_t *s_admin;
static char s_dbname [64];
static char s_dir [64];

static void
s_cleanup (void)
{
    for (int i = 0; i < s_nprocs; i++)
        if (s_procs [i].pid > 0) {
            kill (s_procs [i].pid, SIGKILL);
            waitpid (s_procs [i].pid, NULL, 0);
            s_procs [i].pid = 0;
        }
    if (s_admin && *s_dbname) {
        char sql [160];
        snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s_dbname);
        db_exec (s_admin, sql, 0, NULL, NULL);
        *s_dbname = 0;
    }
    db_destroy (&s_admin);
    if (*s_dir) {
        char cmd [128];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
        if (system (cmd) != 0)
            fprintf (stderr, "bench_miner: could not remove %s\n", s_dir);
        *s_dir = 0;
    }
}

static const char *
s_env (const char *name)
{
    const char *v = getenv (name);
    if (!v || !*v) {
        fprintf (stderr, "bench_miner: %s is not set (source tests/services' env.sh)\n", name);
        exit (1);
    }
    return v;
}

//  Starts bin_dir/name with extra "KEY=value" settings (NULL-terminated); stdout to a log.
static pid_t
s_spawn (const char *bin_dir, const char *name, const char *label, const char *const *env)
{
    if (s_nprocs >= PROCS_MAX)
        bench_die ("too many processes", NULL);
    char bin [PATH_MAX + 64], logpath [256];
    snprintf (bin, sizeof bin, "%s/%s", bin_dir, name);
    snprintf (logpath, sizeof logpath, "%s/%s.log", s_dir, label);
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0)
        bench_die ("fork", NULL);
    if (pid == 0) {
        if (!freopen (logpath, "w", stdout))
            _exit (127);
        for (const char *const *e = env; e && *e; e++)
            putenv ((char *) *e);
        execl (bin, bin, (char *) NULL);
        _exit (127);
    }
    s_procs [s_nprocs++] = (s_proc_t) { .name = strdup (label), .pid = pid };
    return pid;
}

//  Samples peak RSS and CPU time, then SIGTERM and wait.
static void
s_stop (s_proc_t *p)
{
    if (p->pid <= 0)
        return;
    p->rss_kb = bench_status_kb (p->pid, "VmHWM");
    p->cpu_s = bench_cpu_s (p->pid);
    kill (p->pid, SIGTERM);
    waitpid (p->pid, NULL, 0);
    p->pid = 0;
}

//  The integer after "key": in the first line of a log holding event, or -1.
static int64_t
s_log_int (const char *label, const char *event, const char *key, int timeout_ms)
{
    char logpath [256], needle [96], kneedle [64], line [8192];
    snprintf (logpath, sizeof logpath, "%s/%s.log", s_dir, label);
    snprintf (needle, sizeof needle, "\"event\":\"%s\"", event);
    snprintf (kneedle, sizeof kneedle, "\"%s\":", key);
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        FILE *f = fopen (logpath, "r");
        while (f && fgets (line, sizeof line, f)) {
            char *k = strstr (line, needle) ? strstr (line, kneedle) : NULL;
            if (k) {
                fclose (f);
                return strtoll (k + strlen (kneedle), NULL, 10);
            }
        }
        if (f)
            fclose (f);
        usleep (50 * 1000);
    }
    return -1;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_pct (const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t) (p * (double) (n - 1) + 0.5);
    return sorted [i < n ? i : n - 1];
}

typedef struct {
    uint8_t id [256];
    size_t id_len;
    uint64_t sent;
} s_peer_t;

int
main (int argc, char **argv)
{
    int zipcodes = argc > 1 ? atoi (argv [1]) : 120;
    int scrapers = argc > 2 ? atoi (argv [2]) : 4;
    if (zipcodes < 1 || zipcodes > 5000 || scrapers < 1 || scrapers > PEERS_MAX)
        bench_die ("usage: bench_miner [zipcodes 1..5000] [scrapers 1..64]", NULL);
    const char *dsn = s_env ("ZM_TEST_PG_DSN");
    const char *s3_endpoint = s_env ("ZM_TEST_S3_ENDPOINT");
    const char *s3_bucket = s_env ("ZM_TEST_S3_BUCKET");
    const char *s3_region = s_env ("ZM_TEST_S3_REGION");
    const char *s3_access = s_env ("ZM_TEST_S3_ACCESS_KEY");
    const char *s3_secret = s_env ("ZM_TEST_S3_SECRET_KEY");
    atexit (s_cleanup);

    char err [256], sql [200], *mydsn;
    s_admin = db_new (dsn, "bench", 5, 600000, err, sizeof err);
    if (!s_admin)
        bench_die (err, NULL);
    snprintf (s_dbname, sizeof s_dbname, "zmbench_miner_%d", (int) getpid ());
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", s_dbname);
    bench_exec (s_admin, sql, 0, NULL);
    if (asprintf (&mydsn, "%s dbname=%s", dsn, s_dbname) < 0)
        abort ();
    db_t *db = db_new (mydsn, "bench", 5, 600000, err, sizeof err);
    if (!db || db_migrate (db) != 0)
        bench_die ("migrate", db);

    //  Z zipcodes spread over the catalog; their leased tasks (lease k+1 for the k-th)
    catalog_t *catalog = catalog_new ();
    if (!catalog)
        bench_die ("catalog", NULL);
    size_t csize = catalog_size (catalog);
    size_t step = csize / (size_t) zipcodes ? csize / (size_t) zipcodes : 1;
    proto_scrape_task_t *tasks = calloc ((size_t) zipcodes, sizeof *tasks);
    int64_t expected = 0;
    bench_exec (db, "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
                "submission_deadline, target_listings, tolerance_percent, assignment) VALUES "
                "($1, '0123456789abcdef', now(), now() + interval '2 hours', "
                "now() + interval '2 hours', 0, 10, '{}')", 1, (const char *[]) { EPOCH });
    int64_t deadline_ms = clock_wall_ms () + 3600 * 1000;
    for (int k = 0; k < zipcodes; k++) {
        const catalog_entry_t *e = catalog_at (catalog, ((size_t) k * step) % csize);
        proto_scrape_task_t *t = &tasks [k];
        snprintf (t->epoch, sizeof t->epoch, "%s", EPOCH);
        snprintf (t->zipcode, sizeof t->zipcode, "%s", e->zipcode);
        t->target = (uint32_t) catalog_expected_listings (e);
        t->lease_id = (uint64_t) k + 1;
        t->lease_deadline_ms = deadline_ms;
        t->attempt = 1;
        expected += t->target;
        char lease [24], target [24];
        snprintf (lease, sizeof lease, "%d", k + 1);
        snprintf (target, sizeof target, "%u", t->target);
        bench_exec (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, status, "
                    "lease_id, lease_deadline, attempts) VALUES ($1, $2, $3::integer, 'leased', "
                    "$4, now() + interval '1 hour', 1)",
                DB_P (EPOCH, t->zipcode, target, lease));
    }
    catalog_destroy (&catalog);

    //  run dir, wallet, binaries beside this one
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_bench_miner_%d", (int) getpid ());
    if (mkdir (s_dir, 0700) != 0)
        bench_die ("mkdir", NULL);
    char wallets [128], path [256];
    snprintf (wallets, sizeof wallets, "%s/wallets", s_dir);
    char dev_name [64];
    snprintf (dev_name, sizeof dev_name, "bench-miner-%d", (int) getpid ());
    wallet_t *hot = wallet_new_dev (dev_name);
    wallet_t *cold = wallet_new_dev ("bench-miner-cold");
    const char *reason = NULL;
    if (!hot || !cold || wallet_write_hotkey (hot, wallets, "miner", "default", &reason) != 0)
        bench_die ("wallet", NULL);
    snprintf (path, sizeof path, "%s/miner/coldkeypub.txt", wallets);
    FILE *f = fopen (path, "w");
    if (!f)
        bench_die ("coldkeypub.txt", NULL);
    fprintf (f, "{\"ss58Address\":\"%s\"}", wallet_ss58 (cold));
    fclose (f);
    char self [PATH_MAX], bin_dir [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        bench_die ("readlink", NULL);
    self [n] = 0;
    snprintf (bin_dir, sizeof bin_dir, "%s", dirname (self));

    //  the node's common configuration (every worker reads the same variables)
    static char e_dsn [512], e_run [128], e_s3e [256], e_s3b [128], e_s3r [64], e_s3a [128],
                e_s3s [256], e_wallet [160], e_world [96];
    snprintf (e_dsn, sizeof e_dsn, "ZM_DB_DSN=%s", mydsn);
    snprintf (e_run, sizeof e_run, "ZM_RUN_DIR=%s", s_dir);
    snprintf (e_s3e, sizeof e_s3e, "ZM_S3_ENDPOINT=%s", s3_endpoint);
    snprintf (e_s3b, sizeof e_s3b, "ZM_S3_BUCKET=%s", s3_bucket);
    snprintf (e_s3r, sizeof e_s3r, "ZM_S3_REGION=%s", s3_region);
    snprintf (e_s3a, sizeof e_s3a, "ZM_S3_ACCESS_KEY=%s", s3_access);
    snprintf (e_s3s, sizeof e_s3s, "ZM_S3_SECRET_KEY=%s", s3_secret);
    snprintf (e_wallet, sizeof e_wallet, "ZM_WALLET_PATH=%s", wallets);
    const char *node [] = { e_dsn, e_run, "ZM_NODE_NAME=bench", e_s3e, e_s3b, e_s3r, e_s3a,
                            e_s3s, e_wallet, "ZM_WALLET_NAME=miner", "ZM_WALLET_HOTKEY=default",
                            "ZM_S3_MODE=direct", "ZM_COORDINATOR_URL=http://127.0.0.1:1",
                            "ZM_UPLOADER_STATUS_INTERVAL_MS=3600000", NULL };
    for (const char *const *e = node; *e; e++)
        putenv ((char *) *e);

    const char *world_env [] = { "ZM_WORLD_PORT=0", "ZM_WORLD_LATENCY_MS=0",
                                 "ZM_WORLD_RATE_PER_S=0", NULL };
    s_spawn (bin_dir, "world", "world", world_env);
    int64_t port = s_log_int ("world", "world_listening", "port", 30000);
    if (port <= 0)
        bench_die ("world did not listen", NULL);
    snprintf (e_world, sizeof e_world, "ZM_SCRAPER_WORLD_URL=http://127.0.0.1:%d", (int) port);
    putenv (e_world);
    s_spawn (bin_dir, "storage", "storage", NULL);
    s_spawn (bin_dir, "uploader", "uploader", NULL);

    //  the assigner's ROUTER, before the scrapers connect
    char ep [ZMQX_ENDPOINT_MAX + 2];
    if (zmqx_endpoint_at (ep, sizeof ep, '@', s_dir, "bench", "assigner") != 0)
        bench_die ("endpoint", NULL);
    zsock_t *router = zmqx_new (ZMQ_ROUTER, ep, NULL);
    if (!router)
        bench_die ("router", NULL);
    if (s_log_int ("storage", "worker_ready", "startup_ms", 60000) < 0
    ||  s_log_int ("uploader", "worker_ready", "startup_ms", 60000) < 0)
        bench_die ("storage or uploader not ready", NULL);
    for (int i = 0; i < scrapers; i++) {
        static char idx [PEERS_MAX][32];
        char label [32];
        snprintf (idx [i], sizeof idx [i], "ZM_WORKER_INDEX=%d", i);
        snprintf (label, sizeof label, "scraper.%d", i);
        const char *env [] = { idx [i], NULL };
        s_spawn (bin_dir, "scraper", label, env);
    }

    //  hand out tasks, one per credit, until all are out and all are stored
    s_peer_t peers [PEERS_MAX];
    int npeers = 0, next = 0;
    int64_t t0 = 0, t_stored = 0, t_uploaded = 0, t_start = clock_mono_ms (), last_poll = 0;
    while (!t_uploaded) {
        if (clock_mono_ms () - t_start > 1800 * 1000)
            bench_die ("not done in 30 min", NULL);
        zsock_set_rcvtimeo (router, 20);
        uint8_t id [256];
        size_t id_len = 0;
        zmqx_frame_t frame;
        if (zmqx_recv_routed (router, id, sizeof id, &id_len, &frame, 65536, 0) == 0) {
            proto_heartbeat_t hb;
            int rc = proto_heartbeat_decode (zmqx_frame_data (&frame), zmqx_frame_size (&frame),
                                             &hb, NULL);
            zmqx_frame_close (&frame);
            if (rc == 0 && hb.state == PROTO_WORKER_READY) {
                s_peer_t *p = NULL;
                for (int i = 0; i < npeers && !p; i++)
                    if (peers [i].id_len == id_len && memcmp (peers [i].id, id, id_len) == 0)
                        p = &peers [i];
                if (!p && npeers < PEERS_MAX) {
                    p = &peers [npeers++];
                    memcpy (p->id, id, id_len);
                    p->id_len = id_len;
                    p->sent = hb.seq;
                }
                if (p && hb.seq >= p->sent && next < zipcodes) {
                    msgpack_sbuffer sbuf;
                    msgpack_sbuffer_init (&sbuf);
                    if (proto_scrape_task_encode (&tasks [next], &sbuf, NULL) != 0
                    ||  zmqx_send_routed (router, id, id_len, sbuf.data, sbuf.size,
                                          ZMQX_FRAME_MAX_DEFAULT, 0) != 0)
                        bench_die ("send task", NULL);
                    msgpack_sbuffer_destroy (&sbuf);
                    if (!t0)
                        t0 = clock_mono_ms ();
                    p->sent = hb.seq + 1;
                    next++;
                }
            }
            if (rc == 0)
                proto_heartbeat_free (&hb);
        }
        if (clock_mono_ms () - last_poll >= 20) {
            last_poll = clock_mono_ms ();
            if (!t_stored && bench_int (db, "SELECT count(*) FROM miner_tasks WHERE status IN "
                                        "('stored', 'uploaded')") == zipcodes)
                t_stored = clock_mono_ms ();
            if (t_stored && bench_int (db, "SELECT count(*) FROM miner_tasks WHERE status = "
                                       "'uploaded'") == zipcodes)
                t_uploaded = clock_mono_ms ();
            if (bench_int (db, "SELECT count(*) FROM miner_tasks WHERE status = 'failed'") > 0)
                bench_die ("a task failed (see the scraper logs)", NULL);
        }
    }
    for (int i = s_nprocs - 1; i >= 0; i--)
        s_stop (&s_procs [i]);
    zsock_destroy (&router);

    int64_t stored = bench_int (db, "SELECT count(*) FROM miner_listings");
    int64_t batches = bench_int (db, "SELECT count(*) FROM miner_batches");
    //  latency: the completing commit -> S3 accepted (ledger), per zipcode
    db_result_t *res = NULL;
    if (db_exec (db, "SELECT extract(epoch FROM u.uploaded_at - b.done) * 1000, "
                     "extract(epoch FROM b.done - b.first) * 1000 "
                     "FROM miner_uploads u JOIN (SELECT epoch_id, zipcode, max(committed_at) done, "
                     "min(committed_at) first FROM miner_batches GROUP BY epoch_id, zipcode) b "
                     "USING (epoch_id, zipcode) WHERE u.state = 'uploaded'", 0, NULL, &res) != 0)
        bench_die ("latency query", db);
    size_t nl = (size_t) db_result_rows (res);
    double *lat = calloc (nl + 1, sizeof *lat), *span = calloc (nl + 1, sizeof *span);
    for (size_t i = 0; i < nl; i++) {
        lat [i] = atof (db_result_get (res, (int) i, 0));
        span [i] = atof (db_result_get (res, (int) i, 1));
    }
    db_result_destroy (&res);
    qsort (lat, nl, sizeof *lat, s_cmp_double);
    qsort (span, nl, sizeof *span, s_cmp_double);

    //  raw COPY of the same rows (text, then binary) into miner_listings under a second epoch
    bench_exec (db, "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
                "submission_deadline, target_listings, tolerance_percent, assignment) "
                "SELECT e, nonce, epoch_start, epoch_end, submission_deadline, target_listings, "
                "tolerance_percent, assignment FROM miner_epochs, (VALUES ('2026-11-25T16-00-00'), "
                "('2026-11-25T20-00-00')) v (e) WHERE epoch_id = '" EPOCH "'", 0, NULL);
    bench_exec (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, status) "
                "SELECT e, zipcode, expected_listings, 'pending' FROM miner_tasks, "
                "(VALUES ('2026-11-25T16-00-00'), ('2026-11-25T20-00-00')) v (e) "
                "WHERE epoch_id = '" EPOCH "'", 0, NULL);
    if (db_exec (db, "SELECT zipcode, listing_id, doc::text FROM miner_listings "
                     "WHERE epoch_id = '" EPOCH "'", 0, NULL, &res) != 0)
        bench_die ("rows", db);
    int rows = db_result_rows (res);
    double rate [2] = { 0, 0 };
    for (int binary = 0; binary < 2; binary++) {
        const char *epoch = binary ? "2026-11-25T20-00-00" : "2026-11-25T16-00-00";
        int64_t c0 = clock_mono_ms ();
        if (db_begin (db) != 0
        ||  db_copy_begin (db, binary ? "COPY miner_listings (epoch_id, zipcode, listing_id, doc) "
                                        "FROM STDIN (FORMAT binary)"
                                      : "COPY miner_listings (epoch_id, zipcode, listing_id, doc) "
                                        "FROM STDIN", binary) != 0)
            bench_die ("copy begin", db);
        char *jb = NULL;
        size_t jb_cap = 0;
        for (int i = 0; i < rows; i++) {
            const char *doc = db_result_get (res, i, 2);
            size_t dlen = db_result_length (res, i, 2);
            if (dlen + 1 > jb_cap) {
                jb_cap = 2 * (dlen + 1);
                jb = realloc (jb, jb_cap);
                if (!jb)
                    abort ();
            }
            jb [0] = 1;             //  jsonb binary format version
            memcpy (jb + 1, doc, dlen);
            const char *row [4] = { epoch, db_result_get (res, i, 0), db_result_get (res, i, 1),
                                    binary ? jb : doc };
            size_t lens [4] = { strlen (epoch), 5, db_result_length (res, i, 1), dlen + 1 };
            if (db_copy_row (db, 4, row, binary ? lens : NULL) != 0)
                bench_die ("copy row", db);
        }
        free (jb);
        int64_t copied = 0;
        if (db_copy_end (db, &copied) != 0 || db_commit (db) != 0)
            bench_die ("copy end", db);
        int64_t ms = clock_mono_ms () - c0;
        rate [binary] = (double) copied * 1000.0 / (double) (ms ? ms : 1);
    }
    db_result_destroy (&res);

    double secs = (double) (t_stored - t0) / 1000.0;
    printf ("bench_miner: %d zipcodes, %lld listings expected, %d scrapers (batch 100)\n",
            zipcodes, (long long) expected, scrapers);
    printf ("  (a) scraper -> storage  %lld listings in %lld batches, %.1f s: %.0f listings/s\n",
            (long long) stored, (long long) batches, secs, (double) stored / (secs > 0 ? secs : 1));
    printf ("      raw COPY, same rows, same database: text %.0f rows/s, binary %.0f rows/s "
            "(scraper path / binary = %.2f)\n", rate [0], rate [1],
            (double) stored / (secs > 0 ? secs : 1) / (rate [1] > 0 ? rate [1] : 1));
    printf ("      all uploaded %.1f s after the first task\n", (double) (t_uploaded - t0) / 1000.0);
    printf ("  (b) completing commit -> object in S3, %zu zipcodes: p50 %.0f ms, p90 %.0f ms, "
            "p99 %.0f ms, max %.0f ms\n", nl, s_pct (lat, nl, 0.50), s_pct (lat, nl, 0.90),
            s_pct (lat, nl, 0.99), nl ? lat [nl - 1] : 0);
    printf ("      first batch -> completing commit per zipcode: p50 %.0f ms, p99 %.0f ms\n",
            s_pct (span, nl, 0.50), s_pct (span, nl, 0.99));
    printf ("  peak RSS / CPU:");
    for (int i = 0; i < s_nprocs; i++)
        printf ("%s %s %ld kB %.1f s", i ? "," : "", s_procs [i].name, s_procs [i].rss_kb,
                s_procs [i].cpu_s);
    printf ("\n");
    int ok = stored == expected && nl == (size_t) zipcodes;
    if (!ok)
        fprintf (stderr, "bench_miner: stored %lld of %lld listings, %zu of %d uploaded\n",
                 (long long) stored, (long long) expected, nl, zipcodes);
    free (lat);
    free (span);
    free (tasks);
    for (int i = 0; i < s_nprocs; i++)
        free ((char *) s_procs [i].name);
    s_nprocs = 0;
    wallet_destroy (&hot);
    wallet_destroy (&cold);
    db_destroy (&db);
    free (mydsn);
    return ok ? 0 : 1;
}
