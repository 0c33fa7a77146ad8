/*  submission: key parsing and every hostile body the downloader must refuse, each with
    its reason; SQL in strings is kept verbatim (it is data).                                */
#include "common/rc.h"
#include "common/submission.h"
#include "tests/testutil.h"

#include <stdlib.h>

#define HK "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"
#define EP "2026-11-25T12-00-00"
#define ZIP "77494"

static const submission_limits_t s_limits = { .max_bytes = 1 << 20, .max_listings = 1000,
                                              .max_depth = 8 };

static submission_key_t
s_key (void)
{
    submission_key_t k;
    CHECK_EQ_INT (submission_key_parse ("data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP
                                        "/data_20261125_130000.json", &k), 0);
    return k;
}

//  A body with n listings; count is what listing_count says.
static char *
s_body (const char *epoch, const char *hotkey, const char *zip, long count, int n)
{
    size_t cap = 256 + (size_t) n * 48;
    char *b = malloc (cap);
    CHECK (b);
    int w = snprintf (b, cap, "{\"epoch_id\":\"%s\",\"zipcode\":\"%s\",\"miner_hotkey\":\"%s\","
                      "\"submission_timestamp\":\"2026-11-25T13:00:00\",\"listing_count\":%ld,"
                      "\"listings\":[", epoch, zip, hotkey, count);
    for (int i = 0; i < n; i++)
        w += snprintf (b + w, cap - (size_t) w, "%s{\"zpid\":%d,\"zipcode\":\"%s\"}",
                       i ? "," : "", i + 1, zip);
    snprintf (b + w, cap - (size_t) w, "]}");
    return b;
}

static submission_reason_t
s_parse (const char *body, size_t len, const submission_limits_t *lim)
{
    submission_key_t k = s_key ();
    submission_t sub;
    int rc = submission_parse (body, len, &k, lim, &sub);
    submission_reason_t r = sub.reason;
    if (rc == 0) {
        CHECK_EQ_INT (r, SUBMISSION_OK);
        CHECK (sub.root && sub.listings);
        submission_free (&sub);
        submission_free (&sub);
    }
    else {
        CHECK_EQ_INT (rc, RC_MALFORMED);
        CHECK (r != SUBMISSION_OK);
        CHECK (sub.root == NULL);
        CHECK (sub.detail [0] != 0);
    }
    return r;
}

static void
test_keys (void)
{
    submission_key_t k = s_key ();
    CHECK_EQ_STR (k.hotkey, HK);
    CHECK_EQ_STR (k.epoch, EP);
    CHECK_EQ_STR (k.zipcode, ZIP);
    const char *bad [] = {
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/x.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/data_1.txt",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=7749/data_1.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=7749a/data_1.json",
        "data/hotkey=" HK "/epoch=2026-13-25T12-00-00/zipcode=" ZIP "/data_1.json",
        "data/hotkey=bad-key/epoch=" EP "/zipcode=" ZIP "/data_1.json",
        "data/hotkey=/epoch=" EP "/zipcode=" ZIP "/data_1.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/sub/data_1.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP,
        "other/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/data_1.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/data_.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/data_1 2.json",
        "data/hotkey=" HK "/epoch=" EP "/zipcode=" ZIP "/data_\xc3\xa9.json",
        "", "data", "data/////",
        "data/hotkey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            "/epoch=" EP "/zipcode=" ZIP "/data_1.json",      //  65 characters
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        CHECK_EQ_INT (submission_key_parse (bad [i], &k), -1);
        CHECK_EQ_STR (k.hotkey, "");
    }
    CHECK_EQ_INT (submission_key_parse (NULL, &k), -1);
    char prefix [256];
    CHECK_EQ_INT (submission_prefix (HK, EP, prefix, sizeof prefix), 0);
    CHECK_EQ_STR (prefix, "data/hotkey=" HK "/epoch=" EP "/");
    CHECK_EQ_INT (submission_prefix (HK, EP, prefix, 20), -1);
}

static void
test_valid (void)
{
    char *b = s_body (EP, HK, ZIP, 3, 3);
    submission_key_t k = s_key ();
    submission_t sub;
    CHECK_EQ_INT (submission_parse (b, strlen (b), &k, &s_limits, &sub), 0);
    CHECK_EQ_INT (sub.count, 3);
    CHECK_EQ_STR (sub.submission_timestamp, "2026-11-25T13:00:00");
    CHECK_EQ_INT (json_integer_value (json_object_get (json_array_get (sub.listings, 2),
                                                       "zpid")), 3);
    submission_free (&sub);
    free (b);
    //  empty submission, no timestamp, unknown top-level keys: fine
    const char *e = "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\""
                    HK "\",\"listing_count\":0,\"listings\":[],\"extra\":{\"a\":[1]}}";
    CHECK_EQ_INT (s_parse (e, strlen (e), &s_limits), SUBMISSION_OK);
}

static void
test_hostile (void)
{
    char *b = s_body (EP, HK, ZIP, 3, 3);
    size_t len = strlen (b);
    //  truncated anywhere: never accepted
    for (size_t cut = 0; cut < len; cut++) {
        submission_reason_t r = s_parse (b, cut, &s_limits);
        CHECK (r == SUBMISSION_NOT_JSON);
    }
    //  too large for the cap
    submission_limits_t small = s_limits;
    small.max_bytes = len - 1;
    CHECK_EQ_INT (s_parse (b, len, &small), SUBMISSION_TOO_LARGE);
    free (b);

    //  lying counts
    b = s_body (EP, HK, ZIP, 5, 3);
    CHECK_EQ_INT (s_parse (b, strlen (b), &s_limits), SUBMISSION_COUNT_MISMATCH);
    free (b);
    b = s_body (EP, HK, ZIP, -3, 3);
    CHECK_EQ_INT (s_parse (b, strlen (b), &s_limits), SUBMISSION_COUNT_MISMATCH);
    free (b);
    b = s_body (EP, HK, ZIP, 0, 1);
    CHECK_EQ_INT (s_parse (b, strlen (b), &s_limits), SUBMISSION_COUNT_MISMATCH);
    free (b);

    //  another epoch, hotkey, zipcode inside
    b = s_body ("2026-11-25T08-00-00", HK, ZIP, 3, 3);
    CHECK_EQ_INT (s_parse (b, strlen (b), &s_limits), SUBMISSION_WRONG_EPOCH);
    free (b);
    b = s_body (EP, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", ZIP, 3, 3);
    CHECK_EQ_INT (s_parse (b, strlen (b), &s_limits), SUBMISSION_WRONG_HOTKEY);
    free (b);
    b = s_body (EP, HK, "10001", 3, 3);
    CHECK_EQ_INT (s_parse (b, strlen (b), &s_limits), SUBMISSION_WRONG_ZIPCODE);
    free (b);

    //  100,000 listings against a cap of 1,000: refused by the pre-scan
    b = s_body (EP, HK, ZIP, 100000, 100000);
    submission_limits_t big = s_limits;
    big.max_bytes = 64u << 20;
    CHECK_EQ_INT (s_parse (b, strlen (b), &big), SUBMISSION_TOO_MANY_LISTINGS);
    big.max_listings = 100000;
    CHECK_EQ_INT (s_parse (b, strlen (b), &big), SUBMISSION_OK);
    big.max_listings = 99999;
    CHECK_EQ_INT (s_parse (b, strlen (b), &big), SUBMISSION_TOO_MANY_LISTINGS);
    free (b);

    //  value budget: one listing packed with a million values
    size_t cap = 4u << 20;
    b = malloc (cap);
    int w = snprintf (b, cap, "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\""
                      HK "\",\"listing_count\":1,\"listings\":[{\"x\":[");
    for (int i = 0; i < 1000000; i++)
        b [w++] = i ? ',' : '0', b [w++] = i ? '0' : ' ';
    w += snprintf (b + w, cap - (size_t) w, "]}]}");
    big = s_limits;
    big.max_bytes = cap;
    CHECK_EQ_INT (s_parse (b, (size_t) w, &big), SUBMISSION_TOO_MANY_LISTINGS);
    free (b);

    //  deep nesting (inside a listing, and a bare bomb)
    char deep [4096];
    w = snprintf (deep, sizeof deep, "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\","
                  "\"miner_hotkey\":\"" HK "\",\"listing_count\":1,\"listings\":[{\"a\":");
    for (int i = 0; i < 100; i++)
        deep [w++] = '[';
    for (int i = 0; i < 100; i++)
        deep [w++] = ']';
    w += snprintf (deep + w, sizeof deep - (size_t) w, "}]}");
    CHECK_EQ_INT (s_parse (deep, (size_t) w, &s_limits), SUBMISSION_TOO_DEEP);
    memset (deep, '[', sizeof deep);
    CHECK_EQ_INT (s_parse (deep, sizeof deep, &s_limits), SUBMISSION_TOO_DEEP);

    //  invalid UTF-8 in a string: overlong, lone continuation, surrogate, truncated sequence
    const char *utf [] = { "\xc0\xaf", "\x80", "\xed\xa0\x80", "\xe2\x82", "\xff" };
    for (size_t i = 0; i < sizeof utf / sizeof utf [0]; i++) {
        char u [512];
        int n = snprintf (u, sizeof u, "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\","
                          "\"miner_hotkey\":\"" HK "\",\"listing_count\":1,\"listings\":"
                          "[{\"address\":\"1 Main %s St\"}]}", utf [i]);
        CHECK_EQ_INT (s_parse (u, (size_t) n, &s_limits), SUBMISSION_BAD_UTF8);
    }

    //  shape
    const char *shapes [] = {
        "[]", "\"x\"", "42", "null",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":\"1\",\"listings\":[{}]}",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":1,\"listings\":{}}",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":1,\"listings\":[1]}",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":1.0,\"listings\":[{}]}",
        "{\"epoch_id\":7,\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":1,\"listings\":[{}]}",
        "{\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":1,\"listings\":[{}]}",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"submission_timestamp\":5,\"listing_count\":1,\"listings\":[{}]}",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes [0]; i++)
        CHECK_EQ_INT (s_parse (shapes [i], strlen (shapes [i]), &s_limits),
                      SUBMISSION_BAD_SHAPE);

    //  not JSON: duplicate keys, trailing bytes, \u0000
    const char *nj [] = {
        "{\"epoch_id\":\"" EP "\",\"epoch_id\":\"" EP "\"}",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":0,\"listings\":[]} x",
        "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK "\","
            "\"listing_count\":1,\"listings\":[{\"a\":\"\\u0000\"}]}",
        "",
    };
    for (size_t i = 0; i < sizeof nj / sizeof nj [0]; i++)
        CHECK_EQ_INT (s_parse (nj [i], strlen (nj [i]), &s_limits), SUBMISSION_NOT_JSON);
}

static void
test_sql_is_data (void)
{
    const char *sql = "{\"epoch_id\":\"" EP "\",\"zipcode\":\"" ZIP "\",\"miner_hotkey\":\"" HK
        "\",\"listing_count\":1,\"listings\":[{\"address\":\"1'); DROP TABLE "
        "validator_submissions; --\"}]}";
    submission_key_t k = s_key ();
    submission_t sub;
    CHECK_EQ_INT (submission_parse (sql, strlen (sql), &k, &s_limits, &sub), 0);
    CHECK_EQ_STR (json_string_value (json_object_get (json_array_get (sub.listings, 0),
                                                      "address")),
                  "1'); DROP TABLE validator_submissions; --");
    submission_free (&sub);
}

static void
test_names (void)
{
    CHECK_EQ_STR (submission_reason_name (SUBMISSION_OK), "ok");
    CHECK_EQ_STR (submission_reason_name (SUBMISSION_COUNT_MISMATCH), "count_mismatch");
    CHECK_EQ_STR (submission_reason_name (SUBMISSION_GONE), "gone");
    CHECK_EQ_STR (submission_reason_name ((submission_reason_t) SUBMISSION_REASONS), "unknown");
    CHECK_EQ_STR (submission_reason_name ((submission_reason_t) -1), "unknown");
}

int
main (void)
{
    test_keys ();
    test_valid ();
    test_hostile ();
    test_sql_is_data ();
    test_names ();
    TEST_DONE ();
}
