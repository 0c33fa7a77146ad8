/*  proto/listing_batch: round trips (empty, small, 500 and 1000 listings); body rules;
    listing bounds (JSON object text, 16 KiB each, 1000 per batch, 8 MiB per batch); the
    rejected/reasons rule; allocation bounded by the input size (one block); lying counts;
    version and type; truncation; lying headers; mutations.                                 */
#include "proto/listing_batch.h"
#include "tests/unit/test_proto.h"

static int
s_dec (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_listing_batch_t m;
    int rc = proto_listing_batch_decode (data, size, &m, err);
    proto_listing_batch_free (&m);
    return rc;
}

//  n listings of about `each` bytes, texts owned by the caller (free (texts)).
static proto_listing_batch_t
s_batch (size_t n, size_t each, char **texts, proto_listing_t *listings)
{
    proto_listing_batch_t b;
    memset (&b, 0, sizeof b);
    strcpy (b.epoch, "2026-11-25T16-00-00");
    strcpy (b.zipcode, "60614");
    b.lease_id = 5;
    b.seq = 3;
    b.final = true;
    *texts = malloc (n * (each + 1) + 1);
    for (size_t i = 0; i < n; i++) {
        char *t = *texts + i * (each + 1);
        int k = snprintf (t, each + 1, "{\"zpid\":\"%zu\",\"address\":\"%zu Main St\",\"pad\":\"", 
                          1000 + i, i);
        CHECK (k > 0 && (size_t) k + 3 <= each);
        memset (t + k, 'x', each - (size_t) k - 2);
        t [each - 2] = '"';
        t [each - 1] = '}';
        t [each] = '\0';
        listings [i].json = t;
        listings [i].len = (uint32_t) each;
    }
    b.nlistings = n;
    b.listings = n ? listings : NULL;
    b.rejected = 7;
    b.nreasons = 2;
    strcpy (b.reasons [0].reason, "not json");
    b.reasons [0].count = 4;
    strcpy (b.reasons [1].reason, "foreign zipcode");
    b.reasons [1].count = 3;
    return b;
}

static void
s_roundtrip (size_t n, size_t each)
{
    static proto_listing_t listings [PROTO_BATCH_LISTINGS_MAX];
    char *texts;
    proto_listing_batch_t b = s_batch (n, each, &texts, listings), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), 0);
    alloc_reset ();
    CHECK_EQ_INT (proto_listing_batch_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK_EQ_INT (s_alloc_calls, n ? 1 : 0);
    CHECK (s_alloc_bytes <= 7 * sb.size);
    CHECK (proto_listing_batch_equal (&b, &out));
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT (strlen (out.listings [i].json), out.listings [i].len);
        CHECK (out.listings [i].json != b.listings [i].json);
    }
    proto_listing_batch_free (&out);
    free (texts);
    msgpack_sbuffer_destroy (&sb);
}

int
main (void)
{
    alloc_self_test ();
    s_roundtrip (0, 0);
    s_roundtrip (1, 64);
    s_roundtrip (500, 700);
    s_roundtrip (PROTO_BATCH_LISTINGS_MAX, 100);
    //  at the byte cap
    s_roundtrip (PROTO_BATCH_BYTES_MAX / PROTO_LISTING_MAX, PROTO_LISTING_MAX);

    static proto_listing_t listings [PROTO_BATCH_LISTINGS_MAX + 1];
    char *texts;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);

    //  encode refusals
    proto_listing_batch_t b = s_batch (PROTO_BATCH_LISTINGS_MAX + 1, 64, &texts, listings);
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "1001 listings exceed 1000") != NULL);
    b.nlistings = 3;
    b.rejected = 6;
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "counts exceed 'rejected'") != NULL);
    b.rejected = 7;
    strcpy (b.reasons [1].reason, "not json");
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "duplicate key 'not json'") != NULL);
    strcpy (b.reasons [1].reason, "other");
    listings [1].len = 10;
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "field 'listings': [1]") != NULL);
    listings [1].len = 64;
    b.lease_id = 0;
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), RC_MALFORMED);
    CHECK_EQ_INT (sb.size, 0);
    free (texts);
    b = s_batch (PROTO_BATCH_BYTES_MAX / PROTO_LISTING_MAX + 1, PROTO_LISTING_MAX, &texts,
                 listings);
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "bytes exceed") != NULL);
    free (texts);

    //  a small valid batch for the body rules, truncation and mutations
    b = s_batch (3, 64, &texts, listings);
    CHECK_EQ_INT (proto_listing_batch_encode (&b, &sb, &err), 0);
    const uint8_t *valid = (uint8_t *) sb.data;
    static const char *keys [] = { "epoch", "zipcode", "lease_id", "seq", "final", "listings",
                                   "rejected", "reasons" };
    //  'rejected' dropped breaks the reasons rule: checked explicitly below
    static const char *keys2 [] = { "epoch", "zipcode", "lease_id", "seq", "final", "listings",
                                    "reasons" };
    static const bool req2 [] = { true, true, true, true, true, true, false };
    expect_body_rules (s_dec, valid, sb.size, keys2, req2, "sssssam", 7);
    raw_t edited;
    body_edit (valid, sb.size, "rejected", NULL, NULL, 0, NULL, false, &edited);
    expect_dec (s_dec, (uint8_t *) edited.buf.data, edited.buf.size,
                "field 'reasons': counts exceed 'rejected' (0)");
    raw_destroy (&edited);
    expect_envelope_rules (s_dec, valid, sb.size, PROTO_LISTING_BATCH);

    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    FIELD ("listings", { msgpack_pack_array (&v.pk, 1); raw_str (&v, "not an object"); },
           "field 'listings': [0]: expected a JSON object text");
    FIELD ("listings", { msgpack_pack_array (&v.pk, 2); raw_str (&v, "{}");
                         msgpack_pack_uint8 (&v.pk, 1); },
           "field 'listings': [1]: expected str, got uint");
    FIELD ("listings", { msgpack_pack_array (&v.pk, 1); raw_str (&v, "{\"a\":\"\xff\"}"); },
           "field 'listings': [0]");
    FIELD ("listings", { msgpack_pack_array (&v.pk, 1); raw_bytes (&v, "\xa3{\0}", 4); },
           "field 'listings': [0]");
    FIELD ("listings", { msgpack_pack_array (&v.pk, PROTO_BATCH_LISTINGS_MAX + 1);
                         for (int i = 0; i <= PROTO_BATCH_LISTINGS_MAX; i++)
                             raw_str (&v, "{}"); },
           "field 'listings': array of 1001 elements exceeds 1000");
    FIELD ("listings", { msgpack_pack_array (&v.pk, 1);
                         char *big = malloc (PROTO_LISTING_MAX + 1);
                         memset (big, ' ', PROTO_LISTING_MAX + 1);
                         big [0] = '{'; big [PROTO_LISTING_MAX] = '}';
                         msgpack_pack_str_with_body (&v.pk, big, PROTO_LISTING_MAX + 1);
                         free (big); },
           "got 16385 bytes");
    //  over the byte cap while each listing and the count are within theirs
    FIELD ("listings", { size_t n = PROTO_BATCH_BYTES_MAX / PROTO_LISTING_MAX + 1;
                         char *big = malloc (PROTO_LISTING_MAX);
                         memset (big, ' ', PROTO_LISTING_MAX);
                         big [0] = '{'; big [PROTO_LISTING_MAX - 1] = '}';
                         msgpack_pack_array (&v.pk, n);
                         for (size_t i = 0; i < n; i++)
                             msgpack_pack_str_with_body (&v.pk, big, PROTO_LISTING_MAX);
                         free (big); },
           "more than 8388608 bytes of listings");
    FIELD ("listings", msgpack_pack_array (&v.pk, 0), NULL);
    FIELD ("reasons", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "x");
                        msgpack_pack_uint8 (&v.pk, 8); }, "counts exceed 'rejected' (7)");
    FIELD ("reasons", { msgpack_pack_map (&v.pk, 2); raw_str (&v, "x");
                        msgpack_pack_uint64 (&v.pk, UINT64_MAX); raw_str (&v, "y");
                        msgpack_pack_uint64 (&v.pk, 2); }, "counts exceed");
    FIELD ("reasons", { msgpack_pack_map (&v.pk, 2); raw_str (&v, "x");
                        msgpack_pack_uint8 (&v.pk, 1); raw_str (&v, "x");
                        msgpack_pack_uint8 (&v.pk, 1); }, "field 'reasons': duplicate key 'x'");
    FIELD ("reasons", { msgpack_pack_map (&v.pk, 1); raw_str (&v, "");
                        msgpack_pack_uint8 (&v.pk, 1); }, "field 'reasons'");
    FIELD ("reasons", { msgpack_pack_map (&v.pk, PROTO_REJECT_REASONS_MAX + 1);
                        for (int i = 0; i <= PROTO_REJECT_REASONS_MAX; i++) {
                            char k [16]; snprintf (k, sizeof k, "r%d", i);
                            raw_str (&v, k); msgpack_pack_uint8 (&v.pk, 0); } },
           "17 entries exceed 16");
    FIELD ("seq", msgpack_pack_uint64 (&v.pk, (uint64_t) UINT32_MAX + 1), "field 'seq'");
    FIELD ("final", msgpack_pack_nil (&v.pk), "field 'final': expected bool, got nil");
#undef FIELD

    //  a lying listing count: rejected before allocating
    {
        raw_t raw;
        body_edit (valid, sb.size, "listings", NULL, NULL, 0, NULL, false, &raw);
        raw_t lie;
        raw_init (&lie);
        msgpack_pack_array (&lie.pk, 900);
        for (int i = 0; i < 1000; i++)
            msgpack_pack_nil (&lie.pk);
        expect_field (s_dec, valid, sb.size, "listings", &lie, "need at least 3 bytes each");
        raw_t full;
        body_edit (valid, sb.size, NULL, "listings", lie.buf.data, lie.buf.size, NULL, false,
                   &full);
        proto_listing_batch_t out;
        alloc_reset ();
        CHECK_EQ_INT (proto_listing_batch_decode ((uint8_t *) full.buf.data, full.buf.size,
                                                  &out, &err), RC_MALFORMED);
        CHECK_EQ_INT (s_alloc_calls, 0);
        raw_destroy (&full);
        raw_destroy (&lie);
        raw_destroy (&raw);
    }

    EXPECT_PREFIXES_REJECTED (proto_listing_batch_t, proto_listing_batch_decode,
                              proto_listing_batch_free, valid, sb.size, 7);
    EXPECT_NASTY_REJECTED (proto_listing_batch_t, proto_listing_batch_decode,
                           proto_listing_batch_free, PROTO_LISTING_BATCH, keys, 8u);
    EXPECT_MUTATIONS_SAFE (proto_listing_batch_t, proto_listing_batch_decode,
                           proto_listing_batch_encode, proto_listing_batch_equal,
                           proto_listing_batch_free, valid, sb.size);
    free (texts);
    msgpack_sbuffer_destroy (&sb);
    TEST_DONE ();
}
