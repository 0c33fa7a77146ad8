/*  listing_batch: scraper -> storage (PROTO_LISTING_BATCH).

    A scraper streams the listings of one leased task in batches (seq 0, 1, 2, ...), the last
    one with final = true. Listings travel as the JSON object texts the scraper produced
    (unknown fields kept, DESIGN.md section 7); storage parses and validates each one, and
    upserts by (epoch, zipcode, listing id), so a re-sent batch duplicates nothing. Lines the
    scraper could not use are counted, with a short summary of why.

        epoch      str    YYYY-MM-DDTHH-MM-SS                             required
        zipcode    str    5 digits                                        required
        lease_id   uint   1..2^63-1, from the scrape_task                 required
        seq        uint   0..2^32-1, batch number within the lease        required
        final      bool   last batch of the lease                         required
        listings   array  of str, <= PROTO_BATCH_LISTINGS_MAX (1000); each a JSON object
                          text: 2..PROTO_LISTING_MAX (16 KiB) bytes, starts with '{', ends
                          with '}', UTF-8 without NUL; all together <= PROTO_BATCH_BYTES_MAX
                                                                          required (may be [])
        rejected   uint   lines rejected by the scraper, 64-bit           optional (0)
        reasons    map    str (UTF-8 1..64) -> uint count, <= 16 pairs, keys unique,
                          counts summing to <= rejected                   optional (none)

    The API follows proto.h. Decode allocates one block (the listing array and a copy of the
    listing texts), smaller than 7 bytes per input byte.                                      */
#ifndef ZM_PROTO_LISTING_BATCH_H
#define ZM_PROTO_LISTING_BATCH_H

#include "proto/proto.h"

#define PROTO_LISTING_MAX           16384
#define PROTO_BATCH_LISTINGS_MAX    1000
#define PROTO_BATCH_BYTES_MAX       (8u << 20)
#define PROTO_REJECT_REASONS_MAX    16
#define PROTO_REJECT_REASON_MAX     64

typedef struct {
    const char *json;                       //  NUL-terminated JSON object text
    uint32_t len;                           //  strlen (json)
} proto_listing_t;

typedef struct {
    char reason [PROTO_REJECT_REASON_MAX + 1];
    uint64_t count;
} proto_reject_t;

typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    uint64_t lease_id;
    uint32_t seq;
    bool final;
    size_t nlistings;
    proto_listing_t *listings;              //  nlistings entries (NULL when 0)
    uint64_t rejected;
    size_t nreasons;
    proto_reject_t reasons [PROTO_REJECT_REASONS_MAX];
    void *mem_;                             //  what decode allocated; freed by _free
} proto_listing_batch_t;

//  The per-listing rule above (length, braces, UTF-8 without NUL), shared with spot_check.
bool proto_valid_listing (const char *json, size_t len);

int proto_listing_batch_encode (const proto_listing_batch_t *msg, msgpack_sbuffer *out,
                                proto_err_t *err);
int proto_listing_batch_decode (const uint8_t *data, size_t size, proto_listing_batch_t *out,
                                proto_err_t *err);
void proto_listing_batch_free (proto_listing_batch_t *msg);
bool proto_listing_batch_equal (const proto_listing_batch_t *a,
                                const proto_listing_batch_t *b);

#endif
