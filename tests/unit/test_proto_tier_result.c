/*  proto/tier_result: round trip with metrics; body rules; tier/verdict enums; the metrics
    map's bounds (count, names, finite values, duplicates); version and type; truncation;
    lying headers; mutations.                                                               */
#include "proto/tier_result.h"
#include "tests/unit/test_proto.h"

#include <math.h>

static int
s_dec (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_tier_result_t m;
    int rc = proto_tier_result_decode (data, size, &m, err);
    proto_tier_result_free (&m);
    return rc;
}

static proto_tier_result_t
s_sample (void)
{
    proto_tier_result_t t;
    memset (&t, 0, sizeof t);
    strcpy (t.epoch, "2026-11-25T16-00-00");
    strcpy (t.hotkey, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    strcpy (t.zipcode, "60614");
    t.tier = 2;
    t.verdict = PROTO_VERDICT_FAIL;
    strcpy (t.reason, "completeness 0.85 < 0.90");
    t.submission_id = 77;
    t.nmetrics = 3;
    strcpy (t.metrics [0].name, "completeness");
    t.metrics [0].value = 0.85;
    strcpy (t.metrics [1].name, "duplicate_rate");
    t.metrics [1].value = 0.0;
    strcpy (t.metrics [2].name, "reasonable");
    t.metrics [2].value = 0.1 + 0.2;
    return t;
}

int
main (void)
{
    alloc_self_test ();
    proto_tier_result_t t = s_sample (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_tier_result_encode (&t, &sb, &err), 0);
    alloc_reset ();
    CHECK_EQ_INT (proto_tier_result_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK_EQ_INT (s_alloc_calls, 0);
    CHECK (proto_tier_result_equal (&t, &out));
    CHECK (out.metrics [2].value == 0.1 + 0.2);          //  doubles survive exactly
    out.metrics [2].value = 0.3;
    CHECK (!proto_tier_result_equal (&t, &out));
    CHECK_EQ_STR (proto_verdict_name (PROTO_VERDICT_UNVERIFIABLE), "unverifiable");
    CHECK_EQ_STR (proto_verdict_name (9), "unknown");
    const uint8_t *valid = (uint8_t *) sb.data;

    static const char *keys [] = { "epoch", "hotkey", "zipcode", "tier", "verdict", "reason",
                                   "submission_id", "metrics" };
    static const bool req [] = { true, true, true, true, true, false, false, false };
    expect_body_rules (s_dec, valid, sb.size, keys, req, "sssssssm", 8);
    expect_envelope_rules (s_dec, valid, sb.size, PROTO_TIER_RESULT);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    FIELD ("tier", msgpack_pack_uint8 (&v.pk, 0), "field 'tier': 0 outside 1..3");
    FIELD ("tier", msgpack_pack_uint8 (&v.pk, 4), "field 'tier': 4 outside 1..3");
    FIELD ("verdict", msgpack_pack_uint8 (&v.pk, 4), "field 'verdict': 4 outside 1..3");
    FIELD ("verdict", raw_str (&v, "pass"), "field 'verdict': expected int, got str");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "Bad-Name");
                        msgpack_pack_double (&v.pk, 1); }, "field 'metrics': expected metric name");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "x");
                        msgpack_pack_double (&v.pk, NAN); },
           "field 'metrics': 'x': expected a finite");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "x");
                        msgpack_pack_double (&v.pk, INFINITY); }, "expected a finite number");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "x");
                        raw_str (&v, "1.0"); }, "field 'metrics': 'x': expected float, got str");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "x");
                        msgpack_pack_uint8 (&v.pk, 1); }, NULL);   //  integers are numbers
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 2);
                        raw_str (&v, "x"); msgpack_pack_uint8 (&v.pk, 1);
                        raw_str (&v, "x"); msgpack_pack_uint8 (&v.pk, 2); }, "duplicate key 'x'");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, PROTO_TIER_METRICS_MAX + 1);
                        for (int i = 0; i <= PROTO_TIER_METRICS_MAX; i++) {
                            char k [16]; snprintf (k, sizeof k, "m%d", i);
                            raw_str (&v, k); msgpack_pack_uint8 (&v.pk, 1); } },
           "field 'metrics': 17 entries exceed 16");
    FIELD ("metrics", { msgpack_pack_map (&v.pk, 1); msgpack_pack_uint8 (&v.pk, 1);
                        msgpack_pack_uint8 (&v.pk, 1); }, "field 'metrics': expected str");
#undef FIELD

    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
#define REFUSE(mutation, needle) do { t = s_sample (); mutation; \
        CHECK_EQ_INT (proto_tier_result_encode (&t, &sb2, &err), RC_MALFORMED); \
        if (!strstr (err.reason, needle)) fprintf (stderr, "reason: %s\n", err.reason); \
        CHECK (strstr (err.reason, needle) != NULL); CHECK_EQ_INT (sb2.size, 0); } while (0)
    REFUSE (t.tier = 4, "field 'tier'");
    REFUSE (t.verdict = 0, "field 'verdict'");
    REFUSE (t.metrics [1].value = NAN, "not finite");
    REFUSE (strcpy (t.metrics [1].name, "completeness"), "duplicate key");
    REFUSE (strcpy (t.metrics [1].name, "9lives"), "bad name");
    REFUSE (t.nmetrics = PROTO_TIER_METRICS_MAX + 1, "exceed");
    REFUSE (strcpy (t.reason, "\xed\xa0\x80"), "field 'reason'");
#undef REFUSE
    msgpack_sbuffer_destroy (&sb2);

    EXPECT_PREFIXES_REJECTED (proto_tier_result_t, proto_tier_result_decode,
                              proto_tier_result_free, valid, sb.size, 0);
    EXPECT_NASTY_REJECTED (proto_tier_result_t, proto_tier_result_decode,
                           proto_tier_result_free, PROTO_TIER_RESULT, keys, 8u);
    EXPECT_MUTATIONS_SAFE (proto_tier_result_t, proto_tier_result_decode,
                           proto_tier_result_encode, proto_tier_result_equal,
                           proto_tier_result_free, valid, sb.size);
    msgpack_sbuffer_destroy (&sb);
    TEST_DONE ();
}
