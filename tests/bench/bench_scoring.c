/*  bench_scoring: cost of the validator's deterministic core (best of 5 rounds each, the
    machine is shared):
      - tier-3 sample: pyrandom_tier3_sample (sha256 seed + MT19937 init + sample + sort) for
        n in 1..5000, samples per second;
      - canonical JSON: canon_dumps of a consensus-like document (2,000 [hotkey, score] pairs,
        2,000 [zipcode, weight] pairs, awkward doubles) in MB/s, next to jansson's json_dumps
        of the same document, raw (JSON_COMPACT) and sorted (JSON_COMPACT | JSON_SORT_KEYS;
        jansson prints reals with %.17g, not Python's repr, so it is no substitute);
      - epoch scoring: scoring_compute + consensus hash for 100 miners x 25 zipcodes (every
        miner submits to every zipcode, 60 % pass), epochs per second.

    Usage: bench_scoring [scale]   (multiplies the iteration counts; default 1)             */
#include "common/canon.h"
#include "common/pyrandom.h"
#include "common/scoring.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 5, PAIRS = 2000, MINERS = 100, ZIPS = 25 };

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t s_rng = 88172645463325252ULL;

static uint64_t
s_rand (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static double
s_weight (void)
{
    //  Scores and weights as they come out of the reward computation: 16-17 digit doubles.
    return (double) (s_rand () >> 11) / 9007199254740992.0 / (double) (1 + s_rand () % 1000);
}

int
main (int argc, char **argv)
{
    int scale = argc > 1 ? atoi (argv [1]) : 1;
    if (scale < 1)
        scale = 1;
    volatile uint64_t sink = 0;

    //  Tier-3 samples.
    int n3 = 100000 * scale;
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = s_now ();
        for (int i = 0; i < n3; i++) {
            char hk [32];
            snprintf (hk, sizeof hk, "5F3sa2TJ%08d", i);
            uint64_t out [PYRANDOM_TIER3_MAX_K];
            size_t k = pyrandom_tier3_sample ("epoch-nonce-2026-11-25", hk,
                                              "2026-11-25T15:01:25.000Z",
                                              (uint64_t) (1 + i % 5000), out);
            sink += k ? out [0] : 0;
        }
        double dt = s_now () - t0;
        if (dt < best)
            best = dt;
    }
    printf ("tier3_sample          %10.0f samples/s  (%.2f us each)\n", n3 / best,
            best / n3 * 1e6);

    //  Canonical JSON vs jansson on the same document.
    canon_t *doc = canon_object ();
    json_t *jdoc = json_object ();
    canon_t *scores = canon_array (), *weights = canon_array ();
    json_t *jscores = json_array (), *jweights = json_array ();
    for (int i = 0; i < PAIRS; i++) {
        char hk [64], zip [8];
        snprintf (hk, sizeof hk, "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1re%08d", i);
        snprintf (zip, sizeof zip, "%05d", i);
        double s = s_weight (), w = s_weight ();
        if (i % 50 == 0)
            s = 1e-5 * (double) (i + 1);     //  exponent form
        canon_t *p = canon_array (), *k = canon_cstring (hk), *v = canon_double (s);
        canon_append (p, &k);
        canon_append (p, &v);
        canon_append (scores, &p);
        p = canon_array ();
        k = canon_cstring (zip);
        v = canon_double (w);
        canon_append (p, &k);
        canon_append (p, &v);
        canon_append (weights, &p);
        json_array_append_new (jscores, json_pack ("[s,f]", hk, s));
        json_array_append_new (jweights, json_pack ("[s,f]", zip, w));
    }
    canon_t *nonce = canon_cstring ("epoch-nonce-2026-11-25");
    canon_set (doc, "miner_scores", &scores);
    canon_set (doc, "zipcode_weights", &weights);
    canon_set (doc, "epoch_nonce", &nonce);
    json_object_set_new (jdoc, "miner_scores", jscores);
    json_object_set_new (jdoc, "zipcode_weights", jweights);
    json_object_set_new (jdoc, "epoch_nonce", json_string ("epoch-nonce-2026-11-25"));
    int nd = 50 * scale;
    size_t bytes = 0, jbytes = 0;
    double best_c = 1e30, best_j = 1e30, best_js = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = s_now ();
        for (int i = 0; i < nd; i++) {
            char *t = canon_dumps (doc, &bytes);
            sink += (uint8_t) t [bytes / 2];
            free (t);
        }
        double t1 = s_now ();
        for (int i = 0; i < nd; i++) {
            char *t = json_dumps (jdoc, JSON_COMPACT);
            jbytes = strlen (t);
            sink += (uint8_t) t [jbytes / 2];
            free (t);
        }
        double t2 = s_now ();
        for (int i = 0; i < nd; i++) {
            char *t = json_dumps (jdoc, JSON_COMPACT | JSON_SORT_KEYS);
            sink += (uint8_t) t [0];
            free (t);
        }
        double t3 = s_now ();
        if (t1 - t0 < best_c)
            best_c = t1 - t0;
        if (t2 - t1 < best_j)
            best_j = t2 - t1;
        if (t3 - t2 < best_js)
            best_js = t3 - t2;
    }
    printf ("canon_dumps           %10.1f MB/s  (%zu bytes, %.0f us per document)\n",
            (double) bytes * nd / best_c / 1e6, bytes, best_c / nd * 1e6);
    printf ("json_dumps compact    %10.1f MB/s  (%zu bytes, %.0f us per document)\n",
            (double) jbytes * nd / best_j / 1e6, jbytes, best_j / nd * 1e6);
    printf ("json_dumps sorted     %10.1f MB/s\n", (double) jbytes * nd / best_js / 1e6);
    canon_destroy (&doc);
    json_decref (jdoc);

    //  Scoring: 100 miners x 25 zipcodes.
    static char hotkeys [MINERS][64];
    static char zipnames [ZIPS][8];
    static scoring_submission_t subs [ZIPS][MINERS];
    scoring_zipcode_t zips [ZIPS];
    for (int m = 0; m < MINERS; m++)
        snprintf (hotkeys [m], sizeof hotkeys [m], "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS%03d", m);
    for (int z = 0; z < ZIPS; z++) {
        snprintf (zipnames [z], sizeof zipnames [z], "%05d", 19100 + z);
        for (int m = 0; m < MINERS; m++)
            subs [z][m] = (scoring_submission_t) {
                hotkeys [m], 1764000000000 + (int64_t) (s_rand () % 3600000),
                (int64_t) (100 + s_rand () % 900), s_rand () % 10 < 6
            };
        zips [z] = (scoring_zipcode_t) { zipnames [z], subs [z], MINERS };
    }
    scoring_cfg_t cfg;
    scoring_cfg_defaults (&cfg);
    int ne = 2000 * scale;
    best = 1e30;
    double best_hash = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = s_now (), th = 0;
        for (int i = 0; i < ne; i++) {
            scoring_result_t *res = scoring_compute (&cfg, zips, ZIPS);
            double h0 = s_now ();
            char hex [65];
            scoring_result_consensus_hash (res, "epoch-nonce", hex);
            th += s_now () - h0;
            sink += (uint8_t) hex [0];
            scoring_result_destroy (&res);
        }
        double dt = s_now () - t0;
        if (dt < best) {
            best = dt;
            best_hash = th;
        }
    }
    printf ("score_epoch 100x25    %10.0f epochs/s  (%.0f us each, of which %.0f us the "
            "consensus JSON + SHA-256)\n", ne / best, best / ne * 1e6, best_hash / ne * 1e6);
    return sink == 42 ? 1 : 0;
}
