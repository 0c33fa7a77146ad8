/*  libFuzzer target: the strict catalog CSV parser (catalog_new_from_buffer) on arbitrary bytes.
    Whatever it accepts must be internally consistent: every entry found by its own zipcode,
    derived values in their documented ranges, strings NUL-terminated and within bounds.      */
#include "common/catalog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err [256];
    //  Copy so that reading one byte past the end is caught by ASan (no NUL follows).
    char *copy = malloc (size ? size : 1);
    if (!copy)
        abort ();
    if (size)
        memcpy (copy, data, size);
    catalog_t *cat = catalog_new_from_buffer (copy, size, err, sizeof err);
    if (cat) {
        for (size_t i = 0; i < catalog_size (cat); i++) {
            const catalog_entry_t *e = catalog_at (cat, i);
            if (catalog_lookup (cat, e->zipcode) != e || e->index != i)
                abort ();
            int n = catalog_expected_listings (e);
            if (n < 50 || n > 600 || e->size_rank < 1 || e->region_id < 0)
                abort ();
            if (strlen (e->city) > CATALOG_MAX_FIELD || strlen (e->metro) > CATALOG_MAX_FIELD
            ||  strlen (e->county) > CATALOG_MAX_FIELD || strlen (e->state) != 2)
                abort ();
            (void) catalog_market_tier (e);
            (void) catalog_geographic_region (e);
        }
        catalog_destroy (&cat);
    }
    else
    if (strnlen (err, sizeof err) == 0)
        abort ();           //  every rejection names its reason
    free (copy);
    return 0;
}
