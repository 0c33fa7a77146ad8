/*  submission_ready codec (see submission_ready.h): fixed-size fields, nothing allocated.  */

#include "proto/submission_ready.h"

#include <string.h>

#include "proto/codec.h"

#define T proto_submission_ready_t
static const codec_field_t s_fields [] = {
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "hotkey", CF_HOTKEY, hotkey, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "s3_key", CF_TEXT, s3_key, PROTO_S3_KEY_MAX + 1, 1, 0, true),
    CF_ROW (T, "last_modified", CF_TEXT, last_modified, PROTO_LAST_MODIFIED_MAX + 1, 1, 0, true),
    CF_ROW (T, "size", CF_UINT, size, 8, 0, PROTO_OBJECT_BYTES_MAX, true),
    CF_ROW (T, "count", CF_UINT, count, 4, 0, PROTO_LISTINGS_MAX, true),
    CF_ROW (T, "db_id", CF_UINT, db_id, 8, 1, INT64_MAX, true),
};
#undef T
#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

int
proto_submission_ready_encode (const proto_submission_ready_t *msg, msgpack_sbuffer *out,
                               proto_err_t *err)
{
    if (codec_check_fields (s_fields, S_NFIELDS, msg, err))
        return RC_MALFORMED;
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_SUBMISSION_READY, s_fields, S_NFIELDS, msg, 0);
    return 0;
}

int
proto_submission_ready_decode (const uint8_t *data, size_t size, proto_submission_ready_t *out,
                               proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_SUBMISSION_READY, s_fields, S_NFIELDS, out,
                             NULL, NULL, err) != 0) {
        memset (out, 0, sizeof *out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_submission_ready_free (proto_submission_ready_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_submission_ready_equal (const proto_submission_ready_t *a,
                              const proto_submission_ready_t *b)
{
    return codec_equal_fields (s_fields, S_NFIELDS, a, b);
}
