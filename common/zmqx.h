/*  zmqx: the small ZeroMQ helpers every worker shares.

    - Sockets are created with the options the project always wants set: a bounded linger (so
      closing never blocks past the shutdown budget), high-water marks, send and receive
      timeouts (every blocking call is bounded), and ZMQ_MAXMSGSIZE, so libzmq drops a peer
      that announces a frame larger than the cap before allocating it.
    - Endpoint naming: a pipeline stage "storage" of node "miner-1" lives at
      ipc://<run.dir>/<node.name>/storage.ipc (the directory is created); anything already
      shaped like an endpoint ("tcp://10.0.0.5:7001", "ipc:///x", "inproc://y") passes through
      unchanged, so scaling a pool out to other hosts (Kubernetes) only switches endpoints.
    - Frames: one message = one frame of msgpack (DESIGN.md section 3). Receiving checks the
      size against a cap on the frame libzmq already holds, before anything copies it, and
      rejects multi-part messages where one frame is expected.                              */
#ifndef ZM_ZMQX_H
#define ZM_ZMQX_H

#include <czmq.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Default frame cap: 16 MiB (a listing batch is far smaller).
#define ZMQX_FRAME_MAX_DEFAULT (16u * 1024u * 1024u)
//  Longest ipc:// path (sun_path is 108 bytes including the NUL).
#define ZMQX_IPC_PATH_MAX 107
//  Longest endpoint string zmqx_endpoint produces or passes through.
#define ZMQX_ENDPOINT_MAX 512

typedef struct {
    int linger_ms;              //  ZMQ_LINGER (>= 0: never infinite)
    int sndhwm, rcvhwm;         //  messages
    int sndtimeo_ms;            //  ZMQ_SNDTIMEO (>= 0)
    int rcvtimeo_ms;            //  ZMQ_RCVTIMEO (>= 0)
    int64_t maxmsgsize;         //  ZMQ_MAXMSGSIZE, bytes (> 0)
    const char *routing_id;     //  ZMQ_ROUTING_ID for DEALER/ROUTER peers, or NULL
    bool immediate;             //  ZMQ_IMMEDIATE: queue only to completed connections
    bool router_mandatory;      //  ROUTER: unknown routing id -> EHOSTUNREACH, not a drop
    bool router_handover;       //  ROUTER: a new peer with a routing id still in use takes
                                //  it over (a restarted worker reconnecting as "name.index"
                                //  before the old connection is noticed gone)
} zmqx_opts_t;

//  Defaults: linger 500 ms, hwm 1000/1000, send and receive timeouts 1000 ms, maxmsgsize
//  ZMQX_FRAME_MAX_DEFAULT, no routing id, immediate off, router_mandatory and
//  router_handover on.
zmqx_opts_t zmqx_opts_default (void);

//  Creates a socket of `type` (ZMQ_PUSH, ZMQ_PULL, ZMQ_ROUTER, ZMQ_DEALER, ZMQ_PUB, ...) with
//  opts (NULL: defaults) applied before it binds or connects to `endpoints` (czmq syntax: a
//  comma list, '@' = bind, '>' = connect; without a prefix PULL and ROUTER bind, PUSH and
//  DEALER connect; "" leaves the socket unattached). For an ipc:// bind the parent directory
//  is created first. Returns NULL
//  (logged, event zmq_socket_failed with the reason) when the endpoint cannot be used.
//  Caller owns (zsock_destroy).
zsock_t *zmqx_new (int type, const char *endpoints, const zmqx_opts_t *opts);

//  Builds the endpoint of `stage` into buf: stage itself if it contains "://" (length and
//  charset checked), else "ipc://<run_dir>/<node_name>/<stage>.ipc" after creating
//  <run_dir>/<node_name> (mode 0700, parents too). stage and node_name: [A-Za-z0-9_.-]{1,64}.
//  Returns 0, or -1 (err, if not NULL, names the reason: bad name, path too long for
//  ipc, mkdir failure).
int zmqx_endpoint (char *buf, size_t size, const char *run_dir, const char *node_name,
                   const char *stage, char *err, size_t errsize);

//  zmqx_endpoint behind a czmq direction prefix ('@' bind, '>' connect), as zmqx_new and
//  zsock_new_* take it: "@ipc://…/storage.ipc". size counts the prefix. On failure logs
//  "config_invalid" naming the stage and returns -1 (a configuration error: exit 100).
int zmqx_endpoint_at (char *buf, size_t size, char prefix, const char *run_dir,
                      const char *node_name, const char *stage);

//  Creates the directory and its parents (mode 0700); existing ones are fine. 0 / -1.
int zmqx_mkdir_p (const char *path);

//  ---------------------------------------------------------------------------------------
//  Frames

//  A received frame, held by libzmq (no copy). Fields are private: use the accessors.
typedef struct {
    zmq_msg_t msg;
    bool open;
} zmqx_frame_t;

//  Receives one message of exactly one frame, waiting at most the socket's receive timeout
//  (rcvtimeo; pass ZMQ_DONTWAIT in flags to not wait). On a ROUTER use zmqx_recv_routed.
//  Returns 0 with *frame open (release with zmqx_frame_close), or
//    RC_RETRY      nothing arrived in time (EAGAIN) or the call was interrupted (EINTR);
//    RC_MALFORMED  the frame is larger than max_size, or the message has several frames
//                  (every part is consumed and dropped; nothing is copied);
//    -1            the socket failed (ETERM, ...).
//  On any return but 0 the frame holds nothing.
int zmqx_recv (zsock_t *sock, zmqx_frame_t *frame, size_t max_size, int flags);

//  zmqx_recv for a worker's reader handler (without waiting). Returns 1 with *frame open
//  (release with zmqx_frame_close); 0 when there is nothing to handle: no message, or one
//  refused as oversized or multi-part, which is logged as event refused_event; -1 when the
//  socket failed (the handler returns -1 too).
int zmqx_recv_ready (zsock_t *sock, zmqx_frame_t *frame, size_t max_size,
                     const char *refused_event);

//  ROUTER side: receives [routing id, payload]. The id (at most 255 bytes) is copied into
//  id_buf (id_size >= 256) with its length in *id_len. Same returns as zmqx_recv; a message
//  that is not exactly two frames or whose id is empty is RC_MALFORMED.
int zmqx_recv_routed (zsock_t *sock, uint8_t *id_buf, size_t id_size, size_t *id_len,
                      zmqx_frame_t *frame, size_t max_size, int flags);

const uint8_t *zmqx_frame_data (zmqx_frame_t *frame);
size_t zmqx_frame_size (const zmqx_frame_t *frame);
//  Releases the frame; no-op on a closed one.
void zmqx_frame_close (zmqx_frame_t *frame);

//  Sends one frame (copied), waiting at most the socket's send timeout (or not at all with
//  ZMQ_DONTWAIT). Returns 0, RC_RETRY when the peer queue is full / no peer (EAGAIN, EINTR),
//  RC_MALFORMED when size > max_size (nothing sent), -1 on other failures.
int zmqx_send (zsock_t *sock, const void *data, size_t size, size_t max_size, int flags);

//  Sends the bytes of an sbuffer as one frame without copying: on 0 the sbuffer's data is
//  handed to libzmq and the sbuffer is left empty (ready for reuse); on failure it is left
//  untouched. Same returns as zmqx_send.
int zmqx_send_sbuf (zsock_t *sock, msgpack_sbuffer *sbuf, size_t max_size, int flags);

//  ROUTER side: sends [routing id, payload]. With router_mandatory (the default), an unknown
//  or gone peer gives RC_RETRY (EHOSTUNREACH) rather than a silent drop.
int zmqx_send_routed (zsock_t *sock, const uint8_t *id, size_t id_len,
                      const void *data, size_t size, size_t max_size, int flags);

#endif
