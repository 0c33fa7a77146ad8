/*  http: libcurl easy handle with bounded bodies, capped retries, Retry-After, deadlines.

    Ownership: http_t owns its curl handle (and so its connection cache) and a copy of the
    user agent; each attempt builds a fresh http_response_t, handed to the caller or freed.

    Invariants: a response body never holds more than max_body bytes (+ NUL); the header
    store never more than HTTP_HEADERS_MAX bytes, HTTP_HEADERS_COUNT headers, and only the
    final response's headers (a new status line, e.g. after 100 Continue, resets it); the
    total time of a request, waits included, stays within deadline_ms (an attempt's timeout
    is cut to the time left).                                                                */
#include "common/http.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_HEADERS_MAX    (32 * 1024)
#define HTTP_HEADERS_COUNT  128
#define HTTP_ERR_MAX        512
#define HTTP_SLICE_MS       100         //  cancel polling period during waits

struct _http_t {
    CURL *curl;
    http_options_t opts;
    char *user_agent;
    backoff_t backoff;
    bool (*cancel) (void *arg);
    void *cancel_arg;
    int attempts;
    int64_t waited_ms;
    char error [HTTP_ERR_MAX];
    char curl_error [CURL_ERROR_SIZE];
};

struct _http_response_t {
    long status;
    char *body;
    size_t len;
    size_t cap;
    char *headers;              //  "name\0value\0" pairs
    size_t headers_len;
    size_t headers_count;
};

//  One attempt's callback state.
typedef struct {
    http_t *self;
    http_response_t *resp;
    bool head;                  //  HEAD: Content-Length describes a body that never comes
    bool too_large;
    bool headers_too_large;
    uint64_t content_length;
} s_xfer_t;

static void
s_set_error (http_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_set_error (http_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
}

void
http_options_defaults (http_options_t *opts)
{
    assert (opts);
    *opts = (http_options_t) {
        .connect_timeout_ms = 5000,
        .timeout_ms = 30000,
        .deadline_ms = 60000,
        .max_attempts = 4,
        .max_body = 16 * 1024 * 1024,
        .backoff_base_ms = 250,
        .backoff_cap_ms = 8000,
        .retry_after_cap_ms = 30000,
        .user_agent = "zipmine"
    };
}

http_t *
http_new (const http_options_t *opts)
{
    http_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    if (opts)
        self->opts = *opts;
    else
        http_options_defaults (&self->opts);
    assert (self->opts.connect_timeout_ms > 0 && self->opts.timeout_ms > 0);
    assert (self->opts.deadline_ms > 0 && self->opts.max_attempts >= 1);
    assert (self->opts.max_body > 0 && self->opts.max_body < SIZE_MAX / 2);
    assert (self->opts.retry_after_cap_ms >= 0);
    self->user_agent = strdup (self->opts.user_agent ? self->opts.user_agent : "zipmine");
    if (!self->user_agent)
        abort ();
    self->opts.user_agent = self->user_agent;
    backoff_init (&self->backoff, self->opts.backoff_base_ms, self->opts.backoff_cap_ms, 0);
    //  curl_global_init is idempotent but not thread-safe before 7.84; 7.88 makes it so
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK
    ||  (self->curl = curl_easy_init ()) == NULL) {
        free (self->user_agent);
        free (self);
        return NULL;
    }
    return self;
}

void
http_destroy (http_t **self_p)
{
    assert (self_p);
    http_t *self = *self_p;
    if (!self)
        return;
    curl_easy_cleanup (self->curl);
    free (self->user_agent);
    free (self);
    *self_p = NULL;
}

void
http_set_cancel (http_t *self, bool (*cancel) (void *arg), void *arg)
{
    assert (self);
    self->cancel = cancel;
    self->cancel_arg = arg;
}

const char *
http_error (http_t *self)
{
    assert (self);
    return self->error;
}

int
http_attempts (http_t *self)
{
    assert (self);
    return self->attempts;
}

int64_t
http_waited_ms (http_t *self)
{
    assert (self);
    return self->waited_ms;
}

//  --------------------------------------------------------------------------------------
//  Responses

static http_response_t *
s_response_new (void)
{
    http_response_t *resp = calloc (1, sizeof *resp);
    if (!resp)
        abort ();
    return resp;
}

void
http_response_destroy (http_response_t **self_p)
{
    assert (self_p);
    http_response_t *self = *self_p;
    if (!self)
        return;
    free (self->body);
    free (self->headers);
    free (self);
    *self_p = NULL;
}

long
http_response_status (const http_response_t *self)
{
    assert (self);
    return self->status;
}

const char *
http_response_body (const http_response_t *self, size_t *len)
{
    assert (self);
    if (len)
        *len = self->len;
    return self->body ? self->body : "";
}

char *
http_response_take_body (http_response_t *self, size_t *len)
{
    assert (self);
    char *body = self->body ? self->body : strdup ("");
    if (!body)
        abort ();
    if (len)
        *len = self->len;
    self->body = NULL;
    self->len = self->cap = 0;
    return body;
}

const char *
http_response_header (const http_response_t *self, const char *name)
{
    assert (self && name);
    const char *p = self->headers;
    for (size_t i = 0; i < self->headers_count; i++) {
        const char *value = p + strlen (p) + 1;
        if (strcasecmp (p, name) == 0)
            return value;
        p = value + strlen (value) + 1;
    }
    return NULL;
}

//  --------------------------------------------------------------------------------------
//  curl callbacks

static size_t
s_on_body (char *data, size_t size, size_t nmemb, void *arg)
{
    s_xfer_t *xfer = arg;
    http_response_t *resp = xfer->resp;
    size_t n = size * nmemb;
    size_t max = xfer->self->opts.max_body;
    if (n > max - resp->len) {
        xfer->too_large = true;
        return 0;               //  curl aborts the transfer with CURLE_WRITE_ERROR
    }
    if (resp->len + n + 1 > resp->cap) {
        size_t cap = resp->cap ? resp->cap : 4096;
        while (cap < resp->len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *body = realloc (resp->body, cap);
        if (!body)
            abort ();
        resp->body = body;
        resp->cap = cap;
    }
    memcpy (resp->body + resp->len, data, n);
    resp->len += n;
    resp->body [resp->len] = 0;
    return n;
}

static void
s_trim (const char **start, size_t *len)
{
    while (*len > 0 && isspace ((unsigned char) **start)) {
        (*start)++;
        (*len)--;
    }
    while (*len > 0 && isspace ((unsigned char) (*start) [*len - 1]))
        (*len)--;
}

static size_t
s_on_header (char *data, size_t size, size_t nmemb, void *arg)
{
    s_xfer_t *xfer = arg;
    http_response_t *resp = xfer->resp;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp (data, "HTTP/", 5) == 0) {
        //  a new response (after 100 Continue): forget the previous one's headers
        resp->headers_len = 0;
        resp->headers_count = 0;
        xfer->content_length = 0;
        return n;
    }
    const char *colon = memchr (data, ':', n);
    if (!colon)
        return n;               //  the blank line that ends the headers
    const char *name = data;
    size_t name_len = (size_t) (colon - data);
    const char *value = colon + 1;
    size_t value_len = n - name_len - 1;
    s_trim (&name, &name_len);
    s_trim (&value, &value_len);

    if (!xfer->head && name_len == 14 && strncasecmp (name, "content-length", 14) == 0) {
        char digits [24];
        if (value_len >= sizeof digits) {
            xfer->too_large = true;     //  more digits than any size we could accept
            return 0;
        }
        if (value_len > 0) {
            memcpy (digits, value, value_len);
            digits [value_len] = 0;
            char *end;
            errno = 0;
            unsigned long long cl = strtoull (digits, &end, 10);
            if (errno == 0 && *end == 0) {
                xfer->content_length = cl;
                if (cl > xfer->self->opts.max_body) {
                    xfer->too_large = true;
                    return 0;
                }
            }
        }
    }
    size_t need = name_len + value_len + 2;
    if (resp->headers_count >= HTTP_HEADERS_COUNT
    ||  resp->headers_len + need > HTTP_HEADERS_MAX) {
        xfer->headers_too_large = true;
        return 0;
    }
    if (!resp->headers) {
        resp->headers = malloc (HTTP_HEADERS_MAX);
        if (!resp->headers)
            abort ();
    }
    char *out = resp->headers + resp->headers_len;
    memcpy (out, name, name_len);
    out [name_len] = 0;
    memcpy (out + name_len + 1, value, value_len);
    out [name_len + 1 + value_len] = 0;
    resp->headers_len += need;
    resp->headers_count++;
    return n;
}

static int
s_on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow)
{
    (void) dltotal; (void) dlnow; (void) ultotal; (void) ulnow;
    http_t *self = arg;
    return self->cancel && self->cancel (self->cancel_arg) ? 1 : 0;
}

//  --------------------------------------------------------------------------------------
//  Requests

//  scheme://host/path of url, without userinfo or query, for logs and errors.
static void
s_url_for_log (const char *url, char *out, size_t size)
{
    const char *start = url;
    const char *scheme = strstr (url, "://");
    const char *rest = scheme ? scheme + 3 : url;
    size_t host_end = strcspn (rest, "/?#");
    const char *at = memchr (rest, '@', host_end);
    size_t len = strcspn (url, "?#");
    if (at) {
        snprintf (out, size, "%.*s%.*s", (int) (rest - start), start,
                  (int) (len - (size_t) (at + 1 - start)), at + 1);
    }
    else
        snprintf (out, size, "%.*s", (int) (len < 300 ? len : 300), url);
}

//  Retry-After: delta-seconds or an HTTP date. Returns ms to wait (>= 0), or -1 if absent or
//  unparseable.
static int64_t
s_retry_after_ms (const http_response_t *resp)
{
    const char *value = http_response_header (resp, "Retry-After");
    if (!value || !*value)
        return -1;
    if (isdigit ((unsigned char) *value)) {
        char *end;
        errno = 0;
        unsigned long long secs = strtoull (value, &end, 10);
        if (*end)
            return -1;
        if (errno || secs > INT64_MAX / 1000)
            return INT64_MAX;
        return (int64_t) secs * 1000;
    }
    time_t when = curl_getdate (value, NULL);
    if (when == -1)
        return -1;
    int64_t ms = (int64_t) when * 1000 - clock_wall_ms ();
    return ms > 0 ? ms : 0;
}

//  Is this curl failure worth another attempt?
static bool
s_transient (CURLcode code)
{
    switch (code) {
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
            return true;
        default:
            return false;
    }
}

//  Waits ms, polling the cancel check. Returns false if cancelled.
static bool
s_wait (http_t *self, int64_t ms)
{
    int64_t until = clock_mono_ms () + ms;
    while (true) {
        if (self->cancel && self->cancel (self->cancel_arg))
            return false;
        int64_t left = until - clock_mono_ms ();
        if (left <= 0)
            return true;
        int64_t slice = left < HTTP_SLICE_MS ? left : HTTP_SLICE_MS;
        struct timespec ts = { .tv_sec = 0, .tv_nsec = slice * 1000000L };
        nanosleep (&ts, NULL);
    }
}

static void
s_setup (http_t *self, const http_request_t *req, struct curl_slist *headers,
         s_xfer_t *xfer, int64_t timeout_ms)
{
    CURL *c = self->curl;
    curl_easy_reset (c);        //  keeps the connection cache
    self->curl_error [0] = 0;
    curl_easy_setopt (c, CURLOPT_ERRORBUFFER, self->curl_error);
    curl_easy_setopt (c, CURLOPT_URL, req->url);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_USERAGENT, self->user_agent);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS,
                      (long) (self->opts.connect_timeout_ms < timeout_ms
                              ? self->opts.connect_timeout_ms : timeout_ms));
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, xfer);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, xfer);
    if (self->cancel) {
        curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, s_on_progress);
        curl_easy_setopt (c, CURLOPT_XFERINFODATA, self);
        curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
    }
    const char *method = req->method ? req->method : "GET";
    if (strcmp (method, "HEAD") == 0)
        curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
    else
    if (strcmp (method, "GET") == 0 && !req->body)
        curl_easy_setopt (c, CURLOPT_HTTPGET, 1L);
    else {
        if (req->body || strcmp (method, "POST") == 0) {
            curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
            curl_easy_setopt (c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
        if (strcmp (method, "POST") != 0)
            curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
    }
}

//  The header list: the caller's, no "Expect: 100-continue" (one round trip less), and no
//  Content-Type curl would invent for a body the caller did not type.
static struct curl_slist *
s_headers (const http_request_t *req)
{
    struct curl_slist *list = NULL;
    bool typed = false;
    for (const char *const *h = req->headers; h && *h; h++) {
        if (strncasecmp (*h, "content-type:", 13) == 0)
            typed = true;
        list = curl_slist_append (list, *h);
        if (!list)
            abort ();
    }
    list = curl_slist_append (list, "Expect:");
    if (list && !typed)
        list = curl_slist_append (list, "Content-Type:");
    if (!list)
        abort ();
    return list;
}

int
http_request (http_t *self, const http_request_t *req, http_response_t **resp_p)
{
    assert (self && req && req->url && resp_p);
    assert (req->body || req->body_len == 0);
    *resp_p = NULL;
    const char *method = req->method ? req->method : "GET";
    int max_attempts = req->max_attempts > 0 ? req->max_attempts : self->opts.max_attempts;
    char where [320];
    s_url_for_log (req->url, where, sizeof where);

    struct curl_slist *headers = s_headers (req);
    int64_t deadline = clock_mono_ms () + self->opts.deadline_ms;
    backoff_reset (&self->backoff);
    self->attempts = 0;
    self->waited_ms = 0;
    self->error [0] = 0;
    int rc = RC_RETRY;
    http_response_t *resp = NULL;

    while (true) {
        int64_t left = deadline - clock_mono_ms ();
        if (left <= 0) {
            char was [HTTP_ERR_MAX];
            snprintf (was, sizeof was, "%s", self->error);
            s_set_error (self, "%s %s: deadline of %" PRId64 " ms passed (%s)", method, where,
                         self->opts.deadline_ms, was);
            break;
        }
        self->attempts++;
        http_response_destroy (&resp);
        resp = s_response_new ();
        s_xfer_t xfer = { .self = self, .resp = resp, .head = strcmp (method, "HEAD") == 0 };
        s_setup (self, req, headers, &xfer,
                 left < self->opts.timeout_ms ? left : self->opts.timeout_ms);
        CURLcode code = curl_easy_perform (self->curl);

        bool transient = false;
        if (code == CURLE_OK) {
            curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, &resp->status);
            if (resp->status >= 500 || resp->status == 429) {
                transient = true;
                s_set_error (self, "%s %s: HTTP %ld", method, where, resp->status);
            }
            else {
                rc = 0;
                break;
            }
        }
        else {
            if (xfer.too_large) {
                if (xfer.content_length > self->opts.max_body)
                    s_set_error (self, "%s %s: Content-Length %" PRIu64 " exceeds the limit "
                                 "of %zu bytes", method, where, xfer.content_length,
                                 self->opts.max_body);
                else
                    s_set_error (self, "%s %s: response body exceeds the limit of %zu bytes",
                                 method, where, self->opts.max_body);
                rc = RC_MALFORMED;
                break;
            }
            if (xfer.headers_too_large) {
                s_set_error (self, "%s %s: response headers exceed %d bytes or %d lines",
                             method, where, HTTP_HEADERS_MAX, HTTP_HEADERS_COUNT);
                rc = RC_MALFORMED;
                break;
            }
            if (code == CURLE_ABORTED_BY_CALLBACK) {
                s_set_error (self, "%s %s: cancelled", method, where);
                rc = RC_ERR;
                break;
            }
            s_set_error (self, "%s %s: %s", method, where,
                         self->curl_error [0] ? self->curl_error : curl_easy_strerror (code));
            if (!s_transient (code)) {
                rc = RC_ERR;
                break;
            }
            transient = true;
            //  no response worth handing back after a network error
            http_response_destroy (&resp);
        }
        assert (transient);
        if (self->attempts >= max_attempts) {
            log_warn ("http_gave_up", LS ("method", method), LS ("url", where),
                      LI ("attempts", self->attempts), LS ("error", self->error));
            break;
        }
        int64_t wait = resp ? s_retry_after_ms (resp) : -1;
        bool told = wait >= 0;
        if (told) {
            if (wait > self->opts.retry_after_cap_ms)
                wait = self->opts.retry_after_cap_ms;
        }
        else
            wait = backoff_next (&self->backoff);
        if (clock_mono_ms () + wait >= deadline) {
            char was [HTTP_ERR_MAX];
            snprintf (was, sizeof was, "%s", self->error);
            s_set_error (self, "%s (waiting %" PRId64 " ms more would pass the deadline)",
                         was, wait);
            log_warn ("http_gave_up", LS ("method", method), LS ("url", where),
                      LI ("attempts", self->attempts), LS ("error", self->error));
            break;
        }
        log_warn ("http_retry", LS ("method", method), LS ("url", where),
                  LI ("attempt", self->attempts), LI ("status", resp ? resp->status : 0),
                  LI ("wait_ms", wait), LB ("retry_after", told), LS ("error", self->error));
        int64_t before = clock_mono_ms ();
        bool go_on = s_wait (self, wait);
        self->waited_ms += clock_mono_ms () - before;
        if (!go_on) {
            s_set_error (self, "%s %s: cancelled", method, where);
            rc = RC_ERR;
            break;
        }
    }
    curl_slist_free_all (headers);
    if (rc == 0 || rc == RC_RETRY)
        *resp_p = resp;
    else
        http_response_destroy (&resp);
    return rc;
}

int
http_get (http_t *self, const char *url, const char *const *headers, http_response_t **resp_p)
{
    http_request_t req = { .method = "GET", .url = url, .headers = headers };
    return http_request (self, &req, resp_p);
}

int
http_post (http_t *self, const char *url, const char *const *headers,
           const void *body, size_t body_len, http_response_t **resp_p)
{
    http_request_t req = {
        .method = "POST", .url = url, .headers = headers, .body = body, .body_len = body_len
    };
    return http_request (self, &req, resp_p);
}

char *
http_urlencode (const char *s, size_t len, bool keep_slash)
{
    assert (s || len == 0);
    static const char hex [] = "0123456789ABCDEF";
    char *out = malloc (len * 3 + 1);
    if (!out)
        abort ();
    char *p = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s [i];
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                       || (c >= '0' && c <= '9');
        if (unreserved || c == '-' || c == '.' || c == '_' || c == '~'
        ||  (keep_slash && c == '/'))
            *p++ = (char) c;
        else {
            *p++ = '%';
            *p++ = hex [c >> 4];
            *p++ = hex [c & 15];
        }
    }
    *p = 0;
    return out;
}
