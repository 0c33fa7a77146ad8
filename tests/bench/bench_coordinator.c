/*  bench_coordinator: signed assignment requests per second and latency percentiles against
    the real coordinator worker, with C concurrent clients (default 200), next to the same
    load on /healthcheck (no signature, one SELECT 1): the raw limit of the HTTP + database
    path on this machine, measured in the same run.

        . env.sh (tests/services start DIR)     then
        build/bin/bench_coordinator [REQUESTS [CLIENTS]]       defaults 20000 200

    Every signed request is unique (hotkey, timestamp, signature), so each one really goes
    through verification, the replay insert and the rate limiter (set high for the run).    */
#include "common/db.h"
#include "common/wallet.h"

#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOTKEYS 200

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static size_t
s_discard (char *p, size_t size, size_t n, void *arg)
{
    (void) p;
    (void) arg;
    return size * n;
}

//  Runs urls through `clients` concurrent connections; fills lat (seconds) and returns the
//  number of non-200 answers.
static int
s_load (char **urls, int count, int clients, double *lat, double *wall)
{
    CURLM *multi = curl_multi_init ();
    CURL **easy = calloc ((size_t) clients, sizeof (CURL *));
    double *started = calloc ((size_t) clients, sizeof (double));
    int *which = calloc ((size_t) clients, sizeof (int));
    int next = 0, done = 0, bad = 0;
    double t0 = s_now ();
    for (int c = 0; c < clients && next < count; c++) {
        easy [c] = curl_easy_init ();
        curl_easy_setopt (easy [c], CURLOPT_WRITEFUNCTION, s_discard);
        curl_easy_setopt (easy [c], CURLOPT_PRIVATE, (char *) (intptr_t) c);
        curl_easy_setopt (easy [c], CURLOPT_URL, urls [next]);
        which [c] = next++;
        started [c] = s_now ();
        curl_multi_add_handle (multi, easy [c]);
    }
    while (done < count) {
        int running;
        curl_multi_perform (multi, &running);
        curl_multi_poll (multi, NULL, 0, 100, NULL);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read (multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, &priv);
            int c = (int) (intptr_t) priv;
            long code = 0;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            lat [which [c]] = s_now () - started [c];
            bad += code != 200;
            done++;
            curl_multi_remove_handle (multi, msg->easy_handle);
            if (next < count) {
                curl_easy_setopt (msg->easy_handle, CURLOPT_URL, urls [next]);
                which [c] = next++;
                started [c] = s_now ();
                curl_multi_add_handle (multi, msg->easy_handle);
            }
        }
    }
    *wall = s_now () - t0;
    for (int c = 0; c < clients; c++)
        if (easy [c])
            curl_easy_cleanup (easy [c]);
    curl_multi_cleanup (multi);
    free (easy);
    free (started);
    free (which);
    return bad;
}

static void
s_report (const char *name, double *lat, int count, double wall, int bad)
{
    qsort (lat, (size_t) count, sizeof *lat, s_cmp);
    printf ("%-28s %7d req  %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  max %7.2f ms  non-200 %d\n",
            name, count, count / wall, lat [count / 2] * 1e3, lat [count * 99 / 100] * 1e3,
            lat [count - 1] * 1e3, bad);
}

int
main (int argc, char **argv)
{
    int count = argc > 1 ? atoi (argv [1]) : 20000;
    int clients = argc > 2 ? atoi (argv [2]) : 200;
    const char *dsn = getenv ("ZM_TEST_PG_DSN");
    const char *build = getenv ("ZM_BUILD_DIR");
    if (!dsn || count < 1 || clients < 1) {
        fprintf (stderr, "usage: ZM_TEST_PG_DSN=… [ZM_BUILD_DIR=build] bench_coordinator [REQUESTS [CLIENTS]]\n");
        return 2;
    }
    if (!build)
        build = "build";
    char err [256];
    db_t *admin = db_new (dsn, "bench", 5, 60000, err, sizeof err);
    char dbname [64], sql [128], *mydsn;
    snprintf (dbname, sizeof dbname, "zmbench_coord_%d", (int) getpid ());
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", dbname);
    if (!admin || db_exec (admin, sql, 0, NULL, NULL) != 0) {
        fprintf (stderr, "cannot create the database\n");
        return 1;
    }
    if (asprintf (&mydsn, "%s dbname=%s", dsn, dbname) < 0)
        abort ();

    //  200 hotkeys in the metagraph
    wallet_t *keys [HOTKEYS];
    char metagraph [] = "/tmp/zm_bench_metagraph_XXXXXX";
    int fd = mkstemp (metagraph);
    dprintf (fd, "{\"hotkeys\":[");
    for (int i = 0; i < HOTKEYS; i++) {
        char name [32];
        snprintf (name, sizeof name, "bench-%d", i);
        keys [i] = wallet_new_dev (name);
        dprintf (fd, "%s{\"hotkey\":\"%s\",\"role\":\"miner\"}", i ? "," : "", wallet_ss58 (keys [i]));
    }
    dprintf (fd, "]}");
    close (fd);

    int out [2];
    if (pipe (out) != 0)
        return 1;
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (out [1], 1);
        setenv ("ZM_DB_DSN", mydsn, 1);
        setenv ("ZM_COORDINATOR_METAGRAPH", metagraph, 1);
        setenv ("ZM_COORDINATOR_PORT", "0", 1);
        setenv ("ZM_COORDINATOR_RATE_ASSIGNMENTS", "100000", 1);
        setenv ("ZM_LOG_LEVEL", "warn", 1);
        char bin [512];
        snprintf (bin, sizeof bin, "%s/bin/coordinator", build);
        execl (bin, bin, "--log.level", "info", (char *) NULL);
        _exit (127);
    }
    close (out [1]);
    FILE *log = fdopen (out [0], "r");
    char line [4096];
    int port = 0;
    bool ready = false;
    while ((!port || !ready) && fgets (line, sizeof line, log)) {
        char *p = strstr (line, "coordinator_listening");
        if (p && (p = strstr (line, "\"port\":")))
            port = atoi (p + 7);
        ready = ready || strstr (line, "\"worker_ready\"");
    }
    if (!port) {
        fprintf (stderr, "coordinator did not start\n");
        return 1;
    }
    if (fork () == 0) {         //  keep its stdout drained
        while (fgets (line, sizeof line, log))
            ;
        _exit (0);
    }

    //  unique signed URLs: hotkey i, timestamp now - (n / HOTKEYS)
    double t0 = s_now ();
    char **signed_urls = calloc ((size_t) count, sizeof (char *));
    char **plain = calloc ((size_t) count, sizeof (char *));
    int64_t now = (int64_t) time (NULL);
    for (int n = 0; n < count; n++) {
        wallet_t *w = keys [n % HOTKEYS];
        int64_t ts = now - (n / HOTKEYS) % 290;
        char commitment [96], hex [129];
        uint8_t sig [64];
        snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) ts);
        wallet_sign (w, (const uint8_t *) commitment, strlen (commitment), sig);
        sodium_bin2hex (hex, sizeof hex, sig, sizeof sig);
        if (asprintf (&signed_urls [n], "http://127.0.0.1:%d/api/v1/zipcode-assignments/current"
                      "?hotkey=%s&signature=%s&timestamp=%lld", port, wallet_ss58 (w), hex,
                      (long long) ts) < 0
        ||  asprintf (&plain [n], "http://127.0.0.1:%d/healthcheck", port) < 0)
            abort ();
    }
    printf ("signed %d requests in %.2f s (%.0f signatures/s)\n", count, s_now () - t0,
            count / (s_now () - t0));

    double *lat = calloc ((size_t) count, sizeof (double));
    double wall;
    int bad = s_load (plain, count, clients, lat, &wall);
    s_report ("healthcheck (raw path)", lat, count, wall, bad);
    bad = s_load (signed_urls, count, clients, lat, &wall);
    s_report ("signed assignments", lat, count, wall, bad);

    char status_path [64];
    snprintf (status_path, sizeof status_path, "/proc/%d/status", (int) pid);
    FILE *st = fopen (status_path, "r");
    while (st && fgets (line, sizeof line, st))
        if (strncmp (line, "VmHWM", 5) == 0)
            printf ("coordinator peak RSS: %s", line + 6);
    if (st)
        fclose (st);
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("load client peak RSS: %ld kB\n", ru.ru_maxrss);

    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
    snprintf (sql, sizeof sql, "DROP DATABASE %s", dbname);
    db_exec (admin, sql, 0, NULL, NULL);
    db_destroy (&admin);
    for (int n = 0; n < count; n++) {
        free (signed_urls [n]);
        free (plain [n]);
    }
    for (int i = 0; i < HOTKEYS; i++)
        wallet_destroy (&keys [i]);
    free (signed_urls);
    free (plain);
    free (lat);
    free (mydsn);
    unlink (metagraph);
    return 0;
}
