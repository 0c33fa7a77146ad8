/*  common/scoring against tests/python/scoring_oracle.py, an independent Python implementation
    of the algorithm text in scoring.h, printing the consensus document with json.dumps and
    hashing it with hashlib.

    One batch, one python3 process:
      - tier-1 bounds int (E * 0.85), int (E * 1.15) for every E in 1..100,000 and for 10,000
        random doubles (uniform, short decimals, large magnitudes up to 1e15);
      - 10,000 random epochs: 0-16 zipcodes, 0-10 submissions each from a pool of 1-40
        hotkeys (some sharing prefixes, some non-ASCII), repeated hotkeys within a zipcode,
        tied LastModified times, zero-listing submissions, epochs where nobody passes. The
        consensus JSON must be byte-equal and the SHA-256 equal.
    Seed: ZM_ORACLE_SEED, else the clock (printed).                                         */

#include "common/canon.h"
#include "common/scoring.h"
#include "tests/python/oracle.h"
#include "tests/testutil.h"

#include <inttypes.h>
#include <math.h>

enum { N_T1_INT = 100000, N_T1_FLOAT = 10000, N_EPOCHS = 10000, MAX_ZIPS = 16, MAX_SUBS = 10,
       MAX_POOL = 40 };

static uint64_t s_rng;

static uint64_t
s_below (uint64_t n)
{
    return oracle_rand (&s_rng) % n;
}

static double
s_t1_float (void)
{
    switch (s_below (3)) {
        case 0:
            return (double) (oracle_rand (&s_rng) >> 11) / 9007199254740992.0 * 100000.0;
        case 1: {
            char buf [32];
            snprintf (buf, sizeof buf, "%" PRIu64 ".%02" PRIu64, s_below (100000), s_below (100));
            return strtod (buf, NULL);
        }
        default:
            return ldexp ((double) (oracle_rand (&s_rng) >> 11), -(int) s_below (54)) * 1e15
                   / 9007199254740992.0;
    }
}

static const char *s_hotkey_stems [] = {
    "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX", "5F3sa2TJ", "5H2WNbNfkRmHWJGdEUzZ",
    "5DvggEsdjznNNvnQ", "a", "A", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80", "z~", "5CAsdjbWjgj1"
};

typedef struct {
    char nonce [48];
    char pool [MAX_POOL][80];
    char zip [MAX_ZIPS][32];
    scoring_submission_t subs [MAX_ZIPS][MAX_SUBS];
    scoring_zipcode_t zips [MAX_ZIPS];
    size_t nzips;
} s_epoch_t;

static void
s_make_epoch (s_epoch_t *e)
{
    snprintf (e->nonce, sizeof e->nonce, "%016" PRIx64 "%s", oracle_rand (&s_rng),
              s_below (10) ? "" : "\xe2\x98\xba");
    size_t npool = 1 + s_below (MAX_POOL);
    for (size_t i = 0; i < npool; i++)
        snprintf (e->pool [i], sizeof e->pool [i], "%s%s",
                  s_hotkey_stems [s_below (sizeof s_hotkey_stems / sizeof s_hotkey_stems [0])],
                  s_below (3) ? "" : (const char *[]) { "1", "2", "x", "\xc3\xbc" } [s_below (4)]);
    e->nzips = s_below (MAX_ZIPS + 1);
    int passrate = (int) s_below (11);          //  0 = nobody passes, 10 = everybody
    for (size_t z = 0; z < e->nzips; z++) {
        //  Distinct by construction: the index is part of the zipcode.
        if (s_below (8) == 0)
            snprintf (e->zip [z], sizeof e->zip [z], "\xc3\xa9%02zu", z);
        else
            snprintf (e->zip [z], sizeof e->zip [z], "%03" PRIu64 "%02zu", s_below (1000), z);
        size_t n = s_below (MAX_SUBS + 1);
        for (size_t i = 0; i < n; i++) {
            scoring_submission_t *s = &e->subs [z][i];
            s->hotkey = e->pool [s_below (npool)];
            s->last_modified = 1764000000000 + (int64_t) s_below (s_below (2) ? 5 : 100000);
            s->listings = s_below (10) == 0 ? 0 : (int64_t) s_below (3000);
            s->passed = (int) s_below (10) < passrate;
        }
        e->zips [z] = (scoring_zipcode_t) { e->zip [z], e->subs [z], n };
    }
}

//  The epoch as one JSON line. The generated strings hold no '"', '\\' or control characters,
//  so they are written as they are (UTF-8; the oracle reads bytes).
static void
s_epoch_json (FILE *f, const s_epoch_t *e)
{
    fprintf (f, "{\"nonce\":\"%s\",\"zips\":[", e->nonce);
    for (size_t z = 0; z < e->nzips; z++) {
        fprintf (f, "%s{\"zip\":\"%s\",\"subs\":[", z ? "," : "", e->zip [z]);
        for (size_t i = 0; i < e->zips [z].nsubs; i++) {
            const scoring_submission_t *s = &e->zips [z].subs [i];
            fprintf (f, "%s[\"%s\",%" PRId64 ",%" PRId64 ",%s]", i ? "," : "", s->hotkey,
                     s->last_modified, s->listings, s->passed ? "true" : "false");
        }
        fputs ("]}", f);
    }
    fputs ("]}\n", f);
}

int
main (void)
{
    s_rng = oracle_seed ();
    scoring_cfg_t cfg;
    scoring_cfg_defaults (&cfg);
    double *t1 = calloc (N_T1_INT + N_T1_FLOAT, sizeof *t1);
    //  Each epoch is built, scored and written out in turn; only the C answer is kept.
    s_epoch_t *epoch = calloc (1, sizeof *epoch);
    char **mine = calloc (N_EPOCHS, sizeof *mine);
    CHECK (t1 && epoch && mine);
    size_t empty = 0, with_participants = 0;
    char *input = NULL;
    size_t input_len = 0;
    FILE *f = open_memstream (&input, &input_len);
    CHECK (f);
    for (int i = 0; i < N_T1_INT; i++) {
        t1 [i] = i + 1;
        fprintf (f, "{\"t1\":%d}\n", i + 1);
    }
    for (int i = N_T1_INT; i < N_T1_INT + N_T1_FLOAT; i++) {
        t1 [i] = s_t1_float ();
        fprintf (f, "{\"t1\":%.17g}\n", t1 [i]);
    }
    for (size_t i = 0; i < N_EPOCHS; i++) {
        s_make_epoch (epoch);
        s_epoch_json (f, epoch);

        scoring_result_t *r = scoring_compute (&cfg, epoch->zips, epoch->nzips);
        CHECK (r);
        size_t len = 0;
        char *json = scoring_result_consensus_json (r, epoch->nonce, &len);
        CHECK (json && len == strlen (json));
        char hex [65];
        canon_sha256_hex (json, len, hex);
        mine [i] = malloc (len + 66);
        CHECK (mine [i]);
        snprintf (mine [i], len + 66, "%s %s", hex, json);
        if (scoring_result_miners (r) == 0)
            empty++;
        if (scoring_result_total_participants (r) > 0)
            with_participants++;
        free (json);
        scoring_result_destroy (&r);
    }
    CHECK (fclose (f) == 0);

    char *answers = oracle_run ("scoring_oracle.py", input, input_len);
    char *cursor = answers;
    for (int i = 0; i < N_T1_INT + N_T1_FLOAT; i++) {
        const char *expect = oracle_line (&cursor);
        CHECK (expect);
        int64_t lo, hi;
        CHECK (scoring_tier1_bounds (&cfg, t1 [i], &lo, &hi) == 0);
        char got [64];
        snprintf (got, sizeof got, "%" PRId64 " %" PRId64, lo, hi);
        if (strcmp (got, expect) != 0)
            fprintf (stderr, "tier 1, E = %.17g\n", t1 [i]);
        CHECK_EQ_STR (got, expect);
    }
    for (size_t i = 0; i < N_EPOCHS; i++) {
        const char *expect = oracle_line (&cursor);
        CHECK (expect);
        if (strcmp (mine [i], expect) != 0) {
            fprintf (stderr, "epoch %zu:\n  C      %s\n  python %s\n", i, mine [i], expect);
            CHECK_EQ_STR (mine [i], expect);
        }
        free (mine [i]);
    }
    CHECK (oracle_line (&cursor) == NULL);
    //  The generator must reach both the empty result and the 5 % share.
    CHECK (empty > 0 && empty < N_EPOCHS);
    CHECK (with_participants > 0);
    printf ("agreed: %d tier-1 bounds, %d epochs (%zu empty, %zu with participants)\n",
            N_T1_INT + N_T1_FLOAT, N_EPOCHS, empty, with_participants);
    free (answers);
    free (input);
    free (mine);
    free (epoch);
    free (t1);
    TEST_DONE ();
}
