/*  assign: counts, weighting toward large zipcodes, cooldown, target band, determinism.  */
#include "workers/coordinator/assign.h"
#include "tests/testutil.h"

typedef struct {
    const char *zips [64];
    size_t n;
} s_cool_t;

static bool
s_cooling (const char *zipcode, void *arg)
{
    s_cool_t *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp (c->zips [i], zipcode) == 0)
            return true;
    return false;
}

static int
s_cmp_int (const void *a, const void *b)
{
    return *(const int32_t *) a - *(const int32_t *) b;
}

int
main (void)
{
    catalog_t *cat = catalog_new ();
    CHECK (cat);
    assign_params_t params = { .count = 25, .target = 8500, .tolerance_pct = 10 };
    assign_pick_t a [25], b [25];
    int64_t total_a, total_b;
    bool within;

    size_t n = assign_select (cat, &params, NULL, NULL, 42, a, &total_a, &within);
    CHECK_EQ_INT (n, 25);
    CHECK (within);
    CHECK (total_a >= 7650 && total_a <= 9350);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += a [i].expected;
        CHECK_EQ_INT (a [i].expected, catalog_expected_listings (a [i].entry));
        for (size_t j = 0; j < i; j++)
            CHECK (strcmp (a [i].entry->zipcode, a [j].entry->zipcode) != 0);
    }
    CHECK_EQ_INT (sum, total_a);

    //  same seed, same draw; other seed, other draw
    assign_select (cat, &params, NULL, NULL, 42, b, &total_b, &within);
    for (size_t i = 0; i < 25; i++)
        CHECK (a [i].entry == b [i].entry);
    assign_select (cat, &params, NULL, NULL, 43, b, &total_b, &within);
    size_t same = 0;
    for (size_t i = 0; i < 25; i++)
        for (size_t j = 0; j < 25; j++)
            same += a [i].entry == b [j].entry;
    CHECK (same < 10);

    //  cooling zipcodes are never drawn
    s_cool_t cool = { .n = 0 };
    for (size_t i = 0; i < 25; i++)
        cool.zips [cool.n++] = a [i].entry->zipcode;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        assign_select (cat, &params, s_cooling, &cool, 42, b, &total_b, &within);
        for (size_t i = 0; i < 25; i++)
            CHECK (!s_cooling (b [i].entry->zipcode, &cool));
    }

    //  weighting: more than half the picks rank among the larger half of the catalog
    size_t size = catalog_size (cat);
    int32_t *ranks = malloc (size * sizeof *ranks);
    for (size_t i = 0; i < size; i++)
        ranks [i] = catalog_at (cat, i)->size_rank;
    qsort (ranks, size, sizeof *ranks, s_cmp_int);
    int32_t median = ranks [size / 2];
    free (ranks);
    int64_t larger = 0, picks = 0;
    for (uint64_t seed = 100; seed < 200; seed++) {
        assign_select (cat, &params, NULL, NULL, seed, b, &total_b, &within);
        for (size_t i = 0; i < 25; i++, picks++)
            larger += b [i].entry->size_rank < median;
    }
    printf ("picks among the larger half of zipcodes: %lld %%\n", (long long) (larger * 100 / picks));
    CHECK (larger * 100 / picks >= 60);

    //  an impossible target: best effort, reported as outside the band
    assign_params_t far = { .count = 3, .target = 100000, .tolerance_pct = 1 };
    n = assign_select (cat, &far, NULL, NULL, 7, a, &total_a, &within);
    CHECK_EQ_INT (n, 3);
    CHECK (!within);
    CHECK (total_a <= 1800);
    catalog_destroy (&cat);
    TEST_DONE ();
}
