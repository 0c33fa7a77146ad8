/*  heartbeat: worker -> supervisor liveness and metrics (PROTO_HEARTBEAT).

    Sent by every worker on its control socket each heartbeat interval; the supervisor kills a
    worker silent for 3 intervals (DESIGN.md section 2) and serves the carried metrics on the
    node's /metrics endpoint. Wire body (proto/README.md has the full table):

        worker     str   [A-Za-z0-9_.-]{1,64}          required
        index      uint  0..1023 (instance in pool)     required
        pid        uint  1..2^31-1                      required
        seq        uint  64-bit, increments per beat    required
        state      uint  proto_worker_state_t           required
        uptime_ms  uint  64-bit                         required
        reason     str   printable ASCII, 1..200 bytes  required when state is degraded,
                                                        absent otherwise
        metrics    array of <= 256 metric maps          optional (absent = none)

    DEGRADED is READY with a dependency outage (the coordinator, S3, PostgreSQL): the worker
    is alive and heartbeating, so the supervisor never restarts it for that, but the node is
    not ready (/readyz 503 with the reason) until the worker reports READY again. `reason`
    says which dependency and why ("s3: connect refused"); printable ASCII so the supervisor
    can put it in JSON and text tables with no more than quote/backslash escaping.
    Compatibility: a decoder of this version reads heartbeats of the previous one (no
    `reason`, states 1..3); unknown keys are skipped, so a later field does not break it.

    metric map:
        name       str   Prometheus name [a-zA-Z_:][a-zA-Z0-9_:]{0,127}   required
        type       uint  proto_metric_type_t                               required
        value      float64 (any msgpack number accepted; NaN/Inf allowed)  required
        help       str   UTF-8, <= 256 bytes                               optional
        labels     map str -> str, <= 8 pairs; names [a-zA-Z_][a-zA-Z0-9_]{0,63} not
                   starting with "__", values UTF-8 <= 128 bytes           optional

    The API follows proto.h (encode / decode / free).                                        */
#ifndef ZM_PROTO_HEARTBEAT_H
#define ZM_PROTO_HEARTBEAT_H

#include "proto/proto.h"

typedef enum {
    PROTO_WORKER_STARTING = 1,
    PROTO_WORKER_READY    = 2,
    PROTO_WORKER_DRAINING = 3,
    PROTO_WORKER_DEGRADED = 4       //  ready, but a dependency is down (see reason)
} proto_worker_state_t;

typedef enum {
    PROTO_METRIC_COUNTER   = 1,
    PROTO_METRIC_GAUGE     = 2,
    PROTO_METRIC_HISTOGRAM = 3      //  one row per _bucket{le}, _sum and _count line
} proto_metric_type_t;

#define PROTO_HEARTBEAT_INDEX_MAX   1023
#define PROTO_METRICS_MAX           256
#define PROTO_METRIC_NAME_MAX       128
#define PROTO_METRIC_HELP_MAX       256
#define PROTO_LABELS_MAX            8
#define PROTO_LABEL_NAME_MAX        64
#define PROTO_LABEL_VALUE_MAX       128
#define PROTO_HEARTBEAT_REASON_MAX  200

typedef struct {
    const char *name;
    const char *value;
} proto_label_t;

typedef struct {
    const char *name;                       //  Prometheus metric name
    int type;                               //  proto_metric_type_t
    double value;
    const char *help;                       //  NULL when absent
    size_t nlabels;
    proto_label_t labels [PROTO_LABELS_MAX];
} proto_metric_t;

typedef struct {
    char worker [PROTO_NAME_MAX + 1];
    uint32_t index;
    int32_t pid;
    uint64_t seq;
    int state;                              //  proto_worker_state_t
    uint64_t uptime_ms;
    char reason [PROTO_HEARTBEAT_REASON_MAX + 1];   //  "" unless state is DEGRADED
    size_t nmetrics;
    proto_metric_t *metrics;                //  nmetrics entries (NULL when 0)
    void *mem_;                             //  what decode allocated; freed by _free
} proto_heartbeat_t;

//  "starting", "ready", "draining", "degraded", or "unknown".
const char *proto_worker_state_name (int state);
//  "counter", "gauge", or "unknown".
const char *proto_metric_type_name (int type);

//  A degraded reason: 1..PROTO_HEARTBEAT_REASON_MAX bytes of printable ASCII (0x20..0x7e).
bool proto_valid_hb_reason (const char *s);

//  Prometheus name rules, for encoders and decoders alike.
bool proto_valid_metric_name (const char *s);
bool proto_valid_label_name (const char *s);

int proto_heartbeat_encode (const proto_heartbeat_t *msg, msgpack_sbuffer *out,
                            proto_err_t *err);
//  Allocates at most one block, of fewer than 12 bytes per input byte.
int proto_heartbeat_decode (const uint8_t *data, size_t size, proto_heartbeat_t *out,
                            proto_err_t *err);
void proto_heartbeat_free (proto_heartbeat_t *msg);

//  Field-by-field equality (help NULL equals only NULL; doubles compared bit for bit).
bool proto_heartbeat_equal (const proto_heartbeat_t *a, const proto_heartbeat_t *b);

#endif
