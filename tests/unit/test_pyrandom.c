/*  common/pyrandom: fixed values printed by CPython 3.11 (python3 -c 'import random; ...'),
    so the module is pinned even where the oracle test is not run. The commands that produced
    them are next to each block.                                                            */

#include "common/pyrandom.h"
#include "tests/testutil.h"

static void
s_check_sample (uint64_t seed, uint64_t n, size_t k, const uint64_t *expect)
{
    pyrandom_t *r = pyrandom_new (seed);
    uint64_t out [16];
    CHECK (pyrandom_sample (r, n, k, out) == 0);
    for (size_t i = 0; i < k; i++)
        CHECK_EQ_INT (out [i], expect [i]);
    pyrandom_destroy (&r);
    CHECK (r == NULL);
}

int
main (void)
{
    //  random.seed(42); random.random(), random.random()
    pyrandom_t *r = pyrandom_new (42);
    CHECK (pyrandom_random (r) == 0.6394267984578837);
    CHECK (pyrandom_random (r) == 0.025010755222666936);

    //  random.seed(1); [random.getrandbits(32) for _ in range(3)]
    pyrandom_seed (r, 1);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 32), 577090037);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 32), 2444712010);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 32), 3639700191);

    //  random.seed(0); getrandbits(64), getrandbits(1), getrandbits(33); getrandbits(0) == 0
    //  draws nothing.
    pyrandom_seed (r, 0);
    CHECK (pyrandom_getrandbits (r, 64) == 7106521602475165645ULL);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 0), 0);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 1), 1);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 33), 3823568514LL);

    //  Seeds of two key words: random.seed(2**32), random.seed(2**64 - 1); getrandbits(32)
    pyrandom_seed (r, (uint64_t) 1 << 32);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 32), 485306839);
    pyrandom_seed (r, UINT64_MAX);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 32), 93740670);

    //  random.seed(9); [random._inst._randbelow(n) for n in (1, 2, 3, 1000, 2**64 - 1)]
    pyrandom_seed (r, 9);
    CHECK_EQ_INT (pyrandom_randbelow (r, 1), 0);
    CHECK_EQ_INT (pyrandom_randbelow (r, 2), 1);
    CHECK_EQ_INT (pyrandom_randbelow (r, 3), 1);
    CHECK_EQ_INT (pyrandom_randbelow (r, 1000), 141);
    CHECK (pyrandom_randbelow (r, UINT64_MAX) == 15985244668734943751ULL);

    //  setsize: 21 for k <= 5, 85 for k in 6..10 (ceil (log (18..30, 4)) = 3), 277 for k = 22.
    CHECK_EQ_INT (pyrandom_sample_setsize (0), 21);
    CHECK_EQ_INT (pyrandom_sample_setsize (5), 21);
    CHECK_EQ_INT (pyrandom_sample_setsize (6), 85);
    CHECK_EQ_INT (pyrandom_sample_setsize (10), 85);
    CHECK_EQ_INT (pyrandom_sample_setsize (21), 85);
    CHECK_EQ_INT (pyrandom_sample_setsize (22), 277);
    //  4 ** ceil (log (3 * 2**16, 4)) = 4 ** 9; huge k saturates instead of wrapping.
    CHECK_EQ_INT (pyrandom_sample_setsize (PYRANDOM_SAMPLE_MAX_K), 21 + 262144);
    CHECK (pyrandom_sample_setsize (SIZE_MAX) == UINT64_MAX);

    //  Either side of the pool/set boundary.
    //  random.seed(123); random.sample(range(85), 10)   (pool)
    s_check_sample (123, 85, 10, (const uint64_t []) { 6, 34, 11, 52, 83, 13, 4, 48, 68, 71 });
    //  random.seed(123); random.sample(range(86), 10)   (set)
    s_check_sample (123, 86, 10, (const uint64_t []) { 6, 34, 11, 52, 13, 4, 48, 68, 71, 42 });
    //  random.seed(5); random.sample(range(21), 5) and range(22)
    s_check_sample (5, 21, 5, (const uint64_t []) { 19, 8, 11, 16, 0 });
    s_check_sample (5, 22, 5, (const uint64_t []) { 19, 8, 11, 20, 16 });

    //  k > n is CPython's ValueError; nothing is drawn.
    uint64_t out [PYRANDOM_TIER3_MAX_K];
    pyrandom_seed (r, 5);
    CHECK (pyrandom_sample (r, 2, 3, out) == -1);
    CHECK (pyrandom_sample (r, 1000, PYRANDOM_SAMPLE_MAX_K + 1, out) == -1);
    CHECK_EQ_INT (pyrandom_getrandbits (r, 32), 2675342405);     //  random.seed(5); getrandbits(32)
    CHECK (pyrandom_sample (r, 0, 0, out) == 0);

    //  Tier 3: k = min (10, max (3, n // 10)) capped at n.
    CHECK_EQ_INT (pyrandom_tier3_k (0), 0);
    CHECK_EQ_INT (pyrandom_tier3_k (2), 2);
    CHECK_EQ_INT (pyrandom_tier3_k (3), 3);
    CHECK_EQ_INT (pyrandom_tier3_k (39), 3);
    CHECK_EQ_INT (pyrandom_tier3_k (40), 4);
    CHECK_EQ_INT (pyrandom_tier3_k (100), 10);
    CHECK_EQ_INT (pyrandom_tier3_k (UINT64_MAX), 10);

    //  s = f'{nonce}:{hotkey}:{time}:{n}'; seed = int(sha256(s).hexdigest()[:8], 16);
    //  random.seed(seed); sorted(random.sample(range(n), k))
    const char *hk = "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX";
    CHECK_EQ_INT (pyrandom_tier3_seed ("epoch-2026-11-25-nonce", hk, "2026-11-25T15:01:25.000Z",
                                       100), 2454298849U);
    CHECK_EQ_INT (pyrandom_tier3_sample ("epoch-2026-11-25-nonce", hk,
                                         "2026-11-25T15:01:25.000Z", 100, out), 10);
    const uint64_t e100 [] = { 1, 10, 26, 44, 57, 59, 80, 83, 84, 87 };
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT (out [i], e100 [i]);

    CHECK_EQ_INT (pyrandom_tier3_seed ("n", "h", "t", 2), 3344151334U);
    CHECK_EQ_INT (pyrandom_tier3_sample ("n", "h", "t", 2, out), 2);
    CHECK_EQ_INT (out [0], 0);
    CHECK_EQ_INT (out [1], 1);
    CHECK_EQ_INT (pyrandom_tier3_sample ("n", "h", "t", 0, out), 0);
    CHECK_EQ_INT (pyrandom_tier3_seed ("n", "h", "t", 29), 2960193953U);
    CHECK_EQ_INT (pyrandom_tier3_sample ("n", "h", "t", 29, out), 3);
    CHECK_EQ_INT (out [0], 5);
    CHECK_EQ_INT (out [1], 18);
    CHECK_EQ_INT (out [2], 25);
    CHECK_EQ_INT (pyrandom_tier3_seed ("n", "h", "t", 5000), 4266754267U);
    CHECK_EQ_INT (pyrandom_tier3_sample ("n", "h", "t", 5000, out), 10);
    const uint64_t e5000 [] = { 195, 2834, 3063, 3177, 3414, 3648, 4273, 4369, 4830, 4924 };
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT (out [i], e5000 [i]);

    pyrandom_destroy (&r);
    pyrandom_destroy (&r);          //  no-op on NULL
    TEST_DONE ();
}
