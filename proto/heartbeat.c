/*  heartbeat codec (see heartbeat.h).

    Decode allocates nothing until the metrics array header has been read and bounded; then
    one block holds the metric array followed by a string arena as large as the input bytes
    still unread (enough for every string that can follow, see codec.c). mem_ owns it.     */

#include "proto/heartbeat.h"

#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"

//  The smallest encoding of a metric map: fixmap, "name" + 1-char name, "type" + fixint,
//  "value" + fixint is 1 + 6 + 6 + 7 = 20 bytes; 16 is a safe lower bound.
#define S_METRIC_MIN_BYTES 16

const char *
proto_worker_state_name (int state)
{
    switch (state) {
        case PROTO_WORKER_STARTING: return "starting";
        case PROTO_WORKER_READY:    return "ready";
        case PROTO_WORKER_DRAINING: return "draining";
        case PROTO_WORKER_DEGRADED: return "degraded";
        default:                    return "unknown";
    }
}

const char *
proto_metric_type_name (int type)
{
    switch (type) {
        case PROTO_METRIC_COUNTER: return "counter";
        case PROTO_METRIC_GAUGE:   return "gauge";
        case PROTO_METRIC_HISTOGRAM: return "histogram";
        default:                   return "unknown";
    }
}

static bool
s_alpha_ (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool
proto_valid_metric_name (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > PROTO_METRIC_NAME_MAX)
        return false;
    if (!s_alpha_ (s [0]) && s [0] != ':')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!s_alpha_ (s [i]) && s [i] != ':' && !(s [i] >= '0' && s [i] <= '9'))
            return false;
    return true;
}

bool
proto_valid_hb_reason (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > PROTO_HEARTBEAT_REASON_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s [i] < 0x20 || s [i] > 0x7e)
            return false;
    return true;
}

bool
proto_valid_label_name (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > PROTO_LABEL_NAME_MAX || !s_alpha_ (s [0]))
        return false;
    if (n >= 2 && s [0] == '_' && s [1] == '_')
        return false;                   //  reserved for Prometheus internals
    for (size_t i = 1; i < n; i++)
        if (!s_alpha_ (s [i]) && !(s [i] >= '0' && s [i] <= '9'))
            return false;
    return true;
}

static const char *const s_body_keys [] = {
    "worker", "index", "pid", "seq", "state", "uptime_ms", "metrics", "reason"
};
enum { K_WORKER, K_INDEX, K_PID, K_SEQ, K_STATE, K_UPTIME, K_METRICS, K_REASON };
#define S_BODY_REQUIRED 0x3f            //  all but metrics and reason
#define S_REASON_RULE   "printable ASCII of 1..200 bytes"


static const char *const s_metric_keys [] = { "name", "type", "value", "help", "labels" };
enum { M_NAME, M_TYPE, M_VALUE, M_HELP, M_LABELS };
#define S_METRIC_REQUIRED 0x07

//  ---- encode ------------------------------------------------------------------------------

static int
s_check_metric (const proto_metric_t *m, size_t i, proto_err_t *err)
{
    if (!m->name || !proto_valid_metric_name (m->name))
        return codec_fail (err, "metrics[%zu]: field 'name': expected Prometheus metric name "
                           "of at most %d bytes", i, PROTO_METRIC_NAME_MAX);
    if (m->type != PROTO_METRIC_COUNTER && m->type != PROTO_METRIC_GAUGE
    &&  m->type != PROTO_METRIC_HISTOGRAM)
        return codec_fail (err, "metrics[%zu]: field 'type': unknown metric type %d", i,
                           m->type);
    if (m->help && !proto_valid_text (m->help, PROTO_METRIC_HELP_MAX))
        return codec_fail (err, "metrics[%zu]: field 'help': expected UTF-8 of at most %d "
                           "bytes", i, PROTO_METRIC_HELP_MAX);
    if (m->nlabels > PROTO_LABELS_MAX)
        return codec_fail (err, "metrics[%zu]: %zu labels exceed %d", i, m->nlabels,
                           PROTO_LABELS_MAX);
    for (size_t k = 0; k < m->nlabels; k++) {
        const proto_label_t *l = &m->labels [k];
        if (!l->name || !proto_valid_label_name (l->name))
            return codec_fail (err, "metrics[%zu]: label %zu: bad label name", i, k);
        if (!l->value || !proto_valid_text (l->value, PROTO_LABEL_VALUE_MAX))
            return codec_fail (err, "metrics[%zu]: label '%s': expected UTF-8 value of at "
                               "most %d bytes", i, l->name, PROTO_LABEL_VALUE_MAX);
        for (size_t j = 0; j < k; j++)
            if (strcmp (m->labels [j].name, l->name) == 0)
                return codec_fail (err, "metrics[%zu]: duplicate label '%s'", i, l->name);
    }
    return 0;
}

int
proto_heartbeat_encode (const proto_heartbeat_t *msg, msgpack_sbuffer *out, proto_err_t *err)
{
    if (!memchr (msg->worker, '\0', sizeof msg->worker))
        return codec_fail (err, "field 'worker': not NUL-terminated");
    if (codec_check (err, "worker", msg->worker, proto_valid_name,
                     "worker name [A-Za-z0-9_.-]{1,64}"))
        return RC_MALFORMED;
    if (msg->index > PROTO_HEARTBEAT_INDEX_MAX)
        return codec_fail (err, "field 'index': %u exceeds %d", msg->index,
                           PROTO_HEARTBEAT_INDEX_MAX);
    if (msg->pid <= 0)
        return codec_fail (err, "field 'pid': %d is not a pid", msg->pid);
    if (msg->state < PROTO_WORKER_STARTING || msg->state > PROTO_WORKER_DEGRADED)
        return codec_fail (err, "field 'state': unknown worker state %d", msg->state);
    if (!memchr (msg->reason, '\0', sizeof msg->reason))
        return codec_fail (err, "field 'reason': not NUL-terminated");
    bool degraded = msg->state == PROTO_WORKER_DEGRADED;
    if (degraded && codec_check (err, "reason", msg->reason, proto_valid_hb_reason,
                                 S_REASON_RULE))
        return RC_MALFORMED;
    if (!degraded && msg->reason [0])
        return codec_fail (err, "field 'reason': only a degraded worker has one");
    if (msg->nmetrics > PROTO_METRICS_MAX)
        return codec_fail (err, "field 'metrics': %zu samples exceed %d", msg->nmetrics,
                           PROTO_METRICS_MAX);
    for (size_t i = 0; i < msg->nmetrics; i++)
        if (s_check_metric (&msg->metrics [i], i, err))
            return RC_MALFORMED;

    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_envelope (&pk, PROTO_HEARTBEAT, 6u + (msg->nmetrics > 0) + degraded);
    codec_put_key (&pk, "worker");
    codec_put_str (&pk, msg->worker);
    codec_put_key (&pk, "index");
    msgpack_pack_uint32 (&pk, msg->index);
    codec_put_key (&pk, "pid");
    msgpack_pack_uint32 (&pk, (uint32_t) msg->pid);
    codec_put_key (&pk, "seq");
    msgpack_pack_uint64 (&pk, msg->seq);
    codec_put_key (&pk, "state");
    msgpack_pack_uint32 (&pk, (uint32_t) msg->state);
    codec_put_key (&pk, "uptime_ms");
    msgpack_pack_uint64 (&pk, msg->uptime_ms);
    if (degraded) {
        codec_put_key (&pk, "reason");
        codec_put_str (&pk, msg->reason);
    }
    if (msg->nmetrics) {
        codec_put_key (&pk, "metrics");
        msgpack_pack_array (&pk, msg->nmetrics);
        for (size_t i = 0; i < msg->nmetrics; i++) {
            const proto_metric_t *m = &msg->metrics [i];
            msgpack_pack_map (&pk, 3 + (m->help != NULL) + (m->nlabels > 0));
            codec_put_key (&pk, "name");
            codec_put_str (&pk, m->name);
            codec_put_key (&pk, "type");
            msgpack_pack_uint32 (&pk, (uint32_t) m->type);
            codec_put_key (&pk, "value");
            msgpack_pack_double (&pk, m->value);
            if (m->help) {
                codec_put_key (&pk, "help");
                codec_put_str (&pk, m->help);
            }
            if (m->nlabels) {
                codec_put_key (&pk, "labels");
                msgpack_pack_map (&pk, m->nlabels);
                for (size_t k = 0; k < m->nlabels; k++) {
                    codec_put_str (&pk, m->labels [k].name);
                    codec_put_str (&pk, m->labels [k].value);
                }
            }
        }
    }
    return 0;
}

//  ---- decode ------------------------------------------------------------------------------

static int
s_decode_labels (mpr_t *r, proto_metric_t *m, codec_arena_t *arena)
{
    uint32_t n = 0;
    if (mpr_map (r, &n) != 0)
        return mpr_fail_prefix (r, "field 'labels'");
    if (n > PROTO_LABELS_MAX)
        return mpr_fail (r, "field 'labels': %u labels exceed %d", n, PROTO_LABELS_MAX);
    for (uint32_t k = 0; k < n; k++) {
        proto_label_t *l = &m->labels [k];
        if (codec_text_arena (r, "labels", arena, 1, PROTO_LABEL_NAME_MAX, &l->name))
            return RC_MALFORMED;
        if (!proto_valid_label_name (l->name))
            return mpr_fail (r, "field 'labels': bad label name '%s'", l->name);
        for (uint32_t j = 0; j < k; j++)
            if (strcmp (m->labels [j].name, l->name) == 0)
                return mpr_fail (r, "field 'labels': duplicate label '%s'", l->name);
        if (codec_text_arena (r, l->name, arena, 0, PROTO_LABEL_VALUE_MAX, &l->value))
            return mpr_fail_prefix (r, "field 'labels'");
    }
    m->nlabels = n;
    return 0;
}

static int
s_decode_metric (mpr_t *r, proto_metric_t *m, codec_arena_t *arena)
{
    mpr_map_t map;
    if (mpr_map_begin (&map, r, "metric", s_metric_keys, 5) != 0)
        return RC_MALFORMED;
    int key, rc;
    while ((rc = mpr_map_next (&map, &key)) == 1) {
        uint64_t u;
        switch (key) {
            case M_NAME:
                if (codec_text_arena (r, "name", arena, 1, PROTO_METRIC_NAME_MAX, &m->name))
                    return RC_MALFORMED;
                if (!proto_valid_metric_name (m->name))
                    return mpr_fail (r, "field 'name': expected Prometheus metric name "
                                     "[a-zA-Z_:][a-zA-Z0-9_:]*");
                break;
            case M_TYPE:
                if (codec_uint (r, "type", PROTO_METRIC_COUNTER, PROTO_METRIC_HISTOGRAM, &u))
                    return RC_MALFORMED;
                m->type = (int) u;
                break;
            case M_VALUE:
                if (codec_double (r, "value", false, &m->value))
                    return RC_MALFORMED;
                break;
            case M_HELP:
                if (codec_text_arena (r, "help", arena, 0, PROTO_METRIC_HELP_MAX, &m->help))
                    return RC_MALFORMED;
                break;
            default:
                if (s_decode_labels (r, m, arena))
                    return RC_MALFORMED;
                break;
        }
    }
    if (rc != 0)
        return RC_MALFORMED;
    return mpr_map_require (&map, S_METRIC_REQUIRED);
}

static int
s_decode (mpr_t *r, proto_heartbeat_t *out)
{
    mpr_map_t map;
    if (mpr_map_begin (&map, r, "body", s_body_keys, 8) != 0)
        return RC_MALFORMED;
    int key, rc;
    while ((rc = mpr_map_next (&map, &key)) == 1) {
        uint64_t u;
        switch (key) {
            case K_WORKER:
                if (codec_checked (r, "worker", out->worker, PROTO_NAME_MAX, proto_valid_name,
                                   "worker name [A-Za-z0-9_.-]{1,64}"))
                    return RC_MALFORMED;
                break;
            case K_INDEX:
                if (codec_uint (r, "index", 0, PROTO_HEARTBEAT_INDEX_MAX, &u))
                    return RC_MALFORMED;
                out->index = (uint32_t) u;
                break;
            case K_PID:
                if (codec_uint (r, "pid", 1, INT32_MAX, &u))
                    return RC_MALFORMED;
                out->pid = (int32_t) u;
                break;
            case K_SEQ:
                if (codec_uint (r, "seq", 0, UINT64_MAX, &out->seq))
                    return RC_MALFORMED;
                break;
            case K_STATE:
                if (codec_uint (r, "state", PROTO_WORKER_STARTING, PROTO_WORKER_DEGRADED, &u))
                    return RC_MALFORMED;
                out->state = (int) u;
                break;
            case K_UPTIME:
                if (codec_uint (r, "uptime_ms", 0, UINT64_MAX, &out->uptime_ms))
                    return RC_MALFORMED;
                break;
            case K_REASON:
                if (codec_checked (r, "reason", out->reason, PROTO_HEARTBEAT_REASON_MAX,
                                   proto_valid_hb_reason, S_REASON_RULE))
                    return RC_MALFORMED;
                break;
            default: {
                uint32_t n;
                if (codec_array (r, "metrics", PROTO_METRICS_MAX, S_METRIC_MIN_BYTES, &n))
                    return RC_MALFORMED;
                if (n == 0)
                    break;
                size_t array_bytes = (size_t) n * sizeof (proto_metric_t);
                size_t arena_bytes = mpr_remaining (r);
                char *mem = calloc (1, array_bytes + arena_bytes);
                if (!mem)
                    abort ();
                out->mem_ = mem;
                out->metrics = (proto_metric_t *) mem;
                codec_arena_t arena = { mem + array_bytes, mem + array_bytes + arena_bytes };
                for (uint32_t i = 0; i < n; i++)
                    if (s_decode_metric (r, &out->metrics [i], &arena))
                        return mpr_fail_prefix (r, "metrics[%u]", i);
                out->nmetrics = n;
                break;
            }
        }
    }
    if (rc != 0)
        return RC_MALFORMED;
    if (mpr_map_require (&map, S_BODY_REQUIRED) != 0)
        return RC_MALFORMED;
    //  The pairing rule, checked once every key has been seen (keys come in any order).
    if (out->state == PROTO_WORKER_DEGRADED && !out->reason [0])
        return mpr_fail (r, "field 'reason': required when state is degraded");
    if (out->state != PROTO_WORKER_DEGRADED && out->reason [0])
        return mpr_fail (r, "field 'reason': only a degraded worker has one");
    return 0;
}

int
proto_heartbeat_decode (const uint8_t *data, size_t size, proto_heartbeat_t *out,
                        proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    mpr_t r;
    if (codec_open (&r, data, size, PROTO_HEARTBEAT, err) != 0
    ||  s_decode (&r, out) != 0
    ||  codec_close (&r) != 0) {
        proto_heartbeat_free (out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_heartbeat_free (proto_heartbeat_t *msg)
{
    if (!msg)
        return;
    free (msg->mem_);
    memset (msg, 0, sizeof *msg);
}

//  ---- equality ----------------------------------------------------------------------------

static bool
s_str_eq (const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp (a, b) == 0;
}

bool
proto_heartbeat_equal (const proto_heartbeat_t *a, const proto_heartbeat_t *b)
{
    if (strcmp (a->worker, b->worker) || a->index != b->index || a->pid != b->pid
    ||  a->seq != b->seq || a->state != b->state || a->uptime_ms != b->uptime_ms
    ||  strcmp (a->reason, b->reason) || a->nmetrics != b->nmetrics)
        return false;
    for (size_t i = 0; i < a->nmetrics; i++) {
        const proto_metric_t *x = &a->metrics [i], *y = &b->metrics [i];
        if (!s_str_eq (x->name, y->name) || x->type != y->type
        ||  memcmp (&x->value, &y->value, sizeof x->value) != 0
        ||  !s_str_eq (x->help, y->help) || x->nlabels != y->nlabels)
            return false;
        for (size_t k = 0; k < x->nlabels; k++)
            if (!s_str_eq (x->labels [k].name, y->labels [k].name)
            ||  !s_str_eq (x->labels [k].value, y->labels [k].value))
                return false;
    }
    return true;
}
