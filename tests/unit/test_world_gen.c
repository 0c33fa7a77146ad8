/*  world_gen: the generator is deterministic (same seed, same bytes; another seed, other
    bytes), zpids are unique across the whole universe and resolve back to their property,
    every zipcode has exactly catalog_expected_listings properties, and every value lies in
    its documented range, inside the zipcode's city and state, and passes the tier-2
    "reasonable values" bounds (DESIGN.md section 8).                                         */
#include "workers/world/world_gen.h"
#include "tests/testutil.h"

#include <jansson.h>

#include <time.h>

static int
s_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char * const *) a, *(char * const *) b);
}

//  Serialises every property of entry under seed into one heap string.
static char *
s_dump_zip (uint64_t seed, const catalog_entry_t *e)
{
    size_t cap = (size_t) world_gen_count (e) * WORLD_GEN_JSON_MAX + 1, n = 0;
    char *text = malloc (cap);
    CHECK (text);
    for (int i = 0; i < world_gen_count (e); i++) {
        world_property_t p;
        CHECK_EQ_INT (world_gen_property (seed, e, i, &p), 0);
        int w = world_gen_property_render (&p, "http://w", text + n, cap - n);
        CHECK (w > 0);
        n += (size_t) w;
    }
    return text;
}

static void
s_test_prng (void)
{
    //  splitmix64 reference outputs for state 0: 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4.
    CHECK (world_gen_mix (0) == 0xe220a8397b1dcdafull);
    CHECK (world_gen_draw (0, 1) == 0x6e789e6aa1b965f4ull);
    CHECK (world_gen_draw (0, 0) == 0xe220a8397b1dcdafull);
}

static void
s_test_determinism (const catalog_t *cat)
{
    size_t n = catalog_size (cat);
    int differing = 0, compared = 0;
    for (size_t k = 0; k < n; k += 379) {
        const catalog_entry_t *e = catalog_at (cat, k);
        char *a = s_dump_zip (46, e);
        char *b = s_dump_zip (46, e);
        char *c = s_dump_zip (47, e);
        CHECK_EQ_STR (a, b);
        compared++;
        if (strcmp (a, c) != 0)
            differing++;
        free (a);
        free (b);
        free (c);
    }
    CHECK (compared >= 20);
    CHECK_EQ_INT (differing, compared);

    //  Per property: another seed changes most fields, never the zpid.
    const catalog_entry_t *e = catalog_lookup (cat, "77494");
    int same_price = 0;
    for (int i = 0; i < world_gen_count (e); i++) {
        world_property_t p, q;
        world_gen_property (46, e, i, &p);
        world_gen_property (47, e, i, &q);
        CHECK_EQ_INT (p.zpid, q.zpid);
        same_price += p.price == q.price;
    }
    CHECK (same_price < world_gen_count (e) / 10);
}

static void
s_test_zpids (const catalog_t *cat)
{
    size_t n = catalog_size (cat);
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += (size_t) world_gen_count (catalog_at (cat, k));
    CHECK_EQ_INT (total, 1996908);
    int64_t *all = malloc (total * sizeof *all);
    CHECK (all);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const catalog_entry_t *e = catalog_at (cat, k);
        CHECK_EQ_INT (world_gen_count (e), catalog_expected_listings (e));
        for (int i = 0; i < world_gen_count (e); i++) {
            all [m] = world_gen_zpid (e, i);
            const catalog_entry_t *found;
            int fi;
            CHECK (world_gen_locate (cat, all [m], &found, &fi) == 0);
            CHECK (found == e && fi == i);
            m++;
        }
    }
    qsort (all, total, sizeof *all, s_cmp_i64);
    for (size_t k = 1; k < total; k++)
        CHECK (all [k] != all [k - 1]);
    free (all);

    //  zpids that name nothing.
    const catalog_entry_t *e;
    int i;
    CHECK_EQ_INT (world_gen_locate (cat, 0, &e, &i), -1);
    CHECK_EQ_INT (world_gen_locate (cat, 9999, &e, &i), -1);
    CHECK_EQ_INT (world_gen_locate (cat, -10001, &e, &i), -1);
    const catalog_entry_t *first = catalog_at (cat, 0);
    CHECK_EQ_INT (world_gen_locate (cat, 10000 + world_gen_count (first), &e, &i), -1);
    CHECK_EQ_INT (world_gen_locate (cat, 10000 + world_gen_count (first) - 1, &e, &i), 0);
    CHECK_EQ_INT (world_gen_locate (cat, (int64_t) (n + 1) * 10000, &e, &i), -1);
    CHECK_EQ_INT (world_gen_locate (cat, INT64_MAX, &e, &i), -1);
    CHECK_EQ_INT (world_gen_locate (cat, (int64_t) n * 10000, &e, &i), 0);
    CHECK (e == catalog_at (cat, n - 1) && i == 0);

    world_property_t p;
    CHECK_EQ_INT (world_gen_property (46, first, -1, &p), -1);
    CHECK_EQ_INT (world_gen_property (46, first, world_gen_count (first), &p), -1);
}

static void
s_test_values (const catalog_t *cat)
{
    size_t n = catalog_size (cat);
    int types [4] = { 0 }, statuses [4] = { 0 };
    for (size_t k = 0; k < n; k += 7) {
        const catalog_entry_t *e = catalog_at (cat, k);
        int count = world_gen_count (e);
        char **addresses = calloc ((size_t) count, sizeof *addresses);
        CHECK (addresses);
        const char *city = *e->city ? e->city : e->county;
        char tail [CATALOG_MAX_FIELD + 32];
        snprintf (tail, sizeof tail, ", %s, %s %s", city, e->state, e->zipcode);
        for (int i = 0; i < count; i++) {
            world_property_t p;
            CHECK_EQ_INT (world_gen_property (46, e, i, &p), 0);
            CHECK_EQ_INT (p.zpid, world_gen_zpid (e, i));
            CHECK_EQ_STR (p.zipcode, e->zipcode);
            CHECK_EQ_STR (p.state, e->state);
            CHECK_EQ_STR (p.city, city);
            size_t al = strlen (p.address), tl = strlen (tail);
            CHECK (al > tl && strcmp (p.address + al - tl, tail) == 0);
            CHECK (strncmp (p.address, p.street, strlen (p.street)) == 0);
            CHECK (p.bedrooms >= 1 && p.bedrooms <= 8);
            CHECK (p.bathrooms_x2 >= 2 && p.bathrooms_x2 <= 12);
            CHECK (p.sqft >= 400 && p.sqft <= 8000);
            CHECK (p.price >= 10000 && p.price <= 50000000 && p.price % 1000 == 0);
            CHECK (p.days_on_market >= 1 && p.days_on_market <= 90);
            //  listing_date = reference day - days_on_market
            struct tm tm = { 0 };
            CHECK (strptime (p.listing_date, "%Y-%m-%d", &tm) != NULL);
            int64_t day = (int64_t) timegm (&tm) / 86400;
            CHECK_EQ_INT (day, WORLD_GEN_REFERENCE_DAY - p.days_on_market);
            char mls [32];
            snprintf (mls, sizeof mls, "ZM%lld", (long long) p.zpid);
            CHECK_EQ_STR (p.mls_id, mls);
            const char *tnames [] = { "SINGLE_FAMILY", "CONDO", "TOWNHOUSE", "MULTI_FAMILY" };
            const char *snames [] = { "FOR_SALE", "PENDING", "CONTINGENT", "COMING_SOON" };
            int t = -1, s = -1;
            for (int j = 0; j < 4; j++) {
                if (strcmp (p.property_type, tnames [j]) == 0)
                    t = j;
                if (strcmp (p.listing_status, snames [j]) == 0)
                    s = j;
            }
            CHECK (t >= 0 && s >= 0);
            types [t]++;
            statuses [s]++;
            CHECK ((t == 1) == (strstr (p.street, " Unit ") != NULL));
            addresses [i] = strdup (p.address);
        }
        //  No two properties of a zipcode share an address (tier 2 counts duplicates).
        qsort (addresses, (size_t) count, sizeof *addresses, s_cmp_str);
        for (int i = 1; i < count; i++)
            CHECK (strcmp (addresses [i], addresses [i - 1]) != 0);
        for (int i = 0; i < count; i++)
            free (addresses [i]);
        free (addresses);
    }
    for (int j = 0; j < 4; j++)
        CHECK (types [j] > 1000 && statuses [j] > 1000);

    //  Premium zipcodes are dearer per square foot than emerging ones.
    const catalog_entry_t *rich = catalog_lookup (cat, "77494");
    const catalog_entry_t *poor = catalog_lookup (cat, "12085");
    double ppsf_rich = 0, ppsf_poor = 0;
    for (int i = 0; i < world_gen_count (poor); i++) {
        world_property_t a, b;
        world_gen_property (46, rich, i, &a);
        world_gen_property (46, poor, i, &b);
        ppsf_rich += (double) a.price / a.sqft;
        ppsf_poor += (double) b.price / b.sqft;
    }
    CHECK (ppsf_rich > 2 * ppsf_poor);

    //  A zipcode without a city uses its county.
    const catalog_entry_t *nocity = catalog_lookup (cat, "30349");
    world_property_t p;
    world_gen_property (46, nocity, 0, &p);
    CHECK_EQ_STR (p.city, "Fulton County");
    CHECK (strstr (p.address, ", Fulton County, GA 30349"));
}

static json_t *
s_render_parse (const world_property_t *p, const char *url)
{
    char buf [WORLD_GEN_JSON_MAX];
    int n = world_gen_property_render (p, url, buf, sizeof buf);
    CHECK (n > 0 && (size_t) n == strlen (buf));
    json_error_t jerr;
    json_t *doc = json_loads (buf, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fprintf (stderr, "render is not JSON: %s: %s\n", jerr.text, buf);
    CHECK (doc);
    return doc;
}

static void
s_test_json (const catalog_t *cat)
{
    const catalog_entry_t *e = catalog_lookup (cat, "08701");
    world_property_t p;
    CHECK_EQ_INT (world_gen_property (46, e, 3, &p), 0);
    json_t *doc = s_render_parse (&p, "http://127.0.0.1:8090");
    const char *keys [] = { "zpid", "mls_id", "address", "street", "city", "state", "zipcode",
                            "price", "bedrooms", "bathrooms", "sqft", "listing_date",
                            "property_type", "listing_status", "days_on_market", "source_url" };
    //  Fixed key order (jansson keeps insertion order), no scraped_timestamp.
    size_t idx = 0;
    const char *key;
    json_t *value;
    json_object_foreach (doc, key, value) {
        CHECK (idx < 16);
        CHECK_EQ_STR (key, keys [idx]);
        idx++;
    }
    CHECK_EQ_INT (idx, 16);
    CHECK (!json_object_get (doc, "scraped_timestamp"));
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "zpid")), 20003);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "zipcode")), "08701");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "address")), p.address);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "city")), "Lakewood");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "listing_date")), p.listing_date);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "property_type")), p.property_type);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "listing_status")), p.listing_status);
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "source_url")),
                  "http://127.0.0.1:8090/property/20003");
    CHECK (json_is_real (json_object_get (doc, "bathrooms")));
    CHECK (json_real_value (json_object_get (doc, "bathrooms")) == p.bathrooms_x2 / 2.0);
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "price")), p.price);
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "bedrooms")), p.bedrooms);
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "sqft")), p.sqft);
    CHECK_EQ_INT (json_integer_value (json_object_get (doc, "days_on_market")), p.days_on_market);
    json_decref (doc);

    //  Escaping: quotes, backslashes and control bytes in text fields stay valid JSON.
    snprintf (p.city, sizeof p.city, "Say \"hi\" \\ \x01 Ca\xc2\xa6on");
    doc = s_render_parse (&p, "http://w");
    CHECK_EQ_STR (json_string_value (json_object_get (doc, "city")), p.city);
    json_decref (doc);

    //  Too small a buffer: -1 and an empty string, never an overflow.
    char small [64];
    CHECK_EQ_INT (world_gen_property_render (&p, "http://w", small, sizeof small), -1);
    CHECK_EQ_STR (small, "");

    //  Every rendering of a sample fits WORLD_GEN_JSON_MAX and parses.
    for (size_t k = 0; k < catalog_size (cat); k += 101) {
        const catalog_entry_t *x = catalog_at (cat, k);
        world_gen_property (46, x, 0, &p);
        doc = s_render_parse (&p, "http://a-rather-long-public-url.example.com:65535/base");
        CHECK_EQ_STR (json_string_value (json_object_get (doc, "zipcode")), x->zipcode);
        json_decref (doc);
    }
}

int
main (void)
{
    catalog_t *cat = catalog_new ();
    CHECK (cat);
    s_test_prng ();
    s_test_determinism (cat);
    s_test_zpids (cat);
    s_test_values (cat);
    s_test_json (cat);
    catalog_destroy (&cat);
    TEST_DONE ();
}
