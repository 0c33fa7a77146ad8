/*  proto/heartbeat: round trip, bounds on every field, wrong types, version and type,
    duplicate and unknown keys, truncation at every byte, lying length headers, deep nesting
    and single-byte mutations.                                                              */
#include "proto/heartbeat.h"
#include "tests/unit/test_proto.h"

#include <math.h>

static proto_metric_t s_metrics [3];

static proto_heartbeat_t
s_sample (void)
{
    proto_heartbeat_t hb;
    memset (&hb, 0, sizeof hb);
    strcpy (hb.worker, "scraper");
    hb.index = 3;
    hb.pid = 4242;
    hb.seq = (uint64_t) 1 << 40;
    hb.state = PROTO_WORKER_READY;
    hb.uptime_ms = 123456789;
    memset (s_metrics, 0, sizeof s_metrics);
    s_metrics [0].name = "zm_batches_total";
    s_metrics [0].type = PROTO_METRIC_COUNTER;
    s_metrics [0].value = 17;
    s_metrics [0].help = "Listing batches sent";
    s_metrics [0].nlabels = 2;
    s_metrics [0].labels [0] = (proto_label_t) { "zipcode", "02139" };
    s_metrics [0].labels [1] = (proto_label_t) { "result", "caf\xc3\xa9 \"quoted\"\n" };
    s_metrics [1].name = "zm:queue_depth";
    s_metrics [1].type = PROTO_METRIC_GAUGE;
    s_metrics [1].value = -0.125;
    s_metrics [2].name = "_nan_gauge";
    s_metrics [2].type = PROTO_METRIC_GAUGE;
    s_metrics [2].value = NAN;
    s_metrics [2].help = "";
    hb.nmetrics = 3;
    hb.metrics = s_metrics;
    return hb;
}

static void
s_encode (const proto_heartbeat_t *hb, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init (sb);
    proto_err_t err;
    int rc = proto_heartbeat_encode (hb, sb, &err);
    if (rc)
        fprintf (stderr, "encode: %s\n", err.reason);
    CHECK_EQ_INT (rc, 0);
}

static void
test_roundtrip (void)
{
    proto_heartbeat_t hb = s_sample (), out;
    msgpack_sbuffer sb;
    s_encode (&hb, &sb);
    proto_err_t err;
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_heartbeat_equal (&hb, &out));
    CHECK_EQ_STR (out.worker, "scraper");
    CHECK_EQ_INT (out.nmetrics, 3);
    CHECK_EQ_STR (out.metrics [0].labels [1].value, "caf\xc3\xa9 \"quoted\"\n");
    CHECK (out.metrics [1].help == NULL);
    CHECK_EQ_STR (out.metrics [2].help, "");
    CHECK (isnan (out.metrics [2].value));
    //  equality really compares
    out.metrics [1].value = 1;
    CHECK (!proto_heartbeat_equal (&hb, &out));
    proto_heartbeat_free (&out);
    CHECK (out.metrics == NULL && out.mem_ == NULL);
    proto_heartbeat_free (&out);                  //  idempotent
    proto_heartbeat_free (NULL);

    //  decoded message outlives its input buffer (it owns its strings)
    uint8_t *copy = malloc (sb.size);
    memcpy (copy, sb.data, sb.size);
    CHECK_EQ_INT (proto_heartbeat_decode (copy, sb.size, &out, &err), 0);
    memset (copy, 0, sb.size);
    free (copy);
    CHECK (proto_heartbeat_equal (&hb, &out));
    proto_heartbeat_free (&out);

    //  no metrics at all, and the extremes of every bound
    hb.nmetrics = 0;
    hb.metrics = NULL;
    hb.index = PROTO_HEARTBEAT_INDEX_MAX;
    hb.pid = INT32_MAX;
    hb.seq = UINT64_MAX;
    hb.uptime_ms = UINT64_MAX;
    hb.state = PROTO_WORKER_DRAINING;
    memset (hb.worker, 'w', PROTO_NAME_MAX);
    hb.worker [PROTO_NAME_MAX] = '\0';
    msgpack_sbuffer sb2;
    s_encode (&hb, &sb2);
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) sb2.data, sb2.size, &out, &err), 0);
    CHECK (proto_heartbeat_equal (&hb, &out));
    CHECK (out.mem_ == NULL);                     //  nothing to allocate
    proto_heartbeat_free (&out);
    msgpack_sbuffer_destroy (&sb2);

    //  PROTO_METRICS_MAX samples with PROTO_LABELS_MAX labels each
    static proto_metric_t many [PROTO_METRICS_MAX];
    static char names [PROTO_METRICS_MAX][32];
    static const char *lnames [PROTO_LABELS_MAX] = { "a", "b", "c", "d", "e", "f", "g", "h" };
    char longval [PROTO_LABEL_VALUE_MAX + 1];
    memset (longval, 'v', PROTO_LABEL_VALUE_MAX);
    longval [PROTO_LABEL_VALUE_MAX] = '\0';
    for (int i = 0; i < PROTO_METRICS_MAX; i++) {
        snprintf (names [i], sizeof names [i], "m_%d", i);
        many [i].name = names [i];
        //  every type travels: counters, gauges and histogram rows
        many [i].type = i % 3 == 0 ? PROTO_METRIC_COUNTER
                      : i % 3 == 1 ? PROTO_METRIC_GAUGE : PROTO_METRIC_HISTOGRAM;
        many [i].value = i;
        many [i].nlabels = PROTO_LABELS_MAX;
        for (int k = 0; k < PROTO_LABELS_MAX; k++)
            many [i].labels [k] = (proto_label_t) { lnames [k], longval };
    }
    hb.metrics = many;
    hb.nmetrics = PROTO_METRICS_MAX;
    s_encode (&hb, &sb2);
    alloc_reset ();
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) sb2.data, sb2.size, &out, &err), 0);
    CHECK_EQ_INT (s_alloc_calls, 1);              //  one block, as documented
    CHECK (s_alloc_bytes < 12 * sb2.size);
    CHECK (proto_heartbeat_equal (&hb, &out));
    proto_heartbeat_free (&out);
    msgpack_sbuffer_destroy (&sb2);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_encode_refuses (void)
{
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    proto_heartbeat_t hb;

#define REFUSE(mutation, needle) do { \
        hb = s_sample (); \
        mutation; \
        CHECK_EQ_INT (proto_heartbeat_encode (&hb, &sb, &err), RC_MALFORMED); \
        if (!strstr (err.reason, needle)) fprintf (stderr, "reason: %s\n", err.reason); \
        CHECK (strstr (err.reason, needle) != NULL); \
        CHECK_EQ_INT (sb.size, 0); \
    } while (0)

    REFUSE (hb.worker [0] = '\0', "field 'worker'");
    REFUSE (strcpy (hb.worker, "bad name"), "field 'worker'");
    REFUSE (hb.index = PROTO_HEARTBEAT_INDEX_MAX + 1, "field 'index'");
    REFUSE (hb.pid = 0, "field 'pid'");
    REFUSE (hb.state = 0, "field 'state'");
    REFUSE (hb.state = 5, "field 'state'");
    REFUSE (hb.nmetrics = PROTO_METRICS_MAX + 1, "field 'metrics'");
    REFUSE (s_metrics [1].name = "1abc", "metrics[1]: field 'name'");
    REFUSE (s_metrics [1].name = "a-b", "metrics[1]: field 'name'");
    REFUSE (s_metrics [1].name = NULL, "metrics[1]: field 'name'");
    REFUSE (s_metrics [1].type = 4, "field 'type'");
    REFUSE (s_metrics [0].labels [1].name = "__reserved", "bad label name");
    REFUSE (s_metrics [0].labels [1].name = "zipcode", "duplicate label");
    REFUSE (s_metrics [0].labels [1].value = "\xff", "label 'result'");
    REFUSE (s_metrics [0].nlabels = PROTO_LABELS_MAX + 1, "labels exceed");
    REFUSE (s_metrics [0].help = "\xc0\xaf", "field 'help'");
#undef REFUSE
    msgpack_sbuffer_destroy (&sb);
}

//  A heartbeat body built by hand: the six required fields, then whatever `extra` adds.
typedef void (extra_fn) (raw_t *raw);

static void
s_raw_body (raw_t *raw, size_t extra_pairs, extra_fn *extra)
{
    raw_init (raw);
    raw_envelope (raw, PROTO_VERSION, PROTO_HEARTBEAT, 6 + extra_pairs);
    raw_str (raw, "worker"); raw_str (raw, "storage");
    raw_str (raw, "index"); msgpack_pack_uint8 (&raw->pk, 0);
    raw_str (raw, "pid"); msgpack_pack_uint32 (&raw->pk, 99);
    raw_str (raw, "seq"); msgpack_pack_uint8 (&raw->pk, 1);
    raw_str (raw, "state"); msgpack_pack_uint8 (&raw->pk, 1);
    raw_str (raw, "uptime_ms"); msgpack_pack_uint8 (&raw->pk, 5);
    if (extra)
        extra (raw);
}

static void x_unknown (raw_t *r) { raw_str (r, "future_field"); msgpack_pack_map (&r->pk, 1);
                                   raw_str (r, "x"); msgpack_pack_array (&r->pk, 0); }
static void x_dup_seq (raw_t *r) { raw_str (r, "seq"); msgpack_pack_uint8 (&r->pk, 2); }
static void x_dup_unknown (raw_t *r) { raw_str (r, "zz"); msgpack_pack_nil (&r->pk);
                                       raw_str (r, "zz"); msgpack_pack_nil (&r->pk); }
static void x_deep (raw_t *r) { raw_str (r, "future"); for (int i = 0; i < 40; i++)
                                    msgpack_pack_array (&r->pk, 1);
                                msgpack_pack_nil (&r->pk); }
static void x_metric_str (raw_t *r) { raw_str (r, "metrics"); raw_str (r, "oops"); }
static void x_metric_too_many (raw_t *r) {
    raw_str (r, "metrics");
    msgpack_pack_array (&r->pk, PROTO_METRICS_MAX + 1);
    for (int i = 0; i <= PROTO_METRICS_MAX; i++) {
        msgpack_pack_map (&r->pk, 3);
        raw_str (r, "name"); raw_str (r, "m");
        raw_str (r, "type"); msgpack_pack_uint8 (&r->pk, 1);
        raw_str (r, "value"); msgpack_pack_uint8 (&r->pk, 1);
    }
}
static void x_metric_missing_value (raw_t *r) {
    raw_str (r, "metrics"); msgpack_pack_array (&r->pk, 1);
    msgpack_pack_map (&r->pk, 3);
    raw_str (r, "name"); raw_str (r, "m");
    raw_str (r, "help"); raw_str (r, "h");
    raw_str (r, "type"); msgpack_pack_uint8 (&r->pk, 1);
}
static void x_metric_bad_name (raw_t *r) {
    raw_str (r, "metrics"); msgpack_pack_array (&r->pk, 1);
    msgpack_pack_map (&r->pk, 3);
    raw_str (r, "name"); raw_str (r, "bad name{}");
    raw_str (r, "type"); msgpack_pack_uint8 (&r->pk, 1);
    raw_str (r, "value"); msgpack_pack_uint8 (&r->pk, 1);
}
static void x_metric_long_label (raw_t *r) {
    raw_str (r, "metrics"); msgpack_pack_array (&r->pk, 1);
    msgpack_pack_map (&r->pk, 4);
    raw_str (r, "name"); raw_str (r, "m");
    raw_str (r, "type"); msgpack_pack_uint8 (&r->pk, 1);
    raw_str (r, "value"); msgpack_pack_double (&r->pk, 1);
    raw_str (r, "labels"); msgpack_pack_map (&r->pk, 1);
    raw_str (r, "k");
    char v [PROTO_LABEL_VALUE_MAX + 2];
    memset (v, 'v', sizeof v - 1);
    v [sizeof v - 1] = '\0';
    raw_str (r, v);
}
static void x_metric_dup_label (raw_t *r) {
    raw_str (r, "metrics"); msgpack_pack_array (&r->pk, 1);
    msgpack_pack_map (&r->pk, 4);
    raw_str (r, "name"); raw_str (r, "m");
    raw_str (r, "type"); msgpack_pack_uint8 (&r->pk, 1);
    raw_str (r, "value"); msgpack_pack_double (&r->pk, 1);
    raw_str (r, "labels"); msgpack_pack_map (&r->pk, 2);
    raw_str (r, "k"); raw_str (r, "1");
    raw_str (r, "k"); raw_str (r, "2");
}
static void x_metrics_lying_count (raw_t *r) {
    //  claims 256 samples but carries bytes for a handful: rejected before allocating
    raw_str (r, "metrics"); msgpack_pack_array (&r->pk, PROTO_METRICS_MAX);
    for (int i = 0; i < 1000; i++)
        msgpack_pack_nil (&r->pk);
}

static void
test_decode_rejects (void)
{
    proto_heartbeat_t out;
    proto_err_t err;
    raw_t raw;

    //  unknown keys (with nested values) are ignored
    s_raw_body (&raw, 1, x_unknown);
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) raw.buf.data, raw.buf.size, &out, &err), 0);
    CHECK_EQ_STR (out.worker, "storage");
    CHECK_EQ_INT (out.pid, 99);
    proto_heartbeat_free (&out);
    raw_destroy (&raw);

#define BAD(pairs, fn, needle) do { \
        s_raw_body (&raw, pairs, fn); \
        EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free, \
                       (uint8_t *) raw.buf.data, raw.buf.size, needle); \
        EXPECT_REJECT (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free, \
                       (uint8_t *) raw.buf.data, raw.buf.size, 12); \
        raw_destroy (&raw); \
    } while (0)

    BAD (1, x_dup_seq, "duplicate key 'seq'");
    BAD (2, x_dup_unknown, "duplicate key 'zz'");
    BAD (1, x_deep, "nesting deeper");
    BAD (1, x_metric_str, "field 'metrics': expected array, got str");
    BAD (1, x_metric_too_many, "array of 257 elements exceeds 256");
    BAD (1, x_metric_missing_value, "metrics[0]: metric: missing required field 'value'");
    BAD (1, x_metric_bad_name, "Prometheus metric name");
    BAD (1, x_metric_long_label, "expected str of 0..128 bytes, got 129");
    BAD (1, x_metric_dup_label, "duplicate label 'k'");
    BAD (1, x_metrics_lying_count, "need at least 16 bytes each");
    s_raw_body (&raw, 1, x_metrics_lying_count);
    alloc_reset ();
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) raw.buf.data, raw.buf.size, &out, &err),
                  RC_MALFORMED);
    CHECK_EQ_INT (s_alloc_calls, 0);
    raw_destroy (&raw);
#undef BAD

    //  a missing required field, each in turn: build the body without it
    static const char *required [] = { "worker", "index", "pid", "seq", "state", "uptime_ms" };
    for (int skip = 0; skip < 6; skip++) {
        raw_init (&raw);
        raw_envelope (&raw, PROTO_VERSION, PROTO_HEARTBEAT, 5);
        for (int k = 0; k < 6; k++) {
            if (k == skip)
                continue;
            raw_str (&raw, required [k]);
            if (k == 0)
                raw_str (&raw, "w");
            else
                msgpack_pack_uint8 (&raw.pk, 1);
        }
        char needle [64];
        snprintf (needle, sizeof needle, "missing required field '%s'", required [skip]);
        EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                       (uint8_t *) raw.buf.data, raw.buf.size, needle);
        raw_destroy (&raw);
    }

    //  wrong types and out-of-range values, field by field
    struct {
        const char *key;
        int kind;               //  0 str, 1 uint, 2 negative int, 3 double, 4 bool
        const char *s;
        uint64_t u;
        const char *needle;
    } cases [] = {
        { "worker", 1, NULL, 5, "field 'worker': expected str, got uint" },
        { "worker", 0, "has space", 0, "field 'worker': expected worker name" },
        { "worker", 0, "", 0, "field 'worker'" },
        { "index", 0, "1", 0, "field 'index': expected int, got str" },
        { "index", 1, NULL, PROTO_HEARTBEAT_INDEX_MAX + 1, "field 'index': 1024 outside" },
        { "pid", 1, NULL, 0, "field 'pid': 0 outside" },
        { "pid", 1, NULL, (uint64_t) INT32_MAX + 1, "field 'pid'" },
        { "pid", 2, NULL, 0, "field 'pid': expected uint, got negative int" },
        { "seq", 3, NULL, 0, "field 'seq': expected int, got float" },
        { "state", 1, NULL, 0, "field 'state': 0 outside 1..4" },
        { "state", 1, NULL, 5, "field 'state': 5 outside 1..4" },
        { "uptime_ms", 4, NULL, 0, "field 'uptime_ms': expected int, got bool" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        raw_init (&raw);
        raw_envelope (&raw, PROTO_VERSION, PROTO_HEARTBEAT, 6);
        static const char *keys [] = { "worker", "index", "pid", "seq", "state", "uptime_ms" };
        for (int k = 0; k < 6; k++) {
            raw_str (&raw, keys [k]);
            if (strcmp (keys [k], cases [c].key) == 0) {
                switch (cases [c].kind) {
                    case 0: raw_str (&raw, cases [c].s); break;
                    case 1: msgpack_pack_uint64 (&raw.pk, cases [c].u); break;
                    case 2: msgpack_pack_int8 (&raw.pk, -1); break;
                    case 3: msgpack_pack_double (&raw.pk, 1.0); break;
                    default: msgpack_pack_true (&raw.pk); break;
                }
            }
            else if (k == 0)
                raw_str (&raw, "w");
            else
                msgpack_pack_uint8 (&raw.pk, 1);
        }
        EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                       (uint8_t *) raw.buf.data, raw.buf.size, cases [c].needle);
        raw_destroy (&raw);
    }

    //  wrong version, wrong message type, body not a map
    proto_heartbeat_t hb = s_sample ();
    msgpack_sbuffer sb;
    s_encode (&hb, &sb);
    uint8_t *bytes = (uint8_t *) sb.data;
    CHECK_EQ_INT (bytes [0], 0x93);
    CHECK_EQ_INT (bytes [1], PROTO_VERSION);
    CHECK_EQ_INT (bytes [2], PROTO_HEARTBEAT);
    bytes [1] = 2;
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free, bytes,
                   sb.size, "unsupported version 2");
    bytes [1] = PROTO_VERSION;
    bytes [2] = PROTO_CONTROL;
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free, bytes,
                   sb.size, "expected message type 1 (heartbeat), got 2 (control)");
    bytes [2] = 99;
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free, bytes,
                   sb.size, "unknown message type 99");
    bytes [2] = PROTO_HEARTBEAT;
    uint8_t body_array [] = { 0x93, 0x01, 0x01, 0x90 };
    EXPECT_REASON (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free, body_array,
                   sizeof body_array, "body: expected map, got array");

    //  truncation at every byte, trailing bytes, nasty headers everywhere, mutations
    EXPECT_PREFIXES_REJECTED (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                              bytes, sb.size, 12);
    static const char *keys [] = { "worker", "index", "pid", "seq", "state", "uptime_ms",
                                   "metrics", "reason" };
    EXPECT_NASTY_REJECTED (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_free,
                           PROTO_HEARTBEAT, keys, 8u);
    EXPECT_MUTATIONS_SAFE (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_encode,
                           proto_heartbeat_equal, proto_heartbeat_free, bytes, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_names (void)
{
    CHECK_EQ_STR (proto_worker_state_name (PROTO_WORKER_STARTING), "starting");
    CHECK_EQ_STR (proto_worker_state_name (PROTO_WORKER_READY), "ready");
    CHECK_EQ_STR (proto_worker_state_name (PROTO_WORKER_DRAINING), "draining");
    CHECK_EQ_STR (proto_worker_state_name (0), "unknown");
    CHECK_EQ_STR (proto_metric_type_name (PROTO_METRIC_COUNTER), "counter");
    CHECK_EQ_STR (proto_metric_type_name (PROTO_METRIC_GAUGE), "gauge");
    CHECK_EQ_STR (proto_metric_type_name (7), "unknown");
    CHECK (proto_valid_metric_name ("a"));
    CHECK (proto_valid_metric_name (":a:b_c9"));
    CHECK (!proto_valid_metric_name (""));
    CHECK (!proto_valid_metric_name ("9a"));
    CHECK (!proto_valid_metric_name ("a.b"));
    CHECK (proto_valid_label_name ("_x"));
    CHECK (!proto_valid_label_name ("__x"));
    CHECK (!proto_valid_label_name ("a:b"));
}

int
main (void)
{
    alloc_self_test ();
    test_names ();
    test_roundtrip ();
    test_encode_refuses ();
    test_decode_rejects ();
    TEST_DONE ();
}
