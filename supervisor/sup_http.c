/*  sup_http: bounded non-blocking HTTP/1.0 responder.

    Each connection moves READING -> WRITING -> closed. The input buffer is fixed
    (SUP_HTTP_MAX_REQUEST + 1 bytes, inside the connection struct); the output is the
    handler's body plus a header, allocated once per response. A full table refuses new
    connections by accepting and closing them at once, so the listen backlog never fills
    with clients that would time out anyway.                                                  */
#include "supervisor/sup_http.h"
#include "common/clock.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int fd;                     //  -1 when the slot is free
    int64_t deadline;
    bool writing;
    size_t in_len;
    char in [SUP_HTTP_MAX_REQUEST + 1];
    char *out;
    size_t out_len;
    size_t out_off;
} s_conn_t;

struct _sup_http_t {
    int listen_fd;
    int port;
    sup_http_fn *handler;
    void *arg;
    s_conn_t conns [SUP_HTTP_MAX_CONNS];
};

sup_http_t *
sup_http_new (const char *bind_addr, int port, sup_http_fn *handler, void *arg,
              char *err, size_t errsize)
{
    assert (handler);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    char portstr [16];
    snprintf (portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo (bind_addr, portstr, &hints, &res);
    if (gai != 0) {
        snprintf (err, errsize, "http.bind '%s': %s (a numeric address is needed)",
                  bind_addr, gai_strerror (gai));
        return NULL;
    }
    int fd = socket (res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf (err, errsize, "http socket: %s", strerror (errno));
        freeaddrinfo (res);
        return NULL;
    }
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind (fd, res->ai_addr, res->ai_addrlen) != 0 || listen (fd, 64) != 0) {
        snprintf (err, errsize, "http listen on %s:%d: %s", bind_addr, port, strerror (errno));
        freeaddrinfo (res);
        close (fd);
        return NULL;
    }
    freeaddrinfo (res);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname (fd, (struct sockaddr *) &ss, &sl) != 0) {
        snprintf (err, errsize, "http getsockname: %s", strerror (errno));
        close (fd);
        return NULL;
    }
    sup_http_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->listen_fd = fd;
    self->port = ss.ss_family == AF_INET6
               ? ntohs (((struct sockaddr_in6 *) &ss)->sin6_port)
               : ntohs (((struct sockaddr_in *) &ss)->sin_port);
    self->handler = handler;
    self->arg = arg;
    for (int i = 0; i < SUP_HTTP_MAX_CONNS; i++)
        self->conns [i].fd = -1;
    return self;
}

static void
s_conn_close (s_conn_t *c)
{
    if (c->fd >= 0)
        close (c->fd);
    free (c->out);
    c->fd = -1;
    c->out = NULL;
    c->out_len = c->out_off = c->in_len = 0;
    c->writing = false;
}

void
sup_http_destroy (sup_http_t **self_p)
{
    assert (self_p);
    sup_http_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < SUP_HTTP_MAX_CONNS; i++)
        s_conn_close (&self->conns [i]);
    close (self->listen_fd);
    free (self);
    *self_p = NULL;
}

int
sup_http_port (sup_http_t *self)
{
    return self->port;
}

size_t
sup_http_pollitems (sup_http_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    if (n < max)
        items [n++] = (zmq_pollitem_t) { .fd = self->listen_fd, .events = ZMQ_POLLIN };
    for (int i = 0; i < SUP_HTTP_MAX_CONNS && n < max; i++) {
        s_conn_t *c = &self->conns [i];
        if (c->fd >= 0)
            items [n++] = (zmq_pollitem_t) {
                .fd = c->fd, .events = c->writing ? ZMQ_POLLOUT : ZMQ_POLLIN };
    }
    return n;
}

static const char *
s_reason (int status)
{
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 431: return "Request Header Fields Too Large";
        case 503: return "Service Unavailable";
        default:  return "Error";
    }
}

//  Builds the response (header + body unless head_only) into c->out and switches to writing.
static void
s_respond (s_conn_t *c, sup_http_reply_t *reply, bool head_only)
{
    const char *ctype = reply->content_type ? reply->content_type : "text/plain; charset=utf-8";
    char head [256];
    int hl = snprintf (head, sizeof head,
                       "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                       "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                       reply->status, s_reason (reply->status), ctype, reply->body_len);
    assert (hl > 0 && (size_t) hl < sizeof head);
    size_t body = head_only ? 0 : reply->body_len;
    c->out = malloc ((size_t) hl + body + 1);
    if (!c->out)
        abort ();
    memcpy (c->out, head, (size_t) hl);
    if (body)
        memcpy (c->out + hl, reply->body, body);
    c->out_len = (size_t) hl + body;
    c->out_off = 0;
    c->writing = true;
    free (reply->body);
    reply->body = NULL;
}

static void
s_respond_text (s_conn_t *c, int status, const char *text)
{
    sup_http_reply_t reply = { .status = status, .body = strdup (text),
                               .body_len = strlen (text) };
    if (!reply.body)
        abort ();
    s_respond (c, &reply, false);
}

int
sup_http_parse_head (char *head, const char **path_p, bool *head_only)
{
    //  Request line: METHOD SP PATH SP HTTP/1.x
    char *line_end = strpbrk (head, "\r\n");
    if (!line_end)
        return 400;
    *line_end = 0;
    char *method = head;
    char *sp1 = strchr (method, ' ');
    char *sp2 = sp1 ? strchr (sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strncmp (sp2 + 1, "HTTP/1.", 7) != 0 || sp1 [1] != '/')
        return 400;
    *sp1 = 0;
    *sp2 = 0;
    char *path = sp1 + 1;
    *head_only = strcmp (method, "HEAD") == 0;
    if (strcmp (method, "GET") != 0 && !*head_only)
        return 405;
    char *query = strchr (path, '?');
    if (query)
        *query = 0;
    for (char *p = path; *p; p++)
        if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e)
            return 400;
    *path_p = path;
    return 0;
}

//  Answers the complete request head in c->in.
static void
s_handle_request (sup_http_t *self, s_conn_t *c)
{
    const char *path = NULL;
    bool head_only = false;
    int status = sup_http_parse_head (c->in, &path, &head_only);
    if (status == 405) {
        s_respond_text (c, 405, "only GET\n");
        return;
    }
    if (status != 0) {
        s_respond_text (c, 400, "bad request\n");
        return;
    }
    sup_http_reply_t reply = { .status = 404 };
    self->handler (self->arg, path, &reply);
    s_respond (c, &reply, head_only);
}

static void
s_read (sup_http_t *self, s_conn_t *c)
{
    while (c->in_len < SUP_HTTP_MAX_REQUEST) {
        ssize_t r = read (c->fd, c->in + c->in_len, SUP_HTTP_MAX_REQUEST - c->in_len);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            s_conn_close (c);
            return;
        }
        c->in_len += (size_t) r;
        c->in [c->in_len] = 0;
        //  NUL bytes would hide the end of the head from the string functions below.
        if (memchr (c->in, 0, c->in_len)) {
            s_respond_text (c, 400, "NUL in request\n");
            return;
        }
        if (strstr (c->in, "\r\n\r\n") || strstr (c->in, "\n\n")) {
            s_handle_request (self, c);
            return;
        }
    }
    s_respond_text (c, 431, "request head larger than 8 KiB\n");
}

static void
s_write (s_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send (c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w <= 0) {
            s_conn_close (c);
            return;
        }
        c->out_off += (size_t) w;
    }
    s_conn_close (c);
}

static void
s_accept (sup_http_t *self, int64_t now)
{
    for (int burst = 0; burst < SUP_HTTP_MAX_CONNS; burst++) {
        int fd = accept4 (self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        s_conn_t *slot = NULL;
        for (int i = 0; i < SUP_HTTP_MAX_CONNS && !slot; i++)
            if (self->conns [i].fd < 0)
                slot = &self->conns [i];
        if (!slot) {
            close (fd);
            log_warn ("http_refused", LS ("reason", "too many connections"));
            continue;
        }
        slot->fd = fd;
        slot->deadline = now + SUP_HTTP_TIMEOUT_MS;
        slot->in_len = 0;
        slot->writing = false;
    }
}

void
sup_http_service (sup_http_t *self, const zmq_pollitem_t *items, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        if (!(items [i].revents & (ZMQ_POLLIN | ZMQ_POLLOUT | ZMQ_POLLERR)))
            continue;
        if (items [i].fd == self->listen_fd) {
            s_accept (self, now);
            continue;
        }
        for (int k = 0; k < SUP_HTTP_MAX_CONNS; k++) {
            s_conn_t *c = &self->conns [k];
            if (c->fd != items [i].fd)
                continue;
            if (!c->writing)
                s_read (self, c);
            if (c->fd >= 0 && c->writing)
                s_write (c);
            break;
        }
    }
    for (int k = 0; k < SUP_HTTP_MAX_CONNS; k++)
        if (self->conns [k].fd >= 0 && now >= self->conns [k].deadline)
            s_conn_close (&self->conns [k]);
}

int64_t
sup_http_next_deadline (sup_http_t *self)
{
    int64_t next = INT64_MAX;
    for (int k = 0; k < SUP_HTTP_MAX_CONNS; k++)
        if (self->conns [k].fd >= 0 && self->conns [k].deadline < next)
            next = self->conns [k].deadline;
    return next;
}
