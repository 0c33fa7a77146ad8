/*  tier_result codec (see tier_result.h): a field table plus the metrics map, decoded into
    the message's fixed array (at most PROTO_TIER_METRICS_MAX entries): nothing allocated. */

#include "proto/tier_result.h"

#include <math.h>
#include <string.h>

#include "proto/codec.h"

#define T proto_tier_result_t
static const codec_field_t s_fields [] = {
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "hotkey", CF_HOTKEY, hotkey, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "tier", CF_UINT, tier, 4, 1, 3, true),
    CF_ROW (T, "verdict", CF_UINT, verdict, 4, PROTO_VERDICT_PASS, PROTO_VERDICT_UNVERIFIABLE,
            true),
    CF_ROW (T, "reason", CF_TEXT, reason, PROTO_REASON_MAX + 1, 0, 0, false),
    CF_ROW (T, "submission_id", CF_UINT, submission_id, 8, 0, INT64_MAX, false),
    CF_ROW (T, "metrics", CF_CUSTOM, metrics, 0, 0, 0, false),
};
#undef T
#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

const char *
proto_verdict_name (int verdict)
{
    switch (verdict) {
        case PROTO_VERDICT_PASS:         return "pass";
        case PROTO_VERDICT_FAIL:         return "fail";
        case PROTO_VERDICT_UNVERIFIABLE: return "unverifiable";
        default:                         return "unknown";
    }
}

bool
proto_valid_tier_metric_name (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > PROTO_TIER_METRIC_NAME_MAX)
        return false;
    if (!((s [0] >= 'a' && s [0] <= 'z') || s [0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s [i] >= 'a' && s [i] <= 'z') || (s [i] >= '0' && s [i] <= '9') || s [i] == '_'))
            return false;
    return true;
}

static int
s_decode_metrics (mpr_t *r, int index, void *msg, void *ctx)
{
    (void) index;
    (void) ctx;
    proto_tier_result_t *out = msg;
    uint32_t n = 0;
    if (mpr_map (r, &n) != 0)
        return mpr_fail_prefix (r, "field 'metrics'");
    if (n > PROTO_TIER_METRICS_MAX)
        return mpr_fail (r, "field 'metrics': %u entries exceed %d", n, PROTO_TIER_METRICS_MAX);
    for (uint32_t i = 0; i < n; i++) {
        proto_tier_metric_t *m = &out->metrics [i];
        if (codec_checked (r, "metrics", m->name, PROTO_TIER_METRIC_NAME_MAX,
                           proto_valid_tier_metric_name, "metric name [a-z_][a-z0-9_]{0,31}"))
            return RC_MALFORMED;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp (out->metrics [j].name, m->name) == 0)
                return mpr_fail (r, "field 'metrics': duplicate key '%s'", m->name);
        if (mpr_double (r, &m->value) != 0)
            return mpr_fail_prefix (r, "field 'metrics': '%s'", m->name);
        if (!isfinite (m->value))
            return mpr_fail (r, "field 'metrics': '%s': expected a finite number", m->name);
    }
    out->nmetrics = n;
    return 0;
}

int
proto_tier_result_encode (const proto_tier_result_t *msg, msgpack_sbuffer *out,
                          proto_err_t *err)
{
    if (codec_check_fields (s_fields, S_NFIELDS, msg, err))
        return RC_MALFORMED;
    if (msg->nmetrics > PROTO_TIER_METRICS_MAX)
        return codec_fail (err, "field 'metrics': %zu entries exceed %d", msg->nmetrics,
                           PROTO_TIER_METRICS_MAX);
    for (size_t i = 0; i < msg->nmetrics; i++) {
        const proto_tier_metric_t *m = &msg->metrics [i];
        if (!memchr (m->name, '\0', sizeof m->name) || !proto_valid_tier_metric_name (m->name))
            return codec_fail (err, "field 'metrics': entry %zu: bad name", i);
        if (!isfinite (m->value))
            return codec_fail (err, "field 'metrics': '%s' is not finite", m->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp (msg->metrics [j].name, m->name) == 0)
                return codec_fail (err, "field 'metrics': duplicate key '%s'", m->name);
    }
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_TIER_RESULT, s_fields, S_NFIELDS, msg, msg->nmetrics > 0);
    if (msg->nmetrics) {
        codec_put_key (&pk, "metrics");
        msgpack_pack_map (&pk, msg->nmetrics);
        for (size_t i = 0; i < msg->nmetrics; i++) {
            codec_put_str (&pk, msg->metrics [i].name);
            msgpack_pack_double (&pk, msg->metrics [i].value);
        }
    }
    return 0;
}

int
proto_tier_result_decode (const uint8_t *data, size_t size, proto_tier_result_t *out,
                          proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_TIER_RESULT, s_fields, S_NFIELDS, out,
                             s_decode_metrics, NULL, err) != 0) {
        memset (out, 0, sizeof *out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_tier_result_free (proto_tier_result_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_tier_result_equal (const proto_tier_result_t *a, const proto_tier_result_t *b)
{
    if (!codec_equal_fields (s_fields, S_NFIELDS, a, b) || a->nmetrics != b->nmetrics)
        return false;
    for (size_t i = 0; i < a->nmetrics; i++)
        if (strcmp (a->metrics [i].name, b->metrics [i].name) != 0
        ||  memcmp (&a->metrics [i].value, &b->metrics [i].value, sizeof (double)) != 0)
            return false;
    return true;
}
