/*  sup_http: zipmined's bounded HTTP responder (supervisor/sup_http.c), on real loopback
    sockets driven by zmq_poll exactly as the supervisor drives it: a request split over
    several writes, HEAD, 404/405/400/431, a full connection table, and the pure head parser. */
#include "supervisor/sup_http.c"
#include "tests/testutil.h"

#include <arpa/inet.h>
#include <poll.h>

static int s_calls = 0;

static void
s_handler (void *arg, const char *path, sup_http_reply_t *reply)
{
    (void) arg;
    s_calls++;
    if (strcmp (path, "/hello") == 0) {
        reply->status = 200;
        reply->body = strdup ("hi\n");
        reply->body_len = 3;
    }
    else {
        reply->status = 404;
        reply->body = strdup ("nope\n");
        reply->body_len = 5;
    }
}

static int
s_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    CHECK (fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    CHECK (connect (fd, (struct sockaddr *) &a, sizeof a) == 0);
    return fd;
}

//  Runs the server loop for up to ms milliseconds.
static void
s_pump (sup_http_t *http, int ms)
{
    int64_t end = clock_mono_ms () + ms;
    while (clock_mono_ms () < end) {
        zmq_pollitem_t items [SUP_HTTP_MAX_CONNS + 1];
        size_t n = sup_http_pollitems (http, items, SUP_HTTP_MAX_CONNS + 1);
        int rc = zmq_poll (items, (int) n, 10);
        sup_http_service (http, items, rc > 0 ? n : 0, clock_mono_ms ());
    }
}

//  Reads until EOF (the server closes after each response).
static char *
s_read_all (sup_http_t *http, int fd)
{
    static char buf [65536];
    size_t len = 0;
    int64_t end = clock_mono_ms () + 3000;
    while (clock_mono_ms () < end) {
        s_pump (http, 5);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll (&p, 1, 0) <= 0)
            continue;
        ssize_t r = read (fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t) r;
    }
    buf [len] = 0;
    close (fd);
    return buf;
}

static char *
s_request (sup_http_t *http, int port, const char *text)
{
    int fd = s_connect (port);
    CHECK (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    return s_read_all (http, fd);
}

int
main (void)
{
    char err [256];
    sup_http_t *http = sup_http_new ("127.0.0.1", 0, s_handler, NULL, err, sizeof err);
    CHECK (http);
    int port = sup_http_port (http);
    CHECK (port > 0);
    CHECK (sup_http_next_deadline (http) == INT64_MAX);

    char *r = s_request (http, port, "GET /hello HTTP/1.0\r\n\r\n");
    CHECK (strncmp (r, "HTTP/1.0 200 OK\r\n", 17) == 0);
    CHECK (strstr (r, "Content-Length: 3\r\n"));
    CHECK (strstr (r, "\r\n\r\nhi\n"));

    r = s_request (http, port, "HEAD /hello?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK (strncmp (r, "HTTP/1.0 200 OK\r\n", 17) == 0);
    CHECK (strstr (r, "Content-Length: 3\r\n"));
    CHECK (strstr (r, "hi\n") == NULL);

    r = s_request (http, port, "GET /other HTTP/1.0\n\n");
    CHECK (strncmp (r, "HTTP/1.0 404 ", 13) == 0);
    r = s_request (http, port, "DELETE /hello HTTP/1.0\r\n\r\n");
    CHECK (strncmp (r, "HTTP/1.0 405 ", 13) == 0);
    r = s_request (http, port, "GET hello HTTP/1.0\r\n\r\n");
    CHECK (strncmp (r, "HTTP/1.0 400 ", 13) == 0);
    r = s_request (http, port, "GET /hello SPDY/3\r\n\r\n");
    CHECK (strncmp (r, "HTTP/1.0 400 ", 13) == 0);

    //  a request split over three writes, with pauses
    int fd = s_connect (port);
    CHECK (write (fd, "GET /he", 7) == 7);
    s_pump (http, 30);
    CHECK (write (fd, "llo HTTP/1.0\r\n", 14) == 14);
    s_pump (http, 30);
    CHECK (sup_http_next_deadline (http) != INT64_MAX);
    CHECK (write (fd, "\r\n", 2) == 2);
    r = s_read_all (http, fd);
    CHECK (strncmp (r, "HTTP/1.0 200 OK\r\n", 17) == 0);

    //  a head larger than 8 KiB is refused without calling the handler
    int before = s_calls;
    char *big = malloc (SUP_HTTP_MAX_REQUEST + 100);
    CHECK (big);
    memset (big, 'a', SUP_HTTP_MAX_REQUEST + 99);
    memcpy (big, "GET /hello HTTP/1.0\r\nX: ", 24);
    big [SUP_HTTP_MAX_REQUEST + 99] = 0;
    r = s_request (http, port, big);
    free (big);
    CHECK (strncmp (r, "HTTP/1.0 431 ", 13) == 0);
    CHECK_EQ_INT (s_calls, before);
    //  NUL bytes
    fd = s_connect (port);
    CHECK (write (fd, "GET /\0hello HTTP/1.0\r\n\r\n", 24) == 24);
    r = s_read_all (http, fd);
    CHECK (strncmp (r, "HTTP/1.0 400 ", 13) == 0);

    //  a full table: SUP_HTTP_MAX_CONNS silent clients, then one more is closed at once,
    //  and a slot frees up when a silent client goes away
    int silent [SUP_HTTP_MAX_CONNS];
    for (int i = 0; i < SUP_HTTP_MAX_CONNS; i++)
        silent [i] = s_connect (port);
    s_pump (http, 100);
    fd = s_connect (port);
    r = s_read_all (http, fd);
    CHECK_EQ_INT (strlen (r), 0);
    close (silent [0]);
    s_pump (http, 50);
    r = s_request (http, port, "GET /hello HTTP/1.0\r\n\r\n");
    CHECK (strncmp (r, "HTTP/1.0 200 OK\r\n", 17) == 0);
    for (int i = 1; i < SUP_HTTP_MAX_CONNS; i++)
        close (silent [i]);
    s_pump (http, 50);

    //  the pure parser
    const char *path;
    bool head;
    char h1 [] = "GET /metrics?a=b HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ_INT (sup_http_parse_head (h1, &path, &head), 0);
    CHECK_EQ_STR (path, "/metrics");
    CHECK (!head);
    char h2 [] = "HEAD / HTTP/1.0\n\n";
    CHECK_EQ_INT (sup_http_parse_head (h2, &path, &head), 0);
    CHECK_EQ_STR (path, "/");
    CHECK (head);
    char h3 [] = "PUT / HTTP/1.0\r\n\r\n";
    CHECK_EQ_INT (sup_http_parse_head (h3, &path, &head), 405);
    char h4 [] = "GET /a\tb HTTP/1.0\r\n\r\n";
    CHECK_EQ_INT (sup_http_parse_head (h4, &path, &head), 400);
    char h5 [] = "GET";
    CHECK_EQ_INT (sup_http_parse_head (h5, &path, &head), 400);
    char h6 [] = "\r\n\r\n";
    CHECK_EQ_INT (sup_http_parse_head (h6, &path, &head), 400);

    //  bad bind
    CHECK (sup_http_new ("not-an-address", 0, s_handler, NULL, err, sizeof err) == NULL);
    CHECK (strstr (err, "http.bind"));

    sup_http_destroy (&http);
    CHECK (http == NULL);
    sup_http_destroy (&http);
    TEST_DONE ();
}
