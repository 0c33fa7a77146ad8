/*  proto: the message envelope shared by every zipmine message family (DESIGN.md section 3).

    One ZeroMQ frame carries one message, a msgpack array of exactly three elements:

        [version, type, body]     version = PROTO_VERSION (uint), type = proto_type_t (uint),
                                  body = map with short string keys

    Each family has its own codec (proto/heartbeat.h, proto/control.h, ...) with the same API:

        int  proto_<x>_encode (const proto_<x>_t *msg, msgpack_sbuffer *out, proto_err_t *err);
        int  proto_<x>_decode (const uint8_t *data, size_t size, proto_<x>_t *out,
                               proto_err_t *err);
        void proto_<x>_free (proto_<x>_t *msg);
        bool proto_<x>_equal (const proto_<x>_t *a, const proto_<x>_t *b);

    encode checks the message against the same bounds the decoder enforces (so whatever we send
    decodes), then appends exactly one framed message to `out` (the caller owns the sbuffer:
    msgpack_sbuffer_init / _clear / _destroy; send out->data, out->size as one frame). It returns
    0, or RC_MALFORMED with err->reason naming the bad field and `out` left unchanged.
    Out of memory aborts (STYLE.md).

    decode never trusts the input: it bounds every length by the bytes remaining before
    allocating, checks version, type, presence and type of every required field and each
    field's own bounds, ignores unknown keys, rejects duplicate keys and trailing bytes. It
    returns 0, or RC_MALFORMED with err->reason, e.g. "field 'zipcode': expected str of 5
    digits", and err->offset. On failure *out holds nothing that needs freeing (it is zeroed).
    On success *out owns its memory: release it with proto_<x>_free (a no-op on a message that
    owns nothing, so it is also safe on a message you built yourself for encode). Strings of
    decoded messages are NUL-terminated, valid UTF-8 and contain no NUL bytes.

    equal compares field by field (doubles bit for bit); the tests and fuzz targets use it
    for the round-trip property decode -> encode -> decode.

    err may be NULL everywhere. Nothing in proto/ keeps global state; all of it is reentrant.
    The schema table of every family is proto/README.md.                                      */
#ifndef ZM_PROTO_PROTO_H
#define ZM_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/rc.h"
#include "proto/mpr.h"

#define PROTO_VERSION 1

//  Message types. Values are stable wire numbers: never renumber, only append.
typedef enum {
    PROTO_HEARTBEAT          = 1,   //  worker -> supervisor
    PROTO_CONTROL            = 2,   //  supervisor -> worker, zipminectl -> supervisor
    PROTO_CONTROL_REPLY      = 3,   //  the answer to PROTO_CONTROL
    PROTO_SCRAPE_TASK        = 4,   //  assigner -> scraper
    PROTO_LISTING_BATCH      = 5,   //  scraper -> storage
    PROTO_ZIPCODE_STORED     = 6,   //  storage -> uploader
    PROTO_UPLOAD_DONE        = 7,   //  uploader -> assigner / status
    PROTO_SUBMISSION_READY   = 8,   //  downloader -> tier1/2/3
    PROTO_TIER_RESULT        = 9,   //  tier1/2/3 -> consensus
    PROTO_SPOT_CHECK_REQUEST = 10,  //  tier3 -> verifier pool
    PROTO_SPOT_CHECK_RESULT  = 11   //  verifier pool -> tier3
} proto_type_t;

#define PROTO_TYPE_MIN 1
#define PROTO_TYPE_MAX 11

//  Stable snake_case name of a type for logs ("heartbeat", "listing_batch", ...), or
//  "unknown" for a value that is not a proto_type_t.
const char *proto_type_name (int type);

//  Bounds shared by several families.
#define PROTO_EPOCH_LEN     19      //  "YYYY-MM-DDTHH-MM-SS"
#define PROTO_ZIPCODE_LEN   5       //  exactly 5 ASCII digits
#define PROTO_HOTKEY_MAX    64      //  SS58 address (48) or any [A-Za-z0-9]{1,64}
#define PROTO_NAME_MAX      64      //  worker / pool names: [A-Za-z0-9_.-]{1,64}
#define PROTO_REASON_MAX    512     //  free-text reasons and messages (UTF-8 bytes)
#define PROTO_S3_KEY_MAX    1024    //  S3 object keys (S3's own limit)
#define PROTO_LISTINGS_MAX  1000000 //  most listings one zipcode submission may hold
#define PROTO_OBJECT_BYTES_MAX ((uint64_t) 1 << 40)    //  largest S3 object size we describe

//  Reads the envelope of any message and reports its type, so a socket that carries several
//  families can dispatch before decoding. Checks the array shape, the version (rejecting
//  others with "unsupported version N") and that the type is one of proto_type_t. Returns 0
//  or RC_MALFORMED.
int proto_peek_type (const uint8_t *data, size_t size, int *type, proto_err_t *err);

//  Field validators, used by every codec for encode and decode alike. Each takes a
//  NUL-terminated string.
//  "YYYY-MM-DDTHH-MM-SS" with digits in plausible ranges (month 01-12, day 01-31, hour 00-23,
//  minute and second 00-59).
bool proto_valid_epoch (const char *s);
//  Exactly five ASCII digits.
bool proto_valid_zipcode (const char *s);
//  1..PROTO_HOTKEY_MAX characters of [A-Za-z0-9].
bool proto_valid_hotkey (const char *s);
//  1..PROTO_NAME_MAX characters of [A-Za-z0-9_.-].
bool proto_valid_name (const char *s);
//  At most `max` bytes of valid UTF-8 (no overlong forms, no surrogates).
bool proto_valid_text (const char *s, size_t max);
//  Same over a counted buffer, which must also contain no NUL byte.
bool proto_valid_utf8 (const char *s, size_t len);

#endif
