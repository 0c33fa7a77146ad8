/*  zipcode_stored: storage -> uploader (PROTO_ZIPCODE_STORED).

    Sent once storage has committed a zipcode's final batch: the uploader builds the
    submission object from PostgreSQL (the truth), so this message only says what is ready
    and what its content hash is. Re-sent after restarts; the uploader's ledger makes it
    idempotent.

        epoch          str   YYYY-MM-DDTHH-MM-SS                           required
        zipcode        str   5 digits                                      required
        count          uint  0..PROTO_LISTINGS_MAX listings stored         required
        stored_at_ms   int   unix ms, >= 0                                 required
        sha256         bin   32 bytes: SHA-256 of the stored content       required

    The API follows proto.h. proto_zipcode_stored_t owns no memory.                          */
#ifndef ZM_PROTO_ZIPCODE_STORED_H
#define ZM_PROTO_ZIPCODE_STORED_H

#include "proto/proto.h"

typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    uint32_t count;
    int64_t stored_at_ms;
    uint8_t sha256 [32];
} proto_zipcode_stored_t;

int proto_zipcode_stored_encode (const proto_zipcode_stored_t *msg, msgpack_sbuffer *out,
                                 proto_err_t *err);
int proto_zipcode_stored_decode (const uint8_t *data, size_t size, proto_zipcode_stored_t *out,
                                 proto_err_t *err);
void proto_zipcode_stored_free (proto_zipcode_stored_t *msg);
bool proto_zipcode_stored_equal (const proto_zipcode_stored_t *a,
                                 const proto_zipcode_stored_t *b);

#endif
