/*  upload_done: uploader -> assigner / status reporter (PROTO_UPLOAD_DONE).

    The outcome of one zipcode's upload. ok = true: the object landed (the ledger has it and
    it is never uploaded again); ok = false: the attempt failed and `error` says why (the
    uploader retries with backoff; this message is for status and metrics).

        epoch           str   YYYY-MM-DDTHH-MM-SS                        required
        zipcode         str   5 digits                                   required
        ok              bool                                             required
        s3_key          str   UTF-8, 1..1024 bytes (the object key)       required
        bytes           uint  object size, 0..2^40                       required
        etag            str   UTF-8, <= 128 bytes ("" when unknown)       optional ("")
        uploaded_at_ms  int   unix ms, >= 0 (attempt end when !ok)        required
        error           str   UTF-8, <= 512; non-empty iff ok is false    optional ("")

    The API follows proto.h. proto_upload_done_t owns no memory.                             */
#ifndef ZM_PROTO_UPLOAD_DONE_H
#define ZM_PROTO_UPLOAD_DONE_H

#include "proto/proto.h"

#define PROTO_ETAG_MAX          128

typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    bool ok;
    char s3_key [PROTO_S3_KEY_MAX + 1];
    uint64_t bytes;
    char etag [PROTO_ETAG_MAX + 1];
    int64_t uploaded_at_ms;
    char error [PROTO_REASON_MAX + 1];
} proto_upload_done_t;

int proto_upload_done_encode (const proto_upload_done_t *msg, msgpack_sbuffer *out,
                              proto_err_t *err);
int proto_upload_done_decode (const uint8_t *data, size_t size, proto_upload_done_t *out,
                              proto_err_t *err);
void proto_upload_done_free (proto_upload_done_t *msg);
bool proto_upload_done_equal (const proto_upload_done_t *a, const proto_upload_done_t *b);

#endif
