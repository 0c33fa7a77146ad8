/*  proto/spot_check: request and result round trips; body rules for both; the claimed
    listing's bounds (JSON object text, 16 KiB, UTF-8); verdict enum; version and type (each
    decoder rejects the other's type); truncation; lying headers; mutations.                */
#include "proto/spot_check.h"
#include "tests/unit/test_proto.h"

static int
s_dec_req (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_spot_check_request_t m;
    int rc = proto_spot_check_request_decode (data, size, &m, err);
    proto_spot_check_request_free (&m);
    return rc;
}

static int
s_dec_res (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_spot_check_result_t m;
    int rc = proto_spot_check_result_decode (data, size, &m, err);
    proto_spot_check_result_free (&m);
    return rc;
}

static const char *s_listing =
    "{\"zpid\":\"2077\",\"address\":\"1 Main St, Chicago, IL 60614\",\"price\":450000,"
    "\"bedrooms\":3,\"bathrooms\":2,\"sqft\":1800,\"listing_date\":\"2026-11-01\","
    "\"property_type\":\"SINGLE_FAMILY\",\"listing_status\":\"FOR_SALE\","
    "\"days_on_market\":24,\"source_url\":\"http://world/property/2077\","
    "\"scraped_timestamp\":\"2026-11-25T15:00:00Z\",\"zipcode\":\"60614\"}";

static proto_spot_check_request_t
s_req (void)
{
    proto_spot_check_request_t q;
    memset (&q, 0, sizeof q);
    q.id = 31;
    strcpy (q.epoch, "2026-11-25T16-00-00");
    strcpy (q.hotkey, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    strcpy (q.zipcode, "60614");
    q.index = 17;
    strcpy (q.listing_id, "2077");
    q.listing = s_listing;
    q.listing_len = (uint32_t) strlen (s_listing);
    return q;
}

static proto_spot_check_result_t
s_res (void)
{
    proto_spot_check_result_t r;
    memset (&r, 0, sizeof r);
    r.id = 31;
    strcpy (r.epoch, "2026-11-25T16-00-00");
    strcpy (r.hotkey, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    strcpy (r.zipcode, "60614");
    r.index = 17;
    strcpy (r.listing_id, "2077");
    r.verdict = PROTO_SPOT_MISMATCH;
    strcpy (r.field, "price");
    strcpy (r.reason, "claimed 450000, source 300000 (> 5%)");
    return r;
}

static void
test_request (void)
{
    proto_spot_check_request_t q = s_req (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_spot_check_request_encode (&q, &sb, &err), 0);
    alloc_reset ();
    CHECK_EQ_INT (proto_spot_check_request_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK_EQ_INT (s_alloc_calls, 1);
    CHECK (s_alloc_bytes <= sb.size);
    CHECK (proto_spot_check_request_equal (&q, &out));
    CHECK_EQ_STR (out.listing, s_listing);
    CHECK (out.listing != s_listing);
    proto_spot_check_request_free (&out);
    CHECK (out.listing == NULL);
    const uint8_t *valid = (uint8_t *) sb.data;

    static const char *keys [] = { "id", "epoch", "hotkey", "zipcode", "index", "listing_id",
                                   "listing" };
    static const bool req [] = { false, true, true, true, true, true, true };
    expect_body_rules (s_dec_req, valid, sb.size, keys, req, "sssssss", 7);
    expect_envelope_rules (s_dec_req, valid, sb.size, PROTO_SPOT_CHECK_REQUEST);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec_req, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    static char big [PROTO_LISTING_MAX + 2];
    memset (big, ' ', sizeof big);
    big [0] = '{';
    big [PROTO_LISTING_MAX - 1] = '}';
    FIELD ("listing", msgpack_pack_str_with_body (&v.pk, big, PROTO_LISTING_MAX), NULL);
    big [PROTO_LISTING_MAX] = '}';
    FIELD ("listing", msgpack_pack_str_with_body (&v.pk, big, PROTO_LISTING_MAX + 1),
           "field 'listing': expected a JSON object text of 2..16384 bytes of UTF-8, got 16385");
    FIELD ("listing", raw_str (&v, "[1,2]"), "field 'listing': expected a JSON object");
    FIELD ("listing", raw_str (&v, "{"), "field 'listing'");
    FIELD ("listing", raw_str (&v, "{}"), NULL);
    FIELD ("listing", raw_str (&v, " {}"), "field 'listing'");
    FIELD ("listing", raw_str (&v, "{\"a\":\"\xc3\x28\"}"), "field 'listing'");
    FIELD ("listing", raw_bytes (&v, "\xa4{\0}}", 5), "field 'listing'");
    FIELD ("listing", msgpack_pack_bin_with_body (&v.pk, "{}", 2),
           "field 'listing': expected str, got bin");
    FIELD ("index", msgpack_pack_uint32 (&v.pk, PROTO_LISTINGS_MAX), "field 'index'");
    FIELD ("listing_id", raw_str (&v, ""), "field 'listing_id'");
#undef FIELD

    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
    q = s_req ();
    q.listing = NULL;
    CHECK_EQ_INT (proto_spot_check_request_encode (&q, &sb2, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'listing'") != NULL);
    q = s_req ();
    q.listing_len = 3;
    CHECK_EQ_INT (proto_spot_check_request_encode (&q, &sb2, &err), RC_MALFORMED);
    q = s_req ();
    q.listing_id [0] = '\0';
    CHECK_EQ_INT (proto_spot_check_request_encode (&q, &sb2, &err), RC_MALFORMED);
    CHECK_EQ_INT (sb2.size, 0);
    msgpack_sbuffer_destroy (&sb2);

    //  the listing block is at most the input size
    EXPECT_PREFIXES_REJECTED (proto_spot_check_request_t, proto_spot_check_request_decode,
                              proto_spot_check_request_free, valid, sb.size, 1);
    EXPECT_NASTY_REJECTED (proto_spot_check_request_t, proto_spot_check_request_decode,
                           proto_spot_check_request_free, PROTO_SPOT_CHECK_REQUEST, keys, 7u);
    EXPECT_MUTATIONS_SAFE (proto_spot_check_request_t, proto_spot_check_request_decode,
                           proto_spot_check_request_encode, proto_spot_check_request_equal,
                           proto_spot_check_request_free, valid, sb.size);
    //  a result is not a request
    msgpack_sbuffer_clear (&sb);
    proto_spot_check_result_t r = s_res ();
    CHECK_EQ_INT (proto_spot_check_result_encode (&r, &sb, &err), 0);
    expect_dec (s_dec_req, (uint8_t *) sb.data, sb.size,
                "expected message type 10 (spot_check_request), got 11 (spot_check_result)");
    msgpack_sbuffer_destroy (&sb);
}

static void
test_result (void)
{
    proto_spot_check_result_t r = s_res (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_spot_check_result_encode (&r, &sb, &err), 0);
    CHECK_EQ_INT (proto_spot_check_result_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_spot_check_result_equal (&r, &out));
    CHECK_EQ_STR (out.field, "price");
    CHECK_EQ_STR (proto_spot_verdict_name (out.verdict), "mismatch");
    CHECK_EQ_STR (proto_spot_verdict_name (PROTO_SPOT_VERIFIED), "verified");
    CHECK_EQ_STR (proto_spot_verdict_name (PROTO_SPOT_UNVERIFIABLE), "unverifiable");
    CHECK_EQ_STR (proto_spot_verdict_name (0), "unknown");
    const uint8_t *valid = (uint8_t *) sb.data;

    static const char *keys [] = { "id", "epoch", "hotkey", "zipcode", "index", "listing_id",
                                   "verdict", "field", "reason" };
    static const bool req [] = { false, true, true, true, true, true, true, false, false };
    expect_body_rules (s_dec_res, valid, sb.size, keys, req, "sssssssss", 9);
    expect_envelope_rules (s_dec_res, valid, sb.size, PROTO_SPOT_CHECK_RESULT);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec_res, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    FIELD ("verdict", msgpack_pack_uint8 (&v.pk, 0), "field 'verdict': 0 outside 1..3");
    FIELD ("verdict", msgpack_pack_uint8 (&v.pk, 4), "field 'verdict'");
    char f [PROTO_FIELD_NAME_MAX + 2];
    memset (f, 'f', sizeof f - 1);
    f [sizeof f - 1] = '\0';
    FIELD ("field", raw_str (&v, f), "field 'field': expected str of 0..64 bytes, got 65");
#undef FIELD

    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
    r = s_res ();
    r.verdict = 4;
    CHECK_EQ_INT (proto_spot_check_result_encode (&r, &sb2, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'verdict'") != NULL);
    CHECK_EQ_INT (sb2.size, 0);
    msgpack_sbuffer_destroy (&sb2);

    EXPECT_PREFIXES_REJECTED (proto_spot_check_result_t, proto_spot_check_result_decode,
                              proto_spot_check_result_free, valid, sb.size, 0);
    EXPECT_NASTY_REJECTED (proto_spot_check_result_t, proto_spot_check_result_decode,
                           proto_spot_check_result_free, PROTO_SPOT_CHECK_RESULT, keys, 9u);
    EXPECT_MUTATIONS_SAFE (proto_spot_check_result_t, proto_spot_check_result_decode,
                           proto_spot_check_result_encode, proto_spot_check_result_equal,
                           proto_spot_check_result_free, valid, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

int
main (void)
{
    alloc_self_test ();
    test_request ();
    test_result ();
    TEST_DONE ();
}
