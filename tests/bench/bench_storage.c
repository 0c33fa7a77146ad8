/*  bench_storage: listings/s through the storage worker, next to a raw COPY of the same rows
    in the same run and the same database.

      storage    the real `storage` binary (from beside this one), fed over its ipc:// PULL
                 socket: N listings in batches of B per zipcode (seq 0.., the last final),
                 timed from the first send until every zipcode is marked 'stored'. Includes
                 msgpack decode, intake validation (JSON parse + schema) of every listing,
                 COPY into the temp table, INSERT … ON CONFLICT, bookkeeping rows, the
                 completion check and the digest of each zipcode.
      raw-copy   the same (listing_id, doc) rows with the db COPY helper straight into
                 miner_listings (another epoch), one COPY, one transaction: the floor.
      raw-binary the same rows again (a third epoch) with COPY ... FROM STDIN (FORMAT binary)
                 (doc sent as jsonb's binary form: version byte 1, then the text).
    Also prints the storage process's peak RSS (VmHWM) and its CPU time.

    Usage: bench_storage [listings] [batch]   (defaults 100000, 500; needs ZM_TEST_PG_DSN;
    creates and drops zmbench_storage_<pid>).                                               */
#include "common/clock.h"
#include "common/db.h"
#include "common/rc.h"
#include "common/zmqx.h"
#include "proto/listing_batch.h"
#include "tests/bench/bench_lib.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZIPCODES 20
#define E1 "2026-11-25T12-00-00"
#define E2 "2026-11-25T16-00-00"
#define E3 "2026-11-25T20-00-00"

static void
s_zip (int z, char *out)
{
    snprintf (out, 6, "%05u", 77000u + (unsigned) z % 1000u);
}

static void
s_doc (size_t i, const char *zip, char *doc, size_t size)
{
    snprintf (doc, size,
              "{\"zpid\":%zu,\"mls_id\":\"ZM%zu\",\"address\":\"%zu Main St, Katy, TX %s\","
              "\"price\":%zu,\"bedrooms\":%zu,\"bathrooms\":%zu.5,\"sqft\":%zu,"
              "\"listing_date\":\"2026-10-03\",\"property_type\":\"SINGLE_FAMILY\","
              "\"listing_status\":\"FOR_SALE\",\"days_on_market\":%zu,"
              "\"source_url\":\"http://127.0.0.1:8090/property/%zu\","
              "\"scraped_timestamp\":\"2026-11-25T14:03:00Z\",\"zipcode\":\"%s\"}",
              10000 + i, 10000 + i, i % 9000 + 1, zip, 100000 + (i * 7919) % 900000, i % 6,
              i % 4, 800 + i % 3000, i % 90, 10000 + i, zip);
}

int
main (int argc, char **argv)
{
    size_t total = argc > 1 ? (size_t) atol (argv [1]) : 100000;
    size_t per_batch = argc > 2 ? (size_t) atol (argv [2]) : 500;
    if (per_batch < 1 || per_batch > PROTO_BATCH_LISTINGS_MAX || total < ZIPCODES)
        bench_die ("bad arguments", NULL);
    const char *dsn = getenv ("ZM_TEST_PG_DSN");
    if (!dsn)
        bench_die ("ZM_TEST_PG_DSN is not set", NULL);
    char err [256], sql [200], *mydsn, dbname [64];
    db_t *admin = db_new (dsn, "bench", 5, 600000, err, sizeof err);
    snprintf (dbname, sizeof dbname, "zmbench_storage_%d", (int) getpid ());
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", dbname);
    bench_exec (admin, sql, 0, NULL);
    if (asprintf (&mydsn, "%s dbname=%s", dsn, dbname) < 0)
        abort ();
    db_t *db = db_new (mydsn, "bench", 5, 600000, err, sizeof err);
    if (db_migrate (db) != 0)
        bench_die ("migrate", db);
    const char *epochs [3] = { E1, E2, E3 };
    for (int e = 0; e < 3; e++) {
        bench_exec (db, "INSERT INTO miner_epochs (epoch_id, nonce, epoch_start, epoch_end, "
                    "submission_deadline, target_listings, tolerance_percent, assignment) VALUES "
                    "($1, '0', now(), now(), now(), 0, 10, '{}')", DB_P (epochs [e]));
        for (int z = 0; z < ZIPCODES; z++) {
            char zip [6];
            s_zip (z, zip);
            bench_exec (db, "INSERT INTO miner_tasks (epoch_id, zipcode, expected_listings, status, "
                        "lease_id, lease_deadline) VALUES ($1, $2, 0, 'leased', '1', now())",
                    DB_P (epochs [e], zip));
        }
    }

    //  the rows, and the batches (encoded before timing)
    size_t per_zip = total / ZIPCODES;
    total = per_zip * ZIPCODES;
    char **docs = calloc (total, sizeof *docs);
    char (*ids) [24] = calloc (total, 24);
    for (size_t i = 0; i < total; i++) {
        char zip [6], doc [1024];
        s_zip ((int) (i / per_zip), zip);
        s_doc (i, zip, doc, sizeof doc);
        docs [i] = strdup (doc);
        snprintf (ids [i], 24, "%zu", 10000 + i);
    }
    size_t nbatches = 0, cap = total / per_batch + ZIPCODES + 1;
    msgpack_sbuffer *frames = calloc (cap, sizeof *frames);
    size_t bytes = 0;
    for (int z = 0; z < ZIPCODES; z++) {
        size_t first = (size_t) z * per_zip;
        uint32_t seq = 0;
        for (size_t off = 0; off < per_zip; off += per_batch, seq++) {
            size_t n = per_zip - off < per_batch ? per_zip - off : per_batch;
            proto_listing_batch_t b = { .lease_id = 1, .seq = seq, .final = off + n >= per_zip,
                                        .nlistings = n };
            snprintf (b.epoch, sizeof b.epoch, "%s", E1);
            s_zip (z, b.zipcode);
            proto_listing_t *items = calloc (n, sizeof *items);
            for (size_t k = 0; k < n; k++) {
                items [k].json = docs [first + off + k];
                items [k].len = (uint32_t) strlen (items [k].json);
            }
            b.listings = items;
            msgpack_sbuffer_init (&frames [nbatches]);
            if (proto_listing_batch_encode (&b, &frames [nbatches], NULL) != 0)
                bench_die ("encode", NULL);
            bytes += frames [nbatches].size;
            nbatches++;
            free (items);
        }
    }

    //  storage binary beside this one
    char self [PATH_MAX], bin [PATH_MAX + 16];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        bench_die ("readlink", NULL);
    self [n] = 0;
    snprintf (bin, sizeof bin, "%s/storage", dirname (self));
    char run_dir [] = "/tmp/zm_bench_storage_XXXXXX";
    if (!mkdtemp (run_dir))
        bench_die ("mkdtemp", NULL);
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        if (!freopen ("/dev/null", "w", stdout))
            _exit (127);
        setenv ("ZM_DB_DSN", mydsn, 1);
        setenv ("ZM_RUN_DIR", run_dir, 1);
        setenv ("ZM_NODE_NAME", "bench", 1);
        setenv ("ZM_LOG_LEVEL", "error", 1);
        execl (bin, bin, (char *) NULL);
        _exit (127);
    }
    char endpoint [512];
    snprintf (endpoint, sizeof endpoint, ">ipc://%s/bench/storage.ipc", run_dir);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.sndtimeo_ms = 30000;
    zsock_t *push = zmqx_new (ZMQ_PUSH, endpoint, &opts);
    //  wait for storage to be up (it migrates nothing new: the schema is there)
    for (int i = 0; i < 200 && bench_int (db, "SELECT count(*) FROM pg_stat_activity WHERE "
                                          "application_name = 'zipmine-storage' AND "
                                          "datname = current_database()") == 0; i++)
        usleep (50 * 1000);

    int64_t t0 = clock_mono_ms ();
    for (size_t i = 0; i < nbatches; i++)
        if (zmqx_send (push, frames [i].data, frames [i].size, ZMQX_FRAME_MAX_DEFAULT, 0) != 0)
            bench_die ("send", NULL);
    while (bench_int (db, "SELECT count(*) FROM miner_tasks WHERE epoch_id = '" E1 "' AND "
                      "status = 'stored'") < ZIPCODES) {
        if (clock_mono_ms () - t0 > 600000)
            bench_die ("storage did not finish in 10 min", NULL);
        usleep (2000);
    }
    int64_t t_storage = clock_mono_ms () - t0;
    int64_t stored = bench_int (db, "SELECT count(*) FROM miner_listings WHERE epoch_id = '" E1 "'");
    long rss_kb = bench_status_kb (pid, "VmHWM");
    double cpu_s = bench_cpu_s (pid);
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
    zsock_destroy (&push);

    //  raw COPY of the same rows
    t0 = clock_mono_ms ();
    if (db_begin (db) != 0
    ||  db_copy_begin (db, "COPY miner_listings (epoch_id, zipcode, listing_id, doc) FROM STDIN",
                       false) != 0)
        bench_die ("copy begin", db);
    for (size_t i = 0; i < total; i++) {
        char zip [6];
        s_zip ((int) (i / per_zip), zip);
        const char *row [4] = { E2, zip, ids [i], docs [i] };
        if (db_copy_row (db, 4, row, NULL) != 0)
            bench_die ("copy row", db);
    }
    int64_t copied = 0;
    if (db_copy_end (db, &copied) != 0 || db_commit (db) != 0)
        bench_die ("copy end", db);
    int64_t t_copy = clock_mono_ms () - t0;

    //  raw binary COPY of the same rows
    t0 = clock_mono_ms ();
    if (db_begin (db) != 0
    ||  db_copy_begin (db, "COPY miner_listings (epoch_id, zipcode, listing_id, doc) FROM STDIN "
                           "(FORMAT binary)", true) != 0)
        bench_die ("binary copy begin", db);
    char *jb = NULL;
    size_t jb_cap = 0;
    for (size_t i = 0; i < total; i++) {
        char zip [6];
        s_zip ((int) (i / per_zip), zip);
        size_t dlen = strlen (docs [i]);
        if (dlen + 1 > jb_cap) {
            jb_cap = 2 * (dlen + 1);
            jb = realloc (jb, jb_cap);
            if (!jb)
                abort ();
        }
        jb [0] = 1;                 //  jsonb binary format version
        memcpy (jb + 1, docs [i], dlen);
        const char *row [4] = { E3, zip, ids [i], jb };
        size_t lens [4] = { strlen (E3), 5, strlen (ids [i]), dlen + 1 };
        if (db_copy_row (db, 4, row, lens) != 0)
            bench_die ("binary copy row", db);
    }
    free (jb);
    int64_t bcopied = 0;
    if (db_copy_end (db, &bcopied) != 0 || db_commit (db) != 0)
        bench_die ("binary copy end", db);
    int64_t t_bcopy = clock_mono_ms () - t0;

    double r_storage = (double) stored * 1000.0 / (double) (t_storage ? t_storage : 1);
    double r_copy = (double) copied * 1000.0 / (double) (t_copy ? t_copy : 1);
    double r_bcopy = (double) bcopied * 1000.0 / (double) (t_bcopy ? t_bcopy : 1);
    printf ("bench_storage: %zu listings, %zu per batch, %zu batches, %.1f MiB of frames\n",
            total, per_batch, nbatches, (double) bytes / 1048576.0);
    printf ("  storage     %8lld rows  %6lld ms  %10.0f listings/s  (peak RSS %ld kB, CPU %.1f s)\n",
            (long long) stored, (long long) t_storage, r_storage, rss_kb, cpu_s);
    printf ("  raw-copy    %8lld rows  %6lld ms  %10.0f rows/s  (text format)\n",
            (long long) copied, (long long) t_copy, r_copy);
    printf ("  raw-binary  %8lld rows  %6lld ms  %10.0f rows/s  (FORMAT binary)\n",
            (long long) bcopied, (long long) t_bcopy, r_bcopy);
    printf ("  storage / raw-copy = %.2f, storage / raw-binary = %.2f\n", r_storage / r_copy,
            r_storage / r_bcopy);

    for (size_t i = 0; i < nbatches; i++)
        msgpack_sbuffer_destroy (&frames [i]);
    free (frames);
    for (size_t i = 0; i < total; i++)
        free (docs [i]);
    free (docs);
    free (ids);
    db_destroy (&db);
    snprintf (sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", dbname);
    bench_exec (admin, sql, 0, NULL);
    db_destroy (&admin);
    free (mydsn);
    char rm [128];
    snprintf (rm, sizeof rm, "rm -rf '%s'", run_dir);
    if (system (rm) != 0)
        fprintf (stderr, "bench_storage: could not remove %s\n", run_dir);
    return stored == (int64_t) total && copied == (int64_t) total
        && bcopied == (int64_t) total ? 0 : 1;
}
