/*  httpd: routing, bounded bodies, JSON errors and request metrics over libmicrohttpd.

    libmicrohttpd owns the sockets and the threads; this module owns the route table (fixed at
    start, read-only afterwards, so handler threads read it without a lock), one s_req_t per
    request (allocated on the first access-handler call, freed by the completion callback),
    and the request statistics, the one piece of state handler threads write, under `lock`.

    The access handler is called at least twice per request: once when the headers are in
    (route lookup, Content-Length check), once per chunk of body (appended up to max_body),
    and once more with no data (dispatch). A body over the cap is answered 413 at once;
    libmicrohttpd then closes the connection instead of reading the rest.                   */
#include "common/httpd.h"
#include "common/clock.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define ROUTES_MAX      32
#define CODES_MAX       16          //  distinct status codes counted per route
#define HEADERS_MAX     8
#define PENDING_MAX     8192        //  latency observations buffered between flushes
#define DISCARD_MAX     (1024 * 1024)   //  body bytes read past the cap to answer 413
#define UNMATCHED       ROUTES_MAX  //  stats slot of requests no route serves

typedef struct {
    char method [16];
    char path [128];
    size_t path_len;
    bool prefix;
    char name [48];
    size_t slot;                    //  stats slot: the first route with the same name
    httpd_handler_fn *handler;
    void *arg;
} s_route_t;

typedef struct {
    int code [CODES_MAX];
    uint64_t count [CODES_MAX];
    size_t ncodes;
    double seconds;                 //  total time answering, all codes
} s_stats_t;

typedef struct {
    uint16_t route;
    float seconds;
} s_obs_t;

struct _httpd_t {
    httpd_opts_t opts;
    char *bind;
    s_route_t routes [ROUTES_MAX];
    size_t nroutes;
    struct MHD_Daemon *daemon;
    int port;
    atomic_bool stopping;

    pthread_mutex_t lock;           //  guards everything below
    s_stats_t stats [ROUTES_MAX + 1];
    s_obs_t pending [PENDING_MAX];
    size_t npending;
    uint64_t dropped;               //  observations lost to a full buffer
};

struct _httpd_req_t {
    httpd_t *server;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const s_route_t *route;         //  NULL: no route for this path/method
    bool method_mismatch;           //  the path has routes, none for this method
    int64_t start_ms;
    char *body;
    size_t body_len;
    bool too_large;
    size_t discarded;               //  body bytes dropped after the cap
    bool answered;
    bool queued;                    //  libmicrohttpd accepted the answer
    char client [INET6_ADDRSTRLEN];
    size_t nheaders;
    char *header_name [HEADERS_MAX];
    char *header_value [HEADERS_MAX];
};

httpd_opts_t
httpd_opts_default (void)
{
    return (httpd_opts_t) {
        .bind = "127.0.0.1",
        .port = 0,
        .max_body = 1024 * 1024,
        .max_header = 16 * 1024,
        .timeout_s = 15,
        .max_connections = 256,
        .max_per_ip = 64,
        .threads = 0
    };
}

httpd_t *
httpd_new (const httpd_opts_t *opts)
{
    assert (opts);
    if (!opts->bind || opts->port < 0 || opts->port > 65535 || opts->max_header < 4096
    ||  opts->timeout_s < 1 || opts->max_connections < 1 || opts->threads > 1024) {
        log_error ("httpd_options_invalid", LI ("port", opts->port),
                   LI ("max_header", (int64_t) opts->max_header));
        return NULL;
    }
    httpd_t *self = calloc (1, sizeof *self);
    assert (self);
    self->opts = *opts;
    self->bind = strdup (opts->bind);
    assert (self->bind);
    self->opts.bind = self->bind;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
httpd_destroy (httpd_t **self_p)
{
    assert (self_p);
    httpd_t *self = *self_p;
    if (!self)
        return;
    httpd_stop (self);
    pthread_mutex_destroy (&self->lock);
    free (self->bind);
    free (self);
    *self_p = NULL;
}

int
httpd_route (httpd_t *self, const char *method, const char *path, const char *name,
             httpd_handler_fn *handler, void *arg)
{
    assert (self && method && path && name && handler);
    if (self->daemon || self->nroutes >= ROUTES_MAX || path [0] != '/'
    ||  strlen (method) >= sizeof self->routes [0].method
    ||  strlen (path) >= sizeof self->routes [0].path
    ||  strlen (name) >= sizeof self->routes [0].name)
        return -1;
    s_route_t *r = &self->routes [self->nroutes++];
    snprintf (r->method, sizeof r->method, "%s", method);
    snprintf (r->path, sizeof r->path, "%s", path);
    snprintf (r->name, sizeof r->name, "%s", name);
    r->path_len = strlen (path);
    r->prefix = path [r->path_len - 1] == '/';
    r->handler = handler;
    r->arg = arg;
    r->slot = self->nroutes - 1;
    for (size_t i = 0; i + 1 < self->nroutes; i++)
        if (strcmp (self->routes [i].name, name) == 0) {
            r->slot = i;
            break;
        }
    return 0;
}

const char *
httpd_status_reason (int status)
{
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 422: return "Unprocessable Entity";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default:  return "Error";
    }
}

//  Records one answered request (any handler thread).
static void
s_record (httpd_t *self, const s_route_t *route, int status, double seconds)
{
    size_t slot = route ? route->slot : UNMATCHED;
    pthread_mutex_lock (&self->lock);
    s_stats_t *st = &self->stats [slot];
    size_t i;
    for (i = 0; i < st->ncodes; i++)
        if (st->code [i] == status)
            break;
    if (i == st->ncodes && st->ncodes < CODES_MAX)
        st->code [st->ncodes++] = status;
    else
    if (i == st->ncodes)
        i = CODES_MAX - 1;          //  table full: an unusual code joins the last slot
    st->count [i]++;
    st->seconds += seconds;
    if (self->npending < PENDING_MAX)
        self->pending [self->npending++] = (s_obs_t) { (uint16_t) slot, (float) seconds };
    else
        self->dropped++;
    pthread_mutex_unlock (&self->lock);
}

void
httpd_metrics_flush (httpd_t *self, metrics_t *registry)
{
    assert (self && registry);
    metrics_family_t *reqs = metrics_counter (registry, "zipmine_http_requests_total",
                                              "HTTP requests answered, by route and status code",
                                              "route,code");
    metrics_family_t *lat = metrics_histogram (registry, "zipmine_http_request_seconds",
                                               "HTTP request latency, by route", "route",
                                               METRICS_BUCKETS_LATENCY);
    metrics_family_t *busy = metrics_counter (registry, "zipmine_http_request_seconds_total",
                                              "Time spent answering HTTP requests, by route "
                                              "(exact; the histogram may be sampled)", "route");
    metrics_family_t *dropped = metrics_counter (registry,
                                                 "zipmine_http_latency_dropped_total",
                                                 "Latency observations dropped between flushes",
                                                 NULL);
    //  Snapshot under the lock, update the registry outside it.
    static_assert (PENDING_MAX <= 65536, "pending copy size");
    s_stats_t stats [ROUTES_MAX + 1];
    s_obs_t *obs = malloc (PENDING_MAX * sizeof *obs);
    assert (obs);
    pthread_mutex_lock (&self->lock);
    memcpy (stats, self->stats, sizeof stats);
    size_t nobs = self->npending;
    memcpy (obs, self->pending, nobs * sizeof *obs);
    self->npending = 0;
    uint64_t ndropped = self->dropped;
    pthread_mutex_unlock (&self->lock);

    for (size_t slot = 0; slot <= ROUTES_MAX; slot++) {
        if (slot < ROUTES_MAX && slot >= self->nroutes)
            continue;
        const char *name = slot == UNMATCHED ? "unmatched" : self->routes [slot].name;
        for (size_t i = 0; i < stats [slot].ncodes; i++) {
            char code [16];
            snprintf (code, sizeof code, "%d", stats [slot].code [i]);
            metrics_set (metrics_series (reqs, name, code), (double) stats [slot].count [i]);
        }
        if (stats [slot].ncodes > 0)
            metrics_set (metrics_series (busy, name), stats [slot].seconds);
    }
    for (size_t i = 0; i < nobs; i++) {
        const char *name = obs [i].route == UNMATCHED ? "unmatched"
                         : self->routes [obs [i].route].name;
        metrics_observe (metrics_series (lat, name), obs [i].seconds);
    }
    metrics_set (metrics_series (dropped), (double) ndropped);
    free (obs);
}

//  ---------------------------------------------------------------------------------------
//  Requests

const char *httpd_req_method (httpd_req_t *req) { return req->method; }
const char *httpd_req_path (httpd_req_t *req) { return req->path; }
const char *httpd_req_client (httpd_req_t *req) { return req->client; }
httpd_t *httpd_req_server (httpd_req_t *req) { return req->server; }

const char *
httpd_req_rest (httpd_req_t *req)
{
    if (!req->route || !req->route->prefix)
        return "";
    return req->path + req->route->path_len;
}

const char *
httpd_req_query (httpd_req_t *req, const char *name)
{
    assert (req && name);
    const char *v = MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v && MHD_lookup_connection_value_n (req->conn, MHD_GET_ARGUMENT_KIND, name,
                                             strlen (name), NULL, NULL) == MHD_YES)
        return "";
    return v;
}

const char *
httpd_req_header (httpd_req_t *req, const char *name)
{
    assert (req && name);
    return MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, name);
}

const char *
httpd_req_body (httpd_req_t *req, size_t *len)
{
    assert (req);
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

int
httpd_add_header (httpd_req_t *req, const char *name, const char *value)
{
    assert (req && name && value);
    if (req->nheaders >= HEADERS_MAX || strpbrk (name, "\r\n: ") || strpbrk (value, "\r\n"))
        return -1;
    req->header_name [req->nheaders] = strdup (name);
    req->header_value [req->nheaders] = strdup (value);
    assert (req->header_name [req->nheaders] && req->header_value [req->nheaders]);
    req->nheaders++;
    return 0;
}

void
httpd_respond (httpd_req_t *req, int status, const char *content_type, const char *body,
               size_t len)
{
    assert (req && status >= 100 && status <= 599);
    if (req->answered)
        return;
    req->answered = true;
    struct MHD_Response *resp = MHD_create_response_from_buffer (len, (void *) (body ? body : ""),
                                                                 MHD_RESPMEM_MUST_COPY);
    assert (resp);
    if (content_type)
        MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; i < req->nheaders; i++)
        MHD_add_response_header (resp, req->header_name [i], req->header_value [i]);
    req->queued = MHD_queue_response (req->conn, (unsigned) status, resp) == MHD_YES;
    if (!req->queued)
        log_debug ("httpd_queue_failed", LI ("status", status));
    MHD_destroy_response (resp);
    double seconds = (double) (clock_mono_ms () - req->start_ms) / 1000.0;
    s_record (req->server, req->route, status, seconds);
}

void
httpd_respond_json (httpd_req_t *req, int status, const json_t *value)
{
    assert (value);
    char *text = json_dumps (value, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert (text);
    httpd_respond (req, status, "application/json", text, strlen (text));
    free (text);
}

void
httpd_respond_error (httpd_req_t *req, int status, const char *fmt, ...)
{
    char message [512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    json_t *doc = json_pack ("{s:i, s:s, s:s}", "statusCode", status,
                             "message", message, "error", httpd_status_reason (status));
    if (!doc) {
        //  message was not valid UTF-8 (it may quote hostile input): say so instead.
        doc = json_pack ("{s:i, s:s, s:s}", "statusCode", status,
                         "message", "invalid request", "error", httpd_status_reason (status));
    }
    assert (doc);
    httpd_respond_json (req, status, doc);
    json_decref (doc);
}

//  Finds the route for path and method: longest matching path; sets method_mismatch when
//  the path matches only routes of other methods.
static void
s_match (httpd_t *self, httpd_req_t *req)
{
    const s_route_t *best = NULL;
    size_t best_len = 0;
    bool path_known = false;
    for (size_t i = 0; i < self->nroutes; i++) {
        const s_route_t *r = &self->routes [i];
        bool hit = r->prefix ? strncmp (req->path, r->path, r->path_len) == 0
                             : strcmp (req->path, r->path) == 0;
        if (!hit)
            continue;
        path_known = true;
        if (strcmp (r->method, req->method) == 0 && (!best || r->path_len > best_len)) {
            best = r;
            best_len = r->path_len;
        }
    }
    req->route = best;
    req->method_mismatch = !best && path_known;
}

static void
s_set_allow (httpd_t *self, httpd_req_t *req)
{
    char allow [128] = "";
    for (size_t i = 0; i < self->nroutes; i++) {
        const s_route_t *r = &self->routes [i];
        bool hit = r->prefix ? strncmp (req->path, r->path, r->path_len) == 0
                             : strcmp (req->path, r->path) == 0;
        if (hit && !strstr (allow, r->method)
        &&  strlen (allow) + strlen (r->method) + 3 < sizeof allow) {
            if (*allow)
                strcat (allow, ", ");
            strcat (allow, r->method);
        }
    }
    httpd_add_header (req, "Allow", allow);
}

static void
s_dispatch (httpd_t *self, httpd_req_t *req)
{
    if (req->too_large) {
        httpd_respond_error (req, 413, "request body larger than %zu bytes",
                             self->opts.max_body);
        return;
    }
    if (!req->route) {
        if (req->method_mismatch) {
            s_set_allow (self, req);
            httpd_respond_error (req, 405, "method %.16s not allowed here", req->method);
        }
        else
            httpd_respond_error (req, 404, "no such resource");
        return;
    }
    req->route->handler (req, req->route->arg);
    if (!req->answered) {
        log_error ("httpd_handler_no_answer", LS ("route", req->route->name));
        httpd_respond_error (req, 500, "handler gave no answer");
    }
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    (void) version;
    httpd_t *self = cls;
    httpd_req_t *req = *con_cls;
    if (!req) {
        req = calloc (1, sizeof *req);
        assert (req);
        *con_cls = req;
        req->server = self;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->start_ms = clock_mono_ms ();
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
                           req->client, sizeof req->client);
            else
            if (sa->sa_family == AF_INET6)
                inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
                           req->client, sizeof req->client);
        }
        s_match (self, req);
        //  An announced body over the cap is refused before any of it is read.
        const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull (cl, &end, 10);
            if (errno || end == cl || *end || n > self->opts.max_body) {
                req->too_large = true;
                s_dispatch (self, req);
                return req->queued ? MHD_YES : MHD_NO;      //  MHD_NO: close the connection
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->answered)
            return MHD_YES;
        if (req->too_large) {
            //  Over the cap without a Content-Length (chunked): libmicrohttpd accepts an
            //  answer only once the body is in, so discard up to DISCARD_MAX more bytes to
            //  answer 413, and beyond that close the connection unanswered.
            req->discarded += n;
            return req->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (n > self->opts.max_body || req->body_len > self->opts.max_body - n) {
            req->too_large = true;
            req->discarded = req->body_len + n;
            free (req->body);
            req->body = NULL;
            req->body_len = 0;
            return req->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        char *grown = realloc (req->body, req->body_len + n + 1);
        assert (grown);
        req->body = grown;
        memcpy (req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body [req->body_len] = 0;
        return MHD_YES;
    }
    if (!req->answered)
        s_dispatch (self, req);
    return req->queued ? MHD_YES : MHD_NO;
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    (void) toe;
    httpd_req_t *req = *con_cls;
    if (!req)
        return;
    for (size_t i = 0; i < req->nheaders; i++) {
        free (req->header_name [i]);
        free (req->header_value [i]);
    }
    free (req->body);
    free (req);
    *con_cls = NULL;
}

static void __attribute__ ((format (printf, 2, 0)))
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char msg [256];
    vsnprintf (msg, sizeof msg, fmt, ap);
    size_t n = strlen (msg);
    while (n > 0 && (msg [n - 1] == '\n' || msg [n - 1] == '\r'))
        msg [--n] = 0;
    //  Mostly hostile or broken clients: debug level, so a flood cannot fill the logs.
    log_debug ("httpd_mhd", LS ("message", msg));
}

int
httpd_start (httpd_t *self)
{
    assert (self);
    if (self->daemon)
        return 0;
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;
    if (inet_pton (AF_INET, self->bind, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons ((uint16_t) self->opts.port);
    }
    else
    if (inet_pton (AF_INET6, self->bind, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons ((uint16_t) self->opts.port);
        flags |= MHD_USE_IPv6;
    }
    else {
        log_error ("httpd_start_failed", LS ("reason", "bind is not a numeric IP address"),
                   LS ("bind", self->bind));
        return -1;
    }
    if (self->opts.threads == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    else
        flags |= MHD_USE_EPOLL;
    atomic_store (&self->stopping, false);
    struct MHD_OptionItem ops [] = {
        { MHD_OPTION_SOCK_ADDR, 0, &ss },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) self->opts.max_header, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) self->opts.timeout_s, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t) self->opts.max_connections, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t) self->opts.max_per_ip, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) s_completed, NULL },
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) s_mhd_log, NULL },
        { MHD_OPTION_THREAD_POOL_SIZE, (intptr_t) self->opts.threads, NULL },
        { MHD_OPTION_END, 0, NULL }
    };
    if (self->opts.threads == 0)
        ops [7].option = MHD_OPTION_END;        //  a pool size is invalid per connection
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_access, self,
                                     MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("httpd_start_failed", LS ("reason", "libmicrohttpd refused to start "
                   "(address in use or bad options)"), LS ("bind", self->bind),
                   LI ("port", self->opts.port));
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info (self->daemon,
                                                          MHD_DAEMON_INFO_BIND_PORT);
    self->port = di ? di->port : 0;
    if (self->port == 0) {
        log_error ("httpd_start_failed", LS ("reason", "bound port unknown"));
        MHD_stop_daemon (self->daemon);
        self->daemon = NULL;
        return -1;
    }
    log_info ("httpd_listening", LS ("bind", self->bind), LI ("port", self->port),
              LI ("threads", self->opts.threads));
    return 0;
}

int
httpd_port (httpd_t *self)
{
    assert (self);
    return self->daemon ? self->port : 0;
}

bool
httpd_stopping (httpd_t *self)
{
    assert (self);
    return atomic_load (&self->stopping);
}

void
httpd_stop (httpd_t *self)
{
    assert (self);
    if (!self->daemon)
        return;
    atomic_store (&self->stopping, true);
    MHD_stop_daemon (self->daemon);
    self->daemon = NULL;
    log_info ("httpd_stopped", LI ("port", self->port));
}
