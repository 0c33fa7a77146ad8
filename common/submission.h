/*  submission: a miner's S3 submission object, checked before anything trusts it.

    DESIGN.md section 6. The key is

        data/hotkey={hotkey}/epoch={epochId}/zipcode={zip}/data_{YYYYmmdd_HHMMSS}.json

    and the body a JSON object as the reference writes it:

        {"epoch_id", "zipcode", "miner_hotkey", "submission_timestamp", "listing_count",
         "listings": [ {…}, … ]}

    Everything here came from S3 and is hostile until proven otherwise. The checks, in order
    (the first failure is the reason):

      size          len <= limits.max_bytes (callers also check the listed size before a GET
                    and the bytes while reading: s3_get's cap);
      UTF-8         the whole body is valid UTF-8 (no overlong forms, surrogates);
      structure     one pre-scan outside strings, before jansson allocates anything:
                    nesting at most limits.max_depth, elements of the listings array at most
                    limits.max_listings, and at most SUBMISSION_VALUES_PER_LISTING values
                    (scalars and containers) per allowed listing, so a small body cannot
                    make the parser build millions of nodes;
      JSON          jsonx_parse (truncated or invalid text, \u0000, duplicate keys, trailing
                    bytes are rejected);
      shape         an object; epoch_id, zipcode, miner_hotkey strings; listing_count an
                    integer; listings an array of objects; submission_timestamp, when
                    present, a string of at most 64 bytes. Unknown top-level keys are
                    ignored;
      identity      epoch_id, miner_hotkey and zipcode equal those of the S3 key;
      count         listing_count equals the length of listings, which is at most
                    limits.max_listings.

    What is NOT checked here: the listings' own fields (tier 2), their number against the
    expected count (tier 1), the miner's claimed submission time (never trusted: ranking and
    the tier-3 seed use S3's LastModified).

    Reentrant; no global state.                                                              */
#ifndef ZM_SUBMISSION_H
#define ZM_SUBMISSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUBMISSION_HOTKEY_MAX           64
#define SUBMISSION_EPOCH_LEN            19
#define SUBMISSION_TIMESTAMP_MAX        64
#define SUBMISSION_DETAIL_MAX           256
//  Budget of JSON values (scalars and containers) per listing allowed by max_listings:
//  13 reference fields plus room for unknown ones and a few nested values.
#define SUBMISSION_VALUES_PER_LISTING   64

//  Why a submission was refused. Stable names (submission_reason_name) label the metric
//  zipmine_downloader_rejected_total{reason} and fill validator_submissions.reason.
typedef enum {
    SUBMISSION_OK = 0,
    SUBMISSION_TOO_LARGE,           //  "too_large": listed, announced or read size over the cap
    SUBMISSION_BAD_KEY,             //  "bad_key": the S3 key is not a submission key
    SUBMISSION_NOT_JSON,            //  "not_json": truncated or invalid JSON
    SUBMISSION_BAD_UTF8,            //  "bad_utf8"
    SUBMISSION_TOO_DEEP,            //  "too_deep": nesting over the limit
    SUBMISSION_TOO_MANY_LISTINGS,   //  "too_many_listings": over the cap (or value budget)
    SUBMISSION_BAD_SHAPE,           //  "bad_shape": a field missing or of the wrong type
    SUBMISSION_WRONG_EPOCH,         //  "wrong_epoch": epoch_id differs from the key's
    SUBMISSION_WRONG_HOTKEY,        //  "wrong_hotkey": miner_hotkey differs from the key's
    SUBMISSION_WRONG_ZIPCODE,       //  "wrong_zipcode": zipcode differs from the key's
    SUBMISSION_COUNT_MISMATCH,      //  "count_mismatch": listing_count != listings length
    SUBMISSION_CHANGED,             //  "changed": the object is not the one listed (size)
    SUBMISSION_GONE                 //  "gone": the listed object no longer exists
} submission_reason_t;

#define SUBMISSION_REASONS 14

typedef struct {
    char hotkey [SUBMISSION_HOTKEY_MAX + 1];    //  [A-Za-z0-9]{1,64}
    char epoch [SUBMISSION_EPOCH_LEN + 1];      //  YYYY-MM-DDTHH-MM-SS
    char zipcode [6];                           //  5 digits
} submission_key_t;

typedef struct {
    size_t max_bytes;               //  body bytes
    size_t max_listings;            //  listings array length
    int max_depth;                  //  nesting (the object itself is 1, listings 2, a
                                    //  listing 3): at least 3
} submission_limits_t;

typedef struct {
    json_t *root;                   //  the parsed object (owned); NULL when rejected
    const json_t *listings;         //  borrowed from root: the array, each element an object
    size_t count;                   //  its length (== listing_count)
    char submission_timestamp [SUBMISSION_TIMESTAMP_MAX + 1];   //  as claimed, "" if absent
    submission_reason_t reason;     //  SUBMISSION_OK or why not
    char detail [SUBMISSION_DETAIL_MAX];        //  human-readable why ("" when OK)
} submission_t;

//  Parses an S3 key of the section-6 layout: exactly five segments "data",
//  "hotkey=[A-Za-z0-9]{1,64}", "epoch=<valid epoch id>", "zipcode=<5 digits>",
//  "data_[A-Za-z0-9_-]+.json". Returns 0, or -1 (out zeroed) for any other key.
int submission_key_parse (const char *key, submission_key_t *out);

//  The listing prefix of one miner's epoch: "data/hotkey={hotkey}/epoch={epoch}/".
//  Returns 0, or -1 when it does not fit in size.
int submission_prefix (const char *hotkey, const char *epoch, char *out, size_t size);

//  Checks len bytes of data (need not be NUL-terminated) against the expected key and the
//  limits, in the order above. Returns 0 with out->root owned by out (release with
//  submission_free), or RC_MALFORMED with out->reason and out->detail set and nothing to
//  free. Never aborts on any input.
int submission_parse (const char *data, size_t len, const submission_key_t *expect,
                      const submission_limits_t *limits, submission_t *out);

//  Releases out->root. No-op on a rejected or already freed submission.
void submission_free (submission_t *self);

//  Stable snake_case name of a reason ("ok", "too_large", …), "unknown" out of range.
const char *submission_reason_name (submission_reason_t reason);

#endif
