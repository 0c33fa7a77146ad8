/*  common/s3 against the local S3 server (tests/s3: s3rver behind a Signature-V4-, presigned-
    URL- and POST-policy-enforcing front), plus a fake HTTP server in this process for the
    failure paths a well-behaved server never shows (5xx storms, hangs, bodies with no
    Content-Length that run past the cap).

    Env (set by tests/run): ZM_TEST_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY, _BUCKET.

    With ZM_S3_AWSCLI_DIR set it only writes a few objects under a fresh prefix and a
    manifest (prefix on line 1, then key<TAB>local-copy) into that directory, for
    test_s3_awscli.sh to read back with the aws CLI.                                      */

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/rc.h"
#include "common/s3.h"
#include "tests/testutil.h"

static const char *s_endpoint, *s_region, *s_ak, *s_sk, *s_bucket;

static s3_t *
s_client (const char *endpoint, const char *secret, int attempts, int64_t timeout_ms)
{
    s3_config_t c = {
        .endpoint = endpoint, .region = s_region, .access_key = s_ak, .secret_key = secret,
        .path_style = true, .connect_timeout_ms = 2000, .timeout_ms = timeout_ms,
        .max_attempts = attempts, .retry_base_ms = 10, .retry_cap_ms = 50
    };
    s3_t *s3 = s3_new (&c);
    CHECK (s3);
    return s3;
}

static void
s_fill (char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf [i] = (char) (seed >> 16);
    }
}

typedef struct {
    size_t bytes;
    int calls;
} s_count_t;

static int
s_count_sink (void *arg, const void *data, size_t size)
{
    (void) data;
    s_count_t *c = arg;
    c->bytes += size;
    c->calls++;
    return 0;
}

static int
s_abort_sink (void *arg, const void *data, size_t size)
{
    (void) arg, (void) data, (void) size;
    return -1;
}

//  --------------------------------------------------------------------------
//  A fake HTTP server for failure paths

typedef enum { FAKE_CHUNKED, FAKE_503, FAKE_HANG, FAKE_CAPTURE, FAKE_BODY } s_fake_mode_t;

typedef struct {
    int fd;
    int port;
    s_fake_mode_t mode;
    atomic_int requests;
    atomic_bool stop;
    char head [8192];                   //  CAPTURE: the last request head
    const char *body;                   //  BODY: sent with 200 to every request
    pthread_t thread;
} s_fake_t;

static void
s_send_all (int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send (fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        data += w;
        n -= (size_t) w;
    }
}

static void *
s_fake_run (void *arg)
{
    s_fake_t *f = arg;
    while (!atomic_load (&f->stop)) {
        struct pollfd p = { .fd = f->fd, .events = POLLIN };
        if (poll (&p, 1, 50) <= 0)
            continue;
        int c = accept (f->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req [8192];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t r = recv (c, req + got, sizeof req - 1 - got, 0);
            if (r <= 0)
                break;
            got += (size_t) r;
            req [got] = 0;
            if (strstr (req, "\r\n\r\n"))
                break;
        }
        atomic_fetch_add (&f->requests, 1);
        if (f->mode == FAKE_CAPTURE) {
            memcpy (f->head, req, got + 1);
            const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            s_send_all (c, r, strlen (r));
        }
        else if (f->mode == FAKE_BODY) {
            char h [128];
            int n = snprintf (h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n", strlen (f->body));
            s_send_all (c, h, (size_t) n);
            s_send_all (c, f->body, strlen (f->body));
        }
        else if (f->mode == FAKE_CHUNKED) {
            const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            "Connection: close\r\n\r\n";
            s_send_all (c, h, strlen (h));
            char chunk [1024 + 16];
            int n = snprintf (chunk, sizeof chunk, "400\r\n");
            memset (chunk + n, 'x', 1024);
            memcpy (chunk + n + 1024, "\r\n", 2);
            for (int i = 0; i < 1024 && !atomic_load (&f->stop); i++)
                s_send_all (c, chunk, (size_t) n + 1026);
            s_send_all (c, "0\r\n\r\n", 5);
        }
        else if (f->mode == FAKE_503) {
            const char *body = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
                               "<Message>Please reduce your request rate.</Message></Error>";
            char h [256];
            int n = snprintf (h, sizeof h, "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                              strlen (body));
            s_send_all (c, h, (size_t) n);
            s_send_all (c, body, strlen (body));
        }
        else {
            //  Never answer; wait for the client to give up.
            struct pollfd q = { .fd = c, .events = POLLIN };
            for (int i = 0; i < 100 && !atomic_load (&f->stop); i++) {
                if (poll (&q, 1, 50) > 0) {
                    char b [256];
                    if (recv (c, b, sizeof b, 0) <= 0)
                        break;
                }
            }
        }
        close (c);
    }
    return NULL;
}

static void
s_fake_start (s_fake_t *f, s_fake_mode_t mode, const char *body)
{
    memset (f, 0, sizeof *f);
    f->mode = mode;
    f->body = body;
    f->fd = socket (AF_INET, SOCK_STREAM, 0);
    CHECK (f->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    CHECK (bind (f->fd, (struct sockaddr *) &a, sizeof a) == 0);
    CHECK (listen (f->fd, 16) == 0);
    socklen_t al = sizeof a;
    CHECK (getsockname (f->fd, (struct sockaddr *) &a, &al) == 0);
    f->port = ntohs (a.sin_port);
    CHECK (pthread_create (&f->thread, NULL, s_fake_run, f) == 0);
}

static void
s_fake_stop (s_fake_t *f)
{
    atomic_store (&f->stop, true);
    pthread_join (f->thread, NULL);
    close (f->fd);
}

static bool
s_starts (const char *s, const char *prefix)
{
    return strncmp (s, prefix, strlen (prefix)) == 0;
}

//  What goes on the wire in each addressing mode (the local S3 server only speaks
//  path-style; curl resolves *.localhost to the loopback itself).
static void
s_test_addressing (void)
{
    s_fake_t f;
    s_fake_start (&f, FAKE_CAPTURE, NULL);
    char endpoint [64], want [256];
    snprintf (endpoint, sizeof endpoint, "http://localhost:%d", f.port);
    s3_config_t c = {
        .endpoint = endpoint, .region = "eu-west-3", .access_key = "AK", .secret_key = "SK",
        .session_token = "TOKEN/1+", .path_style = false, .max_attempts = 1
    };
    s3_t *s3 = s3_new (&c);
    CHECK (s3);
    char *data;
    size_t size;
    CHECK_EQ_INT (s3_get_buffer (s3, "zm-b", "a b/c+d", 10, &data, &size), 0);
    CHECK_EQ_STR (data, "ok");
    free (data);
    CHECK (s_starts (f.head, "GET /a%20b/c%2Bd HTTP/1.1\r\n"));
    snprintf (want, sizeof want, "\r\nHost: zm-b.localhost:%d\r\n", f.port);
    CHECK (strstr (f.head, want));
    CHECK (strstr (f.head, "\r\nx-amz-security-token: TOKEN/1+\r\n"));
    CHECK (strstr (f.head, "\r\nx-amz-content-sha256: " SIGV4_EMPTY_SHA256 "\r\n"));
    CHECK (strstr (f.head, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/"));
    CHECK (strstr (f.head, "/eu-west-3/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;"
                           "x-amz-date;x-amz-security-token,Signature="));
    char *url = s3_presign_get (s3, "zm-b", "a b", 60, 1764079200);
    snprintf (want, sizeof want, "http://zm-b.localhost:%d/a%%20b?X-Amz-Algorithm=", f.port);
    CHECK (url && strncmp (url, want, strlen (want)) == 0);
    CHECK (strstr (url, "&X-Amz-Security-Token=TOKEN%2F1%2B&"));
    free (url);
    url = s3_post_url (s3, "zm-b");
    snprintf (want, sizeof want, "http://zm-b.localhost:%d/", f.port);
    CHECK_EQ_STR (url, want);
    free (url);
    //  A PUT carries the integrity headers and the real payload hash.
    CHECK_EQ_INT (s3_put (s3, "zm-b", "k", "Welcome to Amazon S3.", 21, "text/plain"), 0);
    CHECK (s_starts (f.head, "PUT /k HTTP/1.1\r\n"));
    CHECK (strstr (f.head, "\r\nx-amz-content-sha256: "
                           "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\n"));
    CHECK (strstr (f.head, "\r\nContent-MD5: "));
    CHECK (strstr (f.head, "\r\nx-amz-checksum-sha256: RM591nyVng01JP+sF3Hfu6h9K2tLTpnkIDSouAP4sHI=\r\n"));
    CHECK (strstr (f.head, "SignedHeaders=content-md5;content-type;host;x-amz-checksum-sha256;"
                           "x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
    CHECK (!strstr (f.head, "Expect:"));
    s3_destroy (&s3);

    //  Path-style: bucket in the path, Host is the endpoint's.
    c.path_style = true;
    s3 = s3_new (&c);
    CHECK_EQ_INT (s3_get_buffer (s3, "zm-b", "a b/c+d", 10, &data, &size), 0);
    free (data);
    CHECK (s_starts (f.head, "GET /zm-b/a%20b/c%2Bd HTTP/1.1\r\n"));
    snprintf (want, sizeof want, "\r\nHost: localhost:%d\r\n", f.port);
    CHECK (strstr (f.head, want));
    s3_list_page_t page;
    s3_list_query_t q = { .prefix = "p/", .delimiter = "/", .max_keys = 5 };
    //  "ok" is not a listing: refused as malformed, after the request went out right.
    CHECK_EQ_INT (s3_list (s3, "zm-b", &q, &page), RC_MALFORMED);
    CHECK (strstr (s3_error (s3), "malformed ListObjectsV2 response"));
    CHECK (s_starts (f.head, "GET /zm-b?delimiter=%2F&list-type=2&max-keys=5&prefix=p%2F HTTP/1.1"));
    s3_destroy (&s3);
    s_fake_stop (&f);
}

static int
s_count_objects (void *arg, const s3_object_t *o)
{
    (void) o;
    (*(int *) arg)++;
    return 0;
}

//  A server whose listing never ends must not keep s3_list_all going.
static void
s_test_endless_listing (void)
{
    const char *bodies [] = {
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>same"
        "</NextContinuationToken><Contents><Key>k</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>k</Key><Size>1</Size>"
        "</Contents></ListBucketResult>"
    };
    const int want_requests [] = { 2, 1 };
    for (int i = 0; i < 2; i++) {
        s_fake_t f;
        s_fake_start (&f, FAKE_BODY, bodies [i]);
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", f.port);
        s3_t *s3 = s_client (endpoint, "secret", 1, 2000);
        int n = 0;
        CHECK_EQ_INT (s3_list_all (s3, "b", "p/", 100000, s_count_objects, &n), RC_MALFORMED);
        CHECK (strstr (s3_error (s3), "truncated listing without a new continuation token"));
        CHECK_EQ_INT (atomic_load (&f.requests), want_requests [i]);
        s3_destroy (&s3);
        s_fake_stop (&f);
    }
}

static void
s_test_failure_paths (void)
{
    char endpoint [64];
    s_fake_t f;

    //  Streaming body with no Content-Length: cut off while reading, once past the cap.
    s_fake_start (&f, FAKE_CHUNKED, NULL);
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", f.port);
    s3_t *s3 = s_client (endpoint, "secret", 3, 5000);
    s_count_t cnt = { 0 };
    int rc = s3_get (s3, "b", "k", 10000, s_count_sink, &cnt);
    CHECK_EQ_INT (rc, RC_MALFORMED);
    CHECK (strstr (s3_error (s3), "exceeds size cap (more than 10000 bytes"));
    CHECK (cnt.bytes <= 10000);
    CHECK_EQ_INT (atomic_load (&f.requests), 1);        //  not retried
    //  A consumer may abort a transfer.
    rc = s3_get (s3, "b", "k", 1 << 30, s_abort_sink, NULL);
    CHECK_EQ_INT (rc, RC_ERR);
    CHECK (strstr (s3_error (s3), "aborted by the consumer"));
    s3_destroy (&s3);
    s_fake_stop (&f);

    //  5xx: transient, retried max_attempts times, S3 code kept.
    s_fake_start (&f, FAKE_503, NULL);
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", f.port);
    s3 = s_client (endpoint, "secret", 3, 5000);
    rc = s3_put (s3, "b", "k", "x", 1, NULL);
    CHECK_EQ_INT (rc, RC_RETRY);
    CHECK_EQ_INT (s3_status (s3), 503);
    CHECK_EQ_STR (s3_code (s3), "SlowDown");
    CHECK_EQ_INT (atomic_load (&f.requests), 3);
    s3_destroy (&s3);
    s_fake_stop (&f);

    //  A server that never answers: the total timeout fires, RC_RETRY, bounded retries.
    s_fake_start (&f, FAKE_HANG, NULL);
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", f.port);
    s3 = s_client (endpoint, "secret", 2, 300);
    int64_t t0 = clock_mono_ms ();
    s3_head_t h;
    rc = s3_head (s3, "b", "k", &h);
    int64_t ms = clock_mono_ms () - t0;
    CHECK_EQ_INT (rc, RC_RETRY);
    CHECK (strstr (s3_error (s3), "imeout") || strstr (s3_error (s3), "timed out"));
    CHECK (ms >= 550 && ms < 3000);
    s3_destroy (&s3);
    s_fake_stop (&f);
    CHECK_EQ_INT (atomic_load (&f.requests), 2);

    //  Nothing listening: connection refused is transient.
    int port = f.port;
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    s3 = s_client (endpoint, "secret", 2, 1000);
    rc = s3_delete (s3, "b", "k");
    CHECK_EQ_INT (rc, RC_RETRY);
    CHECK_EQ_INT (s3_status (s3), 0);
    s3_destroy (&s3);

    //  Invalid configuration and arguments.
    s3_config_t bad = { .endpoint = "ftp://x", .region = "r" };
    CHECK (s3_new (&bad) == NULL);
    bad.endpoint = "http://host/path";
    CHECK (s3_new (&bad) == NULL);
    bad.endpoint = "http://host:9000/";
    bad.region = NULL;
    CHECK (s3_new (&bad) == NULL);
    s3 = s_client ("http://127.0.0.1:1", "secret", 1, 1000);
    CHECK_EQ_INT (s3_put (s3, "bad/bucket", "k", "", 0, NULL), RC_ERR);
    CHECK_EQ_INT (s3_put (s3, "b", "", "", 0, NULL), RC_ERR);
    char longkey [S3_KEY_MAX + 2];
    memset (longkey, 'k', sizeof longkey - 1);
    longkey [sizeof longkey - 1] = 0;
    CHECK_EQ_INT (s3_put (s3, "b", longkey, "", 0, NULL), RC_ERR);
    CHECK (strstr (s3_error (s3), "invalid object key"));
    //  A content type with CR/LF cannot be smuggled into the headers.
    CHECK_EQ_INT (s3_put (s3, "b", "k", "", 0, "text/plain\r\nX-Evil: 1"), RC_ERR);
    s3_destroy (&s3);
}

//  --------------------------------------------------------------------------
//  Against the local S3 server

typedef struct {
    size_t count;
    char last [S3_KEY_MAX + 1];
    bool sorted;
} s_walk_t;

static int
s_walk (void *arg, const s3_object_t *o)
{
    s_walk_t *w = arg;
    if (w->count && strcmp (w->last, o->key) >= 0)
        w->sorted = false;
    snprintf (w->last, sizeof w->last, "%s", o->key);
    w->count++;
    return 0;
}

static bool
s_iso_ms (const char *s)
{
    //  2026-11-25T14:00:00.000Z
    if (strlen (s) != 24)
        return false;
    const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < 24; i++)
        if (pat [i] == 'd' ? !isdigit ((unsigned char) s [i]) : s [i] != pat [i])
            return false;
    return true;
}

static void
s_test_objects (s3_t *s3, const char *prefix)
{
    char key [512];
    //  An awkward key: space, plus, percent, tilde, equals, unicode, XML specials. (No "./"
    //  segment: s3rver stores keys as file paths and would normalise it away.)
    snprintf (key, sizeof key, "%sdir/a b+c%%d~e=f/\xc3\xa9\xe2\x98\xba&<x>.json", prefix);
    char body [3000];
    s_fill (body, sizeof body, 7);
    CHECK_EQ_INT (s3_put (s3, s_bucket, key, body, sizeof body, "application/json"), 0);
    CHECK_EQ_STR (s3_error (s3), "");

    char *data = NULL;
    size_t size = 0;
    CHECK_EQ_INT (s3_get_buffer (s3, s_bucket, key, 1 << 20, &data, &size), 0);
    CHECK_EQ_INT (size, sizeof body);
    CHECK_EQ_MEM (data, body, sizeof body);
    free (data);

    s3_head_t h;
    CHECK_EQ_INT (s3_head (s3, s_bucket, key, &h), 0);
    CHECK_EQ_INT (h.size, sizeof body);
    CHECK (h.etag [0] == '"' && strlen (h.etag) == 34);
    CHECK (strstr (h.last_modified, " GMT"));

    s3_list_query_t q = { .prefix = key };
    s3_list_page_t page;
    CHECK_EQ_INT (s3_list (s3, s_bucket, &q, &page), 0);
    CHECK_EQ_INT (page.nobjects, 1);
    CHECK_EQ_STR (page.objects [0].key, key);
    CHECK_EQ_INT (page.objects [0].size, sizeof body);
    CHECK_EQ_STR (page.objects [0].etag, h.etag);
    CHECK (s_iso_ms (page.objects [0].last_modified));
    CHECK (!page.is_truncated);
    s3_list_page_clear (&page);

    //  Size cap: checked from Content-Length before any byte is accepted.
    s_count_t cnt = { 0 };
    CHECK_EQ_INT (s3_get (s3, s_bucket, key, sizeof body - 1, s_count_sink, &cnt),
                  RC_MALFORMED);
    CHECK (strstr (s3_error (s3), "exceeds size cap (Content-Length 3000 > 2999"));
    CHECK_EQ_INT (cnt.bytes, 0);
    CHECK_EQ_INT (s3_get (s3, s_bucket, key, sizeof body, s_count_sink, &cnt), 0);
    CHECK_EQ_INT (cnt.bytes, sizeof body);

    //  Empty object.
    char ekey [600];
    snprintf (ekey, sizeof ekey, "%sempty", prefix);
    CHECK_EQ_INT (s3_put (s3, s_bucket, ekey, NULL, 0, NULL), 0);
    CHECK_EQ_INT (s3_get_buffer (s3, s_bucket, ekey, 10, &data, &size), 0);
    CHECK_EQ_INT (size, 0);
    CHECK_EQ_STR (data, "");
    free (data);

    //  Delete, then it is gone: 404 NoSuchKey on GET, 404 on HEAD.
    CHECK_EQ_INT (s3_delete (s3, s_bucket, key), 0);
    CHECK_EQ_INT (s3_get_buffer (s3, s_bucket, key, 1 << 20, &data, &size), RC_ERR);
    CHECK (data == NULL);
    CHECK_EQ_INT (s3_status (s3), 404);
    CHECK_EQ_STR (s3_code (s3), "NoSuchKey");
    CHECK (strstr (s3_error (s3), "HTTP 404 NoSuchKey"));
    CHECK_EQ_INT (s3_head (s3, s_bucket, key, &h), RC_ERR);
    CHECK_EQ_INT (s3_status (s3), 404);
    CHECK_EQ_INT (s3_delete (s3, s_bucket, ekey), 0);
}

typedef struct {
    const char *prefix;
    int first, step, n;
    int failures;
    pthread_t thread;
} s_putter_t;

static void *
s_putter_run (void *arg)
{
    s_putter_t *p = arg;
    s3_t *s3 = s_client (s_endpoint, s_sk, 3, 30000);
    for (int i = p->first; i < p->n; i += p->step) {
        char key [512], v [16];
        snprintf (key, sizeof key, "%smany/obj-%05d", p->prefix, i);
        int n = snprintf (v, sizeof v, "%d", i);
        if (s3_put (s3, s_bucket, key, v, (size_t) n, NULL) != 0) {
            fprintf (stderr, "put %s: %s\n", key, s3_error (s3));
            p->failures++;
        }
    }
    s3_destroy (&s3);
    return NULL;
}

static void
s_test_listing (s3_t *s3, const char *prefix)
{
    //  1,050 objects: more than one 1,000-key page. Written by a few threads, one client
    //  each (s3_t is per thread), to keep the test fast.
    enum { N = 1050, THREADS = 4 };
    char key [512];
    int64_t t0 = clock_mono_ms ();
    s_putter_t putters [THREADS];
    for (int t = 0; t < THREADS; t++) {
        putters [t] = (s_putter_t) { .prefix = prefix, .first = t, .step = THREADS, .n = N };
        CHECK (pthread_create (&putters [t].thread, NULL, s_putter_run, &putters [t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join (putters [t].thread, NULL);
        CHECK_EQ_INT (putters [t].failures, 0);
    }
    printf ("put %d objects in %lld ms\n", N, (long long) (clock_mono_ms () - t0));

    char mprefix [256];
    snprintf (mprefix, sizeof mprefix, "%smany/", prefix);
    s3_list_query_t q = { .prefix = mprefix };
    s3_list_page_t page;
    CHECK_EQ_INT (s3_list (s3, s_bucket, &q, &page), 0);
    CHECK_EQ_INT (page.nobjects, 1000);
    CHECK (page.is_truncated);
    CHECK (page.next_token && *page.next_token);
    snprintf (key, sizeof key, "%sobj-00000", mprefix);
    CHECK_EQ_STR (page.objects [0].key, key);
    CHECK_EQ_INT (page.objects [0].size, 1);
    char *token = strdup (page.next_token);
    s3_list_page_clear (&page);
    q.continuation_token = token;
    CHECK_EQ_INT (s3_list (s3, s_bucket, &q, &page), 0);
    CHECK_EQ_INT (page.nobjects, 50);
    CHECK (!page.is_truncated);
    snprintf (key, sizeof key, "%sobj-01049", mprefix);
    CHECK_EQ_STR (page.objects [49].key, key);
    CHECK_EQ_INT (page.objects [49].size, 4);
    s3_list_page_clear (&page);
    free (token);

    //  Small pages with max-keys, followed to the end.
    q.continuation_token = NULL;
    q.max_keys = 100;
    size_t total = 0;
    int pages = 0;
    char *next = NULL;
    while (true) {
        q.continuation_token = next;
        CHECK_EQ_INT (s3_list (s3, s_bucket, &q, &page), 0);
        CHECK (page.nobjects <= 100);
        total += page.nobjects;
        pages++;
        free (next);
        next = page.is_truncated ? strdup (page.next_token) : NULL;
        bool more = page.is_truncated;
        s3_list_page_clear (&page);
        if (!more)
            break;
        CHECK (pages < 20);
    }
    CHECK_EQ_INT (total, N);
    CHECK_EQ_INT (pages, 11);

    s_walk_t w = { .sorted = true };
    CHECK_EQ_INT (s3_list_all (s3, s_bucket, mprefix, 5000, s_walk, &w), 0);
    CHECK_EQ_INT (w.count, N);
    CHECK (w.sorted);
    //  The object bound stops a listing that is larger than the caller allows.
    w = (s_walk_t) { .sorted = true };
    CHECK_EQ_INT (s3_list_all (s3, s_bucket, mprefix, 1000, s_walk, &w), RC_MALFORMED);

    //  Delimiter: common prefixes.
    const char *names [] = { "d/x/1", "d/x/2", "d/y/1", "d/z" };
    for (size_t i = 0; i < 4; i++) {
        snprintf (key, sizeof key, "%s%s", prefix, names [i]);
        CHECK_EQ_INT (s3_put (s3, s_bucket, key, "v", 1, NULL), 0);
    }
    char dprefix [512];
    snprintf (dprefix, sizeof dprefix, "%sd/", prefix);
    s3_list_query_t dq = { .prefix = dprefix, .delimiter = "/" };
    CHECK_EQ_INT (s3_list (s3, s_bucket, &dq, &page), 0);
    CHECK_EQ_INT (page.nprefixes, 2);
    snprintf (key, sizeof key, "%sd/x/", prefix);
    CHECK_EQ_STR (page.prefixes [0], key);
    snprintf (key, sizeof key, "%sd/y/", prefix);
    CHECK_EQ_STR (page.prefixes [1], key);
    CHECK_EQ_INT (page.nobjects, 1);
    snprintf (key, sizeof key, "%sd/z", prefix);
    CHECK_EQ_STR (page.objects [0].key, key);
    s3_list_page_clear (&page);
}

typedef struct {
    char b [65536];
    size_t n;
} s_acc_t;

static int
s_acc (void *arg, const void *d, size_t n)
{
    s_acc_t *a = arg;
    if (a->n + n >= sizeof a->b)
        return -1;
    memcpy (a->b + a->n, d, n);
    a->n += n;
    return 0;
}

static void
s_test_auth (s3_t *s3, const char *prefix)
{
    char key [512];
    snprintf (key, sizeof key, "%sauth/obj +1.txt", prefix);
    CHECK_EQ_INT (s3_put (s3, s_bucket, key, "hello", 5, "text/plain"), 0);

    //  Wrong secret: refused with 403, not retried.
    s3_t *bad = s_client (s_endpoint, "not-the-secret", 3, 5000);
    CHECK_EQ_INT (s3_put (bad, s_bucket, key, "evil", 4, NULL), RC_ERR);
    CHECK_EQ_INT (s3_status (bad), 403);
    CHECK_EQ_STR (s3_code (bad), "SignatureDoesNotMatch");
    char *data;
    size_t size;
    CHECK_EQ_INT (s3_get_buffer (bad, s_bucket, key, 100, &data, &size), RC_ERR);
    CHECK_EQ_INT (s3_status (bad), 403);
    s3_destroy (&bad);
    CHECK_EQ_INT (s3_get_buffer (s3, s_bucket, key, 100, &data, &size), 0);
    CHECK_EQ_STR (data, "hello");
    free (data);

    //  Presigned GET works, with any client (no credentials needed).
    int64_t now = clock_wall_ms () / 1000;
    char *url = s3_presign_get (s3, s_bucket, key, 300, now);
    CHECK (url);
    s3_config_t anon_c = { .endpoint = s_endpoint, .region = s_region, .max_attempts = 1 };
    s3_t *anon = s3_new (&anon_c);
    CHECK (anon);
    s_count_t cnt = { 0 };
    CHECK_EQ_INT (s3_get_url (anon, url, 100, s_count_sink, &cnt), 0);
    CHECK_EQ_INT (cnt.bytes, 5);
    //  ... and signed requests need credentials.
    CHECK_EQ_INT (s3_head (anon, s_bucket, key, &(s3_head_t) { 0 }), RC_ERR);
    CHECK (strstr (s3_error (anon), "no credentials"));

    //  Tampered: another key, a longer expiry, a flipped signature digit.
    char *t = strdup (url);
    char *p = strstr (t, "obj%20%2B1");
    CHECK (p);
    p [3] = 'X';
    CHECK_EQ_INT (s3_get_url (anon, t, 100, s_count_sink, &cnt), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    free (t);
    t = strdup (url);
    p = strstr (t, "X-Amz-Expires=300");
    CHECK (p);
    p [15] = '9';
    CHECK_EQ_INT (s3_get_url (anon, t, 100, s_count_sink, &cnt), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    free (t);
    t = strdup (url);
    p = t + strlen (t) - 1;
    *p = *p == '0' ? '1' : '0';
    CHECK_EQ_INT (s3_get_url (anon, t, 100, s_count_sink, &cnt), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    CHECK_EQ_STR (s3_code (anon), "SignatureDoesNotMatch");
    free (t);
    free (url);
    //  Expired: signed two hours ago for one minute.
    url = s3_presign_get (s3, s_bucket, key, 60, now - 7200);
    CHECK_EQ_INT (s3_get_url (anon, url, 100, s_count_sink, &cnt), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    free (url);

    //  Presigned list.
    char lprefix [512];
    snprintf (lprefix, sizeof lprefix, "%sauth/", prefix);
    url = s3_presign_list (s3, s_bucket, lprefix, 300, now);
    CHECK (url);
    s_acc_t *acc = calloc (1, sizeof *acc);
    CHECK (acc);
    CHECK_EQ_INT (s3_get_url (anon, url, (int64_t) sizeof acc->b - 1, s_acc, acc), 0);
    s3_list_page_t page;
    const char *reason;
    CHECK_EQ_INT (s3_list_page_parse (acc->b, acc->n, &page, &reason), 0);
    CHECK_EQ_INT (page.nobjects, 1);
    CHECK_EQ_STR (page.objects [0].key, key);
    s3_list_page_clear (&page);
    free (acc);
    free (url);

    //  Presigned POST: inside the prefix and the size range it works.
    char pprefix [512];
    snprintf (pprefix, sizeof pprefix, "%spost/", prefix);
    sigv4_post_t *grant = s3_presign_post (s3, s_bucket, pprefix, 1, 1024, 300, now);
    CHECK (grant);
    char *post_url = s3_post_url (s3, s_bucket);
    size_t nfields;
    const sigv4_kv_t *fields = sigv4_post_fields (grant, &nfields);
    char pkey [600], body [2048];
    s_fill (body, sizeof body, 3);
    snprintf (pkey, sizeof pkey, "%sinside.json", pprefix);
    int rc = s3_post_upload (anon, post_url, fields, nfields, pkey, body, 1000);
    if (rc != 0)
        fprintf (stderr, "post: %s\n", s3_error (anon));
    CHECK_EQ_INT (rc, 0);
    CHECK_EQ_INT (s3_get_buffer (s3, s_bucket, pkey, 2000, &data, &size), 0);
    CHECK_EQ_INT (size, 1000);
    CHECK_EQ_MEM (data, body, 1000);
    free (data);

    //  Oversized (content-length-range).
    snprintf (pkey, sizeof pkey, "%sbig.json", pprefix);
    CHECK_EQ_INT (s3_post_upload (anon, post_url, fields, nfields, pkey, body, 1025), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 400);
    CHECK_EQ_STR (s3_code (anon), "EntityTooLarge");
    CHECK_EQ_INT (s3_head (s3, s_bucket, pkey, &(s3_head_t) { 0 }), RC_ERR);
    CHECK_EQ_INT (s3_status (s3), 404);

    //  Outside the granted prefix.
    snprintf (pkey, sizeof pkey, "%soutside.json", prefix);
    CHECK_EQ_INT (s3_post_upload (anon, post_url, fields, nfields, pkey, body, 10), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    CHECK_EQ_STR (s3_code (anon), "AccessDenied");
    CHECK_EQ_INT (s3_head (s3, s_bucket, pkey, &(s3_head_t) { 0 }), RC_ERR);
    sigv4_post_destroy (&grant);

    //  Expired policy: issued two hours ago for one minute.
    grant = s3_presign_post (s3, s_bucket, pprefix, 1, 1024, 60, now - 7200);
    CHECK (grant);
    fields = sigv4_post_fields (grant, &nfields);
    snprintf (pkey, sizeof pkey, "%slate.json", pprefix);
    CHECK_EQ_INT (s3_post_upload (anon, post_url, fields, nfields, pkey, body, 10), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    CHECK (strstr (s3_error (anon), "xpire"));
    sigv4_post_destroy (&grant);

    //  A grant signed with the wrong secret.
    s3_config_t wc = {
        .endpoint = s_endpoint, .region = s_region, .access_key = s_ak,
        .secret_key = "wrong", .path_style = true
    };
    s3_t *wrong = s3_new (&wc);
    grant = s3_presign_post (wrong, s_bucket, pprefix, 1, 1024, 300, now);
    fields = sigv4_post_fields (grant, &nfields);
    CHECK_EQ_INT (s3_post_upload (anon, post_url, fields, nfields, pkey, body, 10), RC_ERR);
    CHECK_EQ_INT (s3_status (anon), 403);
    sigv4_post_destroy (&grant);
    s3_destroy (&wrong);
    free (post_url);
    s3_destroy (&anon);
}

//  Writes objects and a manifest for test_s3_awscli.sh.
static int
s_awscli_mode (s3_t *s3, const char *dir, const char *prefix)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/manifest", dir);
    FILE *m = fopen (path, "w");
    CHECK (m);
    fprintf (m, "%s\n", prefix);
    const char *names [] = {
        "plain.json", "sp ace+plus%pct~tilde=eq.bin", "d\xc3\xa9j\xc3\xa0/\xe2\x98\xba.txt",
        "nested/a/b/c.json", "big.bin"
    };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        size_t n = i == 4 ? 3 * 1024 * 1024 + 17 : 100 + i * 1000;
        char *body = malloc (n);
        CHECK (body);
        s_fill (body, n, (unsigned) i + 11);
        char key [600];
        snprintf (key, sizeof key, "%s%s", prefix, names [i]);
        CHECK_EQ_INT (s3_put (s3, s_bucket, key, body, n, NULL), 0);
        snprintf (path, sizeof path, "%s/obj%zu", dir, i);
        FILE *f = fopen (path, "wb");
        CHECK (f);
        CHECK_EQ_INT (fwrite (body, 1, n, f), n);
        fclose (f);
        fprintf (m, "%s\t%s\n", key, path);
        free (body);
    }
    fclose (m);
    printf ("awscli fixtures written to %s\n", dir);
    return 0;
}

int
main (void)
{
    s_endpoint = TEST_ENV ("ZM_TEST_S3_ENDPOINT");
    s_region = TEST_ENV ("ZM_TEST_S3_REGION");
    s_ak = TEST_ENV ("ZM_TEST_S3_ACCESS_KEY");
    s_sk = TEST_ENV ("ZM_TEST_S3_SECRET_KEY");
    s_bucket = TEST_ENV ("ZM_TEST_S3_BUCKET");

    //  Threads below each run a client: initialise libcurl before any exists.
    CHECK (curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK);
    char prefix [128];
    snprintf (prefix, sizeof prefix, "zmtest-%d-%lld/", (int) getpid (),
              (long long) clock_wall_ms ());
    s3_t *s3 = s_client (s_endpoint, s_sk, 3, 30000);

    const char *awscli = getenv ("ZM_S3_AWSCLI_DIR");
    if (awscli && *awscli) {
        int rc = s_awscli_mode (s3, awscli, prefix);
        s3_destroy (&s3);
        return rc;
    }

    //  Create a bucket, and creating it again is not an error.
    char bucket [64];
    snprintf (bucket, sizeof bucket, "zmtest-%d", (int) getpid ());
    CHECK_EQ_INT (s3_create_bucket (s3, bucket), 0);
    CHECK_EQ_INT (s3_put (s3, bucket, "k", "v", 1, NULL), 0);
    CHECK_EQ_INT (s3_delete (s3, bucket, "k"), 0);
    //  A bucket that does not exist.
    CHECK_EQ_INT (s3_put (s3, "zm-no-such-bucket", "k", "v", 1, NULL), RC_ERR);
    CHECK_EQ_INT (s3_status (s3), 404);
    CHECK_EQ_STR (s3_code (s3), "NoSuchBucket");

    s_test_objects (s3, prefix);
    s_test_listing (s3, prefix);
    s_test_auth (s3, prefix);
    s3_destroy (&s3);
    s_test_failure_paths ();
    s_test_addressing ();
    s_test_endless_listing ();
    curl_global_cleanup ();
    TEST_DONE ();
}
