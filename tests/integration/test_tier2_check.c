/*  tier2 against real PostgreSQL, in process (tier_process with tier2_check). 100 honest
    listings pass; then each criterion fails alone, at its edge, with every other metric
    still passing:
      - completeness: 10 listings without source_url (0.90) pass, 11 (0.89) fail; "" and
        "  " count as missing, and mls_id stands in for zpid;
      - reasonable: 5 prices of 5,000 (0.95) pass, 6 fail; bedrooms 21 is out of range;
      - consistency: scraped_timestamp 24 h before the deadline exactly is in, 1 s earlier
        (11 listings) or after the deadline fails; a listing_date that is no date fails;
        the validator's own clock plays no part (the deadline is in the past of no one);
      - duplicates: 5 (0.05) pass, 6 fail; the key ignores address case and blanks;
      - one listing in another zipcode fails the whole submission.
    The metrics stored in validator_tier_results and sent equal those computed, bit for bit,
    and a restarted tier re-sends them unchanged. tier2_iso_ms is checked on its own.       */
#include "tests/integration/test_tier1_lib.h"
#include "workers/tier2/tier2.h"

#define N 100

//  An honest listing i of 10001, scraped 1 h before the deadline.
static json_t *
s_listing (int i)
{
    char addr [64], url [64];
    snprintf (addr, sizeof addr, "%d Main St, New York, NY 10001", i + 1);
    snprintf (url, sizeof url, "http://world.test/property/%d", 1000 + i);
    return json_pack ("{s:i, s:s, s:i, s:i, s:f, s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
                      "zpid", 1000 + i, "address", addr, "price", 300000 + i * 1000,
                      "bedrooms", 3, "bathrooms", 2.5, "sqft", 1500 + i,
                      "listing_date", "2026-10-01", "property_type", "SINGLE_FAMILY",
                      "listing_status", "FOR_SALE", "days_on_market", 20,
                      "source_url", url, "scraped_timestamp", "2026-11-25T15:00:00Z",
                      "zipcode", "10001");
}

static json_t *
s_honest (void)
{
    json_t *a = json_array ();
    for (int i = 0; i < N; i++)
        json_array_append_new (a, s_listing (i));
    return a;
}

typedef struct {
    tier_t *tier;
    db_t *db;
    zsock_t *co;
    int serial;
} s_ctx_t;

//  Stores listings as a new submission, judges it, checks the stored row and the message.
static proto_tier_result_t
s_judge (s_ctx_t *c, json_t *listings, int want_pass, const char *want_reason)
{
    char hotkey [32];
    snprintf (hotkey, sizeof hotkey, "hk%d", ++c->serial);
    int64_t id = tt_submission (c->db, TT_EPOCH, hotkey, "10001", "2026-11-25T15:00:00Z",
                                listings);
    json_decref (listings);
    proto_tier_result_t r, got;
    CHECK_EQ_INT (tier_process (c->tier, id, &r), 0);
    if ((int) r.verdict != (want_pass ? PROTO_VERDICT_PASS : PROTO_VERDICT_FAIL))
        fprintf (stderr, "case %d: verdict %s reason %s\n", c->serial,
                 proto_verdict_name ((int) r.verdict), r.reason);
    CHECK_EQ_INT ((int) r.verdict, want_pass ? PROTO_VERDICT_PASS : PROTO_VERDICT_FAIL);
    CHECK_EQ_STR (r.reason, want_reason);
    CHECK_EQ_INT (tt_stored (c->db, id, 2), want_pass);
    CHECK_EQ_INT (tt_recv_result (c->co, &got, 0), 0);
    CHECK (proto_tier_result_equal (&r, &got));
    CHECK_EQ_INT (r.nmetrics, 6);
    return r;
}

static double
s_metric (const proto_tier_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (strcmp (r->metrics [i].name, name) == 0)
            return r->metrics [i].value;
    fprintf (stderr, "metric %s missing\n", name);
    CHECK (0);
    return 0;
}

static void
s_set (json_t *a, int i, const char *field, json_t *v)
{
    json_object_set_new (json_array_get (a, (size_t) i), field, v);
}

int
main (void)
{
    //  tier2_iso_ms
    int64_t ms;
    CHECK_EQ_INT (tier2_iso_ms ("2026-11-25T16:00:00Z", &ms), 0);
    CHECK (ms == TT_DEADLINE_MS);
    CHECK_EQ_INT (tier2_iso_ms ("2026-11-25T17:30:00+01:30", &ms), 0);
    CHECK (ms == TT_DEADLINE_MS);
    CHECK_EQ_INT (tier2_iso_ms ("2026-11-25T16:00:00.999", &ms), 0);
    CHECK (ms == TT_DEADLINE_MS);
    CHECK_EQ_INT (tier2_iso_ms ("2026-11-25", &ms), 0);
    CHECK (ms == TT_DEADLINE_MS - 16 * 3600 * 1000LL);
    CHECK (tier2_iso_ms ("2026-02-30T00:00:00Z", &ms) != 0);
    CHECK (tier2_iso_ms ("yesterday", &ms) != 0);
    CHECK (tier2_iso_ms ("", &ms) != 0);

    db_t *db = tt_setup ("tier2");
    tt_epoch (db, TT_EPOCH, "10001", N);
    zsock_t *co_push, *next_push;
    zsock_t *co = tt_pair ("consensus", &co_push);
    zsock_t *next = tt_pair ("tier3", &next_push);
    scoring_cfg_t scoring;
    scoring_cfg_defaults (&scoring);
    db_t *tdb = tt_connect ();
    s_ctx_t c = { .tier = tier_new (2, &tdb, tier2_check, &scoring), .db = db, .co = co };
    tier_set_outputs (c.tier, next_push, co_push);

    //  honest
    proto_tier_result_t r = s_judge (&c, s_honest (), 1, "");
    CHECK (s_metric (&r, "completeness") == 1.0 && s_metric (&r, "reasonable") == 1.0);
    CHECK (s_metric (&r, "consistency") == 1.0 && s_metric (&r, "duplicate_rate") == 0.0);
    CHECK (s_metric (&r, "zipcodes_match") == 1.0 && s_metric (&r, "listings") == N);
    proto_submission_ready_t ready;
    CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
    proto_tier_result_t honest = r;
    int64_t honest_id = (int64_t) r.submission_id;

    //  completeness
    json_t *a = s_honest ();
    for (int i = 0; i < 10; i++)
        json_object_del (json_array_get (a, (size_t) i), "source_url");
    s_set (a, 50, "zpid", json_null ());
    s_set (a, 50, "mls_id", json_string ("ZM50"));
    r = s_judge (&c, a, 1, "");
    CHECK (s_metric (&r, "completeness") == 0.9);
    CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
    a = s_honest ();
    for (int i = 0; i < 9; i++)
        json_object_del (json_array_get (a, (size_t) i), "source_url");
    s_set (a, 20, "address", json_string ("  "));
    s_set (a, 21, "listing_status", json_string (""));
    r = s_judge (&c, a, 0, "completeness");
    CHECK (s_metric (&r, "completeness") == 0.89);
    CHECK (s_metric (&r, "reasonable") == 1.0 && s_metric (&r, "consistency") == 1.0);
    CHECK (s_metric (&r, "duplicate_rate") == 0.0);
    usleep (50000);
    CHECK (tt_recv_ready (next, &ready, ZMQ_DONTWAIT) != 0);

    //  reasonable
    a = s_honest ();
    for (int i = 0; i < 5; i++)
        s_set (a, i, "price", json_integer (5000 + i));
    r = s_judge (&c, a, 1, "");
    CHECK (s_metric (&r, "reasonable") == 0.95);
    CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
    a = s_honest ();
    for (int i = 0; i < 5; i++)
        s_set (a, i, "price", json_integer (5000 + i));
    s_set (a, 60, "bedrooms", json_integer (21));
    r = s_judge (&c, a, 0, "reasonable");
    CHECK (s_metric (&r, "reasonable") == 0.94 && s_metric (&r, "completeness") == 1.0);
    CHECK (s_metric (&r, "consistency") == 1.0 && s_metric (&r, "duplicate_rate") == 0.0);

    //  consistency: the edges of the 24 h window before the deadline
    a = s_honest ();
    s_set (a, 0, "scraped_timestamp", json_string ("2026-11-24T16:00:00Z"));
    s_set (a, 1, "scraped_timestamp", json_string ("2026-11-25T16:00:00Z"));
    for (int i = 2; i < 12; i++)
        s_set (a, i, "scraped_timestamp", json_string ("2026-11-24T15:59:59Z"));
    r = s_judge (&c, a, 1, "");
    CHECK (s_metric (&r, "consistency") == 0.9);
    CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
    a = s_honest ();
    for (int i = 2; i < 12; i++)
        s_set (a, i, "scraped_timestamp", json_string ("2026-11-24T15:59:59Z"));
    s_set (a, 40, "scraped_timestamp", json_string ("2026-11-25T16:00:01Z"));
    r = s_judge (&c, a, 0, "consistency");
    CHECK (s_metric (&r, "consistency") == 0.89 && s_metric (&r, "completeness") == 1.0);
    CHECK (s_metric (&r, "reasonable") == 1.0 && s_metric (&r, "duplicate_rate") == 0.0);
    a = s_honest ();
    for (int i = 0; i < 11; i++)
        s_set (a, i, "listing_date", json_string ("2026-13-01"));
    r = s_judge (&c, a, 0, "consistency");
    CHECK (s_metric (&r, "consistency") == 0.89);

    //  duplicates: address case and blanks do not hide a duplicate
    a = s_honest ();
    for (int i = 0; i < 5; i++) {
        s_set (a, 90 + i, "address", json_string ("  1 MAIN st, New York, NY 10001 "));
        s_set (a, 90 + i, "price", json_integer (300000));
    }
    r = s_judge (&c, a, 1, "");
    CHECK (s_metric (&r, "duplicate_rate") == 0.05);
    CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);
    a = s_honest ();
    for (int i = 0; i < 6; i++) {
        s_set (a, 90 + i, "address", json_string ("1 main st, new york, ny 10001"));
        //  300000.0 is the same price as 300000
        s_set (a, 90 + i, "price", i % 2 ? json_integer (300000) : json_real (300000.0));
    }
    r = s_judge (&c, a, 0, "duplicates");
    CHECK (s_metric (&r, "duplicate_rate") == 0.06 && s_metric (&r, "completeness") == 1.0);
    CHECK (s_metric (&r, "reasonable") == 1.0 && s_metric (&r, "consistency") == 1.0);
    //  same address, other price: not a duplicate
    a = s_honest ();
    for (int i = 0; i < 6; i++)
        s_set (a, 90 + i, "address", json_string ("1 main st, new york, ny 10001"));
    r = s_judge (&c, a, 1, "");
    CHECK_EQ_INT (tt_recv_ready (next, &ready, 0), 0);

    //  one listing elsewhere
    a = s_honest ();
    s_set (a, 33, "zipcode", json_string ("10002"));
    r = s_judge (&c, a, 0, "wrong_zipcode");
    CHECK (s_metric (&r, "zipcodes_match") == 0.0 && s_metric (&r, "completeness") == 1.0);

    //  a restarted tier re-sends the stored metrics bit for bit
    tier_destroy (&c.tier);
    tdb = tt_connect ();
    c.tier = tier_new (2, &tdb, tier2_check, &scoring);
    tier_set_outputs (c.tier, next_push, co_push);
    proto_tier_result_t again;
    CHECK_EQ_INT (tier_process (c.tier, honest_id, NULL), 0);
    CHECK_EQ_INT (tt_recv_result (co, &again, 0), 0);
    CHECK (proto_tier_result_equal (&again, &honest));
    //  and recomputing from scratch (row deleted) gives the same bits again
    CHECK_EQ_INT (db_exec (db, "DELETE FROM validator_tier_results", 0, NULL, NULL), 0);
    CHECK_EQ_INT (tier_process (c.tier, honest_id, NULL), 0);
    CHECK_EQ_INT (tt_recv_result (co, &again, 0), 0);
    CHECK (proto_tier_result_equal (&again, &honest));

    tier_destroy (&c.tier);
    zsock_destroy (&co);
    zsock_destroy (&co_push);
    zsock_destroy (&next);
    zsock_destroy (&next_push);
    tt_teardown (&db);
    TEST_DONE ();
}
