/*  assign: Efraimidis–Spirakis weighted sampling (key = ln(u) / w, keep the largest keys),
    then greedy swaps toward the target. splitmix64 supplies the uniforms, so the result
    depends only on the catalog, the cooling set, the parameters and the seed.               */
#include "workers/coordinator/assign.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#define SWAP_ROUNDS     20000
#define SWAP_WINDOW     600         //  swap candidates come from this many next-best keys

typedef struct {
    double key;
    const catalog_entry_t *entry;
    int expected;
} s_cand_t;

static uint64_t
s_next (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  Uniform in (0, 1].
static double
s_uniform (uint64_t *state)
{
    return ((double) (s_next (state) >> 11) + 1.0) / 9007199254740992.0;
}

static int
s_by_key_desc (const void *a, const void *b)
{
    double ka = ((const s_cand_t *) a)->key, kb = ((const s_cand_t *) b)->key;
    if (ka != kb)
        return ka < kb ? 1 : -1;
    return ((const s_cand_t *) a)->entry->index < ((const s_cand_t *) b)->entry->index ? -1 : 1;
}

static int64_t
s_abs (int64_t v)
{
    return v < 0 ? -v : v;
}

size_t
assign_select (const catalog_t *catalog, const assign_params_t *params,
               assign_cooling_fn *cooling, void *arg, uint64_t seed,
               assign_pick_t *out, int64_t *total, bool *within)
{
    assert (catalog && params && out && total && within);
    size_t size = catalog_size (catalog);
    s_cand_t *cand = malloc ((size ? size : 1) * sizeof *cand);
    if (!cand)
        abort ();
    uint64_t rng = seed;
    size_t n = 0;
    for (size_t i = 0; i < size; i++) {
        const catalog_entry_t *e = catalog_at (catalog, i);
        if (cooling && cooling (e->zipcode, arg))
            continue;
        double w = 1.0 / sqrt ((double) (e->size_rank > 0 ? e->size_rank : 1));
        cand [n].key = log (s_uniform (&rng)) / w;
        cand [n].entry = e;
        cand [n].expected = catalog_expected_listings (e);
        n++;
    }
    qsort (cand, n, sizeof *cand, s_by_key_desc);
    size_t k = params->count < n ? params->count : n;
    int64_t sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += cand [i].expected;

    int64_t slack = (int64_t) ((double) params->target * params->tolerance_pct / 100.0);
    size_t window = n - k < SWAP_WINDOW ? n - k : SWAP_WINDOW;
    for (int round = 0; round < SWAP_ROUNDS && window > 0 && k > 0; round++) {
        if (s_abs (sum - params->target) <= slack)
            break;
        size_t in = (size_t) (s_next (&rng) % k);
        size_t out_i = k + (size_t) (s_next (&rng) % window);
        int64_t next = sum - cand [in].expected + cand [out_i].expected;
        if (s_abs (next - params->target) < s_abs (sum - params->target)) {
            s_cand_t tmp = cand [in];
            cand [in] = cand [out_i];
            cand [out_i] = tmp;
            sum = next;
        }
    }
    for (size_t i = 0; i < k; i++) {
        out [i].entry = cand [i].entry;
        out [i].expected = cand [i].expected;
    }
    *total = sum;
    *within = s_abs (sum - params->target) <= slack;
    free (cand);
    return k;
}
