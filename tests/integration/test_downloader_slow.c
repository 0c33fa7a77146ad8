/*  The downloader binary keeps heartbeating while objects arrive slowly. S3 is a small HTTP
    server in this test that trickles bodies; the test plays the supervisor's ROUTER
    (heartbeat.ms 400: the supervisor would kill after 3 silent periods, 1.2 s) and tier 1
    and consensus (PULL over ipc). With downloader.fetch.parallel 3 and mode all:
      A  a valid submission trickled over ~4 s (longer than 3 heartbeat periods): stored
         and announced to tier 1;
      B  an object listed at 500 bytes, sent without Content-Length and trickled past the
         1024-byte cap over ~2.5 s: rejected "too_large ... while reading", announced to
         consensus as a tier-1 fail;
      C  a valid submission sent at once: stored and announced while A and B are still in
         flight (the slow ones do not hold the queue);
      D  a body that trickles for a minute, handed out when C's fetcher frees: SIGTERM while
         it is in flight ends the worker promptly with 0, the row stays requested and
         'listed'; a restarted downloader (D now served at once) stores it.
    Throughout, no gap between heartbeats reaches 3 periods.                                */
#include "common/clock.h"
#include "common/wallet.h"
#include "common/zmqx.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"
#include "tests/integration/test_storage_lib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define HEARTBEAT_MS 400

static const char *EPOCH = "2026-11-25T12-00-00";
static const char *HOTKEY = "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX";
static pid_t s_child = 0;

static void
s_kill_child (void)
{
    if (s_child > 0)
        kill (s_child, SIGKILL);
}

//  ---------------------------------------------------------------------------------------
//  The trickling S3 server

typedef struct {
    int listener;
    atomic_bool quit;
    atomic_bool d_fast;         //  D served at once (the restart)
    atomic_int d_gets;          //  GETs of D received
    char *body [4];             //  A, B (unused: padding is sent), C, D
    size_t len [4];
} srv_t;

typedef struct {
    srv_t *srv;
    int fd;
} conn_t;

static bool
s_send (int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t) w;
    }
    return true;
}

//  Sends n bytes in chunks of `chunk` every `gap_ms`, until the peer goes or quit is set.
static void
s_trickle (srv_t *srv, int fd, const char *p, size_t n, size_t chunk, int gap_ms)
{
    while (n > 0 && !atomic_load (&srv->quit)) {
        size_t k = n < chunk ? n : chunk;
        if (!s_send (fd, p, k))
            return;
        p += k;
        n -= k;
        usleep ((useconds_t) gap_ms * 1000);
    }
}

static void *
s_conn (void *arg)
{
    conn_t *c = arg;
    srv_t *srv = c->srv;
    char req [8192];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t r = recv (c->fd, req + got, sizeof req - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t) r;
        req [got] = 0;
        if (strstr (req, "\r\n\r\n"))
            break;
    }
    req [got] = 0;
    //  the key is URL-encoded in the path; its zipcode is the only "1000N" in it
    int which = strstr (req, "10001") ? 0 : strstr (req, "10002") ? 1
              : strstr (req, "10003") ? 2 : strstr (req, "10004") ? 3 : -1;
    char head [256];
    if (which == 3)
        atomic_fetch_add (&srv->d_gets, 1);
    if (strncmp (req, "GET ", 4) != 0 || which < 0) {
        const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        s_send (c->fd, nf, strlen (nf));
    }
    else
    if (which == 1) {
        //  no length: the client can only stop at the cap
        const char *h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Connection: close\r\n\r\n";
        if (s_send (c->fd, h, strlen (h))) {
            char pad [4096];
            memset (pad, ' ', sizeof pad);
            s_trickle (srv, c->fd, pad, sizeof pad, 40, 100);
        }
    }
    else {
        snprintf (head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n", srv->len [which]);
        if (s_send (c->fd, head, strlen (head))) {
            if (which == 2 || (which == 3 && atomic_load (&srv->d_fast)))
                s_send (c->fd, srv->body [which], srv->len [which]);
            else
            if (which == 0)
                s_trickle (srv, c->fd, srv->body [0], srv->len [0], srv->len [0] / 40 + 1, 100);
            else
                s_trickle (srv, c->fd, srv->body [3], srv->len [3], 1, 200);
        }
    }
    close (c->fd);
    free (c);
    return NULL;
}

static void *
s_server (void *arg)
{
    srv_t *srv = arg;
    while (!atomic_load (&srv->quit)) {
        struct pollfd p = { .fd = srv->listener, .events = POLLIN };
        if (poll (&p, 1, 100) <= 0)
            continue;
        int fd = accept (srv->listener, NULL, NULL);
        if (fd < 0)
            continue;
        conn_t *c = malloc (sizeof *c);
        CHECK (c);
        c->srv = srv;
        c->fd = fd;
        pthread_t t;
        CHECK (pthread_create (&t, NULL, s_conn, c) == 0);
        pthread_detach (t);
    }
    return NULL;
}

//  ---------------------------------------------------------------------------------------

static char *
s_body (const char *zip, int n)
{
    size_t cap = 512 + (size_t) n * 96;
    char *b = malloc (cap);
    CHECK (b);
    int w = snprintf (b, cap, "{\"epoch_id\":\"%s\",\"zipcode\":\"%s\",\"miner_hotkey\":\"%s\","
                      "\"submission_timestamp\":\"2026-11-25T13:00:00\",\"listing_count\":%d,"
                      "\"listings\":[", EPOCH, zip, HOTKEY, n);
    for (int i = 0; i < n; i++)
        w += snprintf (b + w, cap - (size_t) w, "%s{\"zpid\":%d,\"zipcode\":\"%s\"}",
                       i ? "," : "", i + 1, zip);
    snprintf (b + w, cap - (size_t) w, "]}");
    return b;
}

static int64_t
s_count (db_t *db, const char *sql)
{
    return tdb_int (db, sql, 0, NULL);
}

static pid_t
s_start (const char *dsn, const char *dir, const char *wallets, const char *s3ep,
         const char *sup, const char *logpath)
{
    char t1 [400], co [400], hb [24];
    snprintf (t1, sizeof t1, "ipc://%s/t1.ipc", dir);
    snprintf (co, sizeof co, "ipc://%s/co.ipc", dir);
    snprintf (hb, sizeof hb, "%d", HEARTBEAT_MS);
    const char *env [] = {
        "ZM_DB_DSN", dsn, "ZM_RUN_DIR", dir, "ZM_NODE_NAME", "slow",
        "ZM_WALLET_PATH", wallets, "ZM_WALLET_NAME", "validator", "ZM_WALLET_HOTKEY", "default",
        "ZM_S3_ENDPOINT", s3ep, "ZM_S3_BUCKET", "zipmine", "ZM_S3_ACCESS_KEY", "k",
        "ZM_S3_SECRET_KEY", "s", "ZM_S3_TIMEOUT_MS", "60000",
        "ZM_COORDINATOR_URL", "http://127.0.0.1:1", "ZM_DOWNLOADER_MODE", "all",
        "ZM_DOWNLOADER_EPOCH", EPOCH, "ZM_DOWNLOADER_GRACE_MS", "0",
        "ZM_DOWNLOADER_OBJECT_MAX", "1024", "ZM_DOWNLOADER_FETCH_PARALLEL", "3",
        "ZM_DOWNLOADER_TIER1_ENDPOINT", t1, "ZM_DOWNLOADER_CONSENSUS_ENDPOINT", co,
        "ZM_HEARTBEAT_MS", hb, "ZM_SHUTDOWN_BUDGET_MS", "3000", "ZM_SUP_ENDPOINT", sup,
        "ZM_WORKER_NAME", "downloader", "ZM_WORKER_INDEX", "0", NULL
    };
    s_child = t_spawn ("downloader", logpath, env, NULL);
    return s_child;
}

typedef struct {
    int64_t first_beat, last_beat, max_gap;
    int beats;
    int64_t t1_at [5];          //  by submission: when announced to tier 1 (0 = not yet)
    int64_t co_at [5];          //  to consensus
} watch_t;

//  Serves the ROUTER and the two PULLs for up to ms, or until done (A, B, C answered).
static void
s_watch (zsock_t *router, zsock_t *t1, zsock_t *co, const int64_t ids [4], watch_t *w,
         int64_t ms, bool until_abc)
{
    zpoller_t *poller = zpoller_new (router, t1, co, NULL);
    CHECK (poller);
    int64_t t0 = clock_mono_ms ();
    while (clock_mono_ms () - t0 < ms) {
        if (until_abc && w->t1_at [0] && w->co_at [1] && w->t1_at [2])
            break;
        zsock_t *which = zpoller_wait (poller, 50);
        int64_t now = clock_mono_ms ();
        if (which == router) {
            uint8_t id [256];
            size_t idlen;
            zmqx_frame_t f;
            if (zmqx_recv_routed (router, id, sizeof id, &idlen, &f, 1 << 20, 0) == 0) {
                if (w->beats > 0 && now - w->last_beat > w->max_gap)
                    w->max_gap = now - w->last_beat;
                if (w->beats == 0)
                    w->first_beat = now;
                w->last_beat = now;
                w->beats++;
                zmqx_frame_close (&f);
            }
        }
        else
        if (which == t1 || which == co) {
            zframe_t *frame = zframe_recv (which);
            CHECK (frame);
            uint64_t db_id = 0;
            if (which == t1) {
                proto_submission_ready_t m;
                proto_err_t err;
                CHECK_EQ_INT (proto_submission_ready_decode (zframe_data (frame),
                              zframe_size (frame), &m, &err), 0);
                db_id = m.db_id;
                proto_submission_ready_free (&m);
            }
            else {
                proto_tier_result_t m;
                proto_err_t err;
                CHECK_EQ_INT (proto_tier_result_decode (zframe_data (frame),
                              zframe_size (frame), &m, &err), 0);
                CHECK_EQ_INT (m.tier, 1);
                CHECK (m.verdict == PROTO_VERDICT_FAIL);
                db_id = m.submission_id;
                proto_tier_result_free (&m);
            }
            zframe_destroy (&frame);
            for (int i = 0; i < 4; i++)
                if ((uint64_t) ids [i] == db_id) {
                    int64_t *at = which == t1 ? &w->t1_at [i] : &w->co_at [i];
                    if (!*at)
                        *at = now;
                }
        }
    }
    //  a worker that went silent at the end counts too
    int64_t now = clock_mono_ms ();
    if (w->beats > 0 && now - w->last_beat > w->max_gap)
        w->max_gap = now - w->last_beat;
    zpoller_destroy (&poller);
}

int
main (void)
{
    TEST_ENV ("ZM_BUILD_DIR");
    tdb_t t;
    tdb_create (&t, "dl_slow");
    db_t *db = tdb_connect (&t, "test-check");
    CHECK_EQ_INT (db_migrate (db), 0);
    atexit (s_kill_child);

    //  the epoch, cached and listed already: only the GETs go to the trickling server
    static const char *zips [4] = { "10001", "10002", "10003", "10004" };
    srv_t srv;
    memset (&srv, 0, sizeof srv);
    srv.body [0] = s_body ("10001", 8);
    srv.body [1] = s_body ("10002", 1);
    srv.body [2] = s_body ("10003", 3);
    srv.body [3] = s_body ("10004", 2);
    for (int i = 0; i < 4; i++)
        srv.len [i] = strlen (srv.body [i]);
    CHECK (srv.len [0] < 1024 && srv.len [0] > 400);
    CHECK_EQ_INT (db_exec (db,
        "INSERT INTO validator_epochs (epoch_id, nonce, epoch_start, epoch_end, "
        "submission_deadline, assignment, listed_at) VALUES ($1, '9f86d081884c7d65', "
        "'2026-11-25T12:00:00Z', '2026-11-25T16:00:00Z', '2026-11-25T16:00:00Z', '{}', now())",
        DB_P (EPOCH), NULL), 0);
    int64_t ids [4];
    for (int i = 0; i < 4; i++) {
        char key [256], size [24];
        snprintf (key, sizeof key, "data/hotkey=%s/epoch=%s/zipcode=%s/data_20261125_130000.json",
                  HOTKEY, EPOCH, zips [i]);
        //  B is listed small: the pre-check lets it through, the read must stop it
        snprintf (size, sizeof size, "%zu", i == 1 ? (size_t) 500 : srv.len [i]);
        CHECK_EQ_INT (db_exec (db,
            "INSERT INTO validator_epoch_zipcodes VALUES ($1, $2, 100)", DB_P (EPOCH, zips [i]),
            NULL), 0);
        CHECK_EQ_INT (db_exec (db,
            "INSERT INTO validator_submissions (epoch_id, s3_key, miner_hotkey, zipcode, "
            "last_modified, last_modified_raw, size_bytes) VALUES ($1, $2, $3, $4, "
            "'2026-11-25T13:00:00.000Z', '2026-11-25T13:00:00.000Z', $5::bigint)",
            DB_P (EPOCH, key, HOTKEY, zips [i], size), NULL), 0);
        ids [i] = tdb_int (db, "SELECT id FROM validator_submissions WHERE zipcode = $1",
                           DB_P (zips [i]));
    }

    srv.listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK (bind (srv.listener, (struct sockaddr *) &a, sizeof a) == 0
           && listen (srv.listener, 16) == 0);
    socklen_t alen = sizeof a;
    CHECK (getsockname (srv.listener, (struct sockaddr *) &a, &alen) == 0);
    char s3ep [64];
    snprintf (s3ep, sizeof s3ep, "http://127.0.0.1:%d", ntohs (a.sin_port));
    pthread_t server;
    CHECK (pthread_create (&server, NULL, s_server, &srv) == 0);

    char dir [] = "/tmp/zm_dl_slow_XXXXXX";
    CHECK (mkdtemp (dir));
    char wallets [256], logpath [256], sup [300], ep [320];
    snprintf (wallets, sizeof wallets, "%s/wallets", dir);
    snprintf (logpath, sizeof logpath, "%s/downloader.log", dir);
    wallet_t *hot = wallet_new_dev ("slow-validator");
    const char *reason = NULL;
    CHECK (wallet_write_hotkey (hot, wallets, "validator", "default", &reason) == 0);
    zsock_t *router = t_sup_router (dir, "sup", sup, sizeof sup);
    snprintf (ep, sizeof ep, "@ipc://%s/t1.ipc", dir);
    zsock_t *t1 = zmqx_new (ZMQ_PULL, ep, NULL);
    snprintf (ep, sizeof ep, "@ipc://%s/co.ipc", dir);
    zsock_t *co = zmqx_new (ZMQ_PULL, ep, NULL);
    CHECK (router && t1 && co);

    int64_t t0 = clock_mono_ms ();
    s_start (t.dsn, dir, wallets, s3ep, sup, logpath);
    watch_t w;
    memset (&w, 0, sizeof w);
    s_watch (router, t1, co, ids, &w, 30000, true);
    printf ("A stored after %lld ms, B rejected after %lld ms, C stored after %lld ms; "
            "%d heartbeats, longest gap %lld ms\n",
            (long long) (w.t1_at [0] ? w.t1_at [0] - t0 : -1),
            (long long) (w.co_at [1] ? w.co_at [1] - t0 : -1),
            (long long) (w.t1_at [2] ? w.t1_at [2] - t0 : -1), w.beats, (long long) w.max_gap);
    CHECK (w.t1_at [0] && w.co_at [1] && w.t1_at [2]);
    //  A took longer than 3 heartbeat periods, C did not wait for it
    CHECK (w.t1_at [0] - w.first_beat > 3 * HEARTBEAT_MS);
    CHECK (w.t1_at [2] < w.t1_at [0] && w.t1_at [2] < w.co_at [1]);
    CHECK (w.max_gap < 3 * HEARTBEAT_MS);
    CHECK (w.beats >= (int) ((w.last_beat - w.first_beat) / HEARTBEAT_MS) - 1);
    CHECK (!w.co_at [0] && !w.t1_at [1] && !w.co_at [2]);

    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submissions WHERE "
                               "zipcode IN ('10001', '10003') AND state = 'downloaded'"), 2);
    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submission_listings"), 8 + 3);
    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submissions WHERE zipcode = "
                               "'10002' AND state = 'rejected' AND reason LIKE "
                               "'too_large: over the cap of 1024 bytes while reading'"), 1);

    //  D: in flight (C's fetcher took it); SIGTERM ends the worker promptly, D stays
    //  requested and listed, nothing of it stored
    t0 = clock_mono_ms ();
    while (atomic_load (&srv.d_gets) == 0 && clock_mono_ms () - t0 < 5000)
        s_watch (router, t1, co, ids, &w, 100, false);
    CHECK_EQ_INT (atomic_load (&srv.d_gets), 1);
    s_watch (router, t1, co, ids, &w, 500, false);
    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submissions WHERE zipcode = "
                               "'10004' AND state = 'listed' AND requested_at IS NOT NULL"), 1);
    int64_t took = 0;
    int code = t_term (&s_child, &took);
    printf ("exited %d %lld ms after SIGTERM with D in flight\n", code, (long long) took);
    CHECK_EQ_INT (code, 0);
    CHECK (took < 2500);
    CHECK (t_log_count (logpath, "\"event\":\"submission_get_stopped\"") > 0);
    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submissions WHERE zipcode = "
                               "'10004' AND state = 'listed' AND requested_at IS NOT NULL"), 1);

    //  restart: D is served at once now and stored, once
    atomic_store (&srv.d_fast, true);
    s_start (t.dsn, dir, wallets, s3ep, sup, logpath);
    memset (&w, 0, sizeof w);
    t0 = clock_mono_ms ();
    while (!w.t1_at [3] && clock_mono_ms () - t0 < 20000)
        s_watch (router, t1, co, ids, &w, 200, false);
    CHECK (w.t1_at [3]);
    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submissions WHERE "
                               "state = 'downloaded'"), 3);
    CHECK_EQ_INT (s_count (db, "SELECT count(*) FROM validator_submission_listings"), 8 + 3 + 2);
    CHECK_EQ_INT (t_term (&s_child, NULL), 0);

    atomic_store (&srv.quit, true);
    pthread_join (server, NULL);
    close (srv.listener);
    for (int i = 0; i < 4; i++)
        free (srv.body [i]);
    zsock_destroy (&router);
    zsock_destroy (&t1);
    zsock_destroy (&co);
    wallet_destroy (&hot);
    db_destroy (&db);
    tdb_drop (&t);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT (system (cmd), 0);
    TEST_DONE ();
}
