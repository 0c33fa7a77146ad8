/*  proto/scrape_task: round trip; every body rule (missing, wrong type, duplicate, unknown
    keys); each field's bounds on both sides; version and type; truncation at every byte;
    lying headers; mutations.                                                               */
#include "proto/scrape_task.h"
#include "tests/unit/test_proto.h"

static int
s_dec (const uint8_t *data, size_t size, proto_err_t *err)
{
    proto_scrape_task_t m;
    int rc = proto_scrape_task_decode (data, size, &m, err);
    proto_scrape_task_free (&m);
    return rc;
}

static proto_scrape_task_t
s_sample (void)
{
    proto_scrape_task_t t;
    memset (&t, 0, sizeof t);
    strcpy (t.epoch, "2026-11-25T12-00-00");
    strcpy (t.zipcode, "02139");
    t.target = 120;
    t.lease_id = 9000000000ull;
    t.lease_deadline_ms = 1764072000000;
    t.attempt = 2;
    return t;
}

int
main (void)
{
    alloc_self_test ();
    proto_scrape_task_t t = s_sample (), out;
    proto_err_t err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_scrape_task_encode (&t, &sb, &err), 0);
    CHECK_EQ_INT (proto_scrape_task_decode ((uint8_t *) sb.data, sb.size, &out, &err), 0);
    CHECK (proto_scrape_task_equal (&t, &out));
    CHECK_EQ_STR (out.zipcode, "02139");
    CHECK (out.lease_id == 9000000000ull);
    out.attempt = 3;
    CHECK (!proto_scrape_task_equal (&t, &out));
    const uint8_t *valid = (uint8_t *) sb.data;

    static const char *keys [] = { "epoch", "zipcode", "target", "lease_id",
                                   "lease_deadline_ms", "attempt" };
    static const bool req [] = { true, true, true, true, true, true };
    expect_body_rules (s_dec, valid, sb.size, keys, req, "ssssss", 6);
    expect_envelope_rules (s_dec, valid, sb.size, PROTO_SCRAPE_TASK);

    //  per-field bounds, decode side
    raw_t v;
#define FIELD(key, pack, needle) do { raw_init (&v); pack; \
        expect_field (s_dec, valid, sb.size, key, &v, needle); raw_destroy (&v); } while (0)
    FIELD ("zipcode", raw_str (&v, "2139"), "field 'zipcode': expected str of 5 digits");
    FIELD ("zipcode", raw_str (&v, "021390"), "field 'zipcode': expected str of 5 digits");
    FIELD ("zipcode", raw_str (&v, "0213x"), "field 'zipcode': expected str of 5 digits");
    FIELD ("zipcode", raw_bytes (&v, "\xa5" "021\0" "9", 6), "field 'zipcode'");
    FIELD ("zipcode", msgpack_pack_uint32 (&v.pk, 2139), "field 'zipcode': expected str, got uint");
    FIELD ("epoch", raw_str (&v, "2026-11-25 12:00:00"), "field 'epoch': expected epoch id");
    FIELD ("epoch", raw_str (&v, "2026-11-25T12-00-00Z"), "field 'epoch'");
    FIELD ("target", msgpack_pack_uint8 (&v.pk, 0), "field 'target': 0 outside 1..100000");
    FIELD ("target", msgpack_pack_uint32 (&v.pk, PROTO_TARGET_MAX + 1), "field 'target'");
    FIELD ("target", msgpack_pack_int8 (&v.pk, -5), "field 'target': expected uint");
    FIELD ("target", msgpack_pack_double (&v.pk, 10.0), "field 'target': expected int, got float");
    FIELD ("lease_id", msgpack_pack_uint8 (&v.pk, 0), "field 'lease_id'");
    FIELD ("lease_id", msgpack_pack_uint64 (&v.pk, (uint64_t) INT64_MAX + 1), "field 'lease_id'");
    FIELD ("lease_deadline_ms", msgpack_pack_int8 (&v.pk, -1), "field 'lease_deadline_ms'");
    FIELD ("lease_deadline_ms", raw_str (&v, "soon"), "field 'lease_deadline_ms'");
    FIELD ("attempt", msgpack_pack_uint8 (&v.pk, 0), "field 'attempt'");
    FIELD ("attempt", msgpack_pack_uint32 (&v.pk, PROTO_ATTEMPT_MAX + 1), "field 'attempt'");
    //  any integer encoding is accepted
    FIELD ("target", msgpack_pack_fix_uint64 (&v.pk, 120), NULL);
    FIELD ("target", msgpack_pack_fix_int16 (&v.pk, 120), NULL);
#undef FIELD

    //  per-field bounds, encode side
    msgpack_sbuffer sb2;
    msgpack_sbuffer_init (&sb2);
#define REFUSE(mutation, needle) do { t = s_sample (); mutation; \
        CHECK_EQ_INT (proto_scrape_task_encode (&t, &sb2, &err), RC_MALFORMED); \
        CHECK (strstr (err.reason, needle) != NULL); CHECK_EQ_INT (sb2.size, 0); } while (0)
    REFUSE (strcpy (t.zipcode, "1234"), "field 'zipcode'");
    REFUSE (strcpy (t.epoch, "2026-11-25"), "field 'epoch'");
    REFUSE (t.target = 0, "field 'target'");
    REFUSE (t.lease_id = 0, "field 'lease_id'");
    REFUSE (t.lease_deadline_ms = -1, "field 'lease_deadline_ms'");
    REFUSE (t.attempt = PROTO_ATTEMPT_MAX + 1, "field 'attempt'");
    REFUSE (memset (t.zipcode, '1', sizeof t.zipcode), "field 'zipcode'");
#undef REFUSE
    msgpack_sbuffer_destroy (&sb2);

    EXPECT_PREFIXES_REJECTED (proto_scrape_task_t, proto_scrape_task_decode,
                              proto_scrape_task_free, valid, sb.size, 0);
    EXPECT_NASTY_REJECTED (proto_scrape_task_t, proto_scrape_task_decode,
                           proto_scrape_task_free, PROTO_SCRAPE_TASK, keys, 6u);
    EXPECT_MUTATIONS_SAFE (proto_scrape_task_t, proto_scrape_task_decode,
                           proto_scrape_task_encode, proto_scrape_task_equal,
                           proto_scrape_task_free, valid, sb.size);
    msgpack_sbuffer_destroy (&sb);
    TEST_DONE ();
}
