/*  proto/heartbeat, the DEGRADED state and its reason: round trip, the pairing rule (a reason
    exactly when degraded) on both encode and decode, the reason's bounds and alphabet, a
    heartbeat of the previous version (no reason, state 2) still decoding, and hostile bytes
    around the new field.                                                                   */
#include "proto/heartbeat.h"
#include "tests/unit/test_proto.h"

static proto_heartbeat_t
s_degraded (const char *reason)
{
    proto_heartbeat_t hb;
    memset (&hb, 0, sizeof hb);
    strcpy (hb.worker, "uploader");
    hb.index = 0;
    hb.pid = 777;
    hb.seq = 9;
    hb.state = PROTO_WORKER_DEGRADED;
    hb.uptime_ms = 31000;
    snprintf (hb.reason, sizeof hb.reason, "%s", reason);
    return hb;
}

static void
test_roundtrip (void)
{
    proto_heartbeat_t hb = s_degraded ("s3: connect refused (127.0.0.1:9) \"quoted\" \\"), out;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    proto_err_t err;
    CHECK_EQ_INT (proto_heartbeat_encode (&hb, &sb, &err), 0);
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_heartbeat_equal (&hb, &out));
    CHECK_EQ_INT (out.state, PROTO_WORKER_DEGRADED);
    CHECK_EQ_STR (out.reason, "s3: connect refused (127.0.0.1:9) \"quoted\" \\");
    CHECK_EQ_STR (proto_worker_state_name (out.state), "degraded");
    //  equality looks at the reason
    out.reason [0] = 'x';
    CHECK (!proto_heartbeat_equal (&hb, &out));
    proto_heartbeat_free (&out);
    CHECK_EQ_STR (out.reason, "");

    //  the longest reason, with metrics after it
    msgpack_sbuffer_clear (&sb);
    memset (hb.reason, 'r', PROTO_HEARTBEAT_REASON_MAX);
    hb.reason [PROTO_HEARTBEAT_REASON_MAX] = 0;
    proto_metric_t m = { .name = "zipmine_x_total", .type = PROTO_METRIC_COUNTER, .value = 2 };
    hb.nmetrics = 1;
    hb.metrics = &m;
    CHECK_EQ_INT (proto_heartbeat_encode (&hb, &sb, &err), 0);
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_heartbeat_equal (&hb, &out));
    CHECK_EQ_INT (strlen (out.reason), PROTO_HEARTBEAT_REASON_MAX);
    proto_heartbeat_free (&out);
    EXPECT_PREFIXES_REJECTED (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                              (uint8_t *) sb.data, sb.size, 12);
    EXPECT_MUTATIONS_SAFE (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_encode,
                           proto_heartbeat_equal, proto_heartbeat_free,
                           (uint8_t *) sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_encode_refuses (void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    proto_err_t err;
    proto_heartbeat_t hb;
#define REFUSE(mutation, needle) do { \
        hb = s_degraded ("coordinator: timeout"); \
        mutation; \
        CHECK_EQ_INT (proto_heartbeat_encode (&hb, &sb, &err), RC_MALFORMED); \
        if (!strstr (err.reason, needle)) fprintf (stderr, "reason: %s\n", err.reason); \
        CHECK (strstr (err.reason, needle) != NULL); \
        CHECK_EQ_INT (sb.size, 0); \
    } while (0)
    REFUSE (hb.reason [0] = 0, "field 'reason'");
    REFUSE (hb.state = PROTO_WORKER_READY, "only a degraded worker");
    REFUSE (hb.state = PROTO_WORKER_DRAINING, "only a degraded worker");
    REFUSE (strcpy (hb.reason, "new\nline"), "field 'reason'");
    REFUSE (strcpy (hb.reason, "caf\xc3\xa9"), "field 'reason'");
    REFUSE (memset (hb.reason, 'a', sizeof hb.reason), "not NUL-terminated");
    REFUSE (hb.state = 5, "field 'state'");
#undef REFUSE
    msgpack_sbuffer_destroy (&sb);
}

//  A heartbeat body by hand: the six required fields with `state`, then `reason` when given.
static void
s_raw (raw_t *raw, unsigned state, const char *reason, bool reason_first)
{
    raw_init (raw);
    raw_envelope (raw, PROTO_VERSION, PROTO_HEARTBEAT, 6 + (reason != NULL));
    if (reason && reason_first) {
        raw_str (raw, "reason");
        raw_str (raw, reason);
    }
    raw_str (raw, "worker"); raw_str (raw, "assigner");
    raw_str (raw, "index"); msgpack_pack_uint8 (&raw->pk, 0);
    raw_str (raw, "pid"); msgpack_pack_uint32 (&raw->pk, 99);
    raw_str (raw, "seq"); msgpack_pack_uint8 (&raw->pk, 1);
    raw_str (raw, "state"); msgpack_pack_uint8 (&raw->pk, (uint8_t) state);
    raw_str (raw, "uptime_ms"); msgpack_pack_uint8 (&raw->pk, 5);
    if (reason && !reason_first) {
        raw_str (raw, "reason");
        raw_str (raw, reason);
    }
}

static void
test_decode (void)
{
    raw_t raw;
    proto_heartbeat_t out;
    proto_err_t err;

    //  the previous version's READY heartbeat: no reason, decodes as before
    s_raw (&raw, PROTO_WORKER_READY, NULL, false);
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) raw.buf.data, raw.buf.size, &out, &err), 0);
    CHECK_EQ_INT (out.state, PROTO_WORKER_READY);
    CHECK_EQ_STR (out.reason, "");
    proto_heartbeat_free (&out);
    raw_destroy (&raw);

    //  reason before or after state: the pairing rule does not depend on key order
    for (int first = 0; first < 2; first++) {
        s_raw (&raw, PROTO_WORKER_DEGRADED, "coordinator: HTTP 503", first);
        CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) raw.buf.data, raw.buf.size, &out,
                                              &err), 0);
        CHECK_EQ_INT (out.state, PROTO_WORKER_DEGRADED);
        CHECK_EQ_STR (out.reason, "coordinator: HTTP 503");
        proto_heartbeat_free (&out);
        raw_destroy (&raw);
    }

    struct {
        unsigned state;
        const char *reason;
        const char *needle;
    } bad [] = {
        { PROTO_WORKER_DEGRADED, NULL, "required when state is degraded" },
        { PROTO_WORKER_READY, "s3: down", "only a degraded worker" },
        { PROTO_WORKER_STARTING, "s3: down", "only a degraded worker" },
        { PROTO_WORKER_DEGRADED, "", "field 'reason'" },
        { PROTO_WORKER_DEGRADED, "tab\there", "field 'reason'" },
        { PROTO_WORKER_DEGRADED, "\x7f", "field 'reason'" },
        { PROTO_WORKER_DEGRADED, "caf\xc3\xa9", "field 'reason'" },
        { 5, "s3: down", "field 'state': 5 outside 1..4" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_raw (&raw, bad [i].state, bad [i].reason, false);
        EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                       (uint8_t *) raw.buf.data, raw.buf.size, bad [i].needle);
        raw_destroy (&raw);
    }

    //  one byte over the bound; the wrong type; a lying str32 header: no allocation
    char longer [PROTO_HEARTBEAT_REASON_MAX + 2];
    memset (longer, 'a', sizeof longer - 1);
    longer [sizeof longer - 1] = 0;
    s_raw (&raw, PROTO_WORKER_DEGRADED, longer, false);
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "field 'reason'");
    raw_destroy (&raw);

    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_HEARTBEAT, 1);
    raw_str (&raw, "reason");
    msgpack_pack_uint8 (&raw.pk, 3);
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "field 'reason': expected str");
    raw_destroy (&raw);

    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_HEARTBEAT, 1);
    raw_str (&raw, "reason");
    static const uint8_t str32 [] = { 0xdb, 0xff, 0xff, 0xff, 0xf0 };
    raw_bytes (&raw, str32, sizeof str32);
    alloc_reset ();
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) raw.buf.data, raw.buf.size, &out, &err),
                  RC_MALFORMED);
    CHECK_EQ_INT (s_alloc_calls, 0);
    raw_destroy (&raw);

    //  a duplicate reason key
    raw_init (&raw);
    raw_envelope (&raw, PROTO_VERSION, PROTO_HEARTBEAT, 2);
    raw_str (&raw, "reason"); raw_str (&raw, "a");
    raw_str (&raw, "reason"); raw_str (&raw, "b");
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                   (uint8_t *) raw.buf.data, raw.buf.size, "reason");
    raw_destroy (&raw);
}

static void
test_valid_reason (void)
{
    CHECK (proto_valid_hb_reason ("s3: x"));
    CHECK (proto_valid_hb_reason (" ~"));
    CHECK (!proto_valid_hb_reason (""));
    CHECK (!proto_valid_hb_reason ("\x1f"));
    CHECK (!proto_valid_hb_reason ("\x80"));
    char s [PROTO_HEARTBEAT_REASON_MAX + 2];
    memset (s, 'a', sizeof s);
    s [PROTO_HEARTBEAT_REASON_MAX] = 0;
    CHECK (proto_valid_hb_reason (s));
    s [PROTO_HEARTBEAT_REASON_MAX] = 'a';
    s [PROTO_HEARTBEAT_REASON_MAX + 1] = 0;
    CHECK (!proto_valid_hb_reason (s));
}

int
main (void)
{
    alloc_self_test ();
    test_valid_reason ();
    test_roundtrip ();
    test_encode_refuses ();
    test_decode ();
    TEST_DONE ();
}
