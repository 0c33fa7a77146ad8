/*  sup_http: the node's tiny HTTP/1.0 server for /livez, /readyz and /metrics.

    Deliberately small and bounded, because it faces the network from the one process that
    must never fall over: non-blocking sockets driven by the supervisor's own zmq_poll loop
    (no thread), at most SUP_HTTP_MAX_CONNS connections, a request line plus headers of at
    most SUP_HTTP_MAX_REQUEST bytes, GET (and HEAD) only, one request per connection, closed
    after the response, and each connection dropped SUP_HTTP_TIMEOUT_MS after it was accepted
    whatever state it is in. Request bodies are never read.

    The handler is called once per valid request with the path (query string removed) and
    fills a reply whose body the server takes over.                                           */
#ifndef ZM_SUP_HTTP_H
#define ZM_SUP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#define SUP_HTTP_MAX_CONNS      32
#define SUP_HTTP_MAX_REQUEST    8192
#define SUP_HTTP_TIMEOUT_MS     5000

typedef struct _sup_http_t sup_http_t;

typedef struct {
    int status;                 //  200, 404, 503, ...
    const char *content_type;   //  static string
    char *body;                 //  heap (malloc), taken over by the server; may be NULL
    size_t body_len;
} sup_http_reply_t;

typedef void (sup_http_fn) (void *arg, const char *path, sup_http_reply_t *reply);

//  Listens on bind:port (numeric IPv4/IPv6 address; port 0 picks a free port). Returns NULL
//  with a reason in err on failure.
sup_http_t *sup_http_new (const char *bind, int port, sup_http_fn *handler, void *arg,
                          char *err, size_t errsize);

void sup_http_destroy (sup_http_t **self_p);

//  The port actually bound.
int sup_http_port (sup_http_t *self);

//  Fills up to max poll items (listening socket first, then connections) for zmq_poll;
//  returns how many. Call sup_http_service with the same items after polling.
size_t sup_http_pollitems (sup_http_t *self, zmq_pollitem_t *items, size_t max);

//  Accepts, reads, answers and writes as the poll results allow, and drops connections past
//  their deadline. now: clock_mono_ms ().
void sup_http_service (sup_http_t *self, const zmq_pollitem_t *items, size_t n, int64_t now);

//  Parses a complete request head (NUL-terminated text up to and including the blank line;
//  no NUL inside) in place. Returns 0 with *path pointing into head (query string removed,
//  only printable ASCII) and *head_only set for HEAD, or the HTTP status to refuse the
//  request with: 400 (malformed request line or path) or 405 (a method other than GET/HEAD).
//  Pure; exposed for tests and the fuzz target.
int sup_http_parse_head (char *head, const char **path, bool *head_only);

//  The earliest connection deadline (clock_mono_ms), or INT64_MAX when idle.
int64_t sup_http_next_deadline (sup_http_t *self);

#endif
