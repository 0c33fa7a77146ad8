/*  spot_check: tier3 -> verifier pool (PROTO_SPOT_CHECK_REQUEST) and back
    (PROTO_SPOT_CHECK_RESULT).

    Tier 3 samples listings of a submission (DESIGN.md section 8) and asks a verifier to check
    each against the property data source. The verdict "unverifiable" (source down, timeout)
    never counts against the miner. `id` correlates a result with its request.

    PROTO_SPOT_CHECK_REQUEST body:
        id          uint  64-bit request id                               optional (0)
        epoch       str   YYYY-MM-DDTHH-MM-SS                             required
        hotkey      str   [A-Za-z0-9]{1,64}                               required
        zipcode     str   5 digits                                        required
        index       uint  0..PROTO_LISTINGS_MAX-1, the sampled index      required
        listing_id  str   zpid or mls_id, UTF-8 1..64 bytes               required
        listing     str   the claimed listing, a JSON object text (as in listing_batch:
                          2..16384 bytes, '{'...'}', UTF-8 without NUL)    required

    PROTO_SPOT_CHECK_RESULT body:
        id, epoch, hotkey, zipcode, index, listing_id    as in the request (id optional)
        verdict     uint  1 verified, 2 mismatch, 3 unverifiable          required
        field       str   UTF-8 <= 64: the field that mismatched ("" otherwise)  optional ("")
        reason      str   UTF-8 <= 512                                    optional ("")

    The API follows proto.h. A request's decode allocates one block (the listing text, no
    larger than the input); a result owns no memory.                                          */
#ifndef ZM_PROTO_SPOT_CHECK_H
#define ZM_PROTO_SPOT_CHECK_H

#include "proto/listing_batch.h"
#include "proto/proto.h"

typedef enum {
    PROTO_SPOT_VERIFIED     = 1,
    PROTO_SPOT_MISMATCH     = 2,
    PROTO_SPOT_UNVERIFIABLE = 3
} proto_spot_verdict_t;

#define PROTO_LISTING_ID_MAX    64
#define PROTO_FIELD_NAME_MAX    64

typedef struct {
    uint64_t id;
    char epoch [PROTO_EPOCH_LEN + 1];
    char hotkey [PROTO_HOTKEY_MAX + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    uint32_t index;
    char listing_id [PROTO_LISTING_ID_MAX + 1];
    const char *listing;                    //  NUL-terminated JSON object text
    uint32_t listing_len;                   //  strlen (listing)
    void *mem_;                             //  what decode allocated; freed by _free
} proto_spot_check_request_t;

typedef struct {
    uint64_t id;
    char epoch [PROTO_EPOCH_LEN + 1];
    char hotkey [PROTO_HOTKEY_MAX + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    uint32_t index;
    char listing_id [PROTO_LISTING_ID_MAX + 1];
    uint32_t verdict;                       //  proto_spot_verdict_t
    char field [PROTO_FIELD_NAME_MAX + 1];
    char reason [PROTO_REASON_MAX + 1];
} proto_spot_check_result_t;

//  "verified", "mismatch", "unverifiable", or "unknown".
const char *proto_spot_verdict_name (int verdict);

int proto_spot_check_request_encode (const proto_spot_check_request_t *msg,
                                     msgpack_sbuffer *out, proto_err_t *err);
int proto_spot_check_request_decode (const uint8_t *data, size_t size,
                                     proto_spot_check_request_t *out, proto_err_t *err);
void proto_spot_check_request_free (proto_spot_check_request_t *msg);
bool proto_spot_check_request_equal (const proto_spot_check_request_t *a,
                                     const proto_spot_check_request_t *b);

int proto_spot_check_result_encode (const proto_spot_check_result_t *msg,
                                    msgpack_sbuffer *out, proto_err_t *err);
int proto_spot_check_result_decode (const uint8_t *data, size_t size,
                                    proto_spot_check_result_t *out, proto_err_t *err);
void proto_spot_check_result_free (proto_spot_check_result_t *msg);
bool proto_spot_check_result_equal (const proto_spot_check_result_t *a,
                                    const proto_spot_check_result_t *b);

#endif
