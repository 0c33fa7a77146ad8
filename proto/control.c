/*  control codec: requests, replies and the status table (see control.h).

    A reply's rows are allocated in one block once the children array header has been read
    and bounded (every row needs at least S_CHILD_MIN_BYTES of input), so a lying header
    cannot make decode allocate more than a few bytes per input byte.                       */

#include "proto/control.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"

//  Smallest child row: fixmap + "name"+1 char + "index"+fixint + "pid"+fixint +
//  "state"+fixint + "restarts"+fixint = 1 + 7 + 7 + 5 + 7 + 10 = 37 bytes.
#define S_CHILD_MIN_BYTES 32

#define S_HB_AGE_MAX ((int64_t) 1 << 62)

static const char *const s_command_names [] = {
    NULL, "status", "restart", "scale", "stop", "drain", "reload"
};

const char *
proto_command_name (int cmd)
{
    if (cmd >= PROTO_CMD_STATUS && cmd <= PROTO_CMD_RELOAD)
        return s_command_names [cmd];
    return "unknown";
}

int
proto_command_from_name (const char *name)
{
    for (int cmd = PROTO_CMD_STATUS; cmd <= PROTO_CMD_RELOAD; cmd++)
        if (strcmp (s_command_names [cmd], name) == 0)
            return cmd;
    return -1;
}

const char *
proto_child_state_name (int state)
{
    switch (state) {
        case PROTO_CHILD_DOWN:     return "down";
        case PROTO_CHILD_STARTING: return "starting";
        case PROTO_CHILD_READY:    return "ready";
        case PROTO_CHILD_STOPPING: return "stopping";
        case PROTO_CHILD_BACKOFF:  return "backoff";
        case PROTO_CHILD_FAILED:   return "failed";
        default:                   return "unknown";
    }
}

#define S_NAME_RULE "name [A-Za-z0-9_.-]{1,64}"

//  ---- request -----------------------------------------------------------------------------

static const char *const s_req_keys [] = { "id", "cmd", "worker", "size" };
enum { Q_ID, Q_CMD, Q_WORKER, Q_SIZE };

//  The per-command completeness rule, shared by encode and decode.
static int
s_check_request (const proto_control_t *msg, bool has_worker, bool has_size,
                 proto_err_t *err)
{
    if ((msg->cmd == PROTO_CMD_RESTART || msg->cmd == PROTO_CMD_SCALE) && !has_worker)
        return codec_fail (err, "field 'worker': required for %s",
                           proto_command_name (msg->cmd));
    if (msg->cmd == PROTO_CMD_SCALE && !has_size)
        return codec_fail (err, "field 'size': required for scale");
    return 0;
}

int
proto_control_encode (const proto_control_t *msg, msgpack_sbuffer *out, proto_err_t *err)
{
    if (msg->cmd < PROTO_CMD_STATUS || msg->cmd > PROTO_CMD_RELOAD)
        return codec_fail (err, "field 'cmd': unknown command %d", msg->cmd);
    if (!memchr (msg->worker, '\0', sizeof msg->worker))
        return codec_fail (err, "field 'worker': not NUL-terminated");
    bool has_worker = msg->worker [0] != '\0';
    if (has_worker && codec_check (err, "worker", msg->worker, proto_valid_name, S_NAME_RULE))
        return RC_MALFORMED;
    bool has_size = msg->cmd == PROTO_CMD_SCALE;
    if (has_size && msg->size > PROTO_POOL_MAX)
        return codec_fail (err, "field 'size': %u exceeds %d", msg->size, PROTO_POOL_MAX);
    if (s_check_request (msg, has_worker, has_size, err))
        return RC_MALFORMED;

    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_envelope (&pk, PROTO_CONTROL, 2 + has_worker + has_size);
    codec_put_key (&pk, "id");
    msgpack_pack_uint64 (&pk, msg->id);
    codec_put_key (&pk, "cmd");
    msgpack_pack_uint32 (&pk, (uint32_t) msg->cmd);
    if (has_worker) {
        codec_put_key (&pk, "worker");
        codec_put_str (&pk, msg->worker);
    }
    if (has_size) {
        codec_put_key (&pk, "size");
        msgpack_pack_uint32 (&pk, msg->size);
    }
    return 0;
}

int
proto_control_decode (const uint8_t *data, size_t size, proto_control_t *out,
                      proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    mpr_t r;
    mpr_map_t map;
    if (codec_open (&r, data, size, PROTO_CONTROL, err) != 0
    ||  mpr_map_begin (&map, &r, "body", s_req_keys, 4) != 0)
        goto fail;
    int key, rc;
    while ((rc = mpr_map_next (&map, &key)) == 1) {
        uint64_t u;
        switch (key) {
            case Q_ID:
                if (codec_uint (&r, "id", 0, UINT64_MAX, &out->id))
                    goto fail;
                break;
            case Q_CMD:
                if (codec_uint (&r, "cmd", PROTO_CMD_STATUS, PROTO_CMD_RELOAD, &u))
                    goto fail;
                out->cmd = (int) u;
                break;
            case Q_WORKER:
                if (codec_checked (&r, "worker", out->worker, PROTO_NAME_MAX,
                                   proto_valid_name, S_NAME_RULE))
                    goto fail;
                break;
            default:
                if (codec_uint (&r, "size", 0, PROTO_POOL_MAX, &u))
                    goto fail;
                out->size = (uint32_t) u;
                break;
        }
    }
    if (rc != 0 || mpr_map_require (&map, 1u << Q_CMD) != 0)
        goto fail;
    if (out->cmd != PROTO_CMD_SCALE)
        out->size = 0;                  //  meaningless for other commands: not kept
    if (s_check_request (out, mpr_map_has (&map, Q_WORKER), mpr_map_has (&map, Q_SIZE),
                         r.err)) {
        r.err->offset = r.pos;
        goto fail;
    }
    if (codec_close (&r) != 0)
        goto fail;
    return 0;
fail:
    memset (out, 0, sizeof *out);
    return RC_MALFORMED;
}

void
proto_control_free (proto_control_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_control_equal (const proto_control_t *a, const proto_control_t *b)
{
    return a->id == b->id && a->cmd == b->cmd && strcmp (a->worker, b->worker) == 0
        && a->size == b->size;
}

//  ---- reply -------------------------------------------------------------------------------

static const char *const s_reply_keys [] = { "id", "ok", "message", "children" };
enum { P_ID, P_OK, P_MESSAGE, P_CHILDREN };

static const char *const s_child_keys [] = {
    "name", "index", "pid", "state", "restarts", "last_exit", "ready_since_ms", "hb_age_ms"
};
enum { C_NAME, C_INDEX, C_PID, C_STATE, C_RESTARTS, C_LAST_EXIT, C_READY_SINCE, C_HB_AGE };
#define S_CHILD_REQUIRED 0x1f

static int
s_check_child (const proto_child_status_t *c, size_t i, proto_err_t *err)
{
    if (!memchr (c->name, '\0', sizeof c->name)
    ||  !memchr (c->last_exit, '\0', sizeof c->last_exit))
        return codec_fail (err, "children[%zu]: name or last_exit not NUL-terminated", i);
    if (!proto_valid_name (c->name))
        return codec_fail (err, "children[%zu]: field 'name': expected " S_NAME_RULE, i);
    if (c->index > PROTO_CHILD_INDEX_MAX)
        return codec_fail (err, "children[%zu]: field 'index': %u exceeds %d", i, c->index,
                           PROTO_CHILD_INDEX_MAX);
    if (c->pid < 0)
        return codec_fail (err, "children[%zu]: field 'pid': %d is negative", i, c->pid);
    if (c->state < PROTO_CHILD_DOWN || c->state > PROTO_CHILD_FAILED)
        return codec_fail (err, "children[%zu]: field 'state': unknown state %d", i, c->state);
    if (!proto_valid_text (c->last_exit, PROTO_EXIT_MAX))
        return codec_fail (err, "children[%zu]: field 'last_exit': expected UTF-8 of at most "
                           "%d bytes", i, PROTO_EXIT_MAX);
    if (c->ready_since_ms < 0)
        return codec_fail (err, "children[%zu]: field 'ready_since_ms': negative", i);
    if (c->hb_age_ms < -1 || c->hb_age_ms > S_HB_AGE_MAX)
        return codec_fail (err, "children[%zu]: field 'hb_age_ms': %" PRId64 " out of range",
                           i, c->hb_age_ms);
    return 0;
}

int
proto_control_reply_encode (const proto_control_reply_t *msg, msgpack_sbuffer *out,
                            proto_err_t *err)
{
    if (!memchr (msg->message, '\0', sizeof msg->message))
        return codec_fail (err, "field 'message': not NUL-terminated");
    if (codec_check_text (err, "message", msg->message, 0, PROTO_REASON_MAX))
        return RC_MALFORMED;
    if (msg->nchildren > PROTO_CHILDREN_MAX)
        return codec_fail (err, "field 'children': %zu rows exceed %d", msg->nchildren,
                           PROTO_CHILDREN_MAX);
    for (size_t i = 0; i < msg->nchildren; i++)
        if (s_check_child (&msg->children [i], i, err))
            return RC_MALFORMED;

    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_envelope (&pk, PROTO_CONTROL_REPLY, 3 + (msg->nchildren > 0));
    codec_put_key (&pk, "id");
    msgpack_pack_uint64 (&pk, msg->id);
    codec_put_key (&pk, "ok");
    if (msg->ok)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
    codec_put_key (&pk, "message");
    codec_put_str (&pk, msg->message);
    if (msg->nchildren) {
        codec_put_key (&pk, "children");
        msgpack_pack_array (&pk, msg->nchildren);
        for (size_t i = 0; i < msg->nchildren; i++) {
            const proto_child_status_t *c = &msg->children [i];
            msgpack_pack_map (&pk, 8);
            codec_put_key (&pk, "name");
            codec_put_str (&pk, c->name);
            codec_put_key (&pk, "index");
            msgpack_pack_uint32 (&pk, c->index);
            codec_put_key (&pk, "pid");
            msgpack_pack_uint32 (&pk, (uint32_t) c->pid);
            codec_put_key (&pk, "state");
            msgpack_pack_uint32 (&pk, (uint32_t) c->state);
            codec_put_key (&pk, "restarts");
            msgpack_pack_uint32 (&pk, c->restarts);
            codec_put_key (&pk, "last_exit");
            codec_put_str (&pk, c->last_exit);
            codec_put_key (&pk, "ready_since_ms");
            msgpack_pack_int64 (&pk, c->ready_since_ms);
            codec_put_key (&pk, "hb_age_ms");
            msgpack_pack_int64 (&pk, c->hb_age_ms);
        }
    }
    return 0;
}

static int
s_decode_child (mpr_t *r, proto_child_status_t *c)
{
    c->hb_age_ms = -1;
    mpr_map_t map;
    if (mpr_map_begin (&map, r, "child", s_child_keys, 8) != 0)
        return RC_MALFORMED;
    int key, rc;
    while ((rc = mpr_map_next (&map, &key)) == 1) {
        uint64_t u;
        switch (key) {
            case C_NAME:
                if (codec_checked (r, "name", c->name, PROTO_NAME_MAX, proto_valid_name,
                                   S_NAME_RULE))
                    return RC_MALFORMED;
                break;
            case C_INDEX:
                if (codec_uint (r, "index", 0, PROTO_CHILD_INDEX_MAX, &u))
                    return RC_MALFORMED;
                c->index = (uint32_t) u;
                break;
            case C_PID:
                if (codec_uint (r, "pid", 0, INT32_MAX, &u))
                    return RC_MALFORMED;
                c->pid = (int32_t) u;
                break;
            case C_STATE:
                if (codec_uint (r, "state", PROTO_CHILD_DOWN, PROTO_CHILD_FAILED, &u))
                    return RC_MALFORMED;
                c->state = (int) u;
                break;
            case C_RESTARTS:
                if (codec_uint (r, "restarts", 0, UINT32_MAX, &u))
                    return RC_MALFORMED;
                c->restarts = (uint32_t) u;
                break;
            case C_LAST_EXIT:
                if (codec_text (r, "last_exit", c->last_exit, 0, PROTO_EXIT_MAX))
                    return RC_MALFORMED;
                break;
            case C_READY_SINCE:
                if (codec_int (r, "ready_since_ms", 0, INT64_MAX, &c->ready_since_ms))
                    return RC_MALFORMED;
                break;
            default:
                if (codec_int (r, "hb_age_ms", -1, S_HB_AGE_MAX, &c->hb_age_ms))
                    return RC_MALFORMED;
                break;
        }
    }
    if (rc != 0)
        return RC_MALFORMED;
    return mpr_map_require (&map, S_CHILD_REQUIRED);
}

static int
s_decode_reply (mpr_t *r, proto_control_reply_t *out)
{
    mpr_map_t map;
    if (mpr_map_begin (&map, r, "body", s_reply_keys, 4) != 0)
        return RC_MALFORMED;
    int key, rc;
    while ((rc = mpr_map_next (&map, &key)) == 1) {
        switch (key) {
            case P_ID:
                if (codec_uint (r, "id", 0, UINT64_MAX, &out->id))
                    return RC_MALFORMED;
                break;
            case P_OK:
                if (codec_bool (r, "ok", &out->ok))
                    return RC_MALFORMED;
                break;
            case P_MESSAGE:
                if (codec_text (r, "message", out->message, 0, PROTO_REASON_MAX))
                    return RC_MALFORMED;
                break;
            default: {
                uint32_t n;
                if (codec_array (r, "children", PROTO_CHILDREN_MAX, S_CHILD_MIN_BYTES, &n))
                    return RC_MALFORMED;
                if (n == 0)
                    break;
                out->children = calloc (n, sizeof (proto_child_status_t));
                if (!out->children)
                    abort ();
                out->mem_ = out->children;
                for (uint32_t i = 0; i < n; i++)
                    if (s_decode_child (r, &out->children [i]))
                        return mpr_fail_prefix (r, "children[%u]", i);
                out->nchildren = n;
                break;
            }
        }
    }
    if (rc != 0)
        return RC_MALFORMED;
    return mpr_map_require (&map, 1u << P_OK);
}

int
proto_control_reply_decode (const uint8_t *data, size_t size, proto_control_reply_t *out,
                            proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    mpr_t r;
    if (codec_open (&r, data, size, PROTO_CONTROL_REPLY, err) != 0
    ||  s_decode_reply (&r, out) != 0
    ||  codec_close (&r) != 0) {
        proto_control_reply_free (out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_control_reply_free (proto_control_reply_t *msg)
{
    if (!msg)
        return;
    free (msg->mem_);
    memset (msg, 0, sizeof *msg);
}

bool
proto_control_reply_equal (const proto_control_reply_t *a, const proto_control_reply_t *b)
{
    if (a->id != b->id || a->ok != b->ok || strcmp (a->message, b->message)
    ||  a->nchildren != b->nchildren)
        return false;
    for (size_t i = 0; i < a->nchildren; i++) {
        const proto_child_status_t *x = &a->children [i], *y = &b->children [i];
        if (strcmp (x->name, y->name) || x->index != y->index || x->pid != y->pid
        ||  x->state != y->state || x->restarts != y->restarts
        ||  strcmp (x->last_exit, y->last_exit) || x->ready_since_ms != y->ready_since_ms
        ||  x->hb_age_ms != y->hb_age_ms)
            return false;
    }
    return true;
}

//  ---- JSON --------------------------------------------------------------------------------

//  A growing string; out-of-memory aborts.
typedef struct {
    char *buf;
    size_t len, cap;
} s_json_t;

static void
s_append (s_json_t *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *buf = realloc (j->buf, cap);
        if (!buf)
            abort ();
        j->buf = buf;
        j->cap = cap;
    }
    memcpy (j->buf + j->len, s, n);
    j->len += n;
    j->buf [j->len] = '\0';
}

static void
s_appendf (s_json_t *j, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_appendf (s_json_t *j, const char *format, ...)
{
    char tmp [128];
    va_list args;
    va_start (args, format);
    int n = vsnprintf (tmp, sizeof tmp, format, args);
    va_end (args);
    if (n > 0)
        s_append (j, tmp, (size_t) n < sizeof tmp ? (size_t) n : sizeof tmp - 1);
}

static void
s_append_json_str (s_json_t *j, const char *s)
{
    s_append (j, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c == '"' || c == '\\') {
            char esc [2] = { '\\', (char) c };
            s_append (j, esc, 2);
        }
        else if (c < 0x20 || c == 0x7f)
            s_appendf (j, "\\u%04x", c);
        else
            s_append (j, p, 1);
    }
    s_append (j, "\"", 1);
}

char *
proto_control_reply_json (const proto_control_reply_t *msg)
{
    s_json_t j = { NULL, 0, 0 };
    s_appendf (&j, "{\"id\":%" PRIu64 ",\"ok\":%s,\"message\":", msg->id,
               msg->ok ? "true" : "false");
    s_append_json_str (&j, msg->message);
    s_append (&j, ",\"children\":[", 13);
    for (size_t i = 0; i < msg->nchildren; i++) {
        const proto_child_status_t *c = &msg->children [i];
        s_append (&j, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
        s_append_json_str (&j, c->name);
        s_appendf (&j, ",\"index\":%u,\"pid\":%d,\"state\":\"%s\",\"restarts\":%u,"
                   "\"last_exit\":", c->index, c->pid, proto_child_state_name (c->state),
                   c->restarts);
        s_append_json_str (&j, c->last_exit);
        s_appendf (&j, ",\"ready_since_ms\":%" PRId64 ",\"hb_age_ms\":%" PRId64 "}",
                   c->ready_since_ms, c->hb_age_ms);
    }
    s_append (&j, "]}", 2);
    return j.buf;
}
