/*  world_gen: property i of a zipcode from (seed, catalog entry, i), with a counter-based
    generator (splitmix64), so that no property depends on any other and the universe needs
    no storage. Every choice below is part of the published algorithm (README.md): changing a
    table or a draw index changes the universe, and every party regenerating it must follow.

    Draws: r_k = world_gen_draw (base, k) for the fixed k of each field; "r mod n" picks among
    n choices (the bias of a 64-bit modulo is irrelevant here and trivially reproducible).   */
#include "workers/world/world_gen.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GAMMA 0x9E3779B97F4A7C15ull

static const char *s_streets [] = {
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Willow", "Birch", "Walnut", "Chestnut", "Hickory",
    "Magnolia", "Aspen", "Spruce", "Sycamore", "Cypress", "Poplar", "Laurel", "Juniper", "Main",
    "Park", "Lake", "Hill", "River", "Ridge", "Meadow", "Forest", "Spring", "Sunset", "Highland",
    "Valley", "Church", "Mill", "Washington", "Lincoln", "Jefferson", "Madison", "Franklin",
    "Jackson", "Adams", "Monroe"
};
#define NSTREETS (sizeof s_streets / sizeof s_streets [0])

static const char *s_suffixes [] = {
    "St", "Ave", "Rd", "Dr", "Ln", "Ct", "Way", "Blvd", "Pl", "Ter"
};
#define NSUFFIXES (sizeof s_suffixes / sizeof s_suffixes [0])

uint64_t
world_gen_mix (uint64_t x)
{
    uint64_t z = x + GAMMA;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t
world_gen_base (uint64_t seed, const catalog_entry_t *entry, int i)
{
    assert (entry && i >= 0);
    uint64_t zip = (uint64_t) strtoul (entry->zipcode, NULL, 10);
    return world_gen_mix (world_gen_mix (seed) ^ ((zip << 16) | (uint64_t) i));
}

uint64_t
world_gen_draw (uint64_t base, unsigned k)
{
    return world_gen_mix (base + (uint64_t) k * GAMMA);
}

int
world_gen_count (const catalog_entry_t *entry)
{
    return catalog_expected_listings (entry);
}

int64_t
world_gen_zpid (const catalog_entry_t *entry, int i)
{
    assert (entry && i >= 0 && i < WORLD_GEN_ZPID_STRIDE);
    return ((int64_t) entry->index + 1) * WORLD_GEN_ZPID_STRIDE + i;
}

int
world_gen_locate (const catalog_t *catalog, int64_t zpid, const catalog_entry_t **entry, int *i)
{
    assert (catalog && entry && i);
    if (zpid < WORLD_GEN_ZPID_STRIDE)
        return -1;
    int64_t row = zpid / WORLD_GEN_ZPID_STRIDE - 1;
    int64_t k = zpid % WORLD_GEN_ZPID_STRIDE;
    const catalog_entry_t *e = catalog_at (catalog, (size_t) row);
    if (!e || k >= world_gen_count (e))
        return -1;
    *entry = e;
    *i = (int) k;
    return 0;
}

int
world_gen_property (uint64_t seed, const catalog_entry_t *entry, int i, world_property_t *out)
{
    assert (entry && out);
    if (i < 0 || i >= world_gen_count (entry))
        return -1;
    memset (out, 0, sizeof *out);
    uint64_t base = world_gen_base (seed, entry, i);
    uint64_t r [11];
    for (unsigned k = 0; k < 11; k++)
        r [k] = world_gen_draw (base, k);

    out->zpid = world_gen_zpid (entry, i);
    snprintf (out->mls_id, sizeof out->mls_id, "ZM%lld", (long long) out->zpid);
    memcpy (out->zipcode, entry->zipcode, sizeof out->zipcode);
    memcpy (out->state, entry->state, 2);

    //  Type first: it bounds bedrooms and decides the unit number.
    int t = (int) (r [3] % 100);
    int lo, hi;
    if (t < 55) {
        out->property_type = "SINGLE_FAMILY";
        lo = 2, hi = 6;
    }
    else
    if (t < 75) {
        out->property_type = "CONDO";
        lo = 1, hi = 3;
    }
    else
    if (t < 90) {
        out->property_type = "TOWNHOUSE";
        lo = 2, hi = 4;
    }
    else {
        out->property_type = "MULTI_FAMILY";
        lo = 4, hi = 8;
    }

    //  Street numbers are distinct per i, so addresses never repeat within a zipcode.
    int number = 10 + 16 * i + (int) (r [0] % 16);
    const char *street = s_streets [r [1] % NSTREETS];
    const char *suffix = s_suffixes [r [2] % NSUFFIXES];
    if (strcmp (out->property_type, "CONDO") == 0)
        snprintf (out->street, sizeof out->street, "%d %s %s Unit %d", number, street, suffix,
                  1 + (int) (r [4] % 400));
    else
        snprintf (out->street, sizeof out->street, "%d %s %s", number, street, suffix);
    const char *city = *entry->city ? entry->city : *entry->county ? entry->county
                     : entry->state_name;
    snprintf (out->city, sizeof out->city, "%s", city);
    snprintf (out->address, sizeof out->address, "%s, %s, %s %s", out->street, out->city,
              out->state, out->zipcode);

    out->bedrooms = lo + (int) (r [5] % (uint64_t) (hi - lo + 1));
    out->bathrooms_x2 = out->bedrooms + (int) (r [6] % 4);
    if (out->bathrooms_x2 < 2)
        out->bathrooms_x2 = 2;
    if (out->bathrooms_x2 > 12)
        out->bathrooms_x2 = 12;
    int64_t sqft = (500 + 400 * (int64_t) out->bedrooms) * (80 + (int64_t) (r [7] % 41)) / 100;
    out->sqft = (int) (sqft < 400 ? 400 : sqft > 8000 ? 8000 : sqft);

    const char *tier = catalog_market_tier (entry);
    int64_t ppsf;
    if (strcmp (tier, "premium") == 0)
        ppsf = 250 + (int64_t) (r [8] % 400);
    else
    if (strcmp (tier, "standard") == 0)
        ppsf = 150 + (int64_t) (r [8] % 200);
    else
        ppsf = 90 + (int64_t) (r [8] % 130);
    out->price = (out->sqft * ppsf + 500) / 1000 * 1000;

    //  Never 0 (nor 0 bedrooms above): a validator that reads 0 as "empty" must not count
    //  an honest listing incomplete.
    int age = 1 + (int) (r [9] % 90);
    out->days_on_market = age;
    time_t when = (time_t) (WORLD_GEN_REFERENCE_DAY - age) * 86400;
    struct tm tm;
    gmtime_r (&when, &tm);
    //  The modulos only tell the compiler the widths (the date is always 2026).
    snprintf (out->listing_date, sizeof out->listing_date, "%04u-%02u-%02u",
              (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
              (unsigned) tm.tm_mday % 100u);

    int s = (int) (r [10] % 100);
    out->listing_status = s < 70 ? "FOR_SALE" : s < 85 ? "PENDING" : s < 95 ? "CONTINGENT"
                        : "COMING_SOON";
    return 0;
}

//  Appends s as a JSON string (quotes, escapes) at buf + *n. Returns 0, or -1 if it does
//  not fit. Input is valid UTF-8 (the catalog parser guarantees it), passed through as is.
static int
s_put_str (char *buf, size_t size, size_t *n, const char *s)
{
    size_t k = *n;
    if (k + 1 >= size)
        return -1;
    buf [k++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (k + 7 >= size)
            return -1;
        if (c == '"' || c == '\\') {
            buf [k++] = '\\';
            buf [k++] = (char) c;
        }
        else
        if (c < 0x20)
            k += (size_t) snprintf (buf + k, size - k, "\\u%04x", c);
        else
            buf [k++] = (char) c;
    }
    if (k + 1 >= size)
        return -1;
    buf [k++] = '"';
    buf [k] = 0;
    *n = k;
    return 0;
}

//  Appends printf output at buf + *n. Returns 0, or -1 if it does not fit.
static int __attribute__ ((format (printf, 4, 5)))
s_put (char *buf, size_t size, size_t *n, const char *fmt, ...)
{
    if (*n >= size)
        return -1;
    va_list ap;
    va_start (ap, fmt);
    int w = vsnprintf (buf + *n, size - *n, fmt, ap);
    va_end (ap);
    if (w < 0 || (size_t) w >= size - *n)
        return -1;
    *n += (size_t) w;
    return 0;
}

int
world_gen_property_render (const world_property_t *p, const char *public_url, char *buf,
                           size_t size)
{
    assert (p && public_url && buf);
    size_t n = 0;
    int rc = s_put (buf, size, &n, "{\"zpid\":%lld,\"mls_id\":", (long long) p->zpid);
    rc |= s_put_str (buf, size, &n, p->mls_id);
    rc |= s_put (buf, size, &n, ",\"address\":");
    rc |= s_put_str (buf, size, &n, p->address);
    rc |= s_put (buf, size, &n, ",\"street\":");
    rc |= s_put_str (buf, size, &n, p->street);
    rc |= s_put (buf, size, &n, ",\"city\":");
    rc |= s_put_str (buf, size, &n, p->city);
    rc |= s_put (buf, size, &n, ",\"state\":");
    rc |= s_put_str (buf, size, &n, p->state);
    rc |= s_put (buf, size, &n, ",\"zipcode\":");
    rc |= s_put_str (buf, size, &n, p->zipcode);
    rc |= s_put (buf, size, &n, ",\"price\":%lld,\"bedrooms\":%d,\"bathrooms\":%d.%d,"
                 "\"sqft\":%d,\"listing_date\":\"%s\",\"property_type\":\"%s\","
                 "\"listing_status\":\"%s\",\"days_on_market\":%d,"
                 "\"source_url\":\"%s/property/%lld\"}",
                 (long long) p->price, p->bedrooms, p->bathrooms_x2 / 2,
                 p->bathrooms_x2 % 2 ? 5 : 0, p->sqft, p->listing_date, p->property_type,
                 p->listing_status, p->days_on_market, public_url, (long long) p->zpid);
    if (rc != 0) {
        if (size > 0)
            buf [0] = 0;
        return -1;
    }
    return (int) n;
}
