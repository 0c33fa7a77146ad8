/*  The listing intake validator (common/listing.h) that storage runs on every listing: a
    good listing and its key, then every rejection reason with the input that causes it.   */
#include "common/listing.h"
#include "tests/testutil.h"

static listing_reason_t
s_check (const char *text, char *id)
{
    listing_verdict_t v;
    listing_reason_t r = listing_check (text, strlen (text), "77494", &v);
    if (id)
        strcpy (id, v.id);
    if (r != LISTING_OK)
        CHECK (v.detail [0] != 0);          //  every rejection says why
    return r;
}

int
main (void)
{
    char id [LISTING_ID_MAX + 1];
    const char *good = "{\"zpid\":10000,\"address\":\"13 Adams Ter, Katy, TX 77494\","
                       "\"price\":549000,\"bedrooms\":4,\"bathrooms\":2.5,\"sqft\":1806,"
                       "\"listing_date\":\"2026-10-03\",\"property_type\":\"SINGLE_FAMILY\","
                       "\"listing_status\":\"FOR_SALE\",\"days_on_market\":29,"
                       "\"source_url\":\"http://127.0.0.1:8090/property/10000\","
                       "\"scraped_timestamp\":\"2026-11-25T14:03:00.123Z\",\"zipcode\":\"77494\","
                       "\"unknown\":[1,2,{\"x\":null}]}";
    CHECK_EQ_INT (s_check (good, id), LISTING_OK);
    CHECK_EQ_STR (id, "10000");
    CHECK_EQ_INT (s_check ("{\"zpid\":\"00042\",\"zipcode\":\"77494\"}", id), LISTING_OK);
    CHECK_EQ_STR (id, "42");
    CHECK_EQ_INT (s_check ("{\"mls_id\":\"ZM-1.a:b_c\",\"zipcode\":\"77494\"}", id), LISTING_OK);
    CHECK_EQ_STR (id, "mls:ZM-1.a:b_c");
    //  nulls count as absent; zpid wins over mls_id
    CHECK_EQ_INT (s_check ("{\"zpid\":null,\"mls_id\":\"A1\",\"price\":null,\"zipcode\":\"77494\"}", id),
                  LISTING_OK);
    CHECK_EQ_STR (id, "mls:A1");

    //  too large, before any parsing
    size_t big = LISTING_MAX_BYTES + 1;
    char *huge = malloc (big + 1);
    memset (huge, ' ', big);
    huge [0] = '{';
    huge [big - 1] = '}';
    huge [big] = 0;
    CHECK_EQ_INT (s_check (huge, NULL), LISTING_TOO_LARGE);
    free (huge);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,", NULL), LISTING_NOT_JSON);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zpid\":2,\"zipcode\":\"77494\"}", NULL), LISTING_NOT_JSON);
    CHECK_EQ_INT (s_check ("{\"a\":\"\\u0000\"}", NULL), LISTING_NOT_JSON);
    CHECK_EQ_INT (s_check ("{\"a\":[[[[[[[[[[1]]]]]]]]]]}", NULL), LISTING_NOT_JSON);  //  depth
    CHECK_EQ_INT (s_check ("{\"a\":\"\xff\"}", NULL), LISTING_NOT_JSON);                 //  UTF-8
    CHECK_EQ_INT (s_check ("[1,2]", NULL), LISTING_NOT_OBJECT);
    CHECK_EQ_INT (s_check ("\"x\"", NULL), LISTING_NOT_OBJECT);
    CHECK_EQ_INT (s_check ("{\"zipcode\":\"77494\"}", NULL), LISTING_MISSING_ID);
    CHECK_EQ_INT (s_check ("{\"zpid\":0,\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"zpid\":-5,\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"zpid\":1.5,\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"zpid\":\"12a\",\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"zpid\":\"000\",\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"mls_id\":\"a b\",\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"mls_id\":\"\",\"zipcode\":\"77494\"}", NULL), LISTING_BAD_ID);
    CHECK_EQ_INT (s_check ("{\"zpid\":1}", NULL), LISTING_MISSING_ZIPCODE);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":77494}", NULL), LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"7749\"}", NULL), LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"10001\"}", NULL), LISTING_WRONG_ZIPCODE);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"price\":\"549000\"}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"price\":-1}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"bedrooms\":1e9}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"days_on_market\":2.5}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"address\":7}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"address\":\"\"}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"source_url\":\"ftp://x\"}", NULL),
                  LISTING_BAD_FIELD);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"listing_date\":\"yesterday\"}", NULL),
                  LISTING_BAD_DATE);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"listing_date\":\"2026-02-30\"}", NULL),
                  LISTING_BAD_DATE);
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\",\"scraped_timestamp\":\"2026-11-25T25:00:00Z\"}",
                           NULL), LISTING_BAD_DATE);

    //  ISO 8601 forms
    CHECK (listing_iso8601_ok ("2024-02-29"));
    CHECK (!listing_iso8601_ok ("2023-02-29"));
    CHECK (listing_iso8601_ok ("2026-11-25T14:03:00"));
    CHECK (listing_iso8601_ok ("2026-11-25 14:03:00.5+05:30"));
    CHECK (listing_iso8601_ok ("2026-11-25T14:03:00.123456Z"));
    CHECK (!listing_iso8601_ok ("2026-11-25T14:03"));
    CHECK (!listing_iso8601_ok ("2026-11-25T14:03:00+0530"));
    CHECK (!listing_iso8601_ok ("2026-11-25T14:03:00Zjunk"));
    CHECK (!listing_iso8601_ok (""));

    //  every reason has a distinct stable name
    for (int a = 0; a < LISTING_REASONS; a++)
        for (int b = a + 1; b < LISTING_REASONS; b++)
            CHECK (strcmp (listing_reason_name ((listing_reason_t) a),
                           listing_reason_name ((listing_reason_t) b)) != 0);
    CHECK_EQ_STR (listing_reason_name (LISTING_WRONG_ZIPCODE), "wrong_zipcode");
    CHECK_EQ_STR (listing_reason_name ((listing_reason_t) 99), "unknown");
    TEST_DONE ();
}
