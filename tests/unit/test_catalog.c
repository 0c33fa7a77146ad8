/*  catalog: the embedded catalog parses completely, lookups work (leading zeros, misses, junk),
    the derived values follow the documented formulas (values below were computed independently
    with Python from the README formula), and the strict parser rejects every malformed input
    class with the line number.                                                               */
#include "common/catalog.h"
#include "tests/testutil.h"

#define HEADER "RegionID,SizeRank,RegionName,RegionType,StateName,State,City,Metro,CountyName\n"
#define ROW_A  "1,10,00501,zip,NY,NY,Holtsville,\"New York-Newark, NY\",Suffolk County\n"
#define ROW_B  "2,20,99999,zip,AK,AK,Town,,Borough\n"

static catalog_t *
s_parse (const char *text, char *err, size_t errsize)
{
    return catalog_new_from_buffer (text, strlen (text), err, errsize);
}

//  Asserts that text is rejected and that the reason contains needle.
static void
s_reject (const char *text, const char *needle)
{
    char err [256];
    catalog_t *c = s_parse (text, err, sizeof err);
    if (c || !strstr (err, needle)) {
        fprintf (stderr, "input %.60s...: expected rejection with \"%s\", got %s \"%s\"\n",
                 text, needle, c ? "success" : "error", err);
        exit (1);
    }
}

static void
s_test_embedded (void)
{
    catalog_t *cat = catalog_new ();
    CHECK (cat);
    CHECK_EQ_INT (catalog_size (cat), 7572);

    const catalog_entry_t *e = catalog_at (cat, 0);
    CHECK (e);
    CHECK_EQ_INT (e->index, 0);
    CHECK_EQ_STR (e->zipcode, "77494");
    CHECK_EQ_INT (e->size_rank, 1);
    CHECK_EQ_INT (e->region_id, 91982);
    CHECK_EQ_STR (e->city, "Katy");
    CHECK_EQ_STR (e->state, "TX");
    CHECK_EQ_STR (e->metro, "Houston-The Woodlands-Sugar Land, TX");
    CHECK_EQ_STR (e->county, "Fort Bend County");
    CHECK (catalog_lookup (cat, "77494") == e);
    CHECK (catalog_at (cat, 7572) == NULL);

    //  Leading zero kept, found by lookup.
    e = catalog_lookup (cat, "08701");
    CHECK (e);
    CHECK_EQ_INT (e->index, 1);
    CHECK_EQ_STR (e->city, "Lakewood");
    CHECK_EQ_STR (e->state, "NJ");

    //  Last row (file has no trailing newline).
    e = catalog_at (cat, 7571);
    CHECK (e);
    CHECK_EQ_STR (e->zipcode, "12085");
    CHECK_EQ_INT (e->size_rank, 39992);
    CHECK_EQ_STR (e->county, "Albany County");
    CHECK (catalog_lookup (cat, "12085") == e);

    //  UTF-8 inside a quoted field survives.
    e = catalog_lookup (cat, "81212");
    CHECK (e);
    CHECK_EQ_STR (e->metro, "Ca-\xc2\xa6on City, CO");

    //  Rows without a city are kept with "".
    e = catalog_lookup (cat, "30349");
    CHECK (e);
    CHECK_EQ_STR (e->city, "");
    CHECK_EQ_STR (e->county, "Fulton County");

    //  Misses and junk.
    CHECK (catalog_lookup (cat, "00000") == NULL);
    CHECK (catalog_lookup (cat, "7749") == NULL);
    CHECK (catalog_lookup (cat, "774940") == NULL);
    CHECK (catalog_lookup (cat, "7749a") == NULL);
    CHECK (catalog_lookup (cat, "") == NULL);
    CHECK (catalog_lookup (cat, NULL) == NULL);

    //  Every entry: unique zipcode, lookups round-trip, derived values in range.
    long total = 0;
    int lo = 1000, hi = 0;
    for (size_t i = 0; i < catalog_size (cat); i++) {
        const catalog_entry_t *x = catalog_at (cat, i);
        CHECK (catalog_lookup (cat, x->zipcode) == x);
        int n = catalog_expected_listings (x);
        CHECK (n >= 50 && n <= 600);
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
        total += n;
        CHECK (strcmp (catalog_geographic_region (x), "Unknown") != 0);
    }
    CHECK_EQ_INT (lo, 77);
    CHECK_EQ_INT (hi, 600);
    CHECK_EQ_INT (total, 1996908);      //  sum over the shipped catalog (Python oracle)

    //  Formula values checked against the Python oracle.
    CHECK_EQ_INT (catalog_expected_listings (catalog_lookup (cat, "77494")), 557);
    CHECK_EQ_INT (catalog_expected_listings (catalog_lookup (cat, "08701")), 557);
    CHECK_EQ_INT (catalog_expected_listings (catalog_lookup (cat, "77449")), 600);
    CHECK_EQ_INT (catalog_expected_listings (catalog_lookup (cat, "92878")), 91);
    CHECK_EQ_INT (catalog_expected_listings (catalog_lookup (cat, "12085")), 77);
    CHECK_EQ_INT (catalog_expected_listings (catalog_lookup (cat, "81212")), 229);

    //  Larger zipcodes (smaller rank) have more listings on average.
    long sum_big = 0, n_big = 0, sum_small = 0, n_small = 0;
    for (size_t i = 0; i < catalog_size (cat); i++) {
        const catalog_entry_t *x = catalog_at (cat, i);
        if (x->size_rank <= 1000) {
            sum_big += catalog_expected_listings (x);
            n_big++;
        }
        else
        if (x->size_rank > 10000) {
            sum_small += catalog_expected_listings (x);
            n_small++;
        }
    }
    CHECK (n_big > 0 && n_small > 0);
    CHECK (sum_big / n_big > 2 * (sum_small / n_small));

    //  Tier buckets and Census regions.
    CHECK_EQ_STR (catalog_market_tier (catalog_lookup (cat, "77494")), "premium");
    CHECK_EQ_STR (catalog_market_tier (catalog_lookup (cat, "81212")), "standard");
    CHECK_EQ_STR (catalog_market_tier (catalog_lookup (cat, "12085")), "emerging");
    CHECK_EQ_STR (catalog_geographic_region (catalog_lookup (cat, "77494")), "South");
    CHECK_EQ_STR (catalog_geographic_region (catalog_lookup (cat, "08701")), "Northeast");
    CHECK_EQ_STR (catalog_geographic_region (catalog_lookup (cat, "81212")), "West");
    CHECK_EQ_STR (catalog_geographic_region (catalog_lookup (cat, "92878")), "West");
    catalog_destroy (&cat);
    CHECK (cat == NULL);
    catalog_destroy (&cat);
}

static void
s_test_boundaries (void)
{
    catalog_entry_t e = { .zipcode = "00501", .size_rank = 1000, .state = "ZZ" };
    CHECK_EQ_STR (catalog_market_tier (&e), "premium");
    e.size_rank = 1001;
    CHECK_EQ_STR (catalog_market_tier (&e), "standard");
    e.size_rank = 5000;
    CHECK_EQ_STR (catalog_market_tier (&e), "standard");
    e.size_rank = 5001;
    CHECK_EQ_STR (catalog_market_tier (&e), "emerging");
    CHECK_EQ_STR (catalog_geographic_region (&e), "Unknown");
    e.state = "DC";
    CHECK_EQ_STR (catalog_geographic_region (&e), "South");
    e.state = "WA";
    CHECK_EQ_STR (catalog_geographic_region (&e), "West");
    e.state = "IL";
    CHECK_EQ_STR (catalog_geographic_region (&e), "Midwest");
    //  Clamps: a huge rank never goes below 50, a zero rank is treated as 1.
    e.size_rank = 2000000000;
    CHECK_EQ_INT (catalog_expected_listings (&e), 50);
    e.size_rank = 0;
    int n0 = catalog_expected_listings (&e);
    e.size_rank = 1;
    CHECK_EQ_INT (catalog_expected_listings (&e), n0);
}

static void
s_test_parser (void)
{
    char err [256];
    //  Accepted: quotes with comma, "" escapes, CRLF, missing final newline, empty fields.
    catalog_t *c = s_parse (HEADER ROW_A "3,30,12345,zip,CA,CA,\"Say \"\"Hi\"\"\",,\"\"\r\n" ROW_B,
                            err, sizeof err);
    if (!c)
        fprintf (stderr, "unexpected: %s\n", err);
    CHECK (c);
    CHECK_EQ_INT (catalog_size (c), 3);
    CHECK_EQ_STR (catalog_at (c, 0)->metro, "New York-Newark, NY");
    CHECK_EQ_STR (catalog_at (c, 1)->city, "Say \"Hi\"");
    CHECK_EQ_STR (catalog_at (c, 1)->metro, "");
    CHECK_EQ_STR (catalog_at (c, 1)->county, "");
    CHECK_EQ_STR (catalog_lookup (c, "99999")->state, "AK");
    CHECK_EQ_INT (catalog_lookup (c, "99999")->index, 2);
    catalog_destroy (&c);

    //  Trailing newline without a final row and no trailing newline at all.
    c = s_parse (HEADER "2,20,99999,zip,AK,AK,Town,,Borough", err, sizeof err);
    CHECK (c);
    catalog_destroy (&c);

    //  Rejected, each with its reason and line.
    s_reject ("", "line 1: empty input");
    s_reject (HEADER, "no data rows");
    s_reject ("RegionID,SizeRank\n", "expected 9 fields");
    s_reject ("RegionID,SizeRank,Zip,RegionType,StateName,State,City,Metro,CountyName\n" ROW_A,
              "header column 3");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holtsville,Metro\n",
              "line 2: expected 9 fields, found 8");
    s_reject (HEADER ROW_A "1,10,00502,zip,NY,NY,H,M,C,extra\n", "line 3: more than 9 fields");
    s_reject (HEADER "1,10,00501,zip,NY,NY,\"Holtsville,M,C\n", "line break inside a quoted field");
    s_reject (HEADER "1,10,00501,zip,NY,NY,\"Holtsville", "unterminated quoted field");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holt\"sville,M,C\n", "quote inside an unquoted field");
    s_reject (HEADER "1,10,00501,zip,NY,NY,\"Holts\"ville,M,C\n", "bytes after a closing quote");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holts\rville,M,C\n", "carriage return");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holts\tville,M,C\n", "control byte 0x09");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holts\xffville,M,C\n", "invalid UTF-8");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holts\xc0\xafville,M,C\n", "invalid UTF-8");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holts\xed\xa0\x80ville,M,C\n", "invalid UTF-8");
    s_reject (HEADER "1,10,00501,zip,NY,NY,Holts\xe2\x82,M,C\n", "invalid UTF-8");
    s_reject (HEADER "x,10,00501,zip,NY,NY,H,M,C\n", "RegionID is not a number");
    s_reject (HEADER "1,0,00501,zip,NY,NY,H,M,C\n", "SizeRank is not a positive number");
    s_reject (HEADER "1,-3,00501,zip,NY,NY,H,M,C\n", "SizeRank is not a positive number");
    s_reject (HEADER "1,1234567890,00501,zip,NY,NY,H,M,C\n", "SizeRank is not a positive number");
    s_reject (HEADER "1,10,501,zip,NY,NY,H,M,C\n", "RegionName is not a 5-digit zipcode");
    s_reject (HEADER "1,10,0050a,zip,NY,NY,H,M,C\n", "RegionName is not a 5-digit zipcode");
    s_reject (HEADER "1,10,00501,zip,NY,New York,H,M,C\n", "State is not a 2-letter code");
    s_reject (HEADER "1,10,00501,zip,NY,ny,H,M,C\n", "State is not a 2-letter code");
    s_reject (HEADER "1,10,00501,,NY,NY,H,M,C\n", "empty RegionType");
    s_reject (HEADER ROW_A ROW_B ROW_A, "line 4: duplicate zipcode 00501");
    s_reject (HEADER ROW_A "\n", "line 3: expected 9 fields, found 1");

    //  A field of exactly CATALOG_MAX_FIELD bytes is fine; one more is not.
    char big [CATALOG_MAX_FIELD + 200];
    char city [CATALOG_MAX_FIELD + 2];
    memset (city, 'a', sizeof city);
    city [CATALOG_MAX_FIELD] = 0;
    snprintf (big, sizeof big, HEADER "1,10,00501,zip,NY,NY,%s,M,C\n", city);
    c = s_parse (big, err, sizeof err);
    CHECK (c);
    CHECK_EQ_INT (strlen (catalog_at (c, 0)->city), CATALOG_MAX_FIELD);
    catalog_destroy (&c);
    city [CATALOG_MAX_FIELD] = 'a';
    city [CATALOG_MAX_FIELD + 1] = 0;
    snprintf (big, sizeof big, HEADER "1,10,00501,zip,NY,NY,%s,M,C\n", city);
    s_reject (big, "field longer than");

    //  Oversized input is refused before any parsing.
    CHECK (catalog_new_from_buffer (HEADER, CATALOG_MAX_BYTES + 1u, err, sizeof err) == NULL);
    CHECK (strstr (err, "exceeds"));

    //  NUL bytes inside the data are control bytes, not terminators.
    const char nul [] = HEADER "1,10,00501,zip,NY,NY,H\0x,M,C\n";
    CHECK (catalog_new_from_buffer (nul, sizeof nul - 1, err, sizeof err) == NULL);
    CHECK (strstr (err, "control byte 0x00"));

    //  err may be NULL.
    CHECK (catalog_new_from_buffer ("junk", 4, NULL, 0) == NULL);
}

int
main (void)
{
    s_test_embedded ();
    s_test_boundaries ();
    s_test_parser ();
    TEST_DONE ();
}
