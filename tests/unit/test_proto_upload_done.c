/*  proto/upload_done: round trip (success and failure); the ok/error rule on both sides;
    body rules; bounds (s3 key 1..1024, etag, error 512); version and type; truncation;
    lying headers; mutations.                                                               */
#include "proto/upload_done.h"
#include "tests/unit/test_proto.h"

static int
s_dec (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_upload_done_t m;
    int rc = proto_upload_done_decode (data, size, &m, err);
    proto_upload_done_free (&m);
    return rc;
}

static proto_upload_done_t
s_sample (bool ok)
{
    proto_upload_done_t u;
    memset (&u, 0, sizeof u);
    strcpy (u.epoch, "2026-11-25T16-00-00");
    strcpy (u.zipcode, "10001");
    u.ok = ok;
    strcpy (u.s3_key, "data/hotkey=5Grw/epoch=2026-11-25T16-00-00/zipcode=10001/"
                      "data_20261125_161002.json");
    u.bytes = 123456;
    if (ok)
        strcpy (u.etag, "\"9b2cf535f27731c974343645a3985328\"");
    else
        strcpy (u.error, "HTTP 403 AccessDenied: policy expired");
    u.uploaded_at_ms = 1764087002000;
    return u;
}

int
main (void)
{
    alloc_self_test ();
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    for (int ok = 1; ok >= 0; ok--) {
        proto_upload_done_t u = s_sample (ok), out;
        msgpack_sbuffer_clear (&sb);
        CHECK_EQ_INT (proto_upload_done_encode (&u, &sb, &err), 0);
        CHECK_EQ_INT (proto_upload_done_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
        CHECK (proto_upload_done_equal (&u, &out));
        CHECK_EQ_STR (out.s3_key, u.s3_key);
    }
    //  the failure form is the one with every key present
    const uint8_t *valid = (uint8_t *) sb.data;
    static const char *keys [] = { "epoch", "zipcode", "ok", "s3_key", "bytes", "etag",
                                   "uploaded_at_ms", "error" };
    static const bool req [] = { true, true, true, true, true, false, true, false };
    //  dropping 'error' from a failure breaks the ok/error rule, so check the others
    //  here and that one explicitly below
    expect_body_rules (s_dec, valid, sb.size, keys, req, "sssssss", 7);
    raw_t edited;
    body_edit (valid, sb.size, "error", NULL, NULL, 0, NULL, false, &edited);
    expect_dec (s_dec, (uint8_t *) edited.buf.data, edited.buf.size,
                "field 'error': required when ok is false");
    raw_destroy (&edited);
    expect_envelope_rules (s_dec, valid, sb.size, PROTO_UPLOAD_DONE);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    char big [PROTO_S3_KEY_MAX + 2];
    memset (big, 'k', sizeof big - 1);
    big [sizeof big - 1] = '\0';
    FIELD ("s3_key", raw_str (&v, big), "field 's3_key': expected str of 1..1024 bytes, got 1025");
    big [PROTO_S3_KEY_MAX] = '\0';
    FIELD ("s3_key", raw_str (&v, big), NULL);
    FIELD ("s3_key", raw_str (&v, ""), "field 's3_key': expected str of 1..1024 bytes, got 0");
    FIELD ("s3_key", raw_str (&v, "bad\xff"), "field 's3_key': not valid UTF-8");
    big [PROTO_ETAG_MAX + 1] = '\0';
    FIELD ("etag", raw_str (&v, big), "field 'etag'");
    char longerr [PROTO_REASON_MAX + 2];
    memset (longerr, 'e', sizeof longerr - 1);
    longerr [sizeof longerr - 1] = '\0';
    FIELD ("error", raw_str (&v, longerr), "field 'error': expected str of 0..512 bytes, got 513");
    FIELD ("error", raw_str (&v, ""), "field 'error': required when ok is false");
    FIELD ("ok", msgpack_pack_true (&v.pk), "field 'error': must be empty when ok is true");
    FIELD ("ok", msgpack_pack_uint8 (&v.pk, 1), "field 'ok': expected bool, got uint");
    FIELD ("bytes", msgpack_pack_uint64 (&v.pk, PROTO_OBJECT_BYTES_MAX + 1), "field 'bytes'");
#undef FIELD

    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
    proto_upload_done_t u = s_sample (true);
    strcpy (u.error, "x");
    CHECK_EQ_INT (proto_upload_done_encode (&u, &sb2, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "must be empty") != NULL);
    u = s_sample (false);
    u.error [0] = '\0';
    CHECK_EQ_INT (proto_upload_done_encode (&u, &sb2, &err), RC_MALFORMED);
    u = s_sample (true);
    u.s3_key [0] = '\0';
    CHECK_EQ_INT (proto_upload_done_encode (&u, &sb2, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 's3_key'") != NULL);
    CHECK_EQ_INT (sb2.size, 0);
    msgpack_sbuffer_destroy (&sb2);

    EXPECT_PREFIXES_REJECTED (proto_upload_done_t, proto_upload_done_decode,
                              proto_upload_done_free, valid, sb.size, 0);
    EXPECT_NASTY_REJECTED (proto_upload_done_t, proto_upload_done_decode,
                           proto_upload_done_free, PROTO_UPLOAD_DONE, keys, 8u);
    EXPECT_MUTATIONS_SAFE (proto_upload_done_t, proto_upload_done_decode,
                           proto_upload_done_encode, proto_upload_done_equal,
                           proto_upload_done_free, valid, sb.size);
    msgpack_sbuffer_destroy (&sb);
    TEST_DONE ();
}
