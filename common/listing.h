/*  listing: intake validation of one scraped listing (DESIGN.md section 7).

    A listing is a JSON object as a scraper produced it. The miner's storage worker runs every
    listing through listing_check before it stores anything, and validators can run the same
    check on downloaded submissions, so both sides agree on what a well-formed listing is.

    The rules (a listing breaking any of them is rejected with one reason):
      - at most LISTING_MAX_BYTES bytes, nesting at most LISTING_MAX_DEPTH, valid JSON (UTF-8,
        no \u0000, no duplicate keys), and an object                      too_large, not_json,
                                                                          not_object
      - an identity: `zpid` (an integer 1..2^53, or a string of 1..20 digits) or, without a
        zpid, `mls_id` (1..64 characters of [A-Za-z0-9_.:-])              missing_id, bad_id
      - `zipcode`: a string of 5 digits, equal to the zipcode the listing was scraped for
                                                                          missing_zipcode,
                                                                          wrong_zipcode
      - every other schema field, when present and not null, has its type and a sane range:
          address, property_type, listing_status     string, 1..512 / 1..64 / 1..64 bytes
          source_url                                  string "http://" or "https://", <= 2048
          price                                       number 0..1e12
          bedrooms, bathrooms                         number 0..1000
          sqft                                        number 0..1e9
          days_on_market                              integer 0..100000
                                                                          bad_field
          listing_date, scraped_timestamp             ISO 8601 date or date-time string
                                                                          bad_date
    Missing schema fields are allowed here (completeness is scored by tier 2, not refused at
    intake); unknown fields are kept and passed through untouched.

    The listing's key is its zpid as decimal text ("10000"), or "mls:" + mls_id.            */
#ifndef ZM_LISTING_H
#define ZM_LISTING_H

#include <stdbool.h>
#include <stddef.h>

#define LISTING_MAX_BYTES   16384
#define LISTING_MAX_DEPTH   8
#define LISTING_ID_MAX      72          //  "mls:" + 64, with room
#define LISTING_DETAIL_MAX  160

typedef enum {
    LISTING_OK = 0,
    LISTING_TOO_LARGE,
    LISTING_NOT_JSON,
    LISTING_NOT_OBJECT,
    LISTING_MISSING_ID,
    LISTING_BAD_ID,
    LISTING_MISSING_ZIPCODE,
    LISTING_WRONG_ZIPCODE,
    LISTING_BAD_FIELD,
    LISTING_BAD_DATE
} listing_reason_t;

#define LISTING_REASONS 10

typedef struct {
    char id [LISTING_ID_MAX + 1];               //  the key (see above), when LISTING_OK
    char detail [LISTING_DETAIL_MAX];           //  human-readable why, when rejected
} listing_verdict_t;

//  Checks len bytes of text (need not be NUL-terminated) as a listing scraped for zipcode
//  (5 digits). Returns LISTING_OK with out->id set, or the reason with out->detail set.
//  Never crashes on any input.
listing_reason_t listing_check (const char *text, size_t len, const char *zipcode,
                                listing_verdict_t *out);

//  Stable snake_case name of a reason ("ok", "too_large", "wrong_zipcode", ...), used as a
//  metric label and in logs.
const char *listing_reason_name (listing_reason_t reason);

//  True when s is an ISO 8601 date ("2026-11-25") or date-time ("2026-11-25T14:03:00",
//  optional fraction, optional "Z" or "+HH:MM"/"-HH:MM"), with real calendar fields.
bool listing_iso8601_ok (const char *s);

#endif
