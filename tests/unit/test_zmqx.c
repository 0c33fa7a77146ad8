/*  test_zmqx: endpoint naming, socket options, one-frame send/receive with size caps, on real
    ZeroMQ sockets over ipc:// in a temporary directory.                                    */
#include "common/zmqx.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir [64];

static void
test_endpoint (void)
{
    char ep [ZMQX_ENDPOINT_MAX], err [256];
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "node-1", "storage", err, sizeof err), 0);
    char expect [256];
    snprintf (expect, sizeof expect, "ipc://%s/node-1/storage.ipc", s_dir);
    CHECK_EQ_STR (ep, expect);
    char dir [256];
    snprintf (dir, sizeof dir, "%s/node-1", s_dir);
    struct stat st;
    CHECK (stat (dir, &st) == 0 && S_ISDIR (st.st_mode));
    CHECK_EQ_INT (st.st_mode & 0777, 0700);

    //  passthrough for Kubernetes scale-out
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "tcp://10.0.0.5:7001", err,
                                 sizeof err), 0);
    CHECK_EQ_STR (ep, "tcp://10.0.0.5:7001");
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "tcp://a:1,tcp://b:2", err,
                                 sizeof err), -1);
    CHECK (strstr (err, "comma"));
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "tcp://a :1", err, sizeof err), -1);

    //  names that would escape the run directory or are empty
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "..", err, sizeof err), -1);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "a/b", err, sizeof err), -1);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "", err, sizeof err), -1);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "..", "x", err, sizeof err), -1);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, NULL, "x", err, sizeof err), -1);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, "", "n", "x", err, sizeof err), -1);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "n", "x", NULL, 0), 0);

    //  sun_path is 108 bytes: a path that would not fit is refused with a clear reason
    char long_dir [200];
    snprintf (long_dir, sizeof long_dir, "%s/%0100d", s_dir, 0);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, long_dir, "n", "storage", err, sizeof err), -1);
    CHECK (strstr (err, "run.dir"));
    //  a run dir that is a file
    char file [128];
    snprintf (file, sizeof file, "%s/file", s_dir);
    int fd = open (file, O_CREAT | O_WRONLY, 0600);
    CHECK (fd >= 0);
    close (fd);
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, file, "n", "x", err, sizeof err), -1);
    CHECK (strstr (err, "cannot create"));
    //  buffer too small
    char tiny [16];
    CHECK_EQ_INT (zmqx_endpoint (tiny, sizeof tiny, s_dir, "n", "x", err, sizeof err), -1);
}

static void
test_push_pull (void)
{
    char ep [ZMQX_ENDPOINT_MAX];
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "pp", "stage", NULL, 0), 0);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 100;
    zsock_t *pull = zmqx_new (ZMQ_PULL, ep, &opts);         //  PULL binds by default
    CHECK (pull);
    zsock_t *push = zmqx_new (ZMQ_PUSH, ep, NULL);          //  PUSH connects by default
    CHECK (push);

    CHECK_EQ_INT (zmqx_send (push, "hello", 5, 1024, 0), 0);
    zmqx_frame_t frame;
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), 0);
    CHECK_EQ_INT (zmqx_frame_size (&frame), 5);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "hello", 5);
    zmqx_frame_close (&frame);
    zmqx_frame_close (&frame);                              //  no-op when closed

    //  sending above the cap is refused before anything leaves
    CHECK_EQ_INT (zmqx_send (push, "toolong", 7, 6, 0), RC_MALFORMED);

    //  an over-size frame is rejected on receive; the next one still arrives
    static char big [4096];
    memset (big, 'x', sizeof big);
    CHECK_EQ_INT (zmqx_send (push, big, sizeof big, sizeof big, 0), 0);
    CHECK_EQ_INT (zmqx_send (push, "ok", 2, 1024, 0), 0);
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), RC_MALFORMED);
    CHECK (!frame.open);
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), 0);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "ok", 2);
    zmqx_frame_close (&frame);

    //  a multi-part message is rejected whole, all its parts consumed
    CHECK_EQ_INT (zsock_send (push, "sss", "a", "b", "c"), 0);
    CHECK_EQ_INT (zmqx_send (push, "after", 5, 1024, 0), 0);
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), RC_MALFORMED);
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), 0);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "after", 5);
    zmqx_frame_close (&frame);

    //  nothing to receive: RC_RETRY after the receive timeout, not a hang
    int64_t t0 = clock_mono_ms ();
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), RC_RETRY);
    int64_t waited = clock_mono_ms () - t0;
    CHECK (waited >= 90 && waited < 1000);
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, ZMQ_DONTWAIT), RC_RETRY);

    //  the reader-handler form: 1 = a frame to handle, 0 = nothing (none, or refused)
    CHECK_EQ_INT (zmqx_recv_ready (pull, &frame, 1024, "test_refused"), 0);
    CHECK_EQ_INT (zmqx_send (push, big, sizeof big, sizeof big, 0), 0);
    CHECK_EQ_INT (zmqx_send (push, "fits", 4, 1024, 0), 0);
    zclock_sleep (50);
    CHECK_EQ_INT (zmqx_recv_ready (pull, &frame, 1024, "test_refused"), 0);
    CHECK_EQ_INT (zmqx_recv_ready (pull, &frame, 1024, "test_refused"), 1);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "fits", 4);
    zmqx_frame_close (&frame);

    //  zero-copy send of an sbuffer
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_uint32 (&pk, 7);
    msgpack_pack_true (&pk);
    CHECK_EQ_INT (zmqx_send_sbuf (push, &sbuf, 2, 0), RC_MALFORMED);    //  over the cap
    CHECK_EQ_INT (sbuf.size, 3);
    CHECK_EQ_INT (zmqx_send_sbuf (push, &sbuf, 1024, 0), 0);
    CHECK (sbuf.data == NULL && sbuf.size == 0);
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1024, 0), 0);
    CHECK_EQ_INT (zmqx_frame_size (&frame), 3);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "\x92\x07\xc3", 3);
    zmqx_frame_close (&frame);
    msgpack_pack_nil (&pk);                                 //  the sbuffer is reusable
    CHECK_EQ_INT (sbuf.size, 1);
    msgpack_sbuffer_destroy (&sbuf);

    zsock_destroy (&push);
    zsock_destroy (&pull);
}

//  A failed zero-copy send leaves the bytes with the sbuffer.
static void
test_sbuf_failure (void)
{
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.sndtimeo_ms = 0;
    opts.immediate = true;                  //  no completed connection: EAGAIN at once
    char ep [ZMQX_ENDPOINT_MAX];
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "pp", "nobody", NULL, 0), 0);
    zsock_t *push = zmqx_new (ZMQ_PUSH, ep, &opts);
    CHECK (push);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_sbuffer_write (&sbuf, "abc", 3);
    CHECK_EQ_INT (zmqx_send_sbuf (push, &sbuf, 1024, 0), RC_RETRY);
    CHECK_EQ_INT (sbuf.size, 3);
    CHECK_EQ_MEM (sbuf.data, "abc", 3);
    CHECK_EQ_INT (zmqx_send (push, "x", 1, 1024, 0), RC_RETRY);
    msgpack_sbuffer_destroy (&sbuf);
    zsock_destroy (&push);
}

//  libzmq itself refuses frames above ZMQ_MAXMSGSIZE (the peer is dropped before the frame is
//  allocated), so the receiver sees nothing.
static void
test_maxmsgsize (void)
{
    char ep [ZMQX_ENDPOINT_MAX];
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "pp", "capped", NULL, 0), 0);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.maxmsgsize = 1000;
    opts.rcvtimeo_ms = 300;
    zsock_t *pull = zmqx_new (ZMQ_PULL, ep, &opts);
    zsock_t *push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (pull && push);
    static char big [2000];
    CHECK_EQ_INT (zmqx_send (push, big, sizeof big, sizeof big, 0), 0);
    zmqx_frame_t frame;
    CHECK_EQ_INT (zmqx_recv (pull, &frame, 1 << 20, 0), RC_RETRY);
    zsock_destroy (&push);
    zsock_destroy (&pull);
}

static void
test_router_dealer (void)
{
    char ep [ZMQX_ENDPOINT_MAX];
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "rd", "sup", NULL, 0), 0);
    zmqx_opts_t ropts = zmqx_opts_default ();
    ropts.rcvtimeo_ms = 1000;
    zsock_t *router = zmqx_new (ZMQ_ROUTER, ep, &ropts);
    CHECK (router);
    zmqx_opts_t dopts = zmqx_opts_default ();
    dopts.routing_id = "storage.0";
    zsock_t *dealer = zmqx_new (ZMQ_DEALER, ep, &dopts);
    CHECK (dealer);

    CHECK_EQ_INT (zmqx_send (dealer, "beat", 4, 1024, 0), 0);
    uint8_t id [256];
    size_t id_len;
    zmqx_frame_t frame;
    CHECK_EQ_INT (zmqx_recv_routed (router, id, sizeof id, &id_len, &frame, 1024, 0), 0);
    CHECK_EQ_INT (id_len, 9);
    CHECK_EQ_MEM (id, "storage.0", 9);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "beat", 4);
    zmqx_frame_close (&frame);

    CHECK_EQ_INT (zmqx_send_routed (router, id, id_len, "drain", 5, 1024, 0), 0);
    CHECK_EQ_INT (zmqx_recv (dealer, &frame, 1024, 0), 0);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "drain", 5);
    zmqx_frame_close (&frame);

    //  router_mandatory: an unknown peer is an error the caller sees, not a silent drop
    CHECK_EQ_INT (zmqx_send_routed (router, (const uint8_t *) "ghost", 5, "x", 1, 1024, 0),
                  RC_RETRY);
    CHECK_EQ_INT (zmqx_send_routed (router, id, 0, "x", 1, 1024, 0), RC_MALFORMED);

    //  a DEALER sending two frames: the router sees [id, a, b] and rejects it whole
    CHECK_EQ_INT (zsock_send (dealer, "ss", "a", "b"), 0);
    CHECK_EQ_INT (zmqx_send (dealer, "next", 4, 1024, 0), 0);
    CHECK_EQ_INT (zmqx_recv_routed (router, id, sizeof id, &id_len, &frame, 1024, 0),
                  RC_MALFORMED);
    CHECK_EQ_INT (zmqx_recv_routed (router, id, sizeof id, &id_len, &frame, 1024, 0), 0);
    CHECK_EQ_MEM (zmqx_frame_data (&frame), "next", 4);
    zmqx_frame_close (&frame);
    //  an over-size payload behind a valid id
    static char big [3000];
    CHECK_EQ_INT (zmqx_send (dealer, big, sizeof big, sizeof big, 0), 0);
    CHECK_EQ_INT (zmqx_recv_routed (router, id, sizeof id, &id_len, &frame, 1024, 0),
                  RC_MALFORMED);
    CHECK_EQ_INT (zmqx_recv_routed (router, id, sizeof id, &id_len, &frame, 1024,
                                    ZMQ_DONTWAIT), RC_RETRY);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

static void
test_bad_sockets (void)
{
    //  an endpoint libzmq cannot use
    CHECK (zmqx_new (ZMQ_PULL, "@bogus://x", NULL) == NULL);
    CHECK (zmqx_new (ZMQ_PULL, "@tcp://256.1.1.1:1", NULL) == NULL);
    //  an over-long routing id
    char rid [300];
    memset (rid, 'r', sizeof rid - 1);
    rid [sizeof rid - 1] = 0;
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.routing_id = rid;
    CHECK (zmqx_new (ZMQ_DEALER, "", &opts) == NULL);
    //  binding twice to the same ipc endpoint fails for the second
    char ep [ZMQX_ENDPOINT_MAX];
    CHECK_EQ_INT (zmqx_endpoint (ep, sizeof ep, s_dir, "dup", "x", NULL, 0), 0);
    char bind [ZMQX_ENDPOINT_MAX + 1];
    snprintf (bind, sizeof bind, "@%s", ep);
    zsock_t *a = zmqx_new (ZMQ_PULL, bind, NULL);
    CHECK (a);
    zsock_destroy (&a);
    //  an ipc bind creates its directory
    char nested [ZMQX_ENDPOINT_MAX];
    snprintf (nested, sizeof nested, "@ipc://%s/deep/er/x.ipc", s_dir);
    zsock_t *b = zmqx_new (ZMQ_PULL, nested, NULL);
    CHECK (b);
    zsock_destroy (&b);
}

int
main (void)
{
    int devnull = open ("/dev/null", O_WRONLY);
    CHECK (devnull >= 0);
    log_set_fd (devnull);
    zsys_handler_set (NULL);
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_zmqx_XXXXXX");
    CHECK (mkdtemp (s_dir));
    test_endpoint ();
    test_push_pull ();
    test_sbuf_failure ();
    test_maxmsgsize ();
    test_router_dealer ();
    test_bad_sockets ();
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    close (devnull);
    TEST_DONE ();
}
