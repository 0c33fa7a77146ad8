/*  uploader in process, s3.mode=direct, against the real PostgreSQL and S3 server:
      - the object's key and format (DESIGN.md section 6), its SHA-256 and size in the ledger;
      - a landed zipcode is never uploaded again across a restart (the object is deleted
        behind the uploader's back and must NOT come back);
      - an intent without landing (S3 unreachable after the intent) is finished by the next
        uploader with the SAME key; with the object already there (HEAD, same size) it is
        marked landed without sending anything;
      - S3 down: uploads back off and retry, then land once S3 answers (a TCP relay that
        starts listening later);
      - the sweep uploads a stored zipcode whose zipcode_stored message was lost.          */
#include "common/clock.h"
#include "common/epoch.h"
#include "common/json.h"
#include "common/wallet.h"
#include "proto/zipcode_stored.h"
#include "tests/integration/test_uploader_lib.h"
#include "workers/uploader/uploader.h"

#include <openssl/evp.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <time.h>
#include <sodium.h>
#include <sys/wait.h>

static const char *EPOCH = "2026-11-25T12-00-00";
static pid_t s_relay = 0;

static void
s_kill_relay (void)
{
    if (s_relay > 0)
        kill (s_relay, SIGKILL);
}

//  Relays every connection on port to target_port (a process; killed at the end).
static pid_t
s_start_relay (int port, int target_port)
{
    fflush (stdout);
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid > 0)
        return pid;
    signal (SIGCHLD, SIG_IGN);
    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind (lfd, (struct sockaddr *) &a, sizeof a) != 0 || listen (lfd, 16) != 0)
        _exit (1);
    while (1) {
        int c = accept (lfd, NULL, NULL);
        if (c < 0)
            continue;
        if (fork () == 0) {
            int s = socket (AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in b = { .sin_family = AF_INET,
                                     .sin_port = htons ((uint16_t) target_port) };
            inet_pton (AF_INET, "127.0.0.1", &b.sin_addr);
            if (connect (s, (struct sockaddr *) &b, sizeof b) != 0)
                _exit (1);
            struct pollfd p [2] = { { .fd = c, .events = POLLIN }, { .fd = s, .events = POLLIN } };
            char buf [65536];
            while (poll (p, 2, 30000) > 0) {
                for (int i = 0; i < 2; i++)
                    if (p [i].revents) {
                        ssize_t n = read (p [i].fd, buf, sizeof buf);
                        if (n <= 0)
                            _exit (0);
                        if (write (p [1 - i].fd, buf, (size_t) n) != n)
                            _exit (0);
                    }
            }
            _exit (0);
        }
        close (c);
    }
}

static char *
s_ledger (db_t *db, const char *zip, const char *col)
{
    char sql [160];
    snprintf (sql, sizeof sql, "SELECT %s::text FROM miner_uploads WHERE epoch_id = $1 AND zipcode = $2",
              col);
    db_result_t *res = NULL;
    CHECK_EQ_INT (db_exec (db, sql, DB_P (EPOCH, zip), &res), 0);
    CHECK_EQ_INT (db_result_rows (res), 1);
    char *v = strdup (db_result_get (res, 0, 0) ? db_result_get (res, 0, 0) : "");
    db_result_destroy (&res);
    return v;
}

static metrics_t *s_metrics;

static uploader_t *
s_uploader (const zm_config_t *cfg, tdb_t *t, const wallet_t *w)
{
    db_t *db = tdb_connect (t, "zipmine-uploader");
    return uploader_new (cfg, &db, w, "", s_metrics);
}

int
main (void)
{
    tdb_t t;
    tdb_create (&t, "uploader_ledger");
    s_metrics = metrics_new ();
    db_t *check = tdb_connect (&t, "test-check");
    CHECK_EQ_INT (db_migrate (check), 0);
    const char *zips [] = { "77494", "10001", "60601", "30301", "94105" };
    tdb_seed (check, EPOCH, zips, 5, 3600);
    t_store (check, EPOCH, "77494", 5000, 25);
    t_store (check, EPOCH, "10001", 6000, 3);
    t_store (check, EPOCH, "60601", 7000, 4);
    atexit (s_kill_relay);

    const char *bucket = TEST_ENV ("ZM_TEST_S3_BUCKET");
    const char *s3_endpoint = TEST_ENV ("ZM_TEST_S3_ENDPOINT");
    setenv ("ZM_S3_MODE", "direct", 1);
    t_env_s3 (bucket);
    setenv ("ZM_S3_TIMEOUT_MS", "3000", 1);
    setenv ("ZM_COORDINATOR_URL", "http://127.0.0.1:1", 1);     //  no status reports here
    setenv ("ZM_UPLOADER_SWEEP_MS", "200", 1);
    zm_config_t cfg;
    t_config (&cfg);
    char dev_name [64];
    snprintf (dev_name, sizeof dev_name, "%s-%d-%lld",
              "uploader-ledger", (int) getpid (),
              (long long) time (NULL));
    wallet_t *w = wallet_new_dev (dev_name);
    s3_t *s3 = t_s3 ();

    //  1. upload, key and format
    uploader_t *up = s_uploader (&cfg, &t, w);
    CHECK (up);
    const char *hotkey = uploader_hotkey (up);
    CHECK_EQ_STR (hotkey, wallet_ss58 (w));
    int64_t before = clock_wall_ms () / 1000;
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), 0);
    char *key = s_ledger (check, "77494", "s3_key");
    char pattern [256];
    snprintf (pattern, sizeof pattern, "^data/hotkey=%s/epoch=%s/zipcode=77494/"
                                       "data_[0-9]{8}_[0-9]{6}\\.json$", hotkey, EPOCH);
    regex_t re;
    CHECK (regcomp (&re, pattern, REG_EXTENDED | REG_NOSUB) == 0);
    CHECK (regexec (&re, key, 0, NULL, 0) == 0);
    regfree (&re);
    char *submitted = s_ledger (check, "77494", "extract(epoch FROM submitted_at)::bigint");
    int64_t sub_s = atoll (submitted);
    CHECK (sub_s >= before && sub_s <= before + 5);
    char expect_key [512];
    CHECK_EQ_INT (uploader_key (hotkey, EPOCH, "77494", sub_s, expect_key, sizeof expect_key), 0);
    CHECK_EQ_STR (key, expect_key);
    printf ("key %s\n", key);
    char *data = NULL;
    size_t size = 0;
    CHECK_EQ_INT (s3_get_buffer (s3, bucket, key, 1 << 24, &data, &size), 0);
    jsonx_err_t jerr = { 0 };
    json_t *obj = jsonx_parse (data, size, 1 << 24, 16, &jerr);
    CHECK (obj);
    CHECK_EQ_INT (json_object_size (obj), 6);
    CHECK_EQ_STR (json_string_value (json_object_get (obj, "epoch_id")), EPOCH);
    CHECK_EQ_STR (json_string_value (json_object_get (obj, "zipcode")), "77494");
    CHECK_EQ_STR (json_string_value (json_object_get (obj, "miner_hotkey")), hotkey);
    char iso [32];
    epoch_iso8601 (sub_s, iso);
    CHECK_EQ_STR (json_string_value (json_object_get (obj, "submission_timestamp")), iso);
    CHECK_EQ_INT (json_integer_value (json_object_get (obj, "listing_count")), 25);
    json_t *listings = json_object_get (obj, "listings");
    CHECK_EQ_INT (json_array_size (listings), 25);
    for (size_t i = 0; i < 25; i++) {
        json_t *l = json_array_get (listings, i);
        CHECK_EQ_INT (json_integer_value (json_object_get (l, "zpid")), 5000 + (int) i);
        CHECK_EQ_STR (json_string_value (json_object_get (l, "zipcode")), "77494");
        CHECK (json_is_true (json_object_get (json_object_get (l, "extra"), "kept")));
        CHECK (json_real_value (json_object_get (l, "bathrooms")) == 2.5);
    }
    json_decref (obj);
    unsigned char md [32];
    char hex [65];
    EVP_Digest (data, size, md, NULL, EVP_sha256 (), NULL);
    sodium_bin2hex (hex, sizeof hex, md, sizeof md);
    char *lsha = s_ledger (check, "77494", "sha256");
    char *lbytes = s_ledger (check, "77494", "bytes");
    char *lstate = s_ledger (check, "77494", "state");
    CHECK_EQ_STR (lsha, hex);
    CHECK_EQ_INT (atoll (lbytes), (long long) size);
    CHECK_EQ_STR (lstate, "uploaded");
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '77494' "
                                  "AND status = 'uploaded'", 0, NULL), 1);
    free (data);
    free (lsha);
    free (lbytes);
    free (lstate);
    free (submitted);

    //  2. never twice: delete the object, restart, hand in the message, sweep
    CHECK_EQ_INT (s3_delete (s3, bucket, key), 0);
    uploader_destroy (&up);
    up = s_uploader (&cfg, &t, w);
    proto_zipcode_stored_t msg = { .count = 25, .stored_at_ms = clock_wall_ms () };
    strcpy (msg.epoch, EPOCH);
    strcpy (msg.zipcode, "77494");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_zipcode_stored_encode (&msg, &sb, NULL), 0);
    CHECK_EQ_INT (uploader_handle (up, (const uint8_t *) sb.data, sb.size), 0);
    msgpack_sbuffer_destroy (&sb);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "77494"), 0);
    s3_head_t head;
    CHECK (s3_head (s3, bucket, key, &head) != 0 && s3_status (s3) == 404);
    printf ("landed zipcode not re-uploaded after restart\n");
    free (key);
    uploader_destroy (&up);

    //  3. intent, then S3 unreachable: the next uploader finishes with the same key
    char dead [64];
    snprintf (dead, sizeof dead, "http://127.0.0.1:%d", t_free_port ());
    setenv ("ZM_S3_ENDPOINT", dead, 1);
    zm_config_t dead_cfg;
    t_config (&dead_cfg);
    up = s_uploader (&dead_cfg, &t, w);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "10001"), RC_RETRY);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "60601"), RC_RETRY);
    uploader_destroy (&up);
    char *key_b = s_ledger (check, "10001", "s3_key");
    char *key_c = s_ledger (check, "60601", "s3_key");
    char *state_b = s_ledger (check, "10001", "state");
    CHECK_EQ_STR (state_b, "uploading");
    free (state_b);
    //  60601's object is already in S3 (the crash came after S3 took it): same size, so
    //  HEAD settles it and nothing is sent (the placeholder bytes stay)
    char *cbytes = s_ledger (check, "60601", "bytes");
    size_t csize = (size_t) atoll (cbytes);
    char *filler = malloc (csize);
    memset (filler, 'x', csize);
    CHECK_EQ_INT (s3_put (s3, bucket, key_c, filler, csize, NULL), 0);
    sleep (1);          //  a new submission time would give a new key: prove it is not used
    up = s_uploader (&cfg, &t, w);
    CHECK_EQ_INT (uploader_sweep (up), 2);
    char *key_b2 = s_ledger (check, "10001", "s3_key");
    CHECK_EQ_STR (key_b2, key_b);
    CHECK_EQ_INT (s3_get_buffer (s3, bucket, key_b, 1 << 20, &data, &size), 0);
    CHECK (strstr (data, "\"listing_count\":3"));
    free (data);
    CHECK_EQ_INT (s3_get_buffer (s3, bucket, key_c, 1 << 20, &data, &size), 0);
    CHECK_EQ_INT (size, csize);
    CHECK_EQ_MEM (data, filler, csize);
    free (data);
    free (filler);
    CHECK_EQ_INT (tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE state = 'uploaded'",
                           0, NULL), 3);
    printf ("interrupted uploads finished under their recorded keys\n");
    free (key_b);
    free (key_b2);
    free (key_c);
    free (cbytes);
    uploader_destroy (&up);

    //  4. S3 down, then back: retries with backoff, then lands
    int port = t_free_port ();
    int s3_port = atoi (strrchr (s3_endpoint, ':') + 1);
    char relay [64];
    snprintf (relay, sizeof relay, "http://127.0.0.1:%d", port);
    setenv ("ZM_S3_ENDPOINT", relay, 1);
    zm_config_t relay_cfg;
    t_config (&relay_cfg);
    up = s_uploader (&relay_cfg, &t, w);
    t_store (check, EPOCH, "30301", 8000, 5);
    CHECK_EQ_INT (uploader_upload (up, EPOCH, "30301"), RC_RETRY);
    int64_t t0 = clock_mono_ms ();
    for (int i = 0; i < 10; i++) {          //  S3 still down: ticks back off
        uploader_tick (up);
        usleep (100 * 1000);
    }
    s_relay = s_start_relay (port, s3_port);
    bool landed = false;
    while (!landed && clock_mono_ms () - t0 < 30000) {
        uploader_tick (up);
        landed = tdb_int (check, "SELECT count(*) FROM miner_uploads WHERE zipcode = '30301' "
                                 "AND state = 'uploaded'", 0, NULL) == 1;
        usleep (100 * 1000);
    }
    CHECK (landed);
    int64_t attempts = tdb_int (check, "SELECT attempts FROM miner_uploads WHERE zipcode = '30301'",
                                0, NULL);
    printf ("S3 back: landed after %lld attempts, %lld ms\n", (long long) attempts,
            (long long) (clock_mono_ms () - t0));
    CHECK (attempts >= 2 && attempts <= 10);        //  backed off, did not hammer

    //  5. a zipcode_stored message that never came: the sweep finds the stored zipcode
    t_store (check, EPOCH, "94105", 9000, 2);
    t0 = clock_mono_ms ();
    landed = false;
    while (!landed && clock_mono_ms () - t0 < 10000) {
        uploader_tick (up);
        landed = tdb_int (check, "SELECT count(*) FROM miner_tasks WHERE zipcode = '94105' "
                                 "AND status = 'uploaded'", 0, NULL) == 1;
        usleep (100 * 1000);
    }
    CHECK (landed);
    uploader_destroy (&up);
    kill (s_relay, SIGKILL);
    waitpid (s_relay, NULL, 0);
    s_relay = 0;

    s3_destroy (&s3);
    wallet_destroy (&w);
    zm_config_free (&cfg);
    zm_config_free (&dead_cfg);
    zm_config_free (&relay_cfg);
    metrics_destroy (&s_metrics);
    db_destroy (&check);
    tdb_drop (&t);
    TEST_DONE ();
}
