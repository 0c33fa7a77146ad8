/*  proto/mpr + envelope: the bounded msgpack reader never reads past the input, never
    allocates, bounds every length by the bytes remaining, limits nesting; the envelope
    checks shape, version and type; the shared field validators accept and reject what they
    document.                                                                               */
#include "proto/mpr.h"
#include "proto/proto.h"
#include "tests/unit/test_proto.h"

#include <math.h>

//  Packs with msgpack-c and returns a reader over the bytes (valid until raw_destroy).
static void
s_reader (mpr_t *r, raw_t *raw, proto_err_t *err)
{
    mpr_init (r, (const uint8_t *) raw->buf.data, raw->buf.size, err);
}

static void
test_integers (void)
{
    raw_t raw;
    raw_init (&raw);
    msgpack_pack_uint8 (&raw.pk, 0);
    msgpack_pack_uint64 (&raw.pk, UINT64_MAX);
    msgpack_pack_int8 (&raw.pk, -32);                 //  negative fixint
    msgpack_pack_int64 (&raw.pk, INT64_MIN);
    msgpack_pack_int16 (&raw.pk, 1000);              //  packer may pick uint16
    msgpack_pack_fix_int32 (&raw.pk, 70000);         //  0xd2, positive: reads as uint
    msgpack_pack_fix_int8 (&raw.pk, -1);             //  0xd0 0xff
    msgpack_pack_uint64 (&raw.pk, (uint64_t) INT64_MAX + 1);
    msgpack_pack_float (&raw.pk, 1.5f);
    msgpack_pack_double (&raw.pk, -2.25);
    msgpack_pack_int32 (&raw.pk, -7);
    msgpack_pack_true (&raw.pk);
    msgpack_pack_nil (&raw.pk);

    mpr_t r;
    proto_err_t err;
    s_reader (&r, &raw, &err);
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    CHECK_EQ_INT (mpr_uint (&r, &u), 0);
    CHECK_EQ_INT (u, 0);
    CHECK_EQ_INT (mpr_uint (&r, &u), 0);
    CHECK (u == UINT64_MAX);
    CHECK_EQ_INT (mpr_peek (&r), MPR_INT);
    CHECK_EQ_INT (mpr_int (&r, &i), 0);
    CHECK_EQ_INT (i, -32);
    CHECK_EQ_INT (mpr_int (&r, &i), 0);
    CHECK (i == INT64_MIN);
    CHECK_EQ_INT (mpr_int (&r, &i), 0);
    CHECK_EQ_INT (i, 1000);
    CHECK_EQ_INT (mpr_peek (&r), MPR_UINT);
    CHECK_EQ_INT (mpr_uint (&r, &u), 0);
    CHECK_EQ_INT (u, 70000);
    //  a negative value is not a uint
    size_t at = r.pos;
    CHECK_EQ_INT (mpr_uint (&r, &u), RC_MALFORMED);
    CHECK (strstr (err.reason, "negative") != NULL);
    r.pos = at;
    CHECK_EQ_INT (mpr_int (&r, &i), 0);
    CHECK_EQ_INT (i, -1);
    //  2^63 does not fit int64 but is a fine uint
    at = r.pos;
    CHECK_EQ_INT (mpr_int (&r, &i), RC_MALFORMED);
    CHECK (strstr (err.reason, "does not fit int64") != NULL);
    r.pos = at;
    CHECK_EQ_INT (mpr_uint (&r, &u), 0);
    CHECK (u == (uint64_t) INT64_MAX + 1);
    CHECK_EQ_INT (mpr_double (&r, &d), 0);
    CHECK (d == 1.5);
    CHECK_EQ_INT (mpr_double (&r, &d), 0);
    CHECK (d == -2.25);
    CHECK_EQ_INT (mpr_double (&r, &d), 0);          //  integers are numbers too
    CHECK (d == -7.0);
    CHECK_EQ_INT (mpr_bool (&r, &b), 0);
    CHECK (b);
    CHECK_EQ_INT (mpr_nil (&r), 0);
    CHECK_EQ_INT (mpr_remaining (&r), 0);
    CHECK_EQ_INT (mpr_peek (&r), MPR_END);
    CHECK_EQ_INT (mpr_uint (&r, &u), RC_MALFORMED);
    CHECK (strstr (err.reason, "end of input") != NULL);
    raw_destroy (&raw);

    //  every truncated fixed-width number is rejected, not read past the end
    static const uint8_t heads [] = { 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb };
    for (size_t h = 0; h < sizeof heads; h++) {
        uint8_t buf [9] = { heads [h], 1, 2, 3, 4, 5, 6, 7, 8 };
        size_t full = heads [h] == 0xca ? 5 : heads [h] == 0xcb ? 9
                    : 1 + ((size_t) 1 << (heads [h] & 3));
        for (size_t len = 1; len < full; len++) {
            //  a heap copy of exactly len bytes, so ASan catches any overread
            uint8_t *exact = malloc (len);
            memcpy (exact, buf, len);
            mpr_init (&r, exact, len, &err);
            CHECK_EQ_INT (mpr_double (&r, &d), RC_MALFORMED);
            CHECK (strstr (err.reason, "truncated") != NULL);
            CHECK_EQ_INT (err.offset, 0);
            free (exact);
        }
    }
    //  wrong kinds
    uint8_t str1 [] = { 0xa1, 'x' };
    mpr_init (&r, str1, sizeof str1, &err);
    CHECK_EQ_INT (mpr_uint (&r, &u), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "expected int, got str");
    CHECK_EQ_INT (mpr_bool (&r, &b), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "expected bool, got str");
    uint8_t invalid [] = { 0xc1 };
    mpr_init (&r, invalid, 1, NULL);                   //  err may be NULL
    CHECK_EQ_INT (mpr_skip (&r), RC_MALFORMED);
    CHECK (strstr (r.scratch.reason, "0xc1") != NULL);
}

static void
test_lengths (void)
{
    proto_err_t err;
    mpr_t r;
    const char *s;
    const uint8_t *p;
    uint32_t n;

    //  the nasty headers: rejected by every reader, with no allocation at all
    alloc_reset ();
    for (int k = 0; k < 4; k++) {
        mpr_init (&r, s_nasty [k], 5, &err);
        int rc = k == 0 ? mpr_array (&r, &n) : k == 1 ? mpr_map (&r, &n)
               : k == 2 ? mpr_str (&r, &s, &n) : mpr_bin (&r, &p, &n);
        CHECK_EQ_INT (rc, RC_MALFORMED);
        CHECK (strstr (err.reason, "truncated") != NULL);
        CHECK (strstr (err.reason, "4294967295") != NULL);
        CHECK_EQ_INT (err.offset, 0);
        CHECK_EQ_INT (r.pos, 0);
        mpr_init (&r, s_nasty [k], 5, &err);
        CHECK_EQ_INT (mpr_skip (&r), RC_MALFORMED);
    }
    CHECK_EQ_INT (s_alloc_calls, 0);

    //  exact fits are accepted, one byte short is not
    uint8_t str3 [] = { 0xd9, 3, 'a', 'b', 'c' };
    mpr_init (&r, str3, 5, &err);
    CHECK_EQ_INT (mpr_str (&r, &s, &n), 0);
    CHECK_EQ_INT (n, 3);
    CHECK (memcmp (s, "abc", 3) == 0);
    CHECK (s == (const char *) str3 + 2);             //  zero-copy
    mpr_init (&r, str3, 4, &err);
    CHECK_EQ_INT (mpr_str (&r, &s, &n), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "truncated: str of 3 bytes but 2 remain");

    //  array of N needs N bytes after the header, map of N needs 2N
    uint8_t arr [] = { 0xdc, 0x00, 0x03, 1, 2, 3 };
    mpr_init (&r, arr, 6, &err);
    CHECK_EQ_INT (mpr_array (&r, &n), 0);
    CHECK_EQ_INT (n, 3);
    mpr_init (&r, arr, 5, &err);
    CHECK_EQ_INT (mpr_array (&r, &n), RC_MALFORMED);
    uint8_t map [] = { 0x82, 1, 2, 3, 4 };
    mpr_init (&r, map, 5, &err);
    CHECK_EQ_INT (mpr_map (&r, &n), 0);
    mpr_init (&r, map, 4, &err);
    CHECK_EQ_INT (mpr_map (&r, &n), RC_MALFORMED);
    CHECK (strstr (err.reason, "map of 2 pairs") != NULL);
    //  map32 whose 2N overflows 32 bits
    uint8_t bigmap [] = { 0xdf, 0x80, 0x00, 0x00, 0x00, 1, 2 };
    mpr_init (&r, bigmap, sizeof bigmap, &err);
    CHECK_EQ_INT (mpr_map (&r, &n), RC_MALFORMED);

    //  ext: skippable when complete, rejected when its length lies
    uint8_t ext [] = { 0xd6, 0x01, 1, 2, 3, 4,                  //  fixext4
                       0xc7, 0x02, 0x05, 9, 9,                  //  ext8 of 2
                       0xc9, 0xff, 0xff, 0xff, 0xff, 1 };       //  ext32 that lies
    mpr_init (&r, ext, sizeof ext, &err);
    CHECK_EQ_INT (mpr_peek (&r), MPR_EXT);
    CHECK_EQ_INT (mpr_skip (&r), 0);
    CHECK_EQ_INT (mpr_skip (&r), 0);
    CHECK_EQ_INT (mpr_skip (&r), RC_MALFORMED);
    CHECK (strstr (err.reason, "ext") != NULL);
    CHECK_EQ_INT (s_alloc_calls, 0);
}

static void
test_nesting (void)
{
    proto_err_t err;
    mpr_t r;
    //  MPR_MAX_DEPTH nested arrays around a nil: accepted; one more level: rejected
    uint8_t ok [MPR_MAX_DEPTH + 1];
    memset (ok, 0x91, sizeof ok);
    ok [MPR_MAX_DEPTH] = 0xc0;
    mpr_init (&r, ok, sizeof ok, &err);
    CHECK_EQ_INT (mpr_skip (&r), 0);
    CHECK_EQ_INT (mpr_remaining (&r), 0);
    uint8_t deep [MPR_MAX_DEPTH + 2];
    memset (deep, 0x91, sizeof deep);
    deep [MPR_MAX_DEPTH + 1] = 0xc0;
    mpr_init (&r, deep, sizeof deep, &err);
    CHECK_EQ_INT (mpr_skip (&r), RC_MALFORMED);
    CHECK (strstr (err.reason, "nesting deeper") != NULL);
    //  a million levels (maps this time) is rejected quickly, without exhausting the stack
    size_t big = 1000000;
    uint8_t *huge = malloc (big);
    memset (huge, 0x81, big);
    alloc_reset ();
    mpr_init (&r, huge, big, &err);
    CHECK_EQ_INT (mpr_skip (&r), RC_MALFORMED);
    CHECK_EQ_INT (s_alloc_calls, 0);
    free (huge);
    //  a wide flat array is fine: work is bounded by its bytes, not its depth
    uint8_t *wide = malloc (100005);
    wide [0] = 0xdd; wide [1] = 0; wide [2] = 0x01; wide [3] = 0x86; wide [4] = 0xa0;
    memset (wide + 5, 0x07, 100000);
    mpr_init (&r, wide, 100005, &err);
    CHECK_EQ_INT (mpr_skip (&r), 0);
    CHECK_EQ_INT (mpr_remaining (&r), 0);
    free (wide);
}

static void
test_map_iteration (void)
{
    static const char *const keys [] = { "a", "bb", "ccc" };
    proto_err_t err;
    mpr_t r;
    mpr_map_t m;
    int idx;

    //  known keys in any order, unknown keys skipped (even nested values)
    raw_t raw;
    raw_init (&raw);
    msgpack_pack_map (&raw.pk, 4);
    raw_str (&raw, "ccc"); msgpack_pack_uint8 (&raw.pk, 3);
    raw_str (&raw, "future"); msgpack_pack_array (&raw.pk, 2);
    msgpack_pack_map (&raw.pk, 1); raw_str (&raw, "x"); msgpack_pack_nil (&raw.pk);
    raw_str (&raw, "y");
    raw_str (&raw, "a"); msgpack_pack_uint8 (&raw.pk, 1);
    raw_str (&raw, "zz"); msgpack_pack_double (&raw.pk, 1.0);
    s_reader (&r, &raw, &err);
    CHECK_EQ_INT (mpr_map_begin (&m, &r, "body", keys, 3), 0);
    uint64_t sum = 0, v;
    int seen = 0, rc;
    while ((rc = mpr_map_next (&m, &idx)) == 1) {
        CHECK_EQ_INT (mpr_uint (&r, &v), 0);
        sum += v;
        seen++;
    }
    CHECK_EQ_INT (rc, 0);
    CHECK_EQ_INT (seen, 2);
    CHECK_EQ_INT (sum, 4);
    CHECK (mpr_map_has (&m, 0) && !mpr_map_has (&m, 1) && mpr_map_has (&m, 2));
    CHECK_EQ_INT (mpr_map_require (&m, 0x5), 0);
    CHECK_EQ_INT (mpr_map_require (&m, 0x7), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "body: missing required field 'bb'");
    CHECK_EQ_INT (mpr_remaining (&r), 0);
    raw_destroy (&raw);

    //  duplicate known key, duplicate unknown key
    const char *dups [] = { "bb", "other" };
    for (int k = 0; k < 2; k++) {
        raw_init (&raw);
        msgpack_pack_map (&raw.pk, 3);
        raw_str (&raw, dups [k]); msgpack_pack_uint8 (&raw.pk, 1);
        raw_str (&raw, "a"); msgpack_pack_uint8 (&raw.pk, 1);
        raw_str (&raw, dups [k]); msgpack_pack_uint8 (&raw.pk, 2);
        s_reader (&r, &raw, &err);
        CHECK_EQ_INT (mpr_map_begin (&m, &r, "body", keys, 3), 0);
        while ((rc = mpr_map_next (&m, &idx)) == 1)
            CHECK_EQ_INT (mpr_uint (&r, &v), 0);
        CHECK_EQ_INT (rc, RC_MALFORMED);
        CHECK (strstr (err.reason, "duplicate key") != NULL);
        CHECK (strstr (err.reason, dups [k]) != NULL);
        raw_destroy (&raw);
    }

    //  reasons quoting input bytes stay printable ASCII
    raw_init (&raw);
    msgpack_pack_map (&raw.pk, 2);
    raw_str (&raw, "\n\xc3\xa9\x7f"); msgpack_pack_nil (&raw.pk);
    raw_str (&raw, "\n\xc3\xa9\x7f"); msgpack_pack_nil (&raw.pk);
    s_reader (&r, &raw, &err);
    CHECK_EQ_INT (mpr_map_begin (&m, &r, "body", keys, 3), 0);
    CHECK_EQ_INT (mpr_map_next (&m, &idx), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "body: duplicate key '?" "?" "?" "?'");
    raw_destroy (&raw);

    //  non-str key, over-long key, too many pairs
    raw_init (&raw);
    msgpack_pack_map (&raw.pk, 1);
    msgpack_pack_uint8 (&raw.pk, 1);
    msgpack_pack_uint8 (&raw.pk, 1);
    s_reader (&r, &raw, &err);
    CHECK_EQ_INT (mpr_map_begin (&m, &r, "body", keys, 3), 0);
    CHECK_EQ_INT (mpr_map_next (&m, &idx), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "body: key: expected str, got uint");
    raw_destroy (&raw);

    raw_init (&raw);
    msgpack_pack_map (&raw.pk, 1);
    char longkey [MPR_KEY_MAX + 2];
    memset (longkey, 'k', MPR_KEY_MAX + 1);
    longkey [MPR_KEY_MAX + 1] = '\0';
    raw_str (&raw, longkey);
    msgpack_pack_uint8 (&raw.pk, 1);
    s_reader (&r, &raw, &err);
    CHECK_EQ_INT (mpr_map_begin (&m, &r, "body", keys, 3), 0);
    CHECK_EQ_INT (mpr_map_next (&m, &idx), RC_MALFORMED);
    CHECK (strstr (err.reason, "exceeds") != NULL);
    raw_destroy (&raw);

    raw_init (&raw);
    msgpack_pack_map (&raw.pk, MPR_MAP_MAX_PAIRS + 1);
    for (int k = 0; k <= MPR_MAP_MAX_PAIRS; k++) {
        char key [16];
        snprintf (key, sizeof key, "k%d", k);
        raw_str (&raw, key);
        msgpack_pack_nil (&raw.pk);
    }
    s_reader (&r, &raw, &err);
    CHECK_EQ_INT (mpr_map_begin (&m, &r, "body", keys, 3), RC_MALFORMED);
    CHECK (strstr (err.reason, "pairs exceeds") != NULL);
    raw_destroy (&raw);
}

static void
test_envelope (void)
{
    proto_err_t err;
    int type;
    raw_t raw;
    //  every type has a stable name; unknown values do not
    CHECK_EQ_STR (proto_type_name (PROTO_HEARTBEAT), "heartbeat");
    CHECK_EQ_STR (proto_type_name (PROTO_LISTING_BATCH), "listing_batch");
    CHECK_EQ_STR (proto_type_name (PROTO_SPOT_CHECK_RESULT), "spot_check_result");
    CHECK_EQ_STR (proto_type_name (0), "unknown");
    CHECK_EQ_STR (proto_type_name (PROTO_TYPE_MAX + 1), "unknown");
    for (int t = PROTO_TYPE_MIN; t <= PROTO_TYPE_MAX; t++) {
        CHECK (strcmp (proto_type_name (t), "unknown") != 0);
        raw_init (&raw);
        raw_envelope (&raw, PROTO_VERSION, (uint64_t) t, 0);
        CHECK_EQ_INT (proto_peek_type ((uint8_t *) raw.buf.data, raw.buf.size, &type, &err), 0);
        CHECK_EQ_INT (type, t);
        raw_destroy (&raw);
    }
    //  wrong version
    raw_init (&raw);
    raw_envelope (&raw, 2, PROTO_HEARTBEAT, 0);
    CHECK_EQ_INT (proto_peek_type ((uint8_t *) raw.buf.data, raw.buf.size, &type, &err),
                  RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "unsupported version 2");
    raw_destroy (&raw);
    //  unknown types
    uint64_t bad_types [] = { 0, PROTO_TYPE_MAX + 1, 1000, UINT64_MAX };
    for (size_t k = 0; k < 4; k++) {
        raw_init (&raw);
        raw_envelope (&raw, PROTO_VERSION, bad_types [k], 0);
        CHECK_EQ_INT (proto_peek_type ((uint8_t *) raw.buf.data, raw.buf.size, &type, &err),
                      RC_MALFORMED);
        CHECK (strstr (err.reason, "unknown message type") != NULL);
        raw_destroy (&raw);
    }
    //  shape: not an array, wrong arity, version not an int
    uint8_t not_array [] = { 0x80 };
    CHECK_EQ_INT (proto_peek_type (not_array, 1, &type, &err), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "envelope: expected array, got map");
    uint8_t two [] = { 0x92, 0x01, 0x01 };
    CHECK_EQ_INT (proto_peek_type (two, 3, &type, &err), RC_MALFORMED);
    CHECK (strstr (err.reason, "array of 3") != NULL);
    uint8_t strver [] = { 0x93, 0xa1, '1', 0x01, 0x80 };
    CHECK_EQ_INT (proto_peek_type (strver, 5, &type, &err), RC_MALFORMED);
    CHECK_EQ_STR (err.reason, "envelope: version: expected int, got str");
    CHECK_EQ_INT (proto_peek_type (NULL, 0, &type, NULL), RC_MALFORMED);
}

static void
test_validators (void)
{
    CHECK (proto_valid_epoch ("2026-11-25T12-00-00"));
    CHECK (proto_valid_epoch ("1999-12-31T23-59-59"));
    CHECK (!proto_valid_epoch ("2026-11-25T12:00:00"));
    CHECK (!proto_valid_epoch ("2026-13-25T12-00-00"));
    CHECK (!proto_valid_epoch ("2026-11-00T12-00-00"));
    CHECK (!proto_valid_epoch ("2026-11-25T24-00-00"));
    CHECK (!proto_valid_epoch ("2026-11-25T12-60-00"));
    CHECK (!proto_valid_epoch ("2026-11-25T12-00-0"));
    CHECK (!proto_valid_epoch ("2026-11-25T12-00-000"));
    CHECK (!proto_valid_epoch ("2026-1a-25T12-00-00"));
    CHECK (!proto_valid_epoch (""));
    CHECK (proto_valid_zipcode ("02139"));
    CHECK (!proto_valid_zipcode ("2139"));
    CHECK (!proto_valid_zipcode ("021390"));
    CHECK (!proto_valid_zipcode ("0213a"));
    CHECK (!proto_valid_zipcode ("0213 "));
    CHECK (proto_valid_hotkey ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"));
    CHECK (!proto_valid_hotkey (""));
    CHECK (!proto_valid_hotkey ("abc/../x"));
    char h65 [66];
    memset (h65, 'a', 65);
    h65 [65] = '\0';
    CHECK (!proto_valid_hotkey (h65));
    h65 [64] = '\0';
    CHECK (proto_valid_hotkey (h65));
    CHECK (proto_valid_name ("scraper.2"));
    CHECK (proto_valid_name ("tier-3_x"));
    CHECK (!proto_valid_name (""));
    CHECK (!proto_valid_name ("a b"));
    CHECK (!proto_valid_name ("a\"b"));
    //  UTF-8
    CHECK (proto_valid_utf8 ("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    CHECK (!proto_valid_utf8 ("a\0b", 3));                   //  NUL
    CHECK (!proto_valid_utf8 ("\xc0\xaf", 2));               //  overlong '/'
    CHECK (!proto_valid_utf8 ("\xe0\x80\xaf", 3));           //  overlong
    CHECK (!proto_valid_utf8 ("\xed\xa0\x80", 3));           //  surrogate
    CHECK (!proto_valid_utf8 ("\xf4\x90\x80\x80", 4));       //  > U+10FFFF
    CHECK (!proto_valid_utf8 ("\xe2\x82", 2));               //  truncated
    CHECK (!proto_valid_utf8 ("\x80", 1));                   //  lone continuation
    CHECK (!proto_valid_utf8 ("\xff", 1));
    //  the 8-bytes-at-a-time ASCII path: a bad or multibyte byte at every position
    for (size_t at = 0; at < 30; at++) {
        char buf [32];
        memset (buf, 'a', sizeof buf);
        CHECK (proto_valid_utf8 (buf, sizeof buf));
        buf [at] = '\0';
        CHECK (!proto_valid_utf8 (buf, sizeof buf));
        buf [at] = (char) 0xff;
        CHECK (!proto_valid_utf8 (buf, sizeof buf));
        buf [at] = (char) 0xc3;
        CHECK (!proto_valid_utf8 (buf, sizeof buf));        //  lead byte, no continuation
        buf [at + 1] = (char) 0xa9;
        CHECK (proto_valid_utf8 (buf, sizeof buf));         //  é
        CHECK (!proto_valid_utf8 (buf, at + 1));            //  cut inside it
        buf [at + 1] = (char) 0x7f;
        CHECK (!proto_valid_utf8 (buf, sizeof buf));
    }
    CHECK (proto_valid_text ("abc", 3));
    CHECK (!proto_valid_text ("abcd", 3));
}

int
main (void)
{
    alloc_self_test ();
    test_integers ();
    test_lengths ();
    test_nesting ();
    test_map_iteration ();
    test_envelope ();
    test_validators ();
    TEST_DONE ();
}
