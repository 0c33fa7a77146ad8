/*  control: commands to a supervisor or a worker, and their replies (PROTO_CONTROL,
    PROTO_CONTROL_REPLY).

    Used on two channels:
      - zipminectl -> zipmined (REQ/REP or DEALER/ROUTER on the supervisor's control socket):
        status, restart WORKER, scale POOL N, stop;
      - zipmined -> worker (on the worker's control channel): drain, stop, reload.
    Every request gets one PROTO_CONTROL_REPLY carrying the request's id; a status reply
    carries the status table (one row per child), which `zipminectl status --json` prints with
    proto_control_reply_json ().

    PROTO_CONTROL body:
        id         uint  64-bit, echoed in the reply            optional (default 0)
        cmd        uint  proto_command_t                         required
        worker     str   [A-Za-z0-9_.-]{1,64}                    required for restart, scale
        size       uint  0..PROTO_POOL_MAX                       required for scale

    PROTO_CONTROL_REPLY body:
        id         uint  64-bit                                  optional (default 0)
        ok         bool                                          required
        message    str   UTF-8 <= 512 bytes                      optional (default "")
        children   array of <= 256 child maps                    optional (absent = none)
    child map:
        name       str   [A-Za-z0-9_.-]{1,64}                    required
        index      uint  0..1023                                 required
        pid        uint  0..2^31-1 (0 = not running)             required
        state      uint  proto_child_state_t                     required
        restarts   uint  32-bit                                  required
        last_exit  str   UTF-8 <= 64 bytes ("exit 1", "signal 9") optional (default "")
        ready_since_ms  int  unix ms, 0 = not ready              optional (default 0)
        hb_age_ms  int   -1 (no heartbeat yet) .. 2^62           optional (default -1)

    The API follows proto.h (encode / decode / free).                                        */
#ifndef ZM_PROTO_CONTROL_H
#define ZM_PROTO_CONTROL_H

#include "proto/proto.h"

typedef enum {
    PROTO_CMD_STATUS  = 1,
    PROTO_CMD_RESTART = 2,
    PROTO_CMD_SCALE   = 3,
    PROTO_CMD_STOP    = 4,
    PROTO_CMD_DRAIN   = 5,
    PROTO_CMD_RELOAD  = 6
} proto_command_t;

//  The supervisor's per-child state machine (STYLE.md).
typedef enum {
    PROTO_CHILD_DOWN     = 1,
    PROTO_CHILD_STARTING = 2,
    PROTO_CHILD_READY    = 3,
    PROTO_CHILD_STOPPING = 4,
    PROTO_CHILD_BACKOFF  = 5,
    PROTO_CHILD_FAILED   = 6
} proto_child_state_t;

#define PROTO_POOL_MAX          256     //  largest pool size `scale` accepts
#define PROTO_CHILDREN_MAX      256     //  rows in a status table
#define PROTO_CHILD_INDEX_MAX   1023
#define PROTO_EXIT_MAX          64      //  last_exit text

typedef struct {
    uint64_t id;
    int cmd;                                //  proto_command_t
    char worker [PROTO_NAME_MAX + 1];       //  "" when absent
    uint32_t size;                          //  scale only
} proto_control_t;

typedef struct {
    char name [PROTO_NAME_MAX + 1];
    uint32_t index;
    int32_t pid;                            //  0 when not running
    int state;                              //  proto_child_state_t
    uint32_t restarts;
    char last_exit [PROTO_EXIT_MAX + 1];    //  "" when it never exited
    int64_t ready_since_ms;                 //  unix ms; 0 when not ready
    int64_t hb_age_ms;                      //  -1 when no heartbeat yet
} proto_child_status_t;

typedef struct {
    uint64_t id;
    bool ok;
    char message [PROTO_REASON_MAX + 1];
    size_t nchildren;
    proto_child_status_t *children;         //  nchildren rows (NULL when 0)
    void *mem_;                             //  what decode allocated; freed by _free
} proto_control_reply_t;

//  "status", "restart", "scale", "stop", "drain", "reload", or "unknown".
const char *proto_command_name (int cmd);
//  The proto_command_t named `name`, or -1.
int proto_command_from_name (const char *name);
//  "down", "starting", "ready", "stopping", "backoff", "failed", or "unknown".
const char *proto_child_state_name (int state);

//  A request decodes only when it is complete for its command: restart needs `worker`,
//  scale needs `worker` and `size`. `size` is kept only for scale (0 otherwise).
int proto_control_encode (const proto_control_t *msg, msgpack_sbuffer *out, proto_err_t *err);
int proto_control_decode (const uint8_t *data, size_t size, proto_control_t *out,
                          proto_err_t *err);
//  proto_control_t owns no memory; provided for symmetry.
void proto_control_free (proto_control_t *msg);
bool proto_control_equal (const proto_control_t *a, const proto_control_t *b);

int proto_control_reply_encode (const proto_control_reply_t *msg, msgpack_sbuffer *out,
                                proto_err_t *err);
//  Allocates at most one block (the rows), of fewer than 6 bytes per input byte.
int proto_control_reply_decode (const uint8_t *data, size_t size, proto_control_reply_t *out,
                                proto_err_t *err);
void proto_control_reply_free (proto_control_reply_t *msg);
bool proto_control_reply_equal (const proto_control_reply_t *a,
                                const proto_control_reply_t *b);

//  The reply as one line of JSON (what `zipminectl status --json` prints):
//  {"id":7,"ok":true,"message":"…","children":[{"name":"scraper","index":0,"pid":123,
//   "state":"ready","restarts":0,"last_exit":"","ready_since_ms":…,"hb_age_ms":…},…]}
//  Strings are JSON-escaped (control characters as \u00XX; UTF-8 passed through).
//  Caller owns (free ()).
char *proto_control_reply_json (const proto_control_reply_t *msg);

#endif
