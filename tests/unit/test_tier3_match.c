/*  tier3_matches, the verification rule, field by field and at its edges: price and sqft
    within 5 % of the source's (exactly 5 % in, just over out, either direction), beds and
    baths equal (2.5 is not 2), same property_type and listing_status, the source in the
    assigned zipcode; missing or mistyped claimed fields are not verified. And tier3_new's
    configuration checks, and the tier_outcome metric list (sorted, replaced in place).    */
#include "tests/testutil.h"
#include "workers/tier3/tier3.h"

#include <math.h>
#include <string.h>

static json_t *
s_source (void)
{
    return json_pack ("{s:i, s:s, s:i, s:i, s:f, s:i, s:s, s:s}", "zpid", 10000,
                      "zipcode", "77494", "price", 500000, "bedrooms", 4, "bathrooms", 2.5,
                      "sqft", 2000, "property_type", "SINGLE_FAMILY",
                      "listing_status", "FOR_SALE");
}

static bool
s_with (const char *field, json_t *value)
{
    json_t *src = s_source ();
    json_t *claimed = json_deep_copy (src);
    if (value)
        json_object_set_new (claimed, field, value);
    else
        json_object_del (claimed, field);
    bool ok = tier3_matches (claimed, src, "77494");
    json_decref (src);
    json_decref (claimed);
    return ok;
}

int
main (void)
{
    json_t *src = s_source ();
    CHECK (tier3_matches (src, src, "77494"));
    CHECK (!tier3_matches (src, src, "77495"));     //  not in the assigned zipcode
    json_decref (src);

    CHECK (s_with ("price", json_integer (525000)));    //  +5 % exactly
    CHECK (s_with ("price", json_integer (475000)));    //  -5 % exactly
    CHECK (!s_with ("price", json_integer (525001)));
    CHECK (!s_with ("price", json_integer (474999)));
    CHECK (s_with ("price", json_real (500000.0)));
    CHECK (!s_with ("price", json_string ("500000")));
    CHECK (!s_with ("price", NULL));
    CHECK (s_with ("sqft", json_integer (2100)));
    CHECK (!s_with ("sqft", json_integer (2101)));
    CHECK (!s_with ("sqft", json_integer (1899)));
    CHECK (s_with ("bedrooms", json_real (4.0)));
    CHECK (!s_with ("bedrooms", json_integer (5)));
    CHECK (!s_with ("bathrooms", json_integer (2)));
    CHECK (!s_with ("bathrooms", json_integer (3)));
    CHECK (!s_with ("bathrooms", NULL));
    CHECK (!s_with ("property_type", json_string ("CONDO")));
    CHECK (!s_with ("property_type", json_string ("single_family")));
    CHECK (!s_with ("listing_status", json_string ("SOLD")));
    CHECK (!s_with ("listing_status", json_null ()));
    CHECK (s_with ("address", json_string ("anything")));   //  not compared
    CHECK (s_with ("zipcode", json_string ("77495")));      //  the source's zipcode counts

    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    tier3_options_t o = { .verifier = "http", .source_url = "http://127.0.0.1:1/",
                          .timeout_ms = 100, .attempts = 1, .rate_per_minute = 60 };
    tier3_t *t = tier3_new (&o, &scoring);
    CHECK (t);
    tier3_destroy (&t);
    CHECK (t == NULL);
    tier3_destroy (&t);
    o.source_url = "";
    CHECK (tier3_new (&o, &scoring) == NULL);
    o.verifier = "command";
    o.command = "'unclosed";
    CHECK (tier3_new (&o, &scoring) == NULL);
    o.command = "/bin/true --flag";
    t = tier3_new (&o, &scoring);
    CHECK (t);
    tier3_destroy (&t);

    tier_outcome_t out;
    memset (&out, 0, sizeof out);
    tier_outcome_metric (&out, "verified", 3);
    tier_outcome_metric (&out, "checked", 4);
    tier_outcome_metric (&out, "sampled", 4);
    tier_outcome_metric (&out, "checked", 5);
    CHECK_EQ_INT (out.nmetrics, 3);
    CHECK_EQ_STR (out.metrics [0].name, "checked");
    CHECK_EQ_STR (out.metrics [1].name, "sampled");
    CHECK_EQ_STR (out.metrics [2].name, "verified");
    CHECK (tier_outcome_get (&out, "checked") == 5.0);
    CHECK (isnan (tier_outcome_get (&out, "nope")));
    TEST_DONE ();
}
