/*  tier_result: tier1 / tier2 / tier3 -> consensus (PROTO_TIER_RESULT).

    One tier's verdict on one submission. "unverifiable" (tier 3 with its property source
    down) never counts against the miner; consensus re-checks or leaves the zipcode unscored.
    metrics carries the numbers the verdict rests on (e.g. completeness, reasonable,
    consistency, duplicate_rate, verified_ratio) for the record and for reproducibility.

        epoch          str   YYYY-MM-DDTHH-MM-SS                         required
        hotkey         str   [A-Za-z0-9]{1,64}                           required
        zipcode        str   5 digits                                    required
        tier           uint  1..3                                        required
        verdict        uint  1 pass, 2 fail, 3 unverifiable              required
        reason         str   UTF-8 <= 512                                optional ("")
        submission_id  uint  the submission's db id, 0..2^63-1           optional (0)
        metrics        map   str [a-z_][a-z0-9_]{0,31} -> finite float64, <= 16 pairs,
                             keys unique                                 optional (none)

    The API follows proto.h. proto_tier_result_t owns no memory.                             */
#ifndef ZM_PROTO_TIER_RESULT_H
#define ZM_PROTO_TIER_RESULT_H

#include "proto/proto.h"

typedef enum {
    PROTO_VERDICT_PASS         = 1,
    PROTO_VERDICT_FAIL         = 2,
    PROTO_VERDICT_UNVERIFIABLE = 3
} proto_verdict_t;

#define PROTO_TIER_METRICS_MAX      16
#define PROTO_TIER_METRIC_NAME_MAX  32

typedef struct {
    char name [PROTO_TIER_METRIC_NAME_MAX + 1];
    double value;
} proto_tier_metric_t;

typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char hotkey [PROTO_HOTKEY_MAX + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    uint32_t tier;
    uint32_t verdict;                       //  proto_verdict_t
    char reason [PROTO_REASON_MAX + 1];
    uint64_t submission_id;
    size_t nmetrics;
    proto_tier_metric_t metrics [PROTO_TIER_METRICS_MAX];
} proto_tier_result_t;

//  "pass", "fail", "unverifiable", or "unknown".
const char *proto_verdict_name (int verdict);
//  [a-z_][a-z0-9_]{0,31}
bool proto_valid_tier_metric_name (const char *s);

int proto_tier_result_encode (const proto_tier_result_t *msg, msgpack_sbuffer *out,
                              proto_err_t *err);
int proto_tier_result_decode (const uint8_t *data, size_t size, proto_tier_result_t *out,
                              proto_err_t *err);
void proto_tier_result_free (proto_tier_result_t *msg);
//  Metrics compared in order, values bit for bit.
bool proto_tier_result_equal (const proto_tier_result_t *a, const proto_tier_result_t *b);

#endif
