/*  tier3 under a real supervisor keeps heartbeating while a slow property source holds each
    lookup for longer than the kill threshold, then judges correctly; a drain gives up
    between lookups rather than outlast the shutdown budget.

    The property source is this test: a small HTTP server on a thread (127.0.0.1, port 0)
    answering GET /property/{zpid} with the listing's own document (so every sampled listing
    is verified) after holding each answer 1.5 s. zipmined runs one tier3 (heartbeat.ms 300,
    heartbeat.misses 3: silent for 900 ms means SIGKILL; tier3.timeout.ms 3000, 1 attempt).
    A submission of 30 listings is sampled 3 times, so its check takes 4.5 s; for 3.6 s
    from the first lookup the test checks that tier3 is the process first spawned, alive,
    never reported child_heartbeat_lost, that its heartbeat counter (as the supervisor
    serves it from the last beat) grows by at least 5, that it holds the submission in hand
    (zipmine_tier_queued_submissions 1) and that nothing is stored yet. Then the verdict
    arrives: pass with sampled = checked = verified = 3, three lookups made and cached, and
    every metric equal bit for bit to tier3_check run in-process on the cache (no lookup).

    Drain: a second submission's first lookup is in flight when zipmined gets SIGTERM. With
    shutdown.budget.ms 4000 another 3 s lookup cannot fit, so tier3 finishes the lookup in
    flight, gives up (tier3_check_abandoned, nothing stored for the submission), and tier3
    and zipmined exit 0 inside the budget.                                                   */
#include "tests/integration/test_tier_hb_lib.h"
#include "workers/tier3/tier3.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#define ZIP "59101"
#define N 30
#define DELAY_MS 1500

typedef struct {
    int fd, port;
    json_t *docs;               //  zpid -> document; read-only while the thread runs
    atomic_int requests;
    atomic_bool stop;
    pthread_t thread;
} s_source_t;

static void
s_answer (s_source_t *src, int c)
{
    char req [4096];
    req [0] = 0;
    size_t len = 0;
    int64_t end = clock_mono_ms () + 2000;
    while (len < sizeof req - 1 && !strstr (req, "\r\n\r\n") && clock_mono_ms () < end) {
        struct pollfd p = { .fd = c, .events = POLLIN };
        if (poll (&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv (c, req + len, sizeof req - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t) r;
        req [len] = 0;
    }
    atomic_fetch_add (&src->requests, 1);
    for (int i = 0; i < DELAY_MS / 50 && !atomic_load (&src->stop); i++)
        usleep (50 * 1000);
    char zpid [32] = "";
    if (sscanf (req, "GET /property/%31[0-9] ", zpid) != 1)
        zpid [0] = 0;
    json_t *doc = json_object_get (src->docs, zpid);
    char *body = doc ? json_dumps (doc, JSON_COMPACT) : strdup ("{\"error\":\"not found\"}");
    char head [256];
    snprintf (head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
              doc ? "200 OK" : "404 Not Found", strlen (body));
    if (send (c, head, strlen (head), MSG_NOSIGNAL) > 0)
        send (c, body, strlen (body), MSG_NOSIGNAL);
    free (body);
}

static void *
s_serve (void *arg)
{
    s_source_t *src = arg;
    while (!atomic_load (&src->stop)) {
        struct pollfd p = { .fd = src->fd, .events = POLLIN };
        if (poll (&p, 1, 100) <= 0)
            continue;
        int c = accept (src->fd, NULL, NULL);
        if (c < 0)
            continue;
        s_answer (src, c);
        close (c);
    }
    return NULL;
}

static void
s_source_start (s_source_t *src)
{
    src->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK (src->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    CHECK (bind (src->fd, (struct sockaddr *) &a, sizeof a) == 0);
    CHECK (listen (src->fd, 16) == 0);
    socklen_t alen = sizeof a;
    CHECK (getsockname (src->fd, (struct sockaddr *) &a, &alen) == 0);
    src->port = ntohs (a.sin_port);
    CHECK (pthread_create (&src->thread, NULL, s_serve, src) == 0);
}

static double
s_metric (const proto_tier_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (strcmp (r->metrics [i].name, name) == 0)
            return r->metrics [i].value;
    return -1;
}

static json_t *
s_listings (json_t *docs, int base)
{
    json_t *a = json_array ();
    for (int i = 0; i < N; i++) {
        char zpid [24];
        snprintf (zpid, sizeof zpid, "%d", base + i);
        json_t *l = json_pack ("{s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:s, s:s}",
            "zpid", zpid, "zipcode", ZIP, "price", 300000 + 1000 * i, "bedrooms", 3,
            "bathrooms", 2, "sqft", 1600 + i, "property_type", "house",
            "listing_status", "for_sale", "scraped_timestamp", "2026-11-25T15:00:00Z");
        json_object_set (docs, zpid, l);
        json_array_append_new (a, l);
    }
    return a;
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    db_t *db = th_setup ("tier3hb");
    tt_epoch (db, TT_EPOCH, ZIP, N);
    s_source_t src = { .docs = json_object () };
    json_t *l1 = s_listings (src.docs, 10000), *l2 = s_listings (src.docs, 20000);
    const char *lm = "2026-11-25T15:00:00.000Z";
    int64_t id1 = tt_submission (db, TT_EPOCH, "hkone", ZIP, lm, l1);
    int64_t id2 = tt_submission (db, TT_EPOCH, "hktwo", ZIP, lm, l2);
    json_decref (l1);
    json_decref (l2);
    s_source_start (&src);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d", src.port);

    zsock_t *in = th_socket (ZMQ_PUSH, '@', "tier3");
    zsock_t *co = th_socket (ZMQ_PULL, '@', "consensus");
    const char *extra [] = { "--tier3.pool", "1", "--tier3.source.url", url,
                             "--tier3.timeout.ms", "3000", "--tier3.attempts", "1", NULL };
    pid_t tier3 = th_start ("tier3", "4000", extra);

    //  one submission: three lookups of 1.5 s each
    tt_send_ready (in, id1);
    int64_t end = clock_mono_ms () + 15000;
    while (atomic_load (&src.requests) < 1 && clock_mono_ms () < end)
        usleep (20 * 1000);
    CHECK (atomic_load (&src.requests) >= 1);
    int64_t t0 = clock_mono_ms ();
    usleep (400 * 1000);                //  a beat carries the busy state
    double hb0 = th_beats ("tier3");
    CHECK (hb0 >= 0);
    double queued = th_metric ("zipmine_tier_queued_submissions", "worker=\"tier3\"", NULL);
    while (clock_mono_ms () - t0 < 3600) {
        usleep (250 * 1000);
        CHECK (kill (tier3, 0) == 0);
    }
    double hb1 = th_beats ("tier3");
    int during = atomic_load (&src.requests);
    printf ("3600 ms into a 4500 ms check: heartbeats %.0f -> %.0f, queued %.0f, lookups %d\n",
            hb0, hb1, queued, during);
    CHECK (hb1 - hb0 >= 5);
    CHECK (queued == 1);
    CHECK (during >= 2 && during <= 3);
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM validator_tier_results"), 0);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_heartbeat_lost\"", NULL), 0);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_spawn\"", NULL), 1);

    proto_tier_result_t r;
    memset (&r, 0, sizeof r);
    bool got = false;
    for (end = clock_mono_ms () + 15000; !got && clock_mono_ms () < end;)
        got = tt_recv_result (co, &r, 0) == 0;
    CHECK (got);
    printf ("tier_result: verdict %s, reason '%s'\n", proto_verdict_name ((int) r.verdict),
            r.reason);
    CHECK_EQ_INT ((int) r.submission_id, (int) id1);
    CHECK_EQ_INT ((int) r.tier, 3);
    CHECK_EQ_INT ((int) r.verdict, PROTO_VERDICT_PASS);
    CHECK_EQ_INT (atomic_load (&src.requests), 3);
    CHECK_EQ_INT (tl_int (db, "SELECT count (*) FROM validator_spot_checks WHERE outcome = "
                              "'found'"), 3);
    CHECK_EQ_INT (tt_stored (db, id1, 3), 1);
    //  the same judgement in-process, from the cache alone
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    tier3_options_t opts = { .verifier = "http", .source_url = url, .timeout_ms = 3000,
                             .attempts = 1, .rate_per_minute = 600 };
    tier3_t *t3 = tier3_new (&opts, &scoring);
    CHECK (t3);
    tt_same_as_check (db, id1, tier3_check, t3, &r);
    tier3_destroy (&t3);
    CHECK_EQ_INT (atomic_load (&src.requests), 3);
    CHECK (s_metric (&r, "sampled") == 3
        && s_metric (&r, "checked") == 3
        && s_metric (&r, "verified") == 3);
    printf ("judged: pass 3 of 3, metrics equal the in-process check, same tier3 pid %d\n",
            (int) tier3);

    //  drain during a lookup: the next one would outlast the budget, so tier3 gives up
    tt_send_ready (in, id2);
    end = clock_mono_ms () + 15000;
    while (atomic_load (&src.requests) < 4 && clock_mono_ms () < end)
        usleep (20 * 1000);
    CHECK_EQ_INT (atomic_load (&src.requests), 4);
    int64_t term = clock_mono_ms ();
    CHECK (kill (th_sup, SIGTERM) == 0);
    CHECK_EQ_INT (th_wait_sup (15000), 0);
    int64_t took = clock_mono_ms () - term;
    printf ("drained in %lld ms (budget 4000): lookups %d\n", (long long) took,
            atomic_load (&src.requests));
    CHECK (took < 5000);            //  the worker's side: exit 0, no drain_timeout (below)
    CHECK_EQ_INT (atomic_load (&src.requests), 4);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"tier3_check_abandoned\"", NULL), 1);
    CHECK_EQ_INT (tl_log_count (th_log, "\"exit\":\"exit 0 (clean)\"", NULL), 1);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"drain_timeout\"", NULL), 0);
    CHECK_EQ_INT (tt_stored (db, id2, 3), -2);
    CHECK_EQ_INT (tl_log_count (th_log, "\"event\":\"child_heartbeat_lost\"", NULL), 0);

    atomic_store (&src.stop, true);
    pthread_join (src.thread, NULL);
    close (src.fd);
    json_decref (src.docs);
    zsock_destroy (&in);
    zsock_destroy (&co);
    db_destroy (&db);
    TEST_DONE ();
}
