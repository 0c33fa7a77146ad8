/*  assign: which zipcodes an epoch gets.

    params.count zipcodes are drawn from the catalog without replacement, weighted by size
    (weight 1/sqrt(SizeRank), so big zipcodes come up more often but every zipcode can), never
    one that is cooling down (assigned within the cooldown, 24 h by default: the caller's
    predicate says which). The draw is then nudged toward the target: single swaps with the next
    candidates of the weighted order are kept while they bring the total of expected listings
    closer to params.target, until it is within ± params.tolerance_pct. Expected listings come
    from catalog_expected_listings, the formula the world uses too.

    Deterministic for a given seed (the coordinator draws the seed from the OS and stores the
    result, so restarts serve the same assignment).                                           */
#ifndef ZM_COORD_ASSIGN_H
#define ZM_COORD_ASSIGN_H

#include "common/catalog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t count;               //  zipcodes per epoch
    int64_t target;             //  target total of expected listings
    double tolerance_pct;       //  accepted distance from target, percent
} assign_params_t;

typedef struct {
    const catalog_entry_t *entry;
    int expected;
} assign_pick_t;

//  Predicate: true if zipcode is cooling down and must not be picked.
typedef bool (assign_cooling_fn) (const char *zipcode, void *arg);

//  Fills out [0..n) (out has room for params->count) and returns n, which is less than
//  params->count only when fewer zipcodes are available. *total receives the sum of expected.
//  *within is true when the total is inside the tolerance band.
size_t assign_select (const catalog_t *catalog, const assign_params_t *params,
                      assign_cooling_fn *cooling, void *arg, uint64_t seed,
                      assign_pick_t *out, int64_t *total, bool *within);

#endif
