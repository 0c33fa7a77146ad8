/*  http: an HTTP client on libcurl with bounded responses and retries.

    One http_t holds one curl handle, so consecutive requests to the same host reuse the
    connection. A request is retried, with capped exponential backoff and jitter
    (common/backoff.h), on network errors (refused, reset, timeout, DNS), on 5xx and on 429;
    a Retry-After header (seconds or HTTP date) sets the wait instead, capped. Any other
    status, including every other 4xx, is final and returned as is. Attempts are bounded by
    max_attempts and by a total deadline that includes the waits: a wait that would pass the
    deadline is not started.

    Response bodies are capped: a Content-Length above max_body is refused before any body
    byte is read, and a body without one (chunked, or until close) is cut off as soon as it
    passes the cap. Either way the request fails with RC_MALFORMED (never retried).

    Only http:// and https:// URLs are followed; redirects are not. Log lines name the host
    and path, never the query string (it may carry signatures).

    Not thread-safe: one http_t per thread.                                                    */
#ifndef ZM_HTTP_H
#define ZM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _http_t http_t;
typedef struct _http_response_t http_response_t;

typedef struct {
    int64_t connect_timeout_ms;     //  per attempt, TCP + TLS handshake           (5000)
    int64_t timeout_ms;             //  per attempt, whole transfer                 (30000)
    int64_t deadline_ms;            //  all attempts and waits of one request       (60000)
    int max_attempts;               //  1 = no retry                                 (4)
    size_t max_body;                //  response body cap in bytes                  (16 MiB)
    int64_t backoff_base_ms;        //  first retry delay                           (250)
    int64_t backoff_cap_ms;         //  largest retry delay                         (8000)
    int64_t retry_after_cap_ms;     //  largest wait a Retry-After can ask for      (30000)
    const char *user_agent;         //  copied                                      ("zipmine")
} http_options_t;

typedef struct {
    const char *method;             //  "GET", "POST", "PUT", "DELETE", "HEAD", …
    const char *url;
    const char *const *headers;     //  NULL-terminated "Name: value" lines, or NULL
    const void *body;               //  sent as is (not copied); NULL for none
    size_t body_len;
    int max_attempts;               //  0 = the handle's; 1 for a call that must not repeat
} http_request_t;

//  Fills opts with the defaults shown above.
void http_options_defaults (http_options_t *opts);

//  Creates a client. opts NULL means the defaults. Returns NULL if libcurl cannot start.
http_t *http_new (const http_options_t *opts);

void http_destroy (http_t **self_p);

//  Registers a cancel check, polled during transfers and waits (at least every 100 ms); when
//  it returns true the request stops and returns RC_ERR ("cancelled"). Used to honour SIGTERM.
void http_set_cancel (http_t *self, bool (*cancel) (void *arg), void *arg);

//  Performs req with retries. Returns:
//    0             a final response: any status but 5xx and 429 (the caller checks the status)
//    RC_RETRY      transient failure after the last attempt or at the deadline; *resp_p holds
//                  the last 5xx/429 response, or NULL after network errors
//    RC_MALFORMED  the response broke a limit (body or headers too large)
//    RC_ERR        a bad request (URL, protocol), a TLS verification failure, or cancelled
//  *resp_p is set on 0, and on RC_RETRY when a response arrived; otherwise NULL.
//  Caller owns the response: http_response_destroy. http_error explains every failure.
int http_request (http_t *self, const http_request_t *req, http_response_t **resp_p);

//  Shorthands for http_request.
int http_get (http_t *self, const char *url, const char *const *headers,
              http_response_t **resp_p);
int http_post (http_t *self, const char *url, const char *const *headers,
               const void *body, size_t body_len, http_response_t **resp_p);

//  The last failure (or the last retry's reason), one line.
const char *http_error (http_t *self);

//  Attempts made by the last request, and the total time it waited between them.
int http_attempts (http_t *self);
int64_t http_waited_ms (http_t *self);

//  The response.
void http_response_destroy (http_response_t **self_p);
long http_response_status (const http_response_t *self);
//  The body (NUL-terminated after len bytes, which may contain NULs). Borrowed.
const char *http_response_body (const http_response_t *self, size_t *len);
//  Takes the body out of the response. Caller owns: free(). NUL-terminated after *len.
char *http_response_take_body (http_response_t *self, size_t *len);
//  The first header named name (case-insensitive), value trimmed, or NULL. Borrowed.
const char *http_response_header (const http_response_t *self, const char *name);

//  Percent-encodes len bytes of s as RFC 3986 asks (unreserved A-Z a-z 0-9 - . _ ~ kept,
//  everything else %XX upper case); keep_slash leaves '/' alone (for paths).
//  Caller owns: free().
char *http_urlencode (const char *s, size_t len, bool keep_slash);

#endif
