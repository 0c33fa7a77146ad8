/*  catalog: the zipcode catalog, and the derivations every party must agree on.

    The catalog is common/data/zipcodes.csv, linked into zm_net (zm_embed symbol
    zm_catalog_csv). Columns, in this order, header required:

        RegionID,SizeRank,RegionName,RegionType,StateName,State,City,Metro,CountyName

    RegionName is the 5-digit zipcode; SizeRank ranks zipcodes by size (1 = largest). The parser
    is strict and bounded (RFC 4180 subset): records end in LF or CRLF, fields are separated by
    commas, a field may be "quoted" (commas inside, "" for a quote), no line breaks inside quotes,
    no control bytes, valid UTF-8 only, at most CATALOG_MAX_FIELD bytes per field and
    CATALOG_MAX_ROWS rows. Zipcodes must be unique. Any violation rejects the whole input with
    the line number and reason: a catalog is either exactly right or not used.

    Derived values (pure functions of an entry; the coordinator and the world both call them, so
    the coordinator's expectedListings always equals the number of properties the world serves):

      catalog_expected_listings   integer listing count, 50..600, see the formula below
      catalog_market_tier         "premium" (SizeRank <= 1000), "standard" (<= 5000), "emerging"
      catalog_geographic_region   US Census region of the state: "Northeast", "Midwest",
                                  "South", "West" ("Unknown" for a code outside the 50 + DC)

    A catalog_t is immutable after catalog_new*, so any number of threads may read it.       */
#ifndef ZM_CATALOG_H
#define ZM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#define CATALOG_MAX_BYTES   (16u * 1024 * 1024)     //  input size cap
#define CATALOG_MAX_ROWS    200000
#define CATALOG_MAX_FIELD   256                     //  bytes per field

typedef struct {
    uint32_t index;             //  0-based data row (file order); stable for a given catalog
    char zipcode [6];           //  5 ASCII digits
    int32_t region_id;          //  >= 0
    int32_t size_rank;          //  >= 1
    const char *region_type;    //  e.g. "zip"
    const char *state_name;     //  as in the file (the shipped file repeats the code)
    const char *state;          //  2 upper-case letters
    const char *city;           //  may be "" (58 rows of the shipped file have no city)
    const char *metro;          //  may be ""
    const char *county;         //  may be ""
} catalog_entry_t;

typedef struct _catalog_t catalog_t;

//  Parses the embedded catalog. NULL (and a log_error "catalog_invalid") if it does not parse,
//  which can only mean a broken build.
catalog_t *catalog_new (void);

//  Parses size bytes at data (need not be NUL-terminated). On failure returns NULL and, when
//  err is given, writes "line N: reason" into it.
catalog_t *catalog_new_from_buffer (const char *data, size_t size, char *err, size_t errsize);

void catalog_destroy (catalog_t **self_p);

//  Number of entries (data rows).
size_t catalog_size (const catalog_t *self);

//  Entry at 0-based index (file order), or NULL when out of range.
const catalog_entry_t *catalog_at (const catalog_t *self, size_t index);

//  Entry of a zipcode ("01234"), or NULL when the zipcode is not in the catalog or is not a
//  5-digit string. O(log n).
const catalog_entry_t *catalog_lookup (const catalog_t *self, const char *zipcode);

//  THE expected listing count of a zipcode. Integer arithmetic only, so any language gets the
//  same number:
//
//      r     = max (size_rank, 1)
//      base  = 50 + (550 * 2000) / (2000 + r)                      (integer division)
//      z     = the zipcode's 5 digits as an integer (00501 -> 501)
//      j     = ((z * 2654435761) mod 2^32) mod 21 - 10             (-10 .. +10, percent)
//      n     = base * (100 + j) / 100                              (integer division)
//      expected = min (600, max (50, n))
//
//  SizeRank 1 gives ~600, the median rank (~4,000) ~230, rank 40,000 ~76; the per-zipcode j
//  spreads zipcodes of equal rank by up to 10 % either way.
int catalog_expected_listings (const catalog_entry_t *entry);

//  "premium" | "standard" | "emerging" (static strings).
const char *catalog_market_tier (const catalog_entry_t *entry);

//  "Northeast" | "Midwest" | "South" | "West" | "Unknown" (static strings).
const char *catalog_geographic_region (const catalog_entry_t *entry);

#endif
