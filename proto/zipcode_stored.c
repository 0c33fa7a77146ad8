/*  zipcode_stored codec (see zipcode_stored.h): fixed-size fields, nothing allocated.      */

#include "proto/zipcode_stored.h"

#include <string.h>

#include "proto/codec.h"

#define T proto_zipcode_stored_t
static const codec_field_t s_fields [] = {
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "count", CF_UINT, count, 4, 0, PROTO_LISTINGS_MAX, true),
    CF_ROW (T, "stored_at_ms", CF_INT, stored_at_ms, 8, 0, INT64_MAX, true),
    CF_ROW (T, "sha256", CF_BIN, sha256, 32, 0, 0, true),
};
#undef T
#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

int
proto_zipcode_stored_encode (const proto_zipcode_stored_t *msg, msgpack_sbuffer *out,
                             proto_err_t *err)
{
    if (codec_check_fields (s_fields, S_NFIELDS, msg, err))
        return RC_MALFORMED;
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_ZIPCODE_STORED, s_fields, S_NFIELDS, msg, 0);
    return 0;
}

int
proto_zipcode_stored_decode (const uint8_t *data, size_t size, proto_zipcode_stored_t *out,
                             proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_ZIPCODE_STORED, s_fields, S_NFIELDS, out, NULL,
                             NULL, err) != 0) {
        memset (out, 0, sizeof *out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_zipcode_stored_free (proto_zipcode_stored_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_zipcode_stored_equal (const proto_zipcode_stored_t *a, const proto_zipcode_stored_t *b)
{
    return codec_equal_fields (s_fields, S_NFIELDS, a, b);
}
