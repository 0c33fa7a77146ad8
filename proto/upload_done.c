/*  upload_done codec (see upload_done.h): fixed-size fields plus one cross-field rule
    (error is non-empty exactly when ok is false), checked on both sides.                   */

#include "proto/upload_done.h"

#include <string.h>

#include "proto/codec.h"

#define T proto_upload_done_t
static const codec_field_t s_fields [] = {
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "ok", CF_BOOL, ok, 0, 0, 0, true),
    CF_ROW (T, "s3_key", CF_TEXT, s3_key, PROTO_S3_KEY_MAX + 1, 1, 0, true),
    CF_ROW (T, "bytes", CF_UINT, bytes, 8, 0, PROTO_OBJECT_BYTES_MAX, true),
    CF_ROW (T, "etag", CF_TEXT, etag, PROTO_ETAG_MAX + 1, 0, 0, false),
    CF_ROW (T, "uploaded_at_ms", CF_INT, uploaded_at_ms, 8, 0, INT64_MAX, true),
    CF_ROW (T, "error", CF_TEXT, error, PROTO_REASON_MAX + 1, 0, 0, false),
};
#undef T
#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

static int
s_check (const proto_upload_done_t *msg, proto_err_t *err)
{
    if (msg->ok && msg->error [0])
        return codec_fail (err, "field 'error': must be empty when ok is true");
    if (!msg->ok && !msg->error [0])
        return codec_fail (err, "field 'error': required when ok is false");
    return 0;
}

int
proto_upload_done_encode (const proto_upload_done_t *msg, msgpack_sbuffer *out,
                          proto_err_t *err)
{
    if (codec_check_fields (s_fields, S_NFIELDS, msg, err) || s_check (msg, err))
        return RC_MALFORMED;
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_UPLOAD_DONE, s_fields, S_NFIELDS, msg, 0);
    return 0;
}

int
proto_upload_done_decode (const uint8_t *data, size_t size, proto_upload_done_t *out,
                          proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_UPLOAD_DONE, s_fields, S_NFIELDS, out, NULL,
                             NULL, err) != 0
    ||  s_check (out, err) != 0) {
        memset (out, 0, sizeof *out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_upload_done_free (proto_upload_done_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_upload_done_equal (const proto_upload_done_t *a, const proto_upload_done_t *b)
{
    return codec_equal_fields (s_fields, S_NFIELDS, a, b);
}
