/*  httpd: a small HTTP/1.1 server on libmicrohttpd, for the coordination API and the world.

    Usage:

        httpd_opts_t opts = httpd_opts_default ();
        opts.bind = "127.0.0.1";
        opts.port = 0;                                       //  any free port
        httpd_t *h = httpd_new (&opts);
        httpd_route (h, "GET", "/healthz", "healthz", s_health, state);       //  exact path
        httpd_route (h, "GET", "/property/", "property", s_property, state);  //  prefix
        if (httpd_start (h) != 0) ...                        //  binds; logs why on failure
        printf ("%d\n", httpd_port (h));                     //  the bound port
        ...
        httpd_stop (h);                                      //  drain: stop and join threads
        httpd_destroy (&h);

    Routing: a route whose path ends in '/' matches every request path starting with it; any
    other route matches its path exactly. The longest matching route path wins. A path that
    matches no route answers 404; one whose routes all name other methods answers 405 (with an
    Allow header). Routes are fixed before httpd_start.

    Handlers run on libmicrohttpd's threads (one per connection when opts.threads is 0, else a
    pool of opts.threads), several at once: the state they share must be thread-safe. A
    handler answers exactly once with httpd_respond* (a handler that returns without answering
    gets a 500). The request path (already percent-decoded by libmicrohttpd), query arguments
    and headers are valid only during the handler.

    Hostile clients: the request line plus headers are bounded by opts.max_header bytes
    (libmicrohttpd answers 414 or 431 beyond that, and 400 to garbage); bodies by
    opts.max_body (413: at once when Content-Length announces more; for a chunked body found
    over the cap, after reading at most 1 MiB more, else the connection is closed unanswered);
    connections by opts.max_connections in total and opts.max_per_ip per client address; an
    idle connection is closed after opts.timeout_s. Errors this module produces itself are JSON
    `{"statusCode":404,"message":"…","error":"Not Found"}` (DESIGN.md section 5).

    Metrics: every answered request is counted by route name and status code and its latency
    observed. The counts are kept inside httpd (handler threads cannot touch a metrics
    registry); httpd_metrics_flush, called from the owning loop's thread, copies them into a
    registry as zipmine_http_requests_total{route,code}, the exact total time spent
    answering, zipmine_http_request_seconds_total{route} (mean latency = its rate over the
    requests' rate), and the histogram zipmine_http_request_seconds{route}, fed from a buffer
    of 8192 observations between flushes (overflow counted in
    zipmine_http_latency_dropped_total). Route "unmatched" counts 404/405 answers for paths no
    route serves.                                                                            */
#ifndef ZM_HTTPD_H
#define ZM_HTTPD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"

typedef struct _httpd_t httpd_t;
typedef struct _httpd_req_t httpd_req_t;

typedef struct {
    const char *bind;           //  numeric IPv4 or IPv6 address ("127.0.0.1", "0.0.0.0", "::")
    int port;                   //  0: any free port (see httpd_port)
    size_t max_body;            //  request body cap in bytes (0: bodies refused with 413)
    size_t max_header;          //  request line + headers cap (>= 4096)
    unsigned timeout_s;         //  idle connection timeout (>= 1)
    unsigned max_connections;   //  concurrent connections (>= 1)
    unsigned max_per_ip;        //  concurrent connections per client address (0: no limit)
    unsigned threads;           //  0: a thread per connection (handlers may block);
                                //  n: a pool of n threads (handlers must not block)
} httpd_opts_t;

//  Defaults: 127.0.0.1:0, body 1 MiB, headers 16 KiB, 15 s, 256 connections, 64 per IP,
//  thread per connection.
httpd_opts_t httpd_opts_default (void);

typedef void (httpd_handler_fn) (httpd_req_t *req, void *arg);

//  Copies opts (the bind string too). Returns NULL on invalid options (logged).
httpd_t *httpd_new (const httpd_opts_t *opts);

//  Stops the server if running and frees everything. Nulls *self_p; no-op on NULL.
void httpd_destroy (httpd_t **self_p);

//  Adds a route (before httpd_start): method ("GET", "POST", ...), path ("/x" exact or
//  "/x/" prefix), name (the metrics label: a short fixed word), handler and its argument.
//  Returns 0, or -1 if already started, the table is full (32 routes) or the path does not
//  start with '/'.
int httpd_route (httpd_t *self, const char *method, const char *path, const char *name,
                 httpd_handler_fn *handler, void *arg);

//  Binds and starts serving. Returns 0, or -1 (logged as "httpd_start_failed": address in
//  use, bad address, out of threads).
int httpd_start (httpd_t *self);

//  The bound port (the chosen one when opts.port was 0), or 0 before httpd_start.
int httpd_port (httpd_t *self);

//  Stops accepting, closes the listening socket and every connection, and waits for running
//  handlers to return. Idempotent. Handlers that block must watch httpd_stopping.
void httpd_stop (httpd_t *self);

//  True once httpd_stop has begun (for handlers that wait, e.g. simulated latency).
bool httpd_stopping (httpd_t *self);

//  Copies the request counts and latency observations gathered since the last call into
//  registry (see Metrics above). Call from the thread that owns registry.
void httpd_metrics_flush (httpd_t *self, metrics_t *registry);

//  ---------------------------------------------------------------------------------------
//  Inside a handler

const char *httpd_req_method (httpd_req_t *req);
//  Percent-decoded path without the query string, e.g. "/zipcode/77494/listings".
const char *httpd_req_path (httpd_req_t *req);
//  The part of the path after the matched route's path (for prefix routes), e.g. for route
//  "/property/" and path "/property/123" returns "123".
const char *httpd_req_rest (httpd_req_t *req);
//  Query argument (first occurrence, percent-decoded), "" for "?x" without '=', NULL if
//  absent.
const char *httpd_req_query (httpd_req_t *req, const char *name);
//  Request header (case-insensitive name), or NULL.
const char *httpd_req_header (httpd_req_t *req, const char *name);
//  The request body (at most opts.max_body bytes, followed by a NUL not counted in *len).
const char *httpd_req_body (httpd_req_t *req, size_t *len);
//  The client's address as text ("127.0.0.1", "::1"), "" if unknown.
const char *httpd_req_client (httpd_req_t *req);
//  The server the request arrived on (for httpd_stopping).
httpd_t *httpd_req_server (httpd_req_t *req);

//  Adds a response header (before answering; at most 8). Name and value are copied; values
//  containing CR or LF are refused. Returns 0 or -1.
int httpd_add_header (httpd_req_t *req, const char *name, const char *value);

//  Answers with status and body (copied). A second answer to one request is ignored.
void httpd_respond (httpd_req_t *req, int status, const char *content_type,
                    const char *body, size_t len);
//  Answers with compact JSON (application/json).
void httpd_respond_json (httpd_req_t *req, int status, const json_t *value);
//  Answers {"statusCode":status,"message":<formatted>,"error":<reason phrase>}.
void httpd_respond_error (httpd_req_t *req, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  "Not Found" for 404 etc.; "Error" for a code it does not know.
const char *httpd_status_reason (int status);

#endif
