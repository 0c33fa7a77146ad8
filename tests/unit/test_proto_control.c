/*  proto/control: requests and replies round-trip; per-command completeness; bounds, wrong
    types, version/type, duplicates, truncation at every byte, lying headers, mutations; the
    status table's JSON rendering escapes what it must.                                     */
#include "proto/control.h"
#include "tests/unit/test_proto.h"

static void
s_encode_req (const proto_control_t *req, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init (sb);
    proto_err_t err;
    int rc = proto_control_encode (req, sb, &err);
    if (rc)
        fprintf (stderr, "encode: %s\n", err.reason);
    CHECK_EQ_INT (rc, 0);
}

static void
test_request (void)
{
    proto_control_t req, out;
    proto_err_t err;
    msgpack_sbuffer sb;

    //  every command round-trips, with the arguments it needs
    for (int cmd = PROTO_CMD_STATUS; cmd <= PROTO_CMD_RELOAD; cmd++) {
        memset (&req, 0, sizeof req);
        req.id = 1000u + (uint64_t) cmd;
        req.cmd = cmd;
        if (cmd == PROTO_CMD_RESTART || cmd == PROTO_CMD_SCALE)
            strcpy (req.worker, "scraper");
        if (cmd == PROTO_CMD_SCALE)
            req.size = PROTO_POOL_MAX;
        s_encode_req (&req, &sb);
        CHECK_EQ_INT (proto_control_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
        CHECK (proto_control_equal (&req, &out));
        CHECK_EQ_INT (proto_command_from_name (proto_command_name (cmd)), cmd);
        proto_control_free (&out);
        msgpack_sbuffer_destroy (&sb);
    }
    CHECK_EQ_INT (proto_command_from_name ("explode"), -1);
    CHECK_EQ_STR (proto_command_name (0), "unknown");

    //  encode refuses incomplete or out-of-range requests
    msgpack_sbuffer_init (&sb);
    memset (&req, 0, sizeof req);
    req.cmd = PROTO_CMD_RESTART;
    CHECK_EQ_INT (proto_control_encode (&req, &sb, &err), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "field 'worker': required for restart");
    req.cmd = PROTO_CMD_SCALE;
    strcpy (req.worker, "scraper");
    req.size = PROTO_POOL_MAX + 1;
    CHECK_EQ_INT (proto_control_encode (&req, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'size'") != NULL);
    req.cmd = 7;
    CHECK_EQ_INT (proto_control_encode (&req, &sb, &err), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "field 'cmd': unknown command 7");
    req.cmd = PROTO_CMD_STOP;
    strcpy (req.worker, "a/b");
    CHECK_EQ_INT (proto_control_encode (&req, &sb, &err), RC_MALFORMED);
    CHECK_EQ_INT (sb.size, 0);
    msgpack_sbuffer_destroy (&sb);

    //  decode: completeness per command, bounds, types, duplicates, unknown keys
    raw_t raw;
    struct {
        int pairs;
        const char *k1; int v1;                //  v1 < 0: value is the str "scraper"
        const char *k2; int v2;
        const char *k3; int v3;
        const char *needle;                    //  NULL: must decode
    } cases [] = {
        { 1, "cmd", PROTO_CMD_RESTART, NULL, 0, NULL, 0, "field 'worker': required for restart" },
        { 2, "cmd", PROTO_CMD_SCALE, "worker", -1, NULL, 0, "field 'size': required for scale" },
        { 2, "cmd", PROTO_CMD_SCALE, "size", 3, NULL, 0, "field 'worker': required for scale" },
        { 3, "cmd", PROTO_CMD_SCALE, "worker", -1, "size", PROTO_POOL_MAX + 1,
          "field 'size': 257" },
        { 1, "id", 5, NULL, 0, NULL, 0, "missing required field 'cmd'" },
        { 1, "cmd", 0, NULL, 0, NULL, 0, "field 'cmd': 0 outside 1..6" },
        { 1, "cmd", 7, NULL, 0, NULL, 0, "field 'cmd': 7 outside 1..6" },
        { 1, "cmd", -1, NULL, 0, NULL, 0, "field 'cmd': expected int, got str" },
        { 2, "cmd", 1, "worker", 3, NULL, 0, "field 'worker': expected str, got uint" },
        { 2, "cmd", 1, "cmd", 1, NULL, 0, "duplicate key 'cmd'" },
        { 2, "cmd", 1, "newfield", 1, NULL, 0, NULL },
        { 2, "cmd", PROTO_CMD_STOP, "size", 9, NULL, 0, NULL },    //  size ignored for stop
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        raw_init (&raw);
        raw_envelope (&raw, PROTO_VERSION, PROTO_CONTROL, (size_t) cases [c].pairs);
        const char *k [3] = { cases [c].k1, cases [c].k2, cases [c].k3 };
        int v [3] = { cases [c].v1, cases [c].v2, cases [c].v3 };
        for (int i = 0; i < cases [c].pairs; i++) {
            raw_str (&raw, k [i]);
            if (v [i] < 0)
                raw_str (&raw, "scraper");
            else
                msgpack_pack_uint32 (&raw.pk, (uint32_t) v [i]);
        }
        if (cases [c].needle)
            EXPECT_REASON (proto_control_t, proto_control_decode, proto_control_free,
                           (uint8_t *) raw.buf.data, raw.buf.size, cases [c].needle);
        else {
            CHECK_EQ_INT (proto_control_decode ((uint8_t *) raw.buf.data, raw.buf.size, &out,
                                                &err), 0);
            CHECK_EQ_INT (out.size, 0);
        }
        raw_destroy (&raw);
    }

    //  truncation, trailing bytes, nasty headers, mutations, version and type
    memset (&req, 0, sizeof req);
    req.id = 77;
    req.cmd = PROTO_CMD_SCALE;
    strcpy (req.worker, "tier3");
    req.size = 4;
    s_encode_req (&req, &sb);
    EXPECT_PREFIXES_REJECTED (proto_control_t, proto_control_decode, proto_control_free,
                              (uint8_t *) sb.data, sb.size, 0);
    static const char *keys [] = { "id", "cmd", "worker", "size" };
    EXPECT_NASTY_REJECTED (proto_control_t, proto_control_decode, proto_control_free,
                           PROTO_CONTROL, keys, 4u);
    EXPECT_MUTATIONS_SAFE (proto_control_t, proto_control_decode, proto_control_encode,
                           proto_control_equal, proto_control_free, (uint8_t *) sb.data,
                           sb.size);
    uint8_t *bytes = (uint8_t *) sb.data;
    bytes [1] = 0;
    EXPECT_REASON (proto_control_t, proto_control_decode, proto_control_free, bytes, sb.size,
                   "unsupported version 0");
    bytes [1] = PROTO_VERSION;
    bytes [2] = PROTO_CONTROL_REPLY;
    EXPECT_REASON (proto_control_t, proto_control_decode, proto_control_free, bytes, sb.size,
                   "expected message type 2 (control), got 3 (control_reply)");
    msgpack_sbuffer_destroy (&sb);
}

static proto_child_status_t s_rows [3];

static proto_control_reply_t
s_reply (void)
{
    proto_control_reply_t rep;
    memset (&rep, 0, sizeof rep);
    memset (s_rows, 0, sizeof s_rows);
    rep.id = 9;
    rep.ok = true;
    strcpy (rep.message, "3 children");
    strcpy (s_rows [0].name, "assigner");
    s_rows [0].pid = 100;
    s_rows [0].state = PROTO_CHILD_READY;
    s_rows [0].ready_since_ms = 1764072000000;
    s_rows [0].hb_age_ms = 120;
    strcpy (s_rows [1].name, "scraper");
    s_rows [1].index = 1;
    s_rows [1].state = PROTO_CHILD_BACKOFF;
    s_rows [1].restarts = 4;
    strcpy (s_rows [1].last_exit, "signal 9 \"KILL\"\t");
    s_rows [1].hb_age_ms = -1;
    strcpy (s_rows [2].name, "storage");
    s_rows [2].pid = INT32_MAX;
    s_rows [2].state = PROTO_CHILD_FAILED;
    s_rows [2].restarts = UINT32_MAX;
    strcpy (s_rows [2].last_exit, "exit 100");
    s_rows [2].hb_age_ms = 5000;
    rep.nchildren = 3;
    rep.children = s_rows;
    return rep;
}

static void
test_reply (void)
{
    proto_control_reply_t rep = s_reply (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), 0);
    CHECK_EQ_INT (proto_control_reply_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_control_reply_equal (&rep, &out));
    CHECK_EQ_INT (out.nchildren, 3);
    CHECK_EQ_STR (out.children [1].last_exit, "signal 9 \"KILL\"\t");
    out.children [2].restarts = 0;
    CHECK (!proto_control_reply_equal (&rep, &out));
    out.children [2].restarts = UINT32_MAX;

    //  JSON for zipminectl status --json
    char *json = proto_control_reply_json (&out);
    CHECK (json != NULL);
    CHECK (strstr (json, "{\"id\":9,\"ok\":true,\"message\":\"3 children\","
                         "\"children\":[") == json);
    CHECK (strstr (json, "\"name\":\"assigner\",\"index\":0,\"pid\":100,\"state\":\"ready\","
                         "\"restarts\":0,\"last_exit\":\"\",\"ready_since_ms\":1764072000000,"
                         "\"hb_age_ms\":120}") != NULL);
    CHECK (strstr (json, "\"last_exit\":\"signal 9 \\\"KILL\\\"\\u0009\"") != NULL);
    CHECK (strstr (json, "\"state\":\"failed\",\"restarts\":4294967295") != NULL);
    CHECK_EQ_INT (json [strlen (json) - 1], '}');
    free (json);
    proto_control_reply_free (&out);
    CHECK (out.children == NULL);

    //  a failed reply without rows; message at its bound
    proto_control_reply_t bare;
    memset (&bare, 0, sizeof bare);
    memset (bare.message, 'm', PROTO_REASON_MAX);
    msgpack_sbuffer_clear (&sb);
    CHECK_EQ_INT (proto_control_reply_encode (&bare, &sb, &err), 0);
    CHECK_EQ_INT (proto_control_reply_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_control_reply_equal (&bare, &out));
    CHECK (!out.ok && out.children == NULL);
    json = proto_control_reply_json (&out);
    CHECK (strstr (json, "\"children\":[]}") != NULL);
    free (json);
    proto_control_reply_free (&out);

    //  a full status table
    static proto_child_status_t many [PROTO_CHILDREN_MAX];
    for (int i = 0; i < PROTO_CHILDREN_MAX; i++) {
        snprintf (many [i].name, sizeof many [i].name, "w%d", i);
        many [i].index = (uint32_t) i;
        many [i].state = PROTO_CHILD_STARTING;
        many [i].hb_age_ms = -1;
    }
    rep.children = many;
    rep.nchildren = PROTO_CHILDREN_MAX;
    msgpack_sbuffer_clear (&sb);
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), 0);
    alloc_reset ();
    CHECK_EQ_INT (proto_control_reply_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK_EQ_INT (s_alloc_calls, 1);
    CHECK (s_alloc_bytes < 6 * sb.size);
    CHECK (proto_control_reply_equal (&rep, &out));
    proto_control_reply_free (&out);
    rep.nchildren = PROTO_CHILDREN_MAX + 1;
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), RC_MALFORMED);

    //  encode refusals
    rep = s_reply ();
    s_rows [1].state = 0;
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "children[1]: field 'state'") != NULL);
    rep = s_reply ();
    s_rows [0].hb_age_ms = -2;
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), RC_MALFORMED);
    rep = s_reply ();
    s_rows [2].name [0] = '\0';
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), RC_MALFORMED);
    rep = s_reply ();
    strcpy (rep.message, "\xc3");
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'message'") != NULL);

    //  decode rejections built by hand
    raw_t raw;
    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_CONTROL_REPLY, 2);
    raw_str (&raw, "ok"); msgpack_pack_true (&raw.pk);
    raw_str (&raw, "children"); msgpack_pack_array (&raw.pk, 1);
    msgpack_pack_map (&raw.pk, 5);
    raw_str (&raw, "name"); raw_str (&raw, "x");
    raw_str (&raw, "index"); msgpack_pack_uint8 (&raw.pk, 0);
    raw_str (&raw, "pid"); msgpack_pack_uint8 (&raw.pk, 0);
    raw_str (&raw, "state"); msgpack_pack_uint8 (&raw.pk, 7);
    raw_str (&raw, "restarts"); msgpack_pack_uint8 (&raw.pk, 0);
    EXPECT_REASON (proto_control_reply_t, proto_control_reply_decode, proto_control_reply_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "children[0]: field 'state': 7");
    raw_destroy (&raw);

    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_CONTROL_REPLY, 1);
    raw_str (&raw, "ok"); msgpack_pack_uint8 (&raw.pk, 1);
    EXPECT_REASON (proto_control_reply_t, proto_control_reply_decode, proto_control_reply_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "field 'ok': expected bool, got uint");
    raw_destroy (&raw);

    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_CONTROL_REPLY, 2);
    raw_str (&raw, "ok"); msgpack_pack_true (&raw.pk);
    raw_str (&raw, "message");
    char longmsg [PROTO_REASON_MAX + 2];
    memset (longmsg, 'm', PROTO_REASON_MAX + 1);
    longmsg [PROTO_REASON_MAX + 1] = '\0';
    raw_str (&raw, longmsg);
    EXPECT_REASON (proto_control_reply_t, proto_control_reply_decode, proto_control_reply_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "expected str of 0..512 bytes, got 513");
    raw_destroy (&raw);

    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_CONTROL_REPLY, 1);
    raw_str (&raw, "message"); raw_str (&raw, "no ok");
    EXPECT_REASON (proto_control_reply_t, proto_control_reply_decode, proto_control_reply_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "missing required field 'ok'");
    raw_destroy (&raw);

    //  a lying row count: no allocation before the lie is caught
    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_CONTROL_REPLY, 2);
    raw_str (&raw, "ok"); msgpack_pack_true (&raw.pk);
    raw_str (&raw, "children"); msgpack_pack_array (&raw.pk, 200);
    for (int i = 0; i < 300; i++)
        msgpack_pack_nil (&raw.pk);
    alloc_reset ();
    EXPECT_REASON (proto_control_reply_t, proto_control_reply_decode, proto_control_reply_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "need at least 32 bytes each");
    CHECK_EQ_INT (s_alloc_calls, 0);
    raw_destroy (&raw);

    //  truncation, trailing bytes, nasty headers, mutations
    rep = s_reply ();
    msgpack_sbuffer_clear (&sb);
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, &err), 0);
    EXPECT_PREFIXES_REJECTED (proto_control_reply_t, proto_control_reply_decode,
                              proto_control_reply_free, (uint8_t *) sb.data, sb.size, 6);
    static const char *keys [] = { "id", "ok", "message", "children" };
    EXPECT_NASTY_REJECTED (proto_control_reply_t, proto_control_reply_decode,
                           proto_control_reply_free, PROTO_CONTROL_REPLY, keys, 4u);
    EXPECT_MUTATIONS_SAFE (proto_control_reply_t, proto_control_reply_decode,
                           proto_control_reply_encode, proto_control_reply_equal,
                           proto_control_reply_free, (uint8_t *) sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_names (void)
{
    const char *expect [] = { NULL, "down", "starting", "ready", "stopping", "backoff", "failed" };
    for (int s = PROTO_CHILD_DOWN; s <= PROTO_CHILD_FAILED; s++)
        CHECK_EQ_STR (proto_child_state_name (s), expect [s]);
    CHECK_EQ_STR (proto_child_state_name (0), "unknown");
}

int
main (void)
{
    alloc_self_test ();
    test_names ();
    test_request ();
    test_reply ();
    TEST_DONE ();
}
