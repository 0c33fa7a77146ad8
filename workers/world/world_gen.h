/*  world_gen: the synthetic property universe, as pure functions.

    Every zipcode of the catalog has exactly catalog_expected_listings (entry) properties,
    numbered i = 0 .. n-1. Property i of a zipcode is a pure function of (seed, catalog entry,
    i): no state, no table, so any property can be computed alone, by any party that has the
    catalog and the seed (the algorithm is written out in workers/world/README.md).

    zpid = (entry->index + 1) * WORLD_GEN_ZPID_STRIDE + i, so zpids are unique across the
    universe, independent of the seed, and a zpid names its zipcode and i directly.        */
#ifndef ZM_WORLD_GEN_H
#define ZM_WORLD_GEN_H

#include "common/catalog.h"

#include <stdbool.h>
#include <stdint.h>

#define WORLD_GEN_ZPID_STRIDE   10000
//  Listing dates fall in the 90 days before this day (2026-11-01, days since 1970-01-01).
#define WORLD_GEN_REFERENCE_DAY 20758
#define WORLD_GEN_DEFAULT_SEED  46

typedef struct {
    int64_t zpid;
    char mls_id [24];               //  "ZM" + zpid
    char zipcode [6];
    char street [64];               //  "1234 Maple St" or "1234 Maple St Unit 12"
    char city [CATALOG_MAX_FIELD + 1];
    char state [3];
    char address [CATALOG_MAX_FIELD + 96];  //  "1234 Maple St, Katy, TX 77494"
    int64_t price;                  //  USD, multiple of 1,000
    int bedrooms;                   //  1 .. 8
    int bathrooms_x2;               //  bathrooms in half units: 2 .. 12 (1.0 .. 6.0)
    int sqft;                       //  400 .. 8000
    char listing_date [11];         //  "YYYY-MM-DD"
    int days_on_market;             //  1 .. 90, = reference day - listing date
    const char *property_type;      //  SINGLE_FAMILY | CONDO | TOWNHOUSE | MULTI_FAMILY
    const char *listing_status;     //  FOR_SALE | PENDING | CONTINGENT | COMING_SOON
} world_property_t;

//  Number of properties of the zipcode (= catalog_expected_listings (entry)).
int world_gen_count (const catalog_entry_t *entry);

//  zpid of property i of entry.
int64_t world_gen_zpid (const catalog_entry_t *entry, int i);

//  Fills *out with property i of entry under seed. Returns 0, or -1 when i is not in
//  0 .. world_gen_count (entry) - 1.
int world_gen_property (uint64_t seed, const catalog_entry_t *entry, int i,
                        world_property_t *out);

//  Finds which property a zpid names. Returns 0 with *entry and *i set, or -1 when the zpid
//  names no property of this catalog.
int world_gen_locate (const catalog_t *catalog, int64_t zpid, const catalog_entry_t **entry,
                      int *i);

//  Longest rendering of a property (world_gen_property_render never needs more).
#define WORLD_GEN_JSON_MAX 4096

//  Writes the property as a compact JSON listing object into buf (NUL-terminated), keys in
//  this fixed order: zpid, mls_id, address, street, city, state, zipcode, price, bedrooms,
//  bathrooms, sqft, listing_date, property_type, listing_status, days_on_market, source_url
//  (DESIGN.md section 7 fields), source_url being "{public_url}/property/{zpid}". bathrooms is
//  a real with one decimal ("2.0", "2.5"), every other number an integer. No
//  scraped_timestamp: the scraper adds it. public_url must be printable ASCII of at most 300
//  bytes without '"' or '\\'. Returns the length, or -1 if size is too small (size >=
//  WORLD_GEN_JSON_MAX always suffices).
int world_gen_property_render (const world_property_t *p, const char *public_url, char *buf,
                               size_t size);

//  The splitmix64 primitives (exposed for tests and the README's worked example):
//  world_gen_mix (x) = the first output of splitmix64 seeded with x.
uint64_t world_gen_mix (uint64_t x);
//  The per-property stream base: mix (mix (seed) ^ ((zip << 16) | i)).
uint64_t world_gen_base (uint64_t seed, const catalog_entry_t *entry, int i);
//  Draw k of a property: mix (base + k * 0x9E3779B97F4A7C15).
uint64_t world_gen_draw (uint64_t base, unsigned k);

#endif
