/*  fuzz_listing_intake: listing_check (common/listing.h), the validator storage runs on every
    scraped listing, on arbitrary bytes. It must never crash, and its verdict must hold
    together: an accepted listing has a key (decimal zpid without leading zeros, or "mls:"
    and a 1..64 character id) and a known reason name; a rejected one says why. The date
    checker runs on a NUL-terminated copy of the same bytes.                                */
#include "common/listing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    listing_verdict_t v;
    listing_reason_t r = listing_check ((const char *) data, size, "77494", &v);
    if (strcmp (listing_reason_name (r), "unknown") == 0)
        abort ();
    if (r == LISTING_OK) {
        size_t n = strlen (v.id);
        if (n == 0 || n > LISTING_ID_MAX)
            abort ();
        if (strncmp (v.id, "mls:", 4) == 0) {
            if (n < 5 || n > 68)
                abort ();
        }
        else {
            if (v.id [0] == '0' || strspn (v.id, "0123456789") != n)
                abort ();
        }
    }
    else
    if (v.detail [0] == 0 || v.id [0] != 0)
        abort ();
    char *copy = malloc (size + 1);
    if (!copy)
        abort ();
    memcpy (copy, data, size);
    copy [size] = 0;
    (void) listing_iso8601_ok (copy);
    free (copy);
    return 0;
}
