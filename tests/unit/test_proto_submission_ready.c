/*  proto/submission_ready: round trip (last_modified kept verbatim); body rules; bounds
    (hotkey, last_modified, db_id); version and type; truncation; lying headers; mutations. */
#include "proto/submission_ready.h"
#include "tests/unit/test_proto.h"

static int
s_dec (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_submission_ready_t m;
    int rc = proto_submission_ready_decode (data, size, &m, err);
    proto_submission_ready_free (&m);
    return rc;
}

static proto_submission_ready_t
s_sample (void)
{
    proto_submission_ready_t s;
    memset (&s, 0, sizeof s);
    strcpy (s.epoch, "2026-11-25T16-00-00");
    strcpy (s.hotkey, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    strcpy (s.zipcode, "60614");
    strcpy (s.s3_key, "data/hotkey=5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY/"
                      "epoch=2026-11-25T16-00-00/zipcode=60614/data_20261125_161002.json");
    strcpy (s.last_modified, "2026-11-25T16:10:02.000Z");
    s.size = 98765;
    s.count = 101;
    s.db_id = 77;
    return s;
}

int
main (void)
{
    alloc_self_test ();
    proto_submission_ready_t s = s_sample (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_submission_ready_encode (&s, &sb, &err), 0);
    CHECK_EQ_INT (proto_submission_ready_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_submission_ready_equal (&s, &out));
    CHECK_EQ_STR (out.last_modified, "2026-11-25T16:10:02.000Z");
    const uint8_t *valid = (uint8_t *) sb.data;

    static const char *keys [] = { "epoch", "hotkey", "zipcode", "s3_key", "last_modified",
                                   "size", "count", "db_id" };
    static const bool req [] = { true, true, true, true, true, true, true, true };
    expect_body_rules (s_dec, valid, sb.size, keys, req, "ssssssss", 8);
    expect_envelope_rules (s_dec, valid, sb.size, PROTO_SUBMISSION_READY);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    char h [PROTO_HOTKEY_MAX + 2];
    memset (h, 'a', sizeof h - 1);
    h [sizeof h - 1] = '\0';
    FIELD ("hotkey", raw_str (&v, h), "field 'hotkey': expected hotkey");
    h [PROTO_HOTKEY_MAX] = '\0';
    FIELD ("hotkey", raw_str (&v, h), NULL);
    FIELD ("hotkey", raw_str (&v, ""), "field 'hotkey'");
    FIELD ("hotkey", raw_str (&v, "../../etc"), "field 'hotkey'");
    FIELD ("last_modified", raw_str (&v, ""), "field 'last_modified'");
    FIELD ("last_modified", raw_str (&v, "Tue, 25 Nov 2026 16:10:02 GMT"), NULL);
    char lm [PROTO_LAST_MODIFIED_MAX + 2];
    memset (lm, '1', sizeof lm - 1);
    lm [sizeof lm - 1] = '\0';
    FIELD ("last_modified", raw_str (&v, lm), "got 65");
    FIELD ("db_id", msgpack_pack_uint8 (&v.pk, 0), "field 'db_id': 0 outside");
    FIELD ("count", msgpack_pack_int8 (&v.pk, -1), "field 'count'");
    FIELD ("size", msgpack_pack_float (&v.pk, 1.0f), "field 'size': expected int, got float");
#undef FIELD

    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
    s = s_sample ();
    strcpy (s.hotkey, "bad key");
    CHECK_EQ_INT (proto_submission_ready_encode (&s, &sb2, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'hotkey'") != NULL);
    s = s_sample ();
    s.db_id = 0;
    CHECK_EQ_INT (proto_submission_ready_encode (&s, &sb2, &err), RC_MALFORMED);
    s = s_sample ();
    s.last_modified [0] = '\0';
    CHECK_EQ_INT (proto_submission_ready_encode (&s, &sb2, &err), RC_MALFORMED);
    CHECK_EQ_INT (sb2.size, 0);
    msgpack_sbuffer_destroy (&sb2);

    EXPECT_PREFIXES_REJECTED (proto_submission_ready_t, proto_submission_ready_decode,
                              proto_submission_ready_free, valid, sb.size, 0);
    EXPECT_NASTY_REJECTED (proto_submission_ready_t, proto_submission_ready_decode,
                           proto_submission_ready_free, PROTO_SUBMISSION_READY, keys, 8u);
    EXPECT_MUTATIONS_SAFE (proto_submission_ready_t, proto_submission_ready_decode,
                           proto_submission_ready_encode, proto_submission_ready_equal,
                           proto_submission_ready_free, valid, sb.size);
    msgpack_sbuffer_destroy (&sb);
    TEST_DONE ();
}
