/*  test_http: common/http against a real HTTP server (libmicrohttpd, a thread per
    connection) that plays a script of responses and records when each request came.

    Proves: headers and bodies travel both ways and connections are reused; 503 and 429 are
    retried and Retry-After (seconds and HTTP date) is honoured, measured between requests,
    and capped; 400/404 are never retried; a transient failure that lasts gives RC_RETRY
    after exactly max_attempts, with the last response; a wait past the deadline is not
    started; the per-attempt timeout fires; the body cap holds against Content-Length and
    against chunked bodies; a refused connection gives RC_RETRY after bounded attempts;
    cancel stops a wait; URL encoding.                                                       */
#include "common/http.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STEPS 16

typedef struct {
    unsigned status;
    const char *body;           //  NULL: body_size bytes of 'x'
    size_t body_size;
    bool chunked;               //  no Content-Length: chunked transfer
    const char *retry_after;
    int delay_ms;
} step_t;

typedef struct {
    pthread_mutex_t lock;
    step_t steps [MAX_STEPS];
    int nsteps;
    int next;
    int requests;
    int64_t at [MAX_STEPS * 2];         //  monotonic ms of each request
    unsigned client_port [MAX_STEPS * 2];
    char method [16];
    char body [256];
    char header [128];                  //  the request's X-Test header
    char content_type [64];
} script_t;

typedef struct {
    char body [256];
    size_t len;
    bool seen;
} conn_state_t;

typedef struct {
    size_t left;
} chunk_state_t;

static ssize_t
s_chunk_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    chunk_state_t *state = cls;
    if (state->left == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = state->left < max ? state->left : max;
    if (n > 700)
        n = 700;                        //  many small chunks
    memset (buf, 'y', n);
    state->left -= n;
    return (ssize_t) n;
}

static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void) url; (void) version;
    script_t *script = cls;
    conn_state_t *state = *con_cls;
    if (!state) {
        state = calloc (1, sizeof *state);
        *con_cls = state;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (n > sizeof state->body - 1 - state->len)
            n = sizeof state->body - 1 - state->len;
        memcpy (state->body + state->len, upload_data, n);
        state->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    step_t step = { .status = 500, .body = "script exhausted" };
    pthread_mutex_lock (&script->lock);
    int idx = script->requests++;
    if (idx < MAX_STEPS * 2) {
        script->at [idx] = clock_mono_ms ();
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr_in *sin = (const struct sockaddr_in *) info->client_addr;
        script->client_port [idx] = ntohs (sin->sin_port);
    }
    if (script->next < script->nsteps)
        step = script->steps [script->next++];
    snprintf (script->method, sizeof script->method, "%s", method);
    snprintf (script->body, sizeof script->body, "%.*s", (int) state->len, state->body);
    const char *h = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Test");
    snprintf (script->header, sizeof script->header, "%s", h ? h : "");
    h = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Content-Type");
    snprintf (script->content_type, sizeof script->content_type, "%s", h ? h : "");
    pthread_mutex_unlock (&script->lock);

    if (step.delay_ms)
        usleep ((useconds_t) step.delay_ms * 1000);
    struct MHD_Response *resp;
    if (step.chunked) {
        chunk_state_t *cs = calloc (1, sizeof *cs);
        cs->left = step.body_size;
        resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 1024, s_chunk_reader, cs,
                                                  free);
    }
    else
    if (step.body)
        resp = MHD_create_response_from_buffer (strlen (step.body), (void *) step.body,
                                                MHD_RESPMEM_MUST_COPY);
    else {
        char *big = malloc (step.body_size);
        memset (big, 'x', step.body_size);
        resp = MHD_create_response_from_buffer (step.body_size, big, MHD_RESPMEM_MUST_FREE);
    }
    if (step.retry_after)
        MHD_add_response_header (resp, "Retry-After", step.retry_after);
    MHD_add_response_header (resp, "X-Reply", "scripted");
    enum MHD_Result ret = MHD_queue_response (conn, step.status, resp);
    MHD_destroy_response (resp);
    return ret;
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls; (void) conn; (void) toe;
    free (*con_cls);
    *con_cls = NULL;
}

static script_t s_script;
static char s_base [64];

static void
s_play (const step_t *steps, int n)
{
    pthread_mutex_lock (&s_script.lock);
    memcpy (s_script.steps, steps, (size_t) n * sizeof *steps);
    s_script.nsteps = n;
    s_script.next = 0;
    s_script.requests = 0;
    pthread_mutex_unlock (&s_script.lock);
}

static int
s_requests (void)
{
    pthread_mutex_lock (&s_script.lock);
    int n = s_script.requests;
    pthread_mutex_unlock (&s_script.lock);
    return n;
}

static http_t *
s_client (int max_attempts, int64_t timeout_ms, size_t max_body)
{
    http_options_t opts;
    http_options_defaults (&opts);
    opts.max_attempts = max_attempts;
    opts.timeout_ms = timeout_ms;
    opts.max_body = max_body;
    opts.backoff_base_ms = 20;
    opts.backoff_cap_ms = 100;
    opts.deadline_ms = 10000;
    http_t *http = http_new (&opts);
    CHECK (http);
    return http;
}

static void
s_test_basics (void)
{
    http_t *http = s_client (3, 5000, 1 << 20);
    s_play ((step_t []) {
        { .status = 200, .body = "hello" },
        { .status = 201, .body = "{\"ok\":true}" },
        { .status = 204, .body = "" },
    }, 3);
    http_response_t *resp = NULL;
    const char *headers [] = { "X-Test: first", NULL };
    char url [128];
    snprintf (url, sizeof url, "%s/a?sig=secret", s_base);
    CHECK_EQ_INT (http_get (http, url, headers, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    size_t len = 0;
    CHECK_EQ_STR (http_response_body (resp, &len), "hello");
    CHECK_EQ_INT (len, 5);
    CHECK_EQ_STR (http_response_header (resp, "x-reply"), "scripted");
    CHECK_EQ_STR (http_response_header (resp, "X-REPLY"), "scripted");
    CHECK (http_response_header (resp, "X-Absent") == NULL);
    CHECK_EQ_STR (s_script.method, "GET");
    CHECK_EQ_STR (s_script.header, "first");
    CHECK_EQ_INT (http_attempts (http), 1);
    http_response_destroy (&resp);
    http_response_destroy (&resp);

    const char *json [] = { "Content-Type: application/json", NULL };
    CHECK_EQ_INT (http_post (http, url, json, "{\"a\":1}", 7, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 201);
    CHECK_EQ_STR (s_script.method, "POST");
    CHECK_EQ_STR (s_script.body, "{\"a\":1}");
    CHECK_EQ_STR (s_script.content_type, "application/json");
    char *body = http_response_take_body (resp, &len);
    CHECK_EQ_STR (body, "{\"ok\":true}");
    free (body);
    CHECK_EQ_INT (http_response_body (resp, &len) [0], 0);
    http_response_destroy (&resp);

    //  any method, a body without a type gets none invented
    http_request_t req = { .method = "PUT", .url = url, .body = "raw", .body_len = 3 };
    CHECK_EQ_INT (http_request (http, &req, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 204);
    CHECK_EQ_STR (s_script.method, "PUT");
    CHECK_EQ_STR (s_script.body, "raw");
    CHECK_EQ_STR (s_script.content_type, "");
    http_response_destroy (&resp);

    //  one connection served all three
    CHECK_EQ_INT (s_requests (), 3);
    CHECK (s_script.client_port [0] == s_script.client_port [1]);
    CHECK (s_script.client_port [1] == s_script.client_port [2]);
    http_destroy (&http);
    http_destroy (&http);
}

static void
s_test_retries (void)
{
    http_t *http = s_client (4, 5000, 1 << 20);
    http_response_t *resp = NULL;
    char url [128];
    snprintf (url, sizeof url, "%s/retry", s_base);

    //  503, 503, then 200
    s_play ((step_t []) {
        { .status = 503, .body = "busy" }, { .status = 503, .body = "busy" },
        { .status = 200, .body = "done" },
    }, 3);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    CHECK_EQ_STR (http_response_body (resp, NULL), "done");
    CHECK_EQ_INT (http_attempts (http), 3);
    CHECK_EQ_INT (s_requests (), 3);
    http_response_destroy (&resp);

    //  429 with Retry-After: 1 second, measured between the two requests
    s_play ((step_t []) {
        { .status = 429, .body = "slow down", .retry_after = "1" },
        { .status = 200, .body = "ok" },
    }, 2);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    int64_t gap = s_script.at [1] - s_script.at [0];
    printf ("Retry-After 1: requests %" PRId64 " ms apart\n", gap);
    CHECK (gap >= 950 && gap < 2500);
    CHECK (http_waited_ms (http) >= 990);
    http_response_destroy (&resp);

    //  Retry-After as an HTTP date two seconds ahead (1-second resolution: 1..2 s)
    char date [64];
    time_t when = time (NULL) + 2;
    struct tm tm;
    gmtime_r (&when, &tm);
    strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    s_play ((step_t []) {
        { .status = 503, .body = "x", .retry_after = date },
        { .status = 200, .body = "ok" },
    }, 2);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    gap = s_script.at [1] - s_script.at [0];
    printf ("Retry-After date +2 s: requests %" PRId64 " ms apart\n", gap);
    CHECK (gap >= 900 && gap < 3500);
    http_response_destroy (&resp);

    //  a huge Retry-After is capped
    http_options_t opts;
    http_options_defaults (&opts);
    opts.retry_after_cap_ms = 300;
    http_t *capped = http_new (&opts);
    s_play ((step_t []) {
        { .status = 429, .body = "x", .retry_after = "3600" },
        { .status = 200, .body = "ok" },
    }, 2);
    CHECK_EQ_INT (http_get (capped, url, NULL, &resp), 0);
    gap = s_script.at [1] - s_script.at [0];
    CHECK (gap >= 280 && gap < 1500);
    http_response_destroy (&resp);
    http_destroy (&capped);

    //  ... and one past the deadline is not waited for at all
    opts.retry_after_cap_ms = 60000;
    opts.deadline_ms = 1000;
    http_t *short_deadline = http_new (&opts);
    s_play ((step_t []) { { .status = 503, .body = "x", .retry_after = "30" } }, 1);
    int64_t started = clock_mono_ms ();
    CHECK_EQ_INT (http_get (short_deadline, url, NULL, &resp), RC_RETRY);
    CHECK (clock_mono_ms () - started < 1000);     //  not 30 s
    CHECK (strstr (http_error (short_deadline), "deadline"));
    CHECK_EQ_INT (http_response_status (resp), 503);
    http_response_destroy (&resp);
    http_destroy (&short_deadline);

    //  400 and 404 are final: one request each
    s_play ((step_t []) { { .status = 400, .body = "{\"message\":\"bad\"}" } }, 1);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 400);
    CHECK_EQ_STR (http_response_body (resp, NULL), "{\"message\":\"bad\"}");
    CHECK_EQ_INT (s_requests (), 1);
    CHECK_EQ_INT (http_attempts (http), 1);
    http_response_destroy (&resp);
    s_play ((step_t []) { { .status = 404, .body = "" }, { .status = 200, .body = "" } }, 2);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 404);
    CHECK_EQ_INT (s_requests (), 1);
    http_response_destroy (&resp);

    //  a 503 that lasts: RC_RETRY after exactly max_attempts, with the last response
    s_play ((step_t []) {
        { .status = 503, .body = "1" }, { .status = 502, .body = "2" },
        { .status = 503, .body = "3" }, { .status = 500, .body = "4" },
        { .status = 200, .body = "never reached" },
    }, 5);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), RC_RETRY);
    CHECK_EQ_INT (s_requests (), 4);
    CHECK_EQ_INT (http_attempts (http), 4);
    CHECK_EQ_INT (http_response_status (resp), 500);
    CHECK_EQ_STR (http_response_body (resp, NULL), "4");
    CHECK (strstr (http_error (http), "HTTP 500"));
    http_response_destroy (&resp);

    //  a retried POST sends its body again
    s_play ((step_t []) { { .status = 502, .body = "" }, { .status = 200, .body = "ok" } }, 2);
    CHECK_EQ_INT (http_post (http, url, NULL, "again", 5, &resp), 0);
    CHECK_EQ_INT (s_requests (), 2);
    CHECK_EQ_STR (s_script.body, "again");
    http_response_destroy (&resp);

    //  a call that must not repeat
    s_play ((step_t []) { { .status = 503, .body = "" }, { .status = 200, .body = "" } }, 2);
    http_request_t once = { .method = "POST", .url = url, .body = "x", .body_len = 1,
                            .max_attempts = 1 };
    CHECK_EQ_INT (http_request (http, &once, &resp), RC_RETRY);
    CHECK_EQ_INT (s_requests (), 1);
    http_response_destroy (&resp);
    http_destroy (&http);
}

static void
s_test_timeout (void)
{
    http_t *http = s_client (1, 300, 1 << 20);
    char url [128];
    snprintf (url, sizeof url, "%s/slow", s_base);
    s_play ((step_t []) { { .status = 200, .body = "late", .delay_ms = 1500 } }, 1);
    http_response_t *resp = NULL;
    int64_t started = clock_mono_ms ();
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), RC_RETRY);
    int64_t took = clock_mono_ms () - started;
    printf ("timeout 300 ms fired after %" PRId64 " ms\n", took);
    CHECK (took >= 280 && took < 1300);           //  not 1.5 s
    CHECK (resp == NULL);
    CHECK (strstr (http_error (http), "imed out") || strstr (http_error (http), "imeout"));
    http_destroy (&http);
    usleep (1300 * 1000);       //  let the server's slow reply finish before the next script
}

static void
s_test_body_cap (void)
{
    http_t *http = s_client (3, 5000, 1000);
    char url [128];
    snprintf (url, sizeof url, "%s/big", s_base);
    http_response_t *resp = NULL;

    //  exactly the cap is fine
    s_play ((step_t []) { { .status = 200, .body_size = 1000 } }, 1);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    size_t len = 0;
    http_response_body (resp, &len);
    CHECK_EQ_INT (len, 1000);
    http_response_destroy (&resp);

    //  Content-Length over the cap: refused from the header, never retried
    s_play ((step_t []) { { .status = 200, .body_size = 5000 }, { .status = 200, .body = "" } },
            2);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), RC_MALFORMED);
    CHECK (resp == NULL);
    CHECK (strstr (http_error (http), "Content-Length 5000 exceeds the limit of 1000"));
    CHECK_EQ_INT (s_requests (), 1);

    //  chunked, no Content-Length: cut off while reading
    s_play ((step_t []) { { .status = 200, .chunked = true, .body_size = 200000 } }, 1);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), RC_MALFORMED);
    CHECK (strstr (http_error (http), "response body exceeds the limit of 1000"));
    CHECK (resp == NULL);

    //  chunked within the cap arrives whole
    s_play ((step_t []) { { .status = 200, .chunked = true, .body_size = 999 } }, 1);
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    http_response_body (resp, &len);
    CHECK_EQ_INT (len, 999);
    CHECK (http_response_header (resp, "Content-Length") == NULL);
    http_response_destroy (&resp);

    //  HEAD: the Content-Length of a big object is no reason to refuse
    s_play ((step_t []) { { .status = 200, .body_size = 5000 } }, 1);
    http_request_t head = { .method = "HEAD", .url = url };
    CHECK_EQ_INT (http_request (http, &head, &resp), 0);
    CHECK_EQ_STR (http_response_header (resp, "Content-Length"), "5000");
    http_response_destroy (&resp);
    http_destroy (&http);
}

static bool
s_cancel_after (void *arg)
{
    return clock_mono_ms () >= *(int64_t *) arg;
}

static void
s_test_refused (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)
    };
    CHECK (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0);
    socklen_t alen = sizeof addr;
    CHECK (getsockname (fd, (struct sockaddr *) &addr, &alen) == 0);
    close (fd);
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/x", ntohs (addr.sin_port));

    http_t *http = s_client (3, 2000, 1000);
    http_response_t *resp = NULL;
    int64_t started = clock_mono_ms ();
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), RC_RETRY);
    int64_t took = clock_mono_ms () - started;
    CHECK (resp == NULL);
    CHECK_EQ_INT (http_attempts (http), 3);
    //  two backoff waits: [10,20] + [20,40] ms with base 20
    CHECK (http_waited_ms (http) >= 30 && took < 2000);
    CHECK (strstr (http_error (http), "127.0.0.1"));

    //  cancel interrupts a long wait
    http_options_t opts;
    http_options_defaults (&opts);
    opts.backoff_base_ms = 5000;
    opts.backoff_cap_ms = 5000;
    http_t *slow = http_new (&opts);
    int64_t stop_at = clock_mono_ms () + 300;
    http_set_cancel (slow, s_cancel_after, &stop_at);
    started = clock_mono_ms ();
    CHECK_EQ_INT (http_get (slow, url, NULL, &resp), RC_ERR);
    CHECK (clock_mono_ms () - started < 1500);
    CHECK (strstr (http_error (slow), "cancelled"));
    http_destroy (&slow);

    //  not http(s): refused, not retried
    CHECK_EQ_INT (http_get (http, "file:///etc/passwd", NULL, &resp), RC_ERR);
    CHECK_EQ_INT (http_attempts (http), 1);
    http_destroy (&http);
}

static void
s_test_urlencode (void)
{
    char *e = http_urlencode ("a b/c~d-e_f.g+h&i=j\xc3\xa9", 21, false);
    CHECK_EQ_STR (e, "a%20b%2Fc~d-e_f.g%2Bh%26i%3Dj%C3%A9");
    free (e);
    e = http_urlencode ("data/hotkey=5F/epoch=1", 22, true);
    CHECK_EQ_STR (e, "data/hotkey%3D5F/epoch%3D1");
    free (e);
    const char bin [] = { 'a', 0, 'b' };
    e = http_urlencode (bin, 3, false);
    CHECK_EQ_STR (e, "a%00b");
    free (e);
    e = http_urlencode ("", 0, false);
    CHECK_EQ_STR (e, "");
    free (e);
}

int
main (void)
{
    log_set_proc ("test_http");
    pthread_mutex_init (&s_script.lock, NULL);
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        0, NULL, NULL, s_handler, &s_script,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
        MHD_OPTION_SOCK_ADDR, &(struct sockaddr_in) {
            .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) },
        MHD_OPTION_END);
    CHECK (daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_BIND_PORT);
    CHECK (info && info->port);
    snprintf (s_base, sizeof s_base, "http://127.0.0.1:%u", info->port);

    s_test_basics ();
    s_test_retries ();
    s_test_timeout ();
    s_test_body_cap ();
    s_test_refused ();
    s_test_urlencode ();
    MHD_stop_daemon (daemon);
    TEST_DONE ();
}
