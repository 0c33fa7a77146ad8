/*  sup_spec: the role table and the parser of the `workers` option (supervisor/sup_spec.c). */
#include "supervisor/sup_spec.c"
#include "tests/testutil.h"

int
main (void)
{
    sup_spec_t s [SUP_SPEC_MAX];
    char err [256];

    //  explicit lists
    int n = sup_spec_parse ("zm_testworker:3,world", s, SUP_SPEC_MAX, err, sizeof err);
    CHECK_EQ_INT (n, 2);
    CHECK_EQ_STR (s [0].name, "zm_testworker");
    CHECK_EQ_INT (s [0].count, 3);
    CHECK (!s [0].optional);
    CHECK_EQ_STR (s [1].name, "world");
    CHECK_EQ_INT (s [1].count, 1);
    n = sup_spec_parse (" a:optional , b:2:optional,c:optional:4 ", s, SUP_SPEC_MAX, err,
                        sizeof err);
    CHECK_EQ_INT (n, 3);
    CHECK (s [0].optional && s [0].count == 1);
    CHECK (s [1].optional && s [1].count == 2);
    CHECK (s [2].optional && s [2].count == 4);

    const char *bad [] = { "", ",", "a,a", "a:0", "a:257", "a:x", "a:2:3", "a b", "a/b",
                           "../x", "a:optional:optional", "a::", ":3",
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 49 */ };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        n = sup_spec_parse (bad [i], s, SUP_SPEC_MAX, err, sizeof err);
        if (n != -1)
            fprintf (stderr, "accepted '%s'\n", bad [i]);
        CHECK_EQ_INT (n, -1);
        CHECK (strncmp (err, "config workers:", 15) == 0);
    }
    CHECK_EQ_INT (sup_spec_parse ("a,", s, SUP_SPEC_MAX, err, sizeof err), -1);
    CHECK_EQ_INT (sup_spec_parse ("a,,b", s, SUP_SPEC_MAX, err, sizeof err), -1);
    //  table full
    CHECK_EQ_INT (sup_spec_parse ("a,b,c", s, 2, err, sizeof err), -1);
    CHECK (strstr (err, "more than 2") != NULL);

    //  roles
    n = sup_spec_from_role ("miner", 4, 2, s, SUP_SPEC_MAX, err, sizeof err);
    CHECK_EQ_INT (n, 4);
    CHECK_EQ_STR (s [0].name, "assigner");
    CHECK_EQ_STR (s [1].name, "scraper");
    CHECK_EQ_INT (s [1].count, 4);
    CHECK_EQ_STR (s [3].name, "uploader");
    n = sup_spec_from_role ("validator", 4, 3, s, SUP_SPEC_MAX, err, sizeof err);
    CHECK_EQ_INT (n, 5);
    CHECK_EQ_STR (s [3].name, "tier3");
    CHECK_EQ_INT (s [3].count, 3);
    n = sup_spec_from_role ("coordinator,miner,coordinator", 1, 1, s, SUP_SPEC_MAX, err,
                            sizeof err);
    CHECK_EQ_INT (n, 6);
    CHECK_EQ_STR (s [0].name, "coordinator");
    CHECK_EQ_STR (s [1].name, "world");
    CHECK_EQ_STR (s [2].name, "assigner");
    CHECK_EQ_INT (sup_spec_from_role ("minor", 1, 1, s, SUP_SPEC_MAX, err, sizeof err), -1);
    CHECK (strstr (err, "unknown role 'minor'") != NULL);
    CHECK_EQ_INT (sup_spec_from_role ("", 1, 1, s, SUP_SPEC_MAX, err, sizeof err), -1);

    CHECK (sup_spec_name_valid ("tier3"));
    CHECK (sup_spec_name_valid ("zm_test-worker"));
    CHECK (!sup_spec_name_valid ("a.b"));
    CHECK (!sup_spec_name_valid (""));
    TEST_DONE ();
}
