/*  The coordinator worker over real HTTP: the binary started as a child process against the
    real PostgreSQL and the local S3 server, with 20 s epochs. Contract of every endpoint and
    error, rate limit and recovery, hostile requests, upload grants used against S3 (inside
    the prefix, outside it, after expiry), epoch rollovers on the grid with fresh nonces and
    cooldown, past epochs by id, and a clean SIGTERM.                                         */
#include "common/db.h"
#include "common/epoch.h"
#include "common/http.h"
#include "common/rc.h"
#include "common/s3.h"
#include "common/wallet.h"
#include "tests/integration/test_coord_lib.h"
#include "tests/testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char s_base [64];
static tcoord_t s_coord;

//  A failing CHECK exits: never leave the coordinator running behind.
static void
s_kill_child (void)
{
    tcoord_kill (&s_coord);
}
static http_t *s_http;
static wallet_t *s_miner, *s_validator, *s_stranger;

static void
s_sign_hex (const wallet_t *w, const char *commitment, char *hex)
{
    uint8_t sig [64];
    CHECK (wallet_sign (w, (const uint8_t *) commitment, strlen (commitment), sig) == 0);
    sodium_bin2hex (hex, 129, sig, 64);
}

//  GET path with signed query for commitment "<prefix><ts>". Returns status; body in *doc.
static long
s_get_signed (const char *path, const char *commit_prefix, const wallet_t *w, int64_t ts,
              json_t **doc, http_response_t **resp_p)
{
    char commitment [160], sig [129], url [512];
    snprintf (commitment, sizeof commitment, "%s%lld", commit_prefix, (long long) ts);
    s_sign_hex (w, commitment, sig);
    snprintf (url, sizeof url, "%s%s?hotkey=%s&signature=%s&timestamp=%lld", s_base, path,
              wallet_ss58 (w), sig, (long long) ts);
    http_response_t *resp = NULL;
    int rc = http_get (s_http, url, NULL, &resp);
    CHECK (rc == 0 || (rc == RC_RETRY && resp));        //  429 is "transient" to the client
    long status = http_response_status (resp);
    if (doc) {
        size_t len;
        const char *body = http_response_body (resp, &len);
        *doc = json_loadb (body, len, 0, NULL);
        CHECK (*doc);
    }
    if (resp_p)
        *resp_p = resp;
    else
        http_response_destroy (&resp);
    return status;
}

static long
s_post (const char *path, const char *body, size_t len, json_t **doc)
{
    char url [256];
    snprintf (url, sizeof url, "%s%s", s_base, path);
    const char *headers [] = { "Content-Type: application/json", NULL };
    http_response_t *resp = NULL;
    CHECK_EQ_INT (http_post (s_http, url, headers, body, len, &resp), 0);
    long status = http_response_status (resp);
    size_t blen;
    const char *text = http_response_body (resp, &blen);
    json_t *parsed = json_loadb (text, blen, 0, NULL);
    CHECK (parsed);         //  every answer is JSON, errors included
    if (status >= 400)
        CHECK_EQ_INT (json_integer_value (json_object_get (parsed, "statusCode")), status);
    if (doc)
        *doc = parsed;
    else
        json_decref (parsed);
    http_response_destroy (&resp);
    return status;
}

static json_t *
s_grant (int64_t ts)
{
    char commitment [256], sig [129], *body;
    snprintf (commitment, sizeof commitment, "s3:data:access:%s:%s:%lld", wallet_ss58 (s_stranger),
              wallet_ss58 (s_miner), (long long) ts);
    s_sign_hex (s_miner, commitment, sig);
    CHECK (asprintf (&body, "{\"hotkey\":\"%s\",\"coldkey\":\"%s\",\"signature\":\"%s\",\"timestamp\":%lld}",
                     wallet_ss58 (s_miner), wallet_ss58 (s_stranger), sig, (long long) ts) > 0);
    json_t *doc = NULL;
    CHECK_EQ_INT (s_post ("/get-folder-access", body, strlen (body), &doc), 200);
    free (body);
    return doc;
}

//  Uploads through a grant; returns the S3 client's result.
static int
s_upload (s3_t *s3, json_t *grant, const char *key)
{
    json_t *fields = json_object_get (grant, "fields");
    sigv4_kv_t kv [16];
    size_t n = 0;
    const char *name;
    json_t *value;
    json_object_foreach (fields, name, value) {
        CHECK (n < 16);
        kv [n].name = name;
        kv [n].value = json_string_value (value);
        n++;
    }
    const char *data = "{\"listings\":[]}";
    return s3_post_upload (s3, json_string_value (json_object_get (grant, "uploadUrl")), kv, n,
                           key, data, strlen (data));
}

//  A raw request over a socket; returns the status code of the answer (0 if none).
static int
s_raw (int port, const char *request, size_t len)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    CHECK (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0);
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send (fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t) n;
    }
    char buf [512] = { 0 };
    ssize_t got = recv (fd, buf, sizeof buf - 1, 0);
    close (fd);
    int status = 0;
    if (got > 12)
        sscanf (buf, "HTTP/1.%*d %d", &status);
    return status;
}

int
main (void)
{
    const char *dsn = TEST_ENV ("ZM_TEST_PG_DSN");
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    const char *s3_endpoint = TEST_ENV ("ZM_TEST_S3_ENDPOINT");
    char err [512];
    db_t *admin = db_new (dsn, "test", 5, 30000, err, sizeof err);
    CHECK (admin);
    char dbname [64], sql [128], *mydsn;
    snprintf (dbname, sizeof dbname, "zmtest_coordhttp_%d", (int) getpid ());
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", dbname);
    CHECK_EQ_INT (db_exec (admin, sql, 0, NULL, NULL), 0);
    CHECK (asprintf (&mydsn, "%s dbname=%s", dsn, dbname) > 0);

    s_miner = wallet_new_dev ("http-miner");
    s_validator = wallet_new_dev ("http-validator");
    s_stranger = wallet_new_dev ("http-stranger");
    char metagraph [] = "/tmp/zm_metagraph_http_XXXXXX";
    int fd = mkstemp (metagraph);
    CHECK (fd >= 0);
    dprintf (fd, "{\"hotkeys\":[{\"hotkey\":\"%s\",\"coldkey\":\"%s\",\"role\":\"miner\"},"
                 "{\"hotkey\":\"%s\",\"role\":\"validator\"}]}",
             wallet_ss58 (s_miner), wallet_ss58 (s_stranger), wallet_ss58 (s_validator));
    close (fd);

    //  start the worker, read its port from its log
    atexit (s_kill_child);
    s3_config_t coord_s3 = tcoord_s3_config ();
    const char *coord_env [] = { "ZM_COORDINATOR_COOLDOWN_S=3600",
                                 "ZM_COORDINATOR_RATE_ASSIGNMENTS=120", NULL };
    tcoord_start_env (&s_coord, build, mydsn, metagraph, 20, &coord_s3,
                      TEST_ENV ("ZM_TEST_S3_BUCKET"), coord_env);
    snprintf (s_base, sizeof s_base, "%s", s_coord.base);
    int port = s_coord.port;

    http_options_t opts;
    http_options_defaults (&opts);
    opts.max_attempts = 1;
    s_http = http_new (&opts);
    CHECK (s_http);

    //  public endpoints
    char url [512];
    snprintf (url, sizeof url, "%s/healthcheck", s_base);
    http_response_t *resp = NULL;
    CHECK_EQ_INT (http_get (s_http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    http_response_destroy (&resp);
    snprintf (url, sizeof url, "%s/api/v1/zipcode-assignments/stats", s_base);
    CHECK_EQ_INT (http_get (s_http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    http_response_destroy (&resp);
    snprintf (url, sizeof url, "%s/nowhere", s_base);
    CHECK_EQ_INT (http_get (s_http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 404);
    http_response_destroy (&resp);

    //  current assignment and every authentication failure
    const char *cur = "/api/v1/zipcode-assignments/current";
    const char *curc = "zipcode:assignment:current:";
    int64_t now = (int64_t) time (NULL);
    json_t *first = NULL;
    CHECK_EQ_INT (s_get_signed (cur, curc, s_miner, now, &first, NULL), 200);
    const char *epoch0 = json_string_value (json_object_get (first, "epochId"));
    CHECK (epoch_id_on_grid (epoch0, 20));
    CHECK_EQ_INT (json_array_size (json_object_get (first, "zipcodes")), 25);
    CHECK_EQ_INT (s_get_signed (cur, curc, s_miner, now - 400, NULL, NULL), 401);
    CHECK_EQ_INT (s_get_signed (cur, curc, s_miner, now + 120, NULL, NULL), 401);
    CHECK_EQ_INT (s_get_signed (cur, curc, s_stranger, now, NULL, NULL), 403);
    CHECK_EQ_INT (s_get_signed (cur, "zipcode:assignment:other:", s_miner, now - 1, NULL, NULL), 401);
    char sig [129], commitment [96];
    snprintf (commitment, sizeof commitment, "%s%lld", curc, (long long) (now - 2));
    s_sign_hex (s_miner, commitment, sig);
    snprintf (url, sizeof url, "%s%s?hotkey=%s&signature=%s&timestamp=%lld", s_base, cur,
              wallet_ss58 (s_miner), sig, (long long) (now - 2));
    CHECK_EQ_INT (http_get (s_http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    http_response_destroy (&resp);
    CHECK_EQ_INT (http_get (s_http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 401);             //  replay
    http_response_destroy (&resp);

    //  rate limit (120/min, burst 120): the bucket empties, 429 with Retry-After, then recovers
    int limited = 0;
    int64_t t0 = (int64_t) time (NULL);
    for (int i = 0; i < 130 && !limited; i++) {
        long st = s_get_signed (cur, curc, s_validator, t0 - 200 + i, NULL, &resp);
        if (st == 429) {
            limited = i + 1;
            const char *ra = http_response_header (resp, "Retry-After");
            CHECK (ra && atoi (ra) >= 1);
        }
        else
            CHECK_EQ_INT (st, 200);
        http_response_destroy (&resp);
    }
    printf ("rate limit tripped at request %d\n", limited);
    CHECK (limited >= 118 && limited <= 130);     //  120 + what refilled meanwhile
    usleep (1100 * 1000);
    CHECK_EQ_INT (s_get_signed (cur, curc, s_validator, t0 - 50, NULL, NULL), 200);

    //  malformed and oversized bodies, hostile raw requests
    CHECK_EQ_INT (s_post ("/api/v1/zipcode-assignments/status", "{\"hotkey\":", 10, NULL), 400);
    CHECK_EQ_INT (s_post ("/get-folder-access", "[]", 2, NULL), 400);
    size_t big = 200 * 1024;
    char *huge = malloc (big);
    memset (huge, ' ', big);
    huge [0] = '{';
    huge [big - 1] = '}';
    CHECK_EQ_INT (s_post ("/api/v1/zipcode-assignments/status", huge, big, NULL), 413);
    free (huge);
    const char *garbage = "\x01\x02 garbage\r\n\r\n";
    int st = s_raw (port, garbage, strlen (garbage));
    CHECK (st == 400 || st == 0);
    size_t hlen = 64 * 1024;
    char *hdr = malloc (hlen + 64);
    int off = snprintf (hdr, 64, "GET /healthcheck HTTP/1.1\r\nX-Big: ");
    memset (hdr + off, 'a', hlen);
    memcpy (hdr + off + hlen, "\r\n\r\n", 4);
    st = s_raw (port, hdr, (size_t) off + hlen + 4);
    CHECK (st == 431 || st == 413 || st == 400 || st == 0);
    free (hdr);
    //  still serving after all of that
    CHECK_EQ_INT (http_get (s_http, s_base, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 404);
    http_response_destroy (&resp);

    //  an upload grant works inside its prefix only
    s3_config_t s3cfg = { .endpoint = s3_endpoint, .region = getenv ("ZM_TEST_S3_REGION"),
                          .path_style = true, .max_attempts = 1 };
    s3_t *s3 = s3_new (&s3cfg);
    CHECK (s3);
    json_t *grant = s_grant ((int64_t) time (NULL));
    const char *prefix = json_string_value (json_object_get (grant, "prefix"));
    char key [256];
    snprintf (key, sizeof key, "%szipcode=77494/data_20261125_120000.json", prefix);
    CHECK_EQ_INT (s_upload (s3, grant, key), 0);
    printf ("grant upload inside %s: ok\n", prefix);
    snprintf (key, sizeof key, "data/hotkey=%s/epoch=x/zipcode=77494/data.json", wallet_ss58 (s_validator));
    CHECK (s_upload (s3, grant, key) != 0);
    printf ("grant upload outside the prefix: refused (%ld %s)\n", s3_status (s3), s3_code (s3));
    CHECK (s3_status (s3) == 403);

    //  epoch rollover: wait for the next grid boundary
    epoch_slot_t slot;
    epoch_slot_at ((int64_t) time (NULL), 20, &slot);
    int64_t wait_s = slot.end - (int64_t) time (NULL) + 1;
    printf ("waiting %lld s for the epoch to roll over\n", (long long) wait_s);
    sleep ((unsigned) wait_s);
    //  the grant expired with its epoch's deadline
    snprintf (key, sizeof key, "%szipcode=77494/late.json", prefix);
    CHECK (s_upload (s3, grant, key) != 0);
    printf ("grant upload after expiry: refused (%ld %s)\n", s3_status (s3), s3_code (s3));
    json_decref (grant);

    json_t *second = NULL;
    CHECK_EQ_INT (s_get_signed (cur, curc, s_miner, (int64_t) time (NULL), &second, NULL), 200);
    const char *epoch1 = json_string_value (json_object_get (second, "epochId"));
    int64_t s0, s1;
    CHECK (epoch_id_parse (epoch0, &s0) == 0 && epoch_id_parse (epoch1, &s1) == 0);
    CHECK (s1 > s0 && (s1 - s0) % 20 == 0);
    CHECK (strcmp (json_string_value (json_object_get (first, "nonce")),
                   json_string_value (json_object_get (second, "nonce"))) != 0);
    size_t i, j;
    json_t *a, *b;
    json_array_foreach (json_object_get (first, "zipcodes"), i, a)
        json_array_foreach (json_object_get (second, "zipcodes"), j, b)
            CHECK (strcmp (json_string_value (json_object_get (a, "zipcode")),
                           json_string_value (json_object_get (b, "zipcode"))) != 0);
    printf ("epoch %s -> %s, nonces differ, no zipcode repeated (cooldown)\n", epoch0, epoch1);

    //  the past epoch, by id, is what was served then
    char path [128], cprefix [128];
    snprintf (path, sizeof path, "/api/v1/zipcode-assignments/epoch/%s", epoch0);
    snprintf (cprefix, sizeof cprefix, "zipcode:assignment:epoch:%s:", epoch0);
    json_t *past = NULL;
    CHECK_EQ_INT (s_get_signed (path, cprefix, s_validator, (int64_t) time (NULL), &past, NULL), 200);
    CHECK (json_equal (past, first));
    json_decref (past);
    json_decref (first);
    json_decref (second);

    //  SIGTERM: drains and exits 0
    CHECK (tcoord_stop (&s_coord));

    s3_destroy (&s3);
    http_destroy (&s_http);
    wallet_destroy (&s_miner);
    wallet_destroy (&s_validator);
    wallet_destroy (&s_stranger);
    snprintf (sql, sizeof sql, "DROP DATABASE %s", dbname);
    CHECK_EQ_INT (db_exec (admin, sql, 0, NULL, NULL), 0);
    db_destroy (&admin);
    free (mydsn);
    unlink (metagraph);
    TEST_DONE ();
}
