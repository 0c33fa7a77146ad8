/*  httpd: a real server on a loopback port, driven by raw sockets: routing (exact, prefix,
    longest match), 404/405 JSON errors with Allow, query arguments and headers, bodies up to
    the cap and 413 beyond it (announced and chunked), a handler that forgets to answer (500),
    extra headers, hostile input (huge URL, huge headers, garbage, a silent client), metrics
    flushed into a registry, port 0, both threading modes, a second server on a busy port.  */
#include "common/httpd.h"
#include "common/metrics.h"
#include "tests/testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  Sends raw bytes to 127.0.0.1:port, reads the answer until the server closes (or 5 s), and
//  returns the status code (0 when there was no HTTP answer). *out gets the whole answer.
static int
s_raw (int port, const char *request, size_t len, char *out, size_t outsize)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    CHECK (fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    CHECK (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0);
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send (fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;                  //  the server may close early (413, 431): fine
        sent += (size_t) n;
    }
    size_t got = 0;
    while (got + 1 < outsize) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll (&p, 1, 5000) <= 0)
            break;
        ssize_t n = recv (fd, out + got, outsize - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    out [got] = 0;
    close (fd);
    int status = 0;
    if (sscanf (out, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

static int
s_get_h (int port, const char *path, const char *headers, char *out, size_t outsize)
{
    char req [4096];
    snprintf (req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n",
              path, headers);
    return s_raw (port, req, strlen (req), out, outsize);
}

static int
s_get (int port, const char *path, char *out, size_t outsize)
{
    return s_get_h (port, path, "", out, outsize);
}

static const char *
s_body (const char *answer)
{
    const char *b = strstr (answer, "\r\n\r\n");
    return b ? b + 4 : "";
}

//  ---------------------------------------------------------------------------------------
//  Handlers

static void
s_echo (httpd_req_t *req, void *arg)
{
    (void) arg;
    const char *q = httpd_req_query (req, "q");
    const char *h = httpd_req_header (req, "x-test");
    size_t blen;
    const char *body = httpd_req_body (req, &blen);
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s*, s:s*, s:I, s:s, s:b}",
                             "method", httpd_req_method (req), "path", httpd_req_path (req),
                             "rest", httpd_req_rest (req), "q", q, "h", h,
                             "len", (json_int_t) blen, "client", httpd_req_client (req),
                             "flag", httpd_req_query (req, "flag") != NULL);
    CHECK (doc);
    json_object_set_new (doc, "body", json_stringn (body, blen));
    httpd_add_header (req, "X-Extra", "yes");
    CHECK (httpd_add_header (req, "Bad", "a\r\nInjected: 1") == -1);
    httpd_respond_json (req, 200, doc);
    httpd_respond (req, 500, "text/plain", "second answer ignored", 21);
    json_decref (doc);
}

static void
s_items (httpd_req_t *req, void *arg)
{
    (void) arg;
    httpd_respond (req, 200, "text/plain", "items", 5);
}

static void
s_items_special (httpd_req_t *req, void *arg)
{
    (void) arg;
    httpd_respond (req, 200, "text/plain", "special", 7);
}

static void
s_forgetful (httpd_req_t *req, void *arg)
{
    (void) req;
    (void) arg;
}

static void
s_hello (httpd_req_t *req, void *arg)
{
    httpd_respond (req, 200, "text/plain", (const char *) arg, strlen ((const char *) arg));
}

static httpd_t *
s_server (unsigned threads, size_t max_body)
{
    httpd_opts_t opts = httpd_opts_default ();
    opts.threads = threads;
    opts.max_body = max_body;
    opts.max_header = 8192;
    opts.timeout_s = 2;
    httpd_t *h = httpd_new (&opts);
    CHECK (h);
    CHECK_EQ_INT (httpd_route (h, "GET", "/echo", "echo", s_echo, NULL), 0);
    CHECK_EQ_INT (httpd_route (h, "POST", "/echo", "echo", s_echo, NULL), 0);
    CHECK_EQ_INT (httpd_route (h, "GET", "/items/", "items", s_items, NULL), 0);
    CHECK_EQ_INT (httpd_route (h, "GET", "/items/special/", "special", s_items_special, NULL), 0);
    CHECK_EQ_INT (httpd_route (h, "GET", "/forgetful", "forgetful", s_forgetful, NULL), 0);
    CHECK_EQ_INT (httpd_route (h, "GET", "no-slash", "x", s_forgetful, NULL), -1);
    CHECK_EQ_INT (httpd_port (h), 0);
    CHECK_EQ_INT (httpd_start (h), 0);
    CHECK (httpd_port (h) > 0);
    CHECK_EQ_INT (httpd_route (h, "GET", "/late", "late", s_forgetful, NULL), -1);
    return h;
}

static void
s_test_server (unsigned threads)
{
    httpd_t *h = s_server (threads, 1000);
    int port = httpd_port (h);
    static char out [300000];
    json_error_t jerr;

    //  Exact route, query argument (percent-decoded), header, client address.
    CHECK_EQ_INT (s_get_h (port, "/echo?q=a%20b&flag", "X-Test: hello\r\n", out, sizeof out), 200);
    CHECK (strstr (out, "X-Extra: yes"));
    CHECK (strstr (out, "Content-Type: application/json"));
    CHECK (!strstr (out, "Injected"));
    json_t *doc = json_loads (s_body (out), 0, &jerr);
    CHECK (doc);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "q")), "a b");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "h")), "hello");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "client")), "127.0.0.1");
    CHECK (json_is_true (json_object_get (doc, "flag")));
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "rest")), "");
    json_decref (doc);

    //  Absent query argument and header.
    CHECK_EQ_INT (s_get (port, "/echo", out, sizeof out), 200);
    doc = json_loads (s_body (out), 0, &jerr);
    CHECK (doc && !json_object_get (doc, "q") && !json_object_get (doc, "h"));
    CHECK (json_is_false (json_object_get (doc, "flag")));
    json_decref (doc);

    //  Prefix routes, longest match wins; the prefix itself matches with an empty rest.
    CHECK_EQ_INT (s_get (port, "/items/42", out, sizeof out), 200);
    CHECK_EQ_STR (s_body (out), "items");
    CHECK_EQ_INT (s_get (port, "/items/special/7", out, sizeof out), 200);
    CHECK_EQ_STR (s_body (out), "special");
    CHECK_EQ_INT (s_get (port, "/items/", out, sizeof out), 200);
    CHECK_EQ_INT (s_get (port, "/items", out, sizeof out), 404);

    //  404 and 405 as JSON errors.
    CHECK_EQ_INT (s_get (port, "/nope", out, sizeof out), 404);
    doc = json_loads (s_body (out), 0, &jerr);
    CHECK (doc);
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "statusCode")), 404);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "error")), "Not Found");
    CHECK (json_is_string (json_object_get (doc, "message")));
    json_decref (doc);
    const char *del = "DELETE /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    CHECK_EQ_INT (s_raw (port, del, strlen (del), out, sizeof out), 405);
    CHECK (strstr (out, "Allow: GET, POST"));
    CHECK (strstr (s_body (out), "\"error\":\"Method Not Allowed\""));

    //  Handler without an answer: 500.
    CHECK_EQ_INT (s_get (port, "/forgetful", out, sizeof out), 500);
    CHECK (strstr (s_body (out), "\"statusCode\":500"));

    //  Bodies: within the cap echoed; over it 413 (announced, and chunked).
    const char *post = "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Content-Length: 11\r\n\r\nhello world";
    CHECK_EQ_INT (s_raw (port, post, strlen (post), out, sizeof out), 200);
    CHECK (strstr (s_body (out), "\"body\":\"hello world\""));
    char big [4096];
    int n = snprintf (big, sizeof big, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: 2000\r\n\r\n");
    memset (big + n, 'a', 2000);
    CHECK_EQ_INT (s_raw (port, big, (size_t) n + 2000, out, sizeof out), 413);
    CHECK (strstr (s_body (out), "\"statusCode\":413"));
    const char *huge_cl = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nab";
    CHECK_EQ_INT (s_raw (port, huge_cl, strlen (huge_cl), out, sizeof out), 413);
    n = snprintf (big, sizeof big, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++)
        n += snprintf (big + n, sizeof big - (size_t) n, "12c\r\n%0300d\r\n", 0);
    n += snprintf (big + n, sizeof big - (size_t) n, "0\r\n\r\n");
    int st = s_raw (port, big, (size_t) n, out, sizeof out);
    CHECK_EQ_INT (st, 413);
    CHECK (strstr (s_body (out), "\"statusCode\":413"));
    //  A chunked body far beyond the cap (and the 1 MiB discard allowance): closed unanswered.
    static char endless [1300000];
    n = snprintf (endless, sizeof endless, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n");
    while ((size_t) n + 70000 < sizeof endless) {
        n += snprintf (endless + n, sizeof endless - (size_t) n, "%x\r\n", 65536);
        memset (endless + n, 'z', 65536);
        n += 65536;
        n += snprintf (endless + n, sizeof endless - (size_t) n, "\r\n");
    }
    st = s_raw (port, endless, (size_t) n, out, sizeof out);
    CHECK_EQ_INT (st, 0);
    //  The server still answers afterwards.
    CHECK_EQ_INT (s_get (port, "/items/1", out, sizeof out), 200);

    //  Hostile: a URL beyond the header cap, headers beyond it, garbage, a silent client.
    static char hostile [200000];
    memset (hostile, 'a', sizeof hostile);
    memcpy (hostile, "GET /", 5);
    memcpy (hostile + 100000, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
    st = s_raw (port, hostile, 100023, out, sizeof out);
    CHECK (st == 414 || st == 431 || st == 400 || st == 0);
    n = snprintf (hostile, sizeof hostile, "GET /echo HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 2000; i++)
        n += snprintf (hostile + n, sizeof hostile - (size_t) n, "X-H%d: %040d\r\n", i, i);
    n += snprintf (hostile + n, sizeof hostile - (size_t) n, "\r\n");
    st = s_raw (port, hostile, (size_t) n, out, sizeof out);
    CHECK (st == 431 || st == 400 || st == 0);
    const char garbage [] = "\x00\x01\x02\xff\xfe garbage \r\n\r\n";
    st = s_raw (port, garbage, sizeof garbage - 1, out, sizeof out);
    CHECK (st == 400 || st == 0);
    const char *bad_version = "GET /echo HTTP/9.9\r\nHost: x\r\n\r\n";
    st = s_raw (port, bad_version, strlen (bad_version), out, sizeof out);
    CHECK (st != 200);
    //  A client that connects and says nothing is dropped after timeout_s (2 s).
    int64_t t0 = (int64_t) time (NULL);
    st = s_raw (port, "", 0, out, sizeof out);
    CHECK_EQ_INT (st, 0);
    CHECK ((int64_t) time (NULL) - t0 <= 4);
    CHECK_EQ_INT (s_get (port, "/echo?q=still-alive", out, sizeof out), 200);

    //  Metrics: counts by route and code, latency observed, "unmatched" for unknown paths.
    metrics_t *reg = metrics_new ();
    CHECK (reg);
    httpd_metrics_flush (h, reg);
    char *text = metrics_render (reg, NULL);
    CHECK (text);
    if (getenv ("TEST_VERBOSE"))
        fputs (text, stderr);
    CHECK (strstr (text, "zipmine_http_requests_total{route=\"echo\",code=\"200\"} 4"));
    CHECK (strstr (text, "zipmine_http_requests_total{route=\"echo\",code=\"413\"}"));
    CHECK (strstr (text, "zipmine_http_requests_total{route=\"unmatched\",code=\"404\"} 2"));
    CHECK (strstr (text, "zipmine_http_requests_total{route=\"forgetful\",code=\"500\"} 1"));
    CHECK (strstr (text, "zipmine_http_requests_total{route=\"special\",code=\"200\"} 1"));
    CHECK (strstr (text, "zipmine_http_request_seconds_count{route=\"items\"} 3"));
    CHECK (strstr (text, "zipmine_http_request_seconds_total{route=\"items\"} "));
    CHECK (strstr (text, "zipmine_http_latency_dropped_total 0"));
    free (text);
    //  A second flush adds nothing new and keeps the counters.
    httpd_metrics_flush (h, reg);
    text = metrics_render (reg, NULL);
    CHECK (strstr (text, "zipmine_http_requests_total{route=\"echo\",code=\"200\"} 4"));
    CHECK (strstr (text, "zipmine_http_request_seconds_count{route=\"items\"} 3"));
    free (text);
    metrics_destroy (&reg);

    CHECK (!httpd_stopping (h));
    httpd_stop (h);
    CHECK (httpd_stopping (h));
    CHECK_EQ_INT (httpd_port (h), 0);
    httpd_stop (h);
    httpd_destroy (&h);
    CHECK (h == NULL);
    httpd_destroy (&h);
}

static void
s_test_misc (void)
{
    static char out [65536];
    //  A bad bind address or options are refused.
    httpd_opts_t opts = httpd_opts_default ();
    opts.bind = "not-an-address";
    httpd_t *h = httpd_new (&opts);
    CHECK (h);
    CHECK_EQ_INT (httpd_start (h), -1);
    httpd_destroy (&h);
    opts = httpd_opts_default ();
    opts.max_header = 100;
    CHECK (httpd_new (&opts) == NULL);

    //  A port in use: the second server fails to start, the first keeps serving.
    opts = httpd_opts_default ();
    httpd_t *a = httpd_new (&opts);
    CHECK (a);
    CHECK_EQ_INT (httpd_route (a, "GET", "/", "root", s_hello, "first"), 0);
    CHECK_EQ_INT (httpd_start (a), 0);
    opts.port = httpd_port (a);
    httpd_t *b = httpd_new (&opts);
    CHECK (b);
    CHECK_EQ_INT (httpd_start (b), -1);
    CHECK_EQ_INT (s_get (opts.port, "/", out, sizeof out), 200);
    CHECK_EQ_STR (s_body (out), "first");
    httpd_destroy (&b);
    httpd_destroy (&a);

    //  IPv6 loopback binds (when the host has it, which the test machines do).
    opts = httpd_opts_default ();
    opts.bind = "::1";
    h = httpd_new (&opts);
    CHECK (h);
    CHECK_EQ_INT (httpd_start (h), 0);
    CHECK (httpd_port (h) > 0);
    httpd_destroy (&h);

    CHECK_EQ_STR (httpd_status_reason (429), "Too Many Requests");
    CHECK_EQ_STR (httpd_status_reason (299), "Error");
}

int
main (void)
{
    s_test_server (0);          //  thread per connection
    s_test_server (2);          //  pool
    s_test_misc ();
    TEST_DONE ();
}
