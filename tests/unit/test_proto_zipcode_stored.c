/*  proto/zipcode_stored: round trip; body rules; bounds (sha256 exactly 32 bytes of bin,
    count, time); version and type; truncation; lying headers; mutations.                  */
#include "proto/zipcode_stored.h"
#include "tests/unit/test_proto.h"

static int
s_dec (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_zipcode_stored_t m;
    int rc = proto_zipcode_stored_decode (data, size, &m, err);
    proto_zipcode_stored_free (&m);
    return rc;
}

static proto_zipcode_stored_t
s_sample (void)
{
    proto_zipcode_stored_t z;
    memset (&z, 0, sizeof z);
    strcpy (z.epoch, "2026-11-25T16-00-00");
    strcpy (z.zipcode, "90210");
    z.count = 118;
    z.stored_at_ms = 1764086400123;
    for (int i = 0; i < 32; i++)
        z.sha256 [i] = (uint8_t) (i * 7 + 1);
    return z;
}

int
main (void)
{
    alloc_self_test ();
    proto_zipcode_stored_t z = s_sample (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_zipcode_stored_encode (&z, &sb, &err), 0);
    CHECK_EQ_INT (proto_zipcode_stored_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_zipcode_stored_equal (&z, &out));
    CHECK_EQ_MEM (out.sha256, z.sha256, 32);
    out.sha256 [31] ^= 1;
    CHECK (!proto_zipcode_stored_equal (&z, &out));
    const uint8_t *valid = (uint8_t *) sb.data;

    static const char *keys [] = { "epoch", "zipcode", "count", "stored_at_ms", "sha256" };
    static const bool req [] = { true, true, true, true, true };
    expect_body_rules (s_dec, valid, sb.size, keys, req, "sssss", 5);
    expect_envelope_rules (s_dec, valid, sb.size, PROTO_ZIPCODE_STORED);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    uint8_t h [33] = { 0 };
    FIELD ("sha256", msgpack_pack_bin_with_body (&v.pk, h, 31),
           "field 'sha256': expected bin of 32 bytes, got 31");
    FIELD ("sha256", msgpack_pack_bin_with_body (&v.pk, h, 33), "expected bin of 32 bytes, got 33");
    FIELD ("sha256", msgpack_pack_str_with_body (&v.pk, (char *) h, 32),
           "field 'sha256': expected bin, got str");
    FIELD ("sha256", msgpack_pack_bin_with_body (&v.pk, h, 32), NULL);
    FIELD ("count", msgpack_pack_uint32 (&v.pk, PROTO_LISTINGS_MAX + 1), "field 'count'");
    FIELD ("count", msgpack_pack_uint32 (&v.pk, 0), NULL);
    FIELD ("stored_at_ms", msgpack_pack_int64 (&v.pk, -1000), "field 'stored_at_ms'");
    FIELD ("zipcode", raw_str (&v, "9021"), "field 'zipcode': expected str of 5 digits");
#undef FIELD

    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
    z = s_sample ();
    z.count = PROTO_LISTINGS_MAX + 1;
    CHECK_EQ_INT (proto_zipcode_stored_encode (&z, &sb2, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'count'") != NULL);
    z = s_sample ();
    z.stored_at_ms = -1;
    CHECK_EQ_INT (proto_zipcode_stored_encode (&z, &sb2, &err), RC_MALFORMED);
    CHECK_EQ_INT (sb2.size, 0);
    msgpack_sbuffer_destroy (&sb2);

    EXPECT_PREFIXES_REJECTED (proto_zipcode_stored_t, proto_zipcode_stored_decode,
                              proto_zipcode_stored_free, valid, sb.size, 0);
    EXPECT_NASTY_REJECTED (proto_zipcode_stored_t, proto_zipcode_stored_decode,
                           proto_zipcode_stored_free, PROTO_ZIPCODE_STORED, keys, 5u);
    EXPECT_MUTATIONS_SAFE (proto_zipcode_stored_t, proto_zipcode_stored_decode,
                           proto_zipcode_stored_encode, proto_zipcode_stored_equal,
                           proto_zipcode_stored_free, valid, sb.size);
    msgpack_sbuffer_destroy (&sb);
    TEST_DONE ();
}
