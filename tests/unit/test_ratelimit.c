/*  ratelimit: limits, refill, Retry-After, bounded table under a flood of keys.  */
#include "common/ratelimit.h"
#include "tests/testutil.h"

int
main (void)
{
    CHECK (ratelimit_new (0, 1, 10) == NULL);
    CHECK (ratelimit_new (10, 0, 10) == NULL);
    ratelimit_t *rl = ratelimit_new (10, 10, 4);
    CHECK (rl);
    int64_t t = 1000000, wait = 0;
    //  10 per minute, burst 10: the 11th request in the same instant is refused
    for (int i = 0; i < 10; i++)
        CHECK (ratelimit_take (rl, "5Grw", t, &wait));
    CHECK (!ratelimit_take (rl, "5Grw", t, &wait));
    CHECK (wait > 5900 && wait <= 6001);
    //  other keys are unaffected
    CHECK (ratelimit_take (rl, "5Fhe", t, &wait));
    //  one token back after 6 s
    CHECK (!ratelimit_take (rl, "5Grw", t + 5000, &wait));
    CHECK (ratelimit_take (rl, "5Grw", t + 6001, &wait));
    CHECK (!ratelimit_take (rl, "5Grw", t + 6001, &wait));
    //  recovery after the window: full burst again
    for (int i = 0; i < 10; i++)
        CHECK (ratelimit_take (rl, "5Grw", t + 70000, &wait));
    CHECK_EQ_INT (ratelimit_size (rl), 2);

    //  flood of distinct keys: the table never grows past max_keys; active keys keep their state
    ratelimit_t *small = ratelimit_new (1, 1, 4);
    CHECK (ratelimit_take (small, "victim", t, &wait));
    int refused = 0;
    for (int i = 0; i < 10000; i++) {
        char key [32];
        snprintf (key, sizeof key, "flood-%d", i);
        if (!ratelimit_take (small, key, t, &wait))
            refused++;
        CHECK (ratelimit_size (small) <= 4);
    }
    CHECK (refused >= 10000 - 3);
    CHECK (!ratelimit_take (small, "victim", t, &wait));        //  still owes its token
    //  a minute later the flood keys are idle and their slots are reused
    CHECK (ratelimit_take (small, "newcomer", t + 61000, &wait));
    ratelimit_destroy (&small);
    ratelimit_destroy (&rl);
    CHECK (rl == NULL);
    ratelimit_destroy (&rl);
    TEST_DONE ();
}
