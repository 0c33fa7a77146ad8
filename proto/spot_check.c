/*  spot_check codecs (see spot_check.h): field tables; the request's listing text is the
    one custom field, copied into a block of exactly its size + 1 after mpr has checked the
    length against the bytes remaining.                                                      */

#include "proto/spot_check.h"

#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"

#define T proto_spot_check_request_t
static const codec_field_t s_req_fields [] = {
    CF_ROW (T, "id", CF_UINT, id, 8, 0, UINT64_MAX, false),
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "hotkey", CF_HOTKEY, hotkey, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "index", CF_UINT, index, 4, 0, PROTO_LISTINGS_MAX - 1, true),
    CF_ROW (T, "listing_id", CF_TEXT, listing_id, PROTO_LISTING_ID_MAX + 1, 1, 0, true),
    CF_ROW (T, "listing", CF_CUSTOM, listing, 0, 0, 0, true),
};
#undef T
#define S_REQ_N (sizeof s_req_fields / sizeof s_req_fields [0])

#define T proto_spot_check_result_t
static const codec_field_t s_res_fields [] = {
    CF_ROW (T, "id", CF_UINT, id, 8, 0, UINT64_MAX, false),
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "hotkey", CF_HOTKEY, hotkey, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "index", CF_UINT, index, 4, 0, PROTO_LISTINGS_MAX - 1, true),
    CF_ROW (T, "listing_id", CF_TEXT, listing_id, PROTO_LISTING_ID_MAX + 1, 1, 0, true),
    CF_ROW (T, "verdict", CF_UINT, verdict, 4, PROTO_SPOT_VERIFIED, PROTO_SPOT_UNVERIFIABLE,
            true),
    CF_ROW (T, "field", CF_TEXT, field, PROTO_FIELD_NAME_MAX + 1, 0, 0, false),
    CF_ROW (T, "reason", CF_TEXT, reason, PROTO_REASON_MAX + 1, 0, 0, false),
};
#undef T
#define S_RES_N (sizeof s_res_fields / sizeof s_res_fields [0])

const char *
proto_spot_verdict_name (int verdict)
{
    switch (verdict) {
        case PROTO_SPOT_VERIFIED:     return "verified";
        case PROTO_SPOT_MISMATCH:     return "mismatch";
        case PROTO_SPOT_UNVERIFIABLE: return "unverifiable";
        default:                      return "unknown";
    }
}

//  ---- request -----------------------------------------------------------------------------

static int
s_decode_listing (mpr_t *r, int index, void *msg, void *ctx)
{
    (void) index;
    (void) ctx;
    proto_spot_check_request_t *out = msg;
    const char *s;
    uint32_t len = 0;
    if (mpr_str (r, &s, &len) != 0)
        return mpr_fail_prefix (r, "field 'listing'");
    if (!proto_valid_listing (s, len))
        return mpr_fail (r, "field 'listing': expected a JSON object text of 2..%d bytes of "
                         "UTF-8, got %u bytes", PROTO_LISTING_MAX, len);
    char *copy = malloc ((size_t) len + 1);
    if (!copy)
        abort ();
    memcpy (copy, s, len);
    copy [len] = '\0';
    out->mem_ = copy;
    out->listing = copy;
    out->listing_len = len;
    return 0;
}

int
proto_spot_check_request_encode (const proto_spot_check_request_t *msg, msgpack_sbuffer *out,
                                 proto_err_t *err)
{
    if (codec_check_fields (s_req_fields, S_REQ_N, msg, err))
        return RC_MALFORMED;
    if (!msg->listing || !proto_valid_listing (msg->listing, msg->listing_len))
        return codec_fail (err, "field 'listing': expected a JSON object text of 2..%d bytes "
                           "of UTF-8", PROTO_LISTING_MAX);
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_SPOT_CHECK_REQUEST, s_req_fields, S_REQ_N, msg, 1);
    codec_put_key (&pk, "listing");
    msgpack_pack_str_with_body (&pk, msg->listing, msg->listing_len);
    return 0;
}

int
proto_spot_check_request_decode (const uint8_t *data, size_t size,
                                 proto_spot_check_request_t *out, proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_SPOT_CHECK_REQUEST, s_req_fields, S_REQ_N, out,
                             s_decode_listing, NULL, err) != 0) {
        proto_spot_check_request_free (out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_spot_check_request_free (proto_spot_check_request_t *msg)
{
    if (!msg)
        return;
    free (msg->mem_);
    memset (msg, 0, sizeof *msg);
}

bool
proto_spot_check_request_equal (const proto_spot_check_request_t *a,
                                const proto_spot_check_request_t *b)
{
    return codec_equal_fields (s_req_fields, S_REQ_N, a, b)
        && a->listing_len == b->listing_len
        && (a->listing_len == 0 || memcmp (a->listing, b->listing, a->listing_len) == 0);
}

//  ---- result ------------------------------------------------------------------------------

int
proto_spot_check_result_encode (const proto_spot_check_result_t *msg, msgpack_sbuffer *out,
                                proto_err_t *err)
{
    if (codec_check_fields (s_res_fields, S_RES_N, msg, err))
        return RC_MALFORMED;
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_SPOT_CHECK_RESULT, s_res_fields, S_RES_N, msg, 0);
    return 0;
}

int
proto_spot_check_result_decode (const uint8_t *data, size_t size,
                                proto_spot_check_result_t *out, proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_SPOT_CHECK_RESULT, s_res_fields, S_RES_N, out,
                             NULL, NULL, err) != 0) {
        memset (out, 0, sizeof *out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_spot_check_result_free (proto_spot_check_result_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_spot_check_result_equal (const proto_spot_check_result_t *a,
                               const proto_spot_check_result_t *b)
{
    return codec_equal_fields (s_res_fields, S_RES_N, a, b);
}
