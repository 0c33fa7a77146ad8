/*  common/pyrandom against CPython's random module (tests/python/pyrandom_oracle.py).

    One batch, one python3 process: random.sample (range (n), k) for n in 1..5000 (a third of
    the cases near the pool/set boundaries n = 21, 85, 277 and small n), k from 0 to n for
    small n, seeds including 0 and above 2^32; the tier-3 sample for random nonce / hotkey /
    time strings (ASCII, colons, UTF-8 up to the astral plane) and n in 0..5000; getrandbits
    for every k in 0..64; random (); _randbelow for n up to 2^64 - 1. Every answer must match.
    Seed: ZM_ORACLE_SEED, else the clock (printed).                                         */

#include "common/pyrandom.h"
#include "tests/python/oracle.h"
#include "tests/testutil.h"

#include <inttypes.h>

enum { N_SAMPLE = 12000, N_TIER3 = 12000, N_BITS = 2000, N_RANDOM = 500, N_BELOW = 2000 };

static uint64_t s_rng;

static uint64_t
s_below (uint64_t n)
{
    return oracle_rand (&s_rng) % n;
}

static uint64_t
s_seed (void)
{
    switch (s_below (8)) {
        case 0:  return s_below (4);
        case 1:  return oracle_rand (&s_rng);               //  two key words
        default: return oracle_rand (&s_rng) & 0xffffffffU;  //  tier-3 seeds are 32-bit
    }
}

static uint64_t
s_n (void)
{
    static const uint64_t edges [] = { 21, 85, 277 };
    switch (s_below (6)) {
        case 0:  return 1 + s_below (30);
        case 1: {
            uint64_t e = edges [s_below (3)];
            return e - 3 + s_below (7);
        }
        default: return 1 + s_below (5000);
    }
}

static const char *s_atoms [] = {
    "a", "Z", "0", "9", ":", " ", "-", "T", "Z", "+00:00", ".", "5F3sa2TJ", "\xc3\xa9",
    "\xe2\x98\xba", "\xf0\x9f\x98\x80", "2026-11-25T15:01:25.000Z", "nonce", "\\", "\""
};

static void
s_string (char *out, size_t size)
{
    size_t len = 0, n = s_below (6);
    out [0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *a = s_atoms [s_below (sizeof s_atoms / sizeof s_atoms [0])];
        size_t al = strlen (a);
        if (len + al + 1 > size)
            break;
        memcpy (out + len, a, al + 1);
        len += al;
    }
}

static void
s_hex (FILE *f, const char *s)
{
    if (!*s)
        fputc ('-', f);
    for (; *s; s++)
        fprintf (f, "%02x", (unsigned char) *s);
}

typedef struct {
    char kind;
    uint64_t seed, n, k, count;
    char nonce [96], hotkey [96], when [96];
} s_case_t;

int
main (void)
{
    s_rng = oracle_seed ();
    size_t total = N_SAMPLE + N_TIER3 + N_BITS + N_RANDOM + N_BELOW;
    s_case_t *cases = calloc (total, sizeof *cases);
    CHECK (cases);
    char *input = NULL;
    size_t input_len = 0;
    FILE *f = open_memstream (&input, &input_len);
    CHECK (f);
    size_t c = 0;
    for (size_t i = 0; i < N_SAMPLE; i++, c++) {
        s_case_t *t = &cases [c];
        t->kind = 'S';
        t->seed = s_seed ();
        t->n = s_n ();
        uint64_t kmax = t->n < 40 ? t->n : (s_below (4) ? 12 : 40);
        t->k = s_below (kmax + 1);
        fprintf (f, "S %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t->seed, t->n, t->k);
    }
    for (size_t i = 0; i < N_TIER3; i++, c++) {
        s_case_t *t = &cases [c];
        t->kind = 'T';
        s_string (t->nonce, sizeof t->nonce);
        s_string (t->hotkey, sizeof t->hotkey);
        s_string (t->when, sizeof t->when);
        t->n = s_below (10) == 0 ? s_below (4) : s_n ();
        fputs ("T ", f);
        s_hex (f, t->nonce);
        fputc (' ', f);
        s_hex (f, t->hotkey);
        fputc (' ', f);
        s_hex (f, t->when);
        fprintf (f, " %" PRIu64 "\n", t->n);
    }
    for (size_t i = 0; i < N_BITS; i++, c++) {
        s_case_t *t = &cases [c];
        t->kind = 'B';
        t->seed = s_seed ();
        t->k = i % 65;
        t->count = 1 + s_below (6);
        fprintf (f, "B %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t->seed, t->k, t->count);
    }
    for (size_t i = 0; i < N_RANDOM; i++, c++) {
        s_case_t *t = &cases [c];
        t->kind = 'R';
        t->seed = s_seed ();
        t->count = 1 + s_below (4);
        fprintf (f, "R %" PRIu64 " %" PRIu64 "\n", t->seed, t->count);
    }
    for (size_t i = 0; i < N_BELOW; i++, c++) {
        s_case_t *t = &cases [c];
        t->kind = 'W';
        t->seed = s_seed ();
        int bits = 1 + (int) s_below (64);
        t->n = oracle_rand (&s_rng) >> (64 - bits);
        if (!t->n)
            t->n = 1;
        t->count = 1 + s_below (4);
        fprintf (f, "W %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t->seed, t->n, t->count);
    }
    CHECK (fclose (f) == 0);

    char *answers = oracle_run ("pyrandom_oracle.py", input, input_len);
    char *cursor = answers;
    pyrandom_t *rng = pyrandom_new (0);
    char *mine = NULL;
    size_t mine_len = 0;
    size_t counts [5] = { 0 };
    for (c = 0; c < total; c++) {
        s_case_t *t = &cases [c];
        const char *expect = oracle_line (&cursor);
        CHECK (expect);
        FILE *m = open_memstream (&mine, &mine_len);
        CHECK (m);
        if (t->kind == 'S') {
            uint64_t out [41];
            pyrandom_seed (rng, t->seed);
            CHECK (pyrandom_sample (rng, t->n, (size_t) t->k, out) == 0);
            for (uint64_t i = 0; i < t->k; i++)
                fprintf (m, "%s%" PRIu64, i ? " " : "", out [i]);
            counts [0]++;
        }
        else
        if (t->kind == 'T') {
            uint64_t out [PYRANDOM_TIER3_MAX_K];
            size_t k = pyrandom_tier3_sample (t->nonce, t->hotkey, t->when, t->n, out);
            CHECK_EQ_INT (k, pyrandom_tier3_k (t->n));
            fprintf (m, "%" PRIu32, pyrandom_tier3_seed (t->nonce, t->hotkey, t->when, t->n));
            for (size_t i = 0; i < k; i++)
                fprintf (m, " %" PRIu64, out [i]);
            counts [1]++;
        }
        else
        if (t->kind == 'B') {
            pyrandom_seed (rng, t->seed);
            for (uint64_t i = 0; i < t->count; i++)
                fprintf (m, "%s%" PRIu64, i ? " " : "", pyrandom_getrandbits (rng, (int) t->k));
            counts [2]++;
        }
        else
        if (t->kind == 'R') {
            pyrandom_seed (rng, t->seed);
            for (uint64_t i = 0; i < t->count; i++) {
                //  Python's repr of a double in [0, 1): %.17g reads back exactly but is not
                //  the same text, so compare the values.
                fprintf (m, "%s%.17g", i ? " " : "", pyrandom_random (rng));
            }
            counts [3]++;
        }
        else {
            pyrandom_seed (rng, t->seed);
            for (uint64_t i = 0; i < t->count; i++)
                fprintf (m, "%s%" PRIu64, i ? " " : "", pyrandom_randbelow (rng, t->n));
            counts [4]++;
        }
        CHECK (fclose (m) == 0);
        if (t->kind == 'R') {
            //  Compare as doubles: both texts read back to the exact double.
            char *a = mine, *b = (char *) expect;
            for (uint64_t i = 0; i < t->count; i++) {
                char *ea, *eb;
                double x = strtod (a, &ea), y = strtod (b, &eb);
                CHECK (ea != a && eb != b);
                if (x != y) {
                    fprintf (stderr, "random () seed %" PRIu64 ": %s != %s\n", t->seed, mine,
                             expect);
                    CHECK (x == y);
                }
                a = ea;
                b = eb;
            }
        }
        else
        if (strcmp (mine, expect) != 0) {
            fprintf (stderr, "case %zu (%c seed %" PRIu64 " n %" PRIu64 " k %" PRIu64
                     "): C [%s] python [%s]\n", c, t->kind, t->seed, t->n, t->k, mine, expect);
            CHECK_EQ_STR (mine, expect);
        }
        free (mine);
        mine = NULL;
    }
    CHECK (oracle_line (&cursor) == NULL);
    printf ("agreed: %zu samples, %zu tier-3, %zu getrandbits, %zu random, %zu randbelow\n",
            counts [0], counts [1], counts [2], counts [3], counts [4]);
    pyrandom_destroy (&rng);
    free (answers);
    free (input);
    free (cases);
    TEST_DONE ();
}
