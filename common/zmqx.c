/*  zmqx: ZeroMQ socket creation with bounded options, endpoint naming, one-frame messages.

    Options are set with zmq_setsockopt on the resolved handle rather than czmq's typed
    setters, because those assert on socket types (router_mandatory on a DEALER) and some
    (routing_id, maxmsgsize as int64) are draft or narrowed in czmq 4.2.

    A received frame stays in libzmq's zmq_msg_t: its size is checked there and the caller
    reads it in place, so an over-size frame is never copied. ZMQ_MAXMSGSIZE on every socket
    makes libzmq refuse the frame (and drop the peer) even earlier, from its length header. */
#include "common/zmqx.h"
#include "common/log.h"
#include "common/rc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

zmqx_opts_t
zmqx_opts_default (void)
{
    zmqx_opts_t opts = {
        .linger_ms = 500,
        .sndhwm = 1000,
        .rcvhwm = 1000,
        .sndtimeo_ms = 1000,
        .rcvtimeo_ms = 1000,
        .maxmsgsize = ZMQX_FRAME_MAX_DEFAULT,
        .routing_id = NULL,
        .immediate = false,
        .router_mandatory = true,
        .router_handover = true
    };
    return opts;
}

int
zmqx_recv_ready (zsock_t *sock, zmqx_frame_t *frame, size_t max_size, const char *refused_event)
{
    int rc = zmqx_recv (sock, frame, max_size, ZMQ_DONTWAIT);
    if (rc == 0)
        return 1;
    if (rc == RC_RETRY)
        return 0;
    if (rc == RC_MALFORMED) {
        log_warn (refused_event, LS ("reason", "oversized or multi-part frame"),
                  LI ("max_bytes", (int64_t) max_size));
        return 0;
    }
    return -1;
}

int
zmqx_endpoint_at (char *buf, size_t size, char prefix, const char *run_dir,
                  const char *node_name, const char *stage)
{
    assert (buf && size > 1);
    char err [256];
    buf [0] = prefix;
    if (zmqx_endpoint (buf + 1, size - 1, run_dir, node_name, stage, err, sizeof err) != 0) {
        log_error ("config_invalid", LS ("key", stage), LS ("reason", err));
        return -1;
    }
    return 0;
}

int
zmqx_mkdir_p (const char *path)
{
    char buf [4096];
    size_t len = strlen (path);
    if (len == 0 || len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy (buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf [i] != '/' && buf [i] != 0)
            continue;
        char saved = buf [i];
        buf [i] = 0;
        if (mkdir (buf, 0700) != 0 && errno != EEXIST)
            return -1;
        buf [i] = saved;
    }
    struct stat st;
    if (stat (path, &st) != 0)
        return -1;
    if (!S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

//  For every ipc:// endpoint in a czmq endpoint list that will be bound, creates its
//  directory.
static int
s_make_ipc_dirs (const char *endpoints, bool serverish)
{
    const char *p = endpoints;
    while (*p) {
        size_t len = strcspn (p, ",");
        char one [ZMQX_ENDPOINT_MAX];
        if (len >= sizeof one) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy (one, p, len);
        one [len] = 0;
        const char *ep = one;
        bool bind = serverish;
        if (*ep == '@' || *ep == '>') {
            bind = *ep == '@';
            ep++;
        }
        if (bind && strncmp (ep, "ipc://", 6) == 0) {
            char dir [ZMQX_ENDPOINT_MAX];
            snprintf (dir, sizeof dir, "%s", ep + 6);
            char *slash = strrchr (dir, '/');
            if (slash && slash != dir) {
                *slash = 0;
                if (zmqx_mkdir_p (dir) != 0)
                    return -1;
            }
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int
s_setopt_int (void *handle, int option, int value)
{
    return zmq_setsockopt (handle, option, &value, sizeof value);
}

zsock_t *
zmqx_new (int type, const char *endpoints, const zmqx_opts_t *opts)
{
    assert (endpoints);
    zmqx_opts_t defaults = zmqx_opts_default ();
    if (!opts)
        opts = &defaults;
    assert (opts->linger_ms >= 0 && opts->sndtimeo_ms >= 0 && opts->rcvtimeo_ms >= 0);
    assert (opts->maxmsgsize > 0);
    bool serverish = type == ZMQ_PULL || type == ZMQ_ROUTER || type == ZMQ_PUB
                  || type == ZMQ_REP || type == ZMQ_XPUB;
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        log_error ("zmq_socket_failed", LS ("endpoint", endpoints),
                   LS ("reason", zmq_strerror (zmq_errno ())));
        return NULL;
    }
    void *handle = zsock_resolve (sock);
    int64_t maxmsg = opts->maxmsgsize;
    int rc = s_setopt_int (handle, ZMQ_LINGER, opts->linger_ms);
    rc |= s_setopt_int (handle, ZMQ_SNDHWM, opts->sndhwm);
    rc |= s_setopt_int (handle, ZMQ_RCVHWM, opts->rcvhwm);
    rc |= s_setopt_int (handle, ZMQ_SNDTIMEO, opts->sndtimeo_ms);
    rc |= s_setopt_int (handle, ZMQ_RCVTIMEO, opts->rcvtimeo_ms);
    rc |= zmq_setsockopt (handle, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (opts->immediate)
        rc |= s_setopt_int (handle, ZMQ_IMMEDIATE, 1);
    if (type == ZMQ_ROUTER && opts->router_mandatory)
        rc |= s_setopt_int (handle, ZMQ_ROUTER_MANDATORY, 1);
    if (type == ZMQ_ROUTER && opts->router_handover)
        rc |= s_setopt_int (handle, ZMQ_ROUTER_HANDOVER, 1);
    if (opts->routing_id) {
        size_t len = strlen (opts->routing_id);
        if (len == 0 || len > 255)
            rc = -1;
        else
            rc |= zmq_setsockopt (handle, ZMQ_ROUTING_ID, opts->routing_id, len);
    }
    if (rc != 0) {
        log_error ("zmq_socket_failed", LS ("endpoint", endpoints),
                   LS ("reason", "setting socket options failed"));
        zsock_destroy (&sock);
        return NULL;
    }
    if (s_make_ipc_dirs (endpoints, serverish) != 0) {
        log_error ("zmq_socket_failed", LS ("endpoint", endpoints),
                   LS ("reason", strerror (errno)));
        zsock_destroy (&sock);
        return NULL;
    }
    if (*endpoints && zsock_attach (sock, endpoints, serverish) != 0) {
        log_error ("zmq_socket_failed", LS ("endpoint", endpoints),
                   LS ("reason", zmq_strerror (zmq_errno ())));
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

static bool
s_valid_name (const char *s)
{
    size_t len = strlen (s);
    if (len == 0 || len > 64)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        ||   c == '_' || c == '.' || c == '-'))
            return false;
    }
    //  "." and ".." would walk the directory tree
    return strcmp (s - len, ".") != 0 && strcmp (s - len, "..") != 0;
}

int
zmqx_endpoint (char *buf, size_t size, const char *run_dir, const char *node_name,
               const char *stage, char *err, size_t errsize)
{
    assert (buf && size > 0);
    char scratch [8];
    if (!err) {
        err = scratch;
        errsize = sizeof scratch;
    }
    buf [0] = 0;
    if (!stage || !*stage) {
        snprintf (err, errsize, "empty stage name");
        return -1;
    }
    if (strstr (stage, "://")) {
        size_t len = strlen (stage);
        if (len >= size || len >= ZMQX_ENDPOINT_MAX) {
            snprintf (err, errsize, "endpoint too long");
            return -1;
        }
        for (const char *p = stage; *p; p++)
            if (*p <= ' ' || *p == ',' || *p == 0x7F) {
                snprintf (err, errsize, "endpoint contains a space, comma or control byte");
                return -1;
            }
        memcpy (buf, stage, len + 1);
        return 0;
    }
    if (!s_valid_name (stage)) {
        snprintf (err, errsize, "stage name must be [A-Za-z0-9_.-]{1,64}");
        return -1;
    }
    if (!node_name || !s_valid_name (node_name)) {
        snprintf (err, errsize, "node name must be [A-Za-z0-9_.-]{1,64}");
        return -1;
    }
    if (!run_dir || !*run_dir) {
        snprintf (err, errsize, "empty run directory");
        return -1;
    }
    char path [ZMQX_ENDPOINT_MAX];
    int n = snprintf (path, sizeof path, "%s/%s/%s.ipc", run_dir, node_name, stage);
    if (n < 0 || (size_t) n > ZMQX_IPC_PATH_MAX) {
        snprintf (err, errsize, "ipc path longer than %d bytes: use a shorter run.dir",
                  ZMQX_IPC_PATH_MAX);
        return -1;
    }
    if ((size_t) n + 6 >= size) {
        snprintf (err, errsize, "buffer too small");
        return -1;
    }
    char dir [ZMQX_ENDPOINT_MAX];
    snprintf (dir, sizeof dir, "%s/%s", run_dir, node_name);
    if (zmqx_mkdir_p (dir) != 0) {
        snprintf (err, errsize, "cannot create %s: %s", dir, strerror (errno));
        return -1;
    }
    snprintf (buf, size, "ipc://%s", path);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  Frames

//  Receives and drops the rest of a multi-part message (its parts are already queued).
static void
s_drop_rest (void *handle, zmq_msg_t *msg)
{
    while (zmq_msg_more (msg)) {
        zmq_msg_close (msg);
        zmq_msg_init (msg);
        if (zmq_msg_recv (msg, handle, ZMQ_DONTWAIT) < 0)
            break;
    }
    zmq_msg_close (msg);
}

static int
s_recv_errno (void)
{
    int e = zmq_errno ();
    return e == EAGAIN || e == EINTR ? RC_RETRY : -1;
}

int
zmqx_recv (zsock_t *sock, zmqx_frame_t *frame, size_t max_size, int flags)
{
    assert (sock && frame);
    frame->open = false;
    void *handle = zsock_resolve (sock);
    zmq_msg_init (&frame->msg);
    if (zmq_msg_recv (&frame->msg, handle, flags) < 0) {
        zmq_msg_close (&frame->msg);
        return s_recv_errno ();
    }
    if (zmq_msg_more (&frame->msg) || zmq_msg_size (&frame->msg) > max_size) {
        s_drop_rest (handle, &frame->msg);
        return RC_MALFORMED;
    }
    frame->open = true;
    return 0;
}

int
zmqx_recv_routed (zsock_t *sock, uint8_t *id_buf, size_t id_size, size_t *id_len,
                  zmqx_frame_t *frame, size_t max_size, int flags)
{
    assert (sock && id_buf && id_len && frame);
    assert (id_size >= 256);
    frame->open = false;
    *id_len = 0;
    void *handle = zsock_resolve (sock);
    zmq_msg_t id;
    zmq_msg_init (&id);
    if (zmq_msg_recv (&id, handle, flags) < 0) {
        zmq_msg_close (&id);
        return s_recv_errno ();
    }
    size_t len = zmq_msg_size (&id);
    if (!zmq_msg_more (&id) || len == 0 || len > 255) {
        s_drop_rest (handle, &id);
        return RC_MALFORMED;
    }
    memcpy (id_buf, zmq_msg_data (&id), len);
    zmq_msg_close (&id);
    //  The payload part is already queued with its envelope: do not wait for it.
    zmq_msg_init (&frame->msg);
    if (zmq_msg_recv (&frame->msg, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame->msg);
        return RC_MALFORMED;
    }
    if (zmq_msg_more (&frame->msg) || zmq_msg_size (&frame->msg) > max_size) {
        s_drop_rest (handle, &frame->msg);
        return RC_MALFORMED;
    }
    *id_len = len;
    frame->open = true;
    return 0;
}

const uint8_t *
zmqx_frame_data (zmqx_frame_t *frame)
{
    assert (frame && frame->open);
    return zmq_msg_data (&frame->msg);
}

size_t
zmqx_frame_size (const zmqx_frame_t *frame)
{
    assert (frame && frame->open);
    return zmq_msg_size ((zmq_msg_t *) &frame->msg);
}

void
zmqx_frame_close (zmqx_frame_t *frame)
{
    if (frame && frame->open) {
        zmq_msg_close (&frame->msg);
        frame->open = false;
    }
}

static int
s_send_errno (void)
{
    int e = zmq_errno ();
    return e == EAGAIN || e == EINTR || e == EHOSTUNREACH ? RC_RETRY : -1;
}

int
zmqx_send (zsock_t *sock, const void *data, size_t size, size_t max_size, int flags)
{
    assert (sock);
    assert (data || size == 0);
    if (size > max_size)
        return RC_MALFORMED;
    if (zmq_send (zsock_resolve (sock), data, size, flags) < 0)
        return s_send_errno ();
    return 0;
}

//  Zero-copy hand-off of an sbuffer's bytes. `keep` is set when the send failed, so closing
//  the message leaves the bytes with the sbuffer.
typedef struct {
    bool keep;
} s_handoff_t;

static void
s_handoff_free (void *data, void *hint)
{
    s_handoff_t *handoff = hint;
    if (!handoff->keep)
        free (data);
    free (handoff);
}

int
zmqx_send_sbuf (zsock_t *sock, msgpack_sbuffer *sbuf, size_t max_size, int flags)
{
    assert (sock && sbuf);
    if (sbuf->size > max_size)
        return RC_MALFORMED;
    if (sbuf->size == 0 || !sbuf->data)
        return zmqx_send (sock, "", 0, max_size, flags);
    s_handoff_t *handoff = calloc (1, sizeof *handoff);
    if (!handoff)
        abort ();
    zmq_msg_t msg;
    if (zmq_msg_init_data (&msg, sbuf->data, sbuf->size, s_handoff_free, handoff) != 0) {
        free (handoff);
        return -1;
    }
    if (zmq_msg_send (&msg, zsock_resolve (sock), flags) < 0) {
        int rc = s_send_errno ();
        handoff->keep = true;
        zmq_msg_close (&msg);
        return rc;
    }
    sbuf->data = NULL;
    sbuf->size = 0;
    sbuf->alloc = 0;
    return 0;
}

int
zmqx_send_routed (zsock_t *sock, const uint8_t *id, size_t id_len,
                  const void *data, size_t size, size_t max_size, int flags)
{
    assert (sock && id);
    assert (data || size == 0);
    if (id_len == 0 || id_len > 255 || size > max_size)
        return RC_MALFORMED;
    void *handle = zsock_resolve (sock);
    if (zmq_send (handle, id, id_len, flags | ZMQ_SNDMORE) < 0)
        return s_send_errno ();
    //  Once the id part is queued the payload goes to the same pipe: it cannot block.
    if (zmq_send (handle, data, size, flags) < 0)
        return s_send_errno ();
    return 0;
}
