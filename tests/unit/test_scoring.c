/*  common/scoring: tier-1 bounds (values from CPython: int(E * 0.85), int(E * 1.15)), tier-2
    and tier-3 thresholds at their edges, and one hand-built epoch whose scores, weights and
    consensus hash were printed by tests/python/scoring_oracle.py:
      19103: A t1 100 pass, B t2 fail, C t2 110 pass, D t3 95 pass, E t4 pass (after 3 winners)
      19104: F t1 fail, B t5 200 pass, A t5 50 pass (tie: A first), A t6 again (ignored)
      02110: G t1 fail
    Winners A, C, D (19103) and A, B (19104); participants F, G (B won elsewhere); E ignored.
    Also the refusals (duplicate zipcodes, invalid UTF-8, negative counts) and the empty result.
*/

#include "common/scoring.h"
#include "tests/testutil.h"

#include <math.h>

int
main (void)
{
    scoring_cfg_t cfg;
    scoring_cfg_defaults (&cfg);
    int64_t lo, hi;

    //  Tier 1: E = 100 gives 85..114 (100 * 1.15 = 114.99999999999999).
    CHECK (scoring_tier1_bounds (&cfg, 100, &lo, &hi) == 0);
    CHECK_EQ_INT (lo, 85);
    CHECK_EQ_INT (hi, 114);
    CHECK (scoring_tier1_bounds (&cfg, 1, &lo, &hi) == 0);
    CHECK_EQ_INT (lo, 0);
    CHECK_EQ_INT (hi, 1);
    CHECK (scoring_tier1_bounds (&cfg, 20, &lo, &hi) == 0);      //  int(17.0), int(23.0)
    CHECK_EQ_INT (lo, 17);
    CHECK_EQ_INT (hi, 23);
    CHECK (scoring_tier1_bounds (&cfg, 180, &lo, &hi) == 0);     //  180 * 1.15 = 206.99999999999997
    CHECK_EQ_INT (lo, 153);
    CHECK_EQ_INT (hi, 206);
    CHECK (scoring_tier1_bounds (&cfg, -100, &lo, &hi) == 0);    //  truncation toward zero
    CHECK_EQ_INT (lo, -85);
    CHECK_EQ_INT (hi, -114);
    CHECK (scoring_tier1_bounds (&cfg, NAN, &lo, &hi) == -1);
    CHECK (scoring_tier1_bounds (&cfg, INFINITY, &lo, &hi) == -1);
    CHECK (scoring_tier1_bounds (&cfg, 1e19, &lo, &hi) == -1);   //  outside int64
    CHECK (scoring_tier1_pass (&cfg, 100, 85));
    CHECK (scoring_tier1_pass (&cfg, 100, 114));
    CHECK (!scoring_tier1_pass (&cfg, 100, 84));
    CHECK (!scoring_tier1_pass (&cfg, 100, 115));
    CHECK (!scoring_tier1_pass (&cfg, NAN, 0));

    //  Tier 2 at the thresholds.
    scoring_tier2_t m = { 0.90, 0.95, 0.90, 0.05, true };
    CHECK (scoring_tier2_pass (&cfg, &m));
    m.zipcodes_match = false;
    CHECK (!scoring_tier2_pass (&cfg, &m));
    m = (scoring_tier2_t) { 0.8999999, 0.95, 0.90, 0.05, true };
    CHECK (!scoring_tier2_pass (&cfg, &m));
    m = (scoring_tier2_t) { 1, 0.9499999, 1, 0, true };
    CHECK (!scoring_tier2_pass (&cfg, &m));
    m = (scoring_tier2_t) { 1, 1, 0.8999999, 0, true };
    CHECK (!scoring_tier2_pass (&cfg, &m));
    m = (scoring_tier2_t) { 1, 1, 1, 0.0500001, true };
    CHECK (!scoring_tier2_pass (&cfg, &m));
    m = (scoring_tier2_t) { NAN, 1, 1, 0, true };
    CHECK (!scoring_tier2_pass (&cfg, &m));
    m = (scoring_tier2_t) { 1, 1, 1, NAN, true };
    CHECK (!scoring_tier2_pass (&cfg, &m));

    //  Tier 3: >= 80 % verified.
    CHECK (scoring_tier3_pass (&cfg, 8, 10));
    CHECK (!scoring_tier3_pass (&cfg, 7, 10));
    CHECK (scoring_tier3_pass (&cfg, 4, 5));
    CHECK (!scoring_tier3_pass (&cfg, 2, 3));
    CHECK (scoring_tier3_pass (&cfg, 3, 3));
    CHECK (!scoring_tier3_pass (&cfg, 0, 0));
    CHECK (!scoring_tier3_pass (&cfg, 4, 3));

    //  The epoch.
    const scoring_submission_t z1 [] = {
        { "E", 4, 100, true }, { "D", 3, 95, true }, { "C", 2, 110, true },
        { "B", 2, 90, false }, { "A", 1, 100, true }
    };
    const scoring_submission_t z2 [] = {
        { "A", 6, 60, true }, { "A", 5, 50, true }, { "B", 5, 200, true }, { "F", 1, 10, false }
    };
    const scoring_submission_t z3 [] = { { "G", 1, 10, false } };
    const scoring_zipcode_t zips [] = {
        { "19104", z2, 4 }, { "02110", z3, 1 }, { "19103", z1, 5 }
    };
    scoring_result_t *r = scoring_compute (&cfg, zips, 3);
    CHECK (r);
    CHECK_EQ_INT (scoring_result_total_listings (r), 555);
    CHECK_EQ_INT (scoring_result_total_winners (r), 4);
    CHECK_EQ_INT (scoring_result_total_participants (r), 2);
    CHECK_EQ_INT (scoring_result_zipcodes (r), 3);
    CHECK_EQ_STR (scoring_result_zipcode (r, 0), "02110");
    CHECK (scoring_result_weight (r, 0) == 0.0);
    CHECK (scoring_result_winner (r, 0, 0) == NULL);
    CHECK_EQ_STR (scoring_result_zipcode (r, 1), "19103");
    CHECK (scoring_result_weight (r, 1) == 0.5495495495495496);
    CHECK_EQ_STR (scoring_result_winner (r, 1, 0), "A");
    CHECK_EQ_STR (scoring_result_winner (r, 1, 1), "C");
    CHECK_EQ_STR (scoring_result_winner (r, 1, 2), "D");
    CHECK_EQ_STR (scoring_result_zipcode (r, 2), "19104");
    CHECK (scoring_result_weight (r, 2) == 0.45045045045045046);
    CHECK_EQ_STR (scoring_result_winner (r, 2, 0), "A");
    CHECK_EQ_STR (scoring_result_winner (r, 2, 1), "B");
    CHECK (scoring_result_winner (r, 2, 2) == NULL);

    const char *hk [] = { "A", "B", "C", "D", "F", "G" };
    const double score [] = { 0.5759433962264151, 0.14150943396226415, 0.17264150943396228,
                              0.05754716981132076, 0.02617924528301887, 0.02617924528301887 };
    const bool winner [] = { true, true, true, true, false, false };
    CHECK_EQ_INT (scoring_result_miners (r), 6);
    for (size_t i = 0; i < 6; i++) {
        CHECK_EQ_STR (scoring_result_miner (r, i), hk [i]);
        CHECK (scoring_result_score (r, i) == score [i]);
        CHECK (scoring_result_is_winner (r, i) == winner [i]);
    }
    char hex [65];
    CHECK (scoring_result_consensus_hash (r, "epoch-7", hex) == 0);
    CHECK_EQ_STR (hex, "54ba6d459634e3274416009e8dd4e0395a7c76c0e89ef237dc442a0c8c9810db");
    CHECK (scoring_result_consensus_hash (r, "\xff", hex) == -1);
    scoring_result_destroy (&r);
    CHECK (r == NULL);
    scoring_result_destroy (&r);

    //  Nobody passed: the empty result.
    const scoring_submission_t fail [] = { { "A", 1, 5, false } };
    const scoring_zipcode_t one [] = { { "1", fail, 1 } };
    r = scoring_compute (&cfg, one, 1);
    CHECK (r);
    CHECK_EQ_INT (scoring_result_miners (r), 0);
    CHECK_EQ_INT (scoring_result_zipcodes (r), 0);
    CHECK_EQ_INT (scoring_result_total_participants (r), 0);
    CHECK (scoring_result_consensus_hash (r, "e", hex) == 0);
    CHECK_EQ_STR (hex, "7cd52f8381d2b32e230bcf0b9c7f510e29df6df5939265adcc59810ea420fb5c");
    scoring_result_destroy (&r);
    r = scoring_compute (&cfg, NULL, 0);
    CHECK (r && scoring_result_miners (r) == 0);
    scoring_result_destroy (&r);

    //  Refusals.
    const scoring_zipcode_t twice [] = { { "1", fail, 1 }, { "1", fail, 1 } };
    CHECK (scoring_compute (&cfg, twice, 2) == NULL);
    const scoring_submission_t neg [] = { { "A", 1, -1, true } };
    const scoring_zipcode_t negz [] = { { "1", neg, 1 } };
    CHECK (scoring_compute (&cfg, negz, 1) == NULL);
    const scoring_submission_t huge [] = { { "A", 1, (int64_t) 1 << 52, true },
                                           { "B", 1, (int64_t) 1 << 52, true } };
    const scoring_zipcode_t hugez [] = { { "1", huge, 2 } };
    CHECK (scoring_compute (&cfg, hugez, 1) == NULL);
    const scoring_submission_t badkey [] = { { "\xc0\x80", 1, 1, true } };
    const scoring_zipcode_t badkeyz [] = { { "1", badkey, 1 } };
    CHECK (scoring_compute (&cfg, badkeyz, 1) == NULL);
    const scoring_zipcode_t badzip [] = { { "\xed\xa0\x80", fail, 1 } };
    CHECK (scoring_compute (&cfg, badzip, 1) == NULL);
    const scoring_submission_t nokey [] = { { NULL, 1, 1, true } };
    const scoring_zipcode_t nokeyz [] = { { "1", nokey, 1 } };
    CHECK (scoring_compute (&cfg, nokeyz, 1) == NULL);
    TEST_DONE ();
}
